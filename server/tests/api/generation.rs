//! Generation end to end over HTTP and through the queue: submit with
//! credits, run the worker, fetch the encrypted media as its owner only,
//! refusals, failures, retries, concurrency, dead workers and idempotency.

// Helpers outside `#[test]` functions: a failed setup step should panic.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStoreExt as _;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uni1_domain::billing::credits;
use uni1_domain::entities::{credit_ledger, generation, image, moderation_flag, user};
use uni1_domain::generation::{status, Catalog, ModelEntry, SubmitInput};

use crate::fixtures::{drain, input, member, open_as};
use crate::on_both_backends;
use crate::support::{TestApp, Visitor};

async fn settled_entries(app: &TestApp, job: uuid::Uuid) -> Vec<credit_ledger::Model> {
    credit_ledger::Entity::find()
        .filter(credit_ledger::Column::GenerationId.eq(job))
        .all(&app.db)
        .await
        .expect("ledger")
}

on_both_backends!(
    generate_store_and_serve_to_the_owner_only,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.10").await;
        let (bob, _) = member(&app, "bob@uni1.test", "203.0.113.11").await;

        let studio = app.post_as("/api/studio", &[], &alice).await;
        assert_eq!(studio.status, 200, "{}", studio.body);
        let s = studio.json();
        assert_eq!(s["available"], 50, "the sign-up grant");
        assert_eq!(s["models"][0]["id"], "builtin");

        let form = [
            ("form_key", "key-0000000001"),
            ("model", "builtin"),
            ("prompt", "a lighthouse at dusk"),
            ("aspect_ratio", "16:9"),
            ("count", "2"),
            ("seed", "42"),
        ];
        let r = app.post_as("/api/generate", &form, &alice).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let job = r.json();
        assert_eq!(job["status"], "queued");
        assert_eq!(job["queue_position"], 1);
        // A double submit (same form key) is the same job, charged once.
        let again = app.post_as("/api/generate", &form, &alice).await;
        assert_eq!(again.json()["id"], job["id"]);
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (48, 2));

        drain(&app.gens, Duration::from_secs(30)).await;
        let job_id = uuid::Uuid::parse_str(job["id"].as_str().unwrap()).unwrap();
        let row = generation::Entity::find_by_id(job_id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, status::SUCCEEDED, "{:?}", row.error_detail);
        assert_eq!(row.seed_used, Some(42));
        assert!(row.started_at.is_some() && row.finished_at.is_some());
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (48, 0), "captured, not released");
        assert!(credits::audit(&app.db, alice_id).await.unwrap());

        let images = image::Entity::find()
            .filter(image::Column::GenerationId.eq(job_id))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(images.len(), 2);
        let img = &images[0];
        let (w, h) = uni1_models::AspectRatio::Wide16x9.size(512);
        assert_eq!((img.width, img.height), (w as i32, h as i32));
        assert!(img.width > img.height, "16:9 is wide");
        assert!(img.original_path.starts_with(&format!("users/{alice_id}/")));

        // At rest the object is ciphertext, not a PNG.
        let raw = app
            .gens
            .blobs
            .raw()
            .get(&object_store::path::Path::from(img.original_path.as_str()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(!raw.starts_with(b"\x89PNG"));

        // Owner: the decrypted PNG, private caching, an ETag that revalidates.
        let url = format!("/media/{}/original", img.id);
        let r = app.get_as(&url, &alice).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("image/png"));
        assert!(r.header("cache-control").unwrap().starts_with("private"));
        assert!(r.bytes.starts_with(b"\x89PNG"));
        let etag = r.header("etag").unwrap().to_owned();
        let req = http::Request::get(&url)
            .header("cookie", alice.cookie.clone().unwrap())
            .header("if-none-match", etag)
            .body(axum::body::Body::empty())
            .unwrap();
        let r304 = app.send(req).await;
        assert_eq!(r304.status, 304);
        let dl = app.get_as(&format!("{url}?download=1"), &alice).await;
        assert!(dl
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"uni1-"));
        let preview = app
            .get_as(&format!("/media/{}/preview", img.id), &alice)
            .await;
        assert_eq!(preview.header("content-type"), Some("image/webp"));
        assert!(preview.bytes.starts_with(b"RIFF"));

        // Another person and an anonymous visitor get the same 404 as a made-up id.
        let missing = app
            .get_as(&format!("/media/{}/original", uuid::Uuid::now_v7()), &alice)
            .await;
        let as_bob = app.get_as(&url, &bob).await;
        let anonymous = app.get(&url).await;
        for r in [&missing, &as_bob, &anonymous] {
            assert_eq!(r.status, 404);
            assert_eq!(r.body, missing.body);
        }
        // Bob cannot cancel Alice's job either.
        let r = app
            .post_as(
                "/api/cancel-generation",
                &[("id", job["id"].as_str().unwrap())],
                &bob,
            )
            .await;
        assert_eq!(r.status, 404);
    }
);

on_both_backends!(
    refused_and_invalid_prompts_are_not_charged,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.12").await;
        let mut gens = app.gens.clone();
        gens.content = uni1_domain::generation::ContentPolicy::new(["forbidden".to_string()]);
        let view = gens
            .submit(
                alice_id,
                true,
                input("key-refused-01", "something Forbidden here", 1),
            )
            .await
            .unwrap();
        assert_eq!(view.status, status::REFUSED);
        assert!(view.error.unwrap().contains("content policy"));
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (50, 0));
        let flags = moderation_flag::Entity::find().all(&app.db).await.unwrap();
        assert_eq!(flags.len(), 1);
        assert_eq!(flags[0].source, "blocklist");

        // Bad fields are named; nothing is queued.
        for (field, form) in [
            (
                "prompt",
                vec![("prompt", "   "), ("count", "1"), ("aspect_ratio", "1:1")],
            ),
            (
                "count",
                vec![("prompt", "ok"), ("count", "9"), ("aspect_ratio", "1:1")],
            ),
            (
                "aspect_ratio",
                vec![("prompt", "ok"), ("count", "1"), ("aspect_ratio", "2:1")],
            ),
            (
                "seed",
                vec![
                    ("prompt", "ok"),
                    ("count", "1"),
                    ("aspect_ratio", "1:1"),
                    ("seed", "-3"),
                ],
            ),
        ] {
            let mut f = vec![("form_key", "key-invalid-01"), ("model", "builtin")];
            f.extend(form);
            let r = app.post_as("/api/generate", &f, &alice).await;
            assert_eq!(r.status, 422, "{field}: {}", r.body);
            assert!(r.body.contains(field), "{field}: {}", r.body);
        }
        // Unconfirmed addresses cannot generate.
        let err = gens
            .submit(alice_id, false, input("key-unconf-01", "ok", 1))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("Confirm"));
        assert_eq!(generation::Entity::find().count(&app.db).await.unwrap(), 1);
    }
);

