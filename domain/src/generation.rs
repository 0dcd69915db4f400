//! Generation (GEN-1..4, PAY-3, ANA-2): from a prompt to stored images.
//!
//! One transaction reserves the credits and queues the job, keyed by the
//! client's idempotency key -> a worker claims it (`FOR UPDATE SKIP LOCKED`
//! on PostgreSQL, a single atomic `UPDATE … RETURNING` on SQLite) and holds a
//! lease it renews -> calls the model back-end -> encodes and stores the
//! images, encrypted -> one transaction marks the job done and captures the
//! credits. Failure, refusal, cancellation or an exhausted retry budget
//! releases them instead. A reaper re-queues jobs whose worker stopped
//! renewing its lease, so a killed worker's job is finished by another.
//!
//! - [`catalog`]: the configured models and what each costs.
//! - [`request`]: parsing what the studio sends.
//! - [`policy`]: the content policy (blocked terms, a moderation hook).
//! - [`output_check`]: every output checked before its owner sees it.
//! - [`service`]: submit, list, cancel: what the web layer calls.
//! - [`queue`]: claim, renew, finish, retry, reap.
//! - [`worker`]: the loop that runs jobs.
//! - [`retention`]: purging images whose download window ended.
//! - [`progress`]: the progress streams (one poll per person, capped).
//! - [`decoding`]: the bound on concurrent decodes of untrusted images.
//! - [`notify`]: wake-ups across processes (PostgreSQL `LISTEN`/`NOTIFY`).

pub mod catalog;
pub mod decoding;
pub mod notify;
pub mod output_check;
pub mod policy;
pub mod progress;
pub mod queue;
pub mod request;
pub mod retention;
pub mod service;
pub mod variants;
pub mod worker;

pub use catalog::{Catalog, ModelEntry};
pub use policy::ContentPolicy;
pub use request::{Submission, SubmitInput};
pub use service::{GenerationView, Generations, ImageView, SubmitError};

pub use crate::entities::generation::Status;

/// Job states (`generations.status`), as short names for [`Status`].
pub mod status {
    use super::Status;
    pub const QUEUED: Status = Status::Queued;
    pub const RUNNING: Status = Status::Running;
    pub const SUCCEEDED: Status = Status::Succeeded;
    pub const FAILED: Status = Status::Failed;
    pub const REFUSED: Status = Status::Refused;
    pub const CANCELLED: Status = Status::Cancelled;
}

/// Tunables for the queue, from configuration.
#[derive(Debug, Clone)]
pub struct QueuePolicy {
    /// Jobs one person may have queued or running at once.
    pub max_pending_per_user: u64,
    /// Jobs of one person that run at the same time.
    pub max_running_per_user: u64,
    /// Attempts before a retryable failure becomes final.
    pub max_attempts: i32,
    /// How long a claim lasts without renewal.
    pub lease: std::time::Duration,
    /// How often an idle worker looks for work (it is also woken by
    /// submissions in its own process).
    pub poll_interval: std::time::Duration,
    /// First retry delay; doubles per attempt.
    pub retry_base: std::time::Duration,
    /// How long images can be downloaded (STO-4).
    pub retention: chrono::Duration,
    /// At shutdown, how long running jobs may finish before the worker
    /// hands them back to the queue (see [`worker::run`]).
    pub shutdown_grace: std::time::Duration,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        Self {
            max_pending_per_user: 8,
            max_running_per_user: 2,
            max_attempts: 3,
            lease: std::time::Duration::from_secs(60),
            poll_interval: std::time::Duration::from_secs(1),
            retry_base: std::time::Duration::from_secs(5),
            retention: chrono::Duration::days(90),
            shutdown_grace: std::time::Duration::from_secs(25),
        }
    }
}

/// Where a user's objects live: everything under `users/<id>/`, so account
/// deletion reaches all of it with one prefix.
pub fn user_prefix(user: uuid::Uuid) -> String {
    format!("users/{user}/")
}
