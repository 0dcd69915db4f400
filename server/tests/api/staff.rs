//! Staff pages (ADM-1, SEC-1, SEC-2, SEC-3): the role matrix over every
//! staff endpoint; an incident recorded, its clock, its people notified by
//! mail exactly once (even when a run stops midway and two runs race), the
//! authority's record; every action in the audit log and its CSV; the
//! Health page's figures (ANA-2).

#![allow(clippy::unwrap_used)] // test helpers may unwrap

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uni1_domain::entities::{
    generation, incident, incident_notice, mail_outbox, staff_action, user,
};

use crate::fixtures::{enable_two_factor, member};
use crate::on_both_backends;
use crate::support::{TestApp, Visitor};

async fn set_role(app: &TestApp, id: uuid::Uuid, role: &str) {
    let mut row: user::ActiveModel = user::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .into();
    row.role = Set(role.to_owned());
    row.update(&app.db).await.unwrap();
}

/// A signed-in person with `role`, with two-factor on when `two_factor`.
pub(crate) async fn staff(
    app: &TestApp,
    email: &str,
    ip: &str,
    role: &str,
    two_factor: bool,
) -> (Visitor, uuid::Uuid) {
    let (v, id) = member(app, email, ip).await;
    set_role(app, id, role).await;
    if two_factor {
        enable_two_factor(app, &v).await;
    }
    (v, id)
}

fn incident_form(selection: &str, accounts: &str) -> Vec<(&'static str, String)> {
    vec![
        ("title", "Backup copy exposed".into()),
        (
            "what_happened",
            "A database backup was readable by a misconfigured storage bucket for two hours."
                .into(),
        ),
        (
            "what_we_do",
            "We closed the bucket, rotated keys and are reviewing access logs.".into(),
        ),
        (
            "what_to_do",
            "Change your password and turn on two-factor authentication.".into(),
        ),
        ("severity", "high".into()),
        ("categories", "e-mail addresses, display names".into()),
        (
            "discovered_at",
            (chrono::Utc::now() - chrono::Duration::hours(2))
                .format("%Y-%m-%dT%H:%M")
                .to_string(),
        ),
        ("selection", selection.into()),
        ("accounts", accounts.into()),
    ]
}

pub(crate) async fn post(
    app: &TestApp,
    path: &str,
    form: &[(&str, String)],
    v: &Visitor,
) -> crate::support::Reply {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.post_as(path, &pairs, v).await
}

