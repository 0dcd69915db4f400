//! Service health for operators (ANA-2): the figures of the staff Health
//! page ([`Admin::health`]) and the service-wide gauges `/metrics` reads
//! from the database at scrape time ([`record_service_gauges`]).
//!
//! Everything is computed from the tables the service already keeps: the
//! job queue (`generations`), the mail outbox and the payment events.
//! There is no heartbeat table: a worker is seen through the leases of the
//! jobs it runs, so an idle worker does not show. Generation times are from
//! a job's first start to its end, over the jobs that ended in the window
//! (at most [`SAMPLE`] of them, the latest).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uni1_storage::Blobs;

use super::{Admin, AdminError, Staff};
use crate::entities::generation::{self, Status};
use crate::entities::{mail_outbox, payment_event, payment_event_failure, webhook_delivery};
use crate::support::error::{ResultExt, Unexpected};

/// At most this many ended jobs are read for the times and error rates of
/// the last day.
pub const SAMPLE: u64 = 50_000;

/// How many failed jobs the page lists with their operator detail.
pub const RECENT_ERRORS: u64 = 10;

/// How long a reachability probe may take before it counts as a failure.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Jobs in one unfinished state.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueLine {
    /// `queued` or `running`.
    pub status: &'static str,
    pub jobs: u64,
    /// When the oldest of them was queued (`queued`) or first started
    /// (`running`).
    pub oldest: Option<DateTime<Utc>>,
}

/// A worker seen through the jobs it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerLine {
    /// The worker's id (host, process, random part).
    pub worker: String,
    pub running: u64,
    /// The latest lease it holds runs until then.
    pub lease_until: DateTime<Utc>,
    /// Its lease is still valid: it renewed in time.
    pub alive: bool,
}

/// How jobs ended in one time window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    pub succeeded: u64,
    pub failed: u64,
    pub refused: u64,
    pub cancelled: u64,
    /// Median and 95th percentile of first start to end, of succeeded jobs.
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
}

impl Window {
    /// Failed out of succeeded and failed (refusals and cancellations are
    /// not errors of the service); `None` without either.
    pub fn error_rate(&self) -> Option<f64> {
        let ended = self.succeeded + self.failed;
        (ended > 0).then(|| self.failed as f64 / ended as f64)
    }
}

/// One model's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelLine {
    pub model: String,
    pub hour: Window,
    pub day: Window,
}

/// A failed job as operators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorLine {
    pub at: DateTime<Utc>,
    pub model: String,
    pub attempts: i32,
    /// The operator-side text (a back-end's message), never shown to the
    /// person.
    pub detail: String,
}

/// The mail outbox.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MailLine {
    /// Neither sent nor given up.
    pub pending: u64,
    /// Pending and due now (not waiting for a retry or a paced send).
    pub due: u64,
    /// The longest-waiting due mail was due since then.
    pub oldest_due: Option<DateTime<Utc>>,
    /// Given up in the last day.
    pub failed_day: u64,
}

/// Payment webhook events of the last day with their outcomes (they are
/// applied when they arrive; one that fails rolls back, waits for the
/// provider's retry and is counted in `failing`), and the backlog of the
/// webhooks uni1 sends to people's endpoints.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookLine {
    pub applied: u64,
    pub ignored: u64,
    pub refused: u64,
    pub last_received: Option<DateTime<Utc>>,
    /// Verified events that failed to apply, waiting for the provider's
    /// retry or an admin (the payments page).
    pub failing: u64,
    /// People's outbound webhooks neither delivered nor given up.
    pub outbound_pending: u64,
    /// Of those, due now (not waiting for a retry).
    pub outbound_due: u64,
    /// Outbound deliveries given up in the last day.
    pub outbound_failed_day: u64,
}

/// Whether a dependency answered, and how fast.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub ok: bool,
    pub took: Duration,
}

/// Everything the Health page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub at: DateTime<Utc>,
    pub queue: Vec<QueueLine>,
    pub workers: Vec<WorkerLine>,
    /// All models together.
    pub overall: ModelLine,
    pub models: Vec<ModelLine>,
    /// More jobs ended in the last day than [`SAMPLE`]: the day's figures
    /// are of the latest ones.
    pub sampled: bool,
    pub errors: Vec<ErrorLine>,
    pub mail: MailLine,
    pub webhooks: WebhookLine,
    pub database: Probe,
    pub storage: Probe,
}

