//! `cargo bench -p uni1-server --bench generation` (run by `make bench`):
//! 1. encoding a 1024×1024 image into its stored variants, and the preview
//!    encoders compared by size and time at equal SSIM;
//! 2. submit -> stored with the built-in model on SQLite and PostgreSQL,
//!    with 1 and 2 workers: latency p50/p99 and jobs/s;
//! 3. the encrypted media route vs the same bytes as a static file from the
//!    same server, side by side: requests/s, p99 and their ratio;
//! 4. the first gallery page of someone with 10,000 images (SSR) vs the same
//!    bytes as a static file;
//! 5. the platform's own cost per job: a model that answers at once with a
//!    small pre-encoded image, on SQLite and PostgreSQL with 1, 2 and 4
//!    workers (claim, lease, variants, encrypted puts, the finishing
//!    transaction; no model time);
//! 6. payment webhooks: signed `checkout.session.completed` events for
//!    distinct orders, each delivered twice (the second a duplicate), 16 at
//!    a time, on SQLite and PostgreSQL: events/s and latency p50/p99;
//! 7. the privacy center: the data export of an account with 10,000
//!    generations and 1,000 stored images (time, ZIP size, the process's
//!    peak memory above its level before), then deleting the account
//!    (time, and what is left of it), on SQLite with a local object folder.
//!
//! Figures are printed as Markdown tables for docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/postgres.rs"]
mod postgres;

use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uni1_domain::entities::{generation, image};
use uni1_domain::generation::{status, worker, Generations, SubmitInput};
use uni1_server::config::{AdminCommand, ServeArgs, Settings, StorageKind};

const PASSWORD: &str = "a long and unusual bench passphrase";

fn settings(database_url: &str, public_url: &str) -> Settings {
    let mut args = ServeArgs {
        public_url: Some(public_url.into()),
        ..Default::default()
    };
    args.database.database_url = Some(database_url.into());
    args.generation.storage = Some(StorageKind::Memory);
    args.generation.worker_slots = Some(0);
    args.generation.max_pending_per_user = Some(100_000);
    Settings::resolve(args, None).expect("bench settings")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn new_user(
    db: &sea_orm::DatabaseConnection,
    key: &uni1_domain::support::crypto::AppKey,
    email: &str,
) -> uuid::Uuid {
    let cmd = AdminCommand::CreateUser {
        email: email.into(),
        name: "Bench".into(),
        role: "user".into(),
        password_stdin: false,
    };
    uni1_server::admin::run(db.clone(), key.clone(), cmd, Some(PASSWORD.into()))
        .await
        .expect("create user");
    uni1_domain::entities::user::Entity::find()
        .filter(uni1_domain::entities::user::Column::EmailKey.eq(email))
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn open(
    database_url: &str,
) -> (
    Settings,
    sea_orm::DatabaseConnection,
    uni1_domain::support::crypto::AppKey,
    Generations,
) {
    let settings = settings(database_url, "http://127.0.0.1:9");
    let db = uni1_server::startup::open_database(&settings.database)
        .await
        .expect("db");
    let key = uni1_domain::support::crypto::AppKey::from_base64(
        &uni1_domain::support::crypto::AppKey::generate_base64(),
    )
    .unwrap();
    let (mut gens, _wakeups) = uni1_server::startup::generations(
        &settings.generation,
        db.clone(),
        &key,
        "http://127.0.0.1:9",
    )
    .unwrap();
    gens.queue.poll_interval = Duration::from_millis(10);
    (settings, db, key, gens)
}

fn encoding() {
    println!("\n### Encoding (release, one core)\n");
    let t = Instant::now();
    let png = uni1_imaging::render_builtin_png("bench lighthouse at dusk", 1, 1024, 1024, None);
    let render = t.elapsed();
    let runs = 5;
    let t = Instant::now();
    let mut sizes = (0, 0, 0);
    for _ in 0..runs {
        let v = uni1_imaging::variants(&png, &uni1_imaging::Limits::MODEL_OUTPUT).unwrap();
        sizes = (
            v.original_png.len(),
            v.preview_webp.len(),
            v.thumb_webp.len(),
        );
    }
    let per = t.elapsed() / runs;
    println!("| step (1024×1024) | time |\n|---|---|");
    println!(
        "| built-in render + PNG encode | {:.1} ms |",
        render.as_secs_f64() * 1000.0
    );
    println!(
        "| decode + PNG original + WebP preview + WebP thumbnail (mean of {runs}) | {:.1} ms |",
        per.as_secs_f64() * 1000.0
    );
    println!(
        "\nSizes: original {} KiB, preview {} KiB (lossy WebP), thumbnail {} KiB.",
        sizes.0 / 1024,
        sizes.1 / 1024,
        sizes.2 / 1024
    );
    preview_encoders();
}

/// Mean SSIM of the luma of two same-sized images: 8×8 windows every 4
/// pixels, the usual constants for 8-bit samples.
fn ssim(a: &::image::RgbImage, b: &::image::RgbImage) -> f64 {
    let luma = |img: &::image::RgbImage| -> Vec<f64> {
        img.pixels()
            .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
            .collect()
    };
    let (ya, yb) = (luma(a), luma(b));
    let (w, h) = (a.width() as usize, a.height() as usize);
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let (mut total, mut n) = (0.0, 0usize);
    for y0 in (0..h.saturating_sub(7)).step_by(4) {
        for x0 in (0..w.saturating_sub(7)).step_by(4) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in y0..y0 + 8 {
                for x in x0..x0 + 8 {
                    let (p, q) = (ya[y * w + x], yb[y * w + x]);
                    sa += p;
                    sb += q;
                    saa += p * p;
                    sbb += q * q;
                    sab += p * q;
                }
            }
            let k = 64.0;
            let (ma, mb) = (sa / k, sb / k);
            let (va, vb, cov) = (saa / k - ma * ma, sbb / k - mb * mb, sab / k - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            n += 1;
        }
    }
    total / n.max(1) as f64
}

/// The 1024 px preview of a rendered picture with film grain added, so the
/// encoders see texture as in real model outputs, not only smooth shapes.
fn grainy_preview() -> ::image::DynamicImage {
    let png = uni1_imaging::render_builtin_png(
        "bench harbour at dawn, detailed",
        5,
        1024,
        1024,
        Some("vivid"),
    );
    let mut rgb = ::image::load_from_memory(&png).unwrap().into_rgb8();
    let mut state = 0x9e37_79b9_u32;
    for p in rgb.pixels_mut() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 17) as i32 - 8;
        for c in p.0.iter_mut() {
            *c = (i32::from(*c) + n).clamp(0, 255) as u8;
        }
    }
    ::image::DynamicImage::ImageRgb8(rgb)
}

