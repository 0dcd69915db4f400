//! Billing end to end: the pricing page, a purchase through the project's
//! Stripe fake (a real HTTP server on loopback that signs its webhooks the
//! Stripe way and delivers them to the app, itself served on loopback),
//! replays, forged and stale events, and an order that is not yours.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::Value;
use uni1_domain::billing::credits;
use uni1_domain::entities::{order, payment_event, payment_event_failure, subscription};

use crate::fixtures::{mail_of_kind, member};
use crate::support::{run_with_file, Backend, TestApp, Visitor};

const SECRET_KEY: &str = "sk_test_billing";
const WEBHOOK_SECRET: &str = "whsec_billing";
const CREEM_KEY: &str = "creem_test_billing";
const CREEM_SECRET: &str = "whsec_creem_billing";

const PACKS: &str = r#"
[[packs]]
id = "starter"
name = "Starter"
credits = 100
price = 500
currency = "usd"
stripe_price = "price_starter"

[[packs]]
id = "broken"
name = "Misconfigured"
credits = 10
price = 100
currency = "usd"
stripe_price = "price_the_provider_does_not_know"

[[packs]]
id = "pro"
name = "Pro"
credits = 1000
price = 4000
currency = "usd"
stripe_price = "price_pro"

[[plans]]
id = "monthly"
name = "Monthly"
credits = 300
price = 1000
currency = "usd"
interval = "month"
stripe_price = "price_monthly"

[[packs]]
id = "creem-pack"
name = "Creem pack"
credits = 70
price = 700
currency = "usd"
creem_product = "prod_pack"

[[plans]]
id = "creem-plan"
name = "Creem plan"
credits = 150
price = 1500
currency = "usd"
interval = "month"
creem_product = "prod_plan"

[[plans]]
id = "keeper"
name = "Keeper"
credits = 200
price = 900
currency = "usd"
interval = "month"
rollover = true
stripe_price = "price_keeper"
"#;

/// The app served on loopback with Stripe pointed at a running fake.
struct Shop {
    app: TestApp,
    fake: String,
    http: reqwest::Client,
}

async fn with_shop<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Shop) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let app_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app_addr = app_listener.local_addr().expect("addr");
    let fake_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let fake = format!("http://{}", fake_listener.local_addr().expect("addr"));
    let prices = [
        ("price_starter", "500:usd"),
        ("price_pro", "4000:usd"),
        ("price_monthly", "1000:usd:month"),
        ("price_keeper", "900:usd:month"),
        ("prod_pack", "700:usd"),
        ("prod_plan", "1500:usd:month"),
    ]
    .into_iter()
    .map(|(id, spec)| {
        (
            id.to_owned(),
            uni1_payment_fake::Price::parse(spec).expect("a price"),
        )
    })
    .collect();
    let fake_task = tokio::spawn(uni1_payment_fake::serve(
        fake_listener,
        uni1_payment_fake::FakeSettings {
            secret_key: SECRET_KEY.into(),
            webhook_url: format!("http://{app_addr}/hooks/stripe"),
            webhook_secret: WEBHOOK_SECRET.into(),
            public_origin: fake.clone(),
            prices,
            creem: Some(uni1_payment_fake::CreemFake {
                api_key: CREEM_KEY.into(),
                webhook_url: format!("http://{app_addr}/hooks/creem"),
                webhook_secret: CREEM_SECRET.into(),
            }),
        },
    ));
    let fake_url = fake.clone();
    run_with_file(
        backend,
        &format!("http://{app_addr}"),
        Some(PACKS),
        move |args| {
            args.billing.stripe_secret_key = Some(SECRET_KEY.into());
            args.billing.stripe_webhook_secret = Some(WEBHOOK_SECRET.into());
            args.billing.stripe_api_url = Some(fake_url.clone());
            args.billing.creem_api_key = Some(CREEM_KEY.into());
            args.billing.creem_webhook_secret = Some(CREEM_SECRET.into());
            args.billing.creem_api_url = Some(fake_url);
        },
        |app| async move {
            let router = app.router.clone();
            let served = tokio::spawn(async move {
                axum::serve(
                    app_listener,
                    router.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
            });
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client");
            test(Shop { app, fake, http }).await;
            served.abort();
        },
    )
    .await;
    fake_task.abort();
}

/// Starts a checkout for `pack` as `visitor`; returns the fake's checkout URL.
async fn checkout(shop: &Shop, visitor: &Visitor, pack: &str) -> String {
    checkout_at(shop, visitor, pack, "/checkout/cs_test_").await
}

async fn checkout_at(shop: &Shop, visitor: &Visitor, pack: &str, page: &str) -> String {
    let r = shop
        .app
        .post_as("/api/start_checkout", &[("pack", pack)], visitor)
        .await;
    let url = r.header("location").unwrap_or_default().to_owned();
    assert!(
        url.starts_with(&format!("{}{page}", shop.fake)),
        "status {}, location {url:?}: {}",
        r.status,
        r.body
    );
    url
}

/// Pays on the fake's page; returns where the fake sends the browser back.
async fn pay(shop: &Shop, checkout_url: &str) -> String {
    let page = shop.http.get(checkout_url).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("text").contains("Pay "));
    let paid = shop
        .http
        .post(format!("{checkout_url}/pay"))
        .send()
        .await
        .expect("pay");
    assert!(paid.status().is_redirection(), "{}", paid.status());
    paid.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}

/// The person's order of the starter pack.
async fn order_of(app: &TestApp, user: uuid::Uuid) -> order::Model {
    order::Entity::find()
        .filter(order::Column::UserId.eq(user))
        .filter(order::Column::Item.eq("starter"))
        .one(&app.db)
        .await
        .expect("query")
        .expect("an order")
}

async fn wait_paid(app: &TestApp, user: uuid::Uuid) -> order::Model {
    wait_paid_for(app, user, "starter").await
}

