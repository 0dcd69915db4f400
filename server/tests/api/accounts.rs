//! Accounts over HTTP: sign-up with attestation, confirmation by mail,
//! sign-in, sessions, reset, enumeration resistance and rate limits.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use uni1_domain::entities::{audit_log, mail_outbox, session, user};

use crate::fixtures::{
    confirm, last_mail, mail_of_kind, opened, sign_in, sign_up, token_in, PASSWORD,
};
use crate::on_both_backends;
use crate::support::{TestApp, Visitor, SAFARI_IPHONE, SESSION_COOKIE};

async fn me(app: &TestApp, visitor: &Visitor) -> serde_json::Value {
    let r = app.post_as("/api/me", &[], visitor).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

async fn account(app: &TestApp, email: &str) -> user::Model {
    user::Entity::find()
        .filter(user::Column::EmailKey.eq(email.to_lowercase()))
        .one(&app.db)
        .await
        .expect("query")
        .expect("the account exists")
}

on_both_backends!(sign_up_confirm_and_sign_in, |app: TestApp| async move {
    let mut ada = Visitor::new("198.51.100.10");
    let r = sign_up(&app, "Ada@Example.org", &ada).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let created = account(&app, "ada@example.org").await;
    assert!(created.email_confirmed_at.is_none());
    assert_eq!(created.terms_version, uni1_domain::accounts::TERMS_VERSION);
    assert!(created
        .password_hash
        .as_deref()
        .is_some_and(|h| h.starts_with("$argon2id$")));
    assert_eq!(created.role, "user");

    let mail = last_mail(&app, "Ada@example.org").await;
    assert_eq!(mail.kind, "confirm_email");
    assert!(
        mail.text_body
            .contains("http://uni1.test/confirm-email?token="),
        "{}",
        mail.text_body
    );
    let token = token_in(&mail.text_body);

    // An unconfirmed account can sign in.
    let r = sign_in(&app, "ada@example.org", PASSWORD, &mut ada).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("location"), Some("/settings/security"));
    let cookie = r.set_cookie(SESSION_COOKIE).expect("cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert_eq!(me(&app, &ada).await["display_name"], "Ada Lovelace");
    assert_eq!(me(&app, &ada).await["email_confirmed"], false);

    let r = app
        .post_as("/api/confirm_email", &[("token", &token)], &ada)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(me(&app, &ada).await["email_confirmed"], true);

    let again = app
        .post_as("/api/confirm_email", &[("token", &token)], &ada)
        .await;
    assert_eq!(again.status, 422, "single use");
    assert_eq!(again.json()["Invalid"]["field"], "token");

    let actions: Vec<String> = audit_log::Entity::find()
        .filter(audit_log::Column::UserId.eq(created.id))
        .order_by_asc(audit_log::Column::CreatedAt)
        .all(&app.db)
        .await
        .expect("audit")
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(actions, ["sign_up", "sign_in", "email_confirmed"]);
});

on_both_backends!(
    sign_up_needs_the_adult_attestation_and_a_strong_password,
    |app: TestApp| async move {
        let v = Visitor::new("198.51.100.11");
        let without = app
            .post_as(
                "/api/sign_up",
                &[
                    ("display_name", "Kid"),
                    ("email", "kid@example.org"),
                    ("password", PASSWORD),
                    ("terms", "on"),
                ],
                &v,
            )
            .await;
        assert_eq!(without.status, 422);
        assert_eq!(without.json()["Invalid"]["field"], "adult");

        let weak = app
            .post_as(
                "/api/sign_up",
                &[
                    ("display_name", "Bob"),
                    ("email", "bob@example.org"),
                    ("password", "password1"),
                    ("adult", "on"),
                    ("terms", "on"),
                ],
                &v,
            )
            .await;
        assert_eq!(weak.status, 422);
        assert_eq!(weak.json()["Invalid"]["field"], "password");

        assert!(user::Entity::find()
            .all(&app.db)
            .await
            .expect("users")
            .is_empty());
        assert!(mail_outbox::Entity::find()
            .all(&app.db)
            .await
            .expect("mail")
            .is_empty());
    }
);

on_both_backends!(
    answers_never_tell_who_has_an_account,
    |app: TestApp| async move {
        let v = Visitor::new("198.51.100.12");
        let first = sign_up(&app, "known@example.org", &v).await;
        let second = sign_up(&app, "KNOWN@example.org", &v).await;
        assert_eq!((first.status, &first.body), (second.status, &second.body));
        assert_eq!(
            user::Entity::find()
                .all(&app.db)
                .await
                .expect("users")
                .len(),
            1
        );
        assert_eq!(
            last_mail(&app, "known@example.org").await.kind,
            "sign_up_attempt",
            "the owner is told"
        );

        let mut a = Visitor::new("198.51.100.13");
        let unknown = sign_in(&app, "nobody@example.org", PASSWORD, &mut a).await;
        let wrong = sign_in(
            &app,
            "known@example.org",
            "wrong horse battery staple",
            &mut a,
        )
        .await;
        assert_eq!(unknown.status, 422);
        assert_eq!((unknown.status, &unknown.body), (wrong.status, &wrong.body));
        assert!(unknown.set_cookie(SESSION_COOKIE).is_none());

        let reset_unknown = app
            .post_as(
                "/api/request_password_reset",
                &[("email", "nobody@example.org")],
                &a,
            )
            .await;
        let reset_known = app
            .post_as(
                "/api/request_password_reset",
                &[("email", "known@example.org")],
                &a,
            )
            .await;
        assert_eq!(
            (reset_unknown.status, &reset_unknown.body),
            (reset_known.status, &reset_known.body)
        );
        assert_eq!(reset_known.status, 200);
    }
);

on_both_backends!(
    people_see_and_end_their_sessions,
    |app: TestApp| async move {
        let mut laptop = Visitor::new("198.51.100.20");
        let mut phone = Visitor::new("203.0.113.20").with_agent(SAFARI_IPHONE);
        sign_up(&app, "sam@example.org", &laptop).await;
        assert_eq!(
            sign_in(&app, "sam@example.org", PASSWORD, &mut laptop)
                .await
                .status,
            200
        );
        assert_eq!(
            sign_in(&app, "sam@example.org", PASSWORD, &mut phone)
                .await
                .status,
            200
        );

        let overview = app
            .post_as("/api/security_overview", &[], &laptop)
            .await
            .json();
        let sessions = overview["sessions"].as_array().expect("sessions");
        assert_eq!(sessions.len(), 2);
        let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0]["browser"], "Firefox 133");
        assert_eq!(current[0]["os"], "Linux");
        assert_eq!(current[0]["ip"], "198.51.100.20");
        let phone_session = sessions
            .iter()
            .find(|s| s["current"] == false)
            .expect("the phone");
        assert_eq!(phone_session["device"], "mobile");
        assert_eq!(phone_session["os"], "iOS");

        // Someone else cannot end Sam's sessions: same answer as a missing id.
        let mut eve = Visitor::new("192.0.2.66");
        sign_up(&app, "eve@example.org", &eve).await;
        sign_in(&app, "eve@example.org", PASSWORD, &mut eve).await;
        let id = phone_session["id"].as_str().expect("id");
        let r = app.post_as("/api/end_session", &[("id", id)], &eve).await;
        assert_eq!(r.status, 404);
        let r = app
            .post_as(
                "/api/end_session",
                &[("id", &uuid::Uuid::now_v7().to_string())],
                &eve,
            )
            .await;
        assert_eq!(r.status, 404);
        assert_eq!(
            me(&app, &phone).await["display_name"],
            "Ada Lovelace",
            "still signed in"
        );

        // Sam ends the phone's session from the laptop.
        let r = app
            .post_as("/api/end_session", &[("id", id)], &laptop)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(me(&app, &phone).await.is_null(), "the phone is signed out");
        let page = app.get_as("/", &phone).await;
        assert!(
            page.set_cookie(SESSION_COOKIE)
                .is_some_and(|c| c.contains("Max-Age=0")),
            "stale cookie is cleared"
        );

        // Sign in on the phone again, then "sign out everywhere else".
        phone.cookie = None;
        sign_in(&app, "sam@example.org", PASSWORD, &mut phone).await;
        let r = app.post_as("/api/end_other_sessions", &[], &laptop).await;
        assert_eq!(r.json(), 1);
        assert!(me(&app, &phone).await.is_null());
        assert!(
            !me(&app, &laptop).await.is_null(),
            "this device stays signed in"
        );

        let history = app
            .post_as("/api/security_overview", &[], &laptop)
            .await
            .json();
        let actions: Vec<&str> = history["history"]
            .as_array()
            .expect("history")
            .iter()
            .filter_map(|h| h["action"].as_str())
            .collect();
        assert!(
            actions.contains(&"other_sessions_ended") && actions.contains(&"session_ended"),
            "{actions:?}"
        );

        // Signing out ends this session too.
        let r = app.post_as("/api/sign_out", &[], &laptop).await;
        assert!(r
            .set_cookie(SESSION_COOKIE)
            .is_some_and(|c| c.contains("Max-Age=0")));
        assert!(me(&app, &laptop).await.is_null());
        assert_eq!(
            app.post_as("/api/security_overview", &[], &laptop)
                .await
                .status,
            401
        );
    }
);

