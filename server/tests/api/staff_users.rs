//! Staff work on people (ADM-1, SEC-2): the search with its filters and
//! pages, one person's page, and each action's effect and audit row:
//! disabling (sessions end, sign-in refused with the reason, enabling
//! again), ending sessions, credit adjustments (once per form, never a
//! debt, the ledger still adding up), role changes, and resending the
//! confirmation link.

#![allow(clippy::unwrap_used)] // test helpers may unwrap

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use uni1_domain::entities::{credit_ledger, mail_outbox, staff_action, user};

use crate::fixtures::{member, sign_in, sign_up, PASSWORD};
use crate::on_both_backends;
use crate::staff::staff;
use crate::support::{TestApp, Visitor};

async fn post(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    v: &Visitor,
) -> crate::support::Reply {
    app.post_as(path, form, v).await
}

async fn audit_rows(app: &TestApp, action: &str, target: uuid::Uuid) -> Vec<staff_action::Model> {
    staff_action::Entity::find()
        .filter(staff_action::Column::Action.eq(action))
        .filter(staff_action::Column::TargetUserId.eq(target))
        .order_by_asc(staff_action::Column::CreatedAt)
        .all(&app.db)
        .await
        .unwrap()
}

async fn signed_in(app: &TestApp, v: &Visitor) -> bool {
    let r = app.post_as("/api/me", &[], v).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body != "null"
}

on_both_backends!(
    staff_find_people_by_address_name_and_filters_page_by_page,
    |app: TestApp| async move {
        let (support, _) = staff(
            &app,
            "support@example.org",
            "198.51.100.60",
            "support",
            true,
        )
        .await;
        let (_, ann) = member(&app, "ann.search@example.org", "198.51.100.61").await;
        sign_up(
            &app,
            "unconfirmed@example.org",
            &Visitor::new("198.51.100.62"),
        )
        .await;
        // 60 more, straight into the table, one second apart.
        let start = chrono::Utc::now() - chrono::Duration::days(1);
        let rows: Vec<user::ActiveModel> = (0..60)
            .map(|i| user::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                email: Set(format!("bulk{i:02}@example.net")),
                email_key: Set(format!("bulk{i:02}@example.net")),
                email_confirmed_at: Set(Some(start)),
                password_hash: Set(None),
                display_name: Set(format!("Bulk Person {i:02}")),
                role: Set("user".into()),
                adult_attested_at: Set(start),
                terms_version: Set("1".into()),
                terms_accepted_at: Set(start),
                created_at: Set(start + chrono::Duration::seconds(i)),
                updated_at: Set(start),
                ..Default::default()
            })
            .collect();
        user::Entity::insert_many(rows).exec(&app.db).await.unwrap();

        let search = |form: Vec<(&'static str, String)>| {
            let app = app.clone();
            let support = support.clone();
            async move {
                let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let r = app.post_as("/api/admin_people", &pairs, &support).await;
                assert_eq!(r.status, 200, "{}", r.body);
                r.json()
            }
        };
        let emails = |page: &serde_json::Value| -> Vec<String> {
            page["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["email"].as_str().unwrap().to_owned())
                .collect()
        };
        // By part of the address, any case; by name.
        let page = search(vec![("q", "ANN.SEARCH".into())]).await;
        assert_eq!(emails(&page), ["ann.search@example.org"]);
        assert_eq!(page["rows"][0]["id"], ann.to_string());
        let page = search(vec![("q", "bulk person 07".into())]).await;
        assert_eq!(emails(&page), ["bulk07@example.net"]);
        // `%` is a character, not a wildcard.
        assert!(emails(&search(vec![("q", "%".into())]).await).is_empty());
        // Filters.
        let page = search(vec![("status", "unconfirmed".into())]).await;
        assert_eq!(emails(&page), ["unconfirmed@example.org"]);
        assert_eq!(page["rows"][0]["status"], "unconfirmed");
        let page = search(vec![("role", "support".into())]).await;
        assert_eq!(emails(&page), ["support@example.org"]);
        let page = search(vec![("two_factor", "yes".into())]).await;
        assert_eq!(emails(&page), ["support@example.org"]);
        let page = search(vec![("plan", "yes".into())]).await;
        assert!(emails(&page).is_empty());
        // Pages of 50, newest first, the cursor leading on.
        let first = search(vec![("q", "bulk".into())]).await;
        let first_emails = emails(&first);
        assert_eq!(first_emails.len(), 50);
        assert_eq!(first_emails[0], "bulk59@example.net");
        let next = first["next"].as_str().unwrap().to_owned();
        let second = search(vec![("q", "bulk".into()), ("after", next)]).await;
        let second_emails = emails(&second);
        assert_eq!(second_emails.len(), 10);
        assert_eq!(second_emails.last().unwrap(), "bulk00@example.net");
        assert!(second["next"].is_null());

        // The page renders on the server, for staff.
        let r = app.get_as("/admin/users?q=ann.search", &support).await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("ann.search@example.org"), "{}", r.body);
        let r = app.get_as(&format!("/admin/users/{ann}"), &support).await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("data-testid=\"person\""), "{}", r.body);
        assert!(r.body.contains("Sign-in history"));
    }
);

