//! Stripe through async-stripe: customers, Checkout Sessions, Customer
//! Portal sessions, and webhook
//! events verified on the raw body (HMAC-SHA256 over `t.body`, any of
//! several `v1` signatures, 300 s tolerance) by async-stripe's `Webhook`.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use stripe::{IdempotencyKey, RequestStrategy, StripeError, StripeRequest as _};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_client_core::{RequestBuilder, StripeMethod};
use stripe_core::customer::CreateCustomer;
use stripe_shared::{CheckoutSessionMode, CheckoutSessionPaymentStatus};
use stripe_webhook::{EventObject, Webhook, WebhookError};

use crate::{
    Checkout, CheckoutRequest, CompletedCheckout, Dispute, Effect, Event, MadeRefund, PaidInvoice,
    ProviderError, Refund, Refused, SubscriptionState,
};

/// Stripe's API, unless the settings point elsewhere (a test double).
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com/";

/// What the Stripe adapter needs.
pub struct StripeSettings {
    pub secret_key: SecretString,
    pub webhook_secret: SecretString,
    /// `None`: Stripe itself.
    pub api_base: Option<String>,
    /// Stripe Tax computes and collects tax on checkouts.
    pub automatic_tax: bool,
}

/// The Stripe adapter.
#[derive(Clone)]
pub struct Stripe {
    client: stripe::Client,
    webhook_secret: SecretString,
    automatic_tax: bool,
}

impl fmt::Debug for Stripe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stripe")
            .field("automatic_tax", &self.automatic_tax)
            .finish_non_exhaustive()
    }
}

impl Stripe {
    /// A client for `settings`; fails on a key or URL that cannot be used.
    pub fn new(settings: StripeSettings) -> Result<Self, ProviderError> {
        // Two rustls crypto providers are compiled in (ring by some
        // dependencies, aws-lc-rs by others); hyper-rustls needs the
        // process default chosen. Installing it twice is harmless.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut builder = stripe::ClientBuilder::new(settings.secret_key.expose_secret())
            .timeout(Duration::from_secs(20));
        if let Some(url) = &settings.api_base {
            builder = builder.url(url.clone());
        }
        let client = builder
            .build()
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        Ok(Self {
            client,
            webhook_secret: settings.webhook_secret,
            automatic_tax: settings.automatic_tax,
        })
    }

    /// Creates the customer for a person. The idempotency key is the
    /// person's id, so a retry (or two tabs at once) gets the same customer.
    pub async fn create_customer(
        &self,
        email: &str,
        user_id: &str,
    ) -> Result<String, ProviderError> {
        let request = CreateCustomer::new()
            .email(email)
            .metadata([("uni1_user_id".to_owned(), user_id.to_owned())]);
        let customer = request
            .customize()
            .request_strategy(idempotent(&format!("uni1-customer-{user_id}"))?)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        Ok(customer.id.as_str().to_owned())
    }

    /// Opens a Checkout Session (one-time payment) for one order; the
    /// order id is the idempotency key, the client reference and metadata.
    pub async fn create_checkout(
        &self,
        req: &CheckoutRequest<'_>,
    ) -> Result<Checkout, ProviderError> {
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price = Some(req.price.to_owned());
        item.quantity = Some(1);
        let ours = [
            ("uni1_order_id".to_owned(), req.order_id.to_owned()),
            ("uni1_user_id".to_owned(), req.user_id.to_owned()),
        ];
        let mut request = CreateCheckoutSession::new()
            .mode(if req.recurring {
                CheckoutSessionMode::Subscription
            } else {
                CheckoutSessionMode::Payment
            })
            .customer(req.customer)
            .client_reference_id(req.order_id)
            .metadata(ours.clone())
            .line_items(vec![item])
            .success_url(req.success_url)
            .cancel_url(req.cancel_url);
        if req.recurring {
            // The subscription carries the order and the person, so its
            // invoices can be matched even before the checkout event.
            let mut data = CreateCheckoutSessionSubscriptionData::new();
            data.metadata = Some(ours.into_iter().collect());
            request = request.subscription_data(data);
        }
        if self.automatic_tax {
            request = request.automatic_tax(
                stripe_checkout::checkout_session::CreateCheckoutSessionAutomaticTax::new(true),
            );
        }
        let session = request
            .customize()
            .request_strategy(idempotent(&format!("uni1-checkout-{}", req.order_id))?)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        let url = session
            .url
            .ok_or_else(|| ProviderError::Unavailable("the checkout session has no URL".into()))?;
        Ok(Checkout {
            id: session.id.as_str().to_owned(),
            url,
        })
    }