on_both_backends!(idle_and_expired_sessions_end, |app: TestApp| async move {
    let mut v = Visitor::new("198.51.100.30");
    sign_up(&app, "idle@example.org", &v).await;
    sign_in(&app, "idle@example.org", PASSWORD, &mut v).await;
    let s = session::Entity::find()
        .one(&app.db)
        .await
        .expect("q")
        .expect("a session");
    let mut stale = s.clone().into_active_model();
    stale.last_seen_at = Set(Utc::now() - chrono::Duration::days(15));
    stale.update(&app.db).await.expect("update");
    assert!(me(&app, &v).await.is_null());
    let ended = session::Entity::find_by_id(s.id)
        .one(&app.db)
        .await
        .expect("q")
        .expect("kept");
    assert_eq!(ended.end_reason.as_deref(), Some("idle"));
});

on_both_backends!(
    password_reset_by_mail_ends_every_session,
    |app: TestApp| async move {
        let mut v = Visitor::new("198.51.100.40");
        sign_up(&app, "rita@example.org", &v).await;
        sign_in(&app, "rita@example.org", PASSWORD, &mut v).await;
        let r = app
            .post_as(
                "/api/request_password_reset",
                &[("email", "rita@example.org")],
                &v,
            )
            .await;
        assert_eq!(r.status, 200);
        let mail = mail_of_kind(&app, "rita@example.org", "reset_password").await;
        let token = token_in(&mail.text_body);

        let weak = app
            .post_as(
                "/api/reset_password",
                &[("token", &token), ("password", "12345678")],
                &v,
            )
            .await;
        assert_eq!(weak.status, 422);
        assert_eq!(weak.json()["Invalid"]["field"], "password");

        const NEW: &str = "a brand new passphrase here";
        let ok = app
            .post_as(
                "/api/reset_password",
                &[("token", &token), ("password", NEW)],
                &v,
            )
            .await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert!(me(&app, &v).await.is_null(), "every session ended");
        let reused = app
            .post_as(
                "/api/reset_password",
                &[("token", &token), ("password", NEW)],
                &v,
            )
            .await;
        assert_eq!(reused.status, 422, "single use");

        let mut fresh = Visitor::new("198.51.100.41");
        assert_eq!(
            sign_in(&app, "rita@example.org", PASSWORD, &mut fresh)
                .await
                .status,
            422
        );
        assert_eq!(
            sign_in(&app, "rita@example.org", NEW, &mut fresh)
                .await
                .status,
            200
        );
        assert_eq!(
            last_mail(&app, "rita@example.org").await.kind,
            "password_changed"
        );
    }
);