on_both_backends!(
    disabling_ends_sessions_refuses_sign_in_with_the_reason_and_is_audited,
    |app: TestApp| async move {
        let (support, _) = staff(
            &app,
            "support@example.org",
            "198.51.100.70",
            "support",
            true,
        )
        .await;
        let (admin_v, admin_id) =
            staff(&app, "admin@example.org", "198.51.100.71", "admin", true).await;
        let (mut ann_v, ann) = member(&app, "ann@example.org", "198.51.100.72").await;
        let id = ann.to_string();
        assert!(signed_in(&app, &ann_v).await);

        // A reason is required.
        let r = post(
            &app,
            "/api/admin_set_disabled",
            &[("id", &id), ("disabled", "on"), ("reason", " ")],
            &support,
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("reason"), "{}", r.body);
        // Support cannot disable an admin, nobody themselves.
        let r = post(
            &app,
            "/api/admin_set_disabled",
            &[
                ("id", &admin_id.to_string()),
                ("disabled", "on"),
                ("reason", "test"),
            ],
            &support,
        )
        .await;
        assert_eq!(r.status, 403, "{}", r.body);
        let r = post(
            &app,
            "/api/admin_set_disabled",
            &[
                ("id", &admin_id.to_string()),
                ("disabled", "on"),
                ("reason", "test"),
            ],
            &admin_v,
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.body);

        let r = post(
            &app,
            "/api/admin_set_disabled",
            &[
                ("id", &id),
                ("disabled", "on"),
                ("reason", "Chargeback fraud"),
            ],
            &support,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!signed_in(&app, &ann_v).await, "the session ended");
        ann_v.cookie = None;
        let r = sign_in(&app, "ann@example.org", PASSWORD, &mut ann_v).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(
            r.body.contains("disabled") && r.body.contains("Chargeback fraud"),
            "{}",
            r.body
        );
        // A wrong password still says only that it is wrong.
        let r = sign_in(&app, "ann@example.org", "wrong password here", &mut ann_v).await;
        assert!(!r.body.contains("Chargeback"), "{}", r.body);
        let rows = audit_rows(&app, "user.disable", ann).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].reason.as_deref(), Some("Chargeback fraud"));
        assert!(rows[0].request_id.is_some());
        let page = app.get_as(&format!("/admin/users/{ann}"), &support).await;
        assert!(
            page.body.contains("data-testid=\"disabled-reason\""),
            "{}",
            page.body
        );

        let r = post(
            &app,
            "/api/admin_set_disabled",
            &[
                ("id", &id),
                ("disabled", "off"),
                ("reason", "Resolved with the bank"),
            ],
            &support,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = sign_in(&app, "ann@example.org", PASSWORD, &mut ann_v).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(signed_in(&app, &ann_v).await);
        assert_eq!(audit_rows(&app, "user.enable", ann).await.len(), 1);

        // Ending sessions.
        let r = post(
            &app,
            "/api/admin_end_sessions",
            &[("id", &id), ("reason", "Lost phone")],
            &support,
        )
        .await;
        assert_eq!((r.status.as_u16(), r.body.as_str()), (200, "1"));
        assert!(!signed_in(&app, &ann_v).await);
        assert_eq!(audit_rows(&app, "user.end_sessions", ann).await.len(), 1);
        let r = post(
            &app,
            "/api/admin_end_sessions",
            &[
                ("id", &uuid::Uuid::now_v7().to_string()),
                ("reason", "x y z"),
            ],
            &support,
        )
        .await;
        assert_eq!(r.status, 404);
    }
);