    /// Opens a Customer Portal session (payment methods, invoices) for a
    /// customer; returns its short-lived page.
    pub async fn portal(&self, customer: &str, return_url: &str) -> Result<String, ProviderError> {
        let session = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        Ok(session.url)
    }

    /// The subscription `id` as Stripe has it now (read for the fields uni1
    /// uses, like the events that name it).
    pub async fn subscription(&self, id: &str) -> Result<SubscriptionState, ProviderError> {
        object_id(id, "subscription")?;
        let value: miniserde::json::Value =
            RequestBuilder::new(StripeMethod::Get, format!("/subscriptions/{id}"))
                .customize()
                .send(&self.client)
                .await
                .map_err(provider_error)?;
        serde_json::from_str::<serde_json::Value>(&miniserde::json::to_string(&value))
            .ok()
            .as_ref()
            .and_then(subscription_state)
            .ok_or_else(|| ProviderError::Unavailable("the subscription cannot be read".into()))
    }

    /// Cancels subscription `id` at once, without proration (its owner's
    /// account is being deleted). One Stripe no longer has counts as done.
    pub async fn cancel_subscription(&self, id: &str) -> Result<(), ProviderError> {
        object_id(id, "subscription")?;
        self.delete(format!("/subscriptions/{id}")).await
    }

    /// Deletes customer `id` (its owner's account is being deleted): Stripe
    /// then forgets their address and payment methods. One Stripe no longer
    /// has counts as done.
    pub async fn delete_customer(&self, id: &str) -> Result<(), ProviderError> {
        object_id(id, "customer")?;
        self.delete(format!("/customers/{id}")).await
    }

    /// Refunds `amount` (minor units) of payment `payment_intent`, for
    /// order `order_id`. `key` is the idempotency key: the same key gets
    /// the same refund, so a retried or doubled request refunds once.
    /// Stripe then sends `charge.refunded` with the running total.
    pub async fn refund(
        &self,
        payment_intent: &str,
        amount: i64,
        order_id: &str,
        key: &str,
    ) -> Result<MadeRefund, ProviderError> {
        object_id(payment_intent, "payment")?;
        if amount <= 0 {
            return Err(ProviderError::Refused(
                "a refund needs a positive amount".into(),
            ));
        }
        let form = serde_json::json!({
            "payment_intent": payment_intent,
            "amount": amount,
            "metadata": {"uni1_order_id": order_id},
        });
        let value: miniserde::json::Value = RequestBuilder::new(StripeMethod::Post, "/refunds")
            .form(&form)
            .customize()
            .request_strategy(idempotent(key)?)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        let refund: serde_json::Value =
            serde_json::from_str(&miniserde::json::to_string(&value))
                .map_err(|_| ProviderError::Unavailable("the refund cannot be read".into()))?;
        let made = MadeRefund {
            id: text(&refund["id"]).unwrap_or_default(),
            amount: refund["amount"].as_i64().unwrap_or_default(),
            status: text(&refund["status"]).unwrap_or_default(),
        };
        match made.status.as_str() {
            "succeeded" | "pending" | "requires_action" if !made.id.is_empty() => Ok(made),
            "failed" | "canceled" => Err(ProviderError::Refused(format!(
                "the refund {}",
                made.status
            ))),
            _ => Err(ProviderError::Unavailable(
                "the refund cannot be read".into(),
            )),
        }
    }

