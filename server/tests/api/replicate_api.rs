//! Replicate-style predictions (issue 17): create through the model path
//! or a version, poll to `succeeded` with signed output URLs that open
//! without a key, `Prefer: wait`, keyset paging, cancel (credits back),
//! owner-only reads, 422 problem details, scopes and `Idempotency-Key`.

#![allow(clippy::unwrap_used)]

use axum::body::Body;
use http::Request;
use serde_json::Value;
use uni1_domain::billing::credits;

use crate::api_client::{call, jobs_of, new_key, run_python, worker as worker_named};
use crate::fixtures::member;
use crate::on_both_backends;
use crate::support::{Reply, TestApp, ORIGIN};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A problem-details error: status, title, detail; the field on a 422.
fn problem(r: &Reply, status: u16, field: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let body = r.json();
    assert_eq!(body["status"], status, "{}", r.body);
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["detail"].as_str().is_some_and(|t| !t.is_empty()));
    if let Some(field) = field {
        assert_eq!(body["invalid_fields"][0]["field"], field, "{}", r.body);
        assert!(body["detail"].as_str().unwrap().contains(field));
    }
}

/// Polls `GET /v1/predictions/{id}` until the status is final.
async fn poll(app: &TestApp, key: &str, id: &str) -> Value {
    for _ in 0..300 {
        let r = call(app, "GET", &format!("/v1/predictions/{id}"), key, None, &[]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let p = r.json();
        let s = p["status"].as_str().unwrap().to_owned();
        assert!(
            ["starting", "processing", "succeeded", "failed", "canceled"].contains(&s.as_str()),
            "{s}"
        );
        if !matches!(s.as_str(), "starting" | "processing") {
            return p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("prediction {id} never ended");
}

on_both_backends!(
    predictions_run_to_succeeded_with_signed_outputs_and_are_the_owners_alone,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.90").await;
        let (bob, _) = member(&app, "bob@uni1.test", "203.0.113.91").await;
        let key = new_key(&app, &alice, &["generate", "read"]).await;
        let bob_key = new_key(&app, &bob, &["generate", "read"]).await;
        let running = worker_named(&app, "replicate-test");

        // Create through the model path: 201, starting or processing.
        let r = call(
            &app,
            "POST",
            "/v1/models/uni1/builtin/predictions",
            &key,
            Some(r#"{"input":{"prompt":"a red kite","num_outputs":2,"aspect_ratio":"16:9","seed":7}}"#),
            &[],
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let created = r.json();
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["model"], "uni1/builtin");
        assert_eq!(created["version"], "builtin");
        assert_eq!(created["input"]["prompt"], "a red kite");
        assert_eq!(created["input"]["num_outputs"], 2);
        assert!(
            ["starting", "processing", "succeeded"].contains(&created["status"].as_str().unwrap())
        );
        assert_eq!(
            created["urls"]["get"],
            format!("{ORIGIN}/v1/predictions/{id}")
        );
        assert_eq!(
            created["urls"]["cancel"],
            format!("{ORIGIN}/v1/predictions/{id}/cancel")
        );
        assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

        // Polled to succeeded: two signed URLs on our origin.
        let done = poll(&app, &key, &id).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(done["error"], Value::Null);
        assert!(done["completed_at"].is_string() && done["started_at"].is_string());
        assert!(done["metrics"]["predict_time"].as_f64().is_some());
        let outputs = done["output"].as_array().unwrap();
        assert_eq!(outputs.len(), 2);
        for url in outputs {
            let path = url
                .as_str()
                .unwrap()
                .strip_prefix(ORIGIN)
                .expect("our origin");
            assert!(path.starts_with("/v1/files/"), "{path}");
            // Opens without a key, and an Authorization header is ignored.
            let image = app.get(path).await;
            assert_eq!(image.status, 200);
            assert!(image.bytes.starts_with(PNG));
            let request = Request::get(path).header("authorization", "Bearer someone-elses");
            let image = app.send(request.body(Body::empty()).unwrap()).await;
            assert_eq!(image.status, 200);
            assert_eq!(image.header("content-type"), Some("image/png"));
            let tampered = path.replace("sig=", "sig=0");
            assert_eq!(app.get(&tampered).await.status, 404);
        }
        // A normal job: in the studio's history, 2 credits captured.
        let history = app.gens.recent(alice_id, 10).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].aspect_ratio, "16:9");
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (48, 0));

        // With a version, and Prefer: wait: the answer is final at once.
        let r = call(
            &app,
            "POST",
            "/v1/predictions",
            &key,
            Some(r#"{"version":"builtin","input":{"prompt":"a blue kite"}}"#),
            &[("prefer", "wait")],
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let waited = r.json();
        assert_eq!(waited["status"], "succeeded", "{waited}");
        assert_eq!(waited["output"].as_array().unwrap().len(), 1);
        assert_eq!(waited["input"]["aspect_ratio"], "1:1");
        let r = call(
            &app,
            "POST",
            "/v1/predictions",
            &key,
            Some(r#"{"version":"uni1/builtin","input":{"prompt":"a green kite"}}"#),
            &[("prefer", "wait=20")],
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["status"], "succeeded");

        // Someone else's prediction does not exist for Bob.
        let r = call(
            &app,
            "GET",
            &format!("/v1/predictions/{id}"),
            &bob_key,
            None,
            &[],
        )
        .await;
        problem(&r, 404, None);
        let r = call(
            &app,
            "POST",
            &format!("/v1/predictions/{id}/cancel"),
            &bob_key,
            None,
            &[],
        )
        .await;
        problem(&r, 404, None);
        let r = call(&app, "GET", "/v1/predictions", &bob_key, None, &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["results"].as_array().unwrap().len(), 0);
        assert_eq!(r.json()["next"], Value::Null);
        let r = call(&app, "GET", "/v1/predictions/not-an-id", &key, None, &[]).await;
        problem(&r, 404, None);

        // Keyset paging, newest first: 2 + 1, every prediction once.
        let r = call(&app, "GET", "/v1/predictions?page_size=2", &key, None, &[]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let first = r.json();
        let mut seen: Vec<String> = first["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(seen.len(), 2);
        assert_eq!(first["results"][0]["input"]["prompt"], "a green kite");
        let next = first["next"].as_str().unwrap();
        let next = next.strip_prefix(ORIGIN).expect("our origin");
        let r = call(&app, "GET", next, &key, None, &[]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let second = r.json();
        assert_eq!(second["next"], Value::Null);
        seen.extend(
            second["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned()),
        );
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[2], id);
        let r = call(
            &app,
            "GET",
            "/v1/predictions?cursor=garbage",
            &key,
            None,
            &[],
        )
        .await;
        problem(&r, 400, None);
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (46, 0));
        running.stop().await;
    }
);

on_both_backends!(
    predictions_wait_cancel_refuse_bad_input_and_check_scopes,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.92").await;
        let key = new_key(&app, &alice, &["generate", "read"]).await;
        let generate_only = new_key(&app, &alice, &["generate"]).await;
        let read_only = new_key(&app, &alice, &["read"]).await;
        let body = r#"{"input":{"prompt":"a slow kite","num_outputs":3}}"#;
        let path = "/v1/models/uni1/builtin/predictions";

        // No worker: Prefer: wait=1 gives up after a second, still starting.
        let started = std::time::Instant::now();
        let r = call(
            &app,
            "POST",
            path,
            &key,
            Some(body),
            &[("prefer", "wait=1")],
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert!(started.elapsed() >= std::time::Duration::from_millis(800));
        let p = r.json();
        assert_eq!(p["status"], "starting");
        assert_eq!(p["output"], Value::Null);
        let id = p["id"].as_str().unwrap().to_owned();
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (47, 3));

        // Cancel: canceled, the credits released; cancelling again is harmless.
        let cancel = format!("/v1/predictions/{id}/cancel");
        let r = call(&app, "POST", &cancel, &key, None, &[]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["status"], "canceled");
        assert!(r.json()["completed_at"].is_string());
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (50, 0));
        let r = call(&app, "POST", &cancel, &key, None, &[]).await;
        assert_eq!(r.json()["status"], "canceled");
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (50, 0));

        // Scopes: generate to create and cancel, read to get and list.
        let r = call(&app, "POST", path, &read_only, Some(body), &[]).await;
        problem(&r, 403, None);
        let r = call(&app, "POST", &cancel, &read_only, None, &[]).await;
        problem(&r, 403, None);
        let r = call(
            &app,
            "GET",
            &format!("/v1/predictions/{id}"),
            &generate_only,
            None,
            &[],
        )
        .await;
        problem(&r, 403, None);
        let r = call(&app, "GET", "/v1/predictions", &generate_only, None, &[]).await;
        problem(&r, 403, None);
        let r = call(
            &app,
            "GET",
            &format!("/v1/predictions/{id}"),
            &read_only,
            None,
            &[],
        )
        .await;
        assert_eq!(r.status, 200);
        let r = call(&app, "GET", "/v1/predictions", "uni1_sk_nope", None, &[]).await;
        problem(&r, 401, None);

        // Bad input: 422 problem details naming the field; no job made.
        let cases: &[(&str, &str, &str)] = &[
            (path, r#"{"input":{}}"#, "input.prompt"),
            (path, r#"{}"#, "input"),
            (path, r#"{"input":{"prompt":7}}"#, "input.prompt"),
            (
                path,
                r#"{"input":{"prompt":"k","num_outputs":99}}"#,
                "input.num_outputs",
            ),
            (
                path,
                r#"{"input":{"prompt":"k","num_outputs":-1}}"#,
                "input.num_outputs",
            ),
            (
                path,
                r#"{"input":{"prompt":"k","aspect_ratio":"7:3"}}"#,
                "input.aspect_ratio",
            ),
            (
                path,
                r#"{"input":{"prompt":"k","colour":"red"}}"#,
                "input.colour",
            ),
            (
                path,
                r#"{"input":{"prompt":"k"},"webhook":"https://10.0.0.1/h"}"#,
                "webhook",
            ),
            ("/v1/predictions", r#"{"input":{"prompt":"k"}}"#, "version"),
            (
                "/v1/predictions",
                r#"{"version":"dall-e","input":{"prompt":"k"}}"#,
                "version",
            ),
        ];
        for (to, body, field) in cases {
            let r = call(&app, "POST", to, &key, Some(body), &[]).await;
            problem(&r, 422, Some(field));
        }
        let r = call(&app, "POST", path, &key, Some("not json"), &[]).await;
        problem(&r, 400, None);
        let r = call(
            &app,
            "POST",
            "/v1/models/openai/dall-e/predictions",
            &key,
            Some(body),
            &[],
        )
        .await;
        problem(&r, 404, None);
        let r = call(
            &app,
            "POST",
            path,
            &key,
            Some(body),
            &[("prefer", "wait=99")],
        )
        .await;
        problem(&r, 400, None);
        assert_eq!(jobs_of(&app, alice_id).await, 1);

        // Idempotency-Key: the same create twice is one prediction.
        let idem = [("idempotency-key", "kite-0001")];
        let one = call(&app, "POST", path, &key, Some(body), &idem).await;
        assert_eq!(one.status, 201, "{}", one.body);
        let two = call(&app, "POST", path, &key, Some(body), &idem).await;
        assert_eq!(two.status, 201, "{}", two.body);
        assert_eq!(two.header("idempotent-replayed"), Some("true"));
        assert_eq!(one.json()["id"], two.json()["id"]);
        assert_eq!(jobs_of(&app, alice_id).await, 2);
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (47, 3));
        // The key with another body: a 422 problem, no job.
        let other = r#"{"input":{"prompt":"another kite"}}"#;
        let r = call(&app, "POST", path, &key, Some(other), &idem).await;
        problem(&r, 422, None);
        assert_eq!(r.header("x-should-retry"), Some("false"));
        assert!(r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"));
        assert_eq!(jobs_of(&app, alice_id).await, 2);
    }
);

/// The pinned official `replicate` Python client (`scripts/setup.sh
/// --test` makes its venv; `make test` names it in
/// `UNI1_TEST_REPLICATE_PYTHON`), or `None` outside `make test`.
fn replicate_python() -> Option<String> {
    match std::env::var("UNI1_TEST_REPLICATE_PYTHON") {
        Ok(python) => Some(python),
        Err(_) if std::env::var("UNI1_REQUIRE_PEERS").as_deref() == Ok("1") => {
            panic!("UNI1_TEST_REPLICATE_PYTHON is required (make test sets it)")
        }
        Err(_) => {
            eprintln!("\n!!! SKIPPING the replicate client conformance test: no UNI1_TEST_REPLICATE_PYTHON (run it through `make test`)\n");
            None
        }
    }
}

/// Runs end2end/api/replicate_conformance.py in `phase`.
async fn script(python: &str, origin: &str, key: &str, phase: &str) {
    run_python(
        python.to_owned(),
        "replicate_conformance.py",
        vec![
            ("UNI1_API_ORIGIN", origin.to_owned()),
            ("UNI1_API_KEY", key.to_owned()),
            ("UNI1_PHASE", phase.to_owned()),
        ],
    )
    .await;
}

/// The unmodified client against a real router on loopback: first with no
/// worker (a wait that ends first, cancel, 404 and 422 as
/// `ReplicateError`), then with one (`run` with and without waiting,
/// create + wait + reload, list).
async fn the_official_replicate_client_works_unchanged(backend: crate::support::Backend) {
    let Some(python) = replicate_python() else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let origin = format!("http://{addr}");
    crate::support::run_with(backend, &origin.clone(), |app| async move {
        let router = app.router.clone();
        let served = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
        });
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.93").await;
        let key = new_key(&app, &alice, &["generate", "read", "webhooks"]).await;

        script(&python, &origin, &key, "idle").await;
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (50, 0), "the cancel released");
        assert_eq!(jobs_of(&app, alice_id).await, 1);

        let running = worker_named(&app, "replicate-test");
        script(&python, &origin, &key, "run").await;
        // 2 + 1 + 1 images in three more jobs.
        assert_eq!(jobs_of(&app, alice_id).await, 4);
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (46, 0));

        // Models and versions, and `run` by version: one more job.
        script(&python, &origin, &key, "models").await;
        assert_eq!(jobs_of(&app, alice_id).await, 5);
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (45, 0));
        running.stop().await;
        served.abort();
    })
    .await;
}

mod replicate_python_client {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        the_official_replicate_client_works_unchanged(crate::support::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        the_official_replicate_client_works_unchanged(crate::support::Backend::Postgres).await;
    }
}