on_both_backends!(
    credit_adjustments_apply_once_never_make_a_debt_and_keep_the_ledger_whole,
    |app: TestApp| async move {
        let (admin_v, _) = staff(&app, "admin@example.org", "198.51.100.80", "admin", true).await;
        let (_, ann) = member(&app, "ann@example.org", "198.51.100.81").await;
        let id = ann.to_string();
        let balance = || async {
            uni1_domain::billing::credits::balance(&app.db, ann)
                .await
                .unwrap()
                .available
        };
        let before = balance().await;

        let give = [
            ("id", id.as_str()),
            ("amount", "+25"),
            ("reason", "Sorry for the outage"),
            ("form_key", "form-key-0001"),
        ];
        let r = post(&app, "/api/admin_adjust_credits", &give, &admin_v).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(balance().await, before + 25);
        let r = post(&app, "/api/admin_adjust_credits", &give, &admin_v).await;
        assert!(r.body.contains("already applied"), "{}", r.body);
        assert_eq!(balance().await, before + 25, "a repeated form applies once");

        let too_much = (before + 1000).to_string();
        let take = [
            ("id", id.as_str()),
            ("amount", &format!("-{too_much}")),
            ("reason", "Mistaken grant"),
            ("form_key", "form-key-0002"),
        ];
        let r = post(&app, "/api/admin_adjust_credits", &take, &admin_v).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("only"), "{}", r.body);
        let take = [
            ("id", id.as_str()),
            ("amount", "-5"),
            ("reason", "Mistaken grant"),
            ("form_key", "form-key-0003"),
        ];
        let r = post(&app, "/api/admin_adjust_credits", &take, &admin_v).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(balance().await, before + 20);
        for bad in ["0", "ten", "2000000"] {
            let form = [
                ("id", id.as_str()),
                ("amount", bad),
                ("reason", "Typo"),
                ("form_key", "form-key-0004"),
            ];
            let r = post(&app, "/api/admin_adjust_credits", &form, &admin_v).await;
            assert_eq!(r.status, 422, "{bad}: {}", r.body);
        }

        let entries = credit_ledger::Entity::find()
            .filter(credit_ledger::Column::UserId.eq(ann))
            .filter(credit_ledger::Column::Kind.eq("adjust"))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(entries, 2);
        assert!(uni1_domain::billing::credits::audit(&app.db, ann)
            .await
            .unwrap());
        let rows = audit_rows(&app, "user.adjust_credits", ann).await;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].target.as_deref(), Some("credits:+25"));
        assert_eq!(rows[1].reason.as_deref(), Some("Mistaken grant"));
    }
);

