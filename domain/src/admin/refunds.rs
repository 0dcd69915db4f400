//! An order as staff see it, and the refund staff start from its page
//! (admins only, with a reason, audited). The money goes back through the
//! provider; the credits come back by the provider's own refund event
//! ([`crate::billing::refunds`]).

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::audit::{self, Target};
use super::{Admin, AdminError, Staff};
use crate::billing::catalog::parse_amount;
use crate::billing::refunds::{RefundError, Refunded};
use crate::billing::Billing;
use crate::entities::{order, payment_event};
use crate::support::error::ResultExt;

/// One order with what happened to it.
#[derive(Debug, Clone)]
pub struct OrderDetail {
    pub order: order::Model,
    /// The buyer's address (`None`: account deleted).
    pub email: Option<String>,
    /// The provider's events that named it, oldest first.
    pub events: Vec<payment_event::Model>,
}

/// The refund form as sent.
#[derive(Debug, Clone, Copy)]
pub struct RefundForm<'a> {
    /// As typed, in the order's currency; empty: all that is left.
    pub amount: &'a str,
    /// The form's random key: one refund per form.
    pub form_key: &'a str,
    /// Why (into the audit log).
    pub reason: &'a str,
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
    /// that is left) of order `id` through its provider (admins only);
    /// `form_key` is the refund form's random key (one refund per form).
    pub async fn refund_order(
        &self,
        staff: &Staff,
        billing: &Billing,
        id: Uuid,
        form: RefundForm<'_>,
        request_id: Option<&str>,
    ) -> Result<Refunded, AdminError> {
        let RefundForm {
            amount,
            form_key,
            reason: why,
        } = form;
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
        let done = billing
            .refund_through_provider(&o, amount, form_key)
            .await
            .map_err(refund_error)?;
        audit::record(
            &self.db,
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
        Ok(done)
    }
}
