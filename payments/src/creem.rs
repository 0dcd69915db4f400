//! Creem (a merchant of record) over its REST API: hosted checkouts, the
//! customer portal link, subscriptions read back, and webhooks verified on
//! the raw body.
//!
//! Creem signs a webhook with `creem-signature`: the hex HMAC-SHA256 of the
//! raw body under the webhook secret, compared here in constant time. The
//! signature carries no timestamp, so the event id's dedupe (in the
//! transaction of its effect) is the only replay guard.

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::{
    Checkout, CheckoutRequest, CompletedCheckout, Dispute, Effect, Event, PaidInvoice,
    ProviderError, Refund, Refused, SubscriptionState,
};

/// Creem's live API.
pub const DEFAULT_API_BASE: &str = "https://api.creem.io/";
/// Creem's test-mode API.
pub const TEST_API_BASE: &str = "https://test-api.creem.io/";

/// What the Creem adapter needs.
pub struct CreemSettings {
    pub api_key: SecretString,
    pub webhook_secret: SecretString,
    /// Ends with `/`: [`DEFAULT_API_BASE`], [`TEST_API_BASE`] or a test
    /// double's.
    pub api_base: String,
}

/// The Creem adapter.
#[derive(Clone)]
pub struct Creem {
    http: reqwest::Client,
    api_key: SecretString,
    webhook_secret: SecretString,
    base: String,
}

impl fmt::Debug for Creem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Creem")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Creem {
    pub fn new(settings: CreemSettings) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        let mut base = settings.api_base;
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(Self {
            http,
            api_key: settings.api_key,
            webhook_secret: settings.webhook_secret,
            base,
        })
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
        let response = request
            .header("x-api-key", self.api_key.expose_secret())
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| ProviderError::Unavailable(format!("HTTP {status}: {e}")))?;
        if status.is_success() {
            Ok(body)
        } else if status.is_client_error() {
            let message = body["message"]
                .as_str()
                .or_else(|| body["message"][0].as_str())
                .unwrap_or("no message");
            Err(ProviderError::Refused(format!("{message} (HTTP {status})")))
        } else {
            Err(ProviderError::Unavailable(format!("HTTP {status}")))
        }
    }

    /// Opens a checkout for one order (a pack's product, or a plan's
    /// recurring product). The order id is the checkout's `request_id` and
    /// is in its metadata with the person.
    pub async fn create_checkout(
        &self,
        req: &CheckoutRequest<'_>,
    ) -> Result<Checkout, ProviderError> {
        let body = json!({
            "product_id": req.price,
            "request_id": req.order_id,
            "units": 1,
            "customer": {"email": req.email},
            "success_url": req.success_url,
            "metadata": {"uni1_order_id": req.order_id, "uni1_user_id": req.user_id},
        });
        let v = self
            .call(
                self.http
                    .post(format!("{}v1/checkouts", self.base))
                    .json(&body),
            )
            .await?;
        match (text(&v["id"]), text(&v["checkout_url"])) {
            (Some(id), Some(url)) => Ok(Checkout { id, url }),
            _ => Err(ProviderError::Unavailable(
                "the checkout has no id or URL".into(),
            )),
        }
    }

    /// A link to Creem's customer portal (plans, invoices, payment methods).
    pub async fn portal(&self, customer: &str) -> Result<String, ProviderError> {
        let v = self
            .call(
                self.http
                    .post(format!("{}v1/customers/billing", self.base))
                    .json(&json!({"customer_id": customer})),
            )
            .await?;
        text(&v["customer_portal_link"])
            .ok_or_else(|| ProviderError::Unavailable("no portal link".into()))
    }

    /// The subscription `id` as Creem has it now.
    pub async fn subscription(&self, id: &str) -> Result<SubscriptionState, ProviderError> {
        let v = self
            .call(
                self.http
                    .get(format!("{}v1/subscriptions", self.base))
                    .query(&[("subscription_id", id)]),
            )
            .await?;
        subscription_state(&v)
            .ok_or_else(|| ProviderError::Unavailable("the subscription cannot be read".into()))
    }

    /// Cancels subscription `id` at once (its owner's account is being
    /// deleted). One Creem no longer has counts as done.
    pub async fn cancel_subscription(&self, id: &str) -> Result<(), ProviderError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ProviderError::Refused(format!(
                "{id:?} is not a subscription id"
            )));
        }
        let answer = self
            .call(
                self.http
                    .post(format!("{}v1/subscriptions/{id}/cancel", self.base))
                    .json(&json!({})),
            )
            .await;
        match answer {
            Ok(_) => Ok(()),
            Err(ProviderError::Refused(m)) if m.ends_with("(HTTP 404 Not Found)") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Verifies a webhook request (the raw body and its `creem-signature`)
    /// and reads the event.
    pub fn verify(&self, payload: &str, signature: &str) -> Result<Event, Refused> {
        let given =
            hex_decode(signature.trim().trim_start_matches("sha256=")).ok_or(Refused::Header)?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.webhook_secret.expose_secret().as_bytes())
                .map_err(|_| Refused::Header)?;
        mac.update(payload.as_bytes());
        // Constant time.
        mac.verify_slice(&given).map_err(|_| Refused::Signature)?;
        read_event(payload).ok_or_else(|| Refused::Malformed("not a Creem event".into()))
    }
}

impl Creem {
    /// Reads again an event [`Self::verify`] accepted before (kept sealed
    /// since, to apply it again).
    pub fn reread(&self, payload: &str) -> Result<Event, Refused> {
        read_event(payload).ok_or_else(|| Refused::Malformed("not a Creem event".into()))
    }
}

