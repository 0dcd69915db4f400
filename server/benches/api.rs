//! `cargo bench -p uni1-server --bench api` (run by `make bench`): the
//! developer API's submit overhead, request -> job queued, next to the
//! same job submitted through the studio's server function, in one run on
//! one real server (loopback HTTP, the whole middleware stack), on SQLite
//! and (when UNI1_TEST_POSTGRES_URL or the local default answers)
//! PostgreSQL:
//!
//! - `POST /v1/predictions` with a bearer key (Replicate-style, no
//!   `Prefer: wait`, so the answer comes as soon as the job is queued);
//! - the same with a fresh `Idempotency-Key` on each request (the claim
//!   and the kept answer are two more writes);
//! - `POST /api/generate`, the studio's server function, with a session
//!   cookie.
//!
//! No worker runs: every job stays queued, so nothing but the submit path
//! is measured. The three are run in turn, 1 and 8 requests at a time,
//! UNI1_BENCH_SECONDS each (default 5); every answer is checked and the
//! queued jobs are counted against the answers. Figures print as a
//! Markdown table for docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/postgres.rs"]
mod postgres;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uni1_domain::entities::generation;
use uni1_server::config::{AdminCommand, ServeArgs, Settings, StorageKind};

const PASSWORD: &str = "a long and unusual bench passphrase";
const EMAIL: &str = "api-bench@example.org";

fn settings(database_url: &str, public_url: &str) -> Settings {
    let mut args = ServeArgs {
        public_url: Some(public_url.into()),
        ..Default::default()
    };
    args.database.database_url = Some(database_url.into());
    args.generation.storage = Some(StorageKind::Memory);
    args.generation.worker_slots = Some(0);
    args.generation.max_pending_per_user = Some(1_000_000);
    // The bench measures the submit path, not the per-key request rate:
    // the highest rate the settings take.
    args.api_key_requests_per_minute = Some(100_000);
    args.api_key_burst = Some(10_000);
    Settings::resolve(args, None).expect("bench settings")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One way to submit a job.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    Api,
    ApiIdempotent,
    Studio,
}

impl Way {
    fn label(self) -> &'static str {
        match self {
            Way::Api => "API `POST /v1/predictions`",
            Way::ApiIdempotent => "API, with `Idempotency-Key`",
            Way::Studio => "studio server function `POST /api/generate`",
        }
    }
}

/// A server on loopback with a signed-in person, their key and credits.
struct Served {
    origin: String,
    client: reqwest::Client,
    cookie: String,
    api_key: String,
    db: sea_orm::DatabaseConnection,
    user: uuid::Uuid,
    sent: Arc<AtomicU64>,
}

async fn serve(database_url: &str, tag: &str) -> (Served, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("uni1-bench-api-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("site/pkg")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let database_url = database_url.replace("{dir}", &dir.display().to_string());
    let settings = settings(&database_url, &origin);
    let db = uni1_server::startup::open_database(&settings.database)
        .await
        .unwrap();
    let key = uni1_domain::support::crypto::AppKey::from_base64(
        &uni1_domain::support::crypto::AppKey::generate_base64(),
    )
    .unwrap();
    let services =
        uni1_server::startup::Services::build(&settings, db.clone(), key.clone()).unwrap();
    let leptos = leptos::config::LeptosOptions::builder()
        .output_name("uni1")
        .site_root(dir.join("site").display().to_string())
        .build();
    let router = services.router(&settings, leptos);
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .ok();
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();

    let cmd = AdminCommand::CreateUser {
        email: EMAIL.into(),
        name: "Bench".into(),
        role: "user".into(),
        password_stdin: false,
    };
    uni1_server::admin::run(db.clone(), key.clone(), cmd, Some(PASSWORD.into()))
        .await
        .expect("create user");
    let user = uni1_domain::entities::user::Entity::find()
        .filter(uni1_domain::entities::user::Column::EmailKey.eq(EMAIL))
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .id;
    uni1_domain::billing::credits::grant(&db, user, 10_000_000, &format!("bench:{user}"), None)
        .await
        .unwrap();
    let signin = client
        .post(format!("{origin}/api/sign_in"))
        .header("origin", &origin)
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("next", "/studio"),
        ])
        .send()
        .await
        .unwrap();
    let cookie = signin
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("uni1_session="))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
        .expect("a session cookie");
    let made = client
        .post(format!("{origin}/api/api-key-create"))
        .header("origin", &origin)
        .header("cookie", &cookie)
        .form(&[
            ("name", "bench"),
            ("scope_generate", "on"),
            ("scope_read", "on"),
            ("expires_in_days", "7"),
        ])
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "{}", made.status());
    let made: serde_json::Value = made.json().await.unwrap();
    let api_key = made["secret"].as_str().expect("the key").to_owned();
    (
        Served {
            origin,
            client,
            cookie,
            api_key,
            db,
            user,
            sent: Arc::new(AtomicU64::new(0)),
        },
        dir,
    )
}