impl Admin {
    /// The Health page's figures at `now` (support and admin); `blobs` is
    /// the object store whose reachability is shown.
    pub async fn health(
        &self,
        _staff: &Staff,
        blobs: &Blobs,
        now: DateTime<Utc>,
    ) -> Result<Health, AdminError> {
        let database = probe(async { self.db.ping().await.is_ok() }).await;
        let storage = probe(async {
            // A HEAD of a path nothing is stored at: answered "no such
            // object" by a reachable store.
            match blobs.exists("health/probe").await {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "the object store did not answer the health probe");
                    false
                }
            }
        })
        .await;
        let queue = queue(&self.db).await?;
        let workers = workers(&self.db, now).await?;
        let (overall, models, sampled) = times(&self.db, now).await?;
        Ok(Health {
            at: now,
            queue,
            workers,
            overall,
            models,
            sampled,
            errors: recent_errors(&self.db).await?,
            mail: mail(&self.db, now).await?,
            webhooks: webhooks(&self.db, now).await?,
            database,
            storage,
        })
    }
}

async fn probe(check: impl std::future::Future<Output = bool>) -> Probe {
    let started = std::time::Instant::now();
    let ok = tokio::time::timeout(PROBE_TIMEOUT, check)
        .await
        .unwrap_or(false);
    Probe {
        ok,
        took: started.elapsed(),
    }
}

/// Queued and running jobs, with the oldest of each.
async fn queue(db: &DatabaseConnection) -> Result<Vec<QueueLine>, Unexpected> {
    let mut lines = Vec::new();
    for (status, since) in [
        (Status::Queued, generation::Column::QueuedAt),
        (Status::Running, generation::Column::StartedAt),
    ] {
        let jobs = generation::Entity::find()
            .filter(generation::Column::Status.eq(status))
            .count(db)
            .await
            .unexpected("counting the job queue")?;
        let oldest = generation::Entity::find()
            .select_only()
            .column(since)
            .filter(generation::Column::Status.eq(status))
            .filter(since.is_not_null())
            .order_by_asc(since)
            .limit(1)
            .into_tuple::<DateTime<Utc>>()
            .one(db)
            .await
            .unexpected("reading the oldest job")?;
        lines.push(QueueLine {
            status: status.as_str(),
            jobs,
            oldest,
        });
    }
    Ok(lines)
}

/// The workers holding leases on running jobs.
async fn workers(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Vec<WorkerLine>, Unexpected> {
    let leases = generation::Entity::find()
        .select_only()
        .column(generation::Column::LeaseOwner)
        .column(generation::Column::LeaseExpiresAt)
        .filter(generation::Column::Status.eq(Status::Running))
        .filter(generation::Column::LeaseOwner.is_not_null())
        .into_tuple::<(String, Option<DateTime<Utc>>)>()
        .all(db)
        .await
        .unexpected("reading the workers' leases")?;
    let mut workers: Vec<WorkerLine> = Vec::new();
    for (worker, until) in leases {
        let until = until.unwrap_or(now);
        match workers.iter_mut().find(|w| w.worker == worker) {
            Some(w) => {
                w.running += 1;
                w.lease_until = w.lease_until.max(until);
                w.alive = w.lease_until > now;
            }
            None => workers.push(WorkerLine {
                worker,
                running: 1,
                lease_until: until,
                alive: until > now,
            }),
        }
    }
    workers.sort_by(|a, b| a.worker.cmp(&b.worker));
    Ok(workers)
}

/// Per model and overall: outcomes and times of the jobs that ended in the
/// last hour and day.
async fn times(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<(ModelLine, Vec<ModelLine>, bool), Unexpected> {
    let day_ago = now - chrono::Duration::days(1);
    let hour_ago = now - chrono::Duration::hours(1);
    let rows = generation::Entity::find()
        .select_only()
        .column(generation::Column::ModelId)
        .column(generation::Column::Status)
        .column(generation::Column::StartedAt)
        .column(generation::Column::FinishedAt)
        .filter(generation::Column::FinishedAt.gte(day_ago))
        .order_by_desc(generation::Column::FinishedAt)
        .limit(SAMPLE)
        .into_tuple::<(String, String, Option<DateTime<Utc>>, DateTime<Utc>)>()
        .all(db)
        .await
        .unexpected("reading the last day's jobs")?;
    let sampled = rows.len() as u64 >= SAMPLE;
    let mut models: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    models.sort();
    models.dedup();
    let line = |model: Option<&str>| {
        let of_model = |r: &&(String, String, Option<DateTime<Utc>>, DateTime<Utc>)| {
            model.is_none_or(|m| r.0 == m)
        };
        let window = |since: DateTime<Utc>| {
            window(
                rows.iter()
                    .filter(of_model)
                    .filter(|r| r.3 >= since)
                    .map(|r| (r.1.as_str(), r.2.map(|s| r.3 - s))),
            )
        };
        ModelLine {
            model: model.unwrap_or("all models").to_owned(),
            hour: window(hour_ago),
            day: window(day_ago),
        }
    };
    let overall = line(None);
    let per_model = models.iter().map(|m| line(Some(m))).collect();
    Ok((overall, per_model, sampled))
}

/// Counts outcomes and takes the percentiles of succeeded jobs' times.
fn window<'a>(jobs: impl Iterator<Item = (&'a str, Option<chrono::Duration>)>) -> Window {
    let mut w = Window::default();
    let mut took: Vec<Duration> = Vec::new();
    for (status, time) in jobs {
        match status {
            "succeeded" => {
                w.succeeded += 1;
                if let Some(t) = time.and_then(|t| t.to_std().ok()) {
                    took.push(t);
                }
            }
            "failed" => w.failed += 1,
            "refused" => w.refused += 1,
            "cancelled" => w.cancelled += 1,
            _ => {}
        }
    }
    took.sort();
    w.p50 = percentile(&took, 50);
    w.p95 = percentile(&took, 95);
    w
}