on_both_backends!(expired_reset_links_are_refused, |app: TestApp| async move {
    let v = Visitor::new("198.51.100.42");
    sign_up(&app, "late@example.org", &v).await;
    app.post_as(
        "/api/request_password_reset",
        &[("email", "late@example.org")],
        &v,
    )
    .await;
    let token = token_in(
        &mail_of_kind(&app, "late@example.org", "reset_password")
            .await
            .text_body,
    );
    use uni1_domain::entities::email_token;
    for t in email_token::Entity::find()
        .all(&app.db)
        .await
        .expect("tokens")
    {
        let mut t = t.into_active_model();
        t.expires_at = Set(Utc::now() - chrono::Duration::minutes(1));
        t.update(&app.db).await.expect("update");
    }
    let r = app
        .post_as(
            "/api/reset_password",
            &[
                ("token", &token),
                ("password", "a brand new passphrase here"),
            ],
            &v,
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["Invalid"]["field"], "token");
});

on_both_backends!(
    sign_in_is_rate_limited_per_address_and_account,
    |app: TestApp| async move {
        let owner = Visitor::new("198.51.100.50");
        sign_up(&app, "target@example.org", &owner).await;
        let mut attacker = Visitor::new("192.0.2.50");
        for _ in 0..5 {
            assert_eq!(
                sign_in(
                    &app,
                    "target@example.org",
                    "wrong guess here",
                    &mut attacker
                )
                .await
                .status,
                422
            );
        }
        let limited = sign_in(
            &app,
            "target@example.org",
            "wrong guess here",
            &mut attacker,
        )
        .await;
        assert_eq!(limited.status, 429, "{}", limited.body);
        let wait: u64 = limited
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!((1..=60).contains(&wait));
        assert!(limited.json()["RateLimited"]["retry_after_secs"]
            .as_u64()
            .is_some());
        // The owner, elsewhere, is not locked out.
        let mut owner = owner;
        assert_eq!(
            sign_in(&app, "target@example.org", PASSWORD, &mut owner)
                .await
                .status,
            200
        );
    }
);

