//! Per-prediction webhooks (issue 17), as Replicate has them: a prediction
//! made with `webhook` gets `start` and `completed` deliveries of the
//! prediction object to a receiver on loopback, through the webhook outbox,
//! signed with the person's default secret (`GET
//! /v1/webhooks/default/secret`) so that Standard Webhooks' reference
//! library and the official `replicate` client's validator accept them;
//! `webhook_events_filter`, refused addresses, and retries after an outage.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::body::Body;
use http::Request;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::Value;
use uni1_domain::entities::{generation, prediction_webhook, webhook_delivery, webhook_endpoint};

use crate::api_client::{new_key, worker as worker_named};
use crate::fixtures::member;
use crate::outbound_webhooks::{
    deliver_until, hooks, receiver, reference_verify, rust_verify, Got,
};
use crate::support::{run_configured, Backend, Reply, TestApp, ORIGIN};

/// Declares the test on SQLite and PostgreSQL with webhook addresses on
/// loopback allowed (`UNI1_WEBHOOKS_ALLOW_LOOPBACK`): the receiver is on
/// this machine.
macro_rules! with_loopback_hooks {
    ($name:ident, $test:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run_configured(
                    Backend::Sqlite,
                    ORIGIN,
                    |a| a.generation.webhooks_allow_loopback = Some(true),
                    $test,
                )
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run_configured(
                    Backend::Postgres,
                    ORIGIN,
                    |a| a.generation.webhooks_allow_loopback = Some(true),
                    $test,
                )
                .await;
            }
        }
    };
}

async fn call(app: &TestApp, method: &str, path: &str, key: &str, body: Option<&str>) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {key}"));
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_owned()));
    app.send(request.body(body).unwrap()).await
}

