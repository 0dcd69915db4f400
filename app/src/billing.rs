//! Billing: the credit packs on sale, buying one (a redirect to the payment
//! provider's checkout), the state of an order, and the credit history.
//! Thin: session -> `Billing` -> DTOs with ready strings.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A credit pack on sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferDto {
    pub id: String,
    pub name: String,
    pub credits: i64,
    pub price: String,
    pub buyable: bool,
}

/// A plan on sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanDto {
    pub id: String,
    pub name: String,
    /// Granted each period.
    pub credits: i64,
    /// `$10.00 / month`
    pub price: String,
    /// `month` or `year`
    pub interval: String,
    pub rollover: bool,
    pub buyable: bool,
}

/// The person's plan on the billing page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStateDto {
    pub name: String,
    pub price: String,
    /// Where it stands, in words: "Renews on 3 January 2027", …
    pub state: String,
    pub live: bool,
}

/// What the pricing page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricingData {
    pub offers: Vec<OfferDto>,
    pub plans: Vec<PlanDto>,
    pub payments_enabled: bool,
    pub signed_in: bool,
}

/// An order as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDto {
    pub id: String,
    pub item_name: String,
    pub credits: i64,
    pub price: String,
    /// pending | paid | refunded | expired
    pub status: String,
    /// Refunded so far, as people read it.
    pub refunded: Option<String>,
    pub created_at: String,
    pub paid_at: Option<String>,
    /// The provider's page for the invoice.
    pub receipt_url: Option<String>,
}

/// One line of the credit history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryDto {
    pub at: String,
    /// What happened, in words.
    pub what: String,
    /// Change to the available credits, signed (`+100`, `-4`, `0`).
    pub change: String,
    pub balance_after: i64,
}

/// Everything the billing page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingData {
    pub available: i64,
    pub held: i64,
    /// Owed after a refund of credits already spent.
    pub debt: i64,
    /// How many of the available credits expire, and when.
    pub expiring: i64,
    pub expiring_on: Option<String>,
    pub plan: Option<PlanStateDto>,
    pub pricing: PricingData,
    pub orders: Vec<OrderDto>,
    pub history: Vec<HistoryDto>,
    /// Cursor of the next (older) history page.
    pub next: Option<String>,
}

#[cfg(feature = "ssr")]
fn offers(billing: &uni1_domain::billing::Billing, signed_in: bool) -> PricingData {
    PricingData {
        offers: billing
            .offers()
            .into_iter()
            .map(|o| OfferDto {
                id: o.pack.id,
                name: o.pack.name,
                credits: o.pack.credits,
                price: o.price,
                buyable: o.buyable,
            })
            .collect(),
        plans: billing
            .plan_offers()
            .into_iter()
            .map(|o| PlanDto {
                id: o.plan.id,
                name: o.plan.name,
                credits: o.plan.credits,
                price: o.price,
                interval: o.plan.interval.as_str().to_owned(),
                rollover: o.plan.rollover,
                buyable: o.buyable,
            })
            .collect(),
        payments_enabled: billing.payments_enabled(),
        signed_in,
    }
}

#[cfg(feature = "ssr")]
fn order_dto(o: uni1_domain::billing::orders::OrderView) -> OrderDto {
    OrderDto {
        id: o.id.to_string(),
        item_name: o.item_name,
        credits: o.credits,
        price: o.price,
        status: o.status,
        refunded: o.refunded,
        created_at: crate::dates::minute(o.created_at),
        paid_at: o.paid_at.map(crate::dates::minute),
        // Only a web page is linked (never a `javascript:` URL).
        receipt_url: o
            .receipt_url
            .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
    }
}

#[cfg(feature = "ssr")]
fn plan_state(s: uni1_domain::billing::SubscriptionView) -> PlanStateDto {
    let on = s
        .current_period_end
        .map(|t| t.format("%-d %B %Y").to_string());
    let live = matches!(s.status.as_str(), "active" | "trialing" | "past_due");
    let state = match (s.status.as_str(), s.cancel_at_period_end, on) {
        ("past_due", _, _) => {
            "The last payment failed: update your payment method under “Manage subscription”."
                .to_owned()
        }
        (_, true, Some(on)) if live => format!("Ends on {on}; it will not renew."),
        (_, false, Some(on)) if live => format!("Renews on {on}."),
        _ if live => "Active.".to_owned(),
        _ => "Ended.".to_owned(),
    };
    PlanStateDto {
        name: s.plan_name,
        price: s.price,
        state,
        live,
    }
}