    async fn delete(&self, path: String) -> Result<(), ProviderError> {
        let answer: Result<miniserde::json::Value, StripeError> =
            RequestBuilder::new(StripeMethod::Delete, path)
                .customize()
                .send(&self.client)
                .await;
        match answer {
            Ok(_) | Err(StripeError::Stripe(_, 404)) => Ok(()),
            Err(e) => Err(provider_error(e)),
        }
    }

    /// Reads again an event [`Self::verify`] accepted before (kept sealed
    /// since, to apply it again): the same reading, under a signature made
    /// now with the endpoint secret, since the original one is past its
    /// 300 s tolerance.
    pub fn reread(&self, payload: &str) -> Result<Event, Refused> {
        use hmac::{Hmac, Mac};
        let now = chrono::Utc::now().timestamp();
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(self.webhook_secret.expose_secret().as_bytes())
                .map_err(|_| Refused::Header)?;
        mac.update(format!("{now}.{payload}").as_bytes());
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.verify(payload, &format!("t={now},v1={hex}"))
    }

    /// Verifies a webhook request (the raw body and its `Stripe-Signature`
    /// header) and reads the event.
    ///
    /// async-stripe checks the signature before it reads the event, and reads
    /// objects strictly, as the API version it was built for renders them.
    /// An event whose signature holds but that it cannot read (an account on
    /// another API version) is read again for the few fields uni1 needs
    /// ([`lenient`]), so a payment is never left ungranted by a schema drift.
    pub fn verify(&self, payload: &str, signature: &str) -> Result<Event, Refused> {
        let event =
            match Webhook::construct_event(payload, signature, self.webhook_secret.expose_secret())
            {
                Ok(event) if is_read_narrowly(event.type_.as_str()) => {
                    return lenient(payload, false)
                        .ok_or_else(|| Refused::Malformed("the object cannot be read".into()));
                }
                Ok(event) => event,
                Err(WebhookError::BadParse(m)) => {
                    return lenient(payload, true).ok_or(Refused::Malformed(m));
                }
                Err(WebhookError::BadSignature) => return Err(Refused::Signature),
                Err(WebhookError::BadTimestamp(_)) => return Err(Refused::Stale),
                Err(WebhookError::BadHeader(_) | WebhookError::BadKey) => {
                    return Err(Refused::Header)
                }
            };
        let effect = match event.data.object {
            EventObject::CheckoutSessionCompleted(s)
            | EventObject::CheckoutSessionAsyncPaymentSucceeded(s) => {
                Effect::CheckoutCompleted(CompletedCheckout {
                    checkout_id: s.id.as_str().to_owned(),
                    order_ref: s.client_reference_id.clone(),
                    payment_id: s
                        .payment_intent
                        .as_ref()
                        .map(|p| p.id().as_str().to_owned()),
                    amount_total: s.amount_total,
                    amount_subtotal: s.amount_subtotal,
                    currency: s.currency.map(|c| c.to_string()),
                    paid: matches!(
                        s.payment_status,
                        CheckoutSessionPaymentStatus::Paid
                            | CheckoutSessionPaymentStatus::NoPaymentRequired
                    ),
                    subscription_id: s.subscription.as_ref().map(|x| x.id().as_str().to_owned()),
                    customer_id: None,
                })
            }
            EventObject::CheckoutSessionExpired(s)
            | EventObject::CheckoutSessionAsyncPaymentFailed(s) => Effect::CheckoutExpired {
                checkout_id: s.id.as_str().to_owned(),
                order_ref: s.client_reference_id.clone(),
            },
            EventObject::ChargeRefunded(c) => Effect::Refunded(Refund {
                payment_id: c
                    .payment_intent
                    .as_ref()
                    .map(|p| p.id().as_str().to_owned()),
                amount: c.amount,
                amount_refunded: c.amount_refunded,
                currency: c.currency.to_string(),
            }),
            EventObject::ChargeDisputeCreated(d) => Effect::Disputed(dispute(&d)),
            EventObject::ChargeDisputeFundsReinstated(d) => Effect::DisputeWon(dispute(&d)),
            _ => Effect::Other,
        };
        Ok(Event {
            id: event.id.as_str().to_owned(),
            kind: event.type_.as_str().to_owned(),
            effect,
        })
    }
}

