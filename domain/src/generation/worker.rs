//! The worker: claims jobs, runs them on their model back-end, stores the
//! images and settles the credits. `uni1 serve` runs one in-process by
//! default; `uni1 worker` runs it alone, on any machine that reaches the
//! same database and object store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use tokio::sync::{Notify, Semaphore};
use uni1_models::{GenerationRequest, ImageData, JobHooks, Outcome, Reference};
use uuid::Uuid;

use super::catalog::ModelEntry;
use super::queue::{self, StoredImage};
use super::service::Generations;
use super::{status, user_prefix};
use crate::entities::generation;
use crate::support::error::Unexpected;

/// A worker identity: host, process and a random part, so leases name who
/// holds them.
pub fn worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &Uuid::new_v4().simple().to_string()[..8]
    )
}

/// How often to re-queue jobs whose lease ran out: often, since other
/// processes may hold shorter leases than ours (the query is one indexed
/// read when nothing is stale).
pub fn reap_interval(gens: &Generations) -> std::time::Duration {
    (gens.queue.lease / 2).min(std::time::Duration::from_secs(2))
}

/// How often the sweepers (unused uploads, expired images) run: they have
/// hours of slack.
pub const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// One reaper pass: jobs of dead workers go back to the queue.
pub async fn reap_pass(gens: &Generations) {
    if let Err(e) = queue::reap(&gens.db).await {
        tracing::error!(error = ?e, "reaper failed");
    }
}

/// One sweeper pass: unused uploads and expired images are deleted.
pub async fn sweep_pass(gens: &Generations) {
    if let Err(e) = gens.sweep_uploads().await {
        tracing::error!(error = ?e, "upload sweeper failed");
    }
    if let Err(e) = super::retention::sweep_expired(gens, chrono::Utc::now(), 100).await {
        tracing::error!(error = ?e, "retention sweeper failed");
    }
}

/// Runs until `shutdown` resolves, with up to `slots` jobs at once. The
/// reaper and sweepers are separate periodic passes ([`reap_pass`],
/// [`sweep_pass`]) that the process runs beside it.
///
/// Graceful shutdown: once `shutdown` resolves the worker claims nothing
/// more and lets the jobs in hand finish for up to
/// [`super::QueuePolicy::shutdown_grace`]; the ones still running then are
/// stopped and handed back to the queue ([`queue::hand_back`]: the lease
/// released, so another worker claims them at once, the credits still
/// held, to be captured or released once by whoever finishes them). It
/// returns when every job is finished or handed back. A job whose hand-back
/// fails (the database is away) is found by the reaper when its lease
/// expires, as after a crash.
pub async fn run(
    gens: Generations,
    id: String,
    slots: usize,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tracing::info!(worker = %id, slots, "worker started");
    let permits = Arc::new(Semaphore::new(slots.max(1)));
    let hand_back = tokio::sync::watch::Sender::new(false);
    let mut running = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while running.try_join_next().is_some() {}
        // `biased`: once the signal came, no free slot claims another job.
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let claimed = queue::claim(
            &gens.db,
            &id,
            gens.queue.lease,
            gens.queue.max_running_per_user,
        )
        .await;
        match claimed {
            Ok(Some(job)) => {
                let gens = gens.clone();
                let id = id.clone();
                let stop = hand_back.subscribe();
                running.spawn(async move {
                    process_until(&gens, &id, job, stop).await;
                    drop(permit);
                });
            }
            Ok(None) => {
                drop(permit);
                tokio::select! {
                    () = &mut shutdown => break,
                    () = gens.wake.notified() => {},
                    () = tokio::time::sleep(gens.queue.poll_interval) => {},
                }
            }
            Err(e) => {
                drop(permit);
                tracing::error!(error = ?e, "claiming a job failed");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(gens.queue.poll_interval * 2) => {},
                }
            }
        }
    }
    let grace = gens.queue.shutdown_grace;
    if !running.is_empty() {
        tracing::info!(worker = %id, jobs = running.len(), ?grace, "stopping: running jobs may finish");
    }
    let finished = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(worker = %id, jobs = running.len(), "grace period over: handing running jobs back");
        hand_back.send_replace(true);
        while running.join_next().await.is_some() {}
    }
    tracing::info!(worker = %id, "worker stopped");
}

struct Hooks<'a> {
    gens: &'a Generations,
    job: Uuid,
    worker: &'a str,
}

#[async_trait::async_trait]
impl JobHooks for Hooks<'_> {
    async fn submitted(&self, external_id: &str) {
        if let Err(e) =
            queue::set_external_id(&self.gens.db, self.job, self.worker, external_id).await
        {
            tracing::error!(error = ?e, job = %self.job, "cannot record the provider's job id");
        }
    }
    async fn cancelled(&self) -> bool {
        queue::cancel_requested(&self.gens.db, self.job)
            .await
            .unwrap_or(false)
    }
}