on_both_backends!(
    concurrent_submits_never_overspend,
    |app: TestApp| async move {
        let (_alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.13").await;
        let mut gens = app.gens.clone();
        gens.queue.max_pending_per_user = 1000;
        let gens = Arc::new(gens);
        let mut tasks = Vec::new();
        for i in 0..200 {
            let gens = gens.clone();
            tasks.push(tokio::spawn(async move {
                gens.submit(
                    alice_id,
                    true,
                    input(&format!("key-burst-{i:04}"), "burst", 1),
                )
                .await
            }));
        }
        let mut accepted = 0;
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => accepted += 1,
                Err(uni1_domain::generation::SubmitError::Insufficient { .. }) => refused += 1,
                Err(e) => panic!("unexpected: {e:?}"),
            }
        }
        assert_eq!((accepted, refused), (50, 150));
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (0, 50));
        assert!(credits::audit(&app.db, alice_id).await.unwrap());
    }
);

on_both_backends!(
    cancel_releases_and_dead_workers_are_reaped,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.14").await;
        // Cancel while queued: credits come back at once.
        let v = app
            .gens
            .submit(alice_id, true, input("key-cancel-01", "cancel me", 3))
            .await
            .unwrap();
        let r = app
            .post_as(
                "/api/cancel-generation",
                &[("id", &v.id.to_string())],
                &alice,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["status"], "cancelled");
        assert_eq!(
            credits::balance(&app.db, alice_id).await.unwrap().available,
            50
        );

        // A worker claims a job and dies (never renews): once the lease is over,
        // the reaper re-queues it and another worker finishes it, charged once.
        let v = app
            .gens
            .submit(alice_id, true, input("key-reaped-01", "orphan", 1))
            .await
            .unwrap();
        let claimed = uni1_domain::generation::queue::claim(
            &app.db,
            "dead-worker",
            Duration::from_millis(200),
            2,
        )
        .await
        .unwrap()
        .expect("a job to claim");
        assert_eq!(claimed.id, v.id);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            uni1_domain::generation::queue::reap(&app.db).await.unwrap(),
            1
        );
        drain(&app.gens, Duration::from_secs(20)).await;
        let row = generation::Entity::find_by_id(v.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, status::SUCCEEDED);
        assert_eq!(row.attempts, 2);
        // The dead worker cannot overwrite the result with its stale lease.
        assert!(!uni1_domain::generation::queue::renew(
            &app.db,
            v.id,
            "dead-worker",
            Duration::from_secs(5)
        )
        .await
        .unwrap());
        let kinds: Vec<String> = settled_entries(&app, v.id)
            .await
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| *k == "capture").count(),
            1,
            "{kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| *k == "release").count(),
            0,
            "{kinds:?}"
        );
        assert_eq!(
            credits::balance(&app.db, alice_id).await.unwrap().available,
            49
        );
        assert!(credits::audit(&app.db, alice_id).await.unwrap());
    }
);

/// A model server on loopback and a catalog whose models call it.
async fn model_server() -> (uni1_model_server::ModelServer, url::Url) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let server =
        uni1_model_server::ModelServer::new("test-key", "whsec_dGVzdC1zZWNyZXQtdGVzdC1zZWNyZXQ=")
            .with_public_base(base.clone());
    let router = server.router();
    tokio::spawn(async move {
        axum::serve(listener, router).await.ok();
    });
    (server, base)
}

fn openai_catalog(base: &url::Url) -> Catalog {
    Catalog::new(vec![ModelEntry {
        id: "remote".into(),
        name: "Remote".into(),
        description: String::new(),
        credits_per_image: 2,
        model: Arc::new(uni1_models::openai::OpenAiImages {
            capabilities: uni1_models::builtin::Builtin::new().capabilities,
            base_url: base.clone(),
            api_key: "test-key".into(),
            model: "test".into(),
            http: uni1_models::Outbound::for_model(base, &[], Duration::from_secs(2)).unwrap(),
        }),
    }])
}

on_both_backends!(
    remote_failures_retry_then_release,
    |app: TestApp| async move {
        let (_alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.15").await;
        let (server, base) = model_server().await;
        let mut gens = app.gens.clone();
        gens.catalog = openai_catalog(&base);
        let remote = |key: &str, prompt: &str| SubmitInput {
            model_id: "remote".into(),
            ..input(key, prompt, 1)
        };

        // Two 500s then success: retried, charged once.
        server.inject(uni1_model_server::Fault::ServerError, 2);
        let ok = gens
            .submit(alice_id, true, remote("key-retry-001", "retry"))
            .await
            .unwrap();
        drain(&gens, Duration::from_secs(30)).await;
        let row = generation::Entity::find_by_id(ok.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, status::SUCCEEDED, "{:?}", row.error_detail);
        assert_eq!(row.attempts, 3);

        // Always 429: out of attempts -> failed, credits back, plain words.
        // As many 429s as attempts (3): every attempt is refused.
        server.inject(uni1_model_server::Fault::TooManyRequests, 3);
        let failed = gens
            .submit(alice_id, true, remote("key-retry-002", "busy"))
            .await
            .unwrap();
        drain(&gens, Duration::from_secs(30)).await;
        let row = generation::Entity::find_by_id(failed.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, status::FAILED);
        assert!(row.error.unwrap().contains("credits were returned"));
        assert!(row.error_detail.is_some(), "operators see the cause");

        // The provider refuses: refused, released, flagged for review.
        let refused = gens
            .submit(alice_id, true, remote("key-refuse-01", "nsfw thing"))
            .await
            .unwrap();
        drain(&gens, Duration::from_secs(30)).await;
        let row = generation::Entity::find_by_id(refused.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, status::REFUSED);
        assert_eq!(
            moderation_flag::Entity::find()
                .filter(moderation_flag::Column::Source.eq("backend"))
                .count(&app.db)
                .await
                .unwrap(),
            1
        );

        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!(
            (b.available, b.held),
            (48, 0),
            "only the success was charged (2 credits)"
        );
        assert!(credits::audit(&app.db, alice_id).await.unwrap());
    }
);

/// Settings for `uni1 worker` child processes sharing this test's database,
/// object store and key, with the "remote" model at `base`.
struct WorkerEnv {
    dir: std::path::PathBuf,
    key: String,
}

impl WorkerEnv {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("uni1-worker-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("objects")).unwrap();
        Self {
            dir,
            key: uni1_domain::support::crypto::AppKey::generate_base64(),
        }
    }

    fn configure(&self, args: &mut uni1_server::config::ServeArgs) {
        args.database.app_key = Some(self.key.clone());
        args.generation.storage = Some(uni1_server::config::StorageKind::Local);
        args.generation.storage_dir = Some(self.dir.join("objects"));
    }

    fn spawn(&self, app: &TestApp, base: &url::Url) -> std::process::Child {
        self.spawn_with(app, base, &[])
    }

    /// [`Self::spawn`] with more environment variables.
    fn spawn_with(
        &self,
        app: &TestApp,
        base: &url::Url,
        extra: &[(&str, &str)],
    ) -> std::process::Child {
        let config = self.dir.join("uni1.toml");
        std::fs::write(
            &config,
            format!(
                "[[models]]\nid = \"remote\"\nname = \"Remote\"\nbackend = \"openai\"\nbase_url = \"{base}\"\napi_key = \"test-key\"\nmodel = \"test\"\ncredits_per_image = 2\ntimeout_seconds = 10\n"
            ),
        )
        .unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_uni1"))
            .arg("--config")
            .arg(&config)
            .arg("worker")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &app.database_url)
            .env("UNI1_DATA_DIR", &self.dir)
            .env("UNI1_APP_KEY", &self.key)
            .env("UNI1_STORAGE", "local")
            .env("UNI1_STORAGE_DIR", self.dir.join("objects"))
            .env("UNI1_JOB_LEASE_SECONDS", "2")
            .env("UNI1_WORKER_SLOTS", "2")
            .env("RUST_LOG", "warn")
            .envs(extra.iter().copied())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("uni1 worker starts")
    }
}

