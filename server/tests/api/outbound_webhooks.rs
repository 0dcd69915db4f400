//! Outbound webhooks (Standard Webhooks 1.0): endpoints registered through
//! the settings page's server functions, deliveries queued in the
//! transaction that ends a job, sent by the delivery pass to a receiver on
//! loopback (an axum server in the test), signed so that Standard
//! Webhooks' reference library (npm `standardwebhooks`) accepts them;
//! retries after an outage, 410, the address rules and ownership.

// Helpers outside `#[test]` functions: a failed setup step should panic.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uni1_domain::entities::{generation, user, webhook_delivery, webhook_endpoint};
use uni1_domain::generation::{status, Catalog, ModelEntry, SubmitInput};
use uni1_domain::webhooks::{delivery, Schedule, Webhooks};

use crate::fixtures::{drain, input, member};
use crate::support::{run_configured, Backend, TestApp, ORIGIN};

/// What the receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Got {
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: String,
}

/// A webhook receiver on loopback: records every request and answers the
/// queued statuses (then 204).
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    fn start(listener: tokio::net::TcpListener) -> Self {
        let receiver = Self::default();
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: http::HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    state.got.lock().unwrap().push(Got { headers, body });
                    let code = state.answers.lock().unwrap().pop_front().unwrap_or(204);
                    http::StatusCode::from_u16(code).unwrap()
                }
            }),
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        receiver
    }

    pub(crate) fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    pub(crate) fn all(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    pub(crate) fn last(&self) -> Got {
        self.got.lock().unwrap().last().cloned().unwrap()
    }

    pub(crate) fn answer(&self, codes: &[u16]) {
        self.answers.lock().unwrap().extend(codes);
    }
}

pub(crate) async fn receiver() -> (Receiver, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    (Receiver::start(listener), url)
}

/// The webhook service as a worker process builds it, with a short retry
/// schedule (milliseconds instead of minutes).
pub(crate) fn hooks(app: &TestApp, allow_loopback: bool) -> Webhooks {
    Webhooks::new(app.db.clone(), app.key.clone(), allow_loopback)
        .unwrap()
        .with_schedule(Schedule::new(vec![chrono::Duration::milliseconds(10); 3]))
}

/// Runs delivery passes until `done` (or panics after a while).
pub(crate) async fn deliver_until(hooks: &Webhooks, what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        delivery::deliver_due(hooks, chrono::Utc::now())
            .await
            .unwrap();
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Verifies a received webhook with Standard Webhooks' reference library
/// (npm `standardwebhooks`, installed by scripts/setup.sh); the verified
/// payload, or the library's error.
pub(crate) fn reference_verify(
    secret: &str,
    got: &Got,
    body: &str,
) -> Result<serde_json::Value, String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let header = |name: &str| {
        got.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let out = Command::new("node")
        .current_dir(root)
        .env("SECRET", secret)
        .env("BODY", body)
        .env("WID", header("webhook-id"))
        .env("WTS", header("webhook-timestamp"))
        .env("WSIG", header("webhook-signature"))
        .args([
            "-e",
            "const { Webhook } = require('standardwebhooks'); \
             const e = process.env; \
             const payload = new Webhook(e.SECRET).verify(e.BODY, { \
               'webhook-id': e.WID, 'webhook-timestamp': e.WTS, 'webhook-signature': e.WSIG }); \
             process.stdout.write(JSON.stringify(payload));",
        ])
        .output()
        .expect("node runs (scripts/setup.sh installs Node.js packages)");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !err.contains("Cannot find module"),
            "npm standardwebhooks is missing (run scripts/setup.sh): {err}"
        );
        Err(err)
    }
}