/// Runs one claimed job to its end (or until its lease is lost).
pub async fn process(gens: &Generations, worker: &str, job: generation::Model) {
    let (_keep, stop) = tokio::sync::watch::channel(false);
    process_until(gens, worker, job, stop).await;
}

/// [`process`], or until `hand_back` turns true: then the job is stopped
/// where it is and handed back to the queue ([`queue::hand_back`]).
async fn process_until(
    gens: &Generations,
    worker: &str,
    job: generation::Model,
    mut hand_back: tokio::sync::watch::Receiver<bool>,
) {
    let started = Instant::now();
    // Runnable since it was queued, or since its retry time.
    let runnable = job.queued_at.max(job.run_after);
    let waited = (chrono::Utc::now() - runnable).to_std().unwrap_or_default();
    metrics::histogram!(crate::metrics::GENERATION_QUEUE_WAIT_SECONDS).record(waited.as_secs_f64());
    let lost = Arc::new(AtomicBool::new(false));
    let lost_signal = Arc::new(Notify::new());
    let heartbeat = {
        let db = gens.db.clone();
        let lease = gens.queue.lease;
        let worker = worker.to_owned();
        let lost = lost.clone();
        let lost_signal = lost_signal.clone();
        let job_id = job.id;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                match queue::renew(&db, job_id, &worker, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        lost.store(true, Ordering::SeqCst);
                        lost_signal.notify_one();
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = ?e, job = %job_id, "lease renewal failed; will retry")
                    }
                }
            }
        })
    };
    let result = tokio::select! {
        r = run_job(gens, worker, &job) => r,
        () = lost_signal.notified() => Ok("lease lost"),
        // Shutdown after the grace period: whatever the job did so far is
        // dropped (an open transaction rolls back); a result committed
        // just before makes the hand-back find nothing to hand back.
        true = async { hand_back.wait_for(|h| *h).await.is_ok() } => match queue::hand_back(&gens.db, job.id, worker).await {
            Ok(true) => Ok("handed back"),
            Ok(false) => Ok("lease lost"),
            Err(e) => Err(e),
        },
    };
    heartbeat.abort();
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = ?e, job = %job.id, "job failed unexpectedly; its lease will expire and it will be retried");
            "error"
        }
    };
    if lost.load(Ordering::SeqCst) {
        tracing::warn!(job = %job.id, "lease lost; another worker owns the job now");
    }
    let elapsed = started.elapsed();
    metrics::counter!(
        crate::metrics::GENERATION_JOBS_TOTAL,
        "model" => job.model_id.clone(),
        "outcome" => outcome_label(outcome)
    )
    .increment(1);
    metrics::histogram!(
        crate::metrics::GENERATION_DURATION_SECONDS,
        "model" => job.model_id.clone()
    )
    .record(elapsed.as_secs_f64());
    tracing::info!(
        job = %job.id,
        model = %job.model_id,
        backend = %job.backend,
        attempt = job.attempts,
        elapsed_ms = elapsed.as_millis() as u64,
        outcome,
        "generation finished"
    );
}

/// The `outcome` label of an attempt's end, one of a few words.
fn outcome_label(outcome: &str) -> &'static str {
    match outcome {
        "succeeded" => "succeeded",
        "failed" | "model missing" => "failed",
        "refused" => "refused",
        "cancelled" => "cancelled",
        "retry later" => "retried",
        "lease lost" | "lease lost before storing" => "lease_lost",
        "handed back" => "handed_back",
        _ => "error",
    }
}

/// The `status` label of a back-end's answer.
fn answer_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded { .. } => "succeeded",
        Outcome::Refused { .. } => "refused",
        Outcome::Failed {
            retryable: true, ..
        } => "retryable_error",
        Outcome::Failed { .. } => "error",
        Outcome::Cancelled => "cancelled",
    }
}

const FAILED_TEXT: &str = "The image service failed. The credits were returned.";