/// A ledger entry's kind in words.
pub fn describe(kind: &str, note: Option<&str>) -> String {
    let base = match kind {
        "grant" => "Credits added",
        "reserve" => "Held for a generation",
        "capture" => "Charged for a generation",
        "release" => "Returned: generation did not complete",
        "refund" => "Refund",
        "adjust" => "Adjustment",
        "expire" => "Expired",
        other => other,
    };
    match note {
        Some(n) if !n.is_empty() => format!("{base} ({n})"),
        _ => base.to_owned(),
    }
}

/// The credit packs on sale (anyone).
#[server(prefix = "/api", endpoint = "pricing")]
pub async fn pricing() -> Result<PricingData, AppError> {
    let state = crate::state::app_state()?;
    let signed_in = crate::session::current_user().is_some();
    Ok(offers(&state.billing, signed_in))
}

/// The signed-in person's balance, orders and a page of their history.
#[server(prefix = "/api", endpoint = "billing")]
pub async fn billing_overview(before: String) -> Result<BillingData, AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    let cursor = crate::params::cursor(&before)?;
    let gens = &state.generations;
    uni1_domain::billing::credits::ensure_account(&gens.db, user.id, &gens.credits).await?;
    let balance = uni1_domain::billing::credits::balance(&gens.db, user.id).await?;
    let orders = state.billing.orders(user.id, 20).await?;
    let page = state.billing.history(user.id, cursor, 25).await?;
    let plan = state.billing.subscription(user.id).await?;
    Ok(BillingData {
        available: balance.available,
        held: balance.held,
        debt: balance.debt,
        expiring: balance.expiring,
        expiring_on: balance
            .expiring_until
            .filter(|_| balance.expiring > 0)
            .map(|t| t.format("%-d %B %Y").to_string()),
        plan: plan.map(plan_state),
        pricing: offers(&state.billing, true),
        orders: orders.into_iter().map(order_dto).collect(),
        history: page
            .entries
            .into_iter()
            .map(|e| HistoryDto {
                at: crate::dates::minute(e.at),
                what: describe(&e.kind, e.note.as_deref()),
                change: if e.amount > 0 {
                    format!("+{}", e.amount)
                } else {
                    e.amount.to_string()
                },
                balance_after: e.balance_after,
            })
            .collect(),
        next: page.next.map(|c| c.encode()),
    })
}

/// Opens the payment provider's checkout for a credit pack or a plan (its
/// id in `pack`) and sends the browser there. Credits arrive when the
/// provider confirms the payment.
#[server(prefix = "/api", endpoint = "start_checkout")]
pub async fn start_checkout(pack: String) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    if !user.email_confirmed {
        return Err(AppError::invalid(
            "pack",
            "Please confirm your e-mail address first: the receipt is sent there.",
        )
        .respond());
    }
    state.limits.checkout(&user.id.to_string()).await?;
    let url = state.billing.start_checkout(&user, pack.trim()).await?;
    leptos_axum::redirect(&url);
    Ok(())
}

/// Sends the signed-in person to the payment provider's portal (payment
/// methods and invoices).
#[server(prefix = "/api", endpoint = "open_billing_portal")]
pub async fn open_billing_portal() -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    state.limits.checkout(&user.id.to_string()).await?;
    let url = state.billing.portal(&user).await?;
    leptos_axum::redirect(&url);
    Ok(())
}

/// The state of one of the signed-in person's orders.
#[server(prefix = "/api", endpoint = "order_status")]
pub async fn order_status(order: String) -> Result<OrderDto, AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    let id = crate::params::id(&order)?;
    state
        .billing
        .order(user.id, id)
        .await?
        .map(order_dto)
        .ok_or_else(|| AppError::NotFound.respond())
}