impl Drop for WorkerEnv {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// PostgreSQL only: worker processes share a real server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_processes_share_the_queue_and_survive_sigkill() {
    let owned_env = WorkerEnv::new();
    let env = &owned_env;
    crate::support::run_configured(
        crate::support::Backend::Postgres,
        crate::support::ORIGIN,
        |args| env.configure(args),
        |app: TestApp| async move {
            let (_alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.16").await;
            let (server, base) = model_server().await;
            let mut gens = app.gens.clone();
            gens.catalog = openai_catalog(&base);
            gens.queue.max_pending_per_user = 100;
            let remote = |key: String| SubmitInput {
                model_id: "remote".into(),
                ..input(&key, "shared", 1)
            };

            // A worker process takes a slow job and is killed mid-job.
            server.inject(uni1_model_server::Fault::Latency(Duration::from_secs(4)), 1);
            let slow = gens
                .submit(alice_id, true, remote("key-sigkill-01".into()))
                .await
                .unwrap();
            let mut victim = env.spawn(&app, &base);
            wait_for(
                "the worker process to start the job",
                Duration::from_secs(30),
                || async { server.submissions() == 1 },
            )
            .await;
            let row = generation::Entity::find_by_id(slow.id)
                .one(&app.db)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.status, status::RUNNING);
            victim.kill().expect("SIGKILL");
            victim.wait().ok();

            // Another worker finishes it once the lease runs out; charged once.
            drain(&gens, Duration::from_secs(30)).await;
            let row = generation::Entity::find_by_id(slow.id)
                .one(&app.db)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.status, status::SUCCEEDED, "{:?}", row.error_detail);
            assert_eq!(row.attempts, 2);
            let kinds: Vec<String> = settled_entries(&app, slow.id)
                .await
                .into_iter()
                .map(|e| e.kind)
                .collect();
            assert_eq!(kinds, vec!["reserve".to_string(), "capture".to_string()]);

            // Two worker processes and twenty jobs: each job runs exactly once.
            let before = server.submissions();
            let mut ids = Vec::new();
            for i in 0..20 {
                ids.push(
                    gens.submit(alice_id, true, remote(format!("key-shared-{i:03}")))
                        .await
                        .unwrap()
                        .id,
                );
            }
            let mut a = env.spawn(&app, &base);
            let mut b = env.spawn(&app, &base);
            wait_for(
                "twenty jobs to finish",
                Duration::from_secs(120),
                || async {
                    generation::Entity::find()
                        .filter(generation::Column::Id.is_in(ids.clone()))
                        .filter(generation::Column::Status.eq(status::SUCCEEDED))
                        .count(&app.db)
                        .await
                        .unwrap()
                        == 20
                },
            )
            .await;
            a.kill().ok();
            b.kill().ok();
            a.wait().ok();
            b.wait().ok();
            assert_eq!(server.submissions() - before, 20, "no job ran twice");
            let owners: std::collections::HashSet<String> = generation::Entity::find()
                .filter(generation::Column::Id.is_in(ids.clone()))
                .all(&app.db)
                .await
                .unwrap()
                .into_iter()
                .map(|g| {
                    assert_eq!(g.attempts, 1);
                    g.error_detail.unwrap_or_default()
                })
                .collect();
            assert!(owners.len() <= 1, "no job was retried: {owners:?}");
            let b = credits::balance(&app.db, alice_id).await.unwrap();
            assert_eq!((b.available, b.held), (50 - 2 * 21, 0));
            assert!(credits::audit(&app.db, alice_id).await.unwrap());
        },
    )
    .await;
}

/// The "remote" model at `base` with a long timeout, for jobs slowed down
/// by the model server's latency fault.
fn slow_catalog(base: &url::Url) -> Catalog {
    Catalog::new(vec![ModelEntry {
        id: "remote".into(),
        name: "Remote".into(),
        description: String::new(),
        credits_per_image: 2,
        model: Arc::new(uni1_models::openai::OpenAiImages {
            capabilities: uni1_models::builtin::Builtin::new().capabilities,
            base_url: base.clone(),
            api_key: "test-key".into(),
            model: "test".into(),
            http: uni1_models::Outbound::for_model(base, &[], Duration::from_secs(60)).unwrap(),
        }),
    }])
}

