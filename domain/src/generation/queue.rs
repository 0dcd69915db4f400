//! The durable job queue, in the `generations` table.
//!
//! A claim is one statement: on PostgreSQL `UPDATE … WHERE id = (SELECT …
//! FOR UPDATE SKIP LOCKED) RETURNING id`, so concurrent workers never take
//! the same row and never wait on each other; on SQLite the same `UPDATE …
//! RETURNING` without the lock clause, which is atomic because SQLite has a
//! single writer. The claim sets a lease; the worker renews it while it
//! works, and every later write is conditional on still holding it, so a
//! worker that lost its lease (it was presumed dead and the job re-queued)
//! cannot overwrite the result of the worker that took over.
//!
//! The per-person running limit is checked in the claim; on PostgreSQL two
//! workers claiming at the same instant may each see the other's job as not
//! yet running, so the limit can be exceeded by one per extra worker, briefly.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    EntityTrait, QueryFilter, Statement, TransactionTrait,
};
use uuid::Uuid;

use super::status;
use crate::billing::credits;
use crate::entities::{generation, image, upload};
use crate::support::error::{ResultExt, Unexpected};

const CLAIM_POSTGRES: &str = "UPDATE generations SET status = 'running', lease_owner = $1, \
     lease_expires_at = $2, attempts = attempts + 1, started_at = COALESCE(started_at, $3) \
     WHERE status = 'queued' AND id = ( \
       SELECT g.id FROM generations g \
       WHERE g.status = 'queued' AND g.run_after <= $3 \
         AND (SELECT COUNT(*) FROM generations r WHERE r.user_id = g.user_id AND r.status = 'running') < $4 \
       ORDER BY g.queued_at, g.id LIMIT 1 FOR UPDATE SKIP LOCKED) \
     RETURNING id";

const CLAIM_SQLITE: &str = "UPDATE generations SET status = 'running', lease_owner = ?, \
     lease_expires_at = ?, attempts = attempts + 1, started_at = COALESCE(started_at, ?) \
     WHERE status = 'queued' AND id = ( \
       SELECT g.id FROM generations g \
       WHERE g.status = 'queued' AND g.run_after <= ? \
         AND (SELECT COUNT(*) FROM generations r WHERE r.user_id = g.user_id AND r.status = 'running') < ? \
       ORDER BY g.queued_at, g.id LIMIT 1) \
     RETURNING id";

/// Claims the next runnable job for `worker`, if any.
pub async fn claim(
    db: &DatabaseConnection,
    worker: &str,
    lease: std::time::Duration,
    max_running_per_user: u64,
) -> Result<Option<generation::Model>, Unexpected> {
    let now = Utc::now();
    let expires = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let limit = i64::try_from(max_running_per_user).unwrap_or(i64::MAX);
    let backend = db.get_database_backend();
    let stmt = match backend {
        DatabaseBackend::Postgres => Statement::from_sql_and_values(
            backend,
            CLAIM_POSTGRES,
            [worker.into(), expires.into(), now.into(), limit.into()],
        ),
        _ => Statement::from_sql_and_values(
            backend,
            CLAIM_SQLITE,
            [
                worker.into(),
                expires.into(),
                now.into(),
                now.into(),
                limit.into(),
            ],
        ),
    };
    let row = db.query_one(stmt).await.unexpected("claiming a job")?;
    let Some(row) = row else { return Ok(None) };
    let id: Uuid = row
        .try_get("", "id")
        .unexpected("reading a claimed job id")?;
    let job = generation::Entity::find_by_id(id)
        .one(db)
        .await
        .unexpected("reading a claimed job")?;
    if let Some(job) = &job {
        super::notify::announce_quietly(db, super::notify::Change::Started, Some(job.user_id))
            .await;
    }
    Ok(job)
}

/// Renews `worker`'s lease on `job`; `false` means the lease was lost.
pub async fn renew(
    db: &DatabaseConnection,
    job: Uuid,
    worker: &str,
    lease: std::time::Duration,
) -> Result<bool, Unexpected> {
    let expires =
        Utc::now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let res = generation::Entity::update_many()
        .col_expr(generation::Column::LeaseExpiresAt, Expr::value(expires))
        .filter(generation::Column::Id.eq(job))
        .filter(generation::Column::LeaseOwner.eq(worker))
        .filter(generation::Column::Status.eq(status::RUNNING))
        .exec(db)
        .await
        .unexpected("renewing a lease")?;
    Ok(res.rows_affected == 1)
}

