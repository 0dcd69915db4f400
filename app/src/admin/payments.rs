//! Staff server functions of the payments pages: orders, plans and the
//! provider's webhook events, with filters; one order with its refund.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::admin::users::Line;
use crate::error::AppError;

/// The payments page, preformatted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentsDto {
    pub orders: Vec<Line>,
    pub subscriptions: Vec<Line>,
    pub events: Vec<Line>,
    /// Events whose outcome needs a person.
    pub refused: usize,
    /// Verified events that failed to apply.
    pub failed: Vec<FailedDto>,
}

/// A verified event that failed to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedDto {
    pub id: String,
    /// "stripe invoice.paid evt_…".
    pub event: String,
    pub error: String,
    /// "3 attempts, first 2026-12-05 10:00 UTC, last 10:20 UTC".
    pub attempts: String,
}

/// Orders, plans and webhook events (refused ones first).
#[server(prefix = "/api", endpoint = "admin_payments")]
pub async fn admin_payments(
    #[server(default)] status: String,
    #[server(default)] provider: String,
    #[server(default)] email: String,
) -> Result<PaymentsDto, AppError> {
    use crate::dates::minute;
    use uni1_domain::accounts::Role;
    use uni1_domain::admin::payments::{PaymentFilter, Payments};
    use uni1_domain::billing::catalog::price_label;
    let (admin, staff) = crate::admin::staff(Role::Support).await?;
    let some = |v: String| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let filter = PaymentFilter {
        status: some(status),
        provider: some(provider),
        email: some(email),
    };
    let p = admin.payments(&staff, &filter).await?;
    let who = |e: Option<String>| e.unwrap_or_else(|| "deleted account".into());
    Ok(PaymentsDto {
        failed: p
            .failed
            .into_iter()
            .map(|f| FailedDto {
                id: f.id.to_string(),
                event: format!("{} {} {}", f.provider, f.event_type, f.event_id),
                error: f.error,
                attempts: format!(
                    "{} attempt(s), first {}, last {}",
                    f.attempts,
                    minute(f.first_failed_at),
                    minute(f.last_failed_at)
                ),
            })
            .collect(),
        refused: p
            .events
            .iter()
            .filter(|e| Payments::needs_a_person(e))
            .count(),
        orders: p
            .orders
            .into_iter()
            .map(|(o, email)| Line {
                href: Some(format!("/admin/payments/orders/{}", o.id)),
                cells: vec![
                    minute(o.created_at),
                    who(email),
                    o.item_name,
                    price_label(o.amount, &o.currency),
                    o.status,
                    if o.refunded_amount > 0 {
                        format!(
                            "{} refunded, {} credits back",
                            price_label(o.refunded_amount, &o.currency),
                            o.refunded_credits
                        )
                    } else {
                        String::new()
                    },
                    o.provider,
                ],
            })
            .collect(),
        subscriptions: p
            .subscriptions
            .into_iter()
            .map(|(s, email)| Line {
                href: None,
                cells: vec![
                    who(email),
                    s.plan,
                    s.status,
                    s.current_period_end.map(minute).unwrap_or_default(),
                    if s.cancel_at_period_end {
                        "ends at period end".into()
                    } else {
                        String::new()
                    },
                    s.provider,
                ],
            })
            .collect(),
        events: p
            .events
            .into_iter()
            .map(|e| Line {
                href: e.order_id.map(|id| format!("/admin/payments/orders/{id}")),
                cells: vec![minute(e.received_at), e.provider, e.event_type, e.outcome],
            })
            .collect(),
    })
}

/// One order, preformatted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDto {
    pub id: String,
    /// Label and value pairs.
    pub facts: Vec<(String, String)>,
    /// The provider's events that named it, oldest first.
    pub events: Vec<Line>,
    /// What can still be refunded ("$4.99"); `None`: nothing can be here.
    pub refundable: Option<String>,
    /// Why it cannot be refunded here, when it cannot.
    pub not_refundable: Option<String>,
    /// The viewer may refund (admins).
    pub viewer_admin: bool,
    /// The refund form's own key: one refund per form, however often it is
    /// sent.
    pub form_key: String,
}

