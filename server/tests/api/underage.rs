//! Reporting an account that may belong to someone under 18.

use sea_orm::EntityTrait;
use uni1_domain::entities::underage_report;

use crate::fixtures::{sign_in, sign_up, PASSWORD};
use crate::on_both_backends;
use crate::support::{TestApp, Visitor};

on_both_backends!(
    reports_are_stored_for_review_with_or_without_an_account,
    |app: TestApp| async move {
        let anonymous = Visitor::new("198.51.100.80");
        let r = app
            .post_as(
                "/api/report_underage",
                &[
                    ("reported_account", "kid@example.org"),
                    ("details", "Their profile says they are 15."),
                    ("reporter_email", ""),
                ],
                &anonymous,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("location"), Some("/report-underage?sent=1"));

        let mut member = Visitor::new("198.51.100.81");
        sign_up(&app, "parent@example.org", &member).await;
        sign_in(&app, "parent@example.org", PASSWORD, &mut member).await;
        let r = app
            .post_as(
                "/api/report_underage",
                &[
                    ("reported_account", "Kid Name"),
                    ("details", "My child made this account."),
                    ("reporter_email", "parent@example.org"),
                ],
                &member,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);

        let bad = app
            .post_as(
                "/api/report_underage",
                &[
                    ("reported_account", "x"),
                    ("details", "short"),
                    ("reporter_email", ""),
                ],
                &anonymous,
            )
            .await;
        assert_eq!(bad.status, 422);
        assert_eq!(bad.json()["Invalid"]["field"], "details");

        let mut reports = underage_report::Entity::find()
            .all(&app.db)
            .await
            .expect("reports");
        reports.sort_by_key(|r| r.created_at);
        assert_eq!(reports.len(), 2);
        assert!(reports.iter().all(|r| r.status == "open"));
        assert_eq!(reports[0].reporter_user_id, None);
        assert_eq!(reports[0].ip, "198.51.100.80");
        assert!(reports[1].reporter_user_id.is_some());
        assert_eq!(
            reports[1].reporter_email.as_deref(),
            Some("parent@example.org")
        );
    }
);