async fn wait_paid_for(app: &TestApp, user: uuid::Uuid, item: &str) -> order::Model {
    for _ in 0..200 {
        let o = order::Entity::find()
            .filter(order::Column::UserId.eq(user))
            .filter(order::Column::Item.eq(item))
            .one(&app.db)
            .await
            .expect("query")
            .expect("an order");
        if o.status == "paid" {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the order was not paid within 10 s");
}

/// Sends `payload` to `/hooks/stripe` with `signature`.
async fn hook(app: &TestApp, payload: &str, signature: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::post("/hooks/stripe").header("content-type", "application/json");
    if let Some(sig) = signature {
        request = request.header("stripe-signature", sig);
    }
    let r = app
        .send(
            request
                .body(Body::from(payload.to_owned()))
                .expect("request"),
        )
        .await;
    (r.status, r.body)
}

fn signed(payload: &str) -> String {
    uni1_payment_fake::signature_header(payload, WEBHOOK_SECRET, uni1_payment_fake::now())
}

/// Every event the fake sent, in order.
async fn fake_events(shop: &Shop) -> Vec<Value> {
    shop.http
        .get(format!("{}/_fake/events", shop.fake))
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json")
}

/// Delivers `payload` (signed) 100 times at once; every delivery is answered 200.
async fn replay_100_at_once(app: &TestApp, payload: &str) {
    let replays =
        (0..100).map(|_| async move { hook(app, payload, Some(&signed(payload))).await.0 });
    let statuses = futures::future::join_all(replays).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
}

async fn events(app: &TestApp) -> u64 {
    payment_event::Entity::find()
        .count(&app.db)
        .await
        .expect("count")
}

async fn purchase_through_the_fake(backend: Backend) {
    with_shop(backend, |shop| async move {
        let app = &shop.app;
        let pricing = app.get("/pricing").await;
        assert_eq!(pricing.status, 200);
        assert!(
            pricing.body.contains("Starter") && pricing.body.contains("$5.00"),
            "{}",
            pricing.body
        );
        assert!(pricing.body.contains("Sign in to buy"));
        // The buy form's redirect to the checkout page is an allowed form target.
        let csp = pricing
            .header("content-security-policy")
            .unwrap_or_default();
        assert!(
            csp.contains(&format!("form-action 'self' {};", shop.fake)),
            "{csp}"
        );

        let (visitor, user) = member(app, "buyer@example.com", "203.0.113.40").await;
        let before = credits::balance(&app.db, user)
            .await
            .expect("balance")
            .available;
        // The buyer allows analytics (ANA-1): the purchase is counted once
        // the provider confirms it, without any identifier.
        let r = app
            .post_as("/consent", &[("choice", "all")], &visitor)
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let url = checkout(&shop, &visitor, "starter").await;
        let pending = order_of(app, user).await;
        assert_eq!(
            (pending.status.as_str(), pending.amount, pending.credits),
            ("pending", 500, 100)
        );
        assert!(pending.checkout_id.is_some());
        // Coming back before the webhook grants nothing.
        let back = pay(&shop, &url).await;
        assert_eq!(
            back,
            format!("{}/billing/return?order={}", app.origin, pending.id)
        );

        let paid = wait_paid(app, user).await;
        assert!(paid
            .payment_id
            .as_deref()
            .is_some_and(|p| p.starts_with("pi_test_")));
        let after = credits::balance(&app.db, user)
            .await
            .expect("balance")
            .available;
        assert_eq!(after, before + 100);
        assert!(credits::audit(&app.db, user).await.expect("audit"));
        let purchases = || async {
            uni1_domain::entities::analytics_event::Entity::find()
                .filter(uni1_domain::entities::analytics_event::Column::Kind.eq("purchase"))
                .all(&app.db)
                .await
                .expect("events")
        };
        until("the purchase is counted", || async {
            purchases().await.len() == 1
        })
        .await;
        let counted = format!("{:?}", purchases().await);
        assert!(!counted.contains(&user.to_string()), "{counted}");
        let receipt = mail_of_kind(app, "buyer@example.com", "receipt").await;
        assert!(
            receipt.text_body.contains("100 credits") && receipt.text_body.contains("$5.00"),
            "{}",
            receipt.text_body
        );

        let page = app
            .get_as(&format!("/billing/return?order={}", paid.id), &visitor)
            .await;
        assert!(
            page.body.contains("100 credits were added"),
            "{}",
            page.body
        );
        let billing = app.get_as("/billing", &visitor).await;
        assert!(
            billing.body.contains("Purchase: Starter") && billing.body.contains("Paid"),
            "{}",
            billing.body
        );
        let csv = app.get_as("/billing/history.csv", &visitor).await;
        assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
        assert!(
            csv.body.starts_with("time,kind,") && csv.body.contains(",grant,100,0,"),
            "{}",
            csv.body
        );

        // The provider's portal: payment methods and invoices.
        assert!(billing.body.contains("Payment methods and invoices"));
        let r = app.post_as("/api/open_billing_portal", &[], &visitor).await;
        let portal = r.header("location").unwrap_or_default().to_owned();
        assert!(
            portal.starts_with(&format!("{}/portal/bps_test_", shop.fake)),
            "{} {portal:?}: {}",
            r.status,
            r.body
        );
        let page = shop.http.get(&portal).send().await.expect("portal");
        let page = page.text().await.expect("text");
        assert!(
            page.contains("5.00 USD") && page.contains(&format!("{}/billing", app.origin)),
            "{page}"
        );

        // The provider repeats its event: 100 deliveries at once, one effect.
        let sent = fake_events(&shop).await;
        let payload = sent[0].to_string();
        replay_100_at_once(app, &payload).await;
        assert_eq!(
            credits::balance(&app.db, user)
                .await
                .expect("balance")
                .available,
            after
        );
        assert!(credits::audit(&app.db, user).await.expect("audit"));
        assert_eq!(events(app).await, 1);

        // Someone else cannot see the order.
        let (other, _) = member(app, "other@example.com", "203.0.113.41").await;
        let r = app
            .post_as(
                "/api/order_status",
                &[("order", &paid.id.to_string())],
                &other,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
        // Someone who never bought has no portal to open.
        let r = app.post_as("/api/open_billing_portal", &[], &other).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("nothing to manage yet"), "{}", r.body);
    })
    .await;
}

async fn forged_stale_and_wrong_events_grant_nothing(backend: Backend) {
    with_shop(backend, |shop| async move {
        let app = &shop.app;
        let (visitor, user) = member(app, "careful@example.com", "203.0.113.42").await;
        let before = credits::balance(&app.db, user).await.expect("balance").available;
        checkout(&shop, &visitor, "starter").await;
        let o = order_of(app, user).await;
        let checkout_id = o.checkout_id.clone().expect("checkout id");
        let session = |amount: i64| {
            let mut s = uni1_payment_fake::checkout_session(
                &checkout_id,
                "cus_x",
                &o.id.to_string(),
                &uni1_payment_fake::Price::once(amount, "usd"),
                &shop.fake,
                "",
                "",
            );
            s["payment_status"] = "paid".into();
            s["status"] = "complete".into();
            s["payment_intent"] = "pi_test_manual".into();
            // Stripe Tax added 10 %: the price is the subtotal.
            s["amount_total"] = (amount + amount / 10).into();
            s
        };
        let completed = uni1_payment_fake::event("checkout.session.completed", session(500)).to_string();

        // A checkout the provider refuses to open leaves no order waiting.
        let r = app
            .post_as("/api/start_checkout", &[("pack", "broken")], &visitor)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("did not open a checkout"), "{}", r.body);
        let broken = order::Entity::find()
            .filter(order::Column::Item.eq("broken"))
            .one(&app.db)
            .await
            .expect("query")
            .expect("the order");
        assert_eq!(broken.status, "expired");

        // Not from Stripe: no signature, another secret, a changed body, too old.
        assert_eq!(hook(app, &completed, None).await.0, StatusCode::BAD_REQUEST);
        let other = uni1_payment_fake::signature_header(&completed, "whsec_other", uni1_payment_fake::now());
        assert_eq!(hook(app, &completed, Some(&other)).await.0, StatusCode::BAD_REQUEST);
        let tampered = completed.replace("\"amount_total\":550", "\"amount_total\":5");
        assert_eq!(hook(app, &tampered, Some(&signed(&completed))).await.0, StatusCode::BAD_REQUEST);
        let stale = uni1_payment_fake::signature_header(&completed, WEBHOOK_SECRET, uni1_payment_fake::now() - 301);
        let (status, body) = hook(app, &completed, Some(&stale)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("300 s"), "{body}");
        // Signed but unreadable.
        let junk = "{\"id\": \"evt_junk\", \"type\":";
        assert_eq!(hook(app, junk, Some(&signed(junk))).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(events(app).await, 0);

        // Signed, but the amount is not the order's: recorded, not granted.
        let cheap = uni1_payment_fake::event("checkout.session.completed", session(5)).to_string();
        assert_eq!(hook(app, &cheap, Some(&signed(&cheap))).await.0, StatusCode::OK);
        assert_eq!(order_of(app, user).await.status, "pending");
        assert_eq!(credits::balance(&app.db, user).await.expect("balance").available, before);

        // An event uni1 does not act on is acknowledged (so Stripe stops
        // sending it) and recorded.
        let customer = uni1_payment_fake::event(
            "customer.created",
            serde_json::json!({"id": "cus_x", "object": "customer", "created": 1, "livemode": false}),
        )
        .to_string();
        assert_eq!(hook(app, &customer, Some(&signed(&customer))).await.0, StatusCode::OK);

        // The real event still works afterwards, once.
        assert_eq!(hook(app, &completed, Some(&signed(&completed))).await.0, StatusCode::OK);
        let paid = order_of(app, user).await;
        assert_eq!((paid.status.as_str(), paid.amount), ("paid", 550), "tax included");
        assert_eq!(credits::balance(&app.db, user).await.expect("balance").available, before + 100);
        // A second event for the same payment (another id) grants nothing more.
        let again = uni1_payment_fake::event("checkout.session.completed", session(500)).to_string();
        assert_eq!(hook(app, &again, Some(&signed(&again))).await.0, StatusCode::OK);
        assert_eq!(credits::balance(&app.db, user).await.expect("balance").available, before + 100);
        assert!(credits::audit(&app.db, user).await.expect("audit"));
        let outcomes: Vec<String> = payment_event::Entity::find()
            .all(&app.db)
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.outcome)
            .collect();
        assert!(outcomes.iter().any(|o| o.contains("does not match")), "{outcomes:?}");
        assert!(outcomes.iter().any(|o| o.contains("already paid")), "{outcomes:?}");
        assert!(outcomes.iter().any(|o| o == "granted 100 credits"), "{outcomes:?}");
    })
    .await;
}

async fn without_a_provider_the_site_says_so(backend: Backend) {
    run_with_file(
        backend,
        crate::support::ORIGIN,
        Some(PACKS),
        |_| {},
        |app| async move {
            let pricing = app.get("/pricing").await;
            assert_eq!(pricing.status, 200);
            assert!(
                pricing
                    .body
                    .contains("Payments are not set up on this site"),
                "{}",
                pricing.body
            );
            let (visitor, _) = member(&app, "nopay@example.com", "203.0.113.43").await;
            let r = app
                .post_as("/api/start_checkout", &[("pack", "starter")], &visitor)
                .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
            assert!(
                r.body.contains("Payments are not set up on this site"),
                "{}",
                r.body
            );
            let (status, _) = hook(&app, "{}", Some("t=1,v1=00")).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
        },
    )
    .await;
}

async fn refund_takes_credits_back_and_spent_ones_become_debt(backend: Backend) {
    with_shop(backend, |shop| async move {
        let app = &shop.app;
        let (visitor, user) = member(app, "refund@example.com", "203.0.113.44").await;
        let url = checkout(&shop, &visitor, "starter").await;
        pay(&shop, &url).await;
        let o = wait_paid(app, user).await;
        let payment = o.payment_id.clone().expect("payment id");
        // Spend all but 30 credits.
        let available = credits::balance(&app.db, user)
            .await
            .expect("balance")
            .available;
        let job = uuid::Uuid::now_v7();
        credits::reserve(&app.db, user, job, available - 30)
            .await
            .expect("reserve");
        credits::capture(&app.db, user, job, available - 30)
            .await
            .expect("capture");
        let price = uni1_payment_fake::Price::once(500, "usd");
        let refund = |total: i64| {
            uni1_payment_fake::event(
                "charge.refunded",
                uni1_payment_fake::refunded_charge(&payment, &price, total),
            )
            .to_string()
        };
        let balance = || async { credits::balance(&app.db, user).await.expect("balance") };

        // Half refunded: 50 credits back; 30 are there, 20 are owed.
        let half = refund(250);
        assert_eq!(
            hook(app, &half, Some(&signed(&half))).await.0,
            StatusCode::OK
        );
        let b = balance().await;
        assert_eq!((b.available, b.debt), (0, 20));
        assert_eq!(
            hook(app, &half, Some(&signed(&half))).await.0,
            StatusCode::OK
        );
        assert_eq!(balance().await, b, "a repeated event takes nothing more");
        let blocked = app
            .gens
            .submit(
                user,
                true,
                crate::fixtures::input("after-refund", "a harbour", 1),
            )
            .await;
        assert!(
            matches!(
                blocked,
                Err(uni1_domain::generation::SubmitError::InDebt { owed: 20 })
            ),
            "{blocked:?}"
        );

        // Then the rest: all 100 credits, 70 of them owed. A late copy of the
        // older event changes nothing.
        let full = refund(500);
        assert_eq!(
            hook(app, &full, Some(&signed(&full))).await.0,
            StatusCode::OK
        );
        let late = refund(250);
        assert_eq!(
            hook(app, &late, Some(&signed(&late))).await.0,
            StatusCode::OK
        );
        let b = balance().await;
        assert_eq!((b.available, b.debt), (0, 70));
        let o = order_of(app, user).await;
        assert_eq!(
            (o.status.as_str(), o.refunded_amount, o.refunded_credits),
            ("refunded", 500, 100)
        );
        let page = app.get_as("/billing", &visitor).await;
        assert!(
            page.body.contains("70 credits are owed") && page.body.contains("Refunded"),
            "{}",
            page.body
        );

        // The next purchase settles the debt first.
        let url = checkout(&shop, &visitor, "pro").await;
        pay(&shop, &url).await;
        wait_paid_for(app, user, "pro").await;
        let b = balance().await;
        assert_eq!((b.available, b.debt), (930, 0));
        assert!(credits::audit(&app.db, user).await.expect("audit"));
        app.gens
            .submit(
                user,
                true,
                crate::fixtures::input("after-settling", "a harbour", 1),
            )
            .await
            .expect("generating works again");
    })
    .await;
}

async fn a_dispute_takes_credits_back_until_it_is_won(backend: Backend) {
    with_shop(backend, |shop| async move {
        let app = &shop.app;
        let (visitor, user) = member(app, "dispute@example.com", "203.0.113.45").await;
        let before = credits::balance(&app.db, user)
            .await
            .expect("balance")
            .available;
        let url = checkout(&shop, &visitor, "starter").await;
        pay(&shop, &url).await;
        let o = wait_paid(app, user).await;
        let payment = o.payment_id.clone().expect("payment id");
        let price = uni1_payment_fake::Price::once(500, "usd");
        let event = |kind: &str, status: &str| {
            uni1_payment_fake::event(
                kind,
                uni1_payment_fake::dispute("dp_test_1", &payment, &price, 500, status),
            )
            .to_string()
        };
        let available = || async {
            credits::balance(&app.db, user)
                .await
                .expect("balance")
                .available
        };

        let opened = event("charge.dispute.created", "needs_response");
        assert_eq!(
            hook(app, &opened, Some(&signed(&opened))).await.0,
            StatusCode::OK
        );
        assert_eq!(available().await, before);
        assert_eq!(order_of(app, user).await.status, "disputed");
        // The same dispute told again (another event id) takes nothing more.
        let again = event("charge.dispute.created", "needs_response");
        assert_eq!(
            hook(app, &again, Some(&signed(&again))).await.0,
            StatusCode::OK
        );
        assert_eq!(available().await, before);

        let won = event("charge.dispute.funds_reinstated", "won");
        assert_eq!(hook(app, &won, Some(&signed(&won))).await.0, StatusCode::OK);
        let won_again = event("charge.dispute.funds_reinstated", "won");
        assert_eq!(
            hook(app, &won_again, Some(&signed(&won_again))).await.0,
            StatusCode::OK
        );
        assert_eq!(available().await, before + 100);
        assert_eq!(order_of(app, user).await.status, "paid");
        assert!(credits::audit(&app.db, user).await.expect("audit"));
    })
    .await;
}

/// PRV-3 with PAY: deleting an account cancels its plans at Stripe and
/// Creem and deletes its Stripe customer, before anything is deleted here;
/// the orders stay without the person; the provider's late events about
/// the canceled plan are harmless.
async fn deleting_an_account_ends_it_at_the_providers(backend: Backend) {
    with_shop(backend, |shop| async move {
        let app = &shop.app;
        let (stripe_v, stripe_user) = member(app, "leaving@example.com", "203.0.113.70").await;
        let url = checkout(&shop, &stripe_v, "monthly").await;
        pay(&shop, &url).await;
        wait_paid_for(app, stripe_user, "monthly").await;
        let (creem_v, creem_user) = member(app, "leaving.too@example.com", "203.0.113.71").await;
        let url = checkout_at(&shop, &creem_v, "creem-plan", "/creem/checkout/ch_test_").await;
        pay(&shop, &url).await;
        wait_paid_for(app, creem_user, "creem-plan").await;
        until("both plans live", || async {
            subscription_of(app, stripe_user).await.status == "active"
                && subscription_of(app, creem_user).await.status == "active"
        })
        .await;
        let stripe_sub = subscription_of(app, stripe_user).await;
        let creem_sub = subscription_of(app, creem_user).await;

        for v in [&stripe_v, &creem_v] {
            let r = app
                .post_as(
                    "/api/schedule_deletion",
                    &[("confirm", "on"), ("password", crate::fixtures::PASSWORD)],
                    v,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            // Held: no buying in the grace period.
            let r = app
                .post_as("/api/start_checkout", &[("pack", "starter")], v)
                .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
            assert!(r.body.contains("scheduled for deletion"), "{}", r.body);
        }
        uni1_domain::entities::user::Entity::update_many()
            .col_expr(
                uni1_domain::entities::user::Column::DeletionDueAt,
                sea_orm::sea_query::Expr::value(chrono::Utc::now()),
            )
            .exec(&app.db)
            .await
            .expect("due now");
        uni1_server::startup::privacy_pass(&app.privacy).await;
        for id in [stripe_user, creem_user] {
            assert!(
                uni1_domain::entities::user::Entity::find_by_id(id)
                    .one(&app.db)
                    .await
                    .expect("query")
                    .is_none(),
                "deleted"
            );
        }

        // At Stripe: the plan is canceled, the customer is gone.
        let at_stripe: Value = shop
            .http
            .get(format!(
                "{}/v1/subscriptions/{}",
                shop.fake, stripe_sub.subscription_id
            ))
            .bearer_auth(SECRET_KEY)
            .send()
            .await
            .expect("fake")
            .json()
            .await
            .expect("json");
        assert_eq!(at_stripe["status"], "canceled");
        let again = shop
            .http
            .delete(format!(
                "{}/v1/customers/{}",
                shop.fake, stripe_sub.customer_id
            ))
            .bearer_auth(SECRET_KEY)
            .send()
            .await
            .expect("fake");
        assert_eq!(
            again.status(),
            reqwest::StatusCode::NOT_FOUND,
            "already deleted"
        );
        // At Creem: canceled.
        let at_creem: Value = shop
            .http
            .get(format!("{}/v1/subscriptions", shop.fake))
            .query(&[("subscription_id", creem_sub.subscription_id.as_str())])
            .header("x-api-key", CREEM_KEY)
            .send()
            .await
            .expect("fake")
            .json()
            .await
            .expect("json");
        assert_eq!(at_creem["status"], "canceled");

        // Here: the sales stay without the people; the late events about
        // the canceled plans are stored and change nothing.
        let kept = order::Entity::find().all(&app.db).await.expect("orders");
        assert_eq!(kept.len(), 2);
        assert!(kept
            .iter()
            .all(|o| o.user_id.is_none() && o.status == "paid"));
        until("the cancel events", || async {
            payment_event::Entity::find()
                .all(&app.db)
                .await
                .expect("events")
                .iter()
                .filter(|e| {
                    e.event_type == "customer.subscription.deleted"
                        || e.event_type == "subscription.canceled"
                })
                .count()
                == 2
        })
        .await;
        let subs = subscription::Entity::find()
            .all(&app.db)
            .await
            .expect("subs");
        assert!(
            subs.iter()
                .all(|s| s.user_id.is_none() && s.status == "canceled"),
            "{subs:?}"
        );
    })
    .await;
}

/// One test per back-end for a test that takes the back-end.
/// Waits until `check` holds (10 s at most).
async fn until<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 10 s");
}

async fn subscription_of(app: &TestApp, user: uuid::Uuid) -> subscription::Model {
    subscription::Entity::find()
        .filter(subscription::Column::UserId.eq(user))
        .one(&app.db)
        .await
        .expect("query")
        .expect("a subscription")
}

async fn plan_orders(app: &TestApp, user: uuid::Uuid) -> Vec<order::Model> {
    order::Entity::find()
        .filter(order::Column::UserId.eq(user))
        .filter(order::Column::Kind.ne("pack"))
        .all(&app.db)
        .await
        .expect("orders")
}

async fn fake_post(shop: &Shop, path: &str) -> Value {
    let r = shop
        .http
        .post(format!("{}{path}", shop.fake))
        .send()
        .await
        .expect("fake");
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.expect("json")
}

/// Ends a subscription at the fake (`path`) and waits until uni1 has it ended.
async fn end_at_the_fake(shop: &Shop, user: uuid::Uuid, path: &str) {
    fake_post(shop, path).await;
    until("the end", || async {
        subscription_of(&shop.app, user).await.status == "canceled"
    })
    .await;
}

async fn a_plan_grants_each_period_expires_and_ends(backend: Backend) {
    with_shop(backend, |shop| async move {
        let app = &shop.app;
        let pricing = app.get("/pricing").await;
        assert!(
            pricing.body.contains("Monthly") && pricing.body.contains("$10.00 / month"),
            "{}",
            pricing.body
        );
        let (visitor, user) = member(app, "subscriber@example.com", "203.0.113.50").await;
        let start = credits::balance(&app.db, user).await.expect("balance");
        let url = checkout(&shop, &visitor, "monthly").await;
        pay(&shop, &url).await;
        // The fake sends the invoice before the checkout event: the first
        // invoice pays the plan's order either way.
        let first = wait_paid_for(app, user, "monthly").await;
        assert_eq!((first.kind.as_str(), first.amount), ("plan", 1000));
        assert!(first.invoice_id.is_some() && first.receipt_url.is_some());
        until("the checkout event", || async {
            payment_event::Entity::find()
                .filter(payment_event::Column::EventType.eq("checkout.session.completed"))
                .all(&app.db)
                .await
                .expect("events")
                .iter()
                .any(|e| e.outcome.starts_with("plan started"))
        })
        .await;
        let b = credits::balance(&app.db, user).await.expect("balance");
        assert_eq!((b.available, b.expiring), (start.available + 300, 300));
        let sub = subscription_of(app, user).await;
        assert_eq!(
            (sub.plan.as_str(), sub.status.as_str()),
            ("monthly", "active")
        );
        assert_eq!(
            b.expiring_until.map(|t| t.timestamp()),
            sub.current_period_end.map(|t| t.timestamp())
        );
        let receipt = mail_of_kind(app, "subscriber@example.com", "receipt").await;
        assert!(
            receipt.text_body.contains("Monthly (monthly plan)"),
            "{}",
            receipt.text_body
        );
        let billing = app.get_as("/billing", &visitor).await;
        assert!(
            billing.body.contains("Your plan: Monthly")
                && billing.body.contains("Renews on")
                && billing.body.contains("expire on")
                && billing.body.contains("Manage subscription"),
            "{}",
            billing.body
        );
        // One plan at a time.
        let r = app
            .post_as("/api/start_checkout", &[("pack", "keeper")], &visitor)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("already have a plan"), "{}", r.body);

        // The invoice event 100 times at once: one grant, one order.
        let sent = fake_events(&shop).await;
        let invoice_event = sent
            .iter()
            .find(|e| e["type"] == "invoice.paid")
            .expect("an invoice event")
            .to_string();
        replay_100_at_once(app, &invoice_event).await;
        // The same invoice in another event: still nothing more.
        let again: Value = serde_json::from_str(&invoice_event).expect("json");
        let again =
            uni1_payment_fake::event("invoice.paid", again["data"]["object"].clone()).to_string();
        assert_eq!(
            hook(app, &again, Some(&signed(&again))).await.0,
            StatusCode::OK
        );
        assert_eq!(plan_orders(app, user).await.len(), 1);
        assert_eq!(
            credits::balance(&app.db, user)
                .await
                .expect("balance")
                .available,
            start.available + 300
        );

        // Spend some plan credits, then the period ends: the rest expire.
        let job = uuid::Uuid::now_v7();
        credits::reserve(&app.db, user, job, 100)
            .await
            .expect("reserve");
        credits::capture(&app.db, user, job, 100)
            .await
            .expect("capture");
        let end = sub.current_period_end.expect("period end");
        credits::expire_pass(&app.db, end + chrono::Duration::seconds(1))
            .await
            .expect("expiry");
        let b = credits::balance(&app.db, user).await.expect("balance");
        assert_eq!((b.available, b.expiring), (start.available, 0));
        assert!(credits::audit(&app.db, user).await.expect("audit"));

        // The next period: a renewal order and a fresh grant, with a receipt.
        let renewal = fake_post(
            &shop,
            &format!("/_fake/subscriptions/{}/renew", sub.subscription_id),
        )
        .await;
        until("the renewal", || async {
            plan_orders(app, user).await.len() == 2
        })
        .await;
        let orders = plan_orders(app, user).await;
        let renewed = orders
            .iter()
            .find(|o| o.kind == "renewal")
            .expect("a renewal");
        assert_eq!(renewed.invoice_id.as_deref(), renewal["id"].as_str());
        let b = credits::balance(&app.db, user).await.expect("balance");
        assert_eq!((b.available, b.expiring), (start.available + 300, 300));
        until("the new period", || async {
            subscription_of(app, user).await.current_period_end > sub.current_period_end
        })
        .await;

        // Refunding the renewal takes its credits back (plan credits first).
        let payment = renewed.payment_id.clone().expect("payment id");
        let refund = uni1_payment_fake::event(
            "charge.refunded",
            uni1_payment_fake::refunded_charge(
                &payment,
                &uni1_payment_fake::Price::once(1000, "usd"),
                1000,
            ),
        )
        .to_string();
        assert_eq!(
            hook(app, &refund, Some(&signed(&refund))).await.0,
            StatusCode::OK
        );
        let b = credits::balance(&app.db, user).await.expect("balance");
        assert_eq!((b.available, b.expiring, b.debt), (start.available, 0, 0));
        assert!(credits::audit(&app.db, user).await.expect("audit"));

        // Canceled at the period's end, then ended; an old "created" event
        // arriving last changes nothing: the state is read back from Stripe.
        let created = sent
            .iter()
            .find(|e| e["type"] == "customer.subscription.created")
            .expect("a created event")["data"]["object"]
            .clone();
        fake_post(
            &shop,
            &format!(
                "/_fake/subscriptions/{}/cancel?at_period_end=true",
                sub.subscription_id
            ),
        )
        .await;
        until("cancel at the period's end", || async {
            subscription_of(app, user).await.cancel_at_period_end
        })
        .await;
        let billing = app.get_as("/billing", &visitor).await;
        assert!(
            billing.body.contains("it will not renew"),
            "{}",
            billing.body
        );
        end_at_the_fake(
            &shop,
            user,
            &format!("/_fake/subscriptions/{}/cancel", sub.subscription_id),
        )
        .await;
        let late = uni1_payment_fake::event("customer.subscription.created", created).to_string();
        assert_eq!(
            hook(app, &late, Some(&signed(&late))).await.0,
            StatusCode::OK
        );
        assert_eq!(subscription_of(app, user).await.status, "canceled");
        let billing = app.get_as("/billing", &visitor).await;
        assert!(billing.body.contains("Ended."), "{}", billing.body);

        // A plan that rolls its credits over grants lasting credits.
        let url = checkout(&shop, &visitor, "keeper").await;
        pay(&shop, &url).await;
        wait_paid_for(app, user, "keeper").await;
        let b = credits::balance(&app.db, user).await.expect("balance");
        assert_eq!((b.available, b.expiring), (start.available + 200, 0));
        assert!(credits::audit(&app.db, user).await.expect("audit"));
    })
    .await;
}