/// Order `id` with its buyer, refunds and events.
#[server(prefix = "/api", endpoint = "admin_order")]
pub async fn admin_order(id: String) -> Result<OrderDto, AppError> {
    use crate::dates::minute;
    use uni1_domain::accounts::Role;
    use uni1_domain::billing::catalog::price_label;
    use uni1_domain::billing::orders::{status, STRIPE};
    let (admin, staff) = crate::admin::staff(Role::Support).await?;
    let id = crate::params::id(&id)?;
    let d = admin.order(&staff, id).await?;
    let o = d.order;
    let left = o.amount - o.refunded_amount;
    let not_refundable = if o.status != status::PAID || o.payment_id.is_none() {
        Some(format!(
            "Only paid orders can be refunded; this one is {}.",
            o.status
        ))
    } else if o.provider != STRIPE {
        Some(format!(
            "Refund {} orders in the provider's dashboard: its refund event takes the credits back here.",
            o.provider
        ))
    } else {
        None
    };
    let person = match (&d.email, o.user_id) {
        (Some(e), Some(_)) => e.clone(),
        _ => "deleted account".into(),
    };
    Ok(OrderDto {
        id: o.id.to_string(),
        facts: vec![
            (
                "Item".into(),
                format!("{} ({} credits)", o.item_name, o.credits),
            ),
            ("Buyer".into(), person),
            ("Amount".into(), price_label(o.amount, &o.currency)),
            ("Status".into(), o.status.clone()),
            (
                "Refunded".into(),
                format!(
                    "{}, {} credits taken back",
                    price_label(o.refunded_amount, &o.currency),
                    o.refunded_credits
                ),
            ),
            ("Provider".into(), o.provider.clone()),
            ("Payment".into(), o.payment_id.clone().unwrap_or_default()),
            ("Made".into(), minute(o.created_at)),
            ("Paid".into(), o.paid_at.map(minute).unwrap_or_default()),
        ],
        events: d
            .events
            .into_iter()
            .map(|e| Line {
                href: None,
                cells: vec![minute(e.received_at), e.event_type, e.outcome],
            })
            .collect(),
        refundable: not_refundable
            .is_none()
            .then(|| price_label(left, &o.currency)),
        not_refundable,
        viewer_admin: staff.is_admin(),
        form_key: uuid::Uuid::new_v4().simple().to_string(),
    })
}

/// Refunds part or all of an order through its provider (admins), with a
/// reason; the credits come back in proportion.
#[server(prefix = "/api", endpoint = "admin_refund_order")]
pub async fn admin_refund_order(
    id: String,
    #[server(default)] amount: String,
    #[server(default)] reason: String,
    #[server(default)] form_key: String,
) -> Result<String, AppError> {
    use uni1_domain::accounts::Role;
    use uni1_domain::admin::refunds::RefundForm;
    let (admin, staff) = crate::admin::staff(Role::Admin).await?;
    let billing = crate::state::app_state()?.billing;
    let id = crate::params::id(&id)?;
    let done = admin
        .refund_order(
            &staff,
            &billing,
            id,
            RefundForm {
                amount: &amount,
                form_key: &form_key,
                reason: &reason,
            },
            crate::admin::request_id().as_deref(),
        )
        .await?;
    Ok(if done.status == "succeeded" {
        format!(
            "Refunded {}. The credits it bought are taken back when the provider's refund event arrives (usually within seconds).",
            done.label
        )
    } else {
        format!(
            "Refund of {} is {} at the provider; the credits are taken back when it completes.",
            done.label, done.status
        )
    })
}

/// Applies a verified event that failed again (admins), with a reason.
#[server(prefix = "/api", endpoint = "admin_apply_event_again")]
pub async fn admin_apply_event_again(
    id: String,
    #[server(default)] reason: String,
) -> Result<String, AppError> {
    use uni1_domain::accounts::Role;
    let (admin, staff) = crate::admin::staff(Role::Admin).await?;
    let billing = crate::state::app_state()?.billing;
    let id = crate::params::id(&id)?;
    let outcome = admin
        .apply_event_again(
            &staff,
            &billing,
            id,
            &reason,
            crate::admin::request_id().as_deref(),
        )
        .await?;
    Ok(format!("Applied: {outcome}."))
}
