//! A Stripe-shaped (and Creem-shaped, see [`creem`]) fake: the parts of
//! Stripe's API uni1 uses, answering
//! with Stripe's JSON shapes, a hosted "checkout" page, and webhook events
//! signed the way Stripe signs them.
//!
//! No package implements Checkout Sessions locally, so the project keeps
//! this one (like its model server). `uni1 payment-fake` runs it so an
//! operator can try the whole purchase flow without a Stripe account; the
//! HTTP and browser tests start it on loopback.
//!
//! - `POST /v1/customers`, `POST /v1/checkout/sessions`,
//!   `GET /v1/checkout/sessions/{id}`: form-encoded requests, `Bearer` key,
//!   `Idempotency-Key` honoured (the same key returns the first answer).
//! - `POST /v1/refunds` (`payment_intent`, optional `amount`): refunds
//!   a paid checkout or invoice, in full or in part, and sends
//!   `charge.refunded` with the running total.
//! - `POST /_fake/outage/on` (and `/off`): reads of objects answer 503
//!   until it ends, for tests of what uni1 does in a Stripe outage.
//! - `GET /checkout/{id}`: the page where the person "pays" or cancels.
//! - `POST /v1/billing_portal/sessions` and `GET /portal/{id}`: a Customer
//!   Portal that lists the customer's payments and links back.
//! - On paying, `checkout.session.completed` is delivered to the webhook
//!   URL (retried with back-off until it is answered with a 2xx).
//! - Plans (a price with an interval, a checkout in `subscription` mode):
//!   paying creates a subscription and its first paid invoice, and sends
//!   `customer.subscription.created`, `invoice.paid` and then
//!   `checkout.session.completed`. `GET /v1/subscriptions/{id}` reads it
//!   back; `POST /_fake/subscriptions/{id}/renew` starts the next period
//!   (a new paid invoice) and `POST /_fake/subscriptions/{id}/cancel`
//!   ends it (`?at_period_end=true` to let the period run out). The portal
//!   page lists subscriptions with a button to cancel at the period's end.

pub mod creem;
mod refunds;

pub use creem::CreemFake;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// A price the fake sells: its amount in minor units and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub amount: i64,
    pub currency: String,
    /// `month` or `year` for a plan's recurring price.
    pub interval: Option<String>,
}

impl Price {
    /// A one-time price.
    pub fn once(amount: i64, currency: &str) -> Self {
        Self {
            amount,
            currency: currency.to_owned(),
            interval: None,
        }
    }

    /// `500:usd` (one-time) or `1000:usd:month` (recurring); `None` when it
    /// does not read so.
    pub fn parse(spec: &str) -> Option<Self> {
        let mut parts = spec.split(':');
        let amount = parts.next()?.trim().parse().ok().filter(|a: &i64| *a > 0)?;
        let currency = parts.next()?.trim().to_ascii_lowercase();
        let interval = match parts.next().map(str::trim) {
            None => None,
            Some(i @ ("month" | "year")) => Some(i.to_owned()),
            Some(_) => return None,
        };
        (currency.len() == 3 && parts.next().is_none()).then_some(Self {
            amount,
            currency,
            interval,
        })
    }
}

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct FakeSettings {
    /// The secret key clients must send (`Authorization: Bearer …`).
    pub secret_key: String,
    /// Where events go (uni1's `/hooks/stripe`).
    pub webhook_url: String,
    /// The endpoint secret events are signed with (`whsec_…`).
    pub webhook_secret: String,
    /// The fake's own origin, for the checkout page links it hands out.
    pub public_origin: String,
    /// The prices it knows, by price id (Stripe) or product id (Creem).
    pub prices: HashMap<String, Price>,
    /// Fake Creem too (`/v1/checkouts`, …).
    pub creem: Option<CreemFake>,
}

#[derive(Default)]
pub(crate) struct Store {
    customers: HashMap<String, Value>,
    sessions: HashMap<String, Value>,
    portals: HashMap<String, Value>,
    subscriptions: HashMap<String, Value>,
    invoices: HashMap<String, Value>,
    creem_checkouts: HashMap<String, Value>,
    creem_subscriptions: HashMap<String, Value>,
    /// Idempotency-Key -> the first answer.
    answers: HashMap<String, (StatusCode, Value)>,
    /// Every event sent, in order.
    events: Vec<Value>,
    /// Payments taken, by payment intent (what `POST /v1/refunds` can give back).
    paid: HashMap<String, refunds::Paid>,
    /// `POST /_fake/outage/on`: reads of objects answer 503 (a Stripe
    /// outage, for tests of what uni1 does then).
    outage: bool,
}

