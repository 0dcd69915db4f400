//! An order as staff see it, and the refund staff start from its page
//! (admins only, with a reason, audited). The money goes back through the
//! provider; the credits come back through the same path as the provider's
//! own refund event ([`crate::billing::refunds`]).

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::audit::{self, Target};
use super::{Admin, AdminError, Staff};
use crate::billing::catalog::parse_amount;
use crate::billing::refunds::{self, RefundError, Refunded};
use crate::billing::Billing;
use crate::entities::{order, payment_event};
use crate::support::error::ResultExt;
use crate::support::tx;

/// One order with what happened to it.
#[derive(Debug, Clone)]
pub struct OrderDetail {
    pub order: order::Model,
    /// The buyer's address (`None`: account deleted).
    pub email: Option<String>,
    /// The provider's events that named it, oldest first.
    pub events: Vec<payment_event::Model>,
}

impl Admin {
    /// Order `id` with its buyer and events.
    pub async fn order(&self, _staff: &Staff, id: Uuid) -> Result<OrderDetail, AdminError> {
        let order = order::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .unexpected("reading an order")?
            .ok_or(AdminError::NotFound)?;
        let events = payment_event::Entity::find()
            .filter(payment_event::Column::OrderId.eq(id))
            .order_by_asc(payment_event::Column::ReceivedAt)
            .all(&self.db)
            .await
            .unexpected("reading payment events")?;
        let email = match order.user_id {
            Some(u) => self.emails(vec![u]).await?.remove(&u),
            None => None,
        };
        Ok(OrderDetail {
            order,
            email,
            events,
        })
    }

    /// Refunds `amount` (as typed, in the order's currency; empty: all
    /// that is left) of order `id` through its provider (admins only).
    pub async fn refund_order(
        &self,
        staff: &Staff,
        billing: &Billing,
        id: Uuid,
        amount: &str,
        why: &str,
        request_id: Option<&str>,
    ) -> Result<Refunded, AdminError> {
        if !staff.is_admin() {
            return Err(AdminError::Forbidden);
        }
        let why = super::reason("reason", why)?;
        let refund_error = |e: RefundError| match e {
            RefundError::NotFound => AdminError::NotFound,
            RefundError::Unexpected(e) => AdminError::Unexpected(e),
            RefundError::Amount(_) => AdminError::invalid("amount", e.to_string()),
            other => AdminError::invalid("", other.to_string()),
        };
        let o = billing.refundable(id).await.map_err(refund_error)?;
        let amount = match amount.trim() {
            "" => None,
            typed => Some(parse_amount(typed, &o.currency).ok_or_else(|| {
                AdminError::invalid(
                    "amount",
                    "Enter an amount such as 4.99, or leave it empty to refund all that is left.",
                )
            })?),
        };
        let made = billing
            .refund_through_provider(&o, amount)
            .await
            .map_err(refund_error)?;
        // The money is back: the credits and the audit row go together.
        let txn = tx::begin(&self.db).await?;
        let done = refunds::apply(&txn, &o, made).await.map_err(refund_error)?;
        audit::record(
            &txn,
            staff,
            "order.refund",
            Target {
                user: o.user_id,
                other: Some(format!("order:{id} {} ({})", done.label, done.refund_id)),
            },
            Some(&why),
            request_id,
        )
        .await?;
        txn.commit().await.unexpected("recording a refund")?;
        Ok(done)
    }
}
