//! Replicate-style predictions (issue 17): a prediction is a normal
//! generation job whose studio idempotency key starts with [`KEY_PREFIX`]
//! (so the API lists and finds only the jobs made through it). Every read
//! is scoped to the owner: another person's prediction is `None`.
//! [`render`] is the prediction object, the one JSON that `GET
//! /v1/predictions/{id}` answers and a per-prediction webhook sends.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{json, Value};
use uuid::Uuid;

use super::MediaSigner;
use crate::entities::generation;
use crate::generation::{status, GenerationView, Generations};
use crate::support::error::{ResultExt, Unexpected};

/// The idempotency-key prefix of jobs made as predictions.
pub const KEY_PREFIX: &str = "rep-";
/// The owner every model of ours is published under (`uni1/<model id>`).
pub const OWNER: &str = "uni1";
/// The largest page of a listing.
pub const MAX_PAGE: u64 = 100;

/// Where a page of the listing starts: after this (queued_at, id), newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub queued_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    /// `"<nanoseconds>_<uuid>"` (the stored precision, whatever the database).
    pub fn encode(&self) -> String {
        let nanos = self
            .queued_at
            .timestamp_nanos_opt()
            .unwrap_or(self.queued_at.timestamp_micros().saturating_mul(1000));
        format!("{nanos}_{}", self.id.simple())
    }

    pub fn decode(s: &str) -> Option<Self> {
        let (nanos, id) = s.split_once('_')?;
        Some(Self {
            queued_at: DateTime::from_timestamp_nanos(nanos.parse().ok()?),
            id: Uuid::parse_str(id).ok()?,
        })
    }
}

/// The prediction `id` of `user`, or `None` (someone else's, or not made
/// as a prediction).
pub async fn get(
    gens: &Generations,
    user: Uuid,
    id: Uuid,
) -> Result<Option<GenerationView>, Unexpected> {
    let row = generation::Entity::find_by_id(id)
        .filter(generation::Column::UserId.eq(user))
        .filter(generation::Column::IdempotencyKey.starts_with(KEY_PREFIX))
        .one(&gens.db)
        .await
        .unexpected("reading a prediction")?;
    match row {
        Some(row) => Ok(gens.views(vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// The prediction object of `job` (Replicate's shape): job states map to
/// `starting` (queued), `processing` (running), `succeeded`, `failed`
/// (failed or refused) and `canceled`; outputs are signed URLs on
/// `origin`, valid for [`super::media::URL_MINUTES`] from `now`.
pub fn render(
    job: &GenerationView,
    origin: &str,
    media: &MediaSigner,
    now: DateTime<Utc>,
) -> Value {
    let id = job.id.simple().to_string();
    let state = match job.status {
        status::QUEUED => "starting",
        status::RUNNING => "processing",
        status::SUCCEEDED => "succeeded",
        status::CANCELLED => "canceled",
        _ => "failed",
    };
    let output = (job.status == status::SUCCEEDED).then(|| {
        job.images
            .iter()
            .filter(|i| !i.purged)
            .map(|i| format!("{origin}{}", media.path(i.id, now)))
            .collect::<Vec<_>>()
    });
    let error = match job.status {
        status::FAILED | status::REFUSED => Some(
            job.error
                .clone()
                .unwrap_or_else(|| "The model did not answer.".into()),
        ),
        _ => None,
    };
    let mut input = json!({
        "prompt": job.prompt,
        "aspect_ratio": job.aspect_ratio,
        "num_outputs": job.count,
    });
    if let Some(n) = &job.negative_prompt {
        input["negative_prompt"] = json!(n);
    }
    if let Some(s) = &job.style {
        input["style"] = json!(s);
    }
    if let Some(s) = job.seed {
        input["seed"] = json!(s);
    }
    let mut metrics = json!({});
    if let (Some(start), Some(end)) = (job.started_at, job.finished_at) {
        metrics["predict_time"] = json!((end - start).num_milliseconds() as f64 / 1000.0);
    }
    if job.status == status::SUCCEEDED {
        metrics["image_count"] = json!(job.images.len());
    }
    let time = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    };
    let base = format!("{origin}/v1/predictions/{id}");
    json!({
        "id": id,
        "model": format!("{OWNER}/{}", job.model_id),
        "version": job.model_id,
        "input": input,
        "logs": "",
        "output": output,
        "data_removed": false,
        "error": error,
        "status": state,
        "source": "api",
        "created_at": time(Some(job.queued_at)),
        "started_at": time(job.started_at),
        "completed_at": time(job.finished_at),
        "urls": {"get": base, "cancel": format!("{base}/cancel")},
        "metrics": metrics,
    })
}

/// A page of `user`'s predictions, newest first, after `cursor`; with the
/// cursor of the next page when there is one.
pub async fn page(
    gens: &Generations,
    user: Uuid,
    cursor: Option<Cursor>,
    size: u64,
) -> Result<(Vec<GenerationView>, Option<Cursor>), Unexpected> {
    let size = size.clamp(1, MAX_PAGE);
    let mut query = generation::Entity::find()
        .filter(generation::Column::UserId.eq(user))
        .filter(generation::Column::IdempotencyKey.starts_with(KEY_PREFIX));
    if let Some(c) = cursor {
        query = query.filter(
            Condition::any()
                .add(generation::Column::QueuedAt.lt(c.queued_at))
                .add(
                    Condition::all()
                        .add(generation::Column::QueuedAt.eq(c.queued_at))
                        .add(generation::Column::Id.lt(c.id)),
                ),
        );
    }
    let mut rows = query
        .order_by_desc(generation::Column::QueuedAt)
        .order_by_desc(generation::Column::Id)
        .limit(size + 1)
        .all(&gens.db)
        .await
        .unexpected("listing predictions")?;
    let next = if rows.len() as u64 > size {
        rows.truncate(size as usize);
        rows.last().map(|r| Cursor {
            queued_at: r.queued_at,
            id: r.id,
        })
    } else {
        None
    };
    Ok((gens.views(rows).await?, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor {
            queued_at: DateTime::from_timestamp_nanos(1_764_000_000_123_456_789),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "x_y", "12", "12_nope"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