/// Records the provider's id for `job`, so a worker that takes over resumes.
pub async fn set_external_id(
    db: &DatabaseConnection,
    job: Uuid,
    worker: &str,
    external_id: &str,
) -> Result<(), Unexpected> {
    generation::Entity::update_many()
        .col_expr(generation::Column::ExternalId, Expr::value(external_id))
        .filter(generation::Column::Id.eq(job))
        .filter(generation::Column::LeaseOwner.eq(worker))
        .exec(db)
        .await
        .unexpected("recording a provider job id")?;
    Ok(())
}

/// Whether the owner asked to cancel `job`.
pub async fn cancel_requested(db: &DatabaseConnection, job: Uuid) -> Result<bool, Unexpected> {
    Ok(generation::Entity::find_by_id(job)
        .one(db)
        .await
        .unexpected("reading a job")?
        .is_some_and(|j| j.cancel_requested))
}

/// A stored image, ready to be recorded.
#[derive(Debug, Clone)]
pub struct StoredImage {
    pub id: Uuid,
    pub width: u32,
    pub height: u32,
    pub original_path: String,
    pub preview_path: String,
    pub thumb_path: String,
    pub bytes: i64,
    pub key_id: String,
}

/// Marks `job` succeeded with `images` and captures its credits, if `worker`
/// still holds it. `false`: the lease was lost and nothing was written (the
/// caller deletes the objects it stored).
pub async fn succeed(
    db: &DatabaseConnection,
    job: &generation::Model,
    worker: &str,
    seed_used: Option<u64>,
    images: Vec<StoredImage>,
    retention: chrono::Duration,
) -> Result<bool, Unexpected> {
    let job = job.clone();
    let worker = worker.to_owned();
    db.transaction::<_, bool, Unexpected>(move |txn| {
        Box::pin(async move {
            let now = Utc::now();
            let res = generation::Entity::update_many()
                .col_expr(generation::Column::Status, Expr::value(status::SUCCEEDED))
                .col_expr(
                    generation::Column::SeedUsed,
                    Expr::value(seed_used.map(|s| s as i64)),
                )
                .col_expr(generation::Column::FinishedAt, Expr::value(now))
                .col_expr(
                    generation::Column::LeaseOwner,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    generation::Column::ReferencePath,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    generation::Column::Error,
                    Expr::value(Option::<String>::None),
                )
                .filter(generation::Column::Id.eq(job.id))
                .filter(generation::Column::LeaseOwner.eq(worker.as_str()))
                .filter(generation::Column::Status.eq(status::RUNNING))
                .exec(txn)
                .await
                .unexpected("finishing a job")?;
            if res.rows_affected != 1 {
                return Ok(false);
            }
            let image_ids: Vec<Uuid> = images.iter().map(|img| img.id).collect();
            for (position, img) in images.into_iter().enumerate() {
                image::Entity::insert(image::ActiveModel {
                    id: Set(img.id),
                    generation_id: Set(job.id),
                    user_id: Set(job.user_id),
                    position: Set(position as i32),
                    width: Set(img.width as i32),
                    height: Set(img.height as i32),
                    original_path: Set(img.original_path),
                    preview_path: Set(img.preview_path),
                    thumb_path: Set(img.thumb_path),
                    bytes: Set(img.bytes),
                    key_id: Set(img.key_id),
                    created_at: Set(now),
                    expires_at: Set(now + retention),
                    purged_at: Set(None),
                    favorite: Set(false),
                    published_at: Set(None),
                    hidden_at: Set(None),
                    reminded_at: Set(None),
                    taken_down_at: Set(None),
                })
                .exec_without_returning(txn)
                .await
                .unexpected("recording an image")?;
            }
            forget_reference(txn, &job).await?;
            credits::capture(txn, job.user_id, job.id, job.credits).await?;
            crate::webhooks::events::job_ended(txn, &job, status::SUCCEEDED, None, &image_ids, now)
                .await?;
            super::notify::announce(txn, super::notify::Change::Ended, Some(job.user_id)).await?;
            Ok(true)
        })
    })
    .await
    .map_err(|e| match e {
        sea_orm::TransactionError::Connection(e) => Unexpected::new("finishing a job", e),
        sea_orm::TransactionError::Transaction(e) => e,
    })
}