on_both_backends!(
    only_staff_with_two_factor_reach_staff_functions,
    |app| async move {
        let (user_v, user_id) = member(&app, "user@example.org", "198.51.100.40").await;
        let (support_bare, _) = staff(
            &app,
            "support1@example.org",
            "198.51.100.41",
            "support",
            false,
        )
        .await;
        let (support, _) = staff(
            &app,
            "support2@example.org",
            "198.51.100.42",
            "support",
            true,
        )
        .await;
        let (admin, _) = staff(&app, "admin@example.org", "198.51.100.43", "admin", true).await;
        let anon = Visitor::new("198.51.100.44");
        // An incident to act on.
        let r = post(
            &app,
            "/api/admin_record_incident",
            &incident_form("everyone", ""),
            &admin,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let id = r.json().as_str().unwrap().to_owned();

        let reads: Vec<(&str, Vec<(&str, String)>)> = vec![
            ("/api/admin_frame", vec![]),
            ("/api/admin_incidents", vec![]),
            ("/api/admin_audit", vec![]),
            ("/api/admin_people", vec![("q", "user@".into())]),
            ("/api/admin_person", vec![("id", user_id.to_string())]),
            ("/api/admin_privacy_queue", vec![]),
            ("/api/admin_payments", vec![]),
            ("/api/admin_health", vec![]),
            ("/api/admin_dashboard", vec![]),
            ("/api/admin_moderation", vec![]),
        ];
        let writes: Vec<(&str, Vec<(&str, String)>)> = vec![
            ("/api/admin_record_incident", incident_form("everyone", "")),
            (
                "/api/admin_close_incident",
                vec![("id", id.clone()), ("measures", "Keys rotated.".into())],
            ),
            (
                "/api/admin_adjust_credits",
                vec![
                    ("id", user_id.to_string()),
                    ("amount", "10".into()),
                    ("reason", "goodwill".into()),
                    ("form_key", "matrix-key-1".into()),
                ],
            ),
            (
                "/api/admin_change_role",
                vec![
                    ("id", user_id.to_string()),
                    ("role", "support".into()),
                    ("reason", "promotion".into()),
                ],
            ),
            ("/api/admin_announcements", vec![]),
            (
                "/api/admin_announcement_preview",
                vec![
                    ("kind", "service".into()),
                    ("subject", "Maintenance".into()),
                    ("body", "Down for an hour.".into()),
                    ("confirm", "on".into()),
                ],
            ),
            (
                "/api/admin_announcement_test",
                vec![
                    ("kind", "service".into()),
                    ("subject", "Maintenance".into()),
                    ("body", "Down for an hour.".into()),
                    ("confirm", "on".into()),
                ],
            ),
            (
                "/api/admin_announce",
                vec![
                    ("kind", "service".into()),
                    ("subject", "Maintenance".into()),
                    ("body", "Down for an hour.".into()),
                    ("confirm", "on".into()),
                ],
            ),
        ];
        // Support's actions (moderation): support and admins reach them (404:
        // nothing to decide), nobody else does.
        let nil = uuid::Uuid::nil().to_string();
        let support_writes: Vec<(&str, Vec<(&str, String)>)> = vec![
            (
                "/api/admin_moderation_decide",
                vec![
                    ("id", nil.clone()),
                    ("decision", "dismiss".into()),
                    ("reason", "Looked at it.".into()),
                ],
            ),
            (
                "/api/admin_underage_review",
                vec![("id", nil.clone()), ("outcome", "Looked at it.".into())],
            ),
            ("/api/admin_order", vec![("id", nil.clone())]),
        ];
        // (who, status of reads, status of writes)
        let matrix = [
            (&anon, 401, 401),
            (&user_v, 403, 403),
            (&support_bare, 403, 403),
            (&support, 200, 403),
        ];
        for (who, read, write) in matrix {
            for (path, form) in &reads {
                let r = post(&app, path, form, who).await;
                assert_eq!(r.status, read, "{path} as {:?}: {}", who.ip, r.body);
            }
            for (path, form) in &writes {
                let r = post(&app, path, form, who).await;
                assert_eq!(r.status, write, "{path} as {:?}: {}", who.ip, r.body);
            }
            let reached = if read == 200 { 404 } else { read };
            for (path, form) in &support_writes {
                let r = post(&app, path, form, who).await;
                assert_eq!(r.status, reached, "{path} as {:?}: {}", who.ip, r.body);
            }
        }
        for (path, form) in &support_writes {
            assert_eq!(post(&app, path, form, &admin).await.status, 404, "{path}");
        }
        let again = [("id", nil.clone()), ("reason", "Fixed it.".into())];
        for (who, status) in [
            (&anon, 401),
            (&user_v, 403),
            (&support_bare, 403),
            (&support, 403),
            (&admin, 422),
        ] {
            let r = post(&app, "/api/admin_apply_event_again", &again, who).await;
            assert_eq!(r.status, status, "apply again as {:?}: {}", who.ip, r.body);
        }
        // Refunds: admins only (404: no such order).
        let refund = [("id", nil.clone()), ("reason", "Asked for it.".into())];
        for (who, status) in [
            (&anon, 401),
            (&user_v, 403),
            (&support_bare, 403),
            (&support, 403),
            (&admin, 404),
        ] {
            let r = post(&app, "/api/admin_refund_order", &refund, who).await;
            assert_eq!(r.status, status, "refund as {:?}: {}", who.ip, r.body);
        }
        let look = format!("/admin/moderation/flags/{nil}/image");
        let reason = [("reason", "Checking.".to_owned())];
        assert_eq!(post(&app, &look, &reason, &anon).await.status, 303);
        assert_eq!(post(&app, &look, &reason, &user_v).await.status, 404);
        assert_eq!(post(&app, &look, &reason, &support_bare).await.status, 403);
        assert_eq!(post(&app, &look, &reason, &support).await.status, 404);
        let r = post(&app, "/api/admin_frame", &[], &support_bare).await;
        assert!(r.body.contains("two-factor"), "says why: {}", r.body);
        // Staff pages and downloads: signed out -> sign in; not staff -> 404,
        // before anything of the page is rendered.
        for path in [
            "/admin",
            "/admin/incidents",
            "/admin/audit",
            "/admin/health",
            "/admin/announcements",
            "/admin/moderation",
            "/admin/audit.csv",
            "/admin/users",
            &format!("/admin/users/{user_id}"),
            "/admin/privacy",
            "/admin/payments",
            &format!("/admin/payments/orders/{nil}"),
            &format!("/admin/incidents/{id}/record.txt"),
        ] {
            let r = app.get_as(path, &anon).await;
            assert_eq!(r.status, 303, "{path}");
            assert_eq!(r.header("location"), Some("/sign-in?next=/admin"));
            let r = app.get_as(path, &user_v).await;
            assert_eq!(r.status, 404, "{path}");
            assert!(
                !r.body.contains("Incidents"),
                "{path}: no staff page for people who are not staff"
            );
        }
        let r = app.get_as("/admin", &support_bare).await;
        assert!(
            r.body.contains("staff-refused") && r.body.contains("two-factor"),
            "{}",
            r.body
        );
        let r = app.get_as("/admin/audit.csv", &support_bare).await;
        assert_eq!(r.status, 403);
        let r = app.get_as("/admin/audit.csv", &support).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let page = app.get_as("/admin/incidents", &support).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Backup copy exposed"), "{}", page.body);
        // Admin: everything, including closing.
        for (path, form) in &reads {
            assert_eq!(post(&app, path, form, &admin).await.status, 200, "{path}");
        }
        let r = post(
            &app,
            "/api/admin_close_incident",
            &[("id", id.clone()), ("measures", "Keys rotated.".into())],
            &admin,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
);

on_both_backends!(
    an_incident_is_recorded_its_people_told_once_and_reported,
    |app| async move {
        let (admin, admin_id) =
            staff(&app, "admin@example.org", "198.51.100.50", "admin", true).await;
        let (_, a) = member(&app, "ann@example.org", "198.51.100.51").await;
        let (_, b) = member(&app, "ben@example.org", "198.51.100.52").await;
        let (_, _c) = member(&app, "cid@example.org", "198.51.100.53").await;

        // Bad input: a clear message per field, nothing recorded.
        let mut bad = incident_form("accounts", "ann@example.org\nnot-an-address");
        bad[0].1 = String::new();
        let r = post(&app, "/api/admin_record_incident", &bad, &admin).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("title"), "{}", r.body);
        let mut bad = incident_form("accounts", "ann@example.org\nnot-an-address");
        let r = post(&app, "/api/admin_record_incident", &bad, &admin).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("Line 2"), "{}", r.body);
        bad[6].1 = (chrono::Utc::now() + chrono::Duration::days(1))
            .format("%Y-%m-%dT%H:%M")
            .to_string();
        bad[8].1 = "ann@example.org".into();
        let r = post(&app, "/api/admin_record_incident", &bad, &admin).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("future"), "{}", r.body);
        assert_eq!(incident::Entity::find().count(&app.db).await.unwrap(), 0);

        let r = post(
            &app,
            "/api/admin_record_incident",
            &incident_form(
                "accounts",
                "ANN@example.org\nben@example.org\nben@example.org",
            ),
            &admin,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let id = r.json().as_str().unwrap().to_owned();
        // The clock runs on every staff page: 72 h from discovery, 2 h gone.
        let frame = post(&app, "/api/admin_frame", &[], &admin).await.json();
        let clock = &frame["clocks"][0];
        assert_eq!(clock["id"], id.as_str());
        assert!(
            clock["remaining"].as_str().unwrap().starts_with("69 h")
                || clock["remaining"].as_str().unwrap().starts_with("70 h"),
            "{clock}"
        );
        assert_eq!(clock["overdue"], false);

        let r = post(
            &app,
            "/api/admin_notify_incident",
            &[("id", id.clone())],
            &admin,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), 2, "two people, each once");
        let again = post(
            &app,
            "/api/admin_notify_incident",
            &[("id", id.clone())],
            &admin,
        )
        .await;
        assert_eq!(again.json(), 0, "nobody is told twice");
        let mails = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::Kind.eq("incident"))
            .all(&app.db)
            .await
            .unwrap();
        let mut to: Vec<&str> = mails.iter().map(|m| m.to_address.as_str()).collect();
        to.sort();
        assert_eq!(to, ["ann@example.org", "ben@example.org"]);
        let text = crate::fixtures::opened(&app, mails[0].clone()).text_body;
        assert!(
            text.contains("What happened: A database backup")
                && text.contains("What you should do: Change your password"),
            "{text}"
        );
        let notices = incident_notice::Entity::find().all(&app.db).await.unwrap();
        let mut people: Vec<uuid::Uuid> = notices.iter().map(|n| n.user_id).collect();
        people.sort();
        let mut expected = vec![a, b];
        expected.sort();
        assert_eq!(people, expected);
        assert!(notices.iter().all(|n| n.mail_id.is_some()));
        // Told: the clock stops.
        let frame = post(&app, "/api/admin_frame", &[], &admin).await.json();
        assert_eq!(frame["clocks"].as_array().unwrap().len(), 0);

        // The authority's record.
        let record = app
            .get_as(&format!("/admin/incidents/{id}/record.txt"), &admin)
            .await;
        assert_eq!(record.status, 200);
        assert!(
            record.body.contains("2 people told by mail")
                && record.body.contains("within 72 hours"),
            "{}",
            record.body
        );
        assert!(record.body.contains("e-mail addresses, display names"));

        // Closing needs the measures.
        let r = post(
            &app,
            "/api/admin_close_incident",
            &[("id", id.clone()), ("measures", " ".into())],
            &admin,
        )
        .await;
        assert_eq!(r.status, 422);
        let r = post(
            &app,
            "/api/admin_close_incident",
            &[
                ("id", id.clone()),
                ("measures", "Bucket policy fixed; keys rotated.".into()),
            ],
            &admin,
        )
        .await;
        assert_eq!(r.status, 200);

        // Every action is in the audit log, with the actor and request id.
        let actions = staff_action::Entity::find().all(&app.db).await.unwrap();
        let mut names: Vec<&str> = actions.iter().map(|a| a.action.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "incident.close",
                "incident.notify",
                "incident.record",
                "incident.report"
            ]
        );
        assert!(actions.iter().all(|a| a.actor_id == Some(admin_id)
            && a.request_id.as_deref().is_some_and(|r| !r.is_empty())));
        let log = post(
            &app,
            "/api/admin_audit",
            &[("action", "incident.".into())],
            &admin,
        )
        .await
        .json();
        assert_eq!(log.as_array().unwrap().len(), 4);
        assert_eq!(log[0]["actor"], "admin@example.org");
        let none = post(
            &app,
            "/api/admin_audit",
            &[("actor", "nobody@example.org".into())],
            &admin,
        )
        .await
        .json();
        assert_eq!(none.as_array().unwrap().len(), 0);
        let bad_date = post(
            &app,
            "/api/admin_audit",
            &[("from", "yesterday".into())],
            &admin,
        )
        .await;
        assert_eq!(bad_date.status, 422);
        let csv = app
            .get_as("/admin/audit.csv?action=incident.", &admin)
            .await;
        assert_eq!(csv.status, 200);
        assert!(csv
            .body
            .starts_with("time,actor,action,target,reason,request_id\r\n"));
        assert_eq!(csv.body.matches("incident.").count(), 4, "{}", csv.body);
        // The export itself is audited.
        assert_eq!(
            staff_action::Entity::find()
                .filter(staff_action::Column::Action.eq("audit.export"))
                .count(&app.db)
                .await
                .unwrap(),
            1
        );
    }
);