/// Events whose objects uni1 always reads for the few fields it uses:
/// invoices and subscriptions are large objects whose shape changes from one
/// API version to the next, and a subscription's state is read back from
/// the API anyway.
fn is_read_narrowly(kind: &str) -> bool {
    matches!(kind, "invoice.paid" | "invoice.payment_succeeded")
        || kind.starts_with("customer.subscription.")
}

fn text(v: &serde_json::Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// An expandable field: an id, or the object with its id.
fn id_of(v: &serde_json::Value) -> Option<String> {
    text(v).or_else(|| text(&v["id"]))
}

/// A paid invoice's fields (API versions before and after invoices moved
/// their subscription under `parent` and their payment under `payments`).
fn paid_invoice(o: &serde_json::Value) -> Option<PaidInvoice> {
    let payment = o["payments"]["data"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["status"] != "canceled"))
        .and_then(|p| {
            id_of(&p["payment"]["payment_intent"]).or_else(|| id_of(&p["payment"]["charge"]))
        });
    Some(PaidInvoice {
        invoice_id: text(&o["id"])?,
        subscription_id: id_of(&o["subscription"])
            .or_else(|| id_of(&o["parent"]["subscription_details"]["subscription"])),
        amount_paid: o["amount_paid"].as_i64()?,
        currency: text(&o["currency"])?,
        billing_reason: text(&o["billing_reason"]),
        payment_id: payment.or_else(|| id_of(&o["payment_intent"])),
        receipt_url: text(&o["hosted_invoice_url"]),
    })
}

/// A subscription's fields (its period is on its items since 2025).
fn subscription_state(o: &serde_json::Value) -> Option<SubscriptionState> {
    let item = &o["items"]["data"][0];
    Some(SubscriptionState {
        id: text(&o["id"])?,
        customer_id: id_of(&o["customer"])?,
        status: text(&o["status"])?,
        // Older API versions name the item's plan, not its price.
        price: id_of(&item["price"]).or_else(|| id_of(&item["plan"])),
        current_period_end: item["current_period_end"]
            .as_i64()
            .or_else(|| o["current_period_end"].as_i64()),
        // The portal ends a plan at the period's end with either field.
        cancel_at_period_end: o["cancel_at_period_end"].as_bool().unwrap_or(false)
            || o["cancel_at"].is_i64(),
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

/// The fields uni1 acts on, read from a verified event's JSON without the
/// rest of Stripe's schema; `None` when even these are not there. `drift`:
/// async-stripe could not read it (logged).
fn lenient(payload: &str, drift: bool) -> Option<Event> {
    let v: serde_json::Value = serde_json::from_str(payload).ok()?;
    let id = text(&v["id"])?;
    let kind = text(&v["type"])?;
    let o = &v["data"]["object"];
    let effect = match kind.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            Effect::CheckoutCompleted(CompletedCheckout {
                checkout_id: text(&o["id"])?,
                order_ref: text(&o["client_reference_id"]),
                payment_id: id_of(&o["payment_intent"]),
                amount_total: o["amount_total"].as_i64(),
                amount_subtotal: o["amount_subtotal"].as_i64(),
                currency: text(&o["currency"]),
                paid: matches!(
                    o["payment_status"].as_str(),
                    Some("paid" | "no_payment_required")
                ),
                subscription_id: id_of(&o["subscription"]),
                customer_id: None,
            })
        }
        "checkout.session.expired" | "checkout.session.async_payment_failed" => {
            Effect::CheckoutExpired {
                checkout_id: text(&o["id"])?,
                order_ref: text(&o["client_reference_id"]),
            }
        }
        "charge.refunded" => Effect::Refunded(Refund {
            payment_id: id_of(&o["payment_intent"]),
            amount: o["amount"].as_i64()?,
            amount_refunded: o["amount_refunded"].as_i64()?,
            currency: text(&o["currency"])?,
        }),
        "charge.dispute.created" | "charge.dispute.funds_reinstated" => {
            let d = Dispute {
                id: text(&o["id"])?,
                payment_id: id_of(&o["payment_intent"]),
                amount: o["amount"].as_i64()?,
                currency: text(&o["currency"])?,
            };
            if kind == "charge.dispute.created" {
                Effect::Disputed(d)
            } else {
                Effect::DisputeWon(d)
            }
        }
        // Stripe sends both for a paid invoice (older integrations and
        // emulators only the second); the invoice id makes it one grant.
        "invoice.paid" | "invoice.payment_succeeded" => Effect::InvoicePaid(paid_invoice(o)?),
        k if k.starts_with("customer.subscription.") => Effect::SubscriptionChanged {
            subscription_id: text(&o["id"])?,
        },
        _ => Effect::Other,
    };
    if drift && !is_read_narrowly(&kind) {
        tracing::warn!(event = %id, %kind, "read a Stripe event without its full schema (API version drift?)");
    }
    Some(Event { id, kind, effect })
}

fn dispute(d: &stripe_shared::Dispute) -> Dispute {
    Dispute {
        id: d.id.as_str().to_owned(),
        payment_id: d
            .payment_intent
            .as_ref()
            .map(|p| p.id().as_str().to_owned()),
        amount: d.amount,
        currency: d.currency.to_string(),
    }
}

fn idempotent(key: &str) -> Result<RequestStrategy, ProviderError> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| ProviderError::Config(format!("idempotency key: {e:?}")))
}