#[derive(Clone)]
pub(crate) struct Fake {
    settings: Arc<FakeSettings>,
    store: Arc<Mutex<Store>>,
    http: reqwest::Client,
}

impl Fake {
    pub(crate) fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The fake's routes.
pub fn router(settings: FakeSettings) -> Router {
    let fake = Fake {
        settings: Arc::new(settings),
        store: Arc::default(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default(),
    };
    Router::new()
        .route("/v1/customers", post(create_customer))
        .route("/v1/customers/{id}", axum::routing::delete(delete_customer))
        .route("/v1/checkout/sessions", post(create_session))
        .route("/v1/refunds", post(refunds::create))
        .route("/v1/checkout/sessions/{id}", get(get_session))
        .route("/checkout/{id}", get(checkout_page))
        .route("/checkout/{id}/pay", post(pay))
        .route("/v1/billing_portal/sessions", post(create_portal))
        .route("/portal/{id}", get(portal_page))
        .route("/_fake/events", get(events))
        .route("/_fake/outage/{state}", post(outage))
        .route(
            "/v1/subscriptions/{id}",
            get(get_subscription).delete(delete_subscription),
        )
        .route("/v1/subscriptions/{id}/cancel", post(creem::cancel_api))
        .route("/_fake/subscriptions/{id}/renew", post(renew))
        .route("/_fake/subscriptions/{id}/cancel", post(cancel))
        .route("/portal/{id}/cancel/{sub}", post(portal_cancel))
        .route("/v1/checkouts", post(creem::create_checkout))
        .route("/creem/checkout/{id}", get(creem::checkout_page))
        .route("/creem/checkout/{id}/pay", post(creem::pay))
        .route("/v1/subscriptions", get(creem::get_subscription))
        .route("/v1/customers/billing", post(creem::portal))
        .route("/creem/portal/{customer}", get(creem::portal_page))
        .route("/_fake/creem/subscriptions/{id}/renew", post(creem::renew))
        .route(
            "/_fake/creem/subscriptions/{id}/cancel",
            post(creem::cancel),
        )
        .with_state(fake)
}

/// Serves the fake on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    settings: FakeSettings,
) -> std::io::Result<()> {
    axum::serve(listener, router(settings)).await
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The `Stripe-Signature` header for `payload` at `timestamp`: HMAC-SHA256
/// of `"{timestamp}.{payload}"` with the endpoint secret, hex-encoded.
pub fn signature_header(payload: &str, secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={timestamp},v1={hex}")
}

pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_test_{}", uuid::Uuid::new_v4().simple())
}

/// A Stripe event around `object`.
pub fn event(kind: &str, object: Value) -> Value {
    json!({
        "id": new_id("evt"),
        "object": "event",
        "api_version": null,
        "created": now(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": kind,
        "data": {"object": object},
    })
}

/// A Checkout Session object as Stripe renders it (the fields uni1 or
/// async-stripe read, the rest null).
pub fn checkout_session(
    id: &str,
    customer: &str,
    order_ref: &str,
    price: &Price,
    origin: &str,
    success_url: &str,
    cancel_url: &str,
) -> Value {
    json!({
        "id": id,
        "object": "checkout.session",
        "amount_subtotal": price.amount,
        "amount_total": price.amount,
        "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
        "cancel_url": cancel_url,
        "client_reference_id": order_ref,
        "created": now(),
        "currency": price.currency,
        "custom_fields": [],
        "custom_text": {"after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null},
        "customer": customer,
        "expires_at": now() + 24 * 3600,
        "livemode": false,
        "metadata": {"uni1_order_id": order_ref},
        "mode": "payment",
        "payment_intent": null,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "shipping_options": [],
        "status": "open",
        "success_url": success_url,
        "url": format!("{origin}/checkout/{id}"),
    })
}

/// The seconds a period of `interval` lasts in the fake (30 or 365 days).
pub(crate) fn period(interval: Option<&str>) -> i64 {
    match interval {
        Some("year") => 365 * 24 * 3600,
        _ => 30 * 24 * 3600,
    }
}

/// A Subscription object as Stripe renders it (API 2025+: the period is on
/// the item): the fields uni1 reads, and the common ones around them.
pub fn subscription(
    id: &str,
    customer: &str,
    price_id: &str,
    price: &Price,
    metadata: &Value,
    period_start: i64,
) -> Value {
    let end = period_start + period(price.interval.as_deref());
    json!({
        "id": id,
        "object": "subscription",
        "cancel_at": null,
        "cancel_at_period_end": false,
        "canceled_at": null,
        "created": now(),
        "currency": price.currency,
        "customer": customer,
        "ended_at": null,
        "items": {
            "object": "list",
            "data": [{
                "id": new_id("si"),
                "object": "subscription_item",
                "created": now(),
                "current_period_start": period_start,
                "current_period_end": end,
                "metadata": {},
                "price": {
                    "id": price_id,
                    "object": "price",
                    "active": true,
                    "currency": price.currency,
                    "recurring": {"interval": price.interval, "interval_count": 1, "usage_type": "licensed"},
                    "type": "recurring",
                    "unit_amount": price.amount
                },
                "quantity": 1,
                "subscription": id
            }],
            "has_more": false,
            "url": format!("/v1/subscription_items?subscription={id}")
        },
        "latest_invoice": null,
        "livemode": false,
        "metadata": metadata,
        "start_date": period_start,
        "status": "active",
    })
}

/// A paid Invoice object as Stripe renders it (API 2025+: the subscription
/// under `parent`, the payment under `payments`).
pub fn invoice(
    id: &str,
    customer: &str,
    subscription: &str,
    price: &Price,
    billing_reason: &str,
    payment_intent: &str,
    origin: &str,
) -> Value {
    json!({
        "id": id,
        "object": "invoice",
        "amount_due": price.amount,
        "amount_paid": price.amount,
        "amount_remaining": 0,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": now(),
        "currency": price.currency,
        "customer": customer,
        "hosted_invoice_url": format!("{origin}/invoice/{id}"),
        "livemode": false,
        "metadata": {},
        "parent": {
            "type": "subscription_details",
            "quote_details": null,
            "subscription_details": {"metadata": {}, "subscription": subscription}
        },
        "payments": {
            "object": "list",
            "data": [{
                "id": new_id("inpay"),
                "object": "invoice_payment",
                "amount_paid": price.amount,
                "currency": price.currency,
                "invoice": id,
                "is_default": true,
                "livemode": false,
                "payment": {"type": "payment_intent", "payment_intent": payment_intent},
                "status": "paid"
            }],
            "has_more": false,
            "url": format!("/v1/invoice_payments?invoice={id}")
        },
        "status": "paid",
        "subtotal": price.amount,
        "total": price.amount,
    })
}

/// A Charge object as Stripe renders it in `charge.refunded`: `amount`
/// paid, `amount_refunded` in total so far.
pub fn refunded_charge(payment_intent: &str, price: &Price, amount_refunded: i64) -> Value {
    json!({
        "id": new_id("ch"),
        "object": "charge",
        "amount": price.amount,
        "amount_captured": price.amount,
        "amount_refunded": amount_refunded,
        "billing_details": {"address": null, "email": null, "name": null, "phone": null, "tax_id": null},
        "captured": true,
        "created": now(),
        "currency": price.currency,
        "disputed": false,
        "failure_balance_transaction": null,
        "livemode": false,
        "metadata": {},
        "paid": true,
        "payment_intent": payment_intent,
        "refunded": amount_refunded >= price.amount,
        "status": "succeeded",
    })
}

/// A Dispute object as Stripe renders it in `charge.dispute.*` events.
pub fn dispute(id: &str, payment_intent: &str, price: &Price, amount: i64, status: &str) -> Value {
    json!({
        "id": id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": new_id("ch"),
        "created": now(),
        "currency": price.currency,
        "enhanced_eligibility_types": [],
        "evidence": {"enhanced_evidence": {}},
        "evidence_details": {
            "due_by": null,
            "enhanced_eligibility": {},
            "has_evidence": false,
            "past_due": false,
            "submission_count": 0
        },
        "is_charge_refundable": false,
        "livemode": false,
        "metadata": {},
        "payment_intent": payment_intent,
        "reason": "fraudulent",
        "status": status,
    })
}

fn stripe_error(status: StatusCode, message: &str, param: Option<&str>) -> Response {
    (
        status,
        Json(
            json!({"error": {"type": "invalid_request_error", "message": message, "param": param}}),
        ),
    )
        .into_response()
}

fn authorized(fake: &Fake, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|k| k == fake.settings.secret_key)
}

/// Answers with the first answer given to the same `Idempotency-Key`, or
/// computes, stores and returns a new one.
pub(crate) fn idempotent(
    fake: &Fake,
    headers: &HeaderMap,
    make: impl FnOnce(&mut Store) -> (StatusCode, Value),
) -> Response {
    if !authorized(fake, headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided", None);
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut store = fake.store();
    if let Some(key) = &key {
        if let Some((status, body)) = store.answers.get(key) {
            return (*status, Json(body.clone())).into_response();
        }
    }
    let (status, body) = make(&mut store);
    if let Some(key) = key {
        store.answers.insert(key, (status, body.clone()));
    }
    (status, Json(body)).into_response()
}

async fn create_customer(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    idempotent(&fake, &headers, |store| {
        let id = new_id("cus");
        let customer = json!({
            "id": id,
            "object": "customer",
            "created": now(),
            "email": form.get("email"),
            "livemode": false,
            "metadata": {"uni1_user_id": form.get("metadata[uni1_user_id]")},
        });
        store.customers.insert(id, customer.clone());
        (StatusCode::OK, customer)
    })
}

async fn create_session(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let settings = fake.settings.clone();
    let price = form
        .get("line_items[0][price]")
        .and_then(|p| settings.prices.get(p).cloned());
    let Some(price) = price else {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "No such price",
            Some("line_items[0][price]"),
        );
    };
    let price_id = form
        .get("line_items[0][price]")
        .cloned()
        .unwrap_or_default();
    let recurring = form.get("mode").map(String::as_str) == Some("subscription");
    if recurring != price.interval.is_some() {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "You must use mode=subscription with a recurring price, and mode=payment with a one-time price",
            Some("mode"),
        );
    }
    let sub_metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k
                .strip_prefix("subscription_data[metadata][")?
                .strip_suffix(']')?;
            Some((key.to_owned(), json!(v)))
        })
        .collect();
    let customer = form.get("customer").cloned().unwrap_or_default();
    let order_ref = form.get("client_reference_id").cloned().unwrap_or_default();
    let success = form.get("success_url").cloned().unwrap_or_default();
    let cancel = form.get("cancel_url").cloned().unwrap_or_default();
    idempotent(&fake, &headers, |store| {
        if !store.customers.contains_key(&customer) {
            return (
                StatusCode::BAD_REQUEST,
                json!({"error": {"type": "invalid_request_error", "message": "No such customer", "param": "customer"}}),
            );
        }
        let id = new_id("cs");
        let session = checkout_session(
            &id,
            &customer,
            &order_ref,
            &price,
            &settings.public_origin,
            &success,
            &cancel,
        );
        let mut session = session;
        // Kept for `pay` (not part of Stripe's object).
        session["_fake"] = json!({"price": price_id});
        if recurring {
            session["mode"] = json!("subscription");
            session["_fake"]["subscription_metadata"] = Value::Object(sub_metadata);
        }
        store.sessions.insert(id, session.clone());
        (StatusCode::OK, session)
    })
}

