//! `cargo bench -p uni1-server --features uni1-app/ssr --bench rate_limit`:
//! rate limit checks per second in the shared store (one upsert per check,
//! `uni1_domain::support::limit_store`) on SQLite and (when
//! UNI1_TEST_POSTGRES_URL or the local default answers) PostgreSQL, next to
//! the in-process store, from 1 task and from 16 tasks at once, over 10,000
//! keys (most checks allowed, some refused, as under a real load).
//!
//! UNI1_BENCH_SECONDS sets each run's length (default 5). Figures print as
//! a Markdown table for docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/postgres.rs"]
mod postgres;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use uni1_domain::support::limit_store::{Limit, LimitStore};
use uni1_server::config::{ServeArgs, Settings, StorageKind};

/// The application key that keys the stored subjects.
fn bench_key() -> uni1_domain::support::crypto::AppKey {
    uni1_domain::support::crypto::AppKey::from_bytes([1; 32])
}

/// 30 a minute per key, like sign-in per address.
const LIMIT: Limit = Limit::new("bench", 30, Duration::from_secs(60));
const KEYS: u64 = 10_000;

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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `tasks` tasks check for `secs`: (checks/s, p50 ms, p99 ms, refused %).
async fn load(store: &LimitStore, tasks: u64, secs: u64) -> (f64, f64, f64, f64) {
    let refused = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (store, refused) = (store.clone(), refused.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = t.wrapping_mul(7919);
                while Instant::now() < until {
                    i = i.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let key = format!("10.0.{}.{}", (i >> 40) % KEYS / 256, (i >> 40) % 256);
                    let t0 = Instant::now();
                    if store.check(LIMIT, &key).await.is_err() {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let n = all.len() as f64;
    (
        n / elapsed,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        100.0 * refused.load(Ordering::Relaxed) as f64 / n.max(1.0),
    )
}

async fn run(name: &str, store: LimitStore, secs: u64) -> Vec<String> {
    let mut rows = Vec::new();
    for tasks in [1, 16] {
        let (rate, p50, p99, refused) = load(&store, tasks, secs).await;
        eprintln!("{name}, {tasks} tasks: {rate:.0} checks/s");
        rows.push(format!(
            "| {name} | {tasks} | {rate:.0} | {p50:.3} / {p99:.3} ms | {refused:.1} % |"
        ));
    }
    rows
}

#[tokio::main]
async fn main() {
    let secs = std::env::var("UNI1_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut rows = run("in process (governor)", LimitStore::default(), secs).await;
    let dir = std::env::temp_dir().join(format!("uni1-bench-rl-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = format!("sqlite://{}/bench.db?mode=rwc", dir.display());
    let db = uni1_server::startup::open_database(&settings(&sqlite).database)
        .await
        .expect("sqlite");
    rows.extend(
        run(
            "SQLite (server pool: 1 connection)",
            LimitStore::database(db.clone(), &bench_key()),
            secs,
        )
        .await,
    );
    db.close().await.ok();
    std::fs::remove_dir_all(&dir).ok();
    if let Some(url) = postgres::create("uni1_bench_rate_limit").await {
        let db = uni1_server::startup::open_database(&settings(&url).database)
            .await
            .expect("postgres");
        rows.extend(
            run(
                "PostgreSQL (UNLOGGED)",
                LimitStore::database(db.clone(), &bench_key()),
                secs,
            )
            .await,
        );
        db.close().await.ok();
        postgres::drop(&url).await;
    }
    println!("\n### Rate limit checks ({secs} s per row, 10,000 keys, 30 a minute per key)\n");
    println!("| store | concurrent tasks | checks/s | latency p50 / p99 | refused |");
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