/// Refuses an id that could change the request's path.
fn object_id(id: &str, what: &str) -> Result<(), ProviderError> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ProviderError::Refused(format!("{id:?} is not a {what} id")));
    }
    Ok(())
}

fn provider_error(e: StripeError) -> ProviderError {
    match e {
        StripeError::Stripe(errors, status) => ProviderError::Refused(format!(
            "{} (HTTP {status})",
            errors.message.as_deref().unwrap_or("no message")
        )),
        other => ProviderError::Unavailable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripe() -> Stripe {
        Stripe::new(StripeSettings {
            secret_key: SecretString::from("sk_test_x"),
            webhook_secret: SecretString::from("whsec_test"),
            api_base: Some("http://127.0.0.1:9/".into()),
            automatic_tax: false,
        })
        .expect("a client")
    }

    #[test]
    fn debug_shows_no_secret() {
        let text = format!("{:?}", stripe());
        assert!(
            !text.contains("sk_test_x") && !text.contains("whsec_test"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_event_type_with_a_good_signature_is_acknowledged_as_other() {
        let payload = r#"{"id":"evt_1","object":"event","api_version":null,"created":1,"livemode":false,"pending_webhooks":1,"request":null,"data":{"object":{}},"type":"some.future_event"}"#;
        let header = Webhook::generate_test_header(payload, "whsec_test", None);
        let event = stripe().verify(payload, &header).expect("accepted");
        assert_eq!((event.id.as_str(), event.effect), ("evt_1", Effect::Other));
    }

    #[test]
    fn a_signed_event_in_another_schema_is_still_read_for_what_uni1_needs() {
        // No `automatic_tax`, `custom_text`, `mode`…: async-stripe cannot
        // read this session, but the signature holds.
        let payload = r#"{"id":"evt_drift","object":"event","created":1,"livemode":false,"pending_webhooks":1,"type":"checkout.session.completed","data":{"object":{"id":"cs_1","object":"checkout.session","client_reference_id":"order-1","payment_intent":{"id":"pi_1"},"amount_total":500,"currency":"usd","payment_status":"paid","some_new_field":true}}}"#;
        let header = Webhook::generate_test_header(payload, "whsec_test", None);
        let event = stripe().verify(payload, &header).expect("accepted");
        assert_eq!(
            event.effect,
            Effect::CheckoutCompleted(CompletedCheckout {
                checkout_id: "cs_1".into(),
                order_ref: Some("order-1".into()),
                payment_id: Some("pi_1".into()),
                amount_total: Some(500),
                amount_subtotal: None,
                currency: Some("usd".into()),
                paid: true,
                subscription_id: None,
                customer_id: None,
            })
        );
        // Signed but not an event at all: refused.
        let junk = r#"{"type":"checkout.session.completed"}"#;
        let header = Webhook::generate_test_header(junk, "whsec_test", None);
        assert!(matches!(
            stripe().verify(junk, &header),
            Err(Refused::Malformed(_))
        ));
        // The lenient reading never skips the signature.
        let header = Webhook::generate_test_header(payload, "whsec_other", None);
        assert_eq!(stripe().verify(payload, &header), Err(Refused::Signature));
    }

    #[test]
    fn invoices_and_subscriptions_are_read_for_what_uni1_uses() {
        let price = uni1_payment_fake::Price::parse("1000:usd:month").expect("price");
        let meta = serde_json::json!({"uni1_order_id": "o-1", "uni1_user_id": "u-1"});
        let sub = uni1_payment_fake::subscription("sub_1", "cus_1", "price_m", &price, &meta, 100);
        let inv = uni1_payment_fake::invoice(
            "in_1",
            "cus_1",
            "sub_1",
            &price,
            "subscription_cycle",
            "pi_9",
            "https://fake",
        );
        let payload = uni1_payment_fake::event("invoice.paid", inv).to_string();
        let header = Webhook::generate_test_header(&payload, "whsec_test", None);
        let event = stripe().verify(&payload, &header).expect("accepted");
        assert_eq!(
            event.effect,
            Effect::InvoicePaid(PaidInvoice {
                invoice_id: "in_1".into(),
                subscription_id: Some("sub_1".into()),
                amount_paid: 1000,
                currency: "usd".into(),
                billing_reason: Some("subscription_cycle".into()),
                payment_id: Some("pi_9".into()),
                receipt_url: Some("https://fake/invoice/in_1".into()),
            })
        );
        let payload =
            uni1_payment_fake::event("customer.subscription.deleted", sub.clone()).to_string();
        let header = Webhook::generate_test_header(&payload, "whsec_test", None);
        assert_eq!(
            stripe().verify(&payload, &header).expect("accepted").effect,
            Effect::SubscriptionChanged {
                subscription_id: "sub_1".into()
            }
        );
        let state = subscription_state(&sub).expect("a subscription");
        assert_eq!(
            (
                state.customer_id.as_str(),
                state.price.as_deref(),
                state.current_period_end,
                state.is_live()
            ),
            ("cus_1", Some("price_m"), Some(100 + 30 * 24 * 3600), true)
        );
        assert_eq!(
            state.metadata.get("uni1_order_id").map(String::as_str),
            Some("o-1")
        );
        // An older API version: the subscription and payment at the top.
        let old = serde_json::json!({"id": "in_2", "subscription": "sub_2", "amount_paid": 5,
            "currency": "eur", "payment_intent": "pi_2", "billing_reason": "subscription_create"});
        let read = paid_invoice(&old).expect("read");
        assert_eq!(
            (read.subscription_id.as_deref(), read.payment_id.as_deref()),
            (Some("sub_2"), Some("pi_2"))
        );
    }

    #[test]
    fn a_tampered_or_stale_event_is_refused() {
        let payload = r#"{"id":"evt_1"}"#;
        let header = Webhook::generate_test_header(payload, "whsec_test", None);
        assert_eq!(
            stripe().verify(r#"{"id":"evt_2"}"#, &header),
            Err(Refused::Signature)
        );
        let old = Webhook::generate_test_header(payload, "whsec_test", Some(1_000_000));
        assert_eq!(stripe().verify(payload, &old), Err(Refused::Stale));
        assert_eq!(
            stripe().verify(payload, "t=soon,v1=00"),
            Err(Refused::Header)
        );
        assert_eq!(
            stripe().verify(payload, "nonsense"),
            Err(Refused::Signature)
        );
    }
}