/// `creem-signature` for `payload` (tests and the fake sign this way).
pub fn sign(payload: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(payload.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 256 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// An id, or an expanded object with its id.
fn id_of(v: &Value) -> Option<String> {
    text(v).or_else(|| text(&v["id"]))
}

fn lower(v: &Value) -> Option<String> {
    v.as_str().map(str::to_ascii_lowercase)
}

fn read_event(payload: &str) -> Option<Event> {
    let v: Value = serde_json::from_str(payload).ok()?;
    let id = text(&v["id"])?;
    let kind = text(&v["eventType"]).or_else(|| text(&v["type"]))?;
    let o = if v["object"].is_object() {
        &v["object"]
    } else {
        &v["data"]["object"]
    };
    let effect = match kind.as_str() {
        "checkout.completed" => {
            let order = &o["order"];
            Effect::CheckoutCompleted(CompletedCheckout {
                checkout_id: text(&o["id"])?,
                order_ref: text(&o["request_id"]).or_else(|| text(&o["metadata"]["uni1_order_id"])),
                payment_id: id_of(&order["transaction"]).or_else(|| text(&order["id"])),
                amount_total: order["amount_paid"]
                    .as_i64()
                    .or_else(|| order["amount"].as_i64()),
                amount_subtotal: order["sub_total"]
                    .as_i64()
                    .or_else(|| order["amount"].as_i64()),
                currency: lower(&order["currency"]),
                paid: order["status"] == "paid" || o["status"] == "completed",
                subscription_id: id_of(&o["subscription"]),
                customer_id: id_of(&o["customer"]).or_else(|| id_of(&order["customer"])),
            })
        }
        "subscription.paid" => {
            let t = &o["last_transaction"];
            Effect::InvoicePaid(PaidInvoice {
                // Each period is paid by one transaction.
                invoice_id: text(&o["last_transaction_id"]).or_else(|| id_of(t))?,
                subscription_id: text(&o["id"]),
                amount_paid: t["amount_paid"]
                    .as_i64()
                    .or_else(|| t["amount"].as_i64())
                    .or_else(|| o["product"]["price"].as_i64())?,
                currency: lower(&t["currency"]).or_else(|| lower(&o["product"]["currency"]))?,
                // Creem does not say whether it is the first period: the
                // domain matches the plan's checkout order if it has none.
                billing_reason: None,
                payment_id: text(&o["last_transaction_id"]).or_else(|| id_of(t)),
                receipt_url: None,
            })
        }
        k if k.starts_with("subscription.") => Effect::SubscriptionChanged {
            subscription_id: text(&o["id"])?,
        },
        "refund.created" => {
            let t = &o["transaction"];
            Effect::Refunded(Refund {
                payment_id: id_of(t),
                amount: t["amount"].as_i64()?,
                // The transaction's running total when Creem gives it.
                amount_refunded: t["refunded_amount"]
                    .as_i64()
                    .or_else(|| o["refund_amount"].as_i64())?,
                currency: lower(&o["refund_currency"]).or_else(|| lower(&t["currency"]))?,
            })
        }
        "dispute.created" => Effect::Disputed(Dispute {
            id: text(&o["id"])?,
            payment_id: id_of(&o["transaction"]),
            amount: o["amount"].as_i64()?,
            currency: lower(&o["currency"])?,
        }),
        _ => Effect::Other,
    };
    Some(Event { id, kind, effect })
}

/// A subscription's fields. Creem's `scheduled_cancel` is a running plan
/// that ends at its period's end.
fn subscription_state(o: &Value) -> Option<SubscriptionState> {
    let status = text(&o["status"])?;
    let ending = status == "scheduled_cancel";
    let period_end = text(&o["current_period_end_date"])
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.timestamp());
    Some(SubscriptionState {
        id: text(&o["id"])?,
        customer_id: id_of(&o["customer"])?,
        status: if ending { "active".into() } else { status },
        price: id_of(&o["product"]),
        current_period_end: period_end,
        cancel_at_period_end: ending,
        metadata: o["metadata"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creem() -> Creem {
        Creem::new(CreemSettings {
            api_key: SecretString::from("creem_test_key"),
            webhook_secret: SecretString::from("whsec_creem_test"),
            api_base: "http://127.0.0.1:9".into(),
        })
        .expect("a client")
    }

    #[test]
    fn debug_shows_no_secret() {
        let text = format!("{:?}", creem());
        assert!(
            !text.contains("creem_test_key") && !text.contains("whsec_creem_test"),
            "{text}"
        );
    }

    #[test]
    fn signed_events_are_read_and_anything_else_refused() {
        let payload = r#"{"id":"evt_1","eventType":"refund.created","created_at":1,"object":{"id":"ref_1","refund_amount":500,"refund_currency":"USD","transaction":{"id":"tran_1","amount":1000,"currency":"USD"}}}"#;
        let sig = sign(payload, "whsec_creem_test");
        let event = creem().verify(payload, &sig).expect("accepted");
        assert_eq!(
            event.effect,
            Effect::Refunded(Refund {
                payment_id: Some("tran_1".into()),
                amount: 1000,
                amount_refunded: 500,
                currency: "usd".into(),
            })
        );
        assert_eq!(
            creem().verify(&payload.replace("500", "900"), &sig),
            Err(Refused::Signature)
        );
        assert_eq!(
            creem().verify(payload, &sign(payload, "whsec_other")),
            Err(Refused::Signature)
        );
        assert_eq!(creem().verify(payload, "not hex"), Err(Refused::Header));
        let junk = "{\"nope\":1}";
        assert!(matches!(
            creem().verify(junk, &sign(junk, "whsec_creem_test")),
            Err(Refused::Malformed(_))
        ));
    }
}
