//! Mail preferences (MAIL-1..3): Settings -> Notifications, the signed
//! one-click unsubscribe link (RFC 8058) with its headers on the delivered
//! message, the generation-finished mail only for people who asked for it
//! and were away, and announcements queued exactly once per recipient to
//! 10,000 accounts while senders are killed and run side by side.

#![allow(clippy::unwrap_used)] // test helpers may unwrap

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uni1_domain::entities::{announcement, announcement_recipient, mail_outbox, user};
use uni1_domain::mail::announcements::{self, Kind, Pace};
use uni1_domain::mail::delivery::deliver_due;
use uni1_domain::mail::notices;
use uni1_domain::mail::unsubscribe::{Category, Unsubscribe};
use uni1_domain::mail::MailContext;
use uni1_domain::support::crypto::AppKey;
use uuid::Uuid;

use crate::fixtures::{drain, input, member, open_as};
use crate::on_both_backends;
use crate::support::{Backend, TestApp, Visitor};

fn ctx(app: &TestApp) -> MailContext {
    MailContext {
        base_url: app.origin.clone(),
        operator_name: "Test Operator".into(),
        operator_email: "operator@uni1.test".into(),
    }
}

async fn account(app: &TestApp, id: Uuid) -> user::Model {
    user::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

/// An RFC 8058 one-click POST as a mail provider sends it: no Origin, no
/// cookie, the form body `List-Unsubscribe=One-Click`.
async fn one_click(app: &TestApp, token: &str) -> crate::support::Reply {
    app.send(
        http::Request::post(format!("/unsubscribe/{token}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from("List-Unsubscribe=One-Click"))
            .unwrap(),
    )
    .await
}

async fn set_pref(app: &TestApp, v: &Visitor, category: &str, on: &str) {
    let r = app
        .post_as(
            "/api/set_mail_preference",
            &[("category", category), ("on", on)],
            v,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

on_both_backends!(
    notification_settings_round_trip_and_record_marketing_consent,
    |app: TestApp| async move {
        let (v, id) = member(&app, "notify@example.org", "198.51.100.80").await;
        let prefs = app.post_as("/api/mail_preferences", &[], &v).await.json();
        assert_eq!(prefs["generation_done"], false, "{prefs}");
        assert_eq!(prefs["expiry_reminders"], false);
        assert_eq!(prefs["service_updates"], true);
        assert!(prefs["marketing_since"].is_null());

        let before = Utc::now();
        for category in [
            "generation_done",
            "expiry_reminders",
            "marketing",
            "service_updates",
        ] {
            set_pref(&app, &v, category, "on").await;
        }
        let prefs = app.post_as("/api/mail_preferences", &[], &v).await.json();
        assert_eq!(prefs["generation_done"], true, "{prefs}");
        assert_eq!(prefs["expiry_reminders"], true);
        assert!(prefs["marketing_since"]
            .as_str()
            .is_some_and(|s| s.contains("UTC") && s.contains("on this page")));
        let u = account(&app, id).await;
        let consent = u.marketing_consent_at.expect("consent time recorded");
        assert!(consent >= before - chrono::Duration::seconds(1) && consent <= Utc::now());
        assert_eq!(u.marketing_consent_source.as_deref(), Some("settings"));
        // The old expiry-reminder switch reads the same column.
        assert_eq!(
            app.post_as("/api/reminders", &[], &v).await.json()["on"],
            true
        );
        // Giving consent again keeps its first time.
        set_pref(&app, &v, "marketing", "on").await;
        assert_eq!(account(&app, id).await.marketing_consent_at, Some(consent));

        // Withdrawing clears the consent.
        set_pref(&app, &v, "marketing", "off").await;
        set_pref(&app, &v, "generation_done", "off").await;
        let u = account(&app, id).await;
        assert!(u.marketing_consent_at.is_none() && u.marketing_consent_source.is_none());
        assert!(!u.notify_generation_done && u.expiry_reminders);

        // Unknown kinds and values are refused; strangers are turned away.
        let r = app
            .post_as(
                "/api/set_mail_preference",
                &[("category", "receipts"), ("on", "off")],
                &v,
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        let r = app
            .post_as(
                "/api/set_mail_preference",
                &[("category", "marketing"), ("on", "maybe")],
                &v,
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        let stranger = Visitor::new("198.51.100.81");
        let r = app
            .post_as(
                "/api/set_mail_preference",
                &[("category", "marketing"), ("on", "on")],
                &stranger,
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.body);

        // The page and the settings hub's link.
        let page = app.get_as("/settings/notifications", &v).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Always sent") && page.body.contains("toggle-marketing"));
        let hub = app.get_as("/settings", &v).await;
        assert!(hub.body.contains("href=\"/settings/notifications\""));

        // The export holds the preferences and the consent.
        let prefs = uni1_domain::mail::preferences::get(&app.db, id)
            .await
            .unwrap()
            .unwrap();
        assert!(prefs.expiry_reminders && prefs.marketing.is_none());
    }
);

on_both_backends!(
    one_click_unsubscribe_works_without_a_session_or_origin,
    |app: TestApp| async move {
        let (v, id) = member(&app, "leaving@example.org", "198.51.100.82").await;
        set_pref(&app, &v, "marketing", "on").await;
        set_pref(&app, &v, "generation_done", "on").await;
        let links = Unsubscribe::new(&app.key);

        // A server function without Origin is still refused: only the
        // unsubscribe path is exempt from the CSRF check.
        let r = app
            .post_form_from(
                "/api/set_mail_preference",
                &[("category", "marketing"), ("on", "off")],
                None,
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.body);

        let r = one_click(&app, &links.token(id, Category::Marketing)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("You no longer get product news and offers"));
        let u = account(&app, id).await;
        assert!(u.marketing_consent_at.is_none(), "unsubscribed at once");
        assert!(u.notify_generation_done, "only that category");
        // Again: still fine (mail programs retry).
        let r = one_click(&app, &links.token(id, Category::Marketing)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        // From a foreign page too: the token is the only authority.
        let r = app
            .post_form_from(
                &format!("/unsubscribe/{}", links.token(id, Category::GenerationDone)),
                &[("List-Unsubscribe", "One-Click")],
                Some("https://mail.example"),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!account(&app, id).await.notify_generation_done);
    }
);

on_both_backends!(
    forged_and_foreign_unsubscribe_tokens_change_nothing,
    |app: TestApp| async move {
        let (va, alice) = member(&app, "alice-u@example.org", "198.51.100.83").await;
        let (vb, bob) = member(&app, "bob-u@example.org", "198.51.100.84").await;
        for v in [&va, &vb] {
            set_pref(&app, v, "marketing", "on").await;
            set_pref(&app, v, "generation_done", "on").await;
        }
        let links = Unsubscribe::new(&app.key);
        let alices = links.token(alice, Category::Marketing);
        let sig = alices.rsplit('.').next().unwrap().to_owned();
        let other_key = Unsubscribe::new(&AppKey::from_bytes([7; 32]));
        let mut flipped = alices.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == 'A' { 'B' } else { 'A' });
        for forged in [
            // Alice's signature on Bob's id, or on another category.
            format!("{}.marketing.{sig}", bob.simple()),
            format!("{}.generation_done.{sig}", alice.simple()),
            // Altered, cut, signed with another key, made up.
            flipped,
            alices[..alices.len() - 4].to_owned(),
            other_key.token(bob, Category::Marketing),
            format!("{}.marketing.", bob.simple()),
            "nothing".to_owned(),
        ] {
            let r = one_click(&app, &forged).await;
            assert_eq!(r.status, 404, "{forged}: {}", r.body);
            let r = app.get(&format!("/unsubscribe/{forged}")).await;
            assert_eq!(r.status, 404, "{forged}");
        }
        for id in [alice, bob] {
            let u = account(&app, id).await;
            assert!(u.marketing_consent_at.is_some() && u.notify_generation_done);
        }
        // Alice's real token unsubscribes Alice only.
        assert_eq!(one_click(&app, &alices).await.status, 200);
        assert!(account(&app, alice).await.marketing_consent_at.is_none());
        assert!(account(&app, bob).await.marketing_consent_at.is_some());
    }
);

on_both_backends!(
    the_unsubscribe_page_asks_first_then_confirms,
    |app: TestApp| async move {
        let (v, id) = member(&app, "asked@example.org", "198.51.100.85").await;
        set_pref(&app, &v, "service_updates", "on").await;
        let token = Unsubscribe::new(&app.key).token(id, Category::ServiceUpdates);
        // Opening the link (or a scanner following it) changes nothing.
        let r = app.get(&format!("/unsubscribe/{token}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body.contains("Stop getting service updates"),
            "{}",
            r.body
        );
        assert!(r.body.contains(&format!(
            "<form method=\"post\" action=\"/unsubscribe/{token}\">"
        )));
        assert!(r
            .body
            .contains("name=\"List-Unsubscribe\" value=\"One-Click\""));
        assert!(r
            .header("content-security-policy")
            .is_some_and(|c| c.contains("form-action 'self'")));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert!(account(&app, id).await.service_updates);
        // The button's POST (a same-origin form) unsubscribes.
        let r = app
            .post_form(
                &format!("/unsubscribe/{token}"),
                &[("List-Unsubscribe", "One-Click")],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!account(&app, id).await.service_updates);
        let r = app.get(&format!("/unsubscribe/{token}")).await;
        assert!(
            r.body.contains("You no longer get service updates"),
            "{}",
            r.body
        );
    }
);

/// Whether a generation mail was queued to `to`.
async fn generation_mails(app: &TestApp, to: &str) -> Vec<mail_outbox::Model> {
    mail_outbox::Entity::find()
        .filter(mail_outbox::Column::ToAddress.eq(to))
        .filter(mail_outbox::Column::Kind.eq("generation_done"))
        .all(&app.db)
        .await
        .unwrap()
}

on_both_backends!(
    a_generation_mail_goes_only_to_those_who_asked_and_were_away,
    |app: TestApp| async move {
        let (va, alice) = member(&app, "away@example.org", "198.51.100.86").await;
        let (_, bob) = member(&app, "not-asked@example.org", "198.51.100.87").await;
        let (vc, carol) = member(&app, "watching@example.org", "198.51.100.88").await;
        set_pref(&app, &va, "generation_done", "on").await;
        set_pref(&app, &vc, "generation_done", "on").await;

        // Carol follows her jobs in a browser: her stream stamps her.
        let stream = open_as(
            &app,
            http::Request::get("/api/generations/events"),
            axum::body::Body::empty(),
            &vc,
        )
        .await;
        assert_eq!(stream.status(), 200);
        for _ in 0..100 {
            if account(&app, carol)
                .await
                .progress_watched_until
                .is_some_and(|t| t > Utc::now())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(account(&app, carol).await.progress_watched_until.is_some());

        for (who, key) in [
            (alice, "key-away-1"),
            (bob, "key-not-asked-1"),
            (carol, "key-watching-1"),
        ] {
            app.gens
                .submit(who, true, input(key, "a lighthouse at dusk", 1))
                .await
                .unwrap();
        }
        drain(&app.gens, Duration::from_secs(60)).await;
        drop(stream);
        // The poller stops with the last stream.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let queued = notices::queue_due(&app.db, &ctx(&app), &app.key, 100)
            .await
            .unwrap();
        assert_eq!(queued, 1);
        // Once only, however often the pass runs.
        assert_eq!(
            notices::queue_due(&app.db, &ctx(&app), &app.key, 100)
                .await
                .unwrap(),
            0
        );
        let mails = generation_mails(&app, "away@example.org").await;
        assert_eq!(mails.len(), 1);
        let mail = crate::fixtures::opened(&app, mails[0].clone());
        assert_eq!(mail.subject, "Your image is ready");
        let link = Unsubscribe::new(&app.key).link(&ctx(&app), alice, Category::GenerationDone);
        assert!(mail.text_body.contains(&link), "{}", mail.text_body);
        assert!(mail
            .list_unsubscribe
            .as_deref()
            .is_some_and(|h| h.starts_with(&format!("<{link}>, <mailto:"))));
        assert!(generation_mails(&app, "not-asked@example.org")
            .await
            .is_empty());
        assert!(generation_mails(&app, "watching@example.org")
            .await
            .is_empty());

        // Carol away now (her stamp ran out): her next job is mailed.
        user::Entity::update_many()
            .col_expr(
                user::Column::ProgressWatchedUntil,
                sea_orm::sea_query::Expr::value(Utc::now() - chrono::Duration::seconds(1)),
            )
            .filter(user::Column::Id.eq(carol))
            .exec(&app.db)
            .await
            .unwrap();
        app.gens
            .submit(carol, true, input("key-watching-2", "a quiet harbour", 1))
            .await
            .unwrap();
        drain(&app.gens, Duration::from_secs(60)).await;
        notices::queue_due(&app.db, &ctx(&app), &app.key, 100)
            .await
            .unwrap();
        assert_eq!(
            generation_mails(&app, "watching@example.org").await.len(),
            1
        );
    }
);

/// `n` accounts inserted directly (sign-up through HTTP would take
/// minutes), every 10th unconfirmed, every 13th being deleted, every 7th
/// with marketing consent, every 11th without service updates.
async fn many_accounts(app: &TestApp, n: usize) -> Vec<user::ActiveModel> {
    let now = Utc::now() - chrono::Duration::minutes(1);
    let rows: Vec<user::ActiveModel> = (0..n)
        .map(|i| user::ActiveModel {
            id: Set(Uuid::now_v7()),
            email: Set(format!("p{i}@bulk.example")),
            email_key: Set(format!("p{i}@bulk.example")),
            email_confirmed_at: Set((i % 10 != 0).then_some(now)),
            password_hash: Set(None),
            display_name: Set(format!("Person {i}")),
            avatar_url: Set(None),
            role: Set("user".into()),
            adult_attested_at: Set(now),
            terms_version: Set(uni1_domain::accounts::TERMS_VERSION.into()),
            terms_accepted_at: Set(now),
            created_at: Set(now),
            updated_at: Set(now),
            expiry_reminders: Set(false),
            expiry_reminded_at: Set(None),
            objected_at: Set(None),
            restricted_at: Set(None),
            training_consent_at: Set(None),
            training_consent_version: Set(None),
            deletion_due_at: Set((i % 13 == 0).then_some(now + chrono::Duration::days(7))),
            policy_seen_version: Set(None),
            notify_generation_done: Set(false),
            service_updates: Set(i % 11 != 0),
            marketing_consent_at: Set((i % 7 == 0).then_some(now)),
            marketing_consent_source: Set((i % 7 == 0).then(|| "settings".to_owned())),
            progress_watched_until: Set(None),
            picture_id: Set(None),
            disabled_at: Set(None),
            disabled_reason: Set(None),
        })
        .collect();
    for chunk in rows.chunks(500) {
        user::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&app.db)
            .await
            .unwrap();
    }
    rows
}

fn expected(n: usize, kind: Kind) -> usize {
    (0..n)
        .filter(|i| i % 10 != 0 && i % 13 != 0)
        .filter(|i| match kind {
            Kind::Service => i % 11 != 0,
            Kind::Marketing => i % 7 == 0,
            Kind::Policy => true,
        })
        .count()
}

/// The announcement's mails by recipient address: each must be 1.
async fn mails_per_person(app: &TestApp, kind: Kind) -> HashMap<String, usize> {
    let mails = mail_outbox::Entity::find()
        .filter(mail_outbox::Column::Kind.eq(format!("announcement_{}", kind.as_str())))
        .all(&app.db)
        .await
        .unwrap();
    let mut per = HashMap::new();
    for m in mails {
        *per.entry(m.to_address).or_insert(0) += 1;
    }
    per
}

async fn announcement_tests(backend: Backend) {
    crate::support::run(backend, |app: TestApp| async move {
        const N: usize = 10_000;
        let rows = many_accounts(&app, N).await;
        let pace = Pace {
            per_minute: 600,
            batch: 400,
        };
        let id = announcements::create(
            &app.db,
            Kind::Service,
            "Planned maintenance on Sunday",
            "The site is down for an hour.\n\nImages stay safe.",
            Utc::now(),
        )
        .await
        .unwrap();

        // Senders killed at different moments: between batches or inside
        // one (the transaction is dropped and rolls back).
        for wait_ms in [5u64, 40, 90, 15, 160, 60] {
            let (db, ctx, key) = (app.db.clone(), ctx(&app), app.key.clone());
            let sender =
                tokio::spawn(async move { announcements::send(&db, &ctx, &key, id, pace).await });
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
            sender.abort();
            let _ = sender.await;
        }
        let partial = announcement::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        // Two senders at once finish it.
        let run = || {
            let (db, ctx, key) = (app.db.clone(), ctx(&app), app.key.clone());
            tokio::spawn(async move { announcements::send(&db, &ctx, &key, id, pace).await })
        };
        let (a, b) = (run(), run());
        a.await.unwrap().unwrap();
        b.await.unwrap().unwrap();

        let want = expected(N, Kind::Service);
        let done = announcement::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert!(done.completed_at.is_some());
        assert_eq!(done.queued as usize, want);
        assert!(partial.queued <= done.queued);
        let recipients = announcement_recipient::Entity::find()
            .filter(announcement_recipient::Column::AnnouncementId.eq(id))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(recipients as usize, want);
        let per = mails_per_person(&app, Kind::Service).await;
        assert_eq!(per.len(), want, "every recipient has a mail");
        assert!(per.values().all(|&n| n == 1), "nobody has two");
        for (i, row) in rows.iter().enumerate() {
            let email = row.email.clone().unwrap();
            let eligible = i % 10 != 0 && i % 13 != 0 && i % 11 != 0;
            assert_eq!(per.contains_key(&email), eligible, "{email}");
        }
        // Paced: at most 600 fall due within a minute of the first.
        let mut due: Vec<_> = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::Kind.eq("announcement_service"))
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.send_after, m.list_unsubscribe))
            .collect();
        due.sort_by_key(|d| d.0);
        let first = due[0].0;
        let within_a_minute = due
            .iter()
            .filter(|d| d.0 < first + chrono::Duration::minutes(1))
            .count();
        assert!(
            within_a_minute <= 600,
            "{within_a_minute} due in the first minute"
        );
        assert!(due.iter().all(|d| d
            .1
            .as_deref()
            .is_some_and(|h| h.contains("service_updates"))));
        // Sending again queues nothing more.
        announcements::send(&app.db, &ctx(&app), &app.key, id, pace)
            .await
            .unwrap();
        assert_eq!(mails_per_person(&app, Kind::Service).await.len(), want);

        // Marketing reaches only those who consented; a policy change
        // reaches everyone active and has no unsubscribe header.
        for kind in [Kind::Marketing, Kind::Policy] {
            let id = announcements::create(&app.db, kind, "News", "Body", Utc::now())
                .await
                .unwrap();
            announcements::send(&app.db, &ctx(&app), &app.key, id, Pace::default())
                .await
                .unwrap();
            let per = mails_per_person(&app, kind).await;
            assert_eq!(per.len(), expected(N, kind), "{kind:?}");
            assert!(per.values().all(|&n| n == 1));
            for (i, row) in rows.iter().enumerate() {
                let email = row.email.clone().unwrap();
                if kind == Kind::Marketing && i % 7 != 0 {
                    assert!(!per.contains_key(&email), "{email} did not opt in");
                }
            }
            let headers = mail_outbox::Entity::find()
                .filter(mail_outbox::Column::Kind.eq(format!("announcement_{}", kind.as_str())))
                .filter(mail_outbox::Column::ListUnsubscribe.is_not_null())
                .count(&app.db)
                .await
                .unwrap() as usize;
            assert_eq!(
                headers,
                if kind == Kind::Policy { 0 } else { per.len() },
                "{kind:?}"
            );
        }
    })
    .await;
}

mod announcements_are_queued_once_per_recipient {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::announcement_tests(crate::support::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::announcement_tests(crate::support::Backend::Postgres).await;
    }
}

/// Queues a marketing mail to a new member and delivers it with `mailer`.
async fn deliver_marketing(
    app: &TestApp,
    email: &str,
    mailer: &dyn uni1_domain::mail::delivery::Mailer,
) {
    let (v, _) = member(app, email, "198.51.100.89").await;
    set_pref(app, &v, "marketing", "on").await;
    // The confirmation mail is delivered too; only the news matters here.
    let id = announcements::create(
        &app.db,
        Kind::Marketing,
        "Spring news",
        "Hello there.",
        Utc::now(),
    )
    .await
    .unwrap();
    announcements::send(&app.db, &ctx(app), &app.key, id, Pace::default())
        .await
        .unwrap();
    let from = "uni1 <no-reply@uni1.test>".parse().unwrap();
    for _ in 0..5 {
        deliver_due(
            &app.db,
            &app.key,
            mailer,
            &from,
            Utc::now() + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    }
    let left = mail_outbox::Entity::find()
        .filter(mail_outbox::Column::SentAt.is_null())
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 0, "everything was delivered");
}

on_both_backends!(
    delivered_mail_carries_the_list_unsubscribe_headers,
    |app: TestApp| async move {
        let outbox = std::env::temp_dir().join(format!("uni1-outbox-{}", Uuid::new_v4()));
        let mailer = uni1_server::mailers::OutboxMailer(outbox.clone());
        deliver_marketing(&app, "headers@example.org", &mailer).await;
        let news: Vec<String> = std::fs::read_dir(&outbox)
            .unwrap()
            .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
            .filter(|eml| eml.contains("Spring news"))
            .collect();
        assert_eq!(news.len(), 1);
        // Unfold the header lines.
        let eml = news[0].replace("\r\n ", " ").replace("\n ", " ");
        let id = user::Entity::find()
            .filter(user::Column::EmailKey.eq("headers@example.org"))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .id;
        let link = Unsubscribe::new(&app.key).link(&ctx(&app), id, Category::Marketing);
        assert!(
            eml.contains(&format!(
                "List-Unsubscribe: <{link}>, <mailto:operator@uni1.test?subject=unsubscribe%20"
            )),
            "{eml}"
        );
        assert!(
            eml.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{eml}"
        );
        std::fs::remove_dir_all(outbox).ok();
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_unsubscribe_headers_arrive_over_real_smtp() {
    let (Ok(smtp), Ok(maildev)) = (
        std::env::var("UNI1_TEST_SMTP_URL"),
        std::env::var("UNI1_TEST_MAILDEV_URL"),
    ) else {
        if std::env::var("UNI1_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("UNI1_TEST_SMTP_URL and UNI1_TEST_MAILDEV_URL are required");
        }
        eprintln!("\n!!! SKIPPING the SMTP test: no maildev (run it through `make test`)\n");
        return;
    };
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let smtp = smtp.clone();
        let maildev = maildev.clone();
        crate::support::run(backend, |app: TestApp| async move {
            let address = format!("news-{}@example.org", Uuid::new_v4().simple());
            let transport = uni1_server::mailers::SmtpMailer::from_url(&smtp).unwrap();
            deliver_marketing(&app, &address, &transport).await;
            let inbox: serde_json::Value =
                serde_json::from_str(&crate::mail::http_get(&format!("{maildev}/api/email")).await)
                    .unwrap();
            let mail = inbox
                .as_array()
                .unwrap()
                .iter()
                .find(|m| {
                    m["to"][0]["address"] == address.as_str() && m["subject"] == "Spring news"
                })
                .unwrap_or_else(|| panic!("no news to {address} in maildev"));
            // The message as it arrived (maildev's JSON lists few headers).
            let source = crate::mail::http_get(&format!(
                "{maildev}/api/email/{}/source",
                mail["id"].as_str().unwrap()
            ))
            .await
            .replace("\r\n ", " ")
            .replace("\n ", " ");
            let header = source
                .lines()
                .find_map(|l| l.strip_prefix("List-Unsubscribe: "))
                .unwrap_or_else(|| panic!("no List-Unsubscribe in {source}"))
                .to_owned();
            assert!(
                header.contains("/unsubscribe/") && header.contains("mailto:operator@uni1.test"),
                "{header}"
            );
            assert!(
                source.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
                "{source}"
            );
            // The link in the header unsubscribes with one POST.
            let url = header
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_owned();
            let path = url.strip_prefix(crate::support::ORIGIN).unwrap();
            let token = path.strip_prefix("/unsubscribe/").unwrap();
            assert_eq!(one_click(&app, token).await.status, 200);
            let u = user::Entity::find()
                .filter(user::Column::EmailKey.eq(address.as_str()))
                .one(&app.db)
                .await
                .unwrap()
                .unwrap();
            assert!(u.marketing_consent_at.is_none());
        })
        .await;
    }
}

on_both_backends!(
    the_operator_announces_from_the_command_line,
    |app: TestApp| async move {
        use uni1_server::config::AdminCommand;
        let (_, id) = member(&app, "reader@example.org", "198.51.100.90").await;
        let body = std::env::temp_dir().join(format!("uni1-announce-{}.txt", Uuid::new_v4()));
        std::fs::write(
            &body,
            "Our privacy policy changes on 1 January.\n\nWhat changes: …",
        )
        .unwrap();
        let announce = |kind: &str, subject: &str| AdminCommand::Announce {
            kind: kind.into(),
            subject: subject.into(),
            body_file: body.clone(),
        };
        let message = uni1_server::admin::run(
            app.db.clone(),
            app.key.clone(),
            announce("policy", "A change to our privacy policy"),
            None,
        )
        .await
        .unwrap();
        assert!(message.contains("(policy) recorded"), "{message}");
        // Refused: an unknown kind, an empty or two-line subject.
        for (kind, subject) in [("promo", "Hi"), ("service", " "), ("service", "a\nb")] {
            let err = uni1_server::admin::run(
                app.db.clone(),
                app.key.clone(),
                announce(kind, subject),
                None,
            )
            .await
            .unwrap_err()
            .to_string();
            assert!(err.contains("kind") || err.contains("subject"), "{err}");
        }
        std::fs::remove_file(&body).ok();
        // The background pass of a server sends it: a required notice,
        // without an unsubscribe link.
        announcements::pass(&app.db, &ctx(&app), &app.key, Pace::default()).await;
        let mail = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::UserId.eq(id))
            .filter(mail_outbox::Column::Kind.eq("announcement_policy"))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert!(mail.list_unsubscribe.is_none());
        let mail = crate::fixtures::opened(&app, mail);
        assert_eq!(mail.subject, "A change to our privacy policy");
        assert!(mail
            .text_body
            .contains("Our privacy policy changes on 1 January."));
        assert!(mail.text_body.contains("required notice"));
        assert!(!mail.text_body.contains("/unsubscribe/"));
    }
);
