//! Sends queued webhooks (Standard Webhooks 1.0) through the project's
//! outbound client ([`uni1_models::Outbound::for_webhooks`]: public
//! addresses only, no redirects, a timeout, the answer capped).
//!
//! Each due delivery is claimed with a conditional update (a lease of two
//! minutes), as the mail outbox does, so several worker processes can run
//! against one database without sending an event twice in normal
//! operation. Every request carries `webhook-id` (`msg_<delivery id>`, the
//! same on every attempt, so receivers can drop duplicates),
//! `webhook-timestamp` (unix seconds of this attempt) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
//! keyed with the base64-decoded part of the endpoint's `whsec_` secret.
//!
//! A 2xx ends the delivery. A 410 Gone disables the endpoint (and ends the
//! delivery). Anything else (another status, a timeout, a refused
//! connection) is retried on the [`Schedule`](super::Schedule); after the
//! last attempt the delivery is marked failed. An address the guard refuses
//! (a name that now resolves to a private address) fails at once. Each
//! attempt is recorded for the endpoint's log; ended deliveries and their
//! attempts are deleted after [`RETENTION`].
//!
//! A prediction's own webhook ([`super::predictions`]) is a delivery with
//! its own `url`, signed with the person's default secret; its end event is
//! rendered at each attempt (so its output URLs are fresh), and a 410 from
//! it ends that delivery only.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{Secret, Webhooks};
use crate::entities::webhook_delivery::{self, Column};
use crate::entities::{prediction_webhook, webhook_attempt, webhook_endpoint};
use crate::support::error::{ResultExt, Unexpected};

/// How long one request may take.
pub const TIMEOUT: Duration = Duration::from_secs(15);
const LEASE: chrono::Duration = chrono::Duration::minutes(2);
const BATCH: u64 = 20;
/// How often the pass looks for due deliveries.
pub const INTERVAL: Duration = Duration::from_secs(2);
/// How often old deliveries are purged.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(3600);
/// Ended deliveries (and their attempts) are deleted this long after.
pub const RETENTION: chrono::Duration = chrono::Duration::days(30);
/// The reason stored when a receiver answered 410.
pub const GONE: &str = "gone";

/// What one delivery pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
    /// Endpoints disabled by a 410.
    pub disabled: usize,
}

/// The `webhook-id` of delivery `id`.
pub fn message_id(id: Uuid) -> String {
    format!("msg_{}", id.simple())
}

/// How one attempt went.
enum Outcome {
    Delivered(u16),
    Gone,
    /// Try again later (if the schedule allows).
    Retry(Option<u16>, String),
    /// Never try again.
    Fail(Option<u16>, String),
}

/// Sends every delivery due at `now` (up to a batch).
pub async fn deliver_due(hooks: &Webhooks, now: DateTime<Utc>) -> Result<Report, Unexpected> {
    let db = &hooks.db;
    let unlocked = Condition::any()
        .add(Column::LockedUntil.is_null())
        .add(Column::LockedUntil.lt(now));
    let due = webhook_delivery::Entity::find()
        .filter(Column::NextAttemptAt.lte(now))
        .filter(unlocked.clone())
        .order_by_asc(Column::NextAttemptAt)
        .limit(BATCH)
        .all(db)
        .await
        .unexpected("reading due webhooks")?;
    let mut report = Report::default();
    let started = Utc::now();
    for delivery in due {
        // Each delivery at its own time (a slow endpoint earlier in the
        // batch must not leave a stale timestamp or a lease already over).
        let now = now + (Utc::now() - started);
        let lease = now + LEASE;
        let unlocked = Condition::any()
            .add(Column::LockedUntil.is_null())
            .add(Column::LockedUntil.lt(now));
        let claimed = webhook_delivery::Entity::update_many()
            .col_expr(Column::LockedUntil, Expr::value(lease))
            .filter(Column::Id.eq(delivery.id))
            .filter(Column::NextAttemptAt.is_not_null())
            .filter(unlocked.clone())
            .exec(db)
            .await
            .unexpected("claiming a webhook")?
            .rows_affected
            == 1;
        if !claimed {
            continue;
        }
        let endpoint = webhook_endpoint::Entity::find_by_id(delivery.endpoint_id)
            .one(db)
            .await
            .unexpected("reading a webhook endpoint")?;
        let (outcome, rendered) = match endpoint {
            None => (Outcome::Fail(None, "the endpoint was deleted".into()), None),
            Some(e) if e.disabled_at.is_some() => (
                Outcome::Fail(None, "the endpoint is turned off".into()),
                None,
            ),
            Some(e) => attempt(hooks, &e, &delivery, now).await,
        };
        settle(hooks, &delivery, outcome, rendered, now, lease, &mut report).await?;
    }
    Ok(report)
}

