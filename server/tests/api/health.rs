//! Liveness and readiness probes.

use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(
    probes_answer_while_the_database_is_up,
    |app: TestApp| async move {
        let live = app.get("/healthz").await;
        assert_eq!((live.status.as_u16(), live.body.as_str()), (200, "ok"));
        let ready = app.get("/readyz").await;
        assert_eq!((ready.status.as_u16(), ready.body.as_str()), (200, "ready"));
    }
);

on_both_backends!(
    readiness_fails_safely_when_the_database_is_gone,
    |app: TestApp| async move {
        app.db.clone().close().await.expect("close pool");
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status, 503);
        assert_eq!(ready.body, "database unreachable", "no driver details leak");
        let live = app.get("/healthz").await;
        assert_eq!(live.status, 200, "the process itself is still alive");
    }
);