fn preview_encoders() {
    use ::image::ImageEncoder as _;
    println!("\n### Preview encoders at equal SSIM (1024×1024, one core, mean of 3)\n");
    println!("| picture | encoder | size | SSIM | encode |\n|---|---|---|---|---|");
    let smooth = ::image::load_from_memory(&uni1_imaging::render_builtin_png(
        "bench lighthouse at dusk",
        1,
        1024,
        1024,
        None,
    ))
    .unwrap();
    for (label, img) in [
        ("built-in render", smooth),
        ("render + film grain", grainy_preview()),
    ] {
        let rgb = img.to_rgb8();
        let timed = |f: &dyn Fn() -> Vec<u8>| {
            let t = Instant::now();
            let mut out = Vec::new();
            for _ in 0..3 {
                out = f();
            }
            (out, t.elapsed().as_secs_f64() * 1000.0 / 3.0)
        };
        let row = |name: &str, bytes: &[u8], ms: f64| {
            let decoded = ::image::load_from_memory(bytes).unwrap().to_rgb8();
            let q = ssim(&rgb, &decoded);
            println!(
                "| {label} | {name} | {:.0} KiB | {q:.4} | {ms:.1} ms |",
                bytes.len() as f64 / 1024.0
            );
            q
        };
        let (lossless, ms) = timed(&|| {
            let mut out = Vec::new();
            ::image::codecs::webp::WebPEncoder::new_lossless(&mut out)
                .write_image(rgb.as_raw(), 1024, 1024, ::image::ExtendedColorType::Rgb8)
                .unwrap();
            out
        });
        row("lossless WebP (before)", &lossless, ms);
        let (webp, ms) =
            timed(&|| uni1_imaging::encode_lossy_webp(&img, uni1_imaging::PREVIEW_BUDGET).unwrap());
        let target = row("lossy WebP, libwebp (now)", &webp, ms);
        // The lowest JPEG quality that is at least as close to the source.
        for quality in (50..=100).step_by(5) {
            let (jpeg, ms) = timed(&|| {
                let mut out = Vec::new();
                ::image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
                    .write_image(rgb.as_raw(), 1024, 1024, ::image::ExtendedColorType::Rgb8)
                    .unwrap();
                out
            });
            let decoded = ::image::load_from_memory(&jpeg).unwrap().to_rgb8();
            if ssim(&rgb, &decoded) >= target || quality == 100 {
                row(&format!("JPEG q{quality}, image crate"), &jpeg, ms);
                break;
            }
        }
    }
}

