//! Provider events that were verified but failed to apply: the database or
//! the provider's API failed, the transaction rolled back, and the webhook
//! was answered with an error so the provider sends the event again. Each
//! is kept (sealed with the app key: a checkout can name the buyer's
//! address) until it is applied, by the provider's retry or by staff
//! applying it again from the payments page, and for 30 days at most.

use chrono::{Duration, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uni1_payments::Event;
use uuid::Uuid;

use super::orders::{Billing, WebhookError, WebhookOutcome, CREEM, STRIPE};
use crate::entities::payment_event_failure as failure;
use crate::support::crypto::AppKey;
use crate::support::error::{ResultExt as _, Unexpected};

/// How long a failed event is kept.
pub const KEPT_DAYS: i64 = 30;

/// A failed event as staff see it (no payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEvent {
    pub id: Uuid,
    pub provider: String,
    pub event_id: String,
    pub event_type: String,
    pub error: String,
    pub attempts: i32,
    pub first_failed_at: chrono::DateTime<Utc>,
    pub last_failed_at: chrono::DateTime<Utc>,
}

impl From<failure::Model> for FailedEvent {
    fn from(f: failure::Model) -> Self {
        Self {
            id: f.id,
            provider: f.provider,
            event_id: f.event_id,
            event_type: f.event_type,
            error: f.error,
            attempts: f.attempts,
            first_failed_at: f.first_failed_at,
            last_failed_at: f.last_failed_at,
        }
    }
}

fn aad(provider: &str, event_id: &str) -> Vec<u8> {
    format!("payment-event:{provider}:{event_id}").into_bytes()
}

/// After an event was handled: applied (or a repeat) -> its failure is
/// forgotten; failed -> it is kept to be applied again. Never fails the
/// webhook itself (a failure here is logged).
pub(super) async fn note(
    db: &DatabaseConnection,
    key: &AppKey,
    provider: &str,
    event: &Event,
    payload: &str,
    applied: &Result<WebhookOutcome, WebhookError>,
) {
    let done = match applied {
        Ok(_) => forget(db, provider, &event.id).await,
        Err(WebhookError::Unexpected(_)) => {
            keep(
                db,
                key,
                provider,
                event,
                payload,
                "uni1 could not store its effect (see the server log at that time).",
            )
            .await
        }
        Err(WebhookError::ProviderUnavailable(_)) => {
            keep(
                db,
                key,
                provider,
                event,
                payload,
                "The payment provider's API did not answer a read the event needs.",
            )
            .await
        }
        Err(_) => return,
    };
    if let Err(e) = done {
        tracing::warn!(error = ?e, event = %event.id, "recording a failed payment event failed");
    }
}

async fn forget(db: &DatabaseConnection, provider: &str, event_id: &str) -> Result<(), Unexpected> {
    failure::Entity::delete_many()
        .filter(failure::Column::Provider.eq(provider))
        .filter(failure::Column::EventId.eq(event_id))
        .exec(db)
        .await
        .unexpected("forgetting a failed payment event")?;
    Ok(())
}

async fn keep(
    db: &DatabaseConnection,
    key: &AppKey,
    provider: &str,
    event: &Event,
    payload: &str,
    error: &str,
) -> Result<(), Unexpected> {
    let now = Utc::now();
    failure::Entity::insert(failure::ActiveModel {
        id: Set(Uuid::now_v7()),
        provider: Set(provider.to_owned()),
        event_id: Set(event.id.chars().take(255).collect()),
        event_type: Set(event.kind.chars().take(100).collect()),
        payload: Set(key.seal(payload.as_bytes(), &aad(provider, &event.id))),
        error: Set(error.chars().take(300).collect()),
        attempts: Set(1),
        first_failed_at: Set(now),
        last_failed_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([failure::Column::Provider, failure::Column::EventId])
            .update_columns([failure::Column::Error, failure::Column::LastFailedAt])
            .value(
                failure::Column::Attempts,
                Expr::col((failure::Entity, failure::Column::Attempts)).add(1),
            )
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .unexpected("recording a failed payment event")?;
    // Past the provider's own retries long ago: nobody will apply these.
    failure::Entity::delete_many()
        .filter(failure::Column::LastFailedAt.lt(now - Duration::days(KEPT_DAYS)))
        .exec(db)
        .await
        .unexpected("purging failed payment events")?;
    Ok(())
}

/// Events that failed to apply, the most recent failure first.
pub(crate) async fn list(
    db: &DatabaseConnection,
    limit: u64,
) -> Result<Vec<FailedEvent>, Unexpected> {
    Ok(failure::Entity::find()
        .order_by_desc(failure::Column::LastFailedAt)
        .limit(limit)
        .all(db)
        .await
        .unexpected("listing failed payment events")?
        .into_iter()
        .map(FailedEvent::from)
        .collect())
}

/// Why a failed event was not applied again.
#[derive(Debug, thiserror::Error)]
pub enum ApplyAgainError {
    #[error("That event is not in the list any more: it was applied meanwhile, or is older than 30 days.")]
    NotFound,
    #[error("It failed again: {0} It stays in the list.")]
    FailedAgain(String),
    #[error("This event's provider is not set up on this server.")]
    NotConfigured,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

impl Billing {
    /// Applies failed event `id` again, exactly as its delivery would
    /// (once: if the provider's retry applied it meanwhile, this is a
    /// repeat and changes nothing). Returns the event and what it did.
    pub async fn apply_again(
        &self,
        id: Uuid,
    ) -> Result<(FailedEvent, WebhookOutcome), ApplyAgainError> {
        let f = failure::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .unexpected("reading a failed payment event")?
            .ok_or(ApplyAgainError::NotFound)?;
        let payload = self
            .key
            .open(&f.payload, &aad(&f.provider, &f.event_id))
            .ok()
            .and_then(|p| String::from_utf8(p).ok())
            .ok_or_else(|| {
                Unexpected::new(
                    "opening a failed payment event",
                    std::io::Error::other("the sealed payload cannot be opened"),
                )
            })?;
        let provider = match f.provider.as_str() {
            STRIPE => STRIPE,
            CREEM => CREEM,
            _ => return Err(ApplyAgainError::NotConfigured),
        };
        let read = match (provider, &self.stripe, &self.creem) {
            (STRIPE, Some(stripe), _) => stripe.reread(&payload),
            (CREEM, _, Some(creem)) => creem.reread(&payload),
            _ => return Err(ApplyAgainError::NotConfigured),
        };
        let event = read.ok().filter(|e| e.id == f.event_id).ok_or_else(|| {
            Unexpected::new(
                "reading a failed payment event again",
                std::io::Error::other("the stored event does not read as the one that failed"),
            )
        })?;
        let applied = self.apply_event(provider, &event).await;
        note(&self.db, &self.key, provider, &event, &payload, &applied).await;
        let shown = FailedEvent::from(f);
        match applied {
            Ok(outcome) => Ok((shown, outcome)),
            Err(WebhookError::Unexpected(e)) => Err(ApplyAgainError::Unexpected(e)),
            Err(WebhookError::ProviderUnavailable(_)) => Err(ApplyAgainError::FailedAgain(
                "the payment provider's API did not answer.".into(),
            )),
            Err(WebhookError::NotConfigured) => Err(ApplyAgainError::NotConfigured),
            Err(WebhookError::Refused(r)) => Err(ApplyAgainError::FailedAgain(format!("{r}."))),
        }
    }
}