/// Sends `payload` to `/hooks/creem`, signed with `secret`.
async fn creem_hook(app: &TestApp, payload: &str, secret: &str) -> StatusCode {
    let r = app
        .send(
            Request::post("/hooks/creem")
                .header("content-type", "application/json")
                .header(
                    "creem-signature",
                    uni1_payment_fake::creem::signature(payload, secret),
                )
                .body(Body::from(payload.to_owned()))
                .expect("request"),
        )
        .await;
    r.status
}

async fn creem_packs_plans_and_refunds(backend: Backend) {
    with_shop(backend, |shop| async move {
        let app = &shop.app;
        let (visitor, user) = member(app, "creem@example.com", "203.0.113.60").await;
        let start = credits::balance(&app.db, user).await.expect("balance");

        // A pack through Creem's checkout.
        let url = checkout_at(&shop, &visitor, "creem-pack", "/creem/checkout/ch_test_").await;
        let back = pay(&shop, &url).await;
        assert!(
            back.starts_with(&format!("{}/billing/return?order=", app.origin)),
            "{back}"
        );
        let o = wait_paid_for(app, user, "creem-pack").await;
        assert_eq!((o.provider.as_str(), o.amount), ("creem", 700));
        let payment = o.payment_id.clone().expect("the transaction");
        assert!(payment.starts_with("tran_test_"), "{payment}");
        assert_eq!(
            credits::balance(&app.db, user)
                .await
                .expect("balance")
                .available,
            start.available + 70
        );
        mail_of_kind(app, "creem@example.com", "receipt").await;

        // Repeated 100 times at once: one grant. Forged: refused.
        let completed = fake_events(&shop)
            .await
            .into_iter()
            .find(|e| e["eventType"] == "checkout.completed")
            .expect("the event")
            .to_string();
        let replays = (0..100).map(|_| creem_hook(app, &completed, CREEM_SECRET));
        let statuses = futures::future::join_all(replays).await;
        assert!(
            statuses.iter().all(|s| *s == StatusCode::OK),
            "{statuses:?}"
        );
        assert_eq!(
            creem_hook(app, &completed, "whsec_forged").await,
            StatusCode::BAD_REQUEST
        );
        let (status, _) = hook(app, &completed, None).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "a Stripe route refuses it too"
        );
        assert_eq!(
            credits::balance(&app.db, user)
                .await
                .expect("balance")
                .available,
            start.available + 70
        );

        // A plan through Creem: its first paid period pays the order.
        let url = checkout_at(&shop, &visitor, "creem-plan", "/creem/checkout/ch_test_").await;
        pay(&shop, &url).await;
        let first = wait_paid_for(app, user, "creem-plan").await;
        assert_eq!(first.kind, "plan");
        let b = credits::balance(&app.db, user).await.expect("balance");
        assert_eq!((b.available, b.expiring), (start.available + 220, 150));
        let sub = subscription_of(app, user).await;
        assert_eq!(
            (sub.provider.as_str(), sub.status.as_str()),
            ("creem", "active")
        );
        fake_post(
            &shop,
            &format!("/_fake/creem/subscriptions/{}/renew", sub.subscription_id),
        )
        .await;
        until("the Creem renewal", || async {
            plan_orders(app, user)
                .await
                .iter()
                .any(|o| o.kind == "renewal")
        })
        .await;
        assert!(credits::audit(&app.db, user).await.expect("audit"));

        // A full refund of the pack takes its credits back.
        let price = uni1_payment_fake::Price::once(700, "usd");
        let refund = uni1_payment_fake::creem::event(
            "refund.created",
            uni1_payment_fake::creem::refund(&payment, &price, 700, 700),
        )
        .to_string();
        assert_eq!(creem_hook(app, &refund, CREEM_SECRET).await, StatusCode::OK);
        let refunded = order::Entity::find_by_id(o.id)
            .one(&app.db)
            .await
            .expect("query")
            .expect("order");
        assert_eq!(refunded.status, "refunded");
        assert!(credits::audit(&app.db, user).await.expect("audit"));

        // The portal is Creem's; canceling ends the plan.
        let r = app.post_as("/api/open_billing_portal", &[], &visitor).await;
        let portal = r.header("location").unwrap_or_default().to_owned();
        assert!(
            portal.starts_with(&format!("{}/creem/portal/cust_test_", shop.fake)),
            "{} {portal:?}",
            r.status
        );
        end_at_the_fake(
            &shop,
            user,
            &format!("/_fake/creem/subscriptions/{}/cancel", sub.subscription_id),
        )
        .await;
    })
    .await;
}

