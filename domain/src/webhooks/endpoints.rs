//! A person's webhook endpoints: add, list, turn off and on, delete, rotate
//! the secret, the delivery log and "send again". Every query filters on
//! the owner, so another person's endpoint is answered like a missing one.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::{Secret, WebhookError, Webhooks, EVENT_TYPES, MAX_ENDPOINTS, MAX_URL_LEN};
use crate::entities::{webhook_attempt, webhook_delivery, webhook_endpoint};
use crate::support::error::ResultExt;

/// Attempts the log shows.
pub const LOG_LENGTH: u64 = 20;

/// An endpoint as its owner sees it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointView {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// `by_owner` or `gone` (the receiver answered 410).
    pub disabled_reason: Option<String>,
}

/// One attempt in an endpoint's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptView {
    pub delivery_id: Uuid,
    pub event_type: String,
    pub attempted_at: DateTime<Utc>,
    pub response_status: Option<i32>,
    pub error: Option<String>,
    /// `delivered`, `retrying` or `failed`: where the delivery is now.
    pub delivery_state: &'static str,
    /// Whether "send again" applies (the delivery ended).
    pub can_resend: bool,
}

/// Where a delivery is.
pub fn state_of(d: &webhook_delivery::Model) -> &'static str {
    if d.delivered_at.is_some() {
        "delivered"
    } else if d.next_attempt_at.is_some() {
        "retrying"
    } else {
        "failed"
    }
}

fn view(m: webhook_endpoint::Model) -> EndpointView {
    EndpointView {
        id: m.id,
        url: m.url,
        events: m
            .events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: m.created_at,
        disabled_at: m.disabled_at,
        disabled_reason: m.disabled_reason,
    }
}

/// The event list to store: the known types among `events`, in their
/// canonical order.
fn parse_events(events: &[String]) -> Result<String, WebhookError> {
    let chosen: Vec<&str> = EVENT_TYPES
        .iter()
        .copied()
        .filter(|t| events.iter().any(|e| e.trim() == *t))
        .collect();
    if chosen.is_empty() {
        return Err(WebhookError::NoEvents);
    }
    Ok(chosen.join(","))
}