/// One request to the endpoint (or to a prediction's own URL); with the
/// body when it was rendered for this attempt (a prediction's end event).
async fn attempt(
    hooks: &Webhooks,
    endpoint: &webhook_endpoint::Model,
    delivery: &webhook_delivery::Model,
    now: DateTime<Utc>,
) -> (Outcome, Option<String>) {
    let Some(secret) = Secret::open(&hooks.key, &endpoint.secret_sealed, endpoint.id) else {
        return (
            Outcome::Fail(None, "the signing secret does not open".into()),
            None,
        );
    };
    let Ok(url) = url::Url::parse(delivery.url.as_deref().unwrap_or(&endpoint.url)) else {
        return (Outcome::Fail(None, "the address is not a URL".into()), None);
    };
    // A prediction's end event is rendered at every attempt (its output
    // URLs are signed for an hour, and a retry may come days later); the
    // body last sent is stored only for the log and the export. `start` is
    // sent as it was queued.
    let rendered = if delivery.url.is_some() && delivery.event_type != "prediction.start" {
        match hooks.render_end(delivery, now).await {
            Ok(Some(body)) => Some(body),
            Ok(None) => {
                return (
                    Outcome::Fail(None, "the prediction was deleted".into()),
                    None,
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "rendering a prediction webhook failed");
                return (
                    Outcome::Retry(None, "the prediction could not be read".into()),
                    None,
                );
            }
        }
    } else {
        None
    };
    let id = message_id(delivery.id);
    let timestamp = now.timestamp();
    let body = rendered.as_deref().unwrap_or(&delivery.payload).as_bytes();
    let Some(signature) =
        uni1_models::predictions::sign_webhook(secret.expose(), &id, timestamp, body)
    else {
        return (
            Outcome::Fail(None, "the signing secret is not base64".into()),
            None,
        );
    };
    let headers = [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];
    let outcome = match hooks.http.post_webhook(&url, &headers, body.to_vec()).await {
        Ok(status) if (200..300).contains(&status) => Outcome::Delivered(status),
        Ok(410) => Outcome::Gone,
        Ok(status) => Outcome::Retry(Some(status), format!("the endpoint answered HTTP {status}")),
        Err(e) if e.retryable => Outcome::Retry(None, e.message),
        Err(e) => Outcome::Fail(None, e.message),
    };
    (outcome, rendered)
}

