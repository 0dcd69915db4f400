//! `cargo bench -p uni1-server --features uni1-app/ssr --bench progress`:
//! database statements per second spent on progress streams with 1,000
//! open streams (1,000 people, each with one job waiting, so every stream
//! is "busy" and read every 0.5 s), on SQLite and (when
//! UNI1_TEST_POSTGRES_URL or the local default answers) PostgreSQL:
//!
//! - "per person (before)": the loop every open person ran before the hub,
//!   reproduced here with the same domain calls (`changed_since`, the
//!   balance, the watched stamp every 10 s), one task per person;
//! - "one hub (after)": `ProgressHub`, one read per tick for everyone.
//!
//! Statements are counted by SeaORM's metric callback on the connection
//! only the progress code uses. UNI1_BENCH_SECONDS sets each measured
//! window (default 10, after a 2 s warm-up). The count does not depend on
//! the build profile, so `--profile dev` gives the same figures. Figures
//! print as a Markdown table for docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/postgres.rs"]
mod postgres;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
use uni1_domain::generation::progress::{ProgressHub, ProgressPolicy};
use uni1_domain::generation::{Generations, SubmitInput};
use uni1_server::config::{ServeArgs, Settings, StorageKind};
use uuid::Uuid;

const STREAMS: usize = 1000;

fn settings(database_url: &str) -> Settings {
    let mut args = ServeArgs {
        public_url: Some("http://127.0.0.1:3000".into()),
        ..Default::default()
    };
    args.database.database_url = Some(database_url.into());
    args.generation.storage = Some(StorageKind::Memory);
    args.generation.worker_slots = Some(0);
    Settings::resolve(args, None).expect("bench settings")
}

/// A confirmed person without a password (nothing to hash).
async fn person(db: &DatabaseConnection, n: usize) -> Uuid {
    use uni1_domain::entities::user;
    let now = chrono::Utc::now();
    let id = Uuid::now_v7();
    let email = format!("p{n}@bench.test");
    user::ActiveModel {
        id: Set(id),
        email: Set(email.clone()),
        email_key: Set(email),
        email_confirmed_at: Set(Some(now)),
        password_hash: Set(None),
        display_name: Set("Bench".into()),
        avatar_url: Set(None),
        role: Set("user".into()),
        adult_attested_at: Set(now),
        terms_version: Set(uni1_domain::accounts::TERMS_VERSION.into()),
        terms_accepted_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
        expiry_reminders: Set(false),
        expiry_reminded_at: Set(None),
        objected_at: Set(None),
        restricted_at: Set(None),
        training_consent_at: Set(None),
        training_consent_version: Set(None),
        deletion_due_at: Set(None),
        policy_seen_version: Set(None),
        notify_generation_done: Set(false),
        service_updates: Set(true),
        marketing_consent_at: Set(None),
        marketing_consent_source: Set(None),
        progress_watched_until: Set(None),
        picture_id: Set(None),
        disabled_at: Set(None),
        disabled_reason: Set(None),
    }
    .insert(db)
    .await
    .unwrap();
    id
}

/// 1,000 people, each with one job waiting (no worker runs).
async fn people(gens: &Generations) -> Vec<Uuid> {
    let mut out = Vec::with_capacity(STREAMS);
    for n in 0..STREAMS {
        let id = person(&gens.db, n).await;
        gens.submit(
            id,
            true,
            SubmitInput {
                idempotency_key: format!("bench-{n:05}"),
                model_id: "builtin".into(),
                prompt: "progress".into(),
                aspect_ratio: "1:1".into(),
                count: 1,
                ..Default::default()
            },
        )
        .await
        .expect("queued");
        out.push(id);
    }
    out
}

/// `gens` on a copy of its connection whose statements are counted.
fn counted(gens: &Generations) -> (Generations, Arc<AtomicU64>) {
    let statements = Arc::new(AtomicU64::new(0));
    let mut db = gens.db.clone();
    let counter = statements.clone();
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let mut gens = gens.clone();
    gens.db = db;
    (gens, statements)
}