async fn run_job(
    gens: &Generations,
    worker: &str,
    job: &generation::Model,
) -> Result<&'static str, Unexpected> {
    let Some(model) = gens.catalog.get(&job.model_id) else {
        queue::finish_without_images(
            &gens.db,
            job,
            Some(worker),
            status::FAILED,
            Some("This model is no longer offered. The credits were returned.".into()),
            Some(format!("model {} is not configured", job.model_id)),
        )
        .await?;
        return Ok("model missing");
    };
    let reference = match &job.reference_path {
        None => None,
        Some(path) => match gens.blobs.get(path).await {
            Ok(png) => Some(Reference {
                png,
                strength: job.reference_strength.unwrap_or(0.5) as f32,
            }),
            Err(e) => {
                tracing::warn!(error = %e, job = %job.id, "reference image unreadable");
                None
            }
        },
    };
    let request = GenerationRequest {
        prompt: job.prompt.clone(),
        negative_prompt: job.negative_prompt.clone(),
        aspect_ratio: uni1_models::AspectRatio::parse(&job.aspect_ratio)
            .unwrap_or(uni1_models::AspectRatio::Square),
        count: u8::try_from(job.image_count).unwrap_or(1),
        seed: job.seed_requested.map(|s| s as u64),
        style: job.style.clone(),
        reference,
        resume_external_id: job.external_id.clone(),
    };
    let hooks = Hooks {
        gens,
        job: job.id,
        worker,
    };
    let outcome = model.model.generate(&request, &hooks).await;
    metrics::counter!(
        crate::metrics::MODEL_REQUESTS_TOTAL,
        "backend" => model.model.backend(),
        "status" => answer_label(&outcome)
    )
    .increment(1);
    let cancel = queue::cancel_requested(&gens.db, job.id)
        .await
        .unwrap_or(false);
    // Cancelled by the owner while it ran: whatever the back-end made is not
    // kept, and not charged.
    let outcome = if cancel { Outcome::Cancelled } else { outcome };
    let done = match outcome {
        Outcome::Cancelled => {
            finish(
                gens,
                job,
                worker,
                status::CANCELLED,
                "Cancelled. The credits were returned.",
                None,
            )
            .await?;
            "cancelled"
        }
        Outcome::Refused { reason } => {
            let text = format!("The model refused this prompt: {reason} No credits were charged.");
            finish(gens, job, worker, status::REFUSED, &text, Some(reason)).await?;
            "refused"
        }
        Outcome::Failed { retryable, message } => {
            fail(gens, job, worker, retryable, message).await?
        }
        Outcome::Succeeded { images, seed } => match store(gens, job, model, images).await {
            Ok(Checked::Refused { png, reason }) => {
                tracing::warn!(job = %job.id, %reason, "output refused by the output check");
                if super::output_check::refuse(gens, job, worker, &png, &reason).await? {
                    delete_reference(gens, job).await;
                    mark_for_mail(gens, job).await;
                    "output refused"
                } else {
                    "lease lost before refusing"
                }
            }
            Ok(Checked::Stored(stored)) => {
                let paths: Vec<String> = stored
                    .iter()
                    .flat_map(|s| {
                        [
                            s.original_path.clone(),
                            s.preview_path.clone(),
                            s.thumb_path.clone(),
                        ]
                    })
                    .collect();
                let seed = seed.or(request.seed);
                if queue::succeed(&gens.db, job, worker, seed, stored, gens.queue.retention).await?
                {
                    delete_reference(gens, job).await;
                    mark_for_mail(gens, job).await;
                    "succeeded"
                } else {
                    for p in paths {
                        gens.blobs.delete(&p).await.ok();
                    }
                    "lease lost before storing"
                }
            }
            Err((retryable, message)) => fail(gens, job, worker, retryable, message).await?,
        },
    };
    Ok(done)
}

async fn finish(
    gens: &Generations,
    job: &generation::Model,
    worker: &str,
    final_status: super::Status,
    text: &str,
    detail: Option<String>,
) -> Result<(), Unexpected> {
    if queue::finish_without_images(
        &gens.db,
        job,
        Some(worker),
        final_status,
        Some(text.into()),
        detail,
    )
    .await?
    {
        delete_reference(gens, job).await;
        if final_status != status::CANCELLED {
            mark_for_mail(gens, job).await;
        }
    }
    Ok(())
}

/// Marks an ended job for a mail to its owner if they asked for one and
/// were not watching (MAIL-1; a web process queues it).
async fn mark_for_mail(gens: &Generations, job: &generation::Model) {
    if let Err(e) = crate::mail::notices::mark_if_due(&gens.db, job.id, chrono::Utc::now()).await {
        tracing::warn!(error = ?e, job = %job.id, "cannot mark a finished job for a mail");
    }
}

async fn fail(
    gens: &Generations,
    job: &generation::Model,
    worker: &str,
    retryable: bool,
    message: String,
) -> Result<&'static str, Unexpected> {
    if retryable && job.attempts < job.max_attempts {
        let exp = u32::try_from(job.attempts.max(1) - 1).unwrap_or(0).min(6);
        let delay = gens.queue.retry_base * 2u32.pow(exp);
        let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(30));
        queue::retry_later(&gens.db, job.id, worker, delay, &message).await?;
        tracing::warn!(job = %job.id, attempt = job.attempts, %message, "retryable failure; re-queued");
        return Ok("retry later");
    }
    tracing::warn!(job = %job.id, attempt = job.attempts, %message, "generation failed");
    finish(
        gens,
        job,
        worker,
        status::FAILED,
        FAILED_TEXT,
        Some(message),
    )
    .await?;
    Ok("failed")
}