/// localstripe's URL (a Stripe API emulator from PyPI that `make test`
/// starts), or `None` outside `make test`.
fn localstripe() -> Option<String> {
    match std::env::var("UNI1_TEST_LOCALSTRIPE_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("UNI1_REQUIRE_PEERS").as_deref() == Ok("1") => {
            panic!("UNI1_TEST_LOCALSTRIPE_URL is required (make test starts localstripe)")
        }
        Err(_) => {
            eprintln!("\n!!! SKIPPING the localstripe test: no localstripe (run it through `make test`)\n");
            None
        }
    }
}

/// Against localstripe, a real Stripe emulator (its own customers, plans,
/// subscriptions, invoices and signed webhooks, in an older API version):
/// uni1 creates the customer there, and a subscription made there is read
/// back, granted once per paid invoice, and ended.
async fn a_localstripe_subscription_is_granted_and_ended(backend: Backend) {
    let Some(ls) = localstripe() else {
        return;
    };
    let key = "sk_test_localstripe";
    let http = reqwest::Client::new();
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let request = http
            .post(format!("{ls}{path}"))
            .basic_auth(key, Some(""))
            .form(&form);
        async move {
            let r = request.send().await.expect("localstripe");
            let status = r.status();
            let text = r.text().await.expect("body");
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            assert!(status.is_success(), "{path}: {status} {text}");
            body
        }
    };
    // A plan of its own (localstripe is shared by both back-ends' runs).
    let plan = format!("price_ls_{}", uuid::Uuid::new_v4().simple());
    let product = post("/v1/products".into(), vec![("name", "Monthly".into())]).await;
    post(
        "/v1/plans".into(),
        vec![
            ("id", plan.clone()),
            ("product", product["id"].as_str().expect("id").into()),
            ("amount", "1200".into()),
            ("currency", "usd".into()),
            ("interval", "month".into()),
        ],
    )
    .await;
    let config = format!(
        "[[plans]]\nid = \"ls-monthly\"\nname = \"Monthly\"\ncredits = 400\nprice = 1200\ncurrency = \"usd\"\ninterval = \"month\"\nstripe_price = \"{plan}\"\n"
    );
    let app_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app_addr = app_listener.local_addr().expect("addr");
    let api = ls.clone();
    let (http, ls) = (&http, &ls);
    run_with_file(
        backend,
        &format!("http://{app_addr}"),
        Some(&config),
        move |args| {
            args.billing.stripe_secret_key = Some(key.into());
            args.billing.stripe_webhook_secret = Some(WEBHOOK_SECRET.into());
            args.billing.stripe_api_url = Some(api);
        },
        |app| async move {
            let router = app.router.clone();
            let served = tokio::spawn(async move {
                axum::serve(
                    app_listener,
                    router.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
            });
            post(
                "/_config/webhooks/uni1".into(),
                vec![
                    ("url", format!("http://{app_addr}/hooks/stripe")),
                    ("secret", WEBHOOK_SECRET.into()),
                ],
            )
            .await;
            let (visitor, user) = member(&app, "localstripe@example.com", "203.0.113.70").await;
            let start = credits::balance(&app.db, user).await.expect("balance");
            // uni1 makes the customer at localstripe; the checkout itself
            // is not there (localstripe has no Checkout Sessions).
            let r = app
                .post_as("/api/start_checkout", &[("pack", "ls-monthly")], &visitor)
                .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
            let customer = uni1_domain::entities::billing_customer::Entity::find()
                .filter(uni1_domain::entities::billing_customer::Column::UserId.eq(user))
                .one(&app.db)
                .await
                .expect("query")
                .expect("the customer uni1 made at localstripe")
                .customer_id;
            // The person pays there: a card, then the subscription.
            let card = post(
                "/v1/payment_methods".into(),
                vec![
                    ("type", "card".into()),
                    ("card[number]", "4242424242424242".into()),
                    ("card[exp_month]", "12".into()),
                    ("card[exp_year]", "2030".into()),
                    ("card[cvc]", "123".into()),
                ],
            )
            .await["id"]
                .as_str()
                .expect("id")
                .to_owned();
            post(
                format!("/v1/payment_methods/{card}/attach"),
                vec![("customer", customer.clone())],
            )
            .await;
            post(
                format!("/v1/customers/{customer}"),
                vec![("invoice_settings[default_payment_method]", card)],
            )
            .await;
            let sub = post(
                "/v1/subscriptions".into(),
                vec![
                    ("customer", customer),
                    ("items[0][plan]", plan.clone()),
                    ("metadata[uni1_user_id]", user.to_string()),
                ],
            )
            .await;
            let sub_id = sub["id"].as_str().expect("id").to_owned();
            let paid_plan = || async {
                order::Entity::find()
                    .filter(order::Column::UserId.eq(user))
                    .filter(order::Column::SubscriptionId.eq(sub_id.as_str()))
                    .filter(order::Column::Status.eq("paid"))
                    .all(&app.db)
                    .await
                    .expect("orders")
            };
            until("localstripe's invoice.payment_succeeded", || async {
                !paid_plan().await.is_empty()
            })
            .await;
            let orders = paid_plan().await;
            assert_eq!(
                (orders.len(), orders[0].kind.as_str(), orders[0].amount),
                (1, "plan", 1200)
            );
            let b = credits::balance(&app.db, user).await.expect("balance");
            assert_eq!((b.available, b.expiring), (start.available + 400, 400));
            assert_eq!(
                b.expiring_until.map(|t| t.timestamp()),
                sub["current_period_end"].as_i64()
            );
            until("the subscription read back", || async {
                subscription_of(&app, user).await.status == "active"
            })
            .await;
            // Ended at localstripe: its signed event, read back, ends it here.
            let r = http
                .delete(format!("{ls}/v1/subscriptions/{sub_id}"))
                .basic_auth(key, Some(""))
                .send()
                .await
                .expect("cancel");
            assert!(r.status().is_success());
            until("the end", || async {
                subscription_of(&app, user).await.status == "canceled"
            })
            .await;
            assert!(credits::audit(&app.db, user).await.expect("audit"));
            served.abort();
        },
    )
    .await;
}