/// Records `outcome` of `delivery`'s attempt: the attempt row, and the
/// delivery delivered, rescheduled or failed.
async fn settle(
    hooks: &Webhooks,
    delivery: &webhook_delivery::Model,
    outcome: Outcome,
    rendered: Option<String>,
    now: DateTime<Utc>,
    lease: DateTime<Utc>,
    report: &mut Report,
) -> Result<(), Unexpected> {
    let db = &hooks.db;
    let attempts = delivery.attempts + 1;
    let (status, error) = match &outcome {
        Outcome::Delivered(s) => (Some(*s), None),
        Outcome::Gone => (
            Some(410),
            Some(if delivery.url.is_some() {
                "the prediction's webhook URL answered 410 Gone".to_owned()
            } else {
                "the endpoint answered 410 Gone and was turned off".to_owned()
            }),
        ),
        Outcome::Retry(s, e) | Outcome::Fail(s, e) => (*s, Some(e.clone())),
    };
    let error = error.map(|e| crate::support::audit::truncate(&e, 500));
    let txn = crate::support::tx::begin(db).await?;
    webhook_attempt::Entity::insert(webhook_attempt::ActiveModel {
        id: Set(Uuid::now_v7()),
        delivery_id: Set(delivery.id),
        endpoint_id: Set(delivery.endpoint_id),
        attempted_at: Set(now),
        response_status: Set(status.map(i32::from)),
        error: Set(error.clone()),
    })
    .exec_without_returning(&txn)
    .await
    .unexpected("recording a webhook attempt")?;
    let mut update = webhook_delivery::Entity::update_many()
        .col_expr(Column::Attempts, Expr::value(attempts))
        .col_expr(Column::LockedUntil, Expr::value(None::<DateTime<Utc>>))
        .col_expr(Column::LastStatus, Expr::value(status.map(i32::from)))
        .col_expr(Column::LastError, Expr::value(error.clone()))
        .filter(Column::Id.eq(delivery.id))
        // Only while this process still holds the delivery.
        .filter(Column::LockedUntil.eq(lease));
    if let Some(body) = rendered {
        // What was last sent, for the log and the person's export.
        update = update.col_expr(Column::Payload, Expr::value(body));
    }
    let ended = |u: sea_orm::UpdateMany<webhook_delivery::Entity>| {
        u.col_expr(Column::NextAttemptAt, Expr::value(None::<DateTime<Utc>>))
    };
    let retry_wait = match &outcome {
        Outcome::Retry(..) => hooks.schedule.after(attempts),
        _ => None,
    };
    match (outcome, retry_wait) {
        (Outcome::Delivered(_), _) => {
            ended(update)
                .col_expr(Column::DeliveredAt, Expr::value(now))
                .exec(&txn)
                .await
                .unexpected("marking a webhook delivered")?;
            report.delivered += 1;
        }
        (Outcome::Gone, _) if delivery.url.is_some() => {
            // A prediction's own URL is gone: that delivery ends; the
            // person's signer stays on for their other predictions.
            ended(update)
                .col_expr(Column::FailedAt, Expr::value(now))
                .exec(&txn)
                .await
                .unexpected("marking a webhook failed")?;
            report.failed += 1;
        }
        (Outcome::Gone, _) => {
            ended(update)
                .col_expr(Column::FailedAt, Expr::value(now))
                .exec(&txn)
                .await
                .unexpected("marking a webhook failed")?;
            let disabled = webhook_endpoint::Entity::update_many()
                .col_expr(webhook_endpoint::Column::DisabledAt, Expr::value(now))
                .col_expr(webhook_endpoint::Column::DisabledReason, Expr::value(GONE))
                .filter(webhook_endpoint::Column::Id.eq(delivery.endpoint_id))
                .filter(webhook_endpoint::Column::DisabledAt.is_null())
                .exec(&txn)
                .await
                .unexpected("turning off a gone endpoint")?;
            tracing::info!(endpoint = %delivery.endpoint_id, "a webhook endpoint answered 410; turned off");
            report.failed += 1;
            report.disabled += disabled.rows_affected as usize;
        }
        (Outcome::Retry(..), Some(wait)) => {
            update
                .col_expr(Column::NextAttemptAt, Expr::value(now + wait))
                .exec(&txn)
                .await
                .unexpected("rescheduling a webhook")?;
            report.retrying += 1;
        }
        (Outcome::Retry(..) | Outcome::Fail(..), _) => {
            ended(update)
                .col_expr(Column::FailedAt, Expr::value(now))
                .exec(&txn)
                .await
                .unexpected("marking a webhook failed")?;
            report.failed += 1;
        }
    }
    txn.commit()
        .await
        .unexpected("recording a webhook attempt")?;
    Ok(())
}

/// Deletes deliveries that ended more than [`RETENTION`] before `now`
/// (their attempts go with them), and prediction webhooks recorded that
/// long ago (their jobs ended long before); returns how many deliveries.
pub async fn purge_old(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, Unexpected> {
    let before = now - RETENTION;
    prediction_webhook::Entity::delete_many()
        .filter(prediction_webhook::Column::CreatedAt.lt(before))
        .exec(db)
        .await
        .unexpected("purging old prediction webhooks")?;
    Ok(webhook_delivery::Entity::delete_many()
        .filter(Column::NextAttemptAt.is_null())
        .filter(
            Condition::any()
                .add(Column::DeliveredAt.lt(before))
                .add(Column::FailedAt.lt(before)),
        )
        .exec(db)
        .await
        .unexpected("purging old webhooks")?
        .rows_affected)
}

/// One delivery pass (the background task "webhook delivery").
pub async fn pass(hooks: &Webhooks) {
    if let Err(e) = deliver_due(hooks, Utc::now()).await {
        tracing::error!(error = %e, "webhook delivery pass failed");
    }
}

/// One purge pass (the background task "webhook purge").
pub async fn purge_pass(hooks: &Webhooks) {
    match purge_old(&hooks.db, Utc::now()).await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "purged old webhook deliveries"),
        Err(e) => tracing::error!(error = %e, "purging old webhook deliveries failed"),
    }
}