on_both_backends!(
    changing_the_address_confirms_the_new_one_and_tells_the_old,
    |app: TestApp| async move {
        let mut v = Visitor::new("198.51.100.120");
        sign_up(&app, "old@example.org", &v).await;
        sign_up(&app, "taken@example.org", &v).await;
        sign_in(&app, "old@example.org", PASSWORD, &mut v).await;

        let wrong = app
            .post_as(
                "/api/request_email_change",
                &[
                    ("email", "new@example.org"),
                    ("password", "not my password"),
                ],
                &v,
            )
            .await;
        assert_eq!(wrong.status, 422);
        assert_eq!(wrong.json()["Invalid"]["field"], "password");

        let taken = app
            .post_as(
                "/api/request_email_change",
                &[("email", "taken@example.org"), ("password", PASSWORD)],
                &v,
            )
            .await;
        let free = app
            .post_as(
                "/api/request_email_change",
                &[("email", "New@example.org"), ("password", PASSWORD)],
                &v,
            )
            .await;
        assert_eq!(
            (taken.status, &taken.body),
            (free.status, &free.body),
            "same answer either way"
        );
        assert_eq!(
            last_mail(&app, "taken@example.org").await.kind,
            "address_in_use"
        );
        assert_eq!(
            last_mail(&app, "old@example.org").await.kind,
            "email_change_requested"
        );
        let mail = last_mail(&app, "New@example.org").await;
        assert_eq!(mail.kind, "confirm_new_email");
        let token = token_in(&mail.text_body);

        let r = app
            .post_as("/api/confirm_email_change", &[("token", &token)], &v)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            last_mail(&app, "old@example.org").await.kind,
            "email_changed"
        );
        let me = app.post_as("/api/me", &[], &v).await.json();
        assert_eq!(me["email"], "New@example.org");
        assert_eq!(me["email_confirmed"], true);
        assert_eq!(
            app.post_as("/api/confirm_email_change", &[("token", &token)], &v)
                .await
                .status,
            422,
            "single use"
        );

        let mut fresh = Visitor::new("198.51.100.121");
        assert_eq!(
            sign_in(&app, "old@example.org", PASSWORD, &mut fresh)
                .await
                .status,
            422
        );
        assert_eq!(
            sign_in(&app, "new@example.org", PASSWORD, &mut fresh)
                .await
                .status,
            200
        );
    }
);