/// The signature checked on the Rust side: the HMAC recomputed from the
/// headers and body, and a timestamp within five minutes.
pub(crate) fn rust_verify(secret: &str, got: &Got) {
    let h = |name: &str| got.headers.get(name).unwrap().to_str().unwrap().to_owned();
    let id = h("webhook-id");
    assert!(id.starts_with("msg_"), "{id}");
    let ts: i64 = h("webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 300);
    let expected =
        uni1_models::predictions::sign_webhook(secret, &id, ts, got.body.as_bytes()).unwrap();
    assert_eq!(h("webhook-signature"), expected);
    assert_eq!(got.headers.get("content-type").unwrap(), "application/json");
}

/// Adds an endpoint as `visitor` through the settings page's server
/// function; its id and secret.
async fn add(
    app: &TestApp,
    visitor: &crate::support::Visitor,
    url: &str,
    events: &[&str],
) -> crate::support::Reply {
    let mut form = vec![("url", url)];
    for e in events {
        form.push((e, "on"));
    }
    app.post_as("/api/webhook-add", &form, visitor).await
}

fn id_and_secret(r: &crate::support::Reply) -> (String, String) {
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    (
        j["endpoint_id"].as_str().unwrap().to_owned(),
        j["secret"].as_str().unwrap().to_owned(),
    )
}

/// A model server on loopback and a catalog whose one model calls it.
async fn remote_catalog() -> (uni1_model_server::ModelServer, Catalog) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let server =
        uni1_model_server::ModelServer::new("test-key", "whsec_dGVzdC1zZWNyZXQtdGVzdC1zZWNyZXQ=")
            .with_public_base(base.clone());
    let router = server.router();
    tokio::spawn(async move {
        axum::serve(listener, router).await.ok();
    });
    let catalog = Catalog::new(vec![ModelEntry {
        id: "remote".into(),
        name: "Remote".into(),
        description: String::new(),
        credits_per_image: 2,
        model: Arc::new(uni1_models::openai::OpenAiImages {
            capabilities: uni1_models::builtin::Builtin::new().capabilities,
            base_url: base.clone(),
            api_key: "test-key".into(),
            model: "test".into(),
            http: uni1_models::Outbound::for_model(&base, &[], Duration::from_secs(2)).unwrap(),
        }),
    }]);
    (server, catalog)
}

async fn deliveries(app: &TestApp, endpoint: &str) -> Vec<webhook_delivery::Model> {
    webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EndpointId.eq(uuid::Uuid::parse_str(endpoint).unwrap()))
        .all(&app.db)
        .await
        .unwrap()
}

/// Declares the test on SQLite and PostgreSQL with endpoints on loopback
/// allowed (`UNI1_WEBHOOKS_ALLOW_LOOPBACK`), as the receiver is on this
/// machine.
macro_rules! with_loopback_endpoints {
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

with_loopback_endpoints!(
    signed_deliveries_when_a_job_succeeds_and_when_it_fails,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.40").await;
        let (receiver, url) = receiver().await;
        let (endpoint, secret) =
            id_and_secret(&add(&app, &alice, &url, &["succeeded", "failed"]).await);
        assert!(secret.starts_with("whsec_"), "{secret}");
        let stored = webhook_endpoint::Entity::find()
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert!(
            !stored
                .secret_sealed
                .contains(secret.trim_start_matches("whsec_")),
            "the secret is stored sealed"
        );
        let listed = app.post_as("/api/webhooks", &[], &alice).await.json();
        assert_eq!(listed[0]["url"], url.as_str());
        assert!(
            !listed.to_string().contains(&secret),
            "the list never shows the secret"
        );
        let hooks = hooks(&app, true);

        // A job succeeds: one signed delivery.
        let job = app
            .gens
            .submit(
                alice_id,
                true,
                input("key-hook-0001", "a secret lighthouse", 2),
            )
            .await
            .unwrap();
        drain(&app.gens, Duration::from_secs(30)).await;
        deliver_until(&hooks, "the success event", || receiver.count() == 1).await;
        let got = receiver.last();
        rust_verify(&secret, &got);
        let payload = reference_verify(&secret, &got, &got.body)
            .expect("the reference library accepts our signature");
        assert_eq!(payload["type"], "generation.succeeded");
        assert!(payload["timestamp"].as_str().unwrap().ends_with('Z'));
        let data = &payload["data"];
        assert_eq!(data["id"], job.id.to_string());
        assert_eq!(data["status"], "succeeded");
        assert_eq!(data["model"], "builtin");
        assert_eq!(data["image_count"], 2);
        assert_eq!(data["image_ids"].as_array().unwrap().len(), 2);
        assert!(
            !got.body.contains("lighthouse"),
            "no prompt text: {}",
            got.body
        );
        // A changed body, or another secret, does not verify.
        let tampered = got.body.replace("succeeded", "failed");
        assert!(reference_verify(&secret, &got, &tampered).is_err());
        let other = uni1_domain::webhooks::Secret::generate();
        assert!(reference_verify(other.expose(), &got, &got.body).is_err());

        // A job fails (the provider answers 429 on every attempt).
        let (server, catalog) = remote_catalog().await;
        let mut gens = app.gens.clone();
        gens.catalog = catalog;
        server.inject(uni1_model_server::Fault::TooManyRequests, 3);
        let failed = gens
            .submit(
                alice_id,
                true,
                SubmitInput {
                    model_id: "remote".into(),
                    ..input("key-hook-0002", "busy", 1)
                },
            )
            .await
            .unwrap();
        drain(&gens, Duration::from_secs(30)).await;
        let row = generation::Entity::find_by_id(failed.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, status::FAILED);
        deliver_until(&hooks, "the failure event", || receiver.count() == 2).await;
        let got = receiver.last();
        rust_verify(&secret, &got);
        let payload = reference_verify(&secret, &got, &got.body).unwrap();
        assert_eq!(payload["type"], "generation.failed");
        assert_eq!(payload["data"]["id"], failed.id.to_string());
        assert_eq!(payload["data"]["status"], "failed");
        assert_eq!(payload["data"]["image_count"], 0);
        assert!(payload["data"]["error"]
            .as_str()
            .unwrap()
            .contains("credits were returned"));

        // A canceled job: this endpoint did not ask for it.
        let queued = app
            .gens
            .submit(alice_id, true, input("key-hook-0003", "never mind", 1))
            .await
            .unwrap();
        app.gens.cancel(alice_id, queued.id).await.unwrap();
        assert_eq!(deliveries(&app, &endpoint).await.len(), 2);

        // Both deliveries ended delivered, one attempt each, in the log.
        assert!(deliveries(&app, &endpoint)
            .await
            .iter()
            .all(|d| d.delivered_at.is_some() && d.attempts == 1 && d.next_attempt_at.is_none()));
        let log = app
            .post_as("/api/webhook-log", &[("id", &endpoint)], &alice)
            .await;
        assert_eq!(log.status, 200, "{}", log.body);
        let log = log.json();
        assert_eq!(log.as_array().unwrap().len(), 2);
        assert_eq!(log[0]["event_type"], "generation.failed");
        assert_eq!(log[0]["answer"], "HTTP 204");
        assert_eq!(log[0]["state"], "delivered");

        // Rotating: the old secret no longer verifies the next delivery.
        let r = app
            .post_as("/api/webhook-rotate", &[("id", &endpoint)], &alice)
            .await;
        let (_, new_secret) = id_and_secret(&r);
        assert_ne!(new_secret, secret);
        app.gens
            .submit(alice_id, true, input("key-hook-0004", "again", 1))
            .await
            .unwrap();
        drain(&app.gens, Duration::from_secs(30)).await;
        deliver_until(&hooks, "the third event", || receiver.count() == 3).await;
        let got = receiver.last();
        assert!(reference_verify(&new_secret, &got, &got.body).is_ok());
        assert!(reference_verify(&secret, &got, &got.body).is_err());
    }
);