/// The nearest-rank percentile `p` of sorted `values`.
pub fn percentile(sorted: &[Duration], p: usize) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// The latest failed jobs with their operator-side detail.
async fn recent_errors(db: &DatabaseConnection) -> Result<Vec<ErrorLine>, Unexpected> {
    let rows = generation::Entity::find()
        .select_only()
        .column(generation::Column::FinishedAt)
        .column(generation::Column::ModelId)
        .column(generation::Column::Attempts)
        .column(generation::Column::ErrorDetail)
        .filter(generation::Column::Status.eq(Status::Failed))
        .filter(generation::Column::FinishedAt.is_not_null())
        .order_by_desc(generation::Column::FinishedAt)
        .limit(RECENT_ERRORS)
        .into_tuple::<(DateTime<Utc>, String, i32, Option<String>)>()
        .all(db)
        .await
        .unexpected("reading failed jobs")?;
    Ok(rows
        .into_iter()
        .map(|(at, model, attempts, detail)| ErrorLine {
            at,
            model,
            attempts,
            detail: detail
                .map(|d| crate::support::audit::truncate(&d, 500))
                .unwrap_or_else(|| "(no detail recorded)".to_owned()),
        })
        .collect())
}

fn pending_mail() -> sea_orm::Select<mail_outbox::Entity> {
    mail_outbox::Entity::find()
        .filter(mail_outbox::Column::SentAt.is_null())
        .filter(mail_outbox::Column::FailedAt.is_null())
}

async fn mail(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<MailLine, Unexpected> {
    let pending = pending_mail()
        .count(db)
        .await
        .unexpected("counting pending mail")?;
    let due = pending_mail()
        .filter(mail_outbox::Column::SendAfter.lte(now))
        .count(db)
        .await
        .unexpected("counting due mail")?;
    let oldest_due = pending_mail()
        .select_only()
        .column(mail_outbox::Column::SendAfter)
        .filter(mail_outbox::Column::SendAfter.lte(now))
        .order_by_asc(mail_outbox::Column::SendAfter)
        .limit(1)
        .into_tuple::<DateTime<Utc>>()
        .one(db)
        .await
        .unexpected("reading the oldest due mail")?;
    let failed_day = mail_outbox::Entity::find()
        .filter(mail_outbox::Column::FailedAt.gte(now - chrono::Duration::days(1)))
        .count(db)
        .await
        .unexpected("counting failed mail")?;
    Ok(MailLine {
        pending,
        due,
        oldest_due,
        failed_day,
    })
}

async fn webhooks(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<WebhookLine, Unexpected> {
    let rows = payment_event::Entity::find()
        .select_only()
        .column(payment_event::Column::Outcome)
        .column(payment_event::Column::ReceivedAt)
        .filter(payment_event::Column::ReceivedAt.gte(now - chrono::Duration::days(1)))
        .into_tuple::<(String, DateTime<Utc>)>()
        .all(db)
        .await
        .unexpected("reading payment events")?;
    let pending = || {
        webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::DeliveredAt.is_null())
            .filter(webhook_delivery::Column::FailedAt.is_null())
    };
    let mut line = WebhookLine {
        failing: payment_event_failure::Entity::find()
            .count(db)
            .await
            .unexpected("counting failed payment events")?,
        outbound_pending: pending()
            .count(db)
            .await
            .unexpected("counting webhook deliveries")?,
        outbound_due: pending()
            .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
            .count(db)
            .await
            .unexpected("counting webhook deliveries")?,
        outbound_failed_day: webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::FailedAt.gte(now - chrono::Duration::days(1)))
            .count(db)
            .await
            .unexpected("counting webhook deliveries")?,
        ..WebhookLine::default()
    };
    for (outcome, at) in rows {
        if outcome.starts_with("ignored") {
            line.ignored += 1;
        } else if outcome.starts_with("refused") {
            line.refused += 1;
        } else {
            line.applied += 1;
        }
        line.last_received = line.last_received.max(Some(at));
    }
    Ok(line)
}