async fn job_row(app: &TestApp, id: uuid::Uuid) -> generation::Model {
    generation::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

async fn ledger_kinds(app: &TestApp, id: uuid::Uuid) -> Vec<String> {
    settled_entries(app, id)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

on_both_backends!(
    a_stopping_worker_claims_nothing_more_and_finishes_or_hands_back_each_job_once,
    |app: TestApp| async move {
        use uni1_domain::generation::worker;
        let (_alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.34").await;
        let (server, base) = model_server().await;
        let mut gens = app.gens.clone();
        gens.catalog = slow_catalog(&base);
        let remote = |key: &str| SubmitInput {
            model_id: "remote".into(),
            ..input(key, "stop", 1)
        };

        // Within the grace period: the running job finishes and is charged
        // once; the job queued behind it is not claimed after the stop.
        server.inject(
            uni1_model_server::Fault::Latency(Duration::from_millis(1500)),
            1,
        );
        let first = gens
            .submit(alice_id, true, remote("key-stop-0001"))
            .await
            .unwrap();
        let second = gens
            .submit(alice_id, true, remote("key-stop-0002"))
            .await
            .unwrap();
        gens.queue.shutdown_grace = Duration::from_secs(20);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(worker::run(
            gens.clone(),
            "stopping-1".into(),
            1,
            async move {
                stopped.await.ok();
            },
        ));
        wait_for(
            "the first job to start",
            Duration::from_secs(10),
            || async { server.submissions() == 1 },
        )
        .await;
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(15), running)
            .await
            .expect("the worker returns once its job is done")
            .unwrap();
        let row = job_row(&app, first.id).await;
        assert_eq!(row.status, status::SUCCEEDED, "{:?}", row.error_detail);
        assert_eq!(row.attempts, 1);
        assert_eq!(ledger_kinds(&app, first.id).await, ["reserve", "capture"]);
        let row = job_row(&app, second.id).await;
        assert_eq!(row.status, status::QUEUED, "nothing claimed after the stop");
        assert_eq!(server.submissions(), 1);

        // Past the grace period: the job is handed back at once (lease
        // released, attempt not counted, credits still held), and the next
        // worker finishes it: captured once.
        server.inject(
            uni1_model_server::Fault::Latency(Duration::from_secs(30)),
            1,
        );
        gens.queue.shutdown_grace = Duration::from_millis(300);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(worker::run(
            gens.clone(),
            "stopping-2".into(),
            1,
            async move {
                stopped.await.ok();
            },
        ));
        wait_for(
            "the second job to start",
            Duration::from_secs(10),
            || async { server.submissions() == 2 },
        )
        .await;
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("the worker returns soon after the grace period, not after the job")
            .unwrap();
        let row = job_row(&app, second.id).await;
        assert_eq!(row.status, status::QUEUED, "{:?}", row.error_detail);
        assert_eq!(
            row.lease_owner, None,
            "the lease is released, not left to expire"
        );
        assert_eq!(row.attempts, 0, "a hand-back is not a failed attempt");
        assert_eq!(ledger_kinds(&app, second.id).await, ["reserve"]);
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (46, 2));

        drain(&gens, Duration::from_secs(30)).await;
        let row = job_row(&app, second.id).await;
        assert_eq!(row.status, status::SUCCEEDED, "{:?}", row.error_detail);
        assert_eq!(row.attempts, 1);
        assert_eq!(ledger_kinds(&app, second.id).await, ["reserve", "capture"]);
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (46, 0));
        assert!(credits::audit(&app.db, alice_id).await.unwrap());
    }
);

