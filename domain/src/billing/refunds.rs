//! Refunds staff start from an order's page: the money goes back through
//! the provider, then the order's credits are taken back by the same code a
//! provider's refund event runs ([`super::orders::refunded`]). Totals only
//! grow and are applied with a compare-and-swap, so the provider's own
//! `charge.refunded` event for the same refund, arriving before or after,
//! changes nothing: credits are taken back once.

use sea_orm::{ConnectionTrait, EntityTrait};
use uni1_payments::{ProviderError, Refund};
use uuid::Uuid;

use super::catalog::price_label;
use super::orders::{self, status, Billing, STRIPE};
use crate::entities::order;
use crate::support::error::{ResultExt as _, Unexpected};
use crate::support::tx;

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
    #[error("The payment provider cannot be reached. Nothing was refunded; try again later.")]
    Unavailable,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// A refund made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refunded {
    /// The provider's refund id.
    pub refund_id: String,
    /// This refund, in minor units of the order's currency.
    pub amount: i64,
    pub label: String,
    /// What it did to the order and the credits (as an event's outcome).
    pub outcome: String,
}

impl Billing {
    /// Refunds `amount` (minor units; `None`: all that is left) of order
    /// `id` through its payment provider, and takes its credits back in
    /// proportion.
    pub async fn refund(&self, id: Uuid, amount: Option<i64>) -> Result<Refunded, RefundError> {
        let o = self.refundable(id).await?;
        let made = self.refund_through_provider(&o, amount).await?;
        let txn = tx::begin(&self.db).await?;
        let done = apply(&txn, &o, made).await?;
        txn.commit().await.unexpected("recording a refund")?;
        Ok(done)
    }

    /// Order `id`, read for a refund.
    pub(crate) async fn refundable(&self, id: Uuid) -> Result<order::Model, RefundError> {
        order::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .unexpected("reading an order")?
            .ok_or(RefundError::NotFound)
    }

    /// Asks the provider to refund `amount` of `o` (`None`: all that is
    /// left). The idempotency key names the order and its refunded total
    /// before this refund, so the same form sent twice refunds once.
    pub(crate) async fn refund_through_provider(
        &self,
        o: &order::Model,
        amount: Option<i64>,
    ) -> Result<Made, RefundError> {
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
        let key = format!("uni1-refund-{}-{}-{amount}", o.id, o.refunded_amount);
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
        // What the provider's event will say next: the running total.
        Ok(Made {
            refund: Refund {
                payment_id: Some(payment),
                amount: o.amount,
                amount_refunded: o.refunded_amount + made.amount.clamp(0, left),
                currency: o.currency.clone(),
            },
            id: made.id,
            amount: made.amount,
        })
    }
}

/// A refund the provider made, not applied yet.
#[derive(Debug, Clone)]
pub(crate) struct Made {
    refund: Refund,
    id: String,
    amount: i64,
}

/// Applies a refund the provider made to `o` in the caller's transaction,
/// by the path its refund event takes.
pub(crate) async fn apply(
    txn: &impl ConnectionTrait,
    o: &order::Model,
    made: Made,
) -> Result<Refunded, RefundError> {
    let (outcome, _) = orders::refunded(txn, &o.provider, &made.refund).await?;
    Ok(Refunded {
        refund_id: made.id,
        amount: made.amount,
        label: price_label(made.amount, &o.currency),
        outcome,
    })
}
