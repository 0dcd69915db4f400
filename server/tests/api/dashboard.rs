//! The staff dashboard and announcements (ADM-1, MAIL-3): the daily stats
//! job's figures against data made here, its reruns writing the same rows,
//! the charts in the SSR HTML of `/admin`; announcements refused to
//! support, a test mail only to the admin, one mail per eligible person,
//! marketing only to those who agreed, each action audited.

#![allow(clippy::unwrap_used)] // test helpers may unwrap

use chrono::{DateTime, Duration, NaiveTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uni1_domain::admin::stats;
use uni1_domain::entities::generation::Status;
use uni1_domain::entities::{
    credit_ledger, daily_stat, generation, mail_outbox, order, staff_action, user,
};
use uni1_domain::mail::announcements::{self, Pace};
use uni1_domain::mail::MailContext;
use uuid::Uuid;

use crate::fixtures::member;
use crate::on_both_backends;
use crate::staff::{post, staff};
use crate::support::TestApp;

async fn person(app: &TestApp, email: &str, created: DateTime<Utc>) -> Uuid {
    let id = Uuid::now_v7();
    user::ActiveModel {
        id: Set(id),
        email: Set(email.into()),
        email_key: Set(email.into()),
        email_confirmed_at: Set(Some(created)),
        password_hash: Set(None),
        display_name: Set("Seeded".into()),
        avatar_url: Set(None),
        role: Set("user".into()),
        adult_attested_at: Set(created),
        terms_version: Set("1".into()),
        terms_accepted_at: Set(created),
        created_at: Set(created),
        updated_at: Set(created),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    id
}

async fn job(
    app: &TestApp,
    owner: Uuid,
    status: Status,
    queued: DateTime<Utc>,
    finished: Option<DateTime<Utc>>,
) {
    let id = Uuid::now_v7();
    generation::ActiveModel {
        id: Set(id),
        user_id: Set(owner),
        idempotency_key: Set(id.to_string()),
        model_id: Set("builtin".into()),
        backend: Set("builtin".into()),
        prompt: Set("a lighthouse".into()),
        negative_prompt: Set(None),
        aspect_ratio: Set("1:1".into()),
        image_count: Set(1),
        seed_requested: Set(None),
        seed_used: Set(None),
        style: Set(None),
        reference_path: Set(None),
        reference_strength: Set(None),
        credits: Set(1),
        status: Set(status),
        attempts: Set(1),
        max_attempts: Set(3),
        run_after: Set(queued),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        external_id: Set(None),
        cancel_requested: Set(false),
        error: Set(None),
        error_detail: Set(None),
        parent_id: Set(None),
        queued_at: Set(queued),
        started_at: Set(finished),
        finished_at: Set(finished),
        done_notice: Set(None),
        api_key_id: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap();
}

async fn ledger(
    app: &TestApp,
    owner: Uuid,
    kind: &str,
    amount: i64,
    held: i64,
    debt: i64,
    at: DateTime<Utc>,
) {
    credit_ledger::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(owner),
        kind: Set(kind.into()),
        amount: Set(amount),
        held_change: Set(held),
        debt_change: Set(debt),
        expiring_change: Set(0),
        balance_after: Set(0),
        generation_id: Set(None),
        idempotency_key: Set(format!("test:{}", Uuid::now_v7())),
        note: Set(None),
        created_at: Set(at),
    }
    .insert(&app.db)
    .await
    .unwrap();
}

struct Sale {
    credits: i64,
    amount: i64,
    currency: &'static str,
    paid: DateTime<Utc>,
    refunded: i64,
    updated: DateTime<Utc>,
}

async fn sale(app: &TestApp, owner: Uuid, s: Sale) {
    let id = Uuid::now_v7();
    order::ActiveModel {
        id: Set(id),
        user_id: Set(Some(owner)),
        provider: Set("stripe".into()),
        kind: Set("pack".into()),
        item: Set("starter".into()),
        item_name: Set("Starter".into()),
        credits: Set(s.credits),
        amount: Set(s.amount),
        currency: Set(s.currency.into()),
        status: Set(if s.refunded > 0 { "refunded" } else { "paid" }.into()),
        checkout_id: Set(Some(format!("cs_{id}"))),
        payment_id: Set(None),
        refunded_amount: Set(s.refunded),
        refunded_credits: Set(0),
        invoice_id: Set(None),
        subscription_id: Set(None),
        receipt_url: Set(None),
        created_at: Set(s.paid),
        updated_at: Set(s.updated),
        paid_at: Set(Some(s.paid)),
    }
    .insert(&app.db)
    .await
    .unwrap();
}

/// Every row of `daily_stats` without the time it was computed.
async fn rows(app: &TestApp) -> Vec<daily_stat::Model> {
    daily_stat::Entity::find()
        .order_by_asc(daily_stat::Column::Day)
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|mut r| {
            r.computed_at = DateTime::<Utc>::MIN_UTC;
            r
        })
        .collect()
}

on_both_backends!(
    daily_stats_count_each_day_and_reruns_write_the_same_rows,
    |app| async move {
        let now = Utc::now();
        let midnight = now.date_naive().and_time(NaiveTime::MIN).and_utc();
        let today = midnight + Duration::hours(1);
        let yesterday = midnight - Duration::hours(12);
        let three_days_ago = midnight - Duration::days(3) + Duration::hours(5);

        // Three sign-ups today (each signs in), one yesterday.
        let (admin, _) = staff(&app, "admin@example.org", "198.51.100.70", "admin", true).await;
        member(&app, "ann@example.org", "198.51.100.71").await;
        member(&app, "ben@example.org", "198.51.100.72").await;
        let x = person(&app, "xia@example.org", yesterday).await;
        // Generations: by outcome today, one yesterday, one still queued.
        for status in [
            Status::Succeeded,
            Status::Succeeded,
            Status::Failed,
            Status::Refused,
            Status::Cancelled,
        ] {
            job(&app, x, status, today, Some(today + Duration::minutes(1))).await;
        }
        job(&app, x, Status::Queued, today, None).await;
        job(&app, x, Status::Succeeded, yesterday, Some(yesterday)).await;
        // Credits spent (captures) and a refund (3 taken back, 2 owed).
        ledger(&app, x, "capture", 0, -4, 0, today).await;
        ledger(&app, x, "capture", 0, -4, 0, today).await;
        ledger(&app, x, "capture", 0, -3, 0, yesterday).await;
        ledger(&app, x, "grant", 100, 0, 0, today).await;
        ledger(&app, x, "refund", -3, 0, 2, today).await;
        // Sales: two today in euros, one yesterday in dollars, one three
        // days ago refunded today.
        for s in [
            Sale {
                credits: 100,
                amount: 1200,
                currency: "eur",
                paid: today,
                refunded: 0,
                updated: today,
            },
            Sale {
                credits: 50,
                amount: 800,
                currency: "eur",
                paid: today,
                refunded: 0,
                updated: today,
            },
            Sale {
                credits: 40,
                amount: 500,
                currency: "usd",
                paid: yesterday,
                refunded: 0,
                updated: yesterday,
            },
            Sale {
                credits: 80,
                amount: 1000,
                currency: "eur",
                paid: three_days_ago,
                refunded: 1000,
                updated: today,
            },
        ] {
            sale(&app, x, s).await;
        }

        // First run: today, yesterday and the 28 days before (backfill).
        assert_eq!(stats::refresh(&app.db, now).await.unwrap(), 30);
        let first = rows(&app).await;
        assert_eq!(first.len(), 30);
        let day = |d: DateTime<Utc>| {
            let key = d.format("%Y-%m-%d").to_string();
            first.iter().find(|r| r.day == key).cloned().unwrap()
        };
        let t = day(today);
        assert_eq!(t.signups, 3, "{t:?}");
        assert_eq!(
            t.active_people, 4,
            "three who signed in, one who generated: {t:?}"
        );
        assert_eq!(
            (
                t.generations_succeeded,
                t.generations_failed,
                t.generations_refused,
                t.generations_cancelled
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(t.credits_sold, 150);
        assert_eq!(t.credits_spent, 8);
        assert_eq!((t.refunds, t.credits_refunded), (1, 5));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&t.revenue).unwrap(),
            serde_json::json!({"eur": 2000})
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&t.refunded).unwrap(),
            serde_json::json!({"eur": 1000})
        );
        let y = day(yesterday);
        assert_eq!(
            (y.signups, y.active_people, y.generations_succeeded),
            (1, 1, 1)
        );
        assert_eq!((y.credits_sold, y.credits_spent), (40, 3));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&y.revenue).unwrap(),
            serde_json::json!({"usd": 500})
        );
        let old = day(three_days_ago);
        assert_eq!(old.credits_sold, 80);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&old.revenue).unwrap(),
            serde_json::json!({"eur": 1000})
        );

        // Reruns, and two at once, leave the same rows; later runs only
        // recompute today and yesterday.
        assert_eq!(stats::refresh(&app.db, now).await.unwrap(), 2);
        let (a, b) = tokio::join!(stats::refresh(&app.db, now), stats::refresh(&app.db, now));
        a.unwrap();
        b.unwrap();
        assert_eq!(rows(&app).await, first);

        // The dashboard's function and page: today live, charts as SVG.
        let r = post(&app, "/api/admin_dashboard", &[], &admin).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let d = r.json();
        assert_eq!(d["today"]["signups"], 3);
        assert_eq!(d["today"]["succeeded"], 2);
        assert_eq!(d["today"]["revenue"][0], "€20.00");
        assert_eq!(d["month"]["credits_sold"], 270);
        assert_eq!(d["days"].as_array().unwrap().len(), 30);
        assert_eq!(d["currencies"], serde_json::json!(["eur", "usd"]));
        let page = app.get_as("/admin", &admin).await;
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("data-testid=\"dashboard\""),
            "{}",
            page.body
        );
        assert!(page.body.contains("<svg") && page.body.contains("role=\"img\""));
        assert!(page
            .body
            .contains("<title id=\"chart-signups-title\">Sign-ups per day</title>"));
        assert!(page.body.contains("Generations by outcome"));
        assert!(page.body.contains("Revenue in EUR"));
    }
);