async fn get_session(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    read(&fake, &headers, "checkout.session", |store| {
        store.sessions.get(&id).cloned()
    })
}

/// Answers a `GET` of one object: the key checked, then the object or
/// Stripe's "No such …" error.
fn read(
    fake: &Fake,
    headers: &HeaderMap,
    what: &str,
    find: impl FnOnce(&Store) -> Option<Value>,
) -> Response {
    if !authorized(fake, headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided", None);
    }
    if fake.store().outage {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"type": "api_error", "message": "The fake is having an outage (POST /_fake/outage/off ends it)."}})),
        )
            .into_response();
    }
    let found = find(&fake.store());
    match found {
        Some(mut o) => {
            if let Some(o) = o.as_object_mut() {
                o.remove("_fake");
            }
            Json(o).into_response()
        }
        None => stripe_error(
            StatusCode::NOT_FOUND,
            &format!("No such {what}"),
            Some("id"),
        ),
    }
}

async fn create_portal(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let customer = form.get("customer").cloned().unwrap_or_default();
    let return_url = form.get("return_url").cloned();
    let origin = fake.settings.public_origin.clone();
    idempotent(&fake, &headers, |store| {
        if !store.customers.contains_key(&customer) {
            return (
                StatusCode::BAD_REQUEST,
                json!({"error": {"type": "invalid_request_error", "message": "No such customer", "param": "customer"}}),
            );
        }
        let id = new_id("bps");
        let portal = json!({
            "id": id,
            "object": "billing_portal.session",
            "configuration": "bpc_test_default",
            "created": now(),
            "customer": customer,
            "customer_account": null,
            "flow": null,
            "livemode": false,
            "locale": null,
            "on_behalf_of": null,
            "return_url": return_url,
            "url": format!("{origin}/portal/{id}"),
        });
        store.portals.insert(id, portal.clone());
        (StatusCode::OK, portal)
    })
}