/// A refund staff make from the order page: the money goes back through
/// the provider (the fake), the credits come back in proportion by the
/// provider's `charge.refunded`, once, and one form makes one refund however
/// often it is sent.
async fn a_refund_from_the_order_page_takes_credits_back_once(backend: Backend) {
    with_shop(backend, |shop| async move {
        let app = &shop.app;
        let (visitor, user) = member(app, "refund-page@example.com", "203.0.113.60").await;
        let (admin, _) =
            crate::staff::staff(app, "refunds@example.org", "203.0.113.61", "admin", true).await;
        let url = checkout(&shop, &visitor, "starter").await;
        pay(&shop, &url).await;
        let o = wait_paid(app, user).await;
        let id = o.id.to_string();
        let admin = &admin;
        let refund = |amount: &str, reason: &str, form_key: &str| {
            let form = [
                ("id", id.clone()),
                ("amount", amount.to_owned()),
                ("reason", reason.to_owned()),
                ("form_key", form_key.to_owned()),
            ];
            async move { crate::staff::post(app, "/api/admin_refund_order", &form, admin).await }
        };
        let page = app
            .get_as(&format!("/admin/payments/orders/{id}"), admin)
            .await;
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("refund-form") && page.body.contains("Up to $5.00"),
            "{}",
            page.body
        );

        // Bad input: a clear message, nothing refunded.
        for (amount, reason, key, says) in [
            ("9.99", "Asked by mail", "form-key-000000001", "up to $5.00"),
            ("abc", "Asked by mail", "form-key-000000001", "such as 4.99"),
            ("2.50", "", "form-key-000000001", "reason"),
            ("2.50", "Asked by mail", "short", "Reload the page"),
        ] {
            let r = refund(amount, reason, key).await;
            assert_eq!(r.status, 422, "{amount}: {}", r.body);
            assert!(r.body.contains(says), "{amount}: {}", r.body);
        }
        assert_eq!(order_of(app, user).await.refunded_amount, 0);

        // Half: the money goes back at once; the 50 credits come back with
        // the provider's refund event, once.
        let r = refund("2.50", "Asked by mail", "form-key-000000001").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("Refunded $2.50"), "{}", r.body);
        let balance = || async { credits::balance(&app.db, user).await.expect("balance") };
        let refunds_seen = || async {
            payment_event::Entity::find()
                .filter(payment_event::Column::EventType.eq("charge.refunded"))
                .filter(payment_event::Column::OrderId.eq(o.id))
                .all(&app.db)
                .await
                .expect("events")
        };
        until("the provider's refund event", || async {
            refunds_seen().await.len() == 1
        })
        .await;
        assert_eq!(
            refunds_seen().await[0].outcome,
            "refunded: 50 credits taken back, 0 owed"
        );
        assert_eq!(balance().await.available, 50);
        // The same form sent again (a lost answer, a double click): the
        // provider answers the same refund, nothing more moves.
        let again = refund("2.50", "Asked by mail", "form-key-000000001").await;
        assert_eq!(again.status, 200, "{}", again.body);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(order_of(app, user).await.refunded_amount, 250);
        assert_eq!(balance().await.available, 50);

        // The rest, the same form sent twice at once: one refund at the
        // provider, credits taken back once.
        let (a, b) = tokio::join!(
            refund("", "Asked again", "form-key-000000002"),
            refund("", "Asked again", "form-key-000000002")
        );
        for r in [&a, &b] {
            // The later one either got the same refund back or found the
            // order refunded already.
            assert!(
                r.status == 200 || r.body.contains("refunded in full already"),
                "{}",
                r.body
            );
        }
        assert!(
            a.status == 200 || b.status == 200,
            "{} / {}",
            a.body,
            b.body
        );
        until("the second refund event", || async {
            refunds_seen().await.len() == 2
        })
        .await;
        let o = order_of(app, user).await;
        assert_eq!(
            (o.status.as_str(), o.refunded_amount, o.refunded_credits),
            ("refunded", 500, 100)
        );
        assert_eq!(balance().await.available, 0);
        let sent: Vec<Value> = shop
            .http
            .get(format!("{}/_fake/events", shop.fake))
            .send()
            .await
            .expect("events")
            .json()
            .await
            .expect("json");
        let at_provider = sent
            .iter()
            .filter(|e| e["type"] == "charge.refunded")
            .count();
        assert_eq!(at_provider, 2, "one refund per form, not per request");
        let b = balance().await;
        assert_eq!((b.available, b.debt), (0, 0));
        assert!(credits::audit(&app.db, user).await.expect("audit"));

        // Nothing left: a clear refusal.
        // The same form again after a lost answer: no second refund.
        let r = refund("", "Asked again", "form-key-000000002").await;
        assert!(
            r.status == 200 || r.body.contains("refunded in full already"),
            "{}",
            r.body
        );
        let r = refund("", "Once more", "form-key-000000003").await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("refunded in full already"), "{}", r.body);
        // Each refund is in the audit log with its reason.
        let audit = crate::staff::post(app, "/api/admin_audit", &[], admin).await;
        assert!(
            audit.body.contains("order.refund") && audit.body.contains("Asked by mail"),
            "{}",
            audit.body
        );
    })
    .await;
}