/// Sends SIGTERM to `child`.
fn terminate(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits up to `limit` for `child` to exit; its status.
async fn exited(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker process did not exit within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// PostgreSQL only (as the other worker process tests): a real `uni1
/// worker` stopped by SIGTERM while a job runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_stopped_by_sigterm_finishes_or_hands_back_its_job_exactly_once() {
    let owned_env = WorkerEnv::new();
    let env = &owned_env;
    crate::support::run_configured(
        crate::support::Backend::Postgres,
        crate::support::ORIGIN,
        |args| env.configure(args),
        |app: TestApp| async move {
            let (_alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.38").await;
            let (server, base) = model_server().await;
            let mut gens = app.gens.clone();
            gens.catalog = openai_catalog(&base);
            let remote = |key: &str| SubmitInput {
                model_id: "remote".into(),
                ..input(key, "sigterm", 1)
            };

            // SIGTERM with a 20 s grace period: the job finishes, then the
            // process exits cleanly.
            server.inject(uni1_model_server::Fault::Latency(Duration::from_secs(2)), 1);
            let first = gens
                .submit(alice_id, true, remote("key-term-0001"))
                .await
                .unwrap();
            let mut child = env.spawn_with(&app, &base, &[("UNI1_SHUTDOWN_GRACE_SECONDS", "20")]);
            wait_for(
                "the worker process to start the job",
                Duration::from_secs(30),
                || async { server.submissions() == 1 },
            )
            .await;
            terminate(&child);
            let status = exited(&mut child, Duration::from_secs(20)).await;
            assert!(status.success(), "{status:?}");
            let row = job_row(&app, first.id).await;
            assert_eq!(row.status, status::SUCCEEDED, "{:?}", row.error_detail);
            assert_eq!(row.attempts, 1);
            assert_eq!(ledger_kinds(&app, first.id).await, ["reserve", "capture"]);

            // SIGTERM with a 1 s grace period and a job that needs 8 s: the
            // process hands it back and exits; another worker finishes it at
            // once (no lease to wait for), charged once.
            server.inject(uni1_model_server::Fault::Latency(Duration::from_secs(8)), 1);
            let second = gens
                .submit(alice_id, true, remote("key-term-0002"))
                .await
                .unwrap();
            let mut child = env.spawn_with(&app, &base, &[("UNI1_SHUTDOWN_GRACE_SECONDS", "1")]);
            wait_for(
                "the worker process to start the job",
                Duration::from_secs(30),
                || async { server.submissions() == 2 },
            )
            .await;
            terminate(&child);
            let status = exited(&mut child, Duration::from_secs(6)).await;
            assert!(status.success(), "{status:?}");
            let row = job_row(&app, second.id).await;
            assert_eq!(row.status, status::QUEUED, "{:?}", row.error_detail);
            assert_eq!(row.lease_owner, None);
            assert_eq!(row.attempts, 0);
            assert_eq!(ledger_kinds(&app, second.id).await, ["reserve"]);
            drain(&gens, Duration::from_secs(30)).await;
            let row = job_row(&app, second.id).await;
            assert_eq!(row.status, status::SUCCEEDED, "{:?}", row.error_detail);
            assert_eq!(row.attempts, 1);
            assert_eq!(ledger_kinds(&app, second.id).await, ["reserve", "capture"]);
            let b = credits::balance(&app.db, alice_id).await.unwrap();
            assert_eq!((b.available, b.held), (46, 0));
            assert!(credits::audit(&app.db, alice_id).await.unwrap());
        },
    )
    .await;
}

on_both_backends!(
    expired_images_are_purged_and_the_record_stays,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.17").await;
        let v = app
            .gens
            .submit(alice_id, true, input("key-expire-01", "old", 1))
            .await
            .unwrap();
        drain(&app.gens, Duration::from_secs(20)).await;
        let img = image::Entity::find()
            .filter(image::Column::GenerationId.eq(v.id))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((img.expires_at - img.created_at).num_days(), 90);
        let sweep = uni1_domain::generation::retention::sweep_expired;
        // A day before the end: nothing happens.
        assert_eq!(
            sweep(&app.gens, img.expires_at - chrono::Duration::days(1), 10)
                .await
                .unwrap(),
            0
        );
        assert!(app.gens.blobs.exists(&img.original_path).await.unwrap());
        // At the end: the three objects are gone, the record says when.
        let end = img.expires_at + chrono::Duration::seconds(1);
        assert_eq!(sweep(&app.gens, end, 10).await.unwrap(), 1);
        for path in [&img.original_path, &img.preview_path, &img.thumb_path] {
            assert!(
                !app.gens.blobs.exists(path).await.unwrap(),
                "{path} deleted"
            );
        }
        let row = image::Entity::find_by_id(img.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.purged_at, Some(end));
        let gen_row = generation::Entity::find_by_id(v.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(gen_row.prompt, "old");
        // The media route says "not found", never a broken image.
        let r = app
            .get_as(&format!("/media/{}/original", img.id), &alice)
            .await;
        assert_eq!(r.status, 404);
        assert_eq!(sweep(&app.gens, end, 10).await.unwrap(), 0, "swept once");
    }
);

on_both_backends!(
    reference_uploads_live_only_as_long_as_their_job,
    |app: TestApp| async move {
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.18").await;
        let upload = |body: Vec<u8>, cookie: Option<String>| {
            let mut req = http::Request::post("/api/uploads/reference")
                .header("content-type", "application/octet-stream")
                .header("origin", crate::support::ORIGIN);
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            req.body(axum::body::Body::from(body)).unwrap()
        };
        let png = uni1_imaging::render_builtin_png("reference", 1, 300, 200, None);

        let r = app.send(upload(png.clone(), None)).await;
        assert_eq!(r.status, 401, "signed out");
        let r = app
            .send(upload(b"not an image".to_vec(), alice.cookie.clone()))
            .await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("not a PNG, JPEG or WebP"), "{}", r.body);

        let r = app.send(upload(png, alice.cookie.clone())).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let up = r.json();
        assert_eq!(
            (up["width"].as_i64(), up["height"].as_i64()),
            (Some(300), Some(200))
        );
        let upload_id = uuid::Uuid::parse_str(up["id"].as_str().unwrap()).unwrap();
        let row = uni1_domain::entities::upload::Entity::find_by_id(upload_id)
            .one(&app.db)
            .await
            .unwrap()
            .expect("the upload is recorded");
        assert!(app.gens.blobs.exists(&row.path).await.unwrap());

        let job = app
            .gens
            .submit(
                alice_id,
                true,
                SubmitInput {
                    reference_upload: Some(upload_id),
                    reference_strength: Some(0.7),
                    ..input("key-reference-1", "like this", 1)
                },
            )
            .await
            .unwrap();
        drain(&app.gens, Duration::from_secs(20)).await;
        let done = generation::Entity::find_by_id(job.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.status, status::SUCCEEDED);
        assert_eq!(done.reference_path, None);
        // Gone from storage and from the database once the job ended (GEN-3).
        assert!(!app.gens.blobs.exists(&row.path).await.unwrap());
        assert!(uni1_domain::entities::upload::Entity::find_by_id(upload_id)
            .one(&app.db)
            .await
            .unwrap()
            .is_none());
        // Someone else's (or a used) upload id cannot be referenced.
        let err = app
            .gens
            .submit(
                alice_id,
                true,
                SubmitInput {
                    reference_upload: Some(upload_id),
                    ..input("key-reference-2", "again", 1)
                },
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("expired"));
    }
);

on_both_backends!(
    a_first_page_load_racing_a_submit_never_loses_the_grant,
    |app: TestApp| async move {
        // The studio's first page load grants the sign-up credits while the
        // browser may already submit: the submit must see the grant.
        let mut users = Vec::new();
        for i in 0..6u8 {
            let (_, id) = member(
                &app,
                &format!("race{i}@uni1.test"),
                &format!("203.0.113.{}", 200 + i),
            )
            .await;
            users.push(id);
        }
        let (mut grants, mut submits) = (Vec::new(), Vec::new());
        for (i, user) in users.into_iter().enumerate() {
            let (db, policy, gens) = (app.db.clone(), app.gens.credits, app.gens.clone());
            grants.push(tokio::spawn(async move {
                uni1_domain::billing::credits::ensure_account(&db, user, &policy).await
            }));
            submits.push(tokio::spawn(async move {
                gens.submit(user, true, input(&format!("key-race-{i:04}"), "race", 4))
                    .await
            }));
        }
        for g in grants {
            g.await.unwrap().unwrap();
        }
        for s in submits {
            s.await
                .unwrap()
                .expect("the grant is visible to the submit");
        }
        drain(&app.gens, Duration::from_secs(30)).await;
    }
);

async fn open_events(app: &TestApp, visitor: &Visitor) -> axum::response::Response {
    open_as(
        app,
        http::Request::get("/api/generations/events"),
        axum::body::Body::empty(),
        visitor,
    )
    .await
}

async fn body_text(r: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

on_both_backends!(
    progress_streams_are_capped_and_need_a_confirmed_address,
    |app: TestApp| async move {
        use futures::StreamExt as _;
        use uni1_domain::generation::progress::MAX_STREAMS_PER_PERSON;
        let (alice, _) = member(&app, "alice@uni1.test", "203.0.113.30").await;
        let (bob, _) = member(&app, "bob@uni1.test", "203.0.113.31").await;

        // Up to the cap, streams open; the first event comes at once.
        let mut open = Vec::new();
        for _ in 0..MAX_STREAMS_PER_PERSON {
            let r = open_events(&app, &alice).await;
            assert_eq!(r.status(), 200);
            open.push(r);
        }
        let mut first = open.remove(0).into_body().into_data_stream();
        let event = tokio::time::timeout(Duration::from_secs(10), first.next())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        let event = String::from_utf8_lossy(&event).into_owned();
        assert!(event.starts_with("event: jobs"), "{event}");
        assert!(event.contains("\nid: "), "an id to resume from: {event}");
        // One more is refused, with words; someone else is not affected.
        let r = open_events(&app, &alice).await;
        assert_eq!(r.status(), 429);
        assert!(
            body_text(r).await.contains("3 open windows"),
            "the refusal says why"
        );
        let bobs = open_events(&app, &bob).await;
        assert_eq!(bobs.status(), 200);
        // The hub reads for two people: Alice (three streams) and Bob.
        assert_eq!(app.gens.progress.pollers(), 2);
        assert_eq!(app.gens.progress.streams(), MAX_STREAMS_PER_PERSON + 1);

        // Closing one frees its slot at once.
        drop(open.pop());
        let r = open_events(&app, &alice).await;
        assert_eq!(r.status(), 200);
        drop(r);
        drop(open);
        drop(first);
        drop(bobs);
        assert_eq!(app.gens.progress.streams(), 0);
        assert_eq!(
            app.gens.progress.pollers(),
            0,
            "the last stream forgets the person"
        );

        // Unconfirmed addresses cannot follow (and open nothing).
        user::Entity::update_many()
            .col_expr(
                user::Column::EmailConfirmedAt,
                sea_orm::sea_query::Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .filter(user::Column::EmailKey.eq("bob@uni1.test"))
            .exec(&app.db)
            .await
            .unwrap();
        let r = open_events(&app, &bob).await;
        assert_eq!(r.status(), 403);
        assert!(body_text(r).await.contains("Confirm your e-mail address"));
        assert_eq!(app.gens.progress.streams(), 0);
    }
);

on_both_backends!(
    streams_of_one_person_share_one_poll,
    |app: TestApp| async move {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use uni1_domain::generation::progress::{ProgressHub, ProgressPolicy};
        let (_, alice_id) = member(&app, "alice@uni1.test", "203.0.113.32").await;
        // Count the statements of a service whose connection only the
        // poller uses.
        let statements = Arc::new(AtomicUsize::new(0));
        let mut db = app.db.clone();
        let counter = statements.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let mut gens = app.gens.clone();
        gens.db = db;
        gens.progress = ProgressHub::new(ProgressPolicy {
            busy: Duration::from_millis(10),
            idle: Duration::from_millis(40),
            ..Default::default()
        });
        let hub = gens.progress.clone();
        let mut a = hub.open(&gens, alice_id).unwrap();
        let mut b = hub.open(&gens, alice_id).unwrap();
        assert_eq!(hub.pollers(), 1);
        // Both streams read the results of the same polls.
        let mut last = 0;
        while last < 5 {
            let pa = a.next().await.unwrap();
            let pb = b.next().await.unwrap();
            assert!(pb.poll >= pa.poll);
            if pa.poll == pb.poll {
                assert!(Arc::ptr_eq(&pa, &pb), "one result, shared");
            }
            last = pb.poll;
        }
        drop((a, b));
        assert_eq!(hub.pollers(), 0);
        // Nothing is pending, so a poll is two statements (jobs, balance):
        // one poll per tick for both streams together, none per stream;
        // plus the stamp that a browser is watching (MAIL-1), once per
        // `notices::STAMP_EVERY` (10 s), so once here.
        let polls = usize::try_from(hub.polls()).unwrap();
        let n = statements.load(Ordering::SeqCst);
        assert!(polls >= 5);
        assert!(
            2 * (polls - 1) < n && n <= 2 * polls + 1,
            "{n} statements for {polls} polls"
        );

        // When idle for long, a submit in this process wakes the poller.
        gens.progress = ProgressHub::new(ProgressPolicy {
            busy: Duration::from_secs(3600),
            idle: Duration::from_secs(3600),
            ..Default::default()
        });
        let mut s = gens.progress.open(&gens, alice_id).unwrap();
        assert!(s.next().await.unwrap().jobs.is_empty());
        gens.submit(alice_id, true, input("key-wake-0001", "wake up", 1))
            .await
            .unwrap();
        let p = tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .expect("woken by the submit, not the hour-long pause")
            .unwrap();
        assert_eq!(p.jobs.len(), 1);
        assert_eq!(p.jobs[0].status, status::QUEUED);
    }
);

on_both_backends!(
    one_hub_read_per_tick_serves_every_person_and_each_stream_sees_only_its_owner,
    |app: TestApp| async move {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use uni1_domain::generation::progress::{ProgressHub, ProgressPolicy, StreamRefused};
        let (_, alice_id) = member(&app, "alice@uni1.test", "203.0.113.35").await;
        let (_, bob_id) = member(&app, "bob@uni1.test", "203.0.113.36").await;
        let (_, carol_id) = member(&app, "carol@uni1.test", "203.0.113.37").await;
        let alices = app
            .gens
            .submit(alice_id, true, input("key-hub-0001", "alice's", 1))
            .await
            .unwrap();
        let bobs = app
            .gens
            .submit(bob_id, true, input("key-hub-0002", "bob's", 1))
            .await
            .unwrap();
        let statements = Arc::new(AtomicUsize::new(0));
        let mut db = app.db.clone();
        let counter = statements.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let mut gens = app.gens.clone();
        gens.db = db;
        gens.progress = ProgressHub::new(ProgressPolicy {
            busy: Duration::from_millis(20),
            idle: Duration::from_millis(20),
            ..Default::default()
        });
        let hub = gens.progress.clone();
        let mut a1 = hub.open(&gens, alice_id).unwrap();
        let mut a2 = hub.open(&gens, alice_id).unwrap();
        let mut b = hub.open(&gens, bob_id).unwrap();
        let mut c = hub.open(&gens, carol_id).unwrap();
        assert_eq!((hub.pollers(), hub.streams()), (3, 4));
        let ids = |p: &uni1_domain::generation::progress::Progress| -> Vec<uuid::Uuid> {
            p.jobs.iter().map(|j| j.id).collect()
        };
        let mut last = 0;
        while last < 5 {
            let (pa1, pa2, pb, pc) = (
                a1.next().await.unwrap(),
                a2.next().await.unwrap(),
                b.next().await.unwrap(),
                c.next().await.unwrap(),
            );
            // Each stream sees its owner's jobs and balance, never another's.
            assert_eq!(ids(&pa1), [alices.id]);
            assert_eq!(ids(&pa2), [alices.id]);
            assert_eq!(ids(&pb), [bobs.id]);
            assert!(pc.jobs.is_empty());
            assert_eq!((pa1.available, pa1.held), (49, 1));
            let carols = credits::balance(&app.db, carol_id).await.unwrap();
            assert_eq!((pc.available, pc.held), (carols.available, carols.held));
            assert_eq!(pa1.jobs[0].queue_position, Some(1));
            assert_eq!(pb.jobs[0].queue_position, Some(2));
            last = pc.poll;
        }
        // One read per tick for the three people together: the jobs, their
        // images, the queue positions and the balances (4 statements),
        // whatever the number of people; plus the watched stamp (one per
        // person opening at most, then one per 10 s for everyone).
        let ticks = usize::try_from(hub.polls()).unwrap();
        let n = statements.load(Ordering::SeqCst);
        assert!(ticks >= 5);
        assert!(
            4 * (ticks - 1) < n && n <= 4 * ticks + 3,
            "{n} statements for {ticks} ticks"
        );

        // Shutdown: every stream ends, marked as such; no new stream opens.
        hub.close();
        assert!(a1.next().await.is_none());
        assert!(a1.closed_by_shutdown());
        assert!(c.next().await.is_none());
        assert_eq!(
            hub.open(&gens, alice_id).unwrap_err(),
            StreamRefused::ShuttingDown
        );
    }
);

on_both_backends!(
    progress_streams_end_with_a_retry_hint_at_shutdown,
    |app: TestApp| async move {
        use futures::StreamExt as _;
        let (alice, _) = member(&app, "alice@uni1.test", "203.0.113.39").await;
        let r = open_events(&app, &alice).await;
        assert_eq!(r.status(), 200);
        let mut body = r.into_body().into_data_stream();
        let first = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&first).starts_with("event: jobs"));
        app.gens.progress.close();
        let mut rest = String::new();
        while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("the stream ends at shutdown, not after its lifetime")
        {
            rest.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
        assert!(
            rest.contains("retry: 1000"),
            "a reconnection hint: {rest:?}"
        );
        // A stream opened during the shutdown is refused with a short wait.
        let r = open_events(&app, &alice).await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "1");
    }
);

on_both_backends!(
    the_pending_cap_holds_under_concurrent_submits,
    |app: TestApp| async move {
        let (_alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.33").await;
        let mut gens = app.gens.clone();
        gens.queue.max_pending_per_user = 5;
        let gens = Arc::new(gens);
        let mut tasks = Vec::new();
        for i in 0..40 {
            let gens = gens.clone();
            tasks.push(tokio::spawn(async move {
                gens.submit(alice_id, true, input(&format!("key-cap-{i:04}"), "cap", 1))
                    .await
            }));
        }
        let (mut accepted, mut capped) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => accepted += 1,
                Err(uni1_domain::generation::SubmitError::TooManyPending { limit: 5 }) => {
                    capped += 1
                }
                Err(e) => panic!("unexpected: {e:?}"),
            }
        }
        assert_eq!((accepted, capped), (5, 35));
        let pending = generation::Entity::find()
            .filter(generation::Column::UserId.eq(alice_id))
            .filter(generation::Column::Status.is_in([status::QUEUED, status::RUNNING]))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(pending, 5);
        let b = credits::balance(&app.db, alice_id).await.unwrap();
        assert_eq!((b.available, b.held), (45, 5));
    }
);

