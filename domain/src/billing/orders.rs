//! Orders and payments: a checkout per order, and the webhook events that
//! settle them.
//!
//! Credits are granted only by a verified webhook, never by the return
//! from the checkout page. Each event is stored with its id UNIQUE in the
//! transaction of its effect, and the grant's ledger key is the order, so
//! an event repeated by the provider (or a second event for the same
//! payment) changes nothing. The receipt mail is queued in the same
//! transaction as the grant.
//!
//! Plans: a plan's checkout starts a subscription; its credits come with
//! each paid invoice (`invoice.paid`, one order per invoice, the invoice id
//! UNIQUE), expiring at the period's end unless the plan rolls them over.
//! A subscription's state is read back from the provider on every event
//! that names it, so events out of order never leave an old state.

use std::sync::Arc;

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uni1_payments::{
    Checkout, CheckoutRequest, CompletedCheckout, Creem, Dispute, Effect, Event, PaidInvoice,
    ProviderError, Refund, Refused, Stripe, SubscriptionState,
};
use uuid::Uuid;

use super::catalog::{price_label, Catalogue, Pack, Plan};
use super::credits;
use crate::accounts::CurrentUser;
use crate::entities::{billing_customer, credit_ledger, order, payment_event, subscription, user};
use crate::mail::{self, templates, MailContext};
use crate::support::crypto::AppKey;
use crate::support::error::{ResultExt as _, Unexpected};
use crate::support::pagination::{self, Cursor};
use crate::support::tx;

pub const STRIPE: &str = "stripe";
pub const CREEM: &str = "creem";

/// Order states.
pub mod status {
    pub const PENDING: &str = "pending";
    pub const PAID: &str = "paid";
    /// Refunded in full (a partial refund leaves it `paid`).
    pub const REFUNDED: &str = "refunded";
    /// The buyer's bank took the money back; decided later.
    pub const DISPUTED: &str = "disputed";
    pub const EXPIRED: &str = "expired";
}

/// Order kinds.
pub mod kind {
    /// A credit pack's checkout.
    pub const PACK: &str = "pack";
    /// A plan's checkout and its first invoice.
    pub const PLAN: &str = "plan";
    /// A plan's later paid invoice.
    pub const RENEWAL: &str = "renewal";
}

/// Why a purchase could not start.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error("Payments are not set up on this site.")]
    NotConfigured,
    #[error("There is no such credit pack or plan.")]
    UnknownPack,
    #[error("You already have a plan. Change or cancel it under “Manage subscription” on the billing page.")]
    AlreadySubscribed,
    #[error("There is nothing to manage yet: this opens once you have bought credits.")]
    NoPurchases,
    #[error("The payment provider did not open a checkout. Nothing was charged; please try again later.")]
    ProviderUnavailable,
    #[error("The payment provider's page cannot be opened right now. Please try again later.")]
    PortalUnavailable,
    #[error(transparent)]
    NotNow(#[from] crate::privacy::NotNow),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// Why a webhook request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No such provider is configured here.
    #[error("payments through this provider are not set up")]
    NotConfigured,
    /// Not from the provider, too old, or unreadable: nothing done.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The provider's API did not answer a read the event needs; nothing
    /// was stored, so the provider's retry will apply it.
    #[error("the payment provider cannot be reached: {0}")]
    ProviderUnavailable(String),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// What a webhook event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// First delivery: the event was applied; the text says how.
    Applied(String),
    /// The event was received before: nothing done.
    Duplicate,
}

/// A pack as the pricing and billing pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub pack: Pack,
    pub price: String,
    /// A configured provider sells it.
    pub buyable: bool,
}

/// A plan as the pricing and billing pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOffer {
    pub plan: Plan,
    pub price: String,
    /// A configured provider sells it.
    pub buyable: bool,
}

/// A person's plan as the billing page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionView {
    pub plan_name: String,
    pub price: String,
    /// The provider's status: active, trialing, past_due, canceled, …
    pub status: String,
    pub current_period_end: Option<chrono::DateTime<Utc>>,
    /// It ends at `current_period_end` instead of renewing.
    pub cancel_at_period_end: bool,
}

/// An order as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderView {
    pub id: Uuid,
    pub item_name: String,
    pub credits: i64,
    pub price: String,
    pub status: String,
    /// What was refunded so far, as people read it (`None`: nothing).
    pub refunded: Option<String>,
    pub created_at: chrono::DateTime<Utc>,
    pub paid_at: Option<chrono::DateTime<Utc>>,
    /// The provider's page for the invoice.
    pub receipt_url: Option<String>,
}

/// One line of the credit history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub id: Uuid,
    pub at: chrono::DateTime<Utc>,
    pub kind: String,
    /// Change to the available credits.
    pub amount: i64,
    /// Change to the held credits.
    pub held_change: i64,
    pub balance_after: i64,
    pub note: Option<String>,
    pub generation_id: Option<Uuid>,
}

/// A page of the credit history, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub entries: Vec<HistoryEntry>,
    /// Where the next (older) page starts, if there is one.
    pub next: Option<Cursor>,
}

/// Credit packs, checkouts, orders and payment webhooks.
#[derive(Clone, Debug)]
pub struct Billing {
    pub(super) db: DatabaseConnection,
    catalogue: Arc<Catalogue>,
    pub(super) stripe: Option<Arc<Stripe>>,
    pub(super) creem: Option<Arc<Creem>>,
    mail: MailContext,
    pub(super) key: AppKey,
}

impl Billing {
    pub fn new(
        db: DatabaseConnection,
        catalogue: Catalogue,
        stripe: Option<Stripe>,
        creem: Option<Creem>,
        mail: MailContext,
        key: AppKey,
    ) -> Self {
        Self {
            db,
            catalogue: Arc::new(catalogue),
            stripe: stripe.map(Arc::new),
            creem: creem.map(Arc::new),
            mail,
            key,
        }
    }

    /// True when at least one payment provider is configured.
    pub fn payments_enabled(&self) -> bool {
        self.stripe.is_some() || self.creem.is_some()
    }

