//! The 7-day expiry reminder (STO-4): people who opted in get a mail when
//! images of theirs are within 7 days of the end of their download window.
//! Each image is in at most one reminder (`images.reminded_at`), and a
//! person gets at most one reminder a day (`users.expiry_reminded_at`): a
//! reminder also takes in the images that cross the 7-day mark during the
//! next day, so a day of work is one mail, not one per sweep.
//!
//! Safe to run from several processes at once: the person is claimed by a
//! conditional update of `expiry_reminded_at` in the same transaction as the
//! image marks and the queued mail, so a crash queues nothing, and two runs
//! never mail the same person twice in a day.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::entities::{image, user};
use crate::mail::{self, templates, MailContext};
use crate::support::crypto::AppKey;
use crate::support::error::{ResultExt, Unexpected};

/// How long before the end of the window the reminder goes out.
pub const REMIND_DAYS: i64 = 7;

/// Images not reminded about yet whose window ends after `now` and within
/// `days` of it.
fn unreminded_within(now: DateTime<Utc>, days: i64) -> Condition {
    Condition::all()
        .add(image::Column::RemindedAt.is_null())
        .add(image::Column::PurgedAt.is_null())
        .add(image::Column::ExpiresAt.gt(now))
        .add(image::Column::ExpiresAt.lte(now + chrono::Duration::days(days)))
}

/// People who opted in and were not reminded in the last day.
fn may_remind(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(user::Column::ExpiryReminders.eq(true))
        .add(
            Condition::any()
                .add(user::Column::ExpiryRemindedAt.is_null())
                .add(user::Column::ExpiryRemindedAt.lte(now - chrono::Duration::days(1))),
        )
}

/// Queues reminders for up to `batch` people; returns how many mails. One
/// person's failure is logged and does not hold back the others.
pub async fn queue_due(
    db: &DatabaseConnection,
    ctx: &MailContext,
    key: &AppKey,
    now: DateTime<Utc>,
    batch: u64,
) -> Result<usize, Unexpected> {
    let users: Vec<Uuid> = image::Entity::find()
        .select_only()
        .column(image::Column::UserId)
        .filter(unreminded_within(now, REMIND_DAYS))
        .filter(
            image::Column::UserId.in_subquery(
                Query::select()
                    .column(user::Column::Id)
                    .from(user::Entity)
                    .cond_where(may_remind(now))
                    .to_owned(),
            ),
        )
        .distinct()
        .limit(batch)
        .into_tuple()
        .all(db)
        .await
        .unexpected("finding due expiry reminders")?;
    let mut sent = 0;
    for user_id in users {
        match remind(db, ctx, key, user_id, now).await {
            Ok(true) => sent += 1,
            Ok(false) => {}
            Err(e) => tracing::error!(error = ?e, user = %user_id, "an expiry reminder failed"),
        }
    }
    if sent > 0 {
        tracing::info!(sent, "expiry reminders queued");
    }
    Ok(sent)
}

/// Claims `user_id` for today, marks their images expiring within
/// [`REMIND_DAYS`] + 1 and queues one mail, all in one transaction.
async fn remind(
    db: &DatabaseConnection,
    ctx: &MailContext,
    key: &AppKey,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, Unexpected> {
    let txn = crate::support::tx::begin(db).await?;
    let claimed = user::Entity::update_many()
        .col_expr(user::Column::ExpiryRemindedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .filter(may_remind(now))
        .exec(&txn)
        .await
        .unexpected("claiming a reminder")?
        .rows_affected;
    if claimed != 1 {
        return Ok(false);
    }
    let Some(person) = user::Entity::find_by_id(user_id)
        .one(&txn)
        .await
        .unexpected("reading a person")?
    else {
        return Ok(false);
    };
    let window = unreminded_within(now, REMIND_DAYS + 1);
    let Some(first) = image::Entity::find()
        .filter(window.clone())
        .filter(image::Column::UserId.eq(user_id))
        .order_by_asc(image::Column::ExpiresAt)
        .one(&txn)
        .await
        .unexpected("reading the first expiring image")?
    else {
        return Ok(false);
    };
    let count = image::Entity::update_many()
        .col_expr(image::Column::RemindedAt, Expr::value(now))
        .filter(window)
        .filter(image::Column::UserId.eq(user_id))
        .exec(&txn)
        .await
        .unexpected("marking images reminded")?
        .rows_affected;
    let links = mail::unsubscribe::Unsubscribe::new(key);
    let category = mail::unsubscribe::Category::ExpiryReminders;
    let message = templates::expiry_reminder(
        ctx,
        &person.display_name,
        count,
        &first.expires_at.format("%Y-%m-%d").to_string(),
        &links.link(ctx, user_id, category),
    );
    mail::enqueue_with(
        &txn,
        key,
        Some(user_id),
        "expiry_reminder",
        &person.email,
        message,
        mail::Extras {
            list_unsubscribe: Some(links.header(ctx, user_id, category)),
            send_after: None,
        },
    )
    .await?;
    txn.commit().await.unexpected("committing a reminder")?;
    Ok(true)
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

/// How often due reminders are queued.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// One pass: queues the due reminders (at most 200; the rest next time).
pub async fn pass(db: &DatabaseConnection, ctx: &MailContext, key: &AppKey) {
    if let Err(e) = queue_due(db, ctx, key, Utc::now(), 200).await {
        tracing::error!(error = ?e, "expiry reminders failed");
    }
}