on_both_backends!(
    role_changes_end_sessions_and_confirmation_links_are_resent,
    |app: TestApp| async move {
        let (admin_v, admin_id) =
            staff(&app, "admin@example.org", "198.51.100.90", "admin", true).await;
        let (ann_v, ann) = member(&app, "ann@example.org", "198.51.100.91").await;
        let id = ann.to_string();

        let r = post(
            &app,
            "/api/admin_change_role",
            &[("id", &id), ("role", "boss"), ("reason", "x y z")],
            &admin_v,
        )
        .await;
        assert_eq!(r.status, 422);
        let r = post(
            &app,
            "/api/admin_change_role",
            &[
                ("id", &admin_id.to_string()),
                ("role", "user"),
                ("reason", "leaving"),
            ],
            &admin_v,
        )
        .await;
        assert_eq!(r.status, 422, "not one's own: {}", r.body);
        let r = post(
            &app,
            "/api/admin_change_role",
            &[
                ("id", &id),
                ("role", "support"),
                ("reason", "Joined the support team"),
            ],
            &admin_v,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let row = user::Entity::find_by_id(ann)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.role, "support");
        assert!(
            !signed_in(&app, &ann_v).await,
            "new privileges start with a new session"
        );
        let rows = audit_rows(&app, "user.role", ann).await;
        assert_eq!(rows[0].target.as_deref(), Some("user -> support"));

        // Resending the confirmation link: only to an unconfirmed address.
        let r = post(
            &app,
            "/api/admin_resend_confirmation",
            &[("id", &id)],
            &admin_v,
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.body);
        sign_up(&app, "new@example.org", &Visitor::new("198.51.100.92")).await;
        let new = user::Entity::find()
            .filter(user::Column::EmailKey.eq("new@example.org"))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        let mails = || async {
            mail_outbox::Entity::find()
                .filter(mail_outbox::Column::ToAddress.eq("new@example.org"))
                .filter(mail_outbox::Column::Kind.eq("confirm_email"))
                .count(&app.db)
                .await
                .unwrap()
        };
        let before = mails().await;
        let r = post(
            &app,
            "/api/admin_resend_confirmation",
            &[("id", &new.id.to_string())],
            &admin_v,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(mails().await, before + 1);
        assert_eq!(
            audit_rows(&app, "user.resend_confirmation", new.id)
                .await
                .len(),
            1
        );
    }
);

on_both_backends!(
    the_privacy_queue_puts_overdue_first_and_staff_close_what_needs_a_person,
    |app: TestApp| async move {
        use uni1_domain::entities::privacy_request;
        let (support, _) = staff(
            &app,
            "support@example.org",
            "198.51.100.95",
            "support",
            true,
        )
        .await;
        let (alice, alice_id) = member(&app, "alice@example.org", "198.51.100.96").await;
        // Alice asks for her data; and writes to support about a wrong name.
        let r = app.post_as("/api/request_export", &[], &alice).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = post(
            &app,
            "/api/admin_record_request",
            &[
                ("email", "nobody@example.org"),
                ("kind", "correction"),
                ("detail", "name"),
            ],
            &support,
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.body);
        let r = post(
            &app,
            "/api/admin_record_request",
            &[
                ("email", "ALICE@example.org"),
                ("kind", "payment"),
                ("detail", "name"),
            ],
            &support,
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.body);
        let r = post(
            &app,
            "/api/admin_record_request",
            &[
                ("email", "ALICE@example.org"),
                ("kind", "correction"),
                ("detail", "Fix the spelling of the display name"),
            ],
            &support,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let recorded = r.json().as_str().unwrap().to_owned();
        // The export is made overdue, to see it first.
        privacy_request::Entity::update_many()
            .col_expr(
                privacy_request::Column::DueAt,
                sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::days(2)),
            )
            .filter(privacy_request::Column::Kind.eq("export"))
            .exec(&app.db)
            .await
            .unwrap();

        let queue = post(&app, "/api/admin_privacy_queue", &[], &support)
            .await
            .json();
        let list = queue.as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["kind"], "export");
        assert_eq!(list[0]["overdue"], true);
        assert_eq!(list[0]["closable"], false, "exports end by themselves");
        assert_eq!(list[0]["person"], "alice@example.org");
        assert_eq!(list[1]["id"], recorded);
        assert_eq!(list[1]["closable"], true);
        let export_id = list[0]["id"].as_str().unwrap().to_owned();
        let r = post(
            &app,
            "/api/admin_close_request",
            &[("id", &export_id), ("done", "done"), ("outcome", "sent")],
            &support,
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.body);

        let r = post(
            &app,
            "/api/admin_note_request",
            &[("id", &recorded), ("note", "  ")],
            &support,
        )
        .await;
        assert_eq!(r.status, 422);
        let r = post(
            &app,
            "/api/admin_note_request",
            &[
                ("id", &recorded),
                ("note", "Asked for proof of the old name"),
            ],
            &support,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = post(
            &app,
            "/api/admin_close_request",
            &[
                ("id", &recorded),
                ("done", "done"),
                ("outcome", "Display name corrected"),
            ],
            &support,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = post(
            &app,
            "/api/admin_close_request",
            &[("id", &recorded), ("done", "done"), ("outcome", "again")],
            &support,
        )
        .await;
        assert_eq!(r.status, 422, "closed once");

        let queue = post(&app, "/api/admin_privacy_queue", &[], &support)
            .await
            .json();
        assert_eq!(
            queue.as_array().unwrap().len(),
            1,
            "only the export is open"
        );
        let queue = post(&app, "/api/admin_privacy_queue", &[("all", "on")], &support)
            .await
            .json();
        let closed = queue
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == recorded.as_str())
            .unwrap();
        assert_eq!(closed["status"], "done");
        assert_eq!(closed["outcome"], "Display name corrected");
        assert!(closed["notes"][0]
            .as_str()
            .unwrap()
            .ends_with("support@example.org: Asked for proof of the old name"));
        for action in ["privacy.record", "privacy.note", "privacy.close"] {
            assert_eq!(
                audit_rows(&app, action, alice_id).await.len(),
                1,
                "{action}"
            );
        }
        // Alice sees it among her requests.
        let r = app.post_as("/api/privacy_overview", &[], &alice).await;
        assert!(r.body.contains("Correction of your data"), "{}", r.body);
        // The page renders for staff.
        let r = app.get_as("/admin/privacy", &support).await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("Overdue since"), "{}", r.body);
    }
);