on_both_backends!(
    announcements_go_to_the_right_people_once_and_are_audited,
    |app| async move {
        let (admin, admin_id) =
            staff(&app, "admin@example.org", "198.51.100.80", "admin", true).await;
        let (support, _) = staff(
            &app,
            "support@example.org",
            "198.51.100.81",
            "support",
            true,
        )
        .await;
        let (_, ann) = member(&app, "ann@example.org", "198.51.100.82").await;
        let (_, ben) = member(&app, "ben@example.org", "198.51.100.83").await;
        let (_, cid) = member(&app, "cid@example.org", "198.51.100.84").await;
        // Ben unsubscribed from service updates; Cid agreed to marketing.
        let mut b: user::ActiveModel = user::Entity::find_by_id(ben)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .into();
        b.service_updates = Set(false);
        b.update(&app.db).await.unwrap();
        let mut c: user::ActiveModel = user::Entity::find_by_id(cid)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .into();
        c.marketing_consent_at = Set(Some(Utc::now()));
        c.marketing_consent_source = Set(Some("settings".into()));
        c.update(&app.db).await.unwrap();
        let draft = |kind: &str| {
            vec![
                ("kind", kind.to_owned()),
                ("subject", "  Spring news  ".to_owned()),
                (
                    "body",
                    "New styles are here.\n\nTry them in the studio.".to_owned(),
                ),
            ]
        };
        let mut confirmed = draft("marketing");
        confirmed.push(("confirm", "on".into()));

        // Support is refused by the guard; nothing is made.
        for path in [
            "/api/admin_announcement_preview",
            "/api/admin_announcement_test",
            "/api/admin_announce",
        ] {
            let r = post(&app, path, &confirmed, &support).await;
            assert_eq!(r.status, 403, "{path}: {}", r.body);
        }
        assert_eq!(
            post(&app, "/api/admin_announcements", &[], &support)
                .await
                .status,
            403
        );
        let page = app.get_as("/admin/announcements", &support).await;
        assert!(page.body.contains("staff-refused"), "{}", page.body);

        // Preview: the mail as sent, addressed to the admin.
        let r = post(
            &app,
            "/api/admin_announcement_preview",
            &draft("marketing"),
            &admin,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let p = r.json();
        assert_eq!(p["subject"], "Spring news");
        let text = p["text"].as_str().unwrap();
        assert!(
            text.contains("New styles are here.") && text.contains("agreed to product news"),
            "{text}"
        );
        assert!(p["audience"].as_str().unwrap().contains("agreed"));
        let r = post(
            &app,
            "/api/admin_announcement_preview",
            &draft("gossip"),
            &admin,
        )
        .await;
        assert_eq!(r.status, 422);
        let mut empty = draft("service");
        empty[1].1 = " ".into();
        let r = post(&app, "/api/admin_announcement_preview", &empty, &admin).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("subject"), "{}", r.body);

        // A test reaches the admin only.
        let r = post(
            &app,
            "/api/admin_announcement_test",
            &draft("marketing"),
            &admin,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), "admin@example.org");
        let announcement_mails = || async {
            mail_outbox::Entity::find()
                .filter(mail_outbox::Column::Kind.starts_with("announcement"))
                .all(&app.db)
                .await
                .unwrap()
        };
        let mails = announcement_mails().await;
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].to_address, "admin@example.org");
        assert_eq!(mails[0].kind, "announcement_test_marketing");
        let opened = crate::fixtures::opened(&app, mails[0].clone());
        assert_eq!(opened.text_body, text, "the test is the preview");

        // Sending needs the confirmation.
        let r = post(&app, "/api/admin_announce", &draft("marketing"), &admin).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("confirm"), "{}", r.body);
        assert_eq!(announcement_mails().await.len(), 1);

        let ctx = MailContext {
            base_url: app.origin.clone(),
            operator_name: "Test Operator".into(),
            operator_email: "operator@uni1.test".into(),
        };
        let send = |form: Vec<(&'static str, String)>| {
            let (app, admin, ctx) = (&app, &admin, &ctx);
            async move {
                let r = post(app, "/api/admin_announce", &form, admin).await;
                assert_eq!(r.status, 200, "{}", r.body);
                let id = Uuid::parse_str(r.json().as_str().unwrap()).unwrap();
                // What every server's background sender does.
                announcements::send(&app.db, ctx, &app.key, id, Pace::default())
                    .await
                    .unwrap();
                id
            }
        };
        // Marketing: only Cid, who agreed.
        send(confirmed).await;
        let db = &app.db;
        let to = |kind: &'static str| async move {
            let mut to: Vec<String> = mail_outbox::Entity::find()
                .filter(mail_outbox::Column::Kind.eq(kind))
                .all(db)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.to_address)
                .collect();
            to.sort();
            to
        };
        assert_eq!(to("announcement_marketing").await, ["cid@example.org"]);
        // A service update: everyone but Ben, once each.
        let mut service = draft("service");
        service.push(("confirm", "on".into()));
        send(service).await;
        assert_eq!(
            to("announcement_service").await,
            [
                "admin@example.org",
                "ann@example.org",
                "cid@example.org",
                "support@example.org"
            ]
        );
        let _ = ann;

        // The list shows both, done, every recipient queued.
        let list = post(&app, "/api/admin_announcements", &[], &admin)
            .await
            .json();
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["kind"], "Service update");
        assert_eq!(
            (list[0]["queued"].as_u64(), list[0]["total"].as_u64()),
            (Some(4), Some(4))
        );
        assert_eq!(
            (list[1]["queued"].as_u64(), list[1]["total"].as_u64()),
            (Some(1), Some(1))
        );
        assert!(list.iter().all(|a| a["done"] == true));
        let page = app.get_as("/admin/announcements", &admin).await;
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("Spring news") && page.body.contains("4 / 4"),
            "{}",
            page.body
        );

        // Each action is audited, by the admin, with the request id.
        let actions = staff_action::Entity::find()
            .filter(staff_action::Column::Action.starts_with("announcement."))
            .all(&app.db)
            .await
            .unwrap();
        let mut names: Vec<&str> = actions.iter().map(|a| a.action.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "announcement.send.marketing",
                "announcement.send.service",
                "announcement.test"
            ]
        );
        assert!(actions.iter().all(|a| a.actor_id == Some(admin_id)
            && a.reason.as_deref() == Some("Spring news")
            && a.request_id.as_deref().is_some_and(|r| !r.is_empty())));
    }
);
