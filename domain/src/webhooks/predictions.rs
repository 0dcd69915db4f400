//! Per-prediction webhooks, as Replicate has them: a prediction made with
//! `webhook` (and optionally `webhook_events_filter`) gets the prediction
//! object (the JSON of `GET /v1/predictions/{id}`) POSTed to that URL.
//!
//! They go through the same outbox and delivery pass as endpoint webhooks
//! (same retries, same Standard Webhooks headers). What differs:
//!
//! - The signing secret is the person's *default* secret, which
//!   Replicate's clients fetch from `GET /v1/webhooks/default/secret`
//!   (`replicate.webhooks.default.secret()`). It is the sealed secret of
//!   the person's one `webhook_endpoints` row of kind `predictions` (the
//!   "signer"), whose id is the person's id (so making it twice at once is
//!   harmless). The signer is never listed, counted or subscribed to
//!   events, and a 410 from a prediction's URL never turns it off.
//! - Each delivery carries its own URL (`webhook_deliveries.url`).
//! - The hook is recorded under the job's idempotency key *before* the job
//!   is submitted, so the transaction that ends the job always finds it.
//!
//! The filter (`start`, `output`, `logs`, `completed`; default all):
//! - `start`: once, when the prediction is created (status `starting`).
//! - `completed`: once, when it ends (`succeeded`, `failed`, `canceled`).
//! - `output`: Replicate sends it each time a prediction makes output; a
//!   job here makes all its images at once when it succeeds, so `output`
//!   is one delivery at success, and none when `completed` is also asked
//!   for (that delivery carries the same output at the same moment).
//! - `logs`: predictions here have no logs (`logs` is always empty), so it
//!   sends nothing; it is accepted so Replicate clients' filters work.
//!
//! A `start` body is rendered when the prediction is created; an end
//! event's body is rendered when it is sent (the job's end is final, and
//! its output URLs are then signed for the hour after each attempt). Each
//! event's delivery id is derived from the job and the event, so it is
//! queued at most once however often the creation is retried.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Secret, Webhooks};
use crate::developer::predictions::{self, KEY_PREFIX};
use crate::entities::generation::{self, Status};
use crate::entities::{prediction_webhook, webhook_delivery, webhook_endpoint};
use crate::generation::{status, GenerationView};
use crate::support::error::{ResultExt, Unexpected};

/// The filter's event names, in Replicate's order.
pub const FILTER_EVENTS: &[&str] = &["start", "output", "logs", "completed"];

/// A checked `webhook_events_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter {
    pub start: bool,
    pub output: bool,
    pub logs: bool,
    pub completed: bool,
}

impl Filter {
    /// Every event (no filter given).
    pub const ALL: Filter = Filter {
        start: true,
        output: true,
        logs: true,
        completed: true,
    };

    /// The filter of `names`; an unknown name or an empty list is refused
    /// with a message that is safe to show.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut f = Filter {
            start: false,
            output: false,
            logs: false,
            completed: false,
        };
        for name in names {
            match name.as_ref() {
                "start" => f.start = true,
                "output" => f.output = true,
                "logs" => f.logs = true,
                "completed" => f.completed = true,
                other => {
                    return Err(format!(
                        "'{other}' is not an event: use start, output, logs or completed."
                    ))
                }
            }
        }
        if f == Self::from_stored("") {
            return Err("Choose at least one of start, output, logs or completed.".into());
        }
        Ok(f)
    }

    fn stored(self) -> String {
        let on = [self.start, self.output, self.logs, self.completed];
        FILTER_EVENTS
            .iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .map(|(e, _)| *e)
            .collect::<Vec<_>>()
            .join(",")
    }

    fn from_stored(s: &str) -> Self {
        let has = |e: &str| s.split(',').any(|x| x == e);
        Filter {
            start: has("start"),
            output: has("output"),
            logs: has("logs"),
            completed: has("completed"),
        }
    }

    /// The event sent when the job ends in `status`, if any.
    pub fn on_end(self, status: Status) -> Option<&'static str> {
        if self.completed {
            Some("completed")
        } else if self.output && status == status::SUCCEEDED {
            Some("output")
        } else {
            None
        }
    }
}

