//! Wake-ups across processes on PostgreSQL (`LISTEN` / `NOTIFY`).
//!
//! The queue in the database stays the source of truth, and polling the
//! only mechanism on SQLite; a notification only shortens the wait. When a
//! job is queued, starts, ends or goes back to the queue, the statement (or
//! transaction) that changes it also runs `pg_notify('uni1_jobs', …)`,
//! which PostgreSQL delivers when the transaction commits. Every process
//! holds one listening connection ([`listen`]) and, on a notification,
//! wakes its generation worker (a job to claim, or a per-person slot
//! freed) and its progress hub, if the job's owner has a stream open in
//! this process.
//!
//! When the listening connection is lost, [`listen`] reconnects with
//! back-off (0.5 s doubling to 30 s) and, once listening again, wakes the
//! worker and the progress hub once: anything notified while it was away
//! is found by that poll.
//!
//! A verified provider webhook is forwarded the same way
//! ([`forward_webhook`]): the process whose worker waits for that
//! prediction polls the provider at once, whichever process received it.
//!
//! The payload is `<change>` or `<change>:<owner id>` (a job id never,
//! nor a prompt): `queued`, `started`, `ended`, `requeued`; or
//! `webhook:<prediction id>`.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use uuid::Uuid;

use super::service::Generations;
use crate::support::error::{ResultExt, Unexpected};

/// The channel every process listens on.
pub const CHANNEL: &str = "uni1_jobs";

/// What happened to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Submitted: a worker may claim it.
    Queued,
    /// Claimed by a worker.
    Started,
    /// Succeeded, failed, refused or cancelled: its owner's running slot is
    /// free.
    Ended,
    /// Back in the queue (a retry, or its worker's lease expired).
    Requeued,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Started => "started",
            Self::Ended => "ended",
            Self::Requeued => "requeued",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "started" => Self::Started,
            "ended" => Self::Ended,
            "requeued" => Self::Requeued,
            _ => return None,
        })
    }

    /// Whether a worker may have something new to claim.
    fn wakes_workers(self) -> bool {
        !matches!(self, Self::Started)
    }
}

/// The payload for `change` of a job of `owner` (if known).
pub fn payload(change: Change, owner: Option<Uuid>) -> String {
    match owner {
        Some(owner) => format!("{}:{owner}", change.as_str()),
        None => change.as_str().to_owned(),
    }
}

/// Parses a job payload; `None` for anything this version does not know.
pub fn parse(payload: &str) -> Option<(Change, Option<Uuid>)> {
    match payload.split_once(':') {
        Some((change, owner)) => Some((Change::parse(change)?, Some(owner.parse().ok()?))),
        None => Some((Change::parse(payload)?, None)),
    }
}

const WEBHOOK: &str = "webhook:";

/// Whether a provider's prediction id may travel in a payload: short, and
/// only letters, digits, `-` and `_` (what providers use).
fn forwardable(prediction: &str) -> bool {
    !prediction.is_empty()
        && prediction.len() <= 128
        && prediction
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Tells every process that the provider's webhook for `prediction`
/// arrived (after its signature was verified): the worker waiting for it
/// polls the provider at once. Nothing on SQLite; logged on failure (the
/// worker's own poll finds the result).
pub async fn forward_webhook(conn: &impl ConnectionTrait, prediction: &str) {
    if !available(conn) || !forwardable(prediction) {
        return;
    }
    let sent = conn
        .execute(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), format!("{WEBHOOK}{prediction}").into()],
        ))
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = ?e, "a model webhook was not forwarded; its worker polls");
    }
}

/// Whether `db` carries notifications (PostgreSQL).
pub fn available(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DatabaseBackend::Postgres
}

/// Announces `change` on `conn` (a transaction: delivered at its commit).
/// Nothing on SQLite, where workers and streams poll.
pub async fn announce(
    conn: &impl ConnectionTrait,
    change: Change,
    owner: Option<Uuid>,
) -> Result<(), Unexpected> {
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    conn.execute(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), payload(change, owner).into()],
    ))
    .await
    .unexpected("announcing a job change")?;
    Ok(())
}

