//! Payment providers (Stripe, Creem) behind provider-neutral types.
//!
//! The domain (orders, credits, receipts) never sees a provider's types: it
//! asks for a customer and a checkout, and gets every webhook as a verified
//! [`Event`] with the [`Effect`] the product acts on. Card data never
//! reaches uni1: people pay on the provider's own checkout page (PAY-1).

pub mod creem;
pub mod stripe;

pub use creem::{Creem, CreemSettings};
pub use stripe::{Stripe, StripeSettings};

use std::collections::HashMap;

/// A hosted checkout to open for one order.
#[derive(Debug, Clone)]
pub struct CheckoutRequest<'a> {
    /// The provider's customer id for the person (Stripe).
    pub customer: &'a str,
    /// The person's address, for providers that make the customer at
    /// checkout (Creem).
    pub email: &'a str,
    /// The provider's price id of what is bought.
    pub price: &'a str,
    /// Our order id: the checkout's reference, and its idempotency key.
    pub order_id: &'a str,
    pub user_id: &'a str,
    /// Where the provider sends the person after paying.
    pub success_url: &'a str,
    /// Where the provider sends the person who gives up.
    pub cancel_url: &'a str,
    /// A plan: the checkout starts a subscription (its metadata carries
    /// the order and the person too) instead of a one-time payment.
    pub recurring: bool,
}

/// A checkout the provider opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The provider's checkout id.
    pub id: String,
    /// The provider's page where the person pays.
    pub url: String,
}

/// A verified webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The provider's event id (unique per provider; events repeat).
    pub id: String,
    /// The provider's event type, e.g. `checkout.session.completed`.
    pub kind: String,
    pub effect: Effect,
}

/// What an event means for the product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A checkout finished (paid, or waiting for a delayed payment method).
    CheckoutCompleted(CompletedCheckout),
    /// A checkout was abandoned and will never be paid.
    CheckoutExpired {
        checkout_id: String,
        order_ref: Option<String>,
    },
    /// Money went back to the buyer (all of it or part; Stripe's
    /// `charge.refunded`, whose amount is the running total).
    Refunded(Refund),
    /// The buyer's bank took the money back (a dispute opened); the amount
    /// is held by the provider until the dispute is decided.
    Disputed(Dispute),
    /// A dispute was decided for the seller: the money came back.
    DisputeWon(Dispute),
    /// A subscription's invoice was paid (its first, or a renewal).
    InvoicePaid(PaidInvoice),
    /// A subscription changed (created, updated, canceled): its state is
    /// read back from the provider, so the order events arrive in never
    /// matters.
    SubscriptionChanged { subscription_id: String },
    /// Nothing the product acts on (yet): acknowledged and recorded.
    Other,
}

/// A paid invoice, as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidInvoice {
    pub invoice_id: String,
    /// `None`: not a subscription's invoice (nothing to grant).
    pub subscription_id: Option<String>,
    /// In minor units.
    pub amount_paid: i64,
    /// ISO 4217, lower case.
    pub currency: String,
    /// Why it was made: `subscription_create`, `subscription_cycle`,
    /// `subscription_update` (a plan change), `manual`, …
    pub billing_reason: Option<String>,
    /// The provider's payment id (what a refund or dispute names).
    pub payment_id: Option<String>,
    /// The provider's page for the invoice.
    pub receipt_url: Option<String>,
}

/// A subscription as the provider has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    pub id: String,
    pub customer_id: String,
    /// The provider's status: `active`, `trialing`, `past_due`, `canceled`, …
    pub status: String,
    /// The provider's price id of the plan.
    pub price: Option<String>,
    /// Unix seconds.
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    /// What uni1 put in it at checkout (`uni1_order_id`, `uni1_user_id`).
    pub metadata: HashMap<String, String>,
}

impl SubscriptionState {
    /// Credits can be granted and generation paid from it.
    pub fn is_live(&self) -> bool {
        matches!(self.status.as_str(), "active" | "trialing" | "past_due")
    }
}

/// A finished checkout, as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedCheckout {
    pub checkout_id: String,
    /// Our order id, as given when the checkout was created.
    pub order_ref: Option<String>,
    /// The provider's payment id (Stripe's payment intent).
    pub payment_id: Option<String>,
    /// What was charged (tax included), in the currency's minor unit.
    pub amount_total: Option<i64>,
    /// The price before tax and discounts (what the order says).
    pub amount_subtotal: Option<i64>,
    /// ISO 4217, lower case.
    pub currency: Option<String>,
    /// True when the money is there (not for a delayed payment still pending).
    pub paid: bool,
    /// The subscription a plan's checkout started.
    pub subscription_id: Option<String>,
    /// The provider's customer (where the provider makes it at checkout).
    pub customer_id: Option<String>,
}

/// A refund, as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// The provider's payment id the refund belongs to.
    pub payment_id: Option<String>,
    /// What was paid, in minor units.
    pub amount: i64,
    /// Refunded so far in total (not this refund alone), in minor units.
    pub amount_refunded: i64,
    pub currency: String,
}

/// A refund uni1 asked the provider for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeRefund {
    /// The provider's refund id.
    pub id: String,
    /// This refund alone, in minor units.
    pub amount: i64,
    /// `succeeded`, or `pending` for payment methods that take time.
    pub status: String,
}

/// A dispute (chargeback), as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub id: String,
    /// The provider's payment id the dispute is about.
    pub payment_id: Option<String>,
    /// The disputed amount, in minor units.
    pub amount: i64,
    pub currency: String,
}

/// Why a webhook request was refused (nothing in it is acted on).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("the signature header is missing or malformed")]
    Header,
    #[error("no signature matches the body")]
    Signature,
    #[error("the signature's timestamp is more than 300 s away")]
    Stale,
    #[error("the event cannot be read: {0}")]
    Malformed(String),
}

/// A provider call that failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered with an error (a bad price id, a bad key).
    #[error("the payment provider refused the request: {0}")]
    Refused(String),
    /// The provider could not be reached or answered nonsense.
    #[error("the payment provider cannot be reached: {0}")]
    Unavailable(String),
    /// The settings cannot work (checked at start-up).
    #[error("invalid payment settings: {0}")]
    Config(String),
}
