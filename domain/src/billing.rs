//! Money and credits. [`credits`] owns the ledger: every change of a
//! balance is one ledger row with a unique idempotency key, written in the
//! same transaction as the balance. [`catalog`] is what can be bought;
//! [`orders`] opens checkouts and applies the payment provider's webhook
//! events (deduplicated in the transaction of their effect); [`refunds`]
//! are the refunds staff start from an order's page; [`failed_events`] keeps
//! verified events that failed to apply, for the provider's retry or staff.

pub mod catalog;
pub mod credits;
pub mod failed_events;
pub mod orders;
pub mod refunds;

pub use orders::{
    Billing, BillingError, PlanOffer, SubscriptionView, WebhookError, WebhookOutcome,
};