/// The delivery id of `event` of job `job`: the same on every call, so an
/// event is queued once.
pub fn delivery_id(job: Uuid, event: &str) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"uni1 prediction webhook v1\0")
        .chain_update(job.as_bytes())
        .chain_update(event.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Queues `event` of `job` for the prediction's URL (nothing if it is
/// already queued). `payload` empty: rendered when sent.
async fn queue(
    db: &impl ConnectionTrait,
    hook: &prediction_webhook::Model,
    job: Uuid,
    event: &str,
    payload: String,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Unexpected> {
    webhook_delivery::Entity::insert(webhook_delivery::ActiveModel {
        id: Set(delivery_id(job, event)),
        endpoint_id: Set(hook.signer_id),
        user_id: Set(hook.user_id),
        generation_id: Set(Some(job)),
        event_type: Set(format!("prediction.{event}")),
        payload: Set(payload),
        created_at: Set(now),
        attempts: Set(0),
        next_attempt_at: Set(Some(due)),
        locked_until: Set(None),
        delivered_at: Set(None),
        failed_at: Set(None),
        last_status: Set(None),
        last_error: Set(None),
        url: Set(Some(hook.url.clone())),
    })
    .on_conflict(
        OnConflict::column(webhook_delivery::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .unexpected("queueing a prediction webhook")?;
    Ok(())
}

async fn hook_of(
    db: &impl ConnectionTrait,
    user: Uuid,
    job_key: &str,
) -> Result<Option<prediction_webhook::Model>, Unexpected> {
    prediction_webhook::Entity::find()
        .filter(prediction_webhook::Column::UserId.eq(user))
        .filter(prediction_webhook::Column::JobKey.eq(job_key))
        .one(db)
        .await
        .unexpected("reading a prediction webhook")
}

/// Queues the end event of prediction `job` (ended in `status` at `now`)
/// if it has a webhook that wants it; call it in the transaction that ends
/// the job. Other jobs cost nothing (no query).
pub async fn job_ended(
    txn: &impl ConnectionTrait,
    job: &generation::Model,
    status: Status,
    now: DateTime<Utc>,
) -> Result<(), Unexpected> {
    if !job.idempotency_key.starts_with(KEY_PREFIX) {
        return Ok(());
    }
    let Some(hook) = hook_of(txn, job.user_id, &job.idempotency_key).await? else {
        return Ok(());
    };
    match Filter::from_stored(&hook.events).on_end(status) {
        Some(event) => queue(txn, &hook, job.id, event, String::new(), now, now).await,
        None => Ok(()),
    }
}

impl Webhooks {
    /// The id of `user`'s signer (made on first use) and its secret.
    async fn signer(&self, user: Uuid) -> Result<(Uuid, Secret), Unexpected> {
        let id = user;
        if let Some(row) = webhook_endpoint::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .unexpected("reading the default webhook secret")?
        {
            return Secret::open(&self.key, &row.secret_sealed, id)
                .map(|s| (id, s))
                .ok_or_else(|| {
                    Unexpected::new(
                        "opening the default webhook secret",
                        std::io::Error::other("the sealed secret does not open"),
                    )
                });
        }
        let secret = Secret::generate();
        let inserted = webhook_endpoint::Entity::insert(webhook_endpoint::ActiveModel {
            id: Set(id),
            user_id: Set(user),
            url: Set(String::new()),
            events: Set(String::new()),
            secret_sealed: Set(secret.seal(&self.key, id)),
            created_at: Set(Utc::now()),
            disabled_at: Set(None),
            disabled_reason: Set(None),
            kind: Set(webhook_endpoint::KIND_PREDICTIONS.to_owned()),
        })
        .on_conflict(
            OnConflict::column(webhook_endpoint::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await
        .unexpected("making the default webhook secret")?;
        if inserted == 1 {
            return Ok((id, secret));
        }
        // Another request made it first: use theirs.
        Box::pin(self.signer(user)).await
    }

    /// `user`'s default signing secret (made on first use): it signs the
    /// webhooks of their predictions.
    pub async fn default_secret(&self, user: Uuid) -> Result<Secret, Unexpected> {
        Ok(self.signer(user).await?.1)
    }

    /// Records the webhook of the prediction whose job will have the
    /// idempotency key `job_key`; call it before submitting the job.
    pub async fn register_prediction(&self, hook: NewHook<'_>) -> Result<(), Unexpected> {
        let NewHook {
            user,
            job_key,
            url,
            filter,
            origin,
        } = hook;
        let (signer, _) = self.signer(user).await?;
        prediction_webhook::Entity::insert(prediction_webhook::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user),
            job_key: Set(job_key.to_owned()),
            signer_id: Set(signer),
            url: Set(url.to_string()),
            events: Set(filter.stored()),
            origin: Set(origin.trim_end_matches('/').to_owned()),
            created_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::columns([
                prediction_webhook::Column::UserId,
                prediction_webhook::Column::JobKey,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await
        .unexpected("recording a prediction webhook")?;
        Ok(())
    }

    /// Forgets the webhook registered for `job_key`: its job was refused
    /// before it was made.
    pub async fn forget_prediction(&self, user: Uuid, job_key: &str) -> Result<(), Unexpected> {
        prediction_webhook::Entity::delete_many()
            .filter(prediction_webhook::Column::UserId.eq(user))
            .filter(prediction_webhook::Column::JobKey.eq(job_key))
            .exec(&self.db)
            .await
            .unexpected("forgetting a prediction webhook")?;
        Ok(())
    }

    /// After the job of `job_key` was submitted (as `job`): queues `start`
    /// with the prediction as it is now, or, for a job that ended at once
    /// (a prompt refused on submission), its end event.
    pub async fn prediction_created(
        &self,
        user: Uuid,
        job_key: &str,
        job: &GenerationView,
    ) -> Result<(), Unexpected> {
        let Some(hook) = hook_of(&self.db, user, job_key).await? else {
            return Ok(());
        };
        let filter = Filter::from_stored(&hook.events);
        let now = Utc::now();
        if matches!(job.status, status::QUEUED | status::RUNNING) {
            if filter.start {
                let body = predictions::render(job, &hook.origin, &self.media, now).to_string();
                queue(&self.db, &hook, job.id, "start", body, job.queued_at, now).await?;
            }
        } else if let Some(event) = filter.on_end(job.status) {
            queue(&self.db, &hook, job.id, event, String::new(), now, now).await?;
        }
        Ok(())
    }

    /// The body of an end event of `delivery` (rendered when sent), or
    /// `None` when the prediction or its hook is gone.
    pub(super) async fn render_end(
        &self,
        delivery: &webhook_delivery::Model,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, Unexpected> {
        let Some(id) = delivery.generation_id else {
            return Ok(None);
        };
        let Some(row) = generation::Entity::find_by_id(id)
            .filter(generation::Column::UserId.eq(delivery.user_id))
            .one(&self.db)
            .await
            .unexpected("reading a prediction")?
        else {
            return Ok(None);
        };
        let Some(hook) = hook_of(&self.db, row.user_id, &row.idempotency_key).await? else {
            return Ok(None);
        };
        let view = crate::generation::Generations::views_in(&self.db, vec![row])
            .await?
            .pop();
        Ok(view.map(|job| predictions::render(&job, &hook.origin, &self.media, now).to_string()))
    }
}

/// A prediction's webhook, to record before its job is submitted.
#[derive(Debug, Clone, Copy)]
pub struct NewHook<'a> {
    pub user: Uuid,
    /// The idempotency key the job will have.
    pub job_key: &'a str,
    pub url: &'a url::Url,
    pub filter: Filter,
    /// The origin the prediction is made on.
    pub origin: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_store_and_choose_the_end_event() {
        assert_eq!(
            Filter::parse(&["start", "completed"])
                .ok()
                .map(|f| f.stored()),
            Some("start,completed".into())
        );
        assert_eq!(Filter::from_stored(&Filter::ALL.stored()), Filter::ALL);
        assert!(Filter::parse(&["bogus"]).is_err());
        assert!(Filter::parse::<&str>(&[]).is_err());
        let completed = Filter::from_stored("completed");
        assert_eq!(completed.on_end(status::SUCCEEDED), Some("completed"));
        assert_eq!(completed.on_end(status::CANCELLED), Some("completed"));
        let output = Filter::from_stored("start,output");
        assert_eq!(output.on_end(status::SUCCEEDED), Some("output"));
        assert_eq!(output.on_end(status::FAILED), None);
        assert_eq!(Filter::from_stored("logs").on_end(status::SUCCEEDED), None);
        // Both: one delivery, `completed`.
        assert_eq!(Filter::ALL.on_end(status::SUCCEEDED), Some("completed"));
    }

    #[test]
    fn delivery_ids_are_one_per_job_and_event() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(delivery_id(a, "start"), delivery_id(a, "start"));
        assert_ne!(delivery_id(a, "start"), delivery_id(a, "completed"));
        assert_ne!(delivery_id(a, "start"), delivery_id(b, "start"));
    }
}