/// Statements per second over `secs` after a warm-up.
async fn rate(statements: &AtomicU64, secs: u64) -> f64 {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (start, at) = (statements.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    (statements.load(Ordering::Relaxed) - start) as f64 / at.elapsed().as_secs_f64()
}

/// The loop each person with an open stream ran before the hub (see the
/// module documentation), until aborted.
async fn per_person_loop(gens: Generations, user: Uuid, reads: Arc<AtomicU64>) {
    let policy = ProgressPolicy::default();
    let mut stamped: Option<Instant> = None;
    let mut pause = policy.busy;
    loop {
        if stamped.is_none_or(|at| at.elapsed() >= uni1_domain::mail::notices::STAMP_EVERY) {
            uni1_domain::mail::notices::stamp_watched(&gens.db, user, chrono::Utc::now())
                .await
                .ok();
            stamped = Some(Instant::now());
        }
        let since = chrono::Utc::now() - policy.window;
        if let Ok(jobs) = gens.changed_since(user, since).await {
            uni1_domain::billing::credits::balance(&gens.db, user)
                .await
                .ok();
            reads.fetch_add(1, Ordering::Relaxed);
            pause = if jobs.iter().any(|j| !j.status.is_final()) {
                policy.busy
            } else {
                (pause * 2).min(policy.idle)
            };
        }
        tokio::time::sleep(pause).await;
    }
}

async fn measure(name: &str, gens: &Generations, secs: u64) -> Vec<String> {
    let users = people(gens).await;
    let mut rows = Vec::new();

    let (g, statements) = counted(gens);
    let reads = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = users
        .iter()
        .map(|u| tokio::spawn(per_person_loop(g.clone(), *u, reads.clone())))
        .collect();
    let before = rate(&statements, secs).await;
    let person_reads = reads.load(Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    rows.push(format!(
        "| {name} | per person (before) | {STREAMS} | {before:.0} | {person_reads} person reads in {} s |",
        secs + 2
    ));

    let (mut g, statements) = counted(gens);
    g.progress = ProgressHub::default();
    let mut streams = Vec::with_capacity(STREAMS);
    for u in &users {
        streams.push(g.progress.open(&g, *u).expect("a stream"));
    }
    // Each stream reads its updates, as the SSE route does.
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut s| tokio::spawn(async move { while s.next().await.is_some() {} }))
        .collect();
    let ticks_before = g.progress.polls();
    let after = rate(&statements, secs).await;
    let ticks = g.progress.polls() - ticks_before;
    g.progress.close();
    for r in readers {
        r.await.ok();
    }
    rows.push(format!(
        "| {name} | one hub (after) | {STREAMS} | {after:.0} | {ticks} ticks in {} s, each for all {STREAMS} people |",
        secs + 2
    ));
    rows
}

async fn open(url: &str) -> (DatabaseConnection, Generations) {
    let settings = settings(url);
    let db = uni1_server::startup::open_database(&settings.database)
        .await
        .expect("database");
    let key = uni1_domain::support::crypto::AppKey::from_bytes([2; 32]);
    let (mut gens, _wakeups) = uni1_server::startup::generations(
        &settings.generation,
        db.clone(),
        &key,
        "http://127.0.0.1:9",
    )
    .unwrap();
    gens.queue.max_pending_per_user = 100;
    (db, gens)
}

#[tokio::main]
async fn main() {
    let secs = std::env::var("UNI1_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = std::env::temp_dir().join(format!("uni1-bench-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = format!("sqlite://{}/bench.db?mode=rwc", dir.display());
    let (db, gens) = open(&sqlite).await;
    let mut rows = measure("SQLite (1 connection)", &gens, secs).await;
    db.close().await.ok();
    std::fs::remove_dir_all(&dir).ok();
    if let Some(url) = postgres::create("uni1_bench_progress").await {
        let (db, gens) = open(&url).await;
        rows.extend(measure("PostgreSQL", &gens, secs).await);
        db.close().await.ok();
        postgres::drop(&url).await;
    }
    println!(
        "\n### Progress streams: database statements per second ({STREAMS} open streams, {STREAMS} people with a job waiting, {secs} s window)\n"
    );
    println!("| database | progress reads | open streams | statements/s | reads |");
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