on_both_backends!(
    an_account_pauses_after_many_wrong_passwords_from_anywhere,
    |app: TestApp| async move {
        let owner = Visitor::new("198.51.100.60");
        sign_up(&app, "paused@example.org", &owner).await;
        sign_up(&app, "bystander@example.org", &owner).await;
        // Ten wrong passwords, each from another address: no per-address
        // limit sees them, the account's budget does.
        for i in 0..uni1_domain::support::rate_limit::ACCOUNT_FAILURES {
            let mut guesser = Visitor::new(&format!("192.0.2.{}", 100 + i));
            let r = sign_in(&app, "paused@example.org", "wrong guess here", &mut guesser).await;
            assert_eq!(r.status, 422, "{}", r.body);
        }
        let mut elsewhere = Visitor::new("203.0.113.60");
        let r = sign_in(&app, "Paused@example.org", PASSWORD, &mut elsewhere).await;
        assert_eq!(r.status, 429, "{}", r.body);
        let wait: u64 = r
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!((1..=30).contains(&wait), "a short pause: {wait}");
        assert!(r.set_cookie(SESSION_COOKIE).is_none());
        // Other accounts are not affected, from the same address either.
        assert_eq!(
            sign_in(&app, "bystander@example.org", PASSWORD, &mut elsewhere)
                .await
                .status,
            200
        );
    }
);

on_both_backends!(
    sign_up_mail_is_limited_per_recipient,
    |app: TestApp| async move {
        for i in 0..3 {
            let v = Visitor::new(&format!("192.0.2.{}", 140 + i));
            assert_eq!(sign_up(&app, "inbox@example.org", &v).await.status, 200);
        }
        let v = Visitor::new("192.0.2.150");
        let r = sign_up(&app, "INBOX@example.org", &v).await;
        assert_eq!(r.status, 429, "{}", r.body);
        let mails = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::ToAddress.eq("inbox@example.org"))
            .all(&app.db)
            .await
            .expect("mail");
        assert_eq!(mails.len(), 3, "one confirmation, then two notices");
        // Mail to an unconfirmed address does not carry the name someone
        // typed into the form.
        for mail in mails.into_iter().map(|m| opened(&app, m)) {
            assert!(mail.text_body.starts_with("Hello,\n"), "{}", mail.text_body);
            assert!(!mail.text_body.contains("Ada Lovelace"));
            assert!(!mail.html_body.contains("Ada Lovelace"));
        }
        // Someone else's address is not affected.
        assert_eq!(
            sign_up(&app, "other-inbox@example.org", &v).await.status,
            200
        );
    }
);

on_both_backends!(
    a_reset_request_answers_before_any_database_work,
    |app: TestApp| async move {
        let v = Visitor::new("198.51.100.70");
        sign_up(&app, "known-reset@example.org", &v).await;
        // The answer does not depend on the address: it comes before the
        // lookup, so a service with no database at all answers both alike.
        let offline = uni1_domain::accounts::Accounts::new(
            sea_orm::DatabaseConnection::Disconnected,
            uni1_domain::accounts::AccountPolicy::default(),
            uni1_domain::mail::MailContext {
                base_url: "http://uni1.test/".into(),
                operator_name: "Test".into(),
                operator_email: "op@uni1.test".into(),
            },
            app.key.clone(),
        );
        let client = uni1_domain::accounts::ClientInfo::default();
        for email in ["known-reset@example.org", "nobody-reset@example.org"] {
            assert!(
                offline.request_password_reset(email, &client).await.is_ok(),
                "{email}"
            );
        }
        // Over HTTP both answers are the same, and the known address still
        // gets its link (from the background).
        let known = app
            .post_as(
                "/api/request_password_reset",
                &[("email", "known-reset@example.org")],
                &v,
            )
            .await;
        let unknown = app
            .post_as(
                "/api/request_password_reset",
                &[("email", "nobody-reset@example.org")],
                &v,
            )
            .await;
        assert_eq!(known.status, 200);
        assert_eq!(
            (known.status, &known.body, known.header("location")),
            (unknown.status, &unknown.body, unknown.header("location"))
        );
        mail_of_kind(&app, "known-reset@example.org", "reset_password").await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(mail_outbox::Entity::find()
            .filter(mail_outbox::Column::ToAddress.eq("nobody-reset@example.org"))
            .all(&app.db)
            .await
            .expect("mail")
            .is_empty());
    }
);

