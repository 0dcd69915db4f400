//! The Creem side of the fake: the parts of Creem's API uni1 uses, with
//! the JSON shapes the official `creem` SDK parses (its strict schemas are
//! the contract test), a pay page, and events signed with
//! `creem-signature` (hex HMAC-SHA256 of the raw body).
//!
//! - `POST /v1/checkouts` (`x-api-key`): a checkout for a product (a price
//!   id of the fake; one with an interval is a subscription product).
//! - `GET /creem/checkout/{id}` and `POST …/pay`: paying sends, for a plan,
//!   `subscription.paid` and then `checkout.completed`; for a pack,
//!   `checkout.completed`.
//! - `GET /v1/subscriptions?subscription_id=…`, `POST /v1/customers/billing`.
//! - `POST /_fake/creem/subscriptions/{id}/renew` (a new paid period) and
//!   `/cancel` (`subscription.canceled`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::{escape, new_id, now, Fake, Price};

/// The Creem fake's keys and where its events go.
#[derive(Debug, Clone)]
pub struct CreemFake {
    /// What clients must send as `x-api-key`.
    pub api_key: String,
    /// Where events go (uni1's `/hooks/creem`).
    pub webhook_url: String,
    /// The webhook secret events are signed with.
    pub webhook_secret: String,
}

/// The `creem-signature` of `payload`.
pub fn signature(payload: &str, secret: &str) -> String {
    use hmac::Mac as _;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(payload.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A Creem event around `object` (`created_at` in milliseconds).
pub fn event(kind: &str, object: Value) -> Value {
    json!({
        "id": new_id("evt"),
        "eventType": kind,
        "created_at": now() * 1000,
        "object": object,
    })
}

fn iso(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A Product as Creem renders it.
pub fn product(id: &str, price: &Price) -> Value {
    let (billing_type, period) = match price.interval.as_deref() {
        Some("year") => ("recurring", "every-year"),
        Some(_) => ("recurring", "every-month"),
        None => ("onetime", "once"),
    };
    json!({
        "id": id, "mode": "test", "object": "product", "name": id, "description": "uni1 test product",
        "price": price.amount, "currency": price.currency.to_uppercase(),
        "billing_type": billing_type, "billing_period": period, "status": "active",
        "tax_mode": "exclusive", "tax_category": "saas",
        "created_at": iso(now()), "updated_at": iso(now()),
    })
}

fn customer(id: &str, email: &str) -> Value {
    json!({
        "id": id, "mode": "test", "object": "customer", "email": email, "country": null,
        "created_at": iso(now()), "updated_at": iso(now()),
    })
}

/// A Transaction as Creem renders it (`refunded_amount` so far).
pub fn transaction(id: &str, price: &Price, refunded_amount: i64) -> Value {
    json!({
        "id": id, "mode": "test", "object": "transaction", "amount": price.amount,
        "amount_paid": price.amount, "currency": price.currency.to_uppercase(),
        "type": if price.interval.is_some() { "invoice" } else { "payment" },
        "status": if refunded_amount >= price.amount { "refunded" } else if refunded_amount > 0 { "partialRefund" } else { "paid" },
        "refunded_amount": refunded_amount,
        "created_at": now() * 1000,
    })
}

/// A Refund as Creem renders it in `refund.created`.
pub fn refund(
    transaction_id: &str,
    price: &Price,
    refund_amount: i64,
    refunded_so_far: i64,
) -> Value {
    json!({
        "id": new_id("ref"), "mode": "test", "object": "refund", "status": "succeeded",
        "refund_amount": refund_amount, "refund_currency": price.currency.to_uppercase(),
        "reason": "requested_by_customer",
        "transaction": transaction(transaction_id, price, refunded_so_far),
        "created_at": now() * 1000,
    })
}

fn creem_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"status": status.as_u16(), "error": "Bad Request", "message": [message]})),
    )
        .into_response()
}

fn authorized(fake: &Fake, headers: &HeaderMap) -> Option<CreemFake> {
    let creem = fake.settings.creem.clone()?;
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    (key == Some(creem.api_key.as_str())).then_some(creem)
}

