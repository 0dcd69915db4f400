//! Staff server function of the payments page: orders, plans and the
//! provider's webhook events, with filters.

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
        refused: p
            .events
            .iter()
            .filter(|e| Payments::needs_a_person(e))
            .count(),
        orders: p
            .orders
            .into_iter()
            .map(|(o, email)| Line {
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
                cells: vec![minute(e.received_at), e.provider, e.event_type, e.outcome],
            })
            .collect(),
    })
}