impl Served {
    /// One submission, checked; its latency in ms.
    async fn submit(&self, way: Way, n: u64) -> f64 {
        let prompt = format!("a kite, request {n}");
        let t = Instant::now();
        let r = match way {
            Way::Api | Way::ApiIdempotent => {
                let mut req = self
                    .client
                    .post(format!("{}/v1/predictions", self.origin))
                    .bearer_auth(&self.api_key)
                    .json(&serde_json::json!({"version": "builtin", "input": {"prompt": prompt}}));
                if way == Way::ApiIdempotent {
                    req = req.header("idempotency-key", format!("bench-{n}"));
                }
                req.send().await.unwrap()
            }
            Way::Studio => self
                .client
                .post(format!("{}/api/generate", self.origin))
                .header("origin", &self.origin)
                .header("cookie", &self.cookie)
                .form(&[
                    ("form_key", format!("bench-studio-{n}").as_str()),
                    ("model", "builtin"),
                    ("prompt", prompt.as_str()),
                    ("aspect_ratio", "1:1"),
                    ("count", "1"),
                ])
                .send()
                .await
                .unwrap(),
        };
        let status = r.status();
        let body = r.bytes().await.unwrap();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(
            status.is_success(),
            "{}: {status} {}",
            way.label(),
            String::from_utf8_lossy(&body)
        );
        ms
    }

    /// `concurrency` tasks submit for `secs`: (requests/s, p50, p99).
    async fn load(self: &Arc<Self>, way: Way, concurrency: usize, secs: u64) -> (f64, f64, f64) {
        let started = Instant::now();
        let until = started + Duration::from_secs(secs);
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let me = self.clone();
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    while Instant::now() < until {
                        let n = me.sent.fetch_add(1, Ordering::Relaxed);
                        lat.push(me.submit(way, n).await);
                    }
                    lat
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        all.sort_by(f64::total_cmp);
        (
            all.len() as f64 / elapsed,
            percentile(&all, 0.5),
            percentile(&all, 0.99),
        )
    }

    async fn queued(&self) -> u64 {
        generation::Entity::find()
            .filter(generation::Column::UserId.eq(self.user))
            .count(&self.db)
            .await
            .unwrap()
    }
}

async fn run(database: &str, url: &str, tag: &str, secs: u64) -> Vec<String> {
    let (served, dir) = serve(url, tag).await;
    let served = Arc::new(served);
    // Warm up every path (connections, statement caches).
    for way in [Way::Api, Way::ApiIdempotent, Way::Studio] {
        served.load(way, 2, 1).await;
    }
    let mut rows = Vec::new();
    for concurrency in [1, 8] {
        for way in [Way::Api, Way::Studio, Way::ApiIdempotent] {
            let (rps, p50, p99) = served.load(way, concurrency, secs).await;
            eprintln!("{database}, {}, {concurrency}: {rps:.0}/s", way.label());
            rows.push(format!(
                "| {database} | {} | {concurrency} | {rps:.0} | {p50:.2} | {p99:.2} |",
                way.label()
            ));
        }
    }
    let sent = served.sent.load(Ordering::Relaxed);
    let queued = served.queued().await;
    assert_eq!(queued, sent, "one queued job per answered request");
    eprintln!("{database}: {queued} jobs queued, one per request");
    std::fs::remove_dir_all(&dir).ok();
    rows
}

#[tokio::main]
async fn main() {
    let secs = std::env::var("UNI1_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut rows = run("SQLite", "sqlite://{dir}/bench.db?mode=rwc", "sqlite", secs).await;
    if let Some(url) = postgres::create("uni1_bench_api").await {
        rows.extend(run("PostgreSQL", &url, "postgres", secs).await);
        postgres::drop(&url).await;
    } else {
        eprintln!("PostgreSQL did not answer: skipped");
    }
    println!("\n### Submit overhead: request -> job queued ({secs} s per row, loopback HTTP, no worker)\n");
    println!("| database | way | concurrent | requests/s | p50 (ms) | p99 (ms) |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