pub(crate) async fn create_checkout(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if authorized(&fake, &headers).is_none() {
        return creem_error(StatusCode::UNAUTHORIZED, "Invalid API key");
    }
    let product_id = body["product_id"].as_str().unwrap_or_default().to_owned();
    if !fake.settings.prices.contains_key(&product_id) {
        return creem_error(StatusCode::NOT_FOUND, "Product not found");
    }
    let id = new_id("ch");
    let checkout = json!({
        "id": id, "mode": "test", "object": "checkout", "status": "pending",
        "product": product_id, "units": 1,
        "request_id": body["request_id"],
        "checkout_url": format!("{}/creem/checkout/{id}", fake.settings.public_origin),
        "success_url": body["success_url"],
        "metadata": body["metadata"],
    });
    let mut stored = checkout.clone();
    stored["_email"] = body["customer"]["email"].clone();
    fake.store().creem_checkouts.insert(id, stored);
    // Creem answers 200 (its SDK refuses anything else).
    Json(checkout).into_response()
}

pub(crate) async fn checkout_page(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let Some(c) = fake.store().creem_checkouts.get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, Html("No such checkout.".to_owned())).into_response();
    };
    let price = fake
        .settings
        .prices
        .get(c["product"].as_str().unwrap_or_default())
        .cloned()
        .unwrap_or_else(|| Price::once(0, "usd"));
    let body = if c["status"] == "completed" {
        "<p>This checkout is already paid.</p>".to_owned()
    } else {
        format!(
            "<form method=\"post\" action=\"/creem/checkout/{}/pay\"><button type=\"submit\">Pay {}.{:02} {}</button></form>",
            escape(&id),
            price.amount / 100,
            price.amount % 100,
            escape(&price.currency.to_uppercase())
        )
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>Test Creem checkout</title></head>\
         <body><h1>Test Creem checkout (payment fake)</h1><p>No card is needed: this is uni1's Creem fake.</p>{body}</body></html>"
    ))
    .into_response()
}

pub(crate) async fn pay(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let Some(creem) = fake.settings.creem.clone() else {
        return (StatusCode::NOT_FOUND, "Creem is not faked here.").into_response();
    };
    let (success, events) = {
        let mut store = fake.store();
        let Some(mut c) = store.creem_checkouts.get(&id).cloned() else {
            return (StatusCode::NOT_FOUND, "No such checkout.").into_response();
        };
        let success = c["success_url"].as_str().unwrap_or("/").to_owned();
        if c["status"] == "completed" {
            return Redirect::to(&success).into_response();
        }
        let product_id = c["product"].as_str().unwrap_or_default().to_owned();
        let Some(price) = fake.settings.prices.get(&product_id).cloned() else {
            return (StatusCode::CONFLICT, "The product is gone.").into_response();
        };
        let cust = customer(
            &new_id("cust"),
            c["_email"].as_str().unwrap_or("buyer@example.com"),
        );
        let tran = new_id("tran");
        let order = json!({
            "id": new_id("ord"), "mode": "test", "object": "order", "product": product_id,
            "amount": price.amount, "amount_paid": price.amount, "currency": price.currency.to_uppercase(),
            "status": "paid", "type": if price.interval.is_some() { "recurring" } else { "onetime" },
            "transaction": tran, "customer": cust["id"],
            "created_at": iso(now()), "updated_at": iso(now()),
        });
        let mut events = Vec::new();
        c["status"] = json!("completed");
        c["order"] = order;
        c["customer"] = cust.clone();
        if price.interval.is_some() {
            let sub_id = new_id("sub");
            let sub = json!({
                "id": sub_id, "mode": "test", "object": "subscription",
                "product": product(&product_id, &price), "customer": cust,
                "collection_method": "charge_automatically", "status": "active",
                "last_transaction_id": tran,
                "last_transaction": transaction(&tran, &price, 0),
                "current_period_start_date": iso(now()),
                "current_period_end_date": iso(now() + crate::period(price.interval.as_deref())),
                "canceled_at": null,
                "metadata": c["metadata"],
                "created_at": iso(now()), "updated_at": iso(now()),
            });
            c["subscription"] = sub.clone();
            store.creem_subscriptions.insert(sub_id, sub.clone());
            events.push(event("subscription.paid", sub));
        }
        store.creem_checkouts.insert(id.clone(), c.clone());
        if let Some(o) = c.as_object_mut() {
            o.remove("_email");
        }
        events.push(event("checkout.completed", c));
        store.events.extend(events.iter().cloned());
        (success, events)
    };
    tokio::spawn(deliver_all(fake.clone(), creem, events));
    let joiner = if success.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{success}{joiner}checkout_id={id}")).into_response()
}