/// Refused prompts are stored with a moderation flag and skip the pending
/// cap, so they have their own hourly budget.
mod refused_prompts_have_an_hourly_budget {
    use super::*;
    use crate::support::{run_configured, Backend, ORIGIN};

    async fn test(app: TestApp) {
        use uni1_domain::generation::service::MAX_REFUSED_PER_HOUR;
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.34").await;
        let send = |i: u64| {
            let key = format!("key-refused-{i:04}");
            let app = app.clone();
            let alice = alice.clone();
            async move {
                app.post_as(
                    "/api/generate",
                    &[
                        ("form_key", key.as_str()),
                        ("model", "builtin"),
                        ("prompt", "something forbidden"),
                        ("aspect_ratio", "1:1"),
                        ("count", "1"),
                    ],
                    &alice,
                )
                .await
            }
        };
        for i in 0..MAX_REFUSED_PER_HOUR {
            let r = send(i).await;
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.json()["status"], "refused");
        }
        let r = send(MAX_REFUSED_PER_HOUR).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("refused in the last hour"), "{}", r.body);
        let rows = generation::Entity::find()
            .filter(generation::Column::UserId.eq(alice_id))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(rows, MAX_REFUSED_PER_HOUR);
        assert_eq!(
            moderation_flag::Entity::find()
                .count(&app.db)
                .await
                .unwrap(),
            MAX_REFUSED_PER_HOUR
        );
        // Acceptable prompts are not affected.
        let r = app
            .post_as(
                "/api/generate",
                &[
                    ("form_key", "key-fine-0001"),
                    ("model", "builtin"),
                    ("prompt", "a calm lake"),
                    ("aspect_ratio", "1:1"),
                    ("count", "1"),
                ],
                &alice,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["status"], "queued");
    }

    fn blocked(args: &mut uni1_server::config::ServeArgs) {
        args.generation.blocked_terms = Some("forbidden".into());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run_configured(Backend::Sqlite, ORIGIN, blocked, test).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run_configured(Backend::Postgres, ORIGIN, blocked, test).await;
    }
}