/// Ends `job` without images (failed, refused, cancelled) and releases its
/// credits. With `worker`, only if that worker still holds it; without, only
/// if it is still queued (a cancel before any worker took it).
/// `moderation` records a back-end refusal for review.
pub async fn finish_without_images(
    db: &DatabaseConnection,
    job: &generation::Model,
    worker: Option<&str>,
    final_status: super::Status,
    user_error: Option<String>,
    detail: Option<String>,
) -> Result<bool, Unexpected> {
    let job = job.clone();
    let worker = worker.map(str::to_owned);
    db.transaction::<_, bool, Unexpected>(move |txn| {
        Box::pin(async move {
            let now = Utc::now();
            let mut update = generation::Entity::update_many()
                .col_expr(generation::Column::Status, Expr::value(final_status))
                .col_expr(generation::Column::FinishedAt, Expr::value(now))
                .col_expr(
                    generation::Column::LeaseOwner,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    generation::Column::ReferencePath,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(generation::Column::Error, Expr::value(user_error.clone()))
                .col_expr(generation::Column::ErrorDetail, Expr::value(detail))
                .filter(generation::Column::Id.eq(job.id));
            update = match &worker {
                Some(w) => update
                    .filter(generation::Column::LeaseOwner.eq(w.as_str()))
                    .filter(generation::Column::Status.eq(status::RUNNING)),
                None => update.filter(generation::Column::Status.eq(status::QUEUED)),
            };
            if update
                .exec(txn)
                .await
                .unexpected("ending a job")?
                .rows_affected
                != 1
            {
                return Ok(false);
            }
            if final_status == status::REFUSED {
                crate::moderation::flag(
                    txn,
                    crate::moderation::Flag {
                        owner: job.user_id,
                        generation: Some(job.id),
                        image: None,
                        prompt: &job.prompt,
                        reason: user_error.as_deref().unwrap_or_default(),
                        source: crate::moderation::Source::Backend,
                    },
                    now,
                )
                .await?;
            }
            forget_reference(txn, &job).await?;
            credits::release(txn, job.user_id, job.id, job.credits).await?;
            crate::webhooks::events::job_ended(
                txn,
                &job,
                final_status,
                user_error.as_deref(),
                &[],
                now,
            )
            .await?;
            super::notify::announce(txn, super::notify::Change::Ended, Some(job.user_id)).await?;
            Ok(true)
        })
    })
    .await
    .map_err(|e| match e {
        sea_orm::TransactionError::Connection(e) => Unexpected::new("ending a job", e),
        sea_orm::TransactionError::Transaction(e) => e,
    })
}

/// The reference upload is only kept while its job needs it (GEN-3): its row
/// goes with the job's end; the worker deletes the object.
pub(super) async fn forget_reference(
    txn: &impl ConnectionTrait,
    job: &generation::Model,
) -> Result<(), Unexpected> {
    if let Some(path) = &job.reference_path {
        upload::Entity::delete_many()
            .filter(upload::Column::Path.eq(path.as_str()))
            .exec(txn)
            .await
            .unexpected("forgetting a reference upload")?;
    }
    Ok(())
}

/// Puts `job` back in the queue after a retryable failure, to run after
/// `delay`; its credits stay reserved.
pub async fn retry_later(
    db: &DatabaseConnection,
    job: Uuid,
    worker: &str,
    delay: chrono::Duration,
    detail: &str,
) -> Result<bool, Unexpected> {
    let res = generation::Entity::update_many()
        .col_expr(generation::Column::Status, Expr::value(status::QUEUED))
        .col_expr(
            generation::Column::RunAfter,
            Expr::value(Utc::now() + delay),
        )
        .col_expr(
            generation::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            generation::Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            generation::Column::ExternalId,
            Expr::value(Option::<String>::None),
        )
        .col_expr(generation::Column::ErrorDetail, Expr::value(detail))
        .filter(generation::Column::Id.eq(job))
        .filter(generation::Column::LeaseOwner.eq(worker))
        .filter(generation::Column::Status.eq(status::RUNNING))
        .exec(db)
        .await
        .unexpected("re-queueing a job")?;
    if res.rows_affected == 1 {
        super::notify::announce_quietly(db, super::notify::Change::Requeued, None).await;
    }
    Ok(res.rows_affected == 1)
}

/// Hands `job` back to the queue at once because `worker` is shutting down
/// and the job did not finish within the grace period: its lease is
/// released (another worker claims it at once, without waiting for the
/// lease to expire), the attempt is not counted against it, and the
/// provider's id is kept so the next worker resumes instead of paying
/// twice. The credits stay held: the worker that finishes the job
/// captures or releases them, once (the settle key). Conditional on
/// `worker` still holding the running job; `false` if it did not (the job
/// ended, or was reaped).
pub async fn hand_back(
    db: &DatabaseConnection,
    job: Uuid,
    worker: &str,
) -> Result<bool, Unexpected> {
    let res = generation::Entity::update_many()
        .col_expr(generation::Column::Status, Expr::value(status::QUEUED))
        .col_expr(
            generation::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            generation::Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(generation::Column::RunAfter, Expr::value(Utc::now()))
        .col_expr(
            generation::Column::Attempts,
            Expr::col(generation::Column::Attempts).sub(1),
        )
        .col_expr(
            generation::Column::ErrorDetail,
            Expr::value(format!("handed back by {worker} at shutdown")),
        )
        .filter(generation::Column::Id.eq(job))
        .filter(generation::Column::LeaseOwner.eq(worker))
        .filter(generation::Column::Status.eq(status::RUNNING))
        .exec(db)
        .await
        .unexpected("handing a job back")?;
    if res.rows_affected == 1 {
        super::notify::announce_quietly(db, super::notify::Change::Requeued, None).await;
    }
    Ok(res.rows_affected == 1)
}

/// Re-queues running jobs whose lease expired (their worker died or hung);
/// a job out of attempts fails and its credits are released. Returns how
/// many jobs were touched.
pub async fn reap(db: &DatabaseConnection) -> Result<usize, Unexpected> {
    let now = Utc::now();
    let stale = generation::Entity::find()
        .filter(generation::Column::Status.eq(status::RUNNING))
        .filter(generation::Column::LeaseExpiresAt.lt(now))
        .all(db)
        .await
        .unexpected("finding stale jobs")?;
    let mut touched = 0;
    for job in stale {
        let Some(owner) = job.lease_owner.clone() else {
            continue;
        };
        if job.attempts >= job.max_attempts {
            if finish_without_images(
                db,
                &job,
                Some(&owner),
                status::FAILED,
                Some("The image service did not answer in time. The credits were returned.".into()),
                Some(format!("lease of {owner} expired on the last attempt")),
            )
            .await?
            {
                touched += 1;
            }
            continue;
        }
        // Conditional on the same owner and an expired lease, so a worker
        // that renewed in the meantime keeps its job. The provider's id is
        // kept: the next worker resumes instead of paying twice.
        let res = generation::Entity::update_many()
            .col_expr(generation::Column::Status, Expr::value(status::QUEUED))
            .col_expr(
                generation::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(generation::Column::RunAfter, Expr::value(now))
            .col_expr(
                generation::Column::ErrorDetail,
                Expr::value(format!("lease of {owner} expired; re-queued")),
            )
            .filter(generation::Column::Id.eq(job.id))
            .filter(generation::Column::LeaseOwner.eq(owner.as_str()))
            .filter(generation::Column::Status.eq(status::RUNNING))
            .filter(generation::Column::LeaseExpiresAt.lt(now))
            .exec(db)
            .await
            .unexpected("re-queueing a stale job")?;
        touched += res.rows_affected as usize;
    }
    if touched > 0 {
        super::notify::requeued(db).await;
        tracing::warn!(
            touched,
            "reaped jobs whose worker stopped renewing its lease"
        );
    }
    Ok(touched)
}
