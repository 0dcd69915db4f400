//! Refunds staff start from an order's page: the money goes back through
//! the provider, and the order's credits come back by the provider's own
//! refund event (`charge.refunded`, its running total applied once, as for
//! a refund made in the provider's dashboard). The refund form's random key
//! is the provider's idempotency key, so the same form sent twice (or again
//! after a lost answer) makes one refund.

use sea_orm::EntityTrait;
use uni1_payments::ProviderError;
use uuid::Uuid;

use super::catalog::price_label;
use super::orders::{status, Billing, STRIPE};
use crate::entities::order;
use crate::support::error::{ResultExt as _, Unexpected};

/// Why a refund was not made.
#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("We could not find that order.")]
    NotFound,
    /// The order is not in a state that can be refunded here.
    #[error("{0}")]
    NotRefundable(String),
    #[error("Enter an amount up to {0}, the part not refunded yet.")]
    Amount(String),
    /// The provider said no (its message is for staff).
    #[error("The payment provider refused the refund: {0}")]
    Refused(String),
    /// The provider did not answer: the refund may have been made. The
    /// same form again cannot refund twice (its key is the provider's
    /// idempotency key).
    #[error("The payment provider did not answer, so the refund may or may not have been made. Send the same form again (it cannot refund twice), or reload the order to see.")]
    Unavailable,
    #[error("Reload the page and try again.")]
    FormKey,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// A refund the provider made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refunded {
    /// The provider's refund id.
    pub refund_id: String,
    /// This refund, in minor units of the order's currency.
    pub amount: i64,
    pub label: String,
    /// `succeeded`, or `pending` for payment methods that take days.
    pub status: String,
}

impl Billing {
    /// Order `id`, read for a refund.
    pub(crate) async fn refundable(&self, id: Uuid) -> Result<order::Model, RefundError> {
        order::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .unexpected("reading an order")?
            .ok_or(RefundError::NotFound)
    }

    /// Asks the provider to refund `amount` of `o` (`None`: all that is
    /// left). `form_key` is the refund form's own random key (made when the
    /// page was drawn): with the order it is the provider's idempotency key,
    /// so the same form sent twice, or again after a timeout, refunds once.
    pub(crate) async fn refund_through_provider(
        &self,
        o: &order::Model,
        amount: Option<i64>,
        form_key: &str,
    ) -> Result<Refunded, RefundError> {
        let form_key = form_key.trim();
        if !(16..=64).contains(&form_key.len())
            || !form_key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(RefundError::FormKey);
        }
        let Some(payment) = o.payment_id.clone().filter(|_| o.status == status::PAID) else {
            return Err(RefundError::NotRefundable(match o.status.as_str() {
                status::REFUNDED => "This order is refunded in full already.".into(),
                status::DISPUTED => {
                    "This order is disputed: the bank decides where the money goes.".into()
                }
                _ => "Only paid orders can be refunded.".into(),
            }));
        };
        if o.provider != STRIPE {
            return Err(RefundError::NotRefundable(format!(
                "Refund {} orders in the provider's dashboard: its refund event takes the credits back here.",
                o.provider
            )));
        }
        let stripe = self.stripe.as_ref().ok_or_else(|| {
            RefundError::NotRefundable("Stripe is not set up on this server.".into())
        })?;
        let left = o.amount - o.refunded_amount;
        let amount = amount.unwrap_or(left);
        if amount <= 0 || amount > left {
            return Err(RefundError::Amount(price_label(left.max(0), &o.currency)));
        }
        let key = format!("uni1-refund-{}-{form_key}", o.id);
        let made = stripe
            .refund(&payment, amount, &o.id.to_string(), &key)
            .await
            .map_err(|e| match e {
                ProviderError::Refused(m) => RefundError::Refused(m),
                ProviderError::Unavailable(_) | ProviderError::Config(_) => {
                    RefundError::Unavailable
                }
            })?;
        tracing::info!(order = %o.id, refund = %made.id, amount = made.amount, "refund made from the order page");
        Ok(Refunded {
            label: price_label(made.amount, &o.currency),
            refund_id: made.id,
            amount: made.amount,
            status: made.status,
        })
    }
}