/// A back-end that answers at once with the same small PNG: what is left
/// of a job's time is the platform's own work.
struct InstantModel {
    capabilities: uni1_models::Capabilities,
    png: Vec<u8>,
}

#[async_trait::async_trait]
impl uni1_models::ImageModel for InstantModel {
    fn capabilities(&self) -> &uni1_models::Capabilities {
        &self.capabilities
    }
    fn backend(&self) -> &'static str {
        "builtin"
    }
    async fn generate(
        &self,
        _request: &uni1_models::GenerationRequest,
        _hooks: &dyn uni1_models::JobHooks,
    ) -> uni1_models::Outcome {
        uni1_models::Outcome::Succeeded {
            images: vec![uni1_models::ImageData::Bytes(self.png.clone())],
            seed: Some(1),
        }
    }
}

fn with_instant_model(gens: &mut Generations) {
    use uni1_domain::generation::{Catalog, ModelEntry};
    let builtin = uni1_models::builtin::Builtin::new();
    let mut models: Vec<ModelEntry> = gens.catalog.all().to_vec();
    models.push(ModelEntry {
        id: "instant".into(),
        name: "Instant (bench)".into(),
        description: String::new(),
        credits_per_image: 1,
        model: std::sync::Arc::new(InstantModel {
            capabilities: builtin.capabilities.clone(),
            png: uni1_imaging::render_builtin_png("bench instant", 1, 64, 64, None),
        }),
    });
    gens.catalog = Catalog::new(models);
}

async fn queue(label: &str, database_url: &str, workers: usize, jobs: usize) -> String {
    queue_with(label, database_url, workers, jobs, "builtin").await
}