async fn portal_page(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let store = fake.store();
    let Some(portal) = store.portals.get(&id) else {
        return (
            StatusCode::NOT_FOUND,
            Html("No such portal session.".to_owned()),
        )
            .into_response();
    };
    let customer = portal["customer"].as_str().unwrap_or_default();
    let payments: String = store
        .sessions
        .values()
        .filter(|s| s["customer"] == customer && s["payment_status"] == "paid")
        .map(|s| {
            let amount = s["amount_total"].as_i64().unwrap_or_default();
            format!(
                "<li>{}.{:02} {}</li>",
                amount / 100,
                amount % 100,
                escape(&s["currency"].as_str().unwrap_or_default().to_uppercase())
            )
        })
        .collect();
    let plans: String = store
        .subscriptions
        .values()
        .filter(|s| s["customer"] == customer)
        .map(|s| {
            let sid = s["id"].as_str().unwrap_or_default();
            let ending = s["cancel_at_period_end"] == true || s["status"] != "active";
            let action = if ending {
                "ends at the end of the period".to_owned()
            } else {
                format!(
                    "<form method=\"post\" action=\"/portal/{}/cancel/{}\"><button type=\"submit\">Cancel plan</button></form>",
                    escape(&id),
                    escape(sid)
                )
            };
            format!(
                "<li>{} ({}) {action}</li>",
                escape(s["items"]["data"][0]["price"]["id"].as_str().unwrap_or_default()),
                escape(s["status"].as_str().unwrap_or_default())
            )
        })
        .collect();
    let back = portal["return_url"].as_str().unwrap_or("/");
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>Test customer portal</title></head>\
         <body><h1>Test customer portal (payment fake)</h1><h2>Plans</h2><ul>{plans}</ul><h2>Payments</h2><ul>{payments}</ul>\
         <p><a href=\"{}\">Return to the site</a></p></body></html>",
        escape(back)
    ))
    .into_response()
}

