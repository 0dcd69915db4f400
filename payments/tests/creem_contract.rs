//! Contract test: Creem's official Node SDK (npm `creem`, whose schemas
//! are strict) creates a checkout at the project's Creem fake, reads every
//! event the fake sends when it is paid, the subscription and the portal
//! link, and accepts a webhook signature made by `uni1_payments::creem`.

use std::collections::HashMap;
use std::process::Command;

use secrecy::SecretString;
use uni1_payments::{Creem, CreemSettings, Effect};

const KEY: &str = "creem_test_contract";
const SECRET: &str = "whsec_creem_contract";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creems_own_sdk_reads_the_fake_and_accepts_our_signatures() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let fake = format!("http://{}", listener.local_addr().expect("addr"));
    let prices: HashMap<_, _> = [("prod_plan", "1500:usd:month"), ("prod_pack", "700:usd")]
        .into_iter()
        .map(|(id, spec)| {
            (
                id.to_owned(),
                uni1_payment_fake::Price::parse(spec).expect("price"),
            )
        })
        .collect();
    let served = tokio::spawn(uni1_payment_fake::serve(
        listener,
        uni1_payment_fake::FakeSettings {
            secret_key: "sk_test_unused".into(),
            webhook_url: "http://127.0.0.1:9/hooks/stripe".into(),
            webhook_secret: "whsec_unused".into(),
            public_origin: fake.clone(),
            prices: prices.clone(),
            creem: Some(uni1_payment_fake::CreemFake {
                api_key: KEY.into(),
                // Nothing listens: the fake keeps retrying in the background.
                webhook_url: "http://127.0.0.1:9/hooks/creem".into(),
                webhook_secret: SECRET.into(),
            }),
        },
    ));
    let refund = uni1_payment_fake::creem::event(
        "refund.created",
        uni1_payment_fake::creem::refund("tran_contract", &prices["prod_pack"], 700, 700),
    )
    .to_string();
    let signed = r#"{"id":"evt_contract","eventType":"checkout.completed","object":{}}"#;
    let signature = uni1_payments::creem::sign(signed, SECRET);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = tokio::task::spawn_blocking({
        let fake = fake.clone();
        let (refund, signature) = (refund.clone(), signature.clone());
        move || {
            Command::new("node")
                .current_dir(root)
                .env("FAKE", fake)
                .env("KEY", KEY)
                .env("SECRET", SECRET)
                .env("SIGNED_PAYLOAD", signed)
                .env("SIGNATURE", signature)
                .env("REFUND", refund)
                .arg("payments/tests/node/creem_contract.mjs")
                .output()
                .expect("node runs (scripts/setup.sh installs Node.js packages)")
        }
    })
    .await
    .expect("node");
    assert!(
        out.status.success(),
        "Creem's SDK reads the fake (run scripts/setup.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = String::from_utf8(out.stdout).expect("text");
    assert_eq!(
        seen.lines().collect::<Vec<_>>(),
        [
            "checkout pending",
            "subscription.paid",
            "checkout.completed",
            "subscription active",
            "portal",
            "refund.created",
            "signature"
        ],
        "{seen}"
    );
    // What the SDK read, uni1 reads too.
    let creem = Creem::new(CreemSettings {
        api_key: SecretString::from(KEY),
        webhook_secret: SecretString::from(SECRET),
        api_base: fake,
    })
    .expect("client");
    let event = creem
        .verify(&refund, &uni1_payments::creem::sign(&refund, SECRET))
        .expect("accepted");
    assert!(matches!(event.effect, Effect::Refunded(r) if r.amount_refunded == 700));
    served.abort();
}