/// Polls `GET /v1/predictions/{id}` until the status is final.
async fn poll(app: &TestApp, key: &str, id: &str) -> Value {
    for _ in 0..300 {
        let r = call(app, "GET", &format!("/v1/predictions/{id}"), key, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let p = r.json();
        if !matches!(p["status"].as_str(), Some("starting" | "processing")) {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("prediction {id} never ended");
}

/// Creates a prediction with `extra` fields (`"webhook": …`); its id.
async fn create(app: &TestApp, key: &str, prompt: &str, extra: &str) -> Reply {
    let body = format!(r#"{{"input":{{"prompt":"{prompt}"}}{extra}}}"#);
    call(
        app,
        "POST",
        "/v1/models/uni1/builtin/predictions",
        key,
        Some(&body),
    )
    .await
}

/// The prediction without its signed output URLs' query (signed anew at
/// each read), to compare a webhook's body with `GET`.
fn unsigned(mut p: Value) -> Value {
    if let Some(outputs) = p["output"].as_array_mut() {
        for o in outputs {
            let url = o.as_str().unwrap();
            *o = Value::from(url.split_once('?').map_or(url, |(u, _)| u));
        }
    }
    p
}

/// Verifies `got` with the official `replicate` client's validator
/// (`replicate.webhooks.validate`) when its pinned venv is named in
/// `UNI1_TEST_REPLICATE_PYTHON`; `false` when it is not.
fn replicate_validates(secret: &str, got: &Got) -> bool {
    let Ok(python) = std::env::var("UNI1_TEST_REPLICATE_PYTHON") else {
        eprintln!("\n!!! SKIPPING the replicate client's webhook validator: no UNI1_TEST_REPLICATE_PYTHON (run it through `make test`)\n");
        return false;
    };
    let header = |name: &str| {
        got.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let script = "import os, replicate\n\
        from replicate.webhook import WebhookSigningSecret\n\
        e = os.environ\n\
        headers = {'webhook-id': e['WID'], 'webhook-timestamp': e['WTS'], 'webhook-signature': e['WSIG']}\n\
        replicate.webhooks.validate(headers=headers, body=e['BODY'], secret=WebhookSigningSecret(key=e['SECRET']), tolerance=300)\n\
        print('valid')\n";
    let out = std::process::Command::new(python)
        .env("SECRET", secret)
        .env("BODY", &got.body)
        .env("WID", header("webhook-id"))
        .env("WTS", header("webhook-timestamp"))
        .env("WSIG", header("webhook-signature"))
        .args(["-c", script])
        .output()
        .expect("the venv's python runs");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("valid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

with_loopback_hooks!(
    a_prediction_webhook_gets_signed_start_and_completed_deliveries,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.120").await;
        let key = new_key(&app, &alice, &["generate", "read", "webhooks"]).await;
        let no_hooks_scope = new_key(&app, &alice, &["generate", "read"]).await;

        // The default secret: made once, the same on every read, stored
        // sealed, only with the webhooks scope.
        let r = call(&app, "GET", "/v1/webhooks/default/secret", &key, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let secret = r.json()["key"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_"), "{secret}");
        let again = call(&app, "GET", "/v1/webhooks/default/secret", &key, None).await;
        assert_eq!(again.json()["key"], secret.as_str());
        let r = call(
            &app,
            "GET",
            "/v1/webhooks/default/secret",
            &no_hooks_scope,
            None,
        )
        .await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        let signer = webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::UserId.eq(alice_id))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(signer.kind, "predictions");
        assert!(!signer
            .secret_sealed
            .contains(secret.trim_start_matches("whsec_")));
        // It is not one of the endpoints of Settings -> Webhooks.
        let listed = app.post_as("/api/webhooks", &[], &alice).await.json();
        assert_eq!(listed.as_array().unwrap().len(), 0, "{listed}");

        // A prediction with a webhook (no filter: every event).
        let (every, url) = receiver().await;
        let r = create(
            &app,
            &key,
            "a kite over the sea",
            &format!(r#","webhook":"{url}""#),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let running = worker_named(&app, "prediction-hooks");
        let done = poll(&app, &key, &id).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        let hooks = hooks(&app, true);
        deliver_until(&hooks, "start and completed", || every.count() == 2).await;
        let got = every.all();
        let start: Value = serde_json::from_str(&got[0].body).unwrap();
        let completed: Value = serde_json::from_str(&got[1].body).unwrap();
        assert_eq!(start["id"], id.as_str());
        assert_eq!(start["status"], "starting", "{start}");
        assert_eq!(start["output"], Value::Null);
        assert_eq!(completed["status"], "succeeded", "{completed}");
        // The body is the prediction object, as GET answers it.
        assert_eq!(unsigned(completed.clone()), unsigned(done.clone()));
        assert_eq!(
            completed["urls"]["get"],
            format!("{ORIGIN}/v1/predictions/{id}")
        );
        let output = completed["output"][0].as_str().unwrap();
        let image = app.get(output.strip_prefix(ORIGIN).unwrap()).await;
        assert_eq!(image.status, 200, "the output URL opens");
        // Signed with the default secret: our check, Standard Webhooks'
        // reference library, and the replicate client's validator.
        for g in &got {
            rust_verify(&secret, g);
            reference_verify(&secret, g, &g.body).expect("the reference library accepts it");
            replicate_validates(&secret, g);
        }
        let other = uni1_domain::webhooks::Secret::generate();
        assert!(reference_verify(other.expose(), &got[1], &got[1].body).is_err());
        assert_ne!(
            got[0].headers.get("webhook-id"),
            got[1].headers.get("webhook-id")
        );
        // Nothing more is sent.
        for _ in 0..5 {
            uni1_domain::webhooks::delivery::deliver_due(&hooks, chrono::Utc::now())
                .await
                .unwrap();
        }
        assert_eq!(every.count(), 2);

        // A filter of ["completed"]: only the end.
        let (only_end, url) = receiver().await;
        let r = create(
            &app,
            &key,
            "a kite at dusk",
            &format!(r#","webhook":"{url}","webhook_events_filter":["completed"]"#),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(poll(&app, &key, &id).await["status"], "succeeded");
        deliver_until(&hooks, "completed only", || only_end.count() == 1).await;
        for _ in 0..5 {
            uni1_domain::webhooks::delivery::deliver_due(&hooks, chrono::Utc::now())
                .await
                .unwrap();
        }
        assert_eq!(only_end.count(), 1);
        let body: Value = serde_json::from_str(&only_end.last().body).unwrap();
        assert_eq!(body["status"], "succeeded");
        assert_eq!(body["id"], id.as_str());

        // A canceled prediction's completed event says canceled; `logs`
        // alone sends nothing (predictions here have no logs).
        running.stop().await;
        let (cancels, url) = receiver().await;
        let r = create(
            &app,
            &key,
            "a kite nobody makes",
            &format!(r#","webhook":"{url}","webhook_events_filter":["completed"]"#),
        )
        .await;
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let r = call(
            &app,
            "POST",
            &format!("/v1/predictions/{id}/cancel"),
            &key,
            None,
        )
        .await;
        assert_eq!(r.json()["status"], "canceled", "{}", r.body);
        let (silent, url) = receiver().await;
        let r = create(
            &app,
            &key,
            "a quiet kite",
            &format!(r#","webhook":"{url}","webhook_events_filter":["logs"]"#),
        )
        .await;
        let quiet = r.json()["id"].as_str().unwrap().to_owned();
        let r = call(
            &app,
            "POST",
            &format!("/v1/predictions/{quiet}/cancel"),
            &key,
            None,
        )
        .await;
        assert_eq!(r.status, 200);
        deliver_until(&hooks, "the cancel", || cancels.count() == 1).await;
        let body: Value = serde_json::from_str(&cancels.last().body).unwrap();
        assert_eq!(body["status"], "canceled", "{body}");
        assert_eq!(silent.count(), 0);

        // The person's export holds the predictions' deliveries.
        let collected =
            uni1_domain::privacy::export::collect(&app.db, alice_id, chrono::Utc::now())
                .await
                .unwrap();
        let (_, hooks_json, _) = collected
            .values
            .iter()
            .find(|(file, _, _)| *file == "webhooks.json")
            .unwrap();
        let text = hooks_json.to_string();
        assert!(text.contains("prediction.completed"), "{text}");
        assert!(text.contains(r#""kind":"predictions""#), "{text}");
        // ... and the predictions' webhooks themselves (URL, filter).
        assert!(text.contains(r#""prediction_webhooks":[{"#), "{text}");
        assert!(text.contains(r#""made_on":"#), "{text}");
        assert!(!text.contains(secret.trim_start_matches("whsec_")));
    }
);

with_loopback_hooks!(
    prediction_webhooks_refuse_private_addresses_and_retry_after_an_outage,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.121").await;
        let key = new_key(&app, &alice, &["generate", "read"]).await;
        let jobs = || async {
            generation::Entity::find()
                .filter(generation::Column::UserId.eq(alice_id))
                .count(&app.db)
                .await
                .unwrap()
        };

        // Refused addresses and filters: a 422 naming the field, no job,
        // nothing recorded.
        let cases: &[(&str, &str)] = &[
            (r#","webhook":"https://10.0.0.8/hook""#, "webhook"),
            (r#","webhook":"https://192.168.1.20/hook""#, "webhook"),
            (r#","webhook":"https://169.254.169.254/latest""#, "webhook"),
            (r#","webhook":"https://[fd00::1]/hook""#, "webhook"),
            (r#","webhook":"ftp://example.com/hook""#, "webhook"),
            (r#","webhook":"not a url""#, "webhook"),
            (r#","webhook":7"#, "webhook"),
            (
                r#","webhook":"https://example.com/h","webhook_events_filter":["bogus"]"#,
                "webhook_events_filter",
            ),
            (
                r#","webhook":"https://example.com/h","webhook_events_filter":[]"#,
                "webhook_events_filter",
            ),
            (
                r#","webhook_events_filter":["completed"]"#,
                "webhook_events_filter",
            ),
        ];
        for (extra, field) in cases {
            let r = create(&app, &key, "k", extra).await;
            assert_eq!(r.status, 422, "{extra}: {}", r.body);
            assert_eq!(r.header("content-type"), Some("application/problem+json"));
            let body = r.json();
            assert_eq!(body["invalid_fields"][0]["field"], *field, "{}", r.body);
            assert!(
                !body["detail"].as_str().unwrap().contains("Unknown"),
                "{}",
                r.body
            );
        }
        let r = create(&app, &key, "k", r#","webhook":"https://10.0.0.8/hook""#).await;
        assert!(
            r.json()["detail"]
                .as_str()
                .unwrap()
                .contains("cannot receive webhooks"),
            "{}",
            r.body
        );
        assert_eq!(jobs().await, 0);
        assert_eq!(
            prediction_webhook::Entity::find()
                .count(&app.db)
                .await
                .unwrap(),
            0
        );

        // A receiver that is down twice, then answers: the same delivery
        // (same webhook-id) is tried again until it is taken.
        let (receiver, url) = receiver().await;
        receiver.answer(&[503, 500]);
        let r = create(
            &app,
            &key,
            "a kite in the rain",
            &format!(r#","webhook":"{url}","webhook_events_filter":["completed"]"#),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let running = worker_named(&app, "prediction-hooks");
        assert_eq!(poll(&app, &key, &id).await["status"], "succeeded");
        running.stop().await;
        let hooks = hooks(&app, true);
        deliver_until(&hooks, "a delivery after the outage", || {
            receiver.count() == 3
        })
        .await;
        let got = receiver.all();
        let ids: Vec<_> = got.iter().map(|g| g.headers.get("webhook-id")).collect();
        assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
        let secret = hooks.default_secret(alice_id).await.unwrap();
        rust_verify(secret.expose(), &got[2]);
        let rows = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::UserId.eq(alice_id))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].attempts, 3);
        assert!(rows[0].delivered_at.is_some());
        assert_eq!(rows[0].event_type, "prediction.completed");
        assert_eq!(rows[0].url.as_deref(), Some(url.as_str()));
        // What was sent is kept for the log and the export.
        assert_eq!(rows[0].payload, got[2].body);
    }
);