pub(crate) fn escape(s: &str) -> String {
    html_escape::encode_quoted_attribute(s).into_owned()
}

async fn checkout_page(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let Some(session) = fake.store().sessions.get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, Html("No such checkout.".to_owned())).into_response();
    };
    let amount = session["amount_total"].as_i64().unwrap_or_default();
    let currency = session["currency"]
        .as_str()
        .unwrap_or_default()
        .to_uppercase();
    let cancel = session["cancel_url"].as_str().unwrap_or_default();
    let done = session["status"] == "complete";
    let body = if done {
        "<p>This checkout is already paid.</p>".to_owned()
    } else {
        format!(
            "<form method=\"post\" action=\"/checkout/{id}/pay\"><button type=\"submit\">Pay {} {currency}</button></form>\
             <p><a href=\"{}\">Cancel and go back</a></p>",
            format_args!("{}.{:02}", amount / 100, amount % 100),
            escape(cancel),
            id = escape(&id),
        )
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>Test checkout</title></head>\
         <body><h1>Test checkout (payment fake)</h1><p>No card is needed: this is uni1's Stripe fake.</p>{body}</body></html>"
    ))
    .into_response()
}

async fn pay(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let (session, mut events) = {
        let mut store = fake.store();
        let Some(mut session) = store.sessions.get(&id).cloned() else {
            return (StatusCode::NOT_FOUND, "No such checkout.").into_response();
        };
        let mut events = Vec::new();
        if session["status"] != "complete" {
            session["status"] = json!("complete");
            session["payment_status"] = json!("paid");
            if session["mode"] == "subscription" {
                // A subscription and its first paid invoice; the events go
                // out before the checkout's (as Stripe's often do).
                events = start_subscription(&fake, &mut store, &mut session);
            } else {
                let pi = new_id("pi");
                let price = session["_fake"]["price"].as_str().unwrap_or_default();
                if let Some(price) = fake.settings.prices.get(price).cloned() {
                    refunds::record(&mut store, &pi, &price);
                }
                session["payment_intent"] = json!(pi);
            }
            store.sessions.insert(id.clone(), session.clone());
        }
        (session, events)
    };
    let mut visible = session.clone();
    if let Some(o) = visible.as_object_mut() {
        o.remove("_fake");
    }
    events.push(event("checkout.session.completed", visible));
    fake.store().events.extend(events.iter().cloned());
    tokio::spawn(deliver_all(fake.clone(), events));
    let success = session["success_url"]
        .as_str()
        .unwrap_or("/")
        .replace("{CHECKOUT_SESSION_ID}", &id);
    Redirect::to(&success).into_response()
}