on_both_backends!(
    reference_uploads_have_a_quota_and_a_rate_limit,
    |app: TestApp| async move {
        use uni1_domain::generation::service::MAX_LIVE_UPLOADS;
        use uni1_domain::support::rate_limit::UPLOADS_PER_HOUR;
        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.35").await;
        let (bob, _) = member(&app, "bob@uni1.test", "203.0.113.36").await;
        let png = uni1_imaging::render_builtin_png("reference", 1, 16, 16, None);
        let upload = |who: &Visitor| {
            let (app, who, png) = (app.clone(), who.clone(), png.clone());
            async move {
                let r = open_as(
                    &app,
                    http::Request::post("/api/uploads/reference")
                        .header("content-type", "application/octet-stream"),
                    axum::body::Body::from(png),
                    &who,
                )
                .await;
                let status = r.status();
                let retry = r.headers().get("retry-after").cloned();
                (status, body_text(r).await, retry)
            }
        };
        for _ in 0..MAX_LIVE_UPLOADS {
            let (status, body, _) = upload(&alice).await;
            assert_eq!(status, 200, "{body}");
        }
        // The quota: unexpired uploads waiting to be used.
        let (status, body, _) = upload(&alice).await;
        assert_eq!(status, 429);
        assert!(body.contains("20 reference images waiting"), "{body}");
        assert_eq!(upload(&bob).await.0, 200, "per person");
        // Once they expire, more are accepted, up to the hourly rate.
        uni1_domain::entities::upload::Entity::update_many()
            .col_expr(
                uni1_domain::entities::upload::Column::ExpiresAt,
                sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)),
            )
            .filter(uni1_domain::entities::upload::Column::UserId.eq(alice_id))
            .exec(&app.db)
            .await
            .unwrap();
        let sent = u32::try_from(MAX_LIVE_UPLOADS).unwrap() + 1;
        for _ in sent..UPLOADS_PER_HOUR {
            let (status, body, _) = upload(&alice).await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, body, retry) = upload(&alice).await;
        assert_eq!(status, 429);
        assert!(body.contains("Too many uploads. Try again in"), "{body}");
        assert!(retry.is_some());
    }
);

on_both_backends!(
    downloads_of_originals_are_rate_limited_per_person,
    |app: TestApp| async move {
        use uni1_domain::support::rate_limit::ORIGINALS_PER_10_MINUTES;
        let (alice, _) = member(&app, "alice@uni1.test", "203.0.113.37").await;
        let (bob, _) = member(&app, "bob@uni1.test", "203.0.113.38").await;
        let path = format!("/media/{}/original", uuid::Uuid::now_v7());
        for _ in 0..ORIGINALS_PER_10_MINUTES {
            assert_eq!(app.get_as(&path, &alice).await.status, 404);
        }
        let r = app.get_as(&path, &alice).await;
        assert_eq!(r.status, 429);
        assert!(r.body.contains("Too many downloads"), "{}", r.body);
        assert!(r.header("retry-after").is_some());
        // Thumbnails and previews (the gallery) are not limited; nor is Bob.
        let thumb = path.replace("original", "thumb");
        assert_eq!(app.get_as(&thumb, &alice).await.status, 404);
        assert_eq!(app.get_as(&path, &bob).await.status, 404);
    }
);