    /// Who sells an item with these ids here (Stripe first), and its id
    /// there.
    fn seller<'a>(
        &self,
        stripe_price: Option<&'a str>,
        creem_product: Option<&'a str>,
    ) -> Option<(&'static str, &'a str)> {
        match (stripe_price, creem_product) {
            (Some(p), _) if self.stripe.is_some() => Some((STRIPE, p)),
            (_, Some(p)) if self.creem.is_some() => Some((CREEM, p)),
            _ => None,
        }
    }

    /// Every pack, and whether it can be bought here.
    pub fn offers(&self) -> Vec<Offer> {
        self.catalogue
            .packs
            .iter()
            .map(|p| Offer {
                price: p.price_label(),
                buyable: self
                    .seller(p.stripe_price.as_deref(), p.creem_product.as_deref())
                    .is_some(),
                pack: p.clone(),
            })
            .collect()
    }

    /// Every plan, and whether it can be bought here.
    pub fn plan_offers(&self) -> Vec<PlanOffer> {
        self.catalogue
            .plans
            .iter()
            .map(|p| PlanOffer {
                price: p.price_label(),
                buyable: self
                    .seller(p.stripe_price.as_deref(), p.creem_product.as_deref())
                    .is_some(),
                plan: p.clone(),
            })
            .collect()
    }

    /// The person's plan: the one running, else the latest that ended.
    pub async fn subscription(&self, owner: Uuid) -> Result<Option<SubscriptionView>, Unexpected> {
        let rows = subscription::Entity::find()
            .filter(subscription::Column::UserId.eq(owner))
            .order_by_desc(subscription::Column::UpdatedAt)
            .limit(20)
            .all(&self.db)
            .await
            .unexpected("reading subscriptions")?;
        let pick = rows
            .iter()
            .find(|s| is_live(&s.status))
            .or(rows.first())
            .cloned();
        Ok(pick.map(|s| {
            let plan = self.catalogue.plan(&s.plan);
            SubscriptionView {
                plan_name: plan.map_or_else(|| s.plan.clone(), |p| p.name.clone()),
                price: plan.map(Plan::price_label).unwrap_or_default(),
                status: s.status,
                current_period_end: s.current_period_end,
                cancel_at_period_end: s.cancel_at_period_end,
            }
        }))
    }

    /// Creates an order for the pack or plan `item_id` and opens the
    /// provider's checkout for it; returns the page where the person pays.
    pub async fn start_checkout(
        &self,
        who: &CurrentUser,
        item_id: &str,
    ) -> Result<String, BillingError> {
        if !self.payments_enabled() {
            return Err(BillingError::NotConfigured);
        }
        crate::privacy::ensure_may_process(&self.db, who.id).await??;
        let item = match (self.catalogue.pack(item_id), self.catalogue.plan(item_id)) {
            (Some(p), _) => Item::from(p),
            (None, Some(p)) => Item::from(p),
            (None, None) => return Err(BillingError::UnknownPack),
        };
        let (provider, price) = self
            .seller(item.stripe_price, item.creem_product)
            .ok_or(BillingError::UnknownPack)?;
        if item.kind == kind::PLAN && self.has_live_plan(who.id).await? {
            return Err(BillingError::AlreadySubscribed);
        }
        let customer = match &self.stripe {
            Some(stripe) if provider == STRIPE => self.stripe_customer(stripe, who).await?,
            _ => String::new(),
        };
        let now = Utc::now();
        let order_id = Uuid::now_v7();
        order::ActiveModel {
            id: Set(order_id),
            user_id: Set(Some(who.id)),
            provider: Set(provider.into()),
            kind: Set(item.kind.into()),
            item: Set(item.id.into()),
            item_name: Set(item.name.into()),
            credits: Set(item.credits),
            amount: Set(item.amount),
            currency: Set(item.currency.into()),
            status: Set(status::PENDING.into()),
            checkout_id: Set(None),
            payment_id: Set(None),
            refunded_amount: Set(0),
            refunded_credits: Set(0),
            invoice_id: Set(None),
            subscription_id: Set(None),
            receipt_url: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            paid_at: Set(None),
        }
        .insert(&self.db)
        .await
        .unexpected("creating an order")?;
        let order_ref = order_id.to_string();
        let success = self.mail.link(&format!("/billing/return?order={order_id}"));
        let cancel = self.mail.link("/pricing?canceled=1");
        let request = CheckoutRequest {
            customer: &customer,
            email: &who.email,
            price,
            order_id: &order_ref,
            user_id: &who.id.to_string(),
            success_url: &success,
            cancel_url: &cancel,
            recurring: item.kind == kind::PLAN,
        };
        let checkout = self.open_checkout(provider, &request).await;
        let checkout = match checkout {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, order = %order_id, %provider, "cannot open a checkout");
                // Nothing can pay this order: it is not left waiting.
                set_status(&self.db, order_id, status::PENDING, status::EXPIRED).await?;
                return Err(BillingError::ProviderUnavailable);
            }
        };
        order::Entity::update_many()
            .col_expr(order::Column::CheckoutId, Expr::value(checkout.id.clone()))
            .col_expr(order::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(order::Column::Id.eq(order_id))
            .exec(&self.db)
            .await
            .unexpected("recording the checkout of an order")?;
        Ok(checkout.url)
    }

    async fn open_checkout(
        &self,
        provider: &str,
        request: &CheckoutRequest<'_>,
    ) -> Result<Checkout, ProviderError> {
        match (provider, &self.stripe, &self.creem) {
            (STRIPE, Some(stripe), _) => stripe.create_checkout(request).await,
            (CREEM, _, Some(creem)) => creem.create_checkout(request).await,
            _ => Err(ProviderError::Config(format!("{provider} is not set up"))),
        }
    }

    /// True when `owner` has a plan that is running.
    async fn has_live_plan(&self, owner: Uuid) -> Result<bool, Unexpected> {
        Ok(subscription::Entity::find()
            .filter(subscription::Column::UserId.eq(owner))
            .filter(subscription::Column::Status.is_in(LIVE))
            .one(&self.db)
            .await
            .unexpected("reading subscriptions")?
            .is_some())
    }

    /// Opens the payment provider's portal (payment methods, invoices) for
    /// someone who has bought before; returns its page.
    pub async fn portal(&self, who: &CurrentUser) -> Result<String, BillingError> {
        if !self.payments_enabled() {
            return Err(BillingError::NotConfigured);
        }
        let customers = billing_customer::Entity::find()
            .filter(billing_customer::Column::UserId.eq(who.id))
            .all(&self.db)
            .await
            .unexpected("reading a billing customer")?;
        let find = |p: &str| customers.iter().find(|c| c.provider == p);
        let link = match (&self.stripe, &self.creem, find(STRIPE), find(CREEM)) {
            (Some(stripe), _, Some(c), _) => {
                stripe
                    .portal(&c.customer_id, &self.mail.link("/billing"))
                    .await
            }
            (_, Some(creem), _, Some(c)) => creem.portal(&c.customer_id).await,
            _ => return Err(BillingError::NoPurchases),
        };
        link.map_err(|e| {
            tracing::error!(error = %e, "cannot open the payment provider's portal");
            BillingError::PortalUnavailable
        })
    }

    /// Ends the person's billing relationship before their account is
    /// deleted: running plans are canceled at once at their provider, and
    /// the Stripe customer (address, payment methods) is deleted. A
    /// provider that cannot be reached is an error, so the deletion waits
    /// and retries; one that is no longer configured here cannot be reached
    /// at all and is skipped with an error in the log for the operator.
    /// Creem has no API to delete a customer: its customer id stays with
    /// Creem, which keeps its own records as the merchant of record.
    pub async fn end_for_deletion(&self, owner: Uuid) -> Result<(), Unexpected> {
        let running = subscription::Entity::find()
            .filter(subscription::Column::UserId.eq(owner))
            .filter(subscription::Column::Status.is_in(LIVE))
            .all(&self.db)
            .await
            .unexpected("reading plans to cancel")?;
        for sub in running {
            let canceled = match (sub.provider.as_str(), &self.stripe, &self.creem) {
                (STRIPE, Some(stripe), _) => stripe.cancel_subscription(&sub.subscription_id).await,
                (CREEM, _, Some(creem)) => creem.cancel_subscription(&sub.subscription_id).await,
                (provider, _, _) => {
                    tracing::error!(%provider, subscription = %sub.subscription_id, "a plan of an account being deleted cannot be canceled: its provider is not configured; cancel it in the provider's dashboard");
                    continue;
                }
            };
            canceled
                .map_err(|e| Unexpected::new("canceling a plan of an account being deleted", e))?;
            subscription::Entity::update_many()
                .col_expr(subscription::Column::Status, Expr::value("canceled"))
                .col_expr(subscription::Column::CancelAtPeriodEnd, Expr::value(false))
                .col_expr(subscription::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(subscription::Column::Id.eq(sub.id))
                .exec(&self.db)
                .await
                .unexpected("recording a canceled plan")?;
        }
        let customers = billing_customer::Entity::find()
            .filter(billing_customer::Column::UserId.eq(owner))
            .filter(billing_customer::Column::Provider.eq(STRIPE))
            .all(&self.db)
            .await
            .unexpected("reading payment customers")?;
        for c in customers {
            match &self.stripe {
                Some(stripe) => stripe.delete_customer(&c.customer_id).await.map_err(|e| {
                    Unexpected::new(
                        "deleting the Stripe customer of an account being deleted",
                        e,
                    )
                })?,
                None => {
                    tracing::error!(customer = %c.customer_id, "the Stripe customer of an account being deleted cannot be deleted: Stripe is not configured; delete it in the Stripe dashboard")
                }
            }
        }
        Ok(())
    }

    /// The person's Stripe customer id, created once (the idempotency key
    /// is the person, so concurrent first purchases get one customer).
    async fn stripe_customer(
        &self,
        stripe: &Stripe,
        who: &CurrentUser,
    ) -> Result<String, BillingError> {
        let known = billing_customer::Entity::find_by_id((who.id, STRIPE.to_owned()))
            .one(&self.db)
            .await
            .unexpected("reading a billing customer")?;
        if let Some(c) = known {
            return Ok(c.customer_id);
        }
        let id = stripe
            .create_customer(&who.email, &who.id.to_string())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot create a Stripe customer");
                BillingError::ProviderUnavailable
            })?;
        remember_customer(&self.db, who.id, STRIPE, &id).await?;
        Ok(id)
    }

    /// One of the person's orders (`None` when it is not theirs).
    pub async fn order(&self, owner: Uuid, id: Uuid) -> Result<Option<OrderView>, Unexpected> {
        Ok(order::Entity::find_by_id(id)
            .filter(order::Column::UserId.eq(owner))
            .one(&self.db)
            .await
            .unexpected("reading an order")?
            .map(view))
    }

    /// The person's orders, newest first (at most `limit`).
    pub async fn orders(&self, owner: Uuid, limit: u64) -> Result<Vec<OrderView>, Unexpected> {
        Ok(order::Entity::find()
            .filter(order::Column::UserId.eq(owner))
            .order_by_desc(order::Column::CreatedAt)
            .order_by_desc(order::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .unexpected("reading orders")?
            .into_iter()
            .map(view)
            .collect())
    }

    /// A page of the person's credit history, newest first.
    pub async fn history(
        &self,
        owner: Uuid,
        cursor: Option<Cursor>,
        limit: u64,
    ) -> Result<HistoryPage, Unexpected> {
        let rows = pagination::newest_first(
            credit_ledger::Entity::find().filter(credit_ledger::Column::UserId.eq(owner)),
            credit_ledger::Column::CreatedAt,
            credit_ledger::Column::Id,
            cursor,
            limit,
        )
        .all(&self.db)
        .await
        .unexpected("reading the credit history")?;
        let (rows, more) = pagination::split(rows, limit);
        let next = more
            .then(|| rows.last().map(|r| Cursor::at(r.created_at, r.id)))
            .flatten();
        Ok(HistoryPage {
            entries: rows
                .into_iter()
                .map(|r| HistoryEntry {
                    id: r.id,
                    at: r.created_at,
                    kind: r.kind,
                    amount: r.amount,
                    held_change: r.held_change,
                    balance_after: r.balance_after,
                    note: r.note,
                    generation_id: r.generation_id,
                })
                .collect(),
            next,
        })
    }

    /// The whole credit history as CSV (PAY-2), oldest first, read in pages.
    pub async fn history_csv(&self, owner: Uuid) -> Result<String, Unexpected> {
        let mut pages = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.history(owner, cursor, 500).await?;
            pages.push(page.entries);
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut csv = String::from(
            "time,kind,available_change,held_change,available_after,note,generation\n",
        );
        for e in pages.into_iter().flatten().rev() {
            csv.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                e.kind,
                e.amount,
                e.held_change,
                e.balance_after,
                crate::support::csv::field(e.note.as_deref().unwrap_or("")),
                e.generation_id.map(|g| g.to_string()).unwrap_or_default(),
            ));
        }
        Ok(csv)
    }

    /// Handles a Stripe webhook request: the raw body and its
    /// `Stripe-Signature` header.
    pub async fn stripe_webhook(
        &self,
        payload: &[u8],
        signature: Option<&str>,
    ) -> Result<WebhookOutcome, WebhookError> {
        self.webhook(STRIPE, payload, signature).await
    }

    /// Handles a Creem webhook request: the raw body and its
    /// `creem-signature` header.
    pub async fn creem_webhook(
        &self,
        payload: &[u8],
        signature: Option<&str>,
    ) -> Result<WebhookOutcome, WebhookError> {
        self.webhook(CREEM, payload, signature).await
    }

    fn verify(
        &self,
        provider: &str,
        payload: &str,
        signature: &str,
    ) -> Result<Event, WebhookError> {
        Ok(match (provider, &self.stripe, &self.creem) {
            (STRIPE, Some(stripe), _) => stripe.verify(payload, signature)?,
            (CREEM, _, Some(creem)) => creem.verify(payload, signature)?,
            _ => return Err(WebhookError::NotConfigured),
        })
    }

    async fn read_subscription(
        &self,
        provider: &str,
        id: &str,
    ) -> Result<SubscriptionState, WebhookError> {
        let read = match (provider, &self.stripe, &self.creem) {
            (STRIPE, Some(stripe), _) => stripe.subscription(id).await,
            (CREEM, _, Some(creem)) => creem.subscription(id).await,
            _ => return Err(WebhookError::NotConfigured),
        };
        read.map_err(|e| WebhookError::ProviderUnavailable(e.to_string()))
    }

    async fn webhook(
        &self,
        provider: &'static str,
        payload: &[u8],
        signature: Option<&str>,
    ) -> Result<WebhookOutcome, WebhookError> {
        if !matches!(
            (provider, &self.stripe, &self.creem),
            (STRIPE, Some(_), _) | (CREEM, _, Some(_))
        ) {
            return Err(WebhookError::NotConfigured);
        }
        let signature = signature.ok_or(Refused::Header)?;
        let payload = std::str::from_utf8(payload)
            .map_err(|_| Refused::Malformed("the body is not UTF-8".into()))?;
        let event = self.verify(provider, payload, signature)?;
        let applied = self.apply_event(provider, &event).await;
        super::failed_events::note(&self.db, &self.key, provider, &event, payload, &applied).await;
        applied
    }

    /// Applies a verified event once (a repeat changes nothing).
    pub(super) async fn apply_event(
        &self,
        provider: &'static str,
        event: &Event,
    ) -> Result<WebhookOutcome, WebhookError> {
        // A repeat is answered without asking the provider anything.
        let seen = payment_event::Entity::find()
            .filter(payment_event::Column::Provider.eq(provider))
            .filter(payment_event::Column::EventId.eq(event.id.as_str()))
            .one(&self.db)
            .await
            .unexpected("reading payment events")?;
        if seen.is_some() {
            return Ok(WebhookOutcome::Duplicate);
        }
        // Subscription events are applied with the subscription as the
        // provider has it now, read before the transaction opens.
        let named = match &event.effect {
            Effect::SubscriptionChanged { subscription_id } => Some(subscription_id.as_str()),
            Effect::InvoicePaid(i) => i.subscription_id.as_deref(),
            _ => None,
        };
        let current = match named {
            Some(id) => Some(self.read_subscription(provider, id).await?),
            None => None,
        };
        let txn = tx::begin(&self.db).await?;
        let row = Uuid::now_v7();
        // The event's id is the dedupe key; the insert comes first, so the
        // transaction holds the write lock (SQLite) or waits for a
        // concurrent delivery of the same event to commit (PostgreSQL).
        let inserted = payment_event::Entity::insert(payment_event::ActiveModel {
            id: Set(row),
            provider: Set(provider.into()),
            event_id: Set(event.id.clone()),
            event_type: Set(event.kind.chars().take(100).collect()),
            received_at: Set(Utc::now()),
            outcome: Set("received".into()),
            order_id: Set(None),
        })
        .on_conflict(
            OnConflict::columns([
                payment_event::Column::Provider,
                payment_event::Column::EventId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .unexpected("recording a payment event")?;
        if inserted == 0 {
            txn.commit().await.unexpected("recording a payment event")?;
            return Ok(WebhookOutcome::Duplicate);
        }
        let (outcome, order_id) = match &event.effect {
            Effect::CheckoutCompleted(c) => self.checkout_completed(&txn, provider, c).await?,
            Effect::CheckoutExpired {
                checkout_id,
                order_ref,
            } => checkout_expired(&txn, checkout_id, order_ref.as_deref()).await?,
            Effect::Refunded(r) => refunded(&txn, provider, r).await?,
            Effect::Disputed(d) => disputed(&txn, provider, d).await?,
            Effect::DisputeWon(d) => dispute_won(&txn, provider, d).await?,
            Effect::SubscriptionChanged { .. } => match &current {
                Some(sub) => {
                    let (_, outcome) = self.sync_subscription(&txn, provider, sub).await?;
                    (outcome, None)
                }
                None => ("ignored: no subscription".into(), None),
            },
            Effect::InvoicePaid(i) => {
                self.invoice_paid(&txn, provider, i, current.as_ref())
                    .await?
            }
            Effect::Other => ("ignored: not an event uni1 acts on".to_owned(), None),
        };
        payment_event::Entity::update_many()
            .col_expr(payment_event::Column::Outcome, Expr::value(outcome.clone()))
            .col_expr(payment_event::Column::OrderId, Expr::value(order_id))
            .filter(payment_event::Column::Id.eq(row))
            .exec(&txn)
            .await
            .unexpected("recording a payment event")?;
        txn.commit().await.unexpected("applying a payment event")?;
        tracing::info!(event = %event.id, kind = %event.kind, %provider, %outcome, "payment event");
        // A purchase whose credits were just granted (a pack, or a plan's
        // paid invoice) counts once in the analytics, if the buyer allows it.
        if let (true, Some(order_id)) = (outcome.starts_with("granted "), order_id) {
            self.count_purchase(order_id).await;
        }
        Ok(WebhookOutcome::Applied(outcome))
    }

    /// Counts a purchase in the analytics (ANA-1); a failure is logged,
    /// never the payment's problem.
    async fn count_purchase(&self, order_id: Uuid) {
        let owner = match order::Entity::find_by_id(order_id).one(&self.db).await {
            Ok(Some(o)) => o.user_id,
            _ => None,
        };
        if let Some(owner) = owner {
            if let Err(e) = crate::analytics::Analytics::new(self.db.clone())
                .record_for_person(owner, crate::analytics::EventKind::Purchase, Utc::now())
                .await
            {
                tracing::warn!(error = ?e, "counting a purchase failed");
            }
        }
    }

    /// A finished checkout: the order is paid and its credits granted, once.
    async fn checkout_completed(
        &self,
        txn: &impl ConnectionTrait,
        provider: &str,
        c: &CompletedCheckout,
    ) -> Result<(String, Option<Uuid>), Unexpected> {
        let Some(order_id) = c.order_ref.as_deref().and_then(|r| Uuid::parse_str(r).ok()) else {
            return Ok(("ignored: no uni1 order reference".into(), None));
        };
        let Some(o) = order::Entity::find_by_id(order_id)
            .one(txn)
            .await
            .unexpected("reading an order")?
        else {
            return Ok(("ignored: unknown order".into(), None));
        };
        let id = Some(o.id);
        if o.provider != provider || o.checkout_id.as_deref().is_some_and(|k| k != c.checkout_id) {
            tracing::error!(order = %o.id, checkout = %c.checkout_id, "a checkout event names an order it does not belong to");
            return Ok(("refused: the checkout is not this order's".into(), id));
        }
        if !c.paid {
            return Ok(("pending: the payment has not arrived yet".into(), id));
        }
        let settled = [status::PAID, status::REFUNDED, status::DISPUTED];
        if settled.contains(&o.status.as_str()) && o.kind != kind::PLAN {
            // Its amount is now what was charged: nothing to compare.
            return Ok(("ignored: the order was already paid".into(), id));
        }
        // A provider that makes the customer at checkout (Creem): its id
        // opens the portal later.
        if let (Some(customer), Some(owner)) = (&c.customer_id, o.user_id) {
            remember_customer(txn, owner, provider, customer).await?;
        }
        if o.kind == kind::PLAN {
            // A plan's order is paid, and its credits granted, by its
            // first invoice (`invoice.paid`), which may come before or
            // after this event.
            order::Entity::update_many()
                .col_expr(order::Column::UpdatedAt, Expr::value(Utc::now()))
                .col_expr(
                    order::Column::CheckoutId,
                    Expr::value(c.checkout_id.clone()),
                )
                .col_expr(
                    order::Column::SubscriptionId,
                    Expr::value(c.subscription_id.clone()),
                )
                .filter(order::Column::Id.eq(o.id))
                .exec(txn)
                .await
                .unexpected("recording a plan's checkout")?;
            return Ok((
                "plan started: its credits come with its paid invoice".into(),
                id,
            ));
        }
        let currency_matches = c
            .currency
            .as_deref()
            .is_some_and(|cur| cur.eq_ignore_ascii_case(&o.currency));
        // The price before tax and discounts is the order's; what was
        // charged (tax included) becomes the order's amount, so refunds and
        // disputes of it match.
        let price = c.amount_subtotal.or(c.amount_total);
        if price != Some(o.amount) || !currency_matches {
            tracing::error!(order = %o.id, price = ?price, currency = ?c.currency, "a payment does not match its order: nothing granted, check it by hand");
            return Ok((
                "refused: the amount or currency does not match the order".into(),
                id,
            ));
        }
        let charged = c.amount_total.unwrap_or(o.amount).max(0);
        let now = Utc::now();
        let updated = order::Entity::update_many()
            .col_expr(order::Column::Status, Expr::value(status::PAID))
            .col_expr(order::Column::PaidAt, Expr::value(now))
            .col_expr(order::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                order::Column::CheckoutId,
                Expr::value(c.checkout_id.clone()),
            )
            .col_expr(order::Column::PaymentId, Expr::value(c.payment_id.clone()))
            .col_expr(order::Column::Amount, Expr::value(charged))
            .filter(order::Column::Id.eq(o.id))
            .filter(order::Column::Status.ne(status::PAID))
            .exec(txn)
            .await
            .unexpected("marking an order paid")?;
        if updated.rows_affected == 0 {
            return Ok(("ignored: the order was already paid".into(), id));
        }
        let Some(owner) = o.user_id else {
            return Ok((
                "paid: the account no longer exists, nothing granted".into(),
                id,
            ));
        };
        credits::grant(
            txn,
            owner,
            o.credits,
            &format!("purchase:{}", o.id),
            Some(&format!("Purchase: {}", o.item_name)),
        )
        .await?;
        self.send_receipt(
            txn,
            owner,
            &o.item_name,
            charged,
            &o.currency,
            o.credits,
            o.id,
        )
        .await?;
        Ok((format!("granted {} credits", o.credits), id))
    }

    /// Queues the receipt of a paid order (MAIL-1), in the grant's
    /// transaction.
    #[allow(clippy::too_many_arguments)]
    async fn send_receipt(
        &self,
        txn: &impl ConnectionTrait,
        owner: Uuid,
        item_name: &str,
        amount: i64,
        currency: &str,
        credits: i64,
        order_id: Uuid,
    ) -> Result<(), Unexpected> {
        let Some(person) = user::Entity::find_by_id(owner)
            .one(txn)
            .await
            .unexpected("reading the buyer")?
        else {
            return Ok(());
        };
        let message = templates::receipt(
            &self.mail,
            &person.display_name,
            item_name,
            &price_label(amount, currency),
            credits,
            &order_id.to_string(),
            &Utc::now().format("%-d %B %Y").to_string(),
        );
        mail::enqueue(
            txn,
            &self.key,
            Some(owner),
            "receipt",
            &person.email,
            message,
        )
        .await?;
        Ok(())
    }

    /// Stores `sub` as the provider has it now; returns whose it is (if
    /// known here) and the outcome text.
    async fn sync_subscription(
        &self,
        txn: &impl ConnectionTrait,
        provider: &str,
        sub: &SubscriptionState,
    ) -> Result<(Option<Uuid>, String), Unexpected> {
        let owner = subscriber(txn, provider, sub).await?;
        let plan = sub
            .price
            .as_deref()
            .and_then(|p| self.catalogue.plan_sold_as(provider, p));
        let plan_id = plan.map_or_else(|| sub.price.clone().unwrap_or_default(), |p| p.id.clone());
        if plan.is_none() {
            tracing::error!(subscription = %sub.id, price = ?sub.price, "a subscription's price is no plan in the catalogue");
        }
        let now = Utc::now();
        let period_end = sub
            .current_period_end
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0));
        subscription::Entity::insert(subscription::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(owner),
            provider: Set(provider.into()),
            subscription_id: Set(sub.id.clone()),
            customer_id: Set(sub.customer_id.clone()),
            plan: Set(plan_id.chars().take(64).collect()),
            status: Set(sub.status.chars().take(32).collect()),
            current_period_end: Set(period_end),
            cancel_at_period_end: Set(sub.cancel_at_period_end),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                subscription::Column::Provider,
                subscription::Column::SubscriptionId,
            ])
            .update_columns([
                subscription::Column::UserId,
                subscription::Column::CustomerId,
                subscription::Column::Plan,
                subscription::Column::Status,
                subscription::Column::CurrentPeriodEnd,
                subscription::Column::CancelAtPeriodEnd,
                subscription::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .unexpected("storing a subscription")?;
        let end = if sub.cancel_at_period_end {
            ", ends at the period's end"
        } else {
            ""
        };
        Ok((owner, format!("subscription {}{end}", sub.status)))
    }

    /// A subscription's invoice was paid: one order per invoice, and the
    /// plan's credits for the period, once.
    async fn invoice_paid(
        &self,
        txn: &impl ConnectionTrait,
        provider: &str,
        inv: &PaidInvoice,
        sub: Option<&SubscriptionState>,
    ) -> Result<(String, Option<Uuid>), Unexpected> {
        let Some(sub) = sub else {
            return Ok(("ignored: not a subscription's invoice".into(), None));
        };
        let (owner, _) = self.sync_subscription(txn, provider, sub).await?;
        let Some(owner) = owner else {
            return Ok((
                "ignored: no account here for this subscription".into(),
                None,
            ));
        };
        let Some(plan) = sub
            .price
            .as_deref()
            .and_then(|p| self.catalogue.plan_sold_as(provider, p))
            .cloned()
        else {
            return Ok((
                "refused: no plan sells this subscription's price".into(),
                None,
            ));
        };
        if !inv.currency.eq_ignore_ascii_case(&plan.currency) {
            tracing::error!(invoice = %inv.invoice_id, "an invoice's currency is not its plan's: nothing granted, check it by hand");
            return Ok(("refused: the currency does not match the plan".into(), None));
        }
        if inv.billing_reason.as_deref() == Some("subscription_update") {
            return Ok((
                "ignored: a plan change's prorated invoice grants no credits".into(),
                None,
            ));
        }
        let now = Utc::now();
        // The plan's first invoice pays the order of its checkout (a
        // provider that does not say which invoice is the first: whichever
        // comes while the order has none).
        let checkout_order = sub
            .metadata
            .get("uni1_order_id")
            .and_then(|r| Uuid::parse_str(r).ok())
            .filter(|_| {
                matches!(
                    inv.billing_reason.as_deref(),
                    None | Some("subscription_create")
                )
            });
        let mut order_id = None;
        if let Some(id) = checkout_order {
            let updated = order::Entity::update_many()
                .col_expr(order::Column::Status, Expr::value(status::PAID))
                .col_expr(order::Column::PaidAt, Expr::value(now))
                .col_expr(order::Column::UpdatedAt, Expr::value(now))
                .col_expr(order::Column::Amount, Expr::value(inv.amount_paid))
                .col_expr(
                    order::Column::InvoiceId,
                    Expr::value(inv.invoice_id.clone()),
                )
                .col_expr(
                    order::Column::PaymentId,
                    Expr::value(inv.payment_id.clone()),
                )
                .col_expr(order::Column::SubscriptionId, Expr::value(sub.id.clone()))
                .col_expr(
                    order::Column::ReceiptUrl,
                    Expr::value(inv.receipt_url.clone()),
                )
                .filter(order::Column::Id.eq(id))
                .filter(order::Column::UserId.eq(owner))
                .filter(order::Column::Kind.eq(kind::PLAN))
                .filter(order::Column::InvoiceId.is_null())
                .exec(txn)
                .await
                .unexpected("recording an invoice")?;
            if updated.rows_affected == 1 {
                order_id = Some(id);
            }
        }
        let order_id = match order_id {
            Some(id) => id,
            None => {
                let id = Uuid::now_v7();
                // A provider that does not say: the subscription's first
                // order is its first invoice.
                let first = match inv.billing_reason.as_deref() {
                    Some(reason) => reason == "subscription_create",
                    None => order::Entity::find()
                        .filter(order::Column::Provider.eq(provider))
                        .filter(order::Column::SubscriptionId.eq(sub.id.as_str()))
                        .one(txn)
                        .await
                        .unexpected("reading orders")?
                        .is_none(),
                };
                let inserted = order::Entity::insert(order::ActiveModel {
                    id: Set(id),
                    user_id: Set(Some(owner)),
                    provider: Set(provider.into()),
                    kind: Set(if first { kind::PLAN } else { kind::RENEWAL }.into()),
                    item: Set(plan.id.clone()),
                    item_name: Set(plan.name.clone()),
                    credits: Set(plan.credits),
                    amount: Set(inv.amount_paid),
                    currency: Set(inv.currency.to_ascii_lowercase()),
                    status: Set(status::PAID.into()),
                    checkout_id: Set(None),
                    payment_id: Set(inv.payment_id.clone()),
                    refunded_amount: Set(0),
                    refunded_credits: Set(0),
                    invoice_id: Set(Some(inv.invoice_id.clone())),
                    subscription_id: Set(Some(sub.id.clone())),
                    receipt_url: Set(inv.receipt_url.clone()),
                    created_at: Set(now),
                    updated_at: Set(now),
                    paid_at: Set(Some(now)),
                })
                .on_conflict(
                    OnConflict::column(order::Column::InvoiceId)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await
                .unexpected("recording an invoice")?;
                if inserted == 0 {
                    return Ok(("ignored: this invoice was recorded before".into(), None));
                }
                id
            }
        };
        let key = format!("invoice:{}", inv.invoice_id);
        let note = format!("Plan: {}", plan.name);
        let granted = if plan.rollover {
            credits::grant(txn, owner, plan.credits, &key, Some(&note)).await?
        } else {
            let until = sub
                .current_period_end
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .filter(|t| *t > now)
                .unwrap_or_else(|| now + plan.interval.length());
            credits::grant_expiring(txn, owner, plan.credits, until, &key, Some(&note)).await?
        };
        if !granted {
            return Ok((
                "ignored: this invoice's credits were granted before".into(),
                Some(order_id),
            ));
        }
        let name = format!("{} ({} plan)", plan.name, plan.interval.adjective());
        self.send_receipt(
            txn,
            owner,
            &name,
            inv.amount_paid,
            &inv.currency,
            plan.credits,
            order_id,
        )
        .await?;
        Ok((
            format!("granted {} plan credits", plan.credits),
            Some(order_id),
        ))
    }
}

/// Stores `owner`'s customer id at `provider` (the first one stays).
async fn remember_customer(
    db: &impl ConnectionTrait,
    owner: Uuid,
    provider: &str,
    customer: &str,
) -> Result<(), Unexpected> {
    billing_customer::Entity::insert(billing_customer::ActiveModel {
        user_id: Set(owner),
        provider: Set(provider.into()),
        customer_id: Set(customer.chars().take(255).collect()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            billing_customer::Column::UserId,
            billing_customer::Column::Provider,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .unexpected("storing a billing customer")?;
    Ok(())
}

/// Subscription states in which a plan runs (credits, renewals).
const LIVE: [&str; 3] = ["active", "trialing", "past_due"];

fn is_live(status: &str) -> bool {
    LIVE.contains(&status)
}

/// Whose subscription `sub` is: the person uni1 put in its metadata, if
/// the provider's customer is theirs, else the owner of the customer.
async fn subscriber(
    txn: &impl ConnectionTrait,
    provider: &str,
    sub: &SubscriptionState,
) -> Result<Option<Uuid>, Unexpected> {
    let customer = billing_customer::Entity::find()
        .filter(billing_customer::Column::Provider.eq(provider))
        .filter(billing_customer::Column::CustomerId.eq(sub.customer_id.as_str()))
        .one(txn)
        .await
        .unexpected("reading a billing customer")?;
    let named = sub
        .metadata
        .get("uni1_user_id")
        .and_then(|u| Uuid::parse_str(u).ok());
    Ok(match (customer, named) {
        (Some(c), Some(n)) if c.user_id != n => {
            tracing::error!(subscription = %sub.id, "a subscription names a person who is not its customer");
            Some(c.user_id)
        }
        (Some(c), _) => Some(c.user_id),
        // A provider that makes the customer at checkout may report the
        // subscription before the checkout: the person uni1 named, if the
        // order's checkout is theirs.
        (None, Some(n)) => {
            let ordered = match sub
                .metadata
                .get("uni1_order_id")
                .and_then(|r| Uuid::parse_str(r).ok())
            {
                Some(id) => order::Entity::find_by_id(id)
                    .filter(order::Column::UserId.eq(n))
                    .filter(order::Column::Provider.eq(provider))
                    .one(txn)
                    .await
                    .unexpected("reading an order")?
                    .is_some(),
                None => false,
            };
            ordered.then_some(n)
        }
        (None, None) => None,
    })
}

/// What a checkout sells: a pack or a plan.
struct Item<'a> {
    kind: &'static str,
    id: &'a str,
    name: &'a str,
    credits: i64,
    amount: i64,
    currency: &'a str,
    stripe_price: Option<&'a str>,
    creem_product: Option<&'a str>,
}

impl<'a> From<&'a Pack> for Item<'a> {
    fn from(p: &'a Pack) -> Self {
        Item {
            kind: kind::PACK,
            id: &p.id,
            name: &p.name,
            credits: p.credits,
            amount: p.amount,
            currency: &p.currency,
            stripe_price: p.stripe_price.as_deref(),
            creem_product: p.creem_product.as_deref(),
        }
    }
}

impl<'a> From<&'a Plan> for Item<'a> {
    fn from(p: &'a Plan) -> Self {
        Item {
            kind: kind::PLAN,
            id: &p.id,
            name: &p.name,
            credits: p.credits,
            amount: p.amount,
            currency: &p.currency,
            stripe_price: p.stripe_price.as_deref(),
            creem_product: p.creem_product.as_deref(),
        }
    }
}

/// Money went back: the order's credits are taken back in proportion
/// (all of them for a full refund), once per refunded total; what was
/// already spent becomes a debt.
async fn refunded(
    txn: &impl ConnectionTrait,
    provider: &str,
    r: &Refund,
) -> Result<(String, Option<Uuid>), Unexpected> {
    // A refund staff made and the provider's event for it (or two events)
    // can race: the loser of the compare-and-swap reads the order again
    // (PostgreSQL's READ COMMITTED sees the winner's commit), so a higher
    // total is never dropped.
    for _ in 0..5 {
        let Some(o) = order_paid_by(txn, provider, r.payment_id.as_deref()).await? else {
            return Ok(("ignored: no order for this payment".into(), None));
        };
        let id = Some(o.id);
        if !r.currency.eq_ignore_ascii_case(&o.currency) || r.amount != o.amount || o.amount <= 0 {
            tracing::error!(order = %o.id, "a refund does not match its order: nothing taken back, check it by hand");
            return Ok(("refused: the refund does not match the order".into(), id));
        }
        let refunded_amount = r.amount_refunded.clamp(0, o.amount);
        let target = credits_for(&o, refunded_amount);
        // Totals only grow: an older event arriving late changes nothing.
        if refunded_amount <= o.refunded_amount && target <= o.refunded_credits {
            return Ok(("ignored: this refund was applied before".into(), id));
        }
        let full = refunded_amount >= o.amount;
        let updated = order::Entity::update_many()
            .col_expr(
                order::Column::RefundedAmount,
                Expr::value(refunded_amount.max(o.refunded_amount)),
            )
            .col_expr(
                order::Column::RefundedCredits,
                Expr::value(target.max(o.refunded_credits)),
            )
            .col_expr(
                order::Column::Status,
                Expr::value(if full {
                    status::REFUNDED
                } else {
                    o.status.as_str()
                }),
            )
            .col_expr(order::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(order::Column::Id.eq(o.id))
            .filter(order::Column::RefundedCredits.eq(o.refunded_credits))
            .filter(order::Column::RefundedAmount.eq(o.refunded_amount))
            .exec(txn)
            .await
            .unexpected("recording a refund")?;
        if updated.rows_affected == 0 {
            continue;
        }
        let take = target - o.refunded_credits;
        let (Some(owner), true) = (o.user_id, take > 0) else {
            return Ok(("refund recorded, no credits to take back".into(), id));
        };
        return take_back(
            txn,
            owner,
            take,
            &format!("refund:{}:{target}", o.id),
            &format!("Refund: {}", o.item_name),
            "refunded",
            "ignored: these credits were taken back before",
        )
        .await
        .map(|outcome| (outcome, id));
    }
    // Rolled back: the provider sends the event again.
    Err(Unexpected::new(
        "recording a refund",
        std::io::Error::other("the order kept changing"),
    ))
}

/// `o`'s credits in proportion to `amount` of its price.
fn credits_for(o: &order::Model, amount: i64) -> i64 {
    let share =
        i128::from(o.credits) * i128::from(amount.clamp(0, o.amount)) / i128::from(o.amount.max(1));
    i64::try_from(share).unwrap_or(o.credits).min(o.credits)
}

/// Takes `take` credits back from `owner` once per `key` (a debt for what
/// was spent); the outcome reads `"{what}: N credits taken back, M owed"`,
/// or `again` when `key` was applied before.
async fn take_back(
    txn: &impl ConnectionTrait,
    owner: Uuid,
    take: i64,
    key: &str,
    note: &str,
    what: &str,
    again: &str,
) -> Result<String, Unexpected> {
    Ok(
        match credits::claw_back(txn, owner, take, key, Some(note)).await? {
            Some((taken, owed)) => format!("{what}: {taken} credits taken back, {owed} owed"),
            None => again.to_owned(),
        },
    )
}

/// The order a payment paid for. A refund or dispute before the checkout
/// event cannot be matched (the order learns its payment id from that
/// event); Stripe sends the checkout event when the payment succeeds, long
/// before anyone can refund or dispute it.
async fn order_paid_by(
    txn: &impl ConnectionTrait,
    provider: &str,
    payment: Option<&str>,
) -> Result<Option<order::Model>, Unexpected> {
    let Some(payment) = payment else {
        return Ok(None);
    };
    order::Entity::find()
        .filter(order::Column::Provider.eq(provider))
        .filter(order::Column::PaymentId.eq(payment))
        .one(txn)
        .await
        .unexpected("reading an order")
}

async fn set_status(
    txn: &impl ConnectionTrait,
    id: Uuid,
    from: &str,
    to: &str,
) -> Result<(), Unexpected> {
    order::Entity::update_many()
        .col_expr(order::Column::Status, Expr::value(to))
        .col_expr(order::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(order::Column::Id.eq(id))
        .filter(order::Column::Status.eq(from))
        .exec(txn)
        .await
        .unexpected("changing an order's state")?;
    Ok(())
}

/// A dispute opened: the disputed share of the order's credits (what a
/// refund has not taken already) is taken back, once per dispute; what was
/// spent becomes a debt.
async fn disputed(
    txn: &impl ConnectionTrait,
    provider: &str,
    d: &Dispute,
) -> Result<(String, Option<Uuid>), Unexpected> {
    let Some(o) = order_paid_by(txn, provider, d.payment_id.as_deref()).await? else {
        return Ok(("ignored: no order for this payment".into(), None));
    };
    let id = Some(o.id);
    if !d.currency.eq_ignore_ascii_case(&o.currency) || o.amount <= 0 {
        tracing::error!(order = %o.id, "a dispute does not match its order: nothing taken back, check it by hand");
        return Ok(("refused: the dispute does not match the order".into(), id));
    }
    let take = credits_for(&o, d.amount).min(o.credits - o.refunded_credits);
    set_status(txn, o.id, status::PAID, status::DISPUTED).await?;
    let Some(owner) = o.user_id else {
        return Ok(("dispute recorded".into(), id));
    };
    take_back(
        txn,
        owner,
        take,
        &format!("dispute:{}", d.id),
        &format!("Disputed payment: {}", o.item_name),
        "disputed",
        "ignored: nothing to take back for this dispute",
    )
    .await
    .map(|outcome| (outcome, id))
}

/// A dispute decided for the seller: what it took back is given back.
async fn dispute_won(
    txn: &impl ConnectionTrait,
    provider: &str,
    d: &Dispute,
) -> Result<(String, Option<Uuid>), Unexpected> {
    let Some(o) = order_paid_by(txn, provider, d.payment_id.as_deref()).await? else {
        return Ok(("ignored: no order for this payment".into(), None));
    };
    let id = Some(o.id);
    set_status(txn, o.id, status::DISPUTED, status::PAID).await?;
    let Some(taken) = credits::entry(txn, &format!("dispute:{}", d.id)).await? else {
        return Ok(("ignored: no credits were taken for this dispute".into(), id));
    };
    let back = taken.debt_change - taken.amount;
    let Some(owner) = o.user_id.filter(|_| back > 0) else {
        return Ok(("dispute won".into(), id));
    };
    let note = format!("Dispute won: {}", o.item_name);
    credits::grant(
        txn,
        owner,
        back,
        &format!("dispute-won:{}", d.id),
        Some(&note),
    )
    .await?;
    Ok((format!("dispute won: {back} credits given back"), id))
}

/// An abandoned checkout: its order will never be paid.
async fn checkout_expired(
    txn: &impl ConnectionTrait,
    checkout_id: &str,
    order_ref: Option<&str>,
) -> Result<(String, Option<Uuid>), Unexpected> {
    let Some(order_id) = order_ref.and_then(|r| Uuid::parse_str(r).ok()) else {
        return Ok(("ignored: no uni1 order reference".into(), None));
    };
    let updated = order::Entity::update_many()
        .col_expr(order::Column::Status, Expr::value(status::EXPIRED))
        .col_expr(order::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(order::Column::Id.eq(order_id))
        .filter(order::Column::CheckoutId.eq(checkout_id))
        .filter(order::Column::Status.eq(status::PENDING))
        .exec(txn)
        .await
        .unexpected("expiring an order")?;
    Ok(if updated.rows_affected == 1 {
        ("expired".into(), Some(order_id))
    } else {
        (
            "ignored: no pending order for this checkout".into(),
            Some(order_id),
        )
    })
}

fn view(o: order::Model) -> OrderView {
    OrderView {
        id: o.id,
        price: price_label(o.amount, &o.currency),
        refunded: (o.refunded_amount > 0).then(|| price_label(o.refunded_amount, &o.currency)),
        item_name: o.item_name,
        credits: o.credits,
        status: o.status,
        created_at: o.created_at,
        paid_at: o.paid_at,
        receipt_url: o.receipt_url,
    }
}