pub(crate) async fn get_subscription(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if authorized(&fake, &headers).is_none() {
        return creem_error(StatusCode::UNAUTHORIZED, "Invalid API key");
    }
    let id = q.get("subscription_id").cloned().unwrap_or_default();
    match fake.store().creem_subscriptions.get(&id) {
        Some(s) => Json(s.clone()).into_response(),
        None => creem_error(StatusCode::NOT_FOUND, "Subscription not found"),
    }
}

pub(crate) async fn portal(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if authorized(&fake, &headers).is_none() {
        return creem_error(StatusCode::UNAUTHORIZED, "Invalid API key");
    }
    let customer = body["customer_id"].as_str().unwrap_or_default();
    Json(json!({
        "customer_portal_link": format!("{}/creem/portal/{customer}", fake.settings.public_origin)
    }))
    .into_response()
}

pub(crate) async fn portal_page(Path(customer): Path<String>) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>Test Creem portal</title></head>\
         <body><h1>Test Creem customer portal (payment fake)</h1><p>Customer {}</p></body></html>",
        escape(&customer)
    ))
}

/// A new paid period: `subscription.paid` with a new transaction.
pub(crate) async fn renew(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let Some(creem) = fake.settings.creem.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let sub = {
        let mut store = fake.store();
        let Some(sub) = store.creem_subscriptions.get_mut(&id) else {
            return (StatusCode::NOT_FOUND, "No such subscription.").into_response();
        };
        let product_id = sub["product"]["id"].as_str().unwrap_or_default().to_owned();
        let Some(price) = fake.settings.prices.get(&product_id).cloned() else {
            return (StatusCode::CONFLICT, "The product is gone.").into_response();
        };
        let start = now();
        let tran = new_id("tran");
        sub["last_transaction_id"] = json!(tran);
        sub["last_transaction"] = transaction(&tran, &price, 0);
        sub["current_period_start_date"] = json!(iso(start));
        sub["current_period_end_date"] =
            json!(iso(start + 2 * crate::period(price.interval.as_deref())));
        sub.clone()
    };
    let ev = event("subscription.paid", sub.clone());
    fake.store().events.push(ev.clone());
    tokio::spawn(deliver_all(fake.clone(), creem, vec![ev]));
    Json(sub).into_response()
}

/// Ends a subscription now: `subscription.canceled`.
/// `POST /v1/subscriptions/{id}/cancel` (Creem's API, with its key).
pub(crate) async fn cancel_api(
    State(fake): State<Fake>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let key_ok = fake.settings.creem.as_ref().is_some_and(|c| {
        headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(c.api_key.as_str())
    });
    if !key_ok {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"message": "Invalid API key"})),
        )
            .into_response();
    }
    cancel(State(fake), Path(id)).await
}

pub(crate) async fn cancel(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let Some(creem) = fake.settings.creem.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let sub = {
        let mut store = fake.store();
        let Some(sub) = store.creem_subscriptions.get_mut(&id) else {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"message": "Subscription not found"})),
            )
                .into_response();
        };
        sub["status"] = json!("canceled");
        sub["canceled_at"] = json!(iso(now()));
        sub.clone()
    };
    let ev = event("subscription.canceled", sub.clone());
    fake.store().events.push(ev.clone());
    tokio::spawn(deliver_all(fake.clone(), creem, vec![ev]));
    Json(sub).into_response()
}

async fn deliver_all(fake: Fake, creem: CreemFake, events: Vec<Value>) {
    for e in events {
        let payload = e.to_string();
        let sig = signature(&payload, &creem.webhook_secret);
        crate::deliver_signed(
            &fake,
            &creem.webhook_url,
            "creem-signature",
            &payload,
            || sig.clone(),
        )
        .await;
    }
}
