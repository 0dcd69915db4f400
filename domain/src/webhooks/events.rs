//! The events a generation's end produces: one outbox row per enabled
//! endpoint of the owner that subscribed to the event, written in the
//! transaction that ends the job (see the [module](super) for why).

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::entities::generation::{self, Status};
use crate::entities::{webhook_delivery, webhook_endpoint};
use crate::support::error::{ResultExt, Unexpected};

/// The event type of a job that ended in `status` (`None` while it runs).
pub fn event_type(status: Status) -> Option<&'static str> {
    match status {
        Status::Succeeded => Some("generation.succeeded"),
        // A refusal (by a back-end or the output check) is a failure to the
        // receiver; `data.reason` says which.
        Status::Failed | Status::Refused => Some("generation.failed"),
        Status::Cancelled => Some("generation.canceled"),
        Status::Queued | Status::Running => None,
    }
}

/// Standard Webhooks' timestamp form (RFC 3339, UTC, milliseconds).
fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The JSON body for job `job`, ended in `status` at `now` with `images`.
pub fn payload(
    job: &generation::Model,
    status: Status,
    error: Option<&str>,
    images: &[Uuid],
    now: DateTime<Utc>,
) -> Option<String> {
    let kind = event_type(status)?;
    let mut data = json!({
        "object": "generation",
        "id": job.id,
        "status": kind.trim_start_matches("generation."),
        "model": job.model_id,
        "created_at": stamp(job.queued_at),
        "finished_at": stamp(now),
        "image_count": images.len(),
        "image_ids": images,
    });
    if status == Status::Refused {
        data["reason"] = json!("refused");
    }
    if status != Status::Succeeded {
        if let Some(error) = error {
            data["error"] = json!(error);
        }
    }
    Some(
        json!({
            "type": kind,
            "timestamp": stamp(now),
            "data": data,
        })
        .to_string(),
    )
}

/// Whether an endpoint's event list (comma-separated) holds `kind`.
pub fn subscribed(events: &str, kind: &str) -> bool {
    events.split(',').any(|e| e.trim() == kind)
}

/// Queues the event of job `job`'s end (in `status` at `now`, with
/// `images`) for every enabled endpoint of its owner that wants it, and
/// the prediction's own webhook if it has one
/// ([`super::predictions::job_ended`]); call it in the transaction that
/// ends the job. Returns how many endpoint events were queued.
pub async fn job_ended(
    txn: &impl ConnectionTrait,
    job: &generation::Model,
    status: Status,
    error: Option<&str>,
    images: &[Uuid],
    now: DateTime<Utc>,
) -> Result<usize, Unexpected> {
    let Some(kind) = event_type(status) else {
        return Ok(0);
    };
    super::predictions::job_ended(txn, job, status, now).await?;
    let endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::UserId.eq(job.user_id))
        .filter(webhook_endpoint::Column::DisabledAt.is_null())
        .filter(webhook_endpoint::Column::Kind.eq(webhook_endpoint::KIND_ENDPOINT))
        .all(txn)
        .await
        .unexpected("reading webhook endpoints")?;
    let wanted: Vec<_> = endpoints
        .into_iter()
        .filter(|e| subscribed(&e.events, kind))
        .collect();
    if wanted.is_empty() {
        return Ok(0);
    }
    let Some(body) = payload(job, status, error, images, now) else {
        return Ok(0);
    };
    let rows = wanted.iter().map(|e| webhook_delivery::ActiveModel {
        id: Set(Uuid::now_v7()),
        endpoint_id: Set(e.id),
        user_id: Set(job.user_id),
        generation_id: Set(Some(job.id)),
        event_type: Set(kind.to_owned()),
        payload: Set(body.clone()),
        created_at: Set(now),
        attempts: Set(0),
        next_attempt_at: Set(Some(now)),
        locked_until: Set(None),
        delivered_at: Set(None),
        failed_at: Set(None),
        last_status: Set(None),
        last_error: Set(None),
        url: Set(None),
    });
    webhook_delivery::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await
        .unexpected("queueing webhooks")?;
    Ok(wanted.len())
}