/// Makes every session of `email` look `minutes` old.
pub async fn age_sessions(app: &TestApp, email: &str, minutes: i64) {
    let owner = account(app, email).await;
    for s in session::Entity::find()
        .filter(session::Column::UserId.eq(owner.id))
        .all(&app.db)
        .await
        .expect("sessions")
    {
        let mut s = s.into_active_model();
        s.created_at = Set(Utc::now() - chrono::Duration::minutes(minutes));
        s.update(&app.db).await.expect("update");
    }
}

on_both_backends!(
    sensitive_changes_need_a_recent_sign_in,
    |app: TestApp| async move {
        use uni1_domain::entities::user_identity;
        let mut v = Visitor::new("198.51.100.80");
        sign_up(&app, "careful@example.org", &v).await;
        confirm(&app, "careful@example.org", &v).await;
        sign_in(&app, "careful@example.org", PASSWORD, &mut v).await;
        let mut phone = Visitor::new("203.0.113.80");
        sign_in(&app, "careful@example.org", PASSWORD, &mut phone).await;
        age_sessions(&app, "careful@example.org", 60).await;

        // Two-factor: an old session alone is not enough.
        let r = app.post_as("/api/begin_two_factor", &[], &v).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.json()["Invalid"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("confirm it is you")));
        let r = app
            .post_as(
                "/api/begin_two_factor",
                &[("password", "not my password")],
                &v,
            )
            .await;
        assert_eq!(r.json()["Invalid"]["field"], "password");
        let r = app
            .post_as("/api/begin_two_factor", &[("password", PASSWORD)], &v)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let secret = r.json()["secret"].as_str().expect("secret").to_owned();
        let r = app
            .post_as(
                "/api/confirm_two_factor",
                &[("code", &crate::fixtures::code_at(&secret, 0))],
                &v,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        // Turning it on signed out the other device, not this one.
        assert!(me(&app, &phone).await.is_null(), "the phone is signed out");
        assert_eq!(me(&app, &v).await["email"], "careful@example.org");

        // Unlinking a provider: the same rule.
        let owner = account(&app, "careful@example.org").await;
        user_identity::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            user_id: Set(owner.id),
            provider: Set("github".into()),
            subject: Set("4242".into()),
            email: Set(Some("careful@example.org".into())),
            created_at: Set(Utc::now()),
            last_used_at: Set(Utc::now()),
        }
        .insert(&app.db)
        .await
        .expect("identity");
        let r = app
            .post_as("/api/unlink_provider", &[("provider", "github")], &v)
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        let r = app
            .post_as(
                "/api/unlink_provider",
                &[("provider", "github"), ("password", PASSWORD)],
                &v,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);

        // A passwordless account moving to a new address.
        let mut p = Visitor::new("198.51.100.81");
        sign_up(&app, "nopass@example.org", &p).await;
        confirm(&app, "nopass@example.org", &p).await;
        sign_in(&app, "nopass@example.org", PASSWORD, &mut p).await;
        let mut row = account(&app, "nopass@example.org")
            .await
            .into_active_model();
        row.password_hash = Set(None);
        row.update(&app.db).await.expect("update");
        age_sessions(&app, "nopass@example.org", 60).await;
        let r = app
            .post_as(
                "/api/request_email_change",
                &[("email", "moved@example.org")],
                &p,
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.json()["Invalid"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("confirm it is you")));
        age_sessions(&app, "nopass@example.org", 1).await;
        let r = app
            .post_as(
                "/api/request_email_change",
                &[("email", "moved@example.org")],
                &p,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
);
