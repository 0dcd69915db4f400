//! `POST /v1/refunds`: money back for a payment the fake took, as Stripe
//! does it: the refund object answers at once, and `charge.refunded` (the
//! charge with its running `amount_refunded`) follows as a webhook.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use serde_json::{json, Value};
use std::collections::HashMap;

use crate::{event, idempotent, new_id, now, refunded_charge, Fake, Price, Store};

/// What a payment the fake took can still give back.
#[derive(Debug, Clone)]
pub(crate) struct Paid {
    pub(crate) price: Price,
    /// Refunded so far in total, in minor units.
    pub(crate) refunded: i64,
}

/// Records a payment the fake took (a paid checkout or invoice), so it can
/// be refunded.
pub(crate) fn record(store: &mut Store, payment_intent: &str, price: &Price) {
    store.paid.insert(
        payment_intent.to_owned(),
        Paid {
            price: price.clone(),
            refunded: 0,
        },
    );
}

fn refused(message: String, code: &str, param: &str) -> (StatusCode, Value) {
    (
        StatusCode::BAD_REQUEST,
        json!({"error": {"type": "invalid_request_error", "code": code, "message": message, "param": param}}),
    )
}

pub(crate) async fn create(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut sent = None;
    let answer = idempotent(&fake, &headers, |store| {
        let pi = form.get("payment_intent").cloned().unwrap_or_default();
        let Some(paid) = store.paid.get_mut(&pi) else {
            return refused(
                format!("No such payment_intent: '{pi}'"),
                "resource_missing",
                "payment_intent",
            );
        };
        let left = paid.price.amount - paid.refunded;
        let amount = match form.get("amount") {
            None => left,
            Some(a) => match a.parse::<i64>() {
                Ok(a) if a > 0 => a,
                _ => {
                    return refused(
                        "Invalid integer: amount".into(),
                        "parameter_invalid_integer",
                        "amount",
                    )
                }
            },
        };
        if left <= 0 {
            return refused(
                format!("Charge for payment_intent {pi} has already been refunded."),
                "charge_already_refunded",
                "payment_intent",
            );
        }
        if amount > left {
            return refused(
                format!(
                    "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
                ),
                "amount_too_large",
                "amount",
            );
        }
        paid.refunded += amount;
        let charge = refunded_charge(&pi, &paid.price, paid.refunded);
        let metadata: serde_json::Map<String, Value> = form
            .iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
                Some((key.to_owned(), json!(v)))
            })
            .collect();
        let refund = json!({
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": null,
            "charge": charge["id"],
            "created": now(),
            "currency": paid.price.currency,
            "metadata": metadata,
            "payment_intent": pi,
            "reason": form.get("reason"),
            "receipt_number": null,
            "source_transfer_reversal": null,
            "status": "succeeded",
            "transfer_reversal": null,
        });
        let ev = event("charge.refunded", charge);
        store.events.push(ev.clone());
        sent = Some(ev);
        (StatusCode::OK, refund)
    });
    if let Some(ev) = sent {
        tokio::spawn(crate::deliver_all(fake.clone(), vec![ev]));
    }
    answer
}
