//! `cargo bench -p uni1-server --bench admin`: the staff dashboard (ADM-1)
//! over a large service, on SQLite and (when UNI1_TEST_POSTGRES_URL or the
//! local default answers) PostgreSQL:
//! 1. seeding 100,000 people (each with a session) and 1,000,000
//!    generations spread over the last 30 days, with 100,000 credit
//!    captures and 5,000 paid orders, by bulk inserts (time shown);
//! 2. the daily stats job: its first run (30 days backfilled) and a
//!    steady run (today and yesterday);
//! 3. `Admin::dashboard` (30 stored days + today counted live): p50/p99;
//! 4. `/admin` rendered by SSR through the real router and server, with a
//!    signed-in admin (two-factor on): requests/s and p99.
//!
//! UNI1_BENCH_PEOPLE and UNI1_BENCH_GENERATIONS scale the data;
//! UNI1_BENCH_SECONDS the SSR load. Figures print as Markdown tables for
//! docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/postgres.rs"]
mod postgres;

use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uni1_domain::accounts::{CurrentUser, Role};
use uni1_domain::entities::generation::Status;
use uni1_domain::entities::{credit_ledger, generation, order, session, two_factor, user};
use uni1_server::config::{AdminCommand, ServeArgs, Settings, StorageKind};