impl Webhooks {
    /// Checks `raw` as an endpoint address: an absolute https URL (http only
    /// to loopback when allowed) that the outbound client would call.
    pub fn parse_url(&self, raw: &str) -> Result<url::Url, WebhookError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > MAX_URL_LEN {
            return Err(WebhookError::BadUrl);
        }
        let mut url = url::Url::parse(raw).map_err(|_| WebhookError::BadUrl)?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(WebhookError::BadUrl);
        }
        url.set_fragment(None);
        self.http
            .check_endpoint(&url)
            .map_err(WebhookError::Refused)?;
        Ok(url)
    }

    /// Registers an endpoint for `owner`; returns it and its secret, which
    /// is shown once.
    pub async fn add(
        &self,
        owner: Uuid,
        url: &str,
        events: &[String],
    ) -> Result<(EndpointView, Secret), WebhookError> {
        let url = self.parse_url(url)?;
        let events = parse_events(events)?;
        let txn = crate::support::tx::begin(&self.db).await?;
        // One endpoint added per person at a time, so parallel requests
        // cannot pass the count together.
        crate::support::tx::lock_person(&txn, owner).await?;
        let have = webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::UserId.eq(owner))
            .filter(webhook_endpoint::Column::Kind.eq(webhook_endpoint::KIND_ENDPOINT))
            .count(&txn)
            .await
            .unexpected("counting webhook endpoints")?;
        if have >= MAX_ENDPOINTS {
            return Err(WebhookError::TooMany);
        }
        let id = Uuid::now_v7();
        let secret = Secret::generate();
        let row = webhook_endpoint::Model {
            id,
            user_id: owner,
            url: url.to_string(),
            events,
            secret_sealed: secret.seal(&self.key, id),
            created_at: Utc::now(),
            disabled_at: None,
            disabled_reason: None,
            kind: webhook_endpoint::KIND_ENDPOINT.to_owned(),
        };
        webhook_endpoint::Entity::insert(webhook_endpoint::ActiveModel {
            id: Set(row.id),
            user_id: Set(row.user_id),
            url: Set(row.url.clone()),
            events: Set(row.events.clone()),
            secret_sealed: Set(row.secret_sealed.clone()),
            created_at: Set(row.created_at),
            disabled_at: Set(None),
            disabled_reason: Set(None),
            kind: Set(row.kind.clone()),
        })
        .exec_without_returning(&txn)
        .await
        .unexpected("adding a webhook endpoint")?;
        txn.commit().await.unexpected("adding a webhook endpoint")?;
        Ok((view(row), secret))
    }

    /// `owner`'s endpoints, oldest first.
    pub async fn list(&self, owner: Uuid) -> Result<Vec<EndpointView>, WebhookError> {
        Ok(webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::UserId.eq(owner))
            .filter(webhook_endpoint::Column::Kind.eq(webhook_endpoint::KIND_ENDPOINT))
            .order_by_asc(webhook_endpoint::Column::CreatedAt)
            .all(&self.db)
            .await
            .unexpected("listing webhook endpoints")?
            .into_iter()
            .map(view)
            .collect())
    }

    async fn owned(&self, owner: Uuid, id: Uuid) -> Result<webhook_endpoint::Model, WebhookError> {
        webhook_endpoint::Entity::find_by_id(id)
            .filter(webhook_endpoint::Column::UserId.eq(owner))
            .filter(webhook_endpoint::Column::Kind.eq(webhook_endpoint::KIND_ENDPOINT))
            .one(&self.db)
            .await
            .unexpected("reading a webhook endpoint")?
            .ok_or(WebhookError::NotFound)
    }

    /// Turns `owner`'s endpoint `id` off or on.
    pub async fn set_enabled(&self, owner: Uuid, id: Uuid, on: bool) -> Result<(), WebhookError> {
        self.owned(owner, id).await?;
        let (at, reason) = if on {
            (None, None)
        } else {
            (Some(Utc::now()), Some("by_owner".to_owned()))
        };
        webhook_endpoint::Entity::update_many()
            .col_expr(webhook_endpoint::Column::DisabledAt, Expr::value(at))
            .col_expr(
                webhook_endpoint::Column::DisabledReason,
                Expr::value(reason),
            )
            .filter(webhook_endpoint::Column::Id.eq(id))
            .filter(webhook_endpoint::Column::UserId.eq(owner))
            .exec(&self.db)
            .await
            .unexpected("turning a webhook endpoint off or on")?;
        Ok(())
    }

    /// Deletes `owner`'s endpoint `id` with its deliveries and log.
    pub async fn delete(&self, owner: Uuid, id: Uuid) -> Result<(), WebhookError> {
        let gone = webhook_endpoint::Entity::delete_many()
            .filter(webhook_endpoint::Column::Id.eq(id))
            .filter(webhook_endpoint::Column::UserId.eq(owner))
            .filter(webhook_endpoint::Column::Kind.eq(webhook_endpoint::KIND_ENDPOINT))
            .exec(&self.db)
            .await
            .unexpected("deleting a webhook endpoint")?;
        if gone.rows_affected == 0 {
            return Err(WebhookError::NotFound);
        }
        Ok(())
    }

    /// A new secret for `owner`'s endpoint `id` (shown once); the old one
    /// stops signing at once.
    pub async fn rotate_secret(&self, owner: Uuid, id: Uuid) -> Result<Secret, WebhookError> {
        self.owned(owner, id).await?;
        let secret = Secret::generate();
        webhook_endpoint::Entity::update_many()
            .col_expr(
                webhook_endpoint::Column::SecretSealed,
                Expr::value(secret.seal(&self.key, id)),
            )
            .filter(webhook_endpoint::Column::Id.eq(id))
            .filter(webhook_endpoint::Column::UserId.eq(owner))
            .exec(&self.db)
            .await
            .unexpected("rotating a webhook secret")?;
        Ok(secret)
    }

    /// The last [`LOG_LENGTH`] attempts to `owner`'s endpoint `id`, newest
    /// first.
    pub async fn log(&self, owner: Uuid, id: Uuid) -> Result<Vec<AttemptView>, WebhookError> {
        self.owned(owner, id).await?;
        let attempts = webhook_attempt::Entity::find()
            .filter(webhook_attempt::Column::EndpointId.eq(id))
            .order_by_desc(webhook_attempt::Column::AttemptedAt)
            .order_by_desc(webhook_attempt::Column::Id)
            .limit(LOG_LENGTH)
            .all(&self.db)
            .await
            .unexpected("reading a webhook log")?;
        let ids: Vec<Uuid> = attempts.iter().map(|a| a.delivery_id).collect();
        let deliveries = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Id.is_in(ids))
            .filter(webhook_delivery::Column::UserId.eq(owner))
            .all(&self.db)
            .await
            .unexpected("reading webhook deliveries")?;
        Ok(attempts
            .into_iter()
            .filter_map(|a| {
                let d = deliveries.iter().find(|d| d.id == a.delivery_id)?;
                Some(AttemptView {
                    delivery_id: d.id,
                    event_type: d.event_type.clone(),
                    attempted_at: a.attempted_at,
                    response_status: a.response_status,
                    error: a.error,
                    delivery_state: state_of(d),
                    can_resend: d.next_attempt_at.is_none(),
                })
            })
            .collect())
    }

    /// "Send again": `owner`'s ended delivery `delivery` goes back in the
    /// queue, due now, with a fresh retry schedule (same `webhook-id`).
    pub async fn send_again(&self, owner: Uuid, delivery: Uuid) -> Result<(), WebhookError> {
        let row = webhook_delivery::Entity::find_by_id(delivery)
            .filter(webhook_delivery::Column::UserId.eq(owner))
            .one(&self.db)
            .await
            .unexpected("reading a webhook delivery")?
            .ok_or(WebhookError::NotFound)?;
        let endpoint = self.owned(owner, row.endpoint_id).await?;
        if endpoint.disabled_at.is_some() {
            return Err(WebhookError::Disabled);
        }
        let now = Utc::now();
        let queued = webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now))
            .col_expr(webhook_delivery::Column::Attempts, Expr::value(0))
            .col_expr(
                webhook_delivery::Column::DeliveredAt,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(
                webhook_delivery::Column::FailedAt,
                Expr::value(None::<DateTime<Utc>>),
            )
            .filter(webhook_delivery::Column::Id.eq(delivery))
            .filter(webhook_delivery::Column::UserId.eq(owner))
            .filter(webhook_delivery::Column::NextAttemptAt.is_null())
            .exec(&self.db)
            .await
            .unexpected("sending a webhook again")?;
        if queued.rows_affected == 0 {
            return Err(WebhookError::InProgress);
        }
        Ok(())
    }
}