/// Creates the subscription a paid `session` starts and its first paid
/// invoice; returns their events.
fn start_subscription(fake: &Fake, store: &mut Store, session: &mut Value) -> Vec<Value> {
    let price_id = session["_fake"]["price"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let Some(price) = fake.settings.prices.get(&price_id).cloned() else {
        return Vec::new();
    };
    let customer = session["customer"].as_str().unwrap_or_default().to_owned();
    let sub_id = new_id("sub");
    let sub = subscription(
        &sub_id,
        &customer,
        &price_id,
        &price,
        &session["_fake"]["subscription_metadata"],
        now(),
    );
    let inv_id = new_id("in");
    let pi = new_id("pi");
    refunds::record(store, &pi, &price);
    let inv = invoice(
        &inv_id,
        &customer,
        &sub_id,
        &price,
        "subscription_create",
        &pi,
        &fake.settings.public_origin,
    );
    session["subscription"] = json!(sub_id);
    session["invoice"] = json!(inv_id);
    store.subscriptions.insert(sub_id, sub.clone());
    store.invoices.insert(inv_id, inv.clone());
    vec![
        event("customer.subscription.created", sub),
        event("invoice.paid", inv),
    ]
}

async fn get_subscription(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    read(&fake, &headers, "subscription", |store| {
        store.subscriptions.get(&id).cloned()
    })
}

/// `DELETE /v1/subscriptions/{id}`: cancels at once, as Stripe does
/// (`customer.subscription.deleted` follows).
async fn delete_subscription(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&fake, &headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided", None);
    }
    match end_subscription(&fake, &id, false) {
        Some(sub) => Json(sub).into_response(),
        None => stripe_error(StatusCode::NOT_FOUND, "No such subscription", Some("id")),
    }
}

/// `DELETE /v1/customers/{id}`: Stripe forgets the customer.
async fn delete_customer(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&fake, &headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided", None);
    }
    match fake.store().customers.remove(&id) {
        Some(_) => Json(json!({"id": id, "object": "customer", "deleted": true})).into_response(),
        None => stripe_error(StatusCode::NOT_FOUND, "No such customer", Some("id")),
    }
}

/// Starts the next period of a subscription: a new paid invoice
/// (`invoice.paid`) and the subscription's new period
/// (`customer.subscription.updated`). Answers the invoice.
async fn renew(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let (events, inv) = {
        let mut store = fake.store();
        let Some(sub) = store.subscriptions.get_mut(&id) else {
            return (StatusCode::NOT_FOUND, "No such subscription.").into_response();
        };
        if sub["status"] != "active" {
            return (StatusCode::CONFLICT, "The subscription has ended.").into_response();
        }
        let item = &mut sub["items"]["data"][0];
        let price_id = item["price"]["id"].as_str().unwrap_or_default().to_owned();
        let Some(price) = fake.settings.prices.get(&price_id).cloned() else {
            return (StatusCode::CONFLICT, "The price is gone.").into_response();
        };
        let start = item["current_period_end"].as_i64().unwrap_or_else(now);
        item["current_period_start"] = json!(start);
        item["current_period_end"] = json!(start + period(price.interval.as_deref()));
        let sub = sub.clone();
        let customer = sub["customer"].as_str().unwrap_or_default().to_owned();
        let inv_id = new_id("in");
        let pi = new_id("pi");
        refunds::record(&mut store, &pi, &price);
        let inv = invoice(
            &inv_id,
            &customer,
            &id,
            &price,
            "subscription_cycle",
            &pi,
            &fake.settings.public_origin,
        );
        store.invoices.insert(inv_id, inv.clone());
        let events = vec![
            event("invoice.paid", inv.clone()),
            event("customer.subscription.updated", sub),
        ];
        store.events.extend(events.iter().cloned());
        (events, inv)
    };
    tokio::spawn(deliver_all(fake.clone(), events));
    Json(inv).into_response()
}

