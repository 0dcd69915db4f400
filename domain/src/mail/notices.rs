//! "A mail when a generation finishes while I am away" (MAIL-1).
//!
//! Watching works across processes through the database: while a browser
//! of the person has the progress stream open, the process serving it
//! stamps `users.progress_watched_until` every [`STAMP_EVERY`] with
//! [`WATCHED_FOR`] ahead ([`stamp_watched`]). When a job ends, the worker
//! (in whichever process) marks it `done_notice = 'due'` in one statement
//! if, at that moment, the owner opted in and the stamp has run out
//! ([`mark_if_due`]). The web processes' pass ([`queue_due`]) claims each
//! due job (`due` -> `queued`) in the transaction that queues its mail, so
//! a job is mailed about at most once. A worker that stops between ending
//! a job and marking it sends no mail for that job.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::unsubscribe::{Category, Unsubscribe};
use super::{templates, Extras, MailContext};
use crate::entities::{generation, image, user};
use crate::generation::status;
use crate::support::crypto::AppKey;
use crate::support::error::{ResultExt, Unexpected};

/// How often an open progress stream stamps its person as watching.
pub const STAMP_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a stamp lasts: three stamps, so a late one does not count as
/// leaving, and a closed browser is "away" within half a minute.
pub const WATCHED_FOR: chrono::Duration = chrono::Duration::seconds(30);

const DUE: &str = "due";
const QUEUED: &str = "queued";

/// Marks `user` as watching their jobs until `now` + [`WATCHED_FOR`].
pub async fn stamp_watched(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), Unexpected> {
    stamp_all_watched(db, &[user_id], now).await
}

/// Marks every person of `users` as watching their jobs until `now` +
/// [`WATCHED_FOR`]: one statement (per 1,000 people), what the progress
/// hub runs for all the people whose streams it serves.
pub async fn stamp_all_watched(
    db: &impl ConnectionTrait,
    users: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), Unexpected> {
    for chunk in users.chunks(1000) {
        user::Entity::update_many()
            .col_expr(
                user::Column::ProgressWatchedUntil,
                Expr::value(now + WATCHED_FOR),
            )
            .filter(user::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await
            .unexpected("stamping a watched progress stream")?;
    }
    Ok(())
}

/// People who asked for the mail and are not watching at `now`.
fn away_and_opted_in(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(user::Column::NotifyGenerationDone.eq(true))
        .add(user::Column::DeletionDueAt.is_null())
        .add(
            Condition::any()
                .add(user::Column::ProgressWatchedUntil.is_null())
                .add(user::Column::ProgressWatchedUntil.lte(now)),
        )
}

/// After job `job_id` ended: marks it due for a mail if its owner opted in
/// and no browser of theirs watches. Returns whether it was marked.
pub async fn mark_if_due(
    db: &impl ConnectionTrait,
    job_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, Unexpected> {
    Ok(generation::Entity::update_many()
        .col_expr(generation::Column::DoneNotice, Expr::value(DUE))
        .filter(generation::Column::Id.eq(job_id))
        .filter(generation::Column::DoneNotice.is_null())
        .filter(
            generation::Column::UserId.in_subquery(
                Query::select()
                    .column(user::Column::Id)
                    .from(user::Entity)
                    .cond_where(away_and_opted_in(now))
                    .to_owned(),
            ),
        )
        .exec(db)
        .await
        .unexpected("marking a finished job for a mail")?
        .rows_affected
        == 1)
}

/// Queues the mails of up to `batch` due jobs; returns how many.
pub async fn queue_due(
    db: &DatabaseConnection,
    ctx: &MailContext,
    key: &AppKey,
    batch: u64,
) -> Result<usize, Unexpected> {
    let due: Vec<Uuid> = generation::Entity::find()
        .select_only()
        .column(generation::Column::Id)
        .filter(generation::Column::DoneNotice.eq(DUE))
        .limit(batch)
        .into_tuple()
        .all(db)
        .await
        .unexpected("finding finished jobs to mail about")?;
    let links = Unsubscribe::new(key);
    let mut queued = 0;
    for job_id in due {
        match queue_one(db, ctx, key, &links, job_id).await {
            Ok(true) => queued += 1,
            Ok(false) => {}
            Err(e) => tracing::error!(error = ?e, job = %job_id, "a generation mail failed"),
        }
    }
    Ok(queued)
}

async fn queue_one(
    db: &DatabaseConnection,
    ctx: &MailContext,
    key: &AppKey,
    links: &Unsubscribe,
    job_id: Uuid,
) -> Result<bool, Unexpected> {
    let txn = crate::support::tx::begin(db).await?;
    let claimed = generation::Entity::update_many()
        .col_expr(generation::Column::DoneNotice, Expr::value(QUEUED))
        .filter(generation::Column::Id.eq(job_id))
        .filter(generation::Column::DoneNotice.eq(DUE))
        .exec(&txn)
        .await
        .unexpected("claiming a generation mail")?
        .rows_affected
        == 1;
    if !claimed {
        return Ok(false);
    }
    let Some(job) = generation::Entity::find_by_id(job_id)
        .one(&txn)
        .await
        .unexpected("reading a finished job")?
    else {
        return Ok(false);
    };
    let Some(person) = user::Entity::find_by_id(job.user_id)
        .one(&txn)
        .await
        .unexpected("reading a person")?
    else {
        return Ok(false);
    };
    // Turned off (or deleting) since the job ended: the claim stays, no mail.
    if person.notify_generation_done && person.deletion_due_at.is_none() {
        let images = image::Entity::find()
            .filter(image::Column::GenerationId.eq(job.id))
            .count(&txn)
            .await
            .unexpected("counting a job's images")?;
        let category = Category::GenerationDone;
        let message = templates::generation_done(
            ctx,
            &person.display_name,
            job.status == status::SUCCEEDED,
            images,
            &links.link(ctx, person.id, category),
        );
        super::enqueue_with(
            &txn,
            key,
            Some(person.id),
            "generation_done",
            &person.email,
            message,
            Extras {
                list_unsubscribe: Some(links.header(ctx, person.id, category)),
                send_after: None,
            },
        )
        .await?;
    }
    txn.commit()
        .await
        .unexpected("committing a generation mail")?;
    Ok(true)
}

/// How often due generation mails are queued.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// One pass: queues the due generation mails (at most 200; the rest next
/// time).
pub async fn pass(db: &DatabaseConnection, ctx: &MailContext, key: &AppKey) {
    if let Err(e) = queue_due(db, ctx, key, 200).await {
        tracing::error!(error = ?e, "generation mails failed");
    }
}