with_loopback_endpoints!(
    retries_after_an_outage_send_again_and_410_disables,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.41").await;
        // The receiver is down: its port is free, nothing listens.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let url = format!("http://{address}/hook");
        let (endpoint, _) =
            id_and_secret(&add(&app, &alice, &url, &["succeeded", "failed", "canceled"]).await);
        let hooks = hooks(&app, true);

        // A canceled job's event; the first attempt finds nobody.
        let job = app
            .gens
            .submit(alice_id, true, input("key-hook-0101", "cancel me", 1))
            .await
            .unwrap();
        app.gens.cancel(alice_id, job.id).await.unwrap();
        let report = delivery::deliver_due(&hooks, chrono::Utc::now())
            .await
            .unwrap();
        assert_eq!(report.retrying, 1, "{report:?}");
        let d = &deliveries(&app, &endpoint).await[0];
        assert_eq!(d.attempts, 1);
        assert!(d.next_attempt_at.is_some() && d.delivered_at.is_none());
        assert!(d.last_status.is_none() && d.last_error.is_some());

        // Back up, but answering 503 once: retried, then delivered.
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        let receiver = Receiver::start(listener);
        receiver.answer(&[503]);
        deliver_until(&hooks, "the delivery after the outage", || {
            receiver.count() == 2
        })
        .await;
        let d = &deliveries(&app, &endpoint).await[0];
        assert_eq!(d.attempts, 3);
        assert!(d.delivered_at.is_some() && d.next_attempt_at.is_none());
        assert_eq!(d.last_status, Some(204));
        let first_id = receiver.got.lock().unwrap()[0].headers["webhook-id"].clone();
        assert_eq!(
            receiver.last().headers["webhook-id"],
            first_id,
            "same message id"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&receiver.last().body).unwrap()["type"],
            "generation.canceled"
        );
        let log = app
            .post_as("/api/webhook-log", &[("id", &endpoint)], &alice)
            .await
            .json();
        let answers: Vec<&str> = log
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["answer"].as_str().unwrap())
            .collect();
        assert_eq!(answers, ["HTTP 204", "HTTP 503", "no answer"]);

        // Send again: the ended delivery goes out once more.
        let r = app
            .post_as(
                "/api/webhook-resend",
                &[("delivery", &d.id.to_string())],
                &alice,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        deliver_until(&hooks, "the delivery sent again", || receiver.count() == 3).await;

        // Out of attempts: failed, kept in the log, can be sent again.
        receiver.answer(&[500, 500, 500, 500]);
        let job = app
            .gens
            .submit(alice_id, true, input("key-hook-0102", "cancel me too", 1))
            .await
            .unwrap();
        app.gens.cancel(alice_id, job.id).await.unwrap();
        deliver_until(&hooks, "four failed attempts", || receiver.count() == 7).await;
        let failed = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::GenerationId.eq(job.id))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert!(failed.failed_at.is_some() && failed.next_attempt_at.is_none());
        assert_eq!((failed.attempts, failed.last_status), (4, Some(500)));

        // 410 Gone turns the endpoint off; later jobs queue nothing for it.
        receiver.answer(&[410]);
        let r = app
            .post_as(
                "/api/webhook-resend",
                &[("delivery", &failed.id.to_string())],
                &alice,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        deliver_until(&hooks, "the 410", || receiver.count() == 8).await;
        let listed = app.post_as("/api/webhooks", &[], &alice).await.json();
        assert_eq!(listed[0]["enabled"], false);
        assert!(listed[0]["disabled_because"]
            .as_str()
            .unwrap()
            .contains("410"));
        let before = deliveries(&app, &endpoint).await.len();
        let job = app
            .gens
            .submit(alice_id, true, input("key-hook-0103", "nobody hears", 1))
            .await
            .unwrap();
        app.gens.cancel(alice_id, job.id).await.unwrap();
        assert_eq!(deliveries(&app, &endpoint).await.len(), before);
        let r = app
            .post_as(
                "/api/webhook-resend",
                &[("delivery", &failed.id.to_string())],
                &alice,
            )
            .await;
        assert_eq!(r.status, 422, "a turned-off endpoint sends nothing");
        // Turned on again, it gets the next event.
        let r = app
            .post_as(
                "/api/webhook-enable",
                &[("id", &endpoint), ("on", "on")],
                &alice,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let job = app
            .gens
            .submit(alice_id, true, input("key-hook-0104", "heard", 1))
            .await
            .unwrap();
        app.gens.cancel(alice_id, job.id).await.unwrap();
        deliver_until(&hooks, "the event after turning on", || {
            receiver.count() == 9
        })
        .await;
    }
);

