//! Payments as staff see them (ADM-1): orders and plans with filters, and
//! the provider's webhook events with their outcome, the ones uni1 refused
//! (an amount or currency that does not match, an event naming another
//! order) first: those need a person; and verified events that failed to
//! apply, which admins can apply again once the cause is fixed.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::audit::{self, Target};
use super::{Admin, AdminError, Staff};
use crate::billing::failed_events::{self, ApplyAgainError, FailedEvent};
use crate::billing::{Billing, WebhookOutcome};
use crate::entities::{order, payment_event, subscription, user};
use crate::support::error::ResultExt;

/// Rows one table shows at most.
pub const LIMIT: u64 = 200;

/// Which payments to list.
#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    /// `pending`, `paid`, `refunded`, … (as stored).
    pub status: Option<String>,
    /// `stripe` or `creem`.
    pub provider: Option<String>,
    /// The buyer's e-mail address (exact, any case).
    pub email: Option<String>,
}

/// What the payments page shows.
#[derive(Debug, Clone)]
pub struct Payments {
    /// Each order with its buyer's address (`None`: account deleted).
    pub orders: Vec<(order::Model, Option<String>)>,
    pub subscriptions: Vec<(subscription::Model, Option<String>)>,
    /// Refused events first, then the newest.
    pub events: Vec<payment_event::Model>,
    /// Verified events that failed to apply (the provider retries them;
    /// staff can apply them again).
    pub failed: Vec<FailedEvent>,
}

impl Payments {
    /// Whether an event's outcome needs a person.
    pub fn needs_a_person(event: &payment_event::Model) -> bool {
        event.outcome.starts_with("refused")
    }
}

impl Admin {
    /// Orders, plans and webhook events matching `filter`, newest first.
    pub async fn payments(
        &self,
        _staff: &Staff,
        filter: &PaymentFilter,
    ) -> Result<Payments, AdminError> {
        let buyer = match filter
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            Some(email) => Some(self.find_person(email).await?),
            None => None,
        };
        let mut orders = order::Entity::find();
        let mut subs = subscription::Entity::find();
        if let Some(status) = &filter.status {
            orders = orders.filter(order::Column::Status.eq(status.as_str()));
            subs = subs.filter(subscription::Column::Status.eq(status.as_str()));
        }
        if let Some(provider) = &filter.provider {
            orders = orders.filter(order::Column::Provider.eq(provider.as_str()));
            subs = subs.filter(subscription::Column::Provider.eq(provider.as_str()));
        }
        if let Some(id) = buyer {
            orders = orders.filter(order::Column::UserId.eq(id));
            subs = subs.filter(subscription::Column::UserId.eq(id));
        }
        let orders = orders
            .order_by_desc(order::Column::CreatedAt)
            .limit(LIMIT)
            .all(&self.db)
            .await
            .unexpected("listing orders")?;
        let subs = subs
            .order_by_desc(subscription::Column::CreatedAt)
            .limit(LIMIT)
            .all(&self.db)
            .await
            .unexpected("listing plans")?;
        let mut events = payment_event::Entity::find()
            .filter(payment_event::Column::Outcome.starts_with("refused"))
            .order_by_desc(payment_event::Column::ReceivedAt)
            .limit(LIMIT)
            .all(&self.db)
            .await
            .unexpected("listing payment events")?;
        let room = LIMIT.saturating_sub(events.len() as u64);
        events.extend(
            payment_event::Entity::find()
                .filter(payment_event::Column::Outcome.not_like("refused%"))
                .order_by_desc(payment_event::Column::ReceivedAt)
                .limit(room)
                .all(&self.db)
                .await
                .unexpected("listing payment events")?,
        );
        let ids: Vec<Uuid> = orders
            .iter()
            .filter_map(|o| o.user_id)
            .chain(subs.iter().filter_map(|s| s.user_id))
            .collect();
        let emails = self.emails(ids).await?;
        let email_of = |id: Option<Uuid>| id.and_then(|id| emails.get(&id).cloned());
        let failed = failed_events::list(&self.db, LIMIT).await?;
        Ok(Payments {
            failed,
            orders: orders
                .into_iter()
                .map(|o| {
                    let e = email_of(o.user_id);
                    (o, e)
                })
                .collect(),
            subscriptions: subs
                .into_iter()
                .map(|s| {
                    let e = email_of(s.user_id);
                    (s, e)
                })
                .collect(),
            events,
        })
    }

    /// Applies a verified event that failed again (admins), once the cause
    /// is fixed; audited with the reason. Returns what it did.
    pub async fn apply_event_again(
        &self,
        staff: &Staff,
        billing: &Billing,
        id: Uuid,
        why: &str,
        request_id: Option<&str>,
    ) -> Result<String, AdminError> {
        if !staff.is_admin() {
            return Err(AdminError::Forbidden);
        }
        let why = super::reason("reason", why)?;
        let (event, outcome) = billing.apply_again(id).await.map_err(|e| match e {
            ApplyAgainError::Unexpected(e) => AdminError::Unexpected(e),
            ApplyAgainError::NotFound => AdminError::invalid("", e.to_string()),
            other => AdminError::invalid("", other.to_string()),
        })?;
        let outcome = match outcome {
            WebhookOutcome::Applied(text) => text,
            WebhookOutcome::Duplicate => "applied before (a repeat): nothing changed".into(),
        };
        audit::record(
            &self.db,
            staff,
            "payment_event.apply_again",
            Target {
                user: None,
                other: Some(format!("event:{}:{}", event.provider, event.event_id)),
            },
            Some(&why),
            request_id,
        )
        .await?;
        Ok(outcome)
    }

    /// The addresses of these accounts.
    pub(crate) async fn emails(
        &self,
        ids: Vec<Uuid>,
    ) -> Result<std::collections::HashMap<Uuid, String>, AdminError> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        Ok(user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .column(user::Column::Email)
            .filter(user::Column::Id.is_in(ids))
            .into_tuple::<(Uuid, String)>()
            .all(&self.db)
            .await
            .unexpected("reading addresses")?
            .into_iter()
            .collect())
    }
}