on_both_backends!(
    payments_list_orders_by_buyer_and_put_refused_events_first,
    |app: TestApp| async move {
        use sea_orm::ActiveModelTrait;
        use uni1_domain::entities::{order, payment_event};
        let (support, _) = staff(
            &app,
            "support@example.org",
            "198.51.100.97",
            "support",
            true,
        )
        .await;
        let (_, ann) = member(&app, "ann@example.org", "198.51.100.98").await;
        let (_, ben) = member(&app, "ben@example.org", "198.51.100.99").await;
        let now = chrono::Utc::now();
        for (who, item, status) in [(ann, "Starter pack", "paid"), (ben, "Big pack", "pending")] {
            order::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                user_id: Set(Some(who)),
                provider: Set("stripe".into()),
                kind: Set("pack".into()),
                item: Set("starter".into()),
                item_name: Set(item.into()),
                credits: Set(100),
                amount: Set(500),
                currency: Set("eur".into()),
                status: Set(status.into()),
                refunded_amount: Set(0),
                refunded_credits: Set(0),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&app.db)
            .await
            .unwrap();
        }
        for (i, outcome) in [
            "granted 100 credits",
            "refused: amount 400 does not match 500",
            "ignored: not an event uni1 acts on",
        ]
        .into_iter()
        .enumerate()
        {
            payment_event::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                provider: Set("stripe".into()),
                event_id: Set(format!("evt_{i}")),
                event_type: Set("checkout.session.completed".into()),
                received_at: Set(now + chrono::Duration::seconds(i as i64)),
                outcome: Set(outcome.into()),
                order_id: Set(None),
            }
            .insert(&app.db)
            .await
            .unwrap();
        }
        let r = post(
            &app,
            "/api/admin_payments",
            &[("email", "ANN@example.org")],
            &support,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let p = r.json();
        let orders = p["orders"].as_array().unwrap();
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0]["cells"][1], "ann@example.org");
        assert_eq!(orders[0]["cells"][2], "Starter pack");
        assert_eq!(p["refused"], 1);
        assert!(p["events"][0]["cells"][3]
            .as_str()
            .unwrap()
            .starts_with("refused"));
        assert_eq!(p["events"].as_array().unwrap().len(), 3);
        let r = post(
            &app,
            "/api/admin_payments",
            &[("status", "pending")],
            &support,
        )
        .await;
        assert_eq!(r.json()["orders"][0]["cells"][1], "ben@example.org");
        let r = post(
            &app,
            "/api/admin_payments",
            &[("email", "nobody@example.org")],
            &support,
        )
        .await;
        assert_eq!(r.status, 422);
        let r = app.get_as("/admin/payments", &support).await;
        assert_eq!(r.status, 200);
        assert!(
            r.body.contains("data-testid=\"refused-events\""),
            "{}",
            r.body
        );
    }
);