/// Sets the service-wide gauges of `/metrics` from the database, and the
/// pool gauge from this process's pool.
pub async fn record_service_gauges(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<(), Unexpected> {
    use crate::metrics::{
        GENERATION_QUEUE_DEPTH, GENERATION_QUEUE_OLDEST_SECONDS, MAIL_OUTBOX_PENDING,
    };
    pool_gauges(db);
    let queue = queue(db).await?;
    for line in &queue {
        metrics::gauge!(GENERATION_QUEUE_DEPTH, "status" => line.status).set(line.jobs as f64);
    }
    let oldest_queued = queue
        .iter()
        .find(|l| l.status == Status::Queued.as_str())
        .and_then(|l| l.oldest)
        .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
    metrics::gauge!(GENERATION_QUEUE_OLDEST_SECONDS).set(oldest_queued);
    let pending = pending_mail()
        .count(db)
        .await
        .unexpected("counting pending mail")?;
    metrics::gauge!(MAIL_OUTBOX_PENDING).set(pending as f64);
    Ok(())
}

/// `uni1_db_pool_connections{state}` from the pool's own counters.
fn pool_gauges(db: &DatabaseConnection) {
    let (size, idle) = match db {
        DatabaseConnection::SqlxPostgresPoolConnection(_) => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        DatabaseConnection::SqlxSqlitePoolConnection(_) => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        #[allow(unreachable_patterns)]
        _ => return,
    };
    let idle = idle as f64;
    metrics::gauge!(crate::metrics::DB_POOL_CONNECTIONS, "state" => "idle").set(idle);
    metrics::gauge!(crate::metrics::DB_POOL_CONNECTIONS, "state" => "in_use")
        .set((f64::from(size) - idle).max(0.0));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let ms =
            |v: &[u64]| -> Vec<Duration> { v.iter().map(|m| Duration::from_millis(*m)).collect() };
        assert_eq!(percentile(&[], 50), None);
        let one = ms(&[7]);
        assert_eq!(percentile(&one, 50), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&one, 95), Some(Duration::from_millis(7)));
        let hundred: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&hundred, 50), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&hundred, 95), Some(Duration::from_millis(95)));
        let four = ms(&[10, 20, 30, 40]);
        assert_eq!(percentile(&four, 50), Some(Duration::from_millis(20)));
        assert_eq!(percentile(&four, 95), Some(Duration::from_millis(40)));
    }

    #[test]
    fn the_error_rate_leaves_out_refusals_and_cancellations() {
        let w = window(
            [
                ("succeeded", Some(chrono::Duration::seconds(2))),
                ("succeeded", Some(chrono::Duration::seconds(4))),
                ("succeeded", None),
                ("failed", None),
                ("refused", None),
                ("cancelled", None),
            ]
            .into_iter(),
        );
        assert_eq!(
            (w.succeeded, w.failed, w.refused, w.cancelled),
            (3, 1, 1, 1)
        );
        assert_eq!(w.error_rate(), Some(0.25));
        assert_eq!(w.p50, Some(Duration::from_secs(2)));
        assert_eq!(w.p95, Some(Duration::from_secs(4)));
        assert_eq!(Window::default().error_rate(), None);
    }
}
