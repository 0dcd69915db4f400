//! Shared test fixtures: people, mail, images and the worker, used by every
//! feature's tests. A fixture used by more than one feature file lives here,
//! not in a feature's tests.

#![allow(dead_code)] // not every binary configuration uses every fixture
#![allow(clippy::unwrap_used)] // test helpers may unwrap

use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use totp_rs::{Algorithm, Secret, TOTP};
use uni1_domain::entities::{generation, image, mail_outbox, user};
use uni1_domain::generation::{status, Generations, SubmitInput};
use uuid::Uuid;

use crate::support::{Reply, TestApp, Visitor};

pub const PASSWORD: &str = "correct horse battery staple";

/// The newest queued mail to `to`, its bodies opened.
pub async fn last_mail(app: &TestApp, to: &str) -> mail_outbox::Model {
    let mail = mail_outbox::Entity::find()
        .filter(mail_outbox::Column::ToAddress.eq(to))
        .order_by_desc(mail_outbox::Column::CreatedAt)
        .one(&app.db)
        .await
        .expect("query")
        .unwrap_or_else(|| panic!("no mail to {to}"));
    opened(app, mail)
}

/// `mail` with its sealed bodies opened, the way delivery reads them.
pub fn opened(app: &TestApp, mut mail: mail_outbox::Model) -> mail_outbox::Model {
    let bodies = uni1_domain::mail::open_bodies(&app.key, &mail).expect("the mail opens");
    mail.text_body = bodies.text;
    mail.html_body = bodies.html;
    mail
}

/// The newest mail of `kind` to `to`, waiting for it a little: some mail
/// (a reset link) is queued in the background after the answer.
pub async fn mail_of_kind(app: &TestApp, to: &str, kind: &str) -> mail_outbox::Model {
    for _ in 0..100 {
        let found = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::ToAddress.eq(to))
            .filter(mail_outbox::Column::Kind.eq(kind))
            .order_by_desc(mail_outbox::Column::CreatedAt)
            .one(&app.db)
            .await
            .expect("query");
        if let Some(mail) = found {
            return opened(app, mail);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no {kind} mail to {to}");
}

/// The token in a mail's link.
pub fn token_in(text: &str) -> String {
    let start = text.find("token=").expect("a link with a token") + "token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Confirms `email` with the link from its confirmation mail.
pub async fn confirm(app: &TestApp, email: &str, visitor: &Visitor) {
    let token = token_in(&last_mail(app, email).await.text_body);
    let r = app
        .post_as("/api/confirm_email", &[("token", &token)], visitor)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

pub async fn sign_up(app: &TestApp, email: &str, visitor: &Visitor) -> Reply {
    app.post_as(
        "/api/sign_up",
        &[
            ("display_name", "Ada Lovelace"),
            ("email", email),
            ("password", PASSWORD),
            ("adult", "on"),
            ("terms", "on"),
        ],
        visitor,
    )
    .await
}

pub async fn sign_in(app: &TestApp, email: &str, password: &str, visitor: &mut Visitor) -> Reply {
    let r = app
        .post_as(
            "/api/sign_in",
            &[
                ("email", email),
                ("password", password),
                ("next", "/settings/security"),
            ],
            visitor,
        )
        .await;
    if r.status == 200 {
        visitor.keep_cookie(&r);
    }
    r
}

/// A signed-in person with a confirmed address.
pub async fn member(app: &TestApp, email: &str, ip: &str) -> (Visitor, uuid::Uuid) {
    let mut v = Visitor::new(ip);
    let r = sign_up(app, email, &v).await;
    assert_eq!(r.status, 200, "{}", r.body);
    confirm(app, email, &v).await;
    let r = sign_in(app, email, PASSWORD, &mut v).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = user::Entity::find()
        .filter(user::Column::EmailKey.eq(email))
        .one(&app.db)
        .await
        .expect("query")
        .expect("the account")
        .id;
    (v, id)
}

pub fn input(key: &str, prompt: &str, count: u32) -> SubmitInput {
    SubmitInput {
        idempotency_key: key.into(),
        model_id: "builtin".into(),
        prompt: prompt.into(),
        aspect_ratio: "1:1".into(),
        count,
        seed: Some(7),
        ..Default::default()
    }
}

/// Runs a worker, with the reaper and sweepers as a process runs them,
/// until every job is final (or `limit` passes).
pub async fn drain(gens: &Generations, limit: Duration) {
    let mut tasks = uni1_server::background::Background::new();
    uni1_server::startup::with_worker(&mut tasks, gens, "test-worker".into(), 2);
    let running = tasks.start();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let pending = generation::Entity::find()
            .filter(generation::Column::Status.is_in([status::QUEUED, status::RUNNING]))
            .count(&gens.db)
            .await
            .expect("count");
        if pending == 0 || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    running.stop().await;
}

/// Sends `request` as `visitor` and returns the response unread, so a
/// streaming body (events, ZIP) stays open until it is dropped.
pub async fn open_as(
    app: &TestApp,
    request: http::request::Builder,
    body: axum::body::Body,
    visitor: &Visitor,
) -> axum::response::Response {
    use tower::ServiceExt as _;
    let mut request = request
        .header("host", "uni1.test")
        .header("origin", crate::support::ORIGIN)
        .header("user-agent", visitor.user_agent);
    if let Some(cookie) = &visitor.cookie {
        request = request.header("cookie", cookie);
    }
    let mut request = request.body(body).unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(
            visitor.ip, 40000,
        )));
    app.router.clone().oneshot(request).await.unwrap()
}

/// Makes `count` images for `user` and returns them.
pub async fn images(
    app: &TestApp,
    user: Uuid,
    key: &str,
    prompt: &str,
    count: u32,
) -> Vec<image::Model> {
    let v = app
        .gens
        .submit(user, true, input(key, prompt, count))
        .await
        .unwrap();
    drain(&app.gens, Duration::from_secs(30)).await;
    let rows = image::Entity::find()
        .filter(image::Column::GenerationId.eq(v.id))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), count as usize);
    rows
}

/// Turns two-factor on for the signed-in `v` (enrol, confirm with a
/// current code); returns the secret.
pub async fn enable_two_factor(app: &TestApp, v: &Visitor) -> String {
    let secret = app.post_as("/api/begin_two_factor", &[], v).await.json()["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let r = app
        .post_as(
            "/api/confirm_two_factor",
            &[("code", &code_at(&secret, 0))],
            v,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    secret
}

/// The TOTP code for `secret`, `offset_secs` from now.
pub fn code_at(secret: &str, offset_secs: i64) -> String {
    let totp = TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        Secret::Encoded(secret.to_owned())
            .to_bytes()
            .expect("base32"),
        None,
        String::new(),
    )
    .expect("totp");
    let now = chrono::Utc::now().timestamp() + offset_secs;
    totp.generate(u64::try_from(now).expect("positive"))
}