const PASSWORD: &str = "a long and unusual bench passphrase";
const ADMIN: &str = "bench-admin@example.org";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn settings(database_url: &str, public_url: &str) -> Settings {
    let mut args = ServeArgs {
        public_url: Some(public_url.into()),
        ..Default::default()
    };
    args.database.database_url = Some(database_url.into());
    args.generation.storage = Some(StorageKind::Memory);
    args.generation.worker_slots = Some(0);
    Settings::resolve(args, None).expect("bench settings")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A small deterministic generator (no dependency), for spreading rows.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `people` accounts with a session each, `gens` generations, captures
/// for one in ten and 5,000 paid orders, over the last 30 days.
async fn seed(db: &sea_orm::DatabaseConnection, people: usize, gens: usize) -> Duration {
    let t = Instant::now();
    let now = Utc::now();
    let span = 30 * 24 * 3600;
    let mut rng = Lcg(42);
    let mut ids = Vec::with_capacity(people);
    let chunk = 500;
    for start in (0..people).step_by(chunk) {
        let mut users = Vec::with_capacity(chunk);
        let mut sessions = Vec::with_capacity(chunk);
        for i in start..(start + chunk).min(people) {
            let id = uuid::Uuid::now_v7();
            ids.push(id);
            let created = now - chrono::Duration::seconds(rng.below(span) as i64);
            users.push(user::ActiveModel {
                id: Set(id),
                email: Set(format!("p{i}@example.org")),
                email_key: Set(format!("p{i}@example.org")),
                email_confirmed_at: Set(Some(created)),
                password_hash: Set(None),
                display_name: Set(format!("Person {i}")),
                avatar_url: Set(None),
                role: Set("user".into()),
                adult_attested_at: Set(created),
                terms_version: Set("1".into()),
                terms_accepted_at: Set(created),
                created_at: Set(created),
                updated_at: Set(created),
                ..Default::default()
            });
            let seen = created
                + chrono::Duration::seconds(
                    rng.below((now - created).num_seconds() as u64 + 1) as i64
                );
            sessions.push(session::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                user_id: Set(id),
                token_hash: Set(format!("{i:064x}")),
                created_at: Set(created),
                last_seen_at: Set(seen),
                expires_at: Set(created + chrono::Duration::days(30)),
                ended_at: Set(None),
                end_reason: Set(None),
                ip: Set("192.0.2.1".into()),
                user_agent: Set("bench".into()),
                browser: Set("Firefox".into()),
                os: Set("Linux".into()),
                device: Set("desktop".into()),
            });
        }
        user::Entity::insert_many(users)
            .exec_without_returning(db)
            .await
            .unwrap();
        session::Entity::insert_many(sessions)
            .exec_without_returning(db)
            .await
            .unwrap();
    }
    let statuses = [
        Status::Succeeded,
        Status::Succeeded,
        Status::Succeeded,
        Status::Succeeded,
        Status::Succeeded,
        Status::Succeeded,
        Status::Succeeded,
        Status::Failed,
        Status::Refused,
        Status::Cancelled,
    ];
    for start in (0..gens).step_by(chunk) {
        let mut rows = Vec::with_capacity(chunk);
        let mut captures = Vec::new();
        for i in start..(start + chunk).min(gens) {
            let id = uuid::Uuid::now_v7();
            let owner = ids[rng.below(ids.len() as u64) as usize];
            let queued = now - chrono::Duration::seconds(rng.below(span) as i64);
            let finished = queued + chrono::Duration::seconds(8);
            let status = statuses[i % statuses.len()];
            rows.push(generation::ActiveModel {
                id: Set(id),
                user_id: Set(owner),
                idempotency_key: Set(format!("bench-{i}")),
                model_id: Set("builtin".into()),
                backend: Set("builtin".into()),
                prompt: Set(format!("bench prompt {i}")),
                negative_prompt: Set(None),
                aspect_ratio: Set("1:1".into()),
                image_count: Set(1),
                seed_requested: Set(None),
                seed_used: Set(Some(i as i64)),
                style: Set(None),
                reference_path: Set(None),
                reference_strength: Set(None),
                credits: Set(1),
                status: Set(status),
                attempts: Set(1),
                max_attempts: Set(3),
                run_after: Set(queued),
                lease_owner: Set(None),
                lease_expires_at: Set(None),
                external_id: Set(None),
                cancel_requested: Set(false),
                error: Set(None),
                error_detail: Set(None),
                parent_id: Set(None),
                queued_at: Set(queued),
                started_at: Set(Some(queued)),
                finished_at: Set(Some(finished)),
                done_notice: Set(None),
                api_key_id: Set(None),
            });
            if i % 10 == 0 {
                captures.push(credit_ledger::ActiveModel {
                    id: Set(uuid::Uuid::now_v7()),
                    user_id: Set(owner),
                    kind: Set("capture".into()),
                    amount: Set(0),
                    held_change: Set(-1),
                    debt_change: Set(0),
                    expiring_change: Set(0),
                    balance_after: Set(0),
                    generation_id: Set(Some(id)),
                    idempotency_key: Set(format!("settle:{id}")),
                    note: Set(None),
                    created_at: Set(finished),
                });
            }
        }
        generation::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await
            .unwrap();
        if !captures.is_empty() {
            credit_ledger::Entity::insert_many(captures)
                .exec_without_returning(db)
                .await
                .unwrap();
        }
    }
    let orders = 5_000.min(people);
    for start in (0..orders).step_by(chunk) {
        let rows: Vec<order::ActiveModel> = (start..(start + chunk).min(orders))
            .map(|i| {
                let paid = now - chrono::Duration::seconds(rng.below(span) as i64);
                order::ActiveModel {
                    id: Set(uuid::Uuid::now_v7()),
                    user_id: Set(Some(ids[i])),
                    provider: Set("stripe".into()),
                    kind: Set("pack".into()),
                    item: Set("starter".into()),
                    item_name: Set("Starter".into()),
                    credits: Set(100),
                    amount: Set(900),
                    currency: Set(if i % 3 == 0 { "usd" } else { "eur" }.into()),
                    status: Set("paid".into()),
                    checkout_id: Set(Some(format!("cs_bench_{i}"))),
                    payment_id: Set(None),
                    refunded_amount: Set(0),
                    refunded_credits: Set(0),
                    invoice_id: Set(None),
                    subscription_id: Set(None),
                    receipt_url: Set(None),
                    created_at: Set(paid),
                    updated_at: Set(paid),
                    paid_at: Set(Some(paid)),
                }
            })
            .collect();
        order::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await
            .unwrap();
    }
    db.execute_unprepared("ANALYZE").await.unwrap();
    t.elapsed()
}

