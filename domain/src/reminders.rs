//! The 7-day expiry reminder (STO-4): people who opted in get one mail when
//! images of theirs are within 7 days of the end of their download window.
//! Each image is reminded about at most once (`images.reminded_at`).
//!
//! Safe to run from several processes at once: an image is claimed by a
//! conditional update in the same transaction as the queued mail, so a
//! crash queues neither, and two runs never remind about the same image.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

use crate::entities::{image, user};
use crate::error::{ResultExt, Unexpected};
use crate::mail::{self, templates, MailContext};

/// How long before the end of the window the reminder goes out.
pub const REMIND_DAYS: i64 = 7;

/// Images of opted-in people whose window ends within [`REMIND_DAYS`] of
/// `now` and who were not reminded yet.
fn due(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(image::Column::RemindedAt.is_null())
        .add(image::Column::PurgedAt.is_null())
        .add(image::Column::ExpiresAt.gt(now))
        .add(image::Column::ExpiresAt.lte(now + chrono::Duration::days(REMIND_DAYS)))
        .add(
            image::Column::UserId.in_subquery(
                Query::select()
                    .column(user::Column::Id)
                    .from(user::Entity)
                    .and_where(user::Column::ExpiryReminders.eq(true))
                    .to_owned(),
            ),
        )
}

/// Queues reminders for up to `batch` people; returns how many mails.
pub async fn queue_due(
    db: &DatabaseConnection,
    ctx: &MailContext,
    now: DateTime<Utc>,
    batch: u64,
) -> Result<usize, Unexpected> {
    let users: Vec<Uuid> = image::Entity::find()
        .select_only()
        .column(image::Column::UserId)
        .filter(due(now))
        .distinct()
        .limit(batch)
        .into_tuple()
        .all(db)
        .await
        .unexpected("finding due expiry reminders")?;
    let mut sent = 0;
    for user_id in users {
        let txn = db.begin().await.unexpected("starting a transaction")?;
        let Some(person) = user::Entity::find_by_id(user_id)
            .one(&txn)
            .await
            .unexpected("reading a person")?
        else {
            continue;
        };
        let Some(first) = image::Entity::find()
            .filter(due(now))
            .filter(image::Column::UserId.eq(user_id))
            .order_by_asc(image::Column::ExpiresAt)
            .one(&txn)
            .await
            .unexpected("reading the first expiring image")?
        else {
            continue;
        };
        let claimed = image::Entity::update_many()
            .col_expr(image::Column::RemindedAt, Expr::value(now))
            .filter(due(now))
            .filter(image::Column::UserId.eq(user_id))
            .exec(&txn)
            .await
            .unexpected("marking images reminded")?
            .rows_affected;
        if claimed == 0 {
            continue;
        }
        let message = templates::expiry_reminder(
            ctx,
            &person.display_name,
            claimed,
            &first.expires_at.format("%Y-%m-%d").to_string(),
        );
        mail::enqueue(
            &txn,
            Some(user_id),
            "expiry_reminder",
            &person.email,
            message,
        )
        .await?;
        txn.commit().await.unexpected("committing a reminder")?;
        sent += 1;
    }
    if sent > 0 {
        tracing::info!(sent, "expiry reminders queued");
    }
    Ok(sent)
}

/// Turns the reminder on or off for `user`.
pub async fn set_opt_in(
    db: &DatabaseConnection,
    user_id: Uuid,
    on: bool,
) -> Result<(), Unexpected> {
    user::Entity::update_many()
        .col_expr(user::Column::ExpiryReminders, Expr::value(on))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await
        .unexpected("saving the reminder preference")?;
    Ok(())
}

/// Whether `user` opted in.
pub async fn opted_in(db: &DatabaseConnection, user_id: Uuid) -> Result<bool, Unexpected> {
    Ok(user::Entity::find_by_id(user_id)
        .one(db)
        .await
        .unexpected("reading the reminder preference")?
        .is_some_and(|u| u.expiry_reminders))
}

/// Queues due reminders every `interval` until the task is dropped.
pub async fn run(db: DatabaseConnection, ctx: MailContext, interval: std::time::Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = queue_due(&db, &ctx, Utc::now(), 200).await {
            tracing::error!(error = ?e, "expiry reminders failed");
        }
    }
}