on_both_backends!(
    notifying_continues_after_a_stop_and_never_twice_under_races,
    |app| async move {
        let (admin_v, _) = staff(&app, "admin@example.org", "198.51.100.60", "admin", true).await;
        // 600 more accounts, straight into the table.
        let now = chrono::Utc::now();
        let rows: Vec<user::ActiveModel> = (0..600)
            .map(|i| user::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                email: Set(format!("p{i}@example.org")),
                email_key: Set(format!("p{i}@example.org")),
                email_confirmed_at: Set(Some(now)),
                password_hash: Set(None),
                display_name: Set(format!("Person {i}")),
                avatar_url: Set(None),
                role: Set("user".into()),
                adult_attested_at: Set(now),
                terms_version: Set("1".into()),
                terms_accepted_at: Set(now),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            })
            .collect();
        user::Entity::insert_many(rows)
            .exec_without_returning(&app.db)
            .await
            .unwrap();
        let r = post(
            &app,
            "/api/admin_record_incident",
            &incident_form("everyone", ""),
            &admin_v,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let id = uuid::Uuid::parse_str(r.json().as_str().unwrap()).unwrap();

        // A run that stops after 150 people (the budget stands for a crash).
        let admin = app.admin.clone();
        let who = uni1_domain::accounts::CurrentUser {
            id: user::Entity::find()
                .filter(user::Column::Email.eq("admin@example.org"))
                .one(&app.db)
                .await
                .unwrap()
                .unwrap()
                .id,
            email: "admin@example.org".into(),
            display_name: "Admin".into(),
            role: uni1_domain::accounts::Role::Admin,
            email_confirmed: true,
            session_id: uuid::Uuid::now_v7(),
            deletion_due: None,
            policy_changed: false,
            objected: false,
            picture: None,
        };
        let staff = admin
            .require(Some(&who), uni1_domain::accounts::Role::Admin)
            .await
            .unwrap();
        let first = admin.notify_incident(&staff, id, 150, None).await.unwrap();
        assert_eq!((first.queued, first.complete), (150, false));
        let row = incident::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert!(row.notify_started_at.is_some() && row.notified_at.is_none());
        // Two servers' background passes take it up at the same time.
        let (x, y) = tokio::join!(
            uni1_domain::admin::incidents::notify_pass(&admin),
            uni1_domain::admin::incidents::notify_pass(&admin)
        );
        let total = 150 + x.unwrap() + y.unwrap();
        let everyone = user::Entity::find().count(&app.db).await.unwrap();
        assert_eq!(everyone, 601);
        assert_eq!(total, everyone, "each person exactly once");
        let mails = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::Kind.eq("incident"))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(mails.len() as u64, everyone);
        let mut to: Vec<String> = mails.into_iter().map(|m| m.to_address).collect();
        to.sort();
        to.dedup();
        assert_eq!(to.len() as u64, everyone, "no address twice");
        let row = incident::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.notified_count as u64, everyone);
        assert!(row.notified_at.is_some());
        assert_eq!(
            uni1_domain::admin::incidents::notify_pass(&admin)
                .await
                .unwrap(),
            0
        );
    }
);