/// GETs `url` with `cookie` from `concurrency` tasks for `secs`:
/// (requests/s, p99 ms).
async fn load(
    client: &reqwest::Client,
    url: &str,
    cookie: &str,
    secs: u64,
    concurrency: usize,
) -> (f64, f64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, cookie) = (client.clone(), url.to_owned(), cookie.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = client
                    .get(&url)
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{url}: {}", r.status());
                r.bytes().await.unwrap();
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by(f64::total_cmp);
    (all.len() as f64 / secs as f64, percentile(&all, 0.99))
}

/// One backend: seed, the job, the domain function, the page.
async fn run(label: &str, database_url: &str, people: usize, gens: usize, secs: u64) -> String {
    let dir = std::env::temp_dir().join(format!("uni1-bench-admin-{label}-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("site/pkg")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let settings = settings(database_url, &origin);
    let db = uni1_server::startup::open_database(&settings.database)
        .await
        .unwrap();
    let key = uni1_domain::support::crypto::AppKey::from_base64(
        &uni1_domain::support::crypto::AppKey::generate_base64(),
    )
    .unwrap();
    let seeded = seed(&db, people, gens).await;

    // The job: first run backfills 30 days, then today and yesterday.
    let t = Instant::now();
    let days = uni1_domain::admin::stats::refresh(&db, Utc::now())
        .await
        .unwrap();
    let first = t.elapsed();
    assert_eq!(days, 30);
    let mut steady = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        uni1_domain::admin::stats::refresh(&db, Utc::now())
            .await
            .unwrap();
        steady.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    steady.sort_by(f64::total_cmp);

    // The admin: an account, signed in, then two-factor on.
    let services =
        uni1_server::startup::Services::build(&settings, db.clone(), key.clone()).unwrap();
    uni1_server::admin::run(
        db.clone(),
        key.clone(),
        AdminCommand::CreateUser {
            email: ADMIN.into(),
            name: "Bench admin".into(),
            role: "admin".into(),
            password_stdin: false,
        },
        Some(PASSWORD.into()),
    )
    .await
    .unwrap();
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
    let signin = client
        .post(format!("{origin}/api/sign_in"))
        .header("origin", &origin)
        .form(&[("email", ADMIN), ("password", PASSWORD), ("next", "/admin")])
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
    let admin_row = {
        use sea_orm::{ColumnTrait, QueryFilter};
        user::Entity::find()
            .filter(user::Column::EmailKey.eq(ADMIN))
            .one(&db)
            .await
            .unwrap()
            .unwrap()
    };
    two_factor::Entity::insert(two_factor::ActiveModel {
        user_id: Set(admin_row.id),
        secret_sealed: Set("bench".into()),
        enabled_at: Set(Some(Utc::now())),
        last_used_step: Set(None),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(&db)
    .await
    .unwrap();

    // The domain function.
    let staff = services
        .admin
        .require(
            Some(&CurrentUser {
                id: admin_row.id,
                email: ADMIN.into(),
                display_name: "Bench admin".into(),
                role: Role::Admin,
                email_confirmed: true,
                session_id: uuid::Uuid::now_v7(),
                deletion_due: None,
                policy_changed: false,
                objected: false,
                picture: None,
            }),
            Role::Admin,
        )
        .await
        .unwrap();
    let mut lat = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        let d = services.admin.dashboard(&staff, Utc::now()).await.unwrap();
        assert_eq!(d.days.len(), 30);
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);

    // The page, by SSR.
    let url = format!("{origin}/admin");
    let page = client
        .get(&url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("data-chart=\"chart-signups\""),
        "the dashboard rendered"
    );
    load(&client, &url, &cookie, 1, 4).await;
    let (rps, p99) = load(&client, &url, &cookie, secs, 8).await;

    // People search: by part of a name (no index can serve `%…%`), the
    // newest page with a filter, and the page by SSR.
    use uni1_domain::admin::users::Search;
    let mut by_text = Vec::new();
    let mut by_filter = Vec::new();
    for i in 0..50 {
        let search = Search {
            text: Some(format!("person {}", 4200 + i)),
            ..Search::default()
        };
        let t = Instant::now();
        let found = services.admin.search_people(&staff, &search).await.unwrap();
        by_text.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(!found.is_empty());
        let search = Search {
            status: Some("active".into()),
            two_factor: Some(false),
            ..Search::default()
        };
        let t = Instant::now();
        services.admin.search_people(&staff, &search).await.unwrap();
        by_filter.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    by_text.sort_by(f64::total_cmp);
    by_filter.sort_by(f64::total_cmp);
    let users_url = format!("{origin}/admin/users?q=person+4242");
    load(&client, &users_url, &cookie, 1, 4).await;
    let (users_rps, users_p99) = load(&client, &users_url, &cookie, secs, 8).await;

    db.close().await.ok();
    std::fs::remove_dir_all(&dir).ok();
    format!(
        "| {label} | {:.1} s | {:.2} s | {:.0} / {:.0} ms | {:.1} / {:.1} ms | {rps:.1} | {p99:.0} ms |\n\
         USERS| {label} | {:.1} / {:.1} ms | {:.1} / {:.1} ms | {users_rps:.1} | {users_p99:.0} ms |",
        seeded.as_secs_f64(),
        first.as_secs_f64(),
        percentile(&steady, 0.5),
        percentile(&steady, 1.0),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&by_text, 0.5),
        percentile(&by_text, 0.99),
        percentile(&by_filter, 0.5),
        percentile(&by_filter, 0.99),
    )
}

#[tokio::main]
async fn main() {
    let people = env("UNI1_BENCH_PEOPLE", 100_000);
    let gens = env("UNI1_BENCH_GENERATIONS", 1_000_000);
    let secs = env("UNI1_BENCH_SECONDS", 10) as u64;
    let mut lines = Vec::new();
    let dir = std::env::temp_dir().join(format!("uni1-bench-admin-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = format!("sqlite://{}/bench.db?mode=rwc", dir.display());
    lines.push(run("SQLite", &sqlite, people, gens, secs).await);
    std::fs::remove_dir_all(&dir).ok();
    if let Some(url) = postgres::create("uni1_bench_admin").await {
        lines.push(run("PostgreSQL", &url, people, gens, secs).await);
        postgres::drop(&url).await;
    }
    println!(
        "\n### Staff dashboard: {people} people, {gens} generations over 30 days (8 concurrent for `/admin`, {secs} s)\n"
    );
    println!("| backend | seeding (bulk inserts) | stats job, first run (30 days) | stats job, steady run (today + yesterday) p50 / max | `Admin::dashboard` p50 / p99 | `/admin` SSR requests/s | `/admin` SSR p99 |");
    println!("|---|---|---|---|---|---|---|");
    let (users, dashboard): (Vec<&str>, Vec<&str>) = lines
        .iter()
        .flat_map(|l| l.lines())
        .partition(|l| l.starts_with("USERS"));
    for l in dashboard {
        println!("{l}");
    }
    println!(
        "\n### People search: {people} people (50 searches each; 8 concurrent for `/admin/users?q=person+4242`, {secs} s)\n"
    );
    println!("| backend | by name part (`%person 42xx%`) p50 / p99 | active, two-factor off (first page) p50 / p99 | `/admin/users?q=…` SSR requests/s | SSR p99 |");
    println!("|---|---|---|---|---|");
    for l in users {
        println!("{}", l.trim_start_matches("USERS"));
    }
}
