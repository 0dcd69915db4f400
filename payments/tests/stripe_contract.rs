//! Contract test: a webhook signed by Stripe's own Node library
//! (`stripe.webhooks.generateTestHeaderString`, npm `stripe`, installed by
//! scripts/setup.sh) passes our verification and reads as the checkout it
//! describes; the same signature over a changed body is refused.

use std::process::Command;

use secrecy::SecretString;
use uni1_payments::{Effect, Refused, Stripe, StripeSettings};

const SECRET: &str = "whsec_contract_test";

fn stripe_signature(payload: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new("node")
        .current_dir(root)
        .env("PAYLOAD", payload)
        .env("SECRET", SECRET)
        .args([
            "-e",
            "const Stripe = require('stripe'); const s = new Stripe('sk_test_contract'); \
             process.stdout.write(s.webhooks.generateTestHeaderString({ payload: process.env.PAYLOAD, secret: process.env.SECRET }));",
        ])
        .output()
        .expect("node runs (scripts/setup.sh installs Node.js packages)");
    assert!(
        out.status.success(),
        "Stripe's Node library signs (run scripts/setup.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("a header")
}

#[test]
fn a_webhook_signed_by_stripes_own_library_is_accepted_and_a_tampered_one_refused() {
    let session = uni1_payment_fake::checkout_session(
        "cs_test_contract",
        "cus_contract",
        "0193a1c2-0000-7000-8000-000000000001",
        &uni1_payment_fake::Price::once(500, "usd"),
        "http://127.0.0.1:9",
        "http://127.0.0.1:9/ok",
        "http://127.0.0.1:9/no",
    );
    let mut session = session;
    session["payment_status"] = "paid".into();
    session["payment_intent"] = "pi_contract".into();
    let payload = uni1_payment_fake::event("checkout.session.completed", session).to_string();
    let header = stripe_signature(&payload);
    assert!(
        header.starts_with("t=") && header.contains(",v1="),
        "{header}"
    );

    let stripe = Stripe::new(StripeSettings {
        secret_key: SecretString::from("sk_test_contract"),
        webhook_secret: SecretString::from(SECRET),
        api_base: Some("http://127.0.0.1:9/".into()),
        automatic_tax: false,
    })
    .expect("client");
    let event = stripe.verify(&payload, &header).expect("accepted");
    assert_eq!(event.kind, "checkout.session.completed");
    match event.effect {
        Effect::CheckoutCompleted(c) => {
            assert_eq!(c.checkout_id, "cs_test_contract");
            assert_eq!(c.payment_id.as_deref(), Some("pi_contract"));
            assert_eq!(
                (c.amount_total, c.currency.as_deref(), c.paid),
                (Some(500), Some("usd"), true)
            );
            assert_eq!(
                c.order_ref.as_deref(),
                Some("0193a1c2-0000-7000-8000-000000000001")
            );
        }
        other => panic!("read as {other:?}"),
    }
    let tampered = payload.replace("\"amount_total\":500", "\"amount_total\":50000");
    assert_ne!(tampered, payload);
    assert_eq!(stripe.verify(&tampered, &header), Err(Refused::Signature));
}