/// Like [`announce`] outside a transaction, where a failed notification
/// only costs a wait for the next poll: logged, never an error.
pub async fn announce_quietly(conn: &impl ConnectionTrait, change: Change, owner: Option<Uuid>) {
    if let Err(e) = announce(conn, change, owner).await {
        tracing::warn!(error = ?e, "a job notification was not sent; pollers will find the change");
    }
}

/// Acts on one notification in this process.
fn deliver(gens: &Generations, change: Change, owner: Option<Uuid>) {
    if change.wakes_workers() {
        // A stored permit if the worker is busy claiming: it claims once
        // more instead of missing the job.
        gens.wake.notify_one();
    }
    if let Some(owner) = owner {
        gens.progress.wake(owner);
    }
}

/// Wakes the worker and the progress hub once: the poll after a
/// (re)connection.
fn wake_everything(gens: &Generations) {
    gens.wake.notify_one();
    gens.progress.wake_all();
}

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const LONGEST_BACKOFF: Duration = Duration::from_secs(30);

/// Listens for job notifications until `shutdown` resolves (PostgreSQL
/// only; returns at once on SQLite). Uses one connection of the pool
/// SeaORM holds, for as long as it runs.
pub async fn listen(
    gens: Generations,
    wakeups: uni1_models::predictions::Wakeups,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use sea_orm::sqlx::postgres::PgListener;
    if gens.db.get_database_backend() != DatabaseBackend::Postgres {
        return;
    }
    tokio::pin!(shutdown);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let connected = async {
            let mut listener =
                PgListener::connect_with(gens.db.get_postgres_connection_pool()).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let listener = tokio::select! {
            () = &mut shutdown => return,
            l = connected => l,
        };
        let mut listener = match listener {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "cannot listen for job notifications");
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(LONGEST_BACKOFF);
                continue;
            }
        };
        tracing::debug!("listening for job notifications");
        backoff = FIRST_BACKOFF;
        wake_everything(&gens);
        loop {
            // `try_recv`: a lost connection is `Ok(None)` (not a silent
            // reconnect), so the poll after reconnecting is ours to run.
            let next = tokio::select! {
                () = &mut shutdown => return,
                n = listener.try_recv() => n,
            };
            match next {
                Ok(Some(n)) => match (parse(n.payload()), n.payload().strip_prefix(WEBHOOK)) {
                    (Some((change, owner)), _) => deliver(&gens, change, owner),
                    (None, Some(prediction)) => wakeups.wake(prediction),
                    (None, None) => {
                        tracing::debug!(payload = n.payload(), "unknown job notification");
                    }
                },
                Ok(None) => {
                    tracing::warn!("the job notification connection was lost; reconnecting");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "job notifications failed; reconnecting");
                    break;
                }
            }
        }
        drop(listener);
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(LONGEST_BACKOFF);
    }
}

/// Announces the jobs the reaper re-queued (their owners unknown here).
pub async fn requeued(db: &impl ConnectionTrait) {
    announce_quietly(db, Change::Requeued, None).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_unknown_ones_are_ignored() {
        let owner = Uuid::now_v7();
        for change in [
            Change::Queued,
            Change::Started,
            Change::Ended,
            Change::Requeued,
        ] {
            assert_eq!(
                parse(&payload(change, Some(owner))),
                Some((change, Some(owner)))
            );
            assert_eq!(parse(&payload(change, None)), Some((change, None)));
        }
        assert_eq!(parse("exploded"), None);
        assert_eq!(parse("queued:not-a-uuid"), None);
        assert!(!Change::Started.wakes_workers());
        assert!(forwardable("p_0a1B-2c"));
        assert!(!forwardable("x'); DROP"));
        assert!(!forwardable(""));
        assert!(!forwardable(&"a".repeat(129)));
    }
}