async fn delete_reference(gens: &Generations, job: &generation::Model) {
    if let Some(path) = &job.reference_path {
        if let Err(e) = gens.blobs.delete(path).await {
            tracing::warn!(error = %e, "cannot delete a used reference image");
        }
    }
}

/// What became of a job's outputs.
enum Checked {
    /// All passed the output check and are stored.
    Stored(Vec<StoredImage>),
    /// One was refused by the output check; nothing was stored.
    Refused { png: Vec<u8>, reason: String },
}

/// Turns back-end outputs into variants, passes each through the output
/// check (GEN-4), and stores them encrypted. Errors carry (retryable,
/// message for operators).
async fn store(
    gens: &Generations,
    job: &generation::Model,
    model: &ModelEntry,
    images: Vec<ImageData>,
) -> Result<Checked, (bool, String)> {
    if images.is_empty() {
        return Err((true, "the back-end returned no images".into()));
    }
    // Back-ends refuse extra images already; this holds for any back-end.
    if images.len() > usize::try_from(job.image_count).unwrap_or(0) {
        return Err((
            false,
            format!(
                "the back-end returned {} images, more than the {} requested",
                images.len(),
                job.image_count
            ),
        ));
    }
    let mut prepared = Vec::with_capacity(images.len());
    for data in images {
        prepared.push(prepare_one(model, data).await?);
    }
    for variants in &prepared {
        match gens.output.check(&variants.original_png, &job.prompt).await {
            Ok(super::output_check::Verdict::Allowed) => {}
            Ok(super::output_check::Verdict::Refused(reason)) => {
                return Ok(Checked::Refused {
                    png: variants.original_png.clone(),
                    reason,
                })
            }
            Err(e) => {
                return Err((
                    e.retryable,
                    format!("the output check failed: {}", e.message),
                ))
            }
        }
    }
    let mut stored = Vec::with_capacity(prepared.len());
    let mut written: Vec<String> = Vec::new();
    for variants in prepared {
        let result = store_one(gens, job, variants, &mut written).await;
        match result {
            Ok(s) => stored.push(s),
            Err(e) => {
                for p in &written {
                    gens.blobs.delete(p).await.ok();
                }
                return Err(e);
            }
        }
    }
    Ok(Checked::Stored(stored))
}

/// Decodes one back-end output into the stored variants (not yet stored).
async fn prepare_one(
    model: &ModelEntry,
    data: ImageData,
) -> Result<uni1_imaging::Variants, (bool, String)> {
    let limits = uni1_imaging::Limits::MODEL_OUTPUT;
    let bytes = match data {
        ImageData::Bytes(b) => b,
        ImageData::Base64(s) => base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|e| (false, format!("the back-end sent invalid base64: {e}")))?,
        // Through the model's own outbound client: its output hosts only,
        // public addresses only, no redirects, capped.
        ImageData::Url(url) => model
            .model
            .fetch_output(&url, limits.max_bytes)
            .await
            .map_err(|e| {
                (
                    e.retryable,
                    format!("cannot fetch the output: {}", e.message),
                )
            })?,
    };
    super::decoding::DecodeGate::global()
        .run(move || uni1_imaging::variants(&bytes, &limits))
        .await
        .map_err(|e| (true, format!("encoder task failed: {e}")))?
        .map_err(|e| (false, format!("the back-end's image is unusable: {e}")))
}

async fn store_one(
    gens: &Generations,
    job: &generation::Model,
    variants: uni1_imaging::Variants,
    written: &mut Vec<String>,
) -> Result<StoredImage, (bool, String)> {
    let id = Uuid::now_v7();
    let base = format!("{}images/{id}", user_prefix(job.user_id));
    let [original_path, preview_path, thumb_path] = super::variants::object_paths(&base);
    let mut key_id = String::new();
    for (path, body) in [
        (&original_path, &variants.original_png),
        (&preview_path, &variants.preview_webp),
        (&thumb_path, &variants.thumb_webp),
    ] {
        key_id = gens
            .blobs
            .put(path, body)
            .await
            .map_err(|e| (true, format!("cannot store {path}: {e}")))?;
        written.push(path.clone());
    }
    Ok(StoredImage {
        id,
        width: variants.width,
        height: variants.height,
        bytes: (variants.original_png.len()
            + variants.preview_webp.len()
            + variants.thumb_webp.len()) as i64,
        original_path,
        preview_path,
        thumb_path,
        key_id,
    })
}