on_both_backends!(
    the_health_page_counts_the_queue_times_and_errors,
    |app| async move {
        let (support, _) = staff(
            &app,
            "support@example.org",
            "198.51.100.70",
            "support",
            true,
        )
        .await;
        let (alice, _) = member(&app, "alice@example.org", "198.51.100.71").await;
        let generate = |key: &'static str| {
            let alice = alice.clone();
            let app = app.clone();
            async move {
                let form = [
                    ("form_key", key),
                    ("model", "builtin"),
                    ("prompt", "a lighthouse at dusk"),
                    ("aspect_ratio", "1:1"),
                    ("count", "1"),
                ];
                let r = app.post_as("/api/generate", &form, &alice).await;
                assert_eq!(r.status, 200, "{}", r.body);
                uuid::Uuid::parse_str(r.json()["id"].as_str().unwrap()).unwrap()
            }
        };
        generate("key-health-0001").await;
        generate("key-health-0002").await;
        let failing = generate("key-health-0003").await;
        crate::fixtures::drain(&app.gens, std::time::Duration::from_secs(30)).await;
        // One of them failed at the provider, as a worker records it.
        let mut row: generation::ActiveModel = generation::Entity::find_by_id(failing)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .into();
        row.status = Set(generation::Status::Failed);
        row.error_detail = Set(Some(
            "HTTP 502 from the provider: upstream timed out".into(),
        ));
        row.update(&app.db).await.unwrap();
        // And one waits in the queue.
        generate("key-health-0004").await;

        let r = post(&app, "/api/admin_health", &[], &support).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let h = r.json();
        let queued = h["queue"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["status"] == "queued")
            .unwrap();
        assert_eq!(queued["jobs"], 1);
        assert!(queued["oldest"].as_str().unwrap().ends_with("ago"), "{h}");
        let running = h["queue"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["status"] == "running")
            .unwrap();
        assert_eq!(running["jobs"], 0);
        assert_eq!(
            h["workers"].as_array().unwrap().len(),
            0,
            "nobody holds a job"
        );
        for line in [&h["overall"], &h["models"][0]] {
            for window in ["hour", "day"] {
                let w = &line[window];
                assert_eq!(
                    (w["succeeded"].as_u64(), w["failed"].as_u64()),
                    (Some(2), Some(1)),
                    "{line}"
                );
                assert_eq!(w["error_rate"], "33.3 %", "{line}");
                assert_ne!(w["p50"], "—", "{line}");
                assert_ne!(w["p95"], "—", "{line}");
            }
        }
        assert_eq!(h["models"][0]["model"], "builtin");
        assert_eq!(h["models"].as_array().unwrap().len(), 1);
        assert_eq!(h["errors"][0]["model"], "builtin");
        assert_eq!(
            h["errors"][0]["detail"],
            "HTTP 502 from the provider: upstream timed out"
        );
        assert!(
            h["mail_pending"].as_u64().unwrap() >= 1,
            "the sign-up mails wait: {h}"
        );
        assert_eq!(h["webhooks_applied"], 0);
        assert_eq!(
            (
                &h["webhooks_failing"],
                &h["outbound_pending"],
                &h["outbound_failed_day"]
            ),
            (
                &serde_json::json!(0),
                &serde_json::json!(0),
                &serde_json::json!(0)
            )
        );
        assert_eq!(h["database"]["ok"], true);
        assert_eq!(h["storage"]["ok"], true);
        // The page shows the same, for support too.
        let page = app.get_as("/admin/health", &support).await;
        assert_eq!(page.status, 200);
        for text in ["Job queue", "upstream timed out", "33.3 %", "reachable"] {
            assert!(page.body.contains(text), "{text}: {}", page.body);
        }
        // Reading health changes nothing: no audit row.
        assert_eq!(
            staff_action::Entity::find().count(&app.db).await.unwrap(),
            0
        );
    }
);