async fn queue_with(
    label: &str,
    database_url: &str,
    workers: usize,
    jobs: usize,
    model: &str,
) -> String {
    let (_settings, db, key, mut gens) = open(database_url).await;
    with_instant_model(&mut gens);
    let user = new_user(&db, &key, &format!("bench-{workers}@example.org")).await;
    uni1_domain::billing::credits::grant(&db, user, 1_000_000, &format!("bench:{user}"), None)
        .await
        .unwrap();
    let start = Instant::now();
    for i in 0..jobs {
        gens.submit(
            user,
            true,
            SubmitInput {
                idempotency_key: format!("bench-job-{i:06}"),
                model_id: model.into(),
                prompt: format!("bench prompt {i}"),
                aspect_ratio: "1:1".into(),
                count: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let (tx, _) = tokio::sync::watch::channel(false);
    let mut handles = Vec::new();
    for w in 0..workers {
        let gens = gens.clone();
        let mut rx = tx.subscribe();
        handles.push(tokio::spawn(async move {
            worker::run(gens, format!("bench-{w}"), 1, async move {
                rx.wait_for(|s| *s).await.ok();
            })
            .await;
        }));
    }
    loop {
        let done = generation::Entity::find()
            .filter(generation::Column::Status.eq(status::SUCCEEDED))
            .count(&db)
            .await
            .unwrap();
        if done as usize == jobs {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed();
    tx.send(true).ok();
    for h in handles {
        h.await.ok();
    }
    let rows = generation::Entity::find().all(&db).await.unwrap();
    let mut total: Vec<f64> = rows
        .iter()
        .map(|r| (r.finished_at.unwrap() - r.queued_at).num_milliseconds() as f64)
        .collect();
    let mut run: Vec<f64> = rows
        .iter()
        .map(|r| (r.finished_at.unwrap() - r.started_at.unwrap()).num_milliseconds() as f64)
        .collect();
    total.sort_by(f64::total_cmp);
    run.sort_by(f64::total_cmp);
    db.close().await.ok();
    format!(
        "| {label} | {workers} | {jobs} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} |",
        percentile(&run, 0.5),
        percentile(&run, 0.99),
        percentile(&total, 0.5),
        percentile(&total, 0.99),
        jobs as f64 / elapsed.as_secs_f64()
    )
}

/// Concurrent connections of the load runs (`UNI1_BENCH_CONNECTIONS`, 64).
fn connections() -> usize {
    std::env::var("UNI1_BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

async fn load(
    client: &reqwest::Client,
    url: &str,
    cookie: Option<&str>,
    secs: u64,
    concurrency: usize,
) -> (f64, f64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_owned();
        let cookie = cookie.map(str::to_owned);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut req = client.get(&url);
                if let Some(c) = &cookie {
                    req = req.header("cookie", c);
                }
                let r = req.send().await.unwrap();
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

/// A real server on loopback (SQLite file, memory store) and what tests need.
struct Served {
    dir: std::path::PathBuf,
    origin: String,
    db: sea_orm::DatabaseConnection,
    key: uni1_domain::support::crypto::AppKey,
    gens: Generations,
    client: reqwest::Client,
}

async fn serve(tag: &str) -> Served {
    let dir = std::env::temp_dir().join(format!("uni1-bench-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("site/pkg")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let db_url = format!("sqlite://{}/bench.db?mode=rwc", dir.display());
    let settings = settings(&db_url, &origin);
    let db = uni1_server::startup::open_database(&settings.database)
        .await
        .unwrap();
    let key = uni1_domain::support::crypto::AppKey::from_base64(
        &uni1_domain::support::crypto::AppKey::generate_base64(),
    )
    .unwrap();
    let services =
        uni1_server::startup::Services::build(&settings, db.clone(), key.clone()).unwrap();
    let gens = services.generations.clone();
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
    Served {
        dir,
        origin,
        db,
        key,
        gens,
        client,
    }
}

impl Served {
    async fn sign_in(&self, email: &str) -> (uuid::Uuid, String) {
        let user = new_user(&self.db, &self.key, email).await;
        let signin = self
            .client
            .post(format!("{}/api/sign_in", self.origin))
            // Server functions refuse requests without the site's Origin.
            .header("origin", &self.origin)
            .form(&[
                ("email", email),
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
        (user, cookie)
    }

    /// `dynamic` (with the cookie) against `static_name` holding `bytes`,
    /// one after the other, as a Markdown table.
    async fn compare(
        &self,
        what: &str,
        dynamic: &str,
        cookie: &str,
        static_name: &str,
        bytes: &[u8],
        secs: u64,
    ) {
        std::fs::write(self.dir.join("site").join(static_name), bytes).unwrap();
        let d_url = format!("{}{dynamic}", self.origin);
        let s_url = format!("{}/{static_name}", self.origin);
        load(&self.client, &d_url, Some(cookie), 1, 8).await;
        load(&self.client, &s_url, None, 1, 8).await;
        let c = connections();
        let (d_rps, d_p99) = load(&self.client, &d_url, Some(cookie), secs, c).await;
        let (s_rps, s_p99) = load(&self.client, &s_url, None, secs, c).await;
        println!(
            "| {what} ({} bytes) | requests/s | p99 (ms) |\n|---|---|---|",
            bytes.len()
        );
        println!("| `{dynamic}` | {d_rps:.0} | {d_p99:.2} |");
        println!("| same bytes, static file (`ServeDir`) | {s_rps:.0} | {s_p99:.2} |");
        println!(
            "| dynamic / static | {:.2} | {:.2} |",
            d_rps / s_rps,
            d_p99 / s_p99
        );
    }

    async fn close(self) {
        self.db.close().await.ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

async fn media(secs: u64) {
    let s = serve("media").await;
    let (user, cookie) = s.sign_in("media@example.org").await;
    let v = s
        .gens
        .submit(
            user,
            true,
            SubmitInput {
                idempotency_key: "bench-media-0001".into(),
                model_id: "builtin".into(),
                prompt: "bench".into(),
                aspect_ratio: "1:1".into(),
                count: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let job = uni1_domain::generation::queue::claim(&s.db, "bench", Duration::from_secs(60), 9)
        .await
        .unwrap()
        .unwrap();
    worker::process(&s.gens, "bench", job).await;
    let img = image::Entity::find()
        .filter(image::Column::GenerationId.eq(v.id))
        .one(&s.db)
        .await
        .unwrap()
        .unwrap();
    let preview = s.gens.blobs.get(&img.preview_path).await.unwrap();
    println!("\n### Encrypted media vs the same bytes as a static file (release, in-process client, {} concurrent, {secs} s each)\n", connections());
    s.compare(
        "preview: session, owner check, decrypt",
        &format!("/media/{}/preview", img.id),
        &cookie,
        "bench-preview.webp",
        &preview,
        secs,
    )
    .await;
    s.close().await;
}

/// The first gallery page of someone with `n` images, rendered by the
/// server, against the same bytes as a static file.
async fn gallery(n: usize, secs: u64) {
    use sea_orm::ActiveValue::Set;
    let s = serve("gallery").await;
    let (user, cookie) = s.sign_in("gallery@example.org").await;
    let start = chrono::Utc::now() - chrono::Duration::days(30);
    for chunk in 0..n.div_ceil(500) {
        let mut gens_rows = Vec::new();
        let mut image_rows = Vec::new();
        for i in chunk * 500..((chunk + 1) * 500).min(n) {
            let at = start + chrono::Duration::seconds(i as i64 * 60);
            let g = uuid::Uuid::now_v7();
            gens_rows.push(succeeded_generation(
                g,
                user,
                format!("bench-gallery-{i:06}"),
                format!("bench prompt number {i} with a lighthouse"),
                i,
                at,
            ));
            let id = uuid::Uuid::now_v7();
            let mut row = bench_image(id, g, user, at, at + chrono::Duration::days(90));
            row.favorite = Set(i % 10 == 0);
            image_rows.push(row);
        }
        generation::Entity::insert_many(gens_rows)
            .exec_without_returning(&s.db)
            .await
            .unwrap();
        image::Entity::insert_many(image_rows)
            .exec_without_returning(&s.db)
            .await
            .unwrap();
    }
    let page = s
        .client
        .get(format!("{}/gallery", s.origin))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&page).contains("gallery-item"),
        "the gallery rendered"
    );
    println!("\n### Gallery page, {n} images, SSR vs the same bytes as a static file (release, SQLite, {} concurrent, {secs} s each)\n", connections());
    s.compare(
        "first gallery page (24 images)",
        "/gallery",
        &cookie,
        "bench-gallery.html",
        &page,
        secs,
    )
    .await;
    s.close().await;
}

#[tokio::main]
async fn main() {
    let jobs: usize = std::env::var("UNI1_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let secs: u64 = std::env::var("UNI1_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    // UNI1_BENCH_ONLY=encoding,queue,pipeline,media,webhooks,gallery runs a subset.
    let only = std::env::var("UNI1_BENCH_ONLY").unwrap_or_default();
    let run = |name: &str| only.is_empty() || only.split(',').any(|o| o.trim() == name);
    if run("encoding") {
        encoding();
    }
    if run("queue") {
        queue_tables(jobs).await;
    }
    if run("media") {
        media(secs).await;
    }
    if run("pipeline") {
        pipeline_tables(jobs.max(400)).await;
    }
    if run("webhooks") {
        webhook_tables(jobs.max(500)).await;
    }
    if run("privacy") {
        privacy_bench(10_000, 1_000).await;
    }
    if run("gallery") {
        let n = std::env::var("UNI1_BENCH_GALLERY_IMAGES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        gallery(n, secs).await;
    }
}

async fn queue_tables(jobs: usize) {
    println!(
        "\n### Submit -> stored, built-in model at 512×512 (release; {jobs} jobs queued at once)\n"
    );
    println!("| database | workers | jobs | run p50 (ms) | run p99 (ms) | submit->stored p50 (ms) | p99 (ms) | jobs/s |");
    println!("|---|---|---|---|---|---|---|---|");
    for workers in [1, 2] {
        let dir =
            std::env::temp_dir().join(format!("uni1-bench-q-{}-{workers}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/q.db?mode=rwc", dir.display());
        println!("{}", queue("SQLite", &url, workers, jobs).await);
        std::fs::remove_dir_all(&dir).ok();
        match postgres::create("uni1_bench").await {
            Some(url) => {
                println!("{}", queue("PostgreSQL", &url, workers, jobs).await);
                postgres::drop(&url).await;
            }
            None => println!("| PostgreSQL | {workers} | not reachable: skipped | | | | | |"),
        }
    }
}

async fn pipeline_tables(jobs: usize) {
    println!(
        "\n### Platform cost per job: a model that answers at once with a 64×64 PNG (release; {jobs} jobs queued at once)\n"
    );
    println!("| database | workers | jobs | run p50 (ms) | run p99 (ms) | submit->stored p50 (ms) | p99 (ms) | jobs/s |");
    println!("|---|---|---|---|---|---|---|---|");
    for workers in [1, 2, 4] {
        let dir =
            std::env::temp_dir().join(format!("uni1-bench-p-{}-{workers}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/p.db?mode=rwc", dir.display());
        println!(
            "{}",
            queue_with("SQLite", &url, workers, jobs, "instant").await
        );
        std::fs::remove_dir_all(&dir).ok();
        match postgres::create("uni1_bench").await {
            Some(url) => {
                println!(
                    "{}",
                    queue_with("PostgreSQL", &url, workers, jobs, "instant").await
                );
                postgres::drop(&url).await;
            }
            None => println!("| PostgreSQL | {workers} | not reachable: skipped | | | | | |"),
        }
    }
}

async fn webhook_tables(orders: usize) {
    println!(
        "\n### Payment webhooks: {orders} signed checkout.session.completed events, each delivered twice, 16 at a time (release)\n"
    );
    println!("| database | deliveries | granted | events/s | p50 (ms) | p99 (ms) |");
    println!("|---|---|---|---|---|---|");
    let dir = std::env::temp_dir().join(format!("uni1-bench-w-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/w.db?mode=rwc", dir.display());
    println!("{}", webhooks("SQLite", &url, orders).await);
    std::fs::remove_dir_all(&dir).ok();
    match postgres::create("uni1_bench").await {
        Some(url) => {
            println!("{}", webhooks("PostgreSQL", &url, orders).await);
            postgres::drop(&url).await;
        }
        None => println!("| PostgreSQL | not reachable: skipped | | | | |"),
    }
}

async fn webhooks(label: &str, database_url: &str, orders: usize) -> String {
    use futures::StreamExt as _;
    use sea_orm::ActiveModelTrait as _;
    use sea_orm::ActiveValue::Set;
    use uni1_domain::entities::order;
    const SECRET: &str = "whsec_bench";
    let mut args = ServeArgs {
        public_url: Some("http://127.0.0.1:9".into()),
        ..Default::default()
    };
    args.database.database_url = Some(database_url.into());
    args.generation.storage = Some(StorageKind::Memory);
    args.generation.worker_slots = Some(0);
    args.billing.stripe_secret_key = Some("sk_test_bench".into());
    args.billing.stripe_webhook_secret = Some(SECRET.into());
    args.billing.stripe_api_url = Some("http://127.0.0.1:9".into());
    let settings = Settings::resolve(args, None).expect("bench settings");
    let db = uni1_server::startup::open_database(&settings.database)
        .await
        .expect("db");
    let key = uni1_domain::support::crypto::AppKey::from_base64(
        &uni1_domain::support::crypto::AppKey::generate_base64(),
    )
    .unwrap();
    let services = uni1_server::startup::Services::build(&settings, db.clone(), key.clone())
        .expect("services");
    let user = new_user(&db, &key, "buyer@bench.test").await;
    let price = uni1_payment_fake::Price::once(500, "usd");
    let mut payloads = Vec::with_capacity(orders * 2);
    for i in 0..orders {
        let id = uuid::Uuid::now_v7();
        let checkout = format!("cs_bench_{i}");
        let now = chrono::Utc::now();
        order::ActiveModel {
            id: Set(id),
            user_id: Set(Some(user)),
            provider: Set("stripe".into()),
            kind: Set("pack".into()),
            item: Set("starter".into()),
            item_name: Set("Starter".into()),
            credits: Set(10),
            amount: Set(500),
            currency: Set("usd".into()),
            status: Set("pending".into()),
            checkout_id: Set(Some(checkout.clone())),
            payment_id: Set(None),
            refunded_amount: Set(0),
            refunded_credits: Set(0),
            invoice_id: Set(None),
            subscription_id: Set(None),
            receipt_url: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            paid_at: Set(None),
        }
        .insert(&db)
        .await
        .unwrap();
        let mut session = uni1_payment_fake::checkout_session(
            &checkout,
            "cus_bench",
            &id.to_string(),
            &price,
            "http://127.0.0.1:9",
            "",
            "",
        );
        session["payment_status"] = "paid".into();
        session["payment_intent"] = format!("pi_bench_{i}").into();
        payloads.push(uni1_payment_fake::event("checkout.session.completed", session).to_string());
    }
    // Each event a second time, later in the stream (a provider's retry).
    payloads.extend(payloads.clone());
    let billing = services.billing.clone();
    let started = Instant::now();
    let mut latencies: Vec<f64> = futures::stream::iter(payloads)
        .map(|payload| {
            let billing = billing.clone();
            async move {
                let header =
                    uni1_payment_fake::signature_header(&payload, SECRET, uni1_payment_fake::now());
                let t = Instant::now();
                billing
                    .stripe_webhook(payload.as_bytes(), Some(&header))
                    .await
                    .expect("webhook handled");
                t.elapsed().as_secs_f64() * 1000.0
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let granted = uni1_domain::entities::credit_ledger::Entity::find()
        .filter(uni1_domain::entities::credit_ledger::Column::UserId.eq(user))
        .filter(
            uni1_domain::entities::credit_ledger::Column::IdempotencyKey.starts_with("purchase:"),
        )
        .count(&db)
        .await
        .unwrap();
    assert_eq!(granted as usize, orders, "every order granted once");
    assert!(uni1_domain::billing::credits::audit(&db, user)
        .await
        .unwrap());
    db.close().await.ok();
    format!(
        "| {label} | {} | {granted} | {:.0} | {:.1} | {:.1} |",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    )
}

/// The resident set size of this process, in KiB (Linux).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs `work` while a thread samples the RSS every 5 ms; returns its
/// result, the time it took and the peak RSS above the level before (KiB).
async fn with_peak<T>(work: impl std::future::Future<Output = T>) -> (T, Duration, u64) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let base = rss_kib();
    let peak = Arc::new(AtomicU64::new(base));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let t = Instant::now();
    let out = work.await;
    let took = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    (out, took, peak.load(Ordering::Relaxed).saturating_sub(base))
}

/// PRV-2 and PRV-3 at size: export then delete an account with `gens_n`
/// generations and `images_n` stored images (real encrypted objects in a
/// local folder).
async fn privacy_bench(gens_n: usize, images_n: usize) {
    use sea_orm::ActiveValue::Set;
    let dir = std::env::temp_dir().join(format!("uni1-bench-privacy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut args = ServeArgs {
        public_url: Some("http://127.0.0.1:9".into()),
        ..Default::default()
    };
    args.database.database_url = Some(format!("sqlite://{}/bench.db?mode=rwc", dir.display()));
    args.database.data_dir = Some(dir.clone());
    args.generation.storage = Some(StorageKind::Local);
    args.generation.storage_dir = Some(dir.join("objects"));
    args.generation.worker_slots = Some(0);
    let settings = Settings::resolve(args, None).expect("bench settings");
    let db = uni1_server::startup::open_database(&settings.database)
        .await
        .unwrap();
    let key = uni1_domain::support::crypto::AppKey::from_base64(
        &uni1_domain::support::crypto::AppKey::generate_base64(),
    )
    .unwrap();
    let services =
        uni1_server::startup::Services::build(&settings, db.clone(), key.clone()).unwrap();
    let user = new_user(&db, &key, "privacy@example.org").await;
    let png = uni1_imaging::render_builtin_png("bench export", 1, 512, 512, None);
    let start = chrono::Utc::now() - chrono::Duration::days(30);
    let seeded = Instant::now();
    for chunk in 0..gens_n.div_ceil(500) {
        let mut gens_rows = Vec::new();
        let mut image_rows = Vec::new();
        for i in chunk * 500..((chunk + 1) * 500).min(gens_n) {
            let at = start + chrono::Duration::seconds(i as i64 * 60);
            let g = uuid::Uuid::now_v7();
            gens_rows.push(succeeded_generation(g, user, format!("bench-privacy-{i:06}"), format!("bench prompt number {i}: a lighthouse on a cliff at dusk, oil painting, warm light"), i, at));
            if i < images_n {
                let id = uuid::Uuid::now_v7();
                let base = format!("users/{user}/images/{id}");
                for variant in ["original.png", "preview-v2.webp", "thumb-v2.webp"] {
                    services
                        .generations
                        .blobs
                        .put(&format!("{base}/{variant}"), &png)
                        .await
                        .unwrap();
                }
                let mut row = bench_image(
                    id,
                    g,
                    user,
                    chrono::Utc::now() - chrono::Duration::days(1),
                    chrono::Utc::now() + chrono::Duration::days(60),
                );
                row.bytes = Set(3 * png.len() as i64);
                image_rows.push(row);
            }
        }
        generation::Entity::insert_many(gens_rows)
            .exec_without_returning(&db)
            .await
            .unwrap();
        if !image_rows.is_empty() {
            image::Entity::insert_many(image_rows)
                .exec_without_returning(&db)
                .await
                .unwrap();
        }
    }
    let seeded = seeded.elapsed();
    let who = uni1_domain::accounts::CurrentUser {
        id: user,
        email: "privacy@example.org".into(),
        display_name: "Bench".into(),
        role: uni1_domain::accounts::Role::User,
        email_confirmed: true,
        session_id: uuid::Uuid::now_v7(),
        deletion_due: None,
        policy_changed: false,
        objected: false,
        picture: None,
    };
    let privacy = services.privacy.clone();
    privacy.request_export(&who).await.unwrap();
    let (built, export_time, export_peak) =
        with_peak(uni1_domain::privacy::export::export_pass(&privacy)).await;
    assert!(built.unwrap(), "an export was built");
    let export = privacy.exports(user).await.unwrap().remove(0);
    assert_eq!(export.status, "ready");
    // Download: read every part back, decrypted, as the route streams it.
    let ((), download_time, download_peak) = with_peak(async {
        let mut d = privacy.open_export(user, export.id).await.unwrap();
        let mut n = 0u64;
        while let Some(part) = d.next_part().await {
            n += part.unwrap().len() as u64;
        }
        assert_eq!(n as i64, export.size_bytes);
    })
    .await;
    uni1_domain::entities::user::Entity::update_many()
        .col_expr(
            uni1_domain::entities::user::Column::DeletionDueAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now()),
        )
        .filter(uni1_domain::entities::user::Column::Id.eq(user))
        .exec(&db)
        .await
        .unwrap();
    let (deleted, delete_time, _) =
        with_peak(uni1_domain::privacy::deletion::deletion_pass(&privacy)).await;
    assert_eq!(deleted.unwrap(), 1);
    let rows_left = generation::Entity::find()
        .filter(generation::Column::UserId.eq(user))
        .count(&db)
        .await
        .unwrap()
        + image::Entity::find()
            .filter(image::Column::UserId.eq(user))
            .count(&db)
            .await
            .unwrap();
    let objects_left = services
        .generations
        .blobs
        .list_prefix(&format!("users/{user}/"))
        .await
        .unwrap()
        .len();
    println!(
        "\n### Privacy center: export and deletion of one account (release, SQLite, local object folder; {gens_n} generations, {images_n} images of {} KiB, 3 objects each; seeded in {:.1} s)\n",
        png.len() / 1024,
        seeded.as_secs_f64()
    );
    println!("| step | time | peak memory above the start | result |\n|---|---|---|---|");
    println!(
        "| build the export (JSON of every row, {images_n} originals decrypted, ZIP written into sealed 8 MiB parts) | {:.2} s | {} MiB | {} MiB ZIP, {} files, {} parts |",
        export_time.as_secs_f64(),
        export_peak / 1024,
        export.size_bytes / (1024 * 1024),
        export.files,
        (export.size_bytes as u64).div_ceil(8 * 1024 * 1024),
    );
    println!(
        "| read it back (every part decrypted, as the download streams it) | {:.2} s | {} MiB | {} bytes |",
        download_time.as_secs_f64(),
        download_peak / 1024,
        export.size_bytes
    );
    println!(
        "| delete the account (objects, rows, goodbye mail) | {:.2} s | | {rows_left} rows and {objects_left} objects of the person left |",
        delete_time.as_secs_f64()
    );
    db.close().await.ok();
    std::fs::remove_dir_all(&dir).ok();
}

/// A succeeded generation row of `user`, made at `at`, for seeding.
fn succeeded_generation(
    id: uuid::Uuid,
    user: uuid::Uuid,
    key: String,
    prompt: String,
    seed: usize,
    at: chrono::DateTime<chrono::Utc>,
) -> generation::ActiveModel {
    use sea_orm::ActiveValue::Set;
    generation::ActiveModel {
        id: Set(id),
        user_id: Set(user),
        idempotency_key: Set(key),
        model_id: Set("builtin".into()),
        backend: Set("builtin".into()),
        prompt: Set(prompt),
        negative_prompt: Set(None),
        aspect_ratio: Set("1:1".into()),
        image_count: Set(1),
        seed_requested: Set(None),
        seed_used: Set(Some(seed as i64)),
        style: Set(None),
        reference_path: Set(None),
        reference_strength: Set(None),
        credits: Set(1),
        status: Set(status::SUCCEEDED),
        attempts: Set(1),
        max_attempts: Set(3),
        run_after: Set(at),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        external_id: Set(None),
        cancel_requested: Set(false),
        error: Set(None),
        error_detail: Set(None),
        parent_id: Set(None),
        queued_at: Set(at),
        started_at: Set(Some(at)),
        finished_at: Set(Some(at)),
        done_notice: Set(None),
        api_key_id: Set(None),
    }
}

/// An image row of `user` for generation `generation`, at the paths its
/// objects have (`users/<user>/images/<id>/…`), for seeding.
fn bench_image(
    id: uuid::Uuid,
    generation: uuid::Uuid,
    user: uuid::Uuid,
    created: chrono::DateTime<chrono::Utc>,
    expires: chrono::DateTime<chrono::Utc>,
) -> image::ActiveModel {
    use sea_orm::ActiveValue::Set;
    image::ActiveModel {
        id: Set(id),
        generation_id: Set(generation),
        user_id: Set(user),
        position: Set(0),
        width: Set(512),
        height: Set(512),
        original_path: Set(format!("users/{user}/images/{id}/original.png")),
        preview_path: Set(format!("users/{user}/images/{id}/preview-v2.webp")),
        thumb_path: Set(format!("users/{user}/images/{id}/thumb-v2.webp")),
        bytes: Set(0),
        key_id: Set("bench".into()),
        created_at: Set(created),
        expires_at: Set(expires),
        purged_at: Set(None),
        favorite: Set(false),
        published_at: Set(None),
        hidden_at: Set(None),
        reminded_at: Set(None),
        taken_down_at: Set(None),
    }
}