/// Makes `row` look like an image stored before lossy previews: files
/// named without a version (their bytes do not matter to the rebuild).
/// Returns the old preview and thumbnail paths.
async fn first_encoding(app: &TestApp, row: &image::Model) -> (String, String) {
    use sea_orm::{ActiveModelTrait as _, Set};
    let blobs = &app.gens.blobs;
    let base = row.original_path.trim_end_matches("/original.png");
    let (p, t) = (format!("{base}/preview.webp"), format!("{base}/thumb.webp"));
    blobs.put(&p, b"RIFF old lossless preview").await.unwrap();
    blobs.put(&t, b"RIFF old lossless thumb").await.unwrap();
    blobs.delete(&row.preview_path).await.unwrap();
    blobs.delete(&row.thumb_path).await.unwrap();
    let mut active: image::ActiveModel = row.clone().into();
    active.preview_path = Set(p.clone());
    active.thumb_path = Set(t.clone());
    active.update(&app.db).await.unwrap();
    (p, t)
}

on_both_backends!(
    rebuild_variants_moves_old_previews_to_the_current_encoding_and_resumes,
    |app: TestApp| async move {
        use uni1_domain::generation::variants::{is_current, rebuild_display_variants};

        let (alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.10").await;
        let rows =
            crate::fixtures::images(&app, alice_id, "key-rebuild-01", "a harbour at dawn", 3).await;
        let blobs = &app.gens.blobs;
        // New images are stored with the current encoding already.
        for row in &rows {
            assert!(is_current(&row.preview_path), "{}", row.preview_path);
            assert!(is_current(&row.thumb_path), "{}", row.thumb_path);
        }
        // Turn them into images of the first encoding.
        let mut old = Vec::new();
        for row in &rows {
            old.push(first_encoding(&app, row).await);
        }
        let url = format!("/media/{}/preview", rows[0].id);
        let before = app.get_as(&url, &alice).await;
        assert_eq!(before.bytes, b"RIFF old lossless preview");
        let old_etag = before.header("etag").unwrap().to_owned();
        // The second image's original is lost: it is reported and left alone.
        blobs.delete(&rows[1].original_path).await.unwrap();

        let mut batches = 0;
        let report = rebuild_display_variants(&app.db, blobs, 1, |_| batches += 1)
            .await
            .unwrap();
        assert_eq!((report.rebuilt, report.failed, report.gone), (2, 1, 0));
        assert_eq!(batches, 3, "one image per batch");

        for (i, row) in rows.iter().enumerate() {
            let now = image::Entity::find_by_id(row.id)
                .one(&app.db)
                .await
                .unwrap()
                .unwrap();
            let (p, t) = &old[i];
            if i == 1 {
                assert_eq!(
                    (&now.preview_path, &now.thumb_path),
                    (p, t),
                    "left as it was"
                );
                assert!(blobs.exists(p).await.unwrap());
                continue;
            }
            assert!(is_current(&now.preview_path) && is_current(&now.thumb_path));
            assert!(!blobs.exists(p).await.unwrap(), "old preview removed");
            assert!(!blobs.exists(t).await.unwrap(), "old thumbnail removed");
            let preview = blobs.get(&now.preview_path).await.unwrap();
            assert_eq!(&preview[8..16], b"WEBPVP8 ", "lossy WebP");
            assert!(preview.len() <= uni1_imaging::PREVIEW_BUDGET);
            let thumb = blobs.get(&now.thumb_path).await.unwrap();
            assert!(thumb.len() <= uni1_imaging::THUMB_BUDGET);
            let original = blobs.get(&now.original_path).await.unwrap();
            assert_eq!(
                now.bytes as usize,
                original.len() + preview.len() + thumb.len(),
                "storage accounting follows the new files"
            );
        }
        // Browsers see new bytes under a new tag.
        let after = app.get_as(&url, &alice).await;
        assert_eq!(after.status, 200);
        assert_ne!(after.header("etag").unwrap(), old_etag);
        assert_eq!(&after.bytes[8..16], b"WEBPVP8 ");

        // Run again: nothing left but the unreadable one.
        let again = rebuild_display_variants(&app.db, blobs, 50, |_| {})
            .await
            .unwrap();
        assert_eq!((again.rebuilt, again.failed), (0, 1));
    }
);

/// `uni1 admin rebuild-variants` reads the storage settings `uni1 serve`
/// takes, and refuses an incomplete one by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rebuild_variants_command_takes_the_storage_settings_of_serve() {
    let owned_env = WorkerEnv::new();
    let env = &owned_env;
    crate::support::run_configured(
        crate::support::Backend::Sqlite,
        crate::support::ORIGIN,
        |args| env.configure(args),
        |app: TestApp| async move {
            let (_alice, alice_id) = member(&app, "alice@uni1.test", "203.0.113.17").await;
            let rows =
                crate::fixtures::images(&app, alice_id, "key-cli-rebuild", "a quiet bay", 1).await;
            first_encoding(&app, &rows[0]).await;
            let command = |storage: &str| {
                std::process::Command::new(env!("CARGO_BIN_EXE_uni1"))
                    .args(["admin", "rebuild-variants", "--batch", "5"])
                    .env_clear()
                    .env("PATH", std::env::var("PATH").unwrap_or_default())
                    .env("DATABASE_URL", &app.database_url)
                    .env("UNI1_DATA_DIR", &env.dir)
                    .env("UNI1_APP_KEY", &env.key)
                    .env("UNI1_STORAGE", storage)
                    .env("UNI1_STORAGE_DIR", env.dir.join("objects"))
                    .env("RUST_LOG", "warn")
                    .output()
                    .expect("uni1 runs")
            };
            let out = command("local");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                stdout.contains("rebuilt the previews and thumbnails of 1 images"),
                "{stdout}"
            );
            let now = image::Entity::find_by_id(rows[0].id)
                .one(&app.db)
                .await
                .unwrap()
                .unwrap();
            assert!(uni1_domain::generation::variants::is_current(
                &now.preview_path
            ));
            let preview = app.gens.blobs.get(&now.preview_path).await.unwrap();
            assert_eq!(&preview[8..16], b"WEBPVP8 ");

            let bad = command("s3");
            assert!(!bad.status.success());
            let stderr = String::from_utf8_lossy(&bad.stderr);
            assert!(stderr.contains("UNI1_S3_BUCKET"), "{stderr}");
        },
    )
    .await;
}