with_loopback_endpoints!(
    private_addresses_are_refused_at_registration_and_at_delivery,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.42").await;
        for url in [
            "https://10.0.0.8/hook",
            "https://192.168.1.20/hook",
            "https://169.254.169.254/latest",
            "https://[fd00::1]/hook",
            "https://[::ffff:10.0.0.1]/hook",
            "http://example.com/hook",
            "ftp://example.com/hook",
            "https://user:pass@example.com/hook",
            "not a url",
        ] {
            let r = add(&app, &alice, url, &["succeeded"]).await;
            assert_eq!(r.status, 422, "{url}: {}", r.body);
            assert!(r.body.contains("url"), "{url}: {}", r.body);
        }
        let r = add(&app, &alice, "https://example.com/hook", &[]).await;
        assert_eq!(r.status, 422, "no events: {}", r.body);
        assert_eq!(
            webhook_endpoint::Entity::find()
                .count(&app.db)
                .await
                .unwrap(),
            0
        );

        // Registered while this machine was allowed; a process that does
        // not allow loopback refuses to deliver there (the resolver's and
        // the address checks' refusal is final, and nothing is sent).
        let (receiver, url) = receiver().await;
        let (endpoint, _) = id_and_secret(&add(&app, &alice, &url, &["canceled"]).await);
        let job = app
            .gens
            .submit(alice_id, true, input("key-hook-0201", "x", 1))
            .await
            .unwrap();
        app.gens.cancel(alice_id, job.id).await.unwrap();
        let strict = hooks(&app, false);
        let report = delivery::deliver_due(&strict, chrono::Utc::now())
            .await
            .unwrap();
        assert_eq!(report.failed, 1, "{report:?}");
        let d = &deliveries(&app, &endpoint).await[0];
        assert!(d.failed_at.is_some() && d.next_attempt_at.is_none());
        assert!(d.last_error.as_deref().unwrap().contains("refus"), "{d:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(receiver.count(), 0, "nothing reached the private address");
    }
);