/// Ends a subscription now (`customer.subscription.deleted`) or at the
/// period's end (`?at_period_end=true`, `customer.subscription.updated`).
async fn cancel(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let at_end = q.get("at_period_end").map(String::as_str) == Some("true");
    match end_subscription(&fake, &id, at_end) {
        Some(sub) => Json(sub).into_response(),
        None => (StatusCode::NOT_FOUND, "No such subscription.").into_response(),
    }
}

fn end_subscription(fake: &Fake, id: &str, at_end: bool) -> Option<Value> {
    let (sub, ev) = {
        let mut store = fake.store();
        let sub = store.subscriptions.get_mut(id)?;
        let kind = if at_end {
            sub["cancel_at_period_end"] = json!(true);
            sub["cancel_at"] = sub["items"]["data"][0]["current_period_end"].clone();
            "customer.subscription.updated"
        } else {
            sub["status"] = json!("canceled");
            sub["canceled_at"] = json!(now());
            sub["ended_at"] = json!(now());
            "customer.subscription.deleted"
        };
        sub["canceled_at"] = json!(now());
        let sub = sub.clone();
        let ev = event(kind, sub.clone());
        store.events.push(ev.clone());
        (sub, ev)
    };
    tokio::spawn(deliver_all(fake.clone(), vec![ev]));
    Some(sub)
}

/// The portal's "Cancel plan": it ends at the period's end.
async fn portal_cancel(
    State(fake): State<Fake>,
    Path((portal, sub)): Path<(String, String)>,
) -> Response {
    let owned = {
        let store = fake.store();
        let customer = store.portals.get(&portal).map(|p| p["customer"].clone());
        customer.is_some_and(|c| {
            store
                .subscriptions
                .get(&sub)
                .is_some_and(|s| s["customer"] == c)
        })
    };
    if !owned || end_subscription(&fake, &sub, true).is_none() {
        return (StatusCode::NOT_FOUND, "No such subscription.").into_response();
    }
    Redirect::to(&format!("/portal/{portal}")).into_response()
}

/// Sends `events` one after the other, each as [`deliver`] does.
pub(crate) async fn deliver_all(fake: Fake, events: Vec<Value>) {
    for e in events {
        deliver(fake.clone(), e).await;
    }
}

/// Posts `payload` to `url` with the header `header` (its value from
/// `sign`, asked again for each attempt), retrying (1, 2, 4 … 30 s) until it
/// is answered with a 2xx or ten attempts have failed.
pub(crate) async fn deliver_signed(
    fake: &Fake,
    url: &str,
    header: &str,
    payload: &str,
    sign: impl Fn() -> String,
) {
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=10 {
        let sent = fake
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(header, sign())
            .body(payload.to_owned())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => tracing::warn!(attempt, status = %r.status(), "webhook refused"),
            Err(e) => tracing::warn!(attempt, error = %e, "webhook not delivered"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

/// Sends `event` to the webhook URL, signed the Stripe way (a fresh
/// timestamp for each attempt).
async fn deliver(fake: Fake, event: Value) {
    let payload = event.to_string();
    let secret = fake.settings.webhook_secret.clone();
    let url = fake.settings.webhook_url.clone();
    deliver_signed(&fake, &url, "stripe-signature", &payload, || {
        signature_header(&payload, &secret, now())
    })
    .await;
}

/// `POST /_fake/outage/on` or `/off`.
async fn outage(State(fake): State<Fake>, Path(state): Path<String>) -> StatusCode {
    match state.as_str() {
        "on" | "off" => {
            fake.store().outage = state == "on";
            StatusCode::NO_CONTENT
        }
        _ => StatusCode::NOT_FOUND,
    }
}

async fn events(State(fake): State<Fake>) -> Json<Vec<Value>> {
    Json(fake.store().events.clone())
}