/// An event that fails to apply (the provider's API is down when the
/// event needs a read) is kept sealed, shown to staff, and applied once
/// when an admin applies it again; the provider's own retry afterwards
/// changes nothing.
async fn a_failed_event_is_kept_and_applied_again_once(backend: Backend) {
    with_shop(backend, |shop| async move {
        let app = &shop.app;
        let (visitor, user) = member(app, "failed-event@example.com", "203.0.113.62").await;
        let (admin, _) =
            crate::staff::staff(app, "replays@example.org", "203.0.113.63", "admin", true).await;
        let url = checkout(&shop, &visitor, "monthly").await;
        pay(&shop, &url).await;
        wait_paid_for(app, user, "monthly").await;
        let sub = subscription_of(app, user).await;
        let before = credits::balance(&app.db, user).await.expect("balance");

        // A renewal's invoice arrives while Stripe's API is down.
        assert_eq!(
            shop.http
                .post(format!("{}/_fake/outage/on", shop.fake))
                .send()
                .await
                .expect("outage")
                .status(),
            204
        );
        let price = uni1_payment_fake::Price::parse("1000:usd:month").expect("price");
        let invoice = uni1_payment_fake::invoice(
            "in_test_while_down",
            &sub.customer_id,
            &sub.subscription_id,
            &price,
            "subscription_cycle",
            "pi_test_while_down",
            &shop.fake,
        );
        let event = uni1_payment_fake::event("invoice.paid", invoice).to_string();
        for _ in 0..2 {
            let (status, _) = hook(app, &event, Some(&signed(&event))).await;
            assert!(status.is_server_error(), "{status}: the provider retries");
        }
        assert_eq!(plan_orders(app, user).await.len(), 1, "nothing applied");
        let stored = payment_event_failure::Entity::find()
            .all(&app.db)
            .await
            .expect("failures");
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].attempts, 2);
        assert!(
            !stored[0].payload.contains("in_test_while_down"),
            "the payload is sealed"
        );
        let health = crate::staff::post(app, "/api/admin_health", &[], &admin).await;
        assert_eq!(health.json()["webhooks_failing"], 1, "{}", health.body);
        let page = app.get_as("/admin/payments", &admin).await;
        assert!(
            page.body.contains("failed-events") && page.body.contains("did not answer"),
            "{}",
            page.body
        );
        let admin = &admin;
        let again = |reason: &str| {
            let form = [("id", stored[0].id.to_string()), ("reason", reason.to_owned())];
            async move {
                crate::staff::post(app, "/api/admin_apply_event_again", &form, admin).await
            }
        };
        // Still down: it fails again and stays.
        let r = again("Stripe is back?").await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("failed again"), "{}", r.body);

        // Stripe is back: applied once.
        shop.http
            .post(format!("{}/_fake/outage/off", shop.fake))
            .send()
            .await
            .expect("outage off");
        let r = again("Stripe is back").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("Applied"), "{}", r.body);
        assert_eq!(plan_orders(app, user).await.len(), 2);
        let after = credits::balance(&app.db, user).await.expect("balance");
        assert_eq!(after.available, before.available + 300);
        assert_eq!(
            payment_event_failure::Entity::find()
                .count(&app.db)
                .await
                .expect("count"),
            0,
            "applied: forgotten"
        );
        // The provider's retry, and another click: nothing more.
        let (status, _) = hook(app, &event, Some(&signed(&event))).await;
        assert_eq!(status, StatusCode::OK);
        let r = again("Once more").await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("not in the list"), "{}", r.body);
        assert_eq!(plan_orders(app, user).await.len(), 2);
        assert_eq!(
            credits::balance(&app.db, user).await.expect("balance").available,
            after.available
        );
        assert!(credits::audit(&app.db, user).await.expect("audit"));
        let audit = crate::staff::post(app, "/api/admin_audit", &[], admin).await;
        assert!(
            audit.body.contains("payment_event.apply_again") && audit.body.contains("Stripe is back"),
            "{}",
            audit.body
        );
    })
    .await;
}

macro_rules! on_both {
    ($name:ident, $test:path) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $test(crate::support::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $test(crate::support::Backend::Postgres).await;
            }
        }
    };
}

on_both!(purchase, super::purchase_through_the_fake);
on_both!(refusals, super::forged_stale_and_wrong_events_grant_nothing);
on_both!(
    refund,
    super::refund_takes_credits_back_and_spent_ones_become_debt
);
on_both!(
    refund_from_order_page,
    super::a_refund_from_the_order_page_takes_credits_back_once
);
on_both!(
    failed_event_applied_again,
    super::a_failed_event_is_kept_and_applied_again_once
);
on_both!(unconfigured, super::without_a_provider_the_site_says_so);
on_both!(plan, super::a_plan_grants_each_period_expires_and_ends);
on_both!(creem, super::creem_packs_plans_and_refunds);
on_both!(
    localstripe,
    super::a_localstripe_subscription_is_granted_and_ended
);
on_both!(dispute, super::a_dispute_takes_credits_back_until_it_is_won);
on_both!(
    account_deletion,
    super::deleting_an_account_ends_it_at_the_providers
);
