//! Cross-site request refusal and the security headers on every response.

use sea_orm::{EntityTrait, PaginatorTrait};
use uni1_domain::entities::contact_message;

use crate::on_both_backends;
use crate::support::{run_with, Backend, TestApp};

const VALID: [(&str, &str); 3] = [
    ("name", "Ada"),
    ("email", "ada@example.org"),
    ("message", "Hello, this is a real message."),
];

async fn stored(app: &TestApp) -> u64 {
    contact_message::Entity::find()
        .count(&app.db)
        .await
        .expect("count")
}

on_both_backends!(
    a_cross_origin_server_function_call_is_refused,
    |app: TestApp| async move {
        let r = app
            .post_form_from("/api/contact", &VALID, Some("https://evil.example"))
            .await;
        assert_eq!(r.status, 403);
        assert!(r.body.contains("came from another site"));
        assert_eq!(stored(&app).await, 0, "nothing was written");

        let r = app
            .post_form_from("/api/contact", &VALID, Some("null"))
            .await;
        assert_eq!(r.status, 403);
        assert_eq!(stored(&app).await, 0);
    }
);

on_both_backends!(
    a_same_origin_server_function_call_works,
    |app: TestApp| async move {
        let r = app.post_form("/api/contact", &VALID).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(stored(&app).await, 1);
    }
);

on_both_backends!(
    every_response_has_security_headers_and_a_request_id,
    |app: TestApp| async move {
        for path in ["/", "/healthz", "/no/such/page"] {
            let r = app.get(path).await;
            assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
            assert_eq!(
                r.header("x-content-type-options"),
                Some("nosniff"),
                "{path}"
            );
            assert_eq!(
                r.header("referrer-policy"),
                Some("strict-origin-when-cross-origin"),
                "{path}"
            );
            assert!(
                r.header("content-security-policy")
                    .is_some_and(|c| c.contains("frame-ancestors 'none'")),
                "{path}"
            );
            assert!(
                r.header("x-request-id").is_some_and(|id| id.len() == 36),
                "{path}"
            );
            assert!(
                r.header("strict-transport-security").is_none(),
                "no HSTS over http: {path}"
            );
        }
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_is_sent_when_served_over_https() {
    run_with(
        Backend::Sqlite,
        "https://uni1.test",
        |app: TestApp| async move {
            let r = app.get("/").await;
            assert!(r
                .header("strict-transport-security")
                .is_some_and(|v| v.contains("max-age=")));
        },
    )
    .await;
}

on_both_backends!(
    pages_are_compressed_for_clients_that_ask,
    |app: TestApp| async move {
        let request = http::Request::get("/")
            .header("accept-encoding", "br")
            .body(axum::body::Body::empty())
            .expect("request");
        let r = app.send(request).await;
        assert_eq!(r.header("content-encoding"), Some("br"));
    }
);