crate::on_both_backends!(
    loopback_endpoints_are_refused_unless_allowed,
    |app: TestApp| async move {
        let (alice, _) = member(&app, "alice@uni1.test", "203.0.113.43").await;
        for url in [
            "http://127.0.0.1:9/hook",
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://localhost/hook",
            "https://hooks.localhost/hook",
        ] {
            let r = add(&app, &alice, url, &["succeeded"]).await;
            assert_eq!(r.status, 422, "{url}: {}", r.body);
        }
        let r = add(&app, &alice, "https://hooks.example.com/uni1", &["failed"]).await;
        assert_eq!(r.status, 200, "a public https address is fine: {}", r.body);
    }
);

with_loopback_endpoints!(
    another_person_cannot_see_or_change_an_endpoint,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.44").await;
        let (bob, _) = member(&app, "bob@uni1.test", "203.0.113.45").await;
        let (_receiver, url) = receiver().await;
        let (endpoint, _) = id_and_secret(&add(&app, &alice, &url, &["canceled"]).await);
        let job = app
            .gens
            .submit(alice_id, true, input("key-hook-0301", "x", 1))
            .await
            .unwrap();
        app.gens.cancel(alice_id, job.id).await.unwrap();
        let delivery_id = deliveries(&app, &endpoint).await[0].id.to_string();

        let bobs = app.post_as("/api/webhooks", &[], &bob).await;
        assert_eq!(bobs.json(), serde_json::json!([]));
        let missing = uuid::Uuid::now_v7().to_string();
        for (path, form) in [
            ("/api/webhook-log", vec![("id", endpoint.as_str())]),
            ("/api/webhook-rotate", vec![("id", endpoint.as_str())]),
            (
                "/api/webhook-enable",
                vec![("id", endpoint.as_str()), ("on", "off")],
            ),
            ("/api/webhook-delete", vec![("id", endpoint.as_str())]),
            (
                "/api/webhook-resend",
                vec![("delivery", delivery_id.as_str())],
            ),
        ] {
            let as_bob = app.post_as(path, &form, &bob).await;
            assert_eq!(as_bob.status, 404, "{path}: {}", as_bob.body);
            // Exactly like an id that does not exist.
            let made_up: Vec<(&str, &str)> = form
                .iter()
                .map(|(k, v)| (*k, if *k == "on" { *v } else { missing.as_str() }))
                .collect();
            let r = app.post_as(path, &made_up, &alice).await;
            assert_eq!((r.status, r.body), (as_bob.status, as_bob.body.clone()));
        }
        let anonymous = app
            .post_as(
                "/api/webhooks",
                &[],
                &crate::support::Visitor::new("203.0.113.46"),
            )
            .await;
        assert_eq!(anonymous.status, 401);
        let listed = app.post_as("/api/webhooks", &[], &alice).await.json();
        assert_eq!(listed[0]["id"], endpoint.as_str());
        assert_eq!(listed[0]["enabled"], true, "Bob's request changed nothing");
        // The settings page, rendered on the server, shows it to her only.
        let page = app.get_as("/settings/webhooks", &alice).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains(&url), "{}", page.body);
        delivery::deliver_due(&hooks(&app, true), chrono::Utc::now())
            .await
            .unwrap();
        let log_page = app
            .get_as(&format!("/settings/webhooks?log={endpoint}"), &alice)
            .await;
        assert!(log_page.body.contains("HTTP 204"), "{}", log_page.body);
        assert!(log_page.body.contains("Send again"));
        let page = app.get_as("/settings/webhooks", &bob).await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains(&url));

        // The endpoint is in Alice's export (never its secret) ...
        let collected =
            uni1_domain::privacy::export::collect(&app.db, alice_id, chrono::Utc::now())
                .await
                .unwrap();
        let (_, hooks_json, n) = collected
            .values
            .iter()
            .find(|(file, _, _)| *file == "webhooks.json")
            .unwrap();
        assert_eq!(*n, 1);
        assert_eq!(hooks_json[0]["url"], url.as_str());
        assert_eq!(
            hooks_json[0]["deliveries"][0]["event_type"],
            "generation.canceled"
        );
        assert!(!hooks_json.to_string().contains("whsec_"));
        assert!(!hooks_json.to_string().contains("secret"));

        // ... and goes with her account, with its deliveries.
        user::Entity::delete_by_id(alice_id)
            .exec(&app.db)
            .await
            .unwrap();
        assert_eq!(
            webhook_endpoint::Entity::find()
                .count(&app.db)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            webhook_delivery::Entity::find()
                .count(&app.db)
                .await
                .unwrap(),
            0
        );
    }
);
