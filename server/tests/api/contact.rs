//! The contact form's server function: validation and storage.

use sea_orm::EntityTrait;
use uni1_app::error::AppError;
use uni1_domain::entities::contact_message;

use crate::on_both_backends;
use crate::support::{TestApp, Visitor};

on_both_backends!(
    a_valid_message_is_stored_normalised,
    |app: TestApp| async move {
        let r = app
            .post_form(
                "/api/contact",
                &[
                    ("name", "  Ada Lovelace "),
                    ("email", "Ada@Example.ORG"),
                    ("message", "I would like to know more."),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let rows = contact_message::Entity::find()
            .all(&app.db)
            .await
            .expect("rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "Ada Lovelace");
        assert_eq!(rows[0].email, "Ada@example.org");
        assert_eq!(rows[0].message, "I would like to know more.");
    }
);

on_both_backends!(
    invalid_input_names_the_field_and_stores_nothing,
    |app: TestApp| async move {
        let cases = [
            (
                "email",
                [
                    ("name", "Ada"),
                    ("email", "not an address"),
                    ("message", "Long enough message."),
                ],
            ),
            (
                "name",
                [
                    ("name", "  "),
                    ("email", "ada@example.org"),
                    ("message", "Long enough message."),
                ],
            ),
            (
                "message",
                [
                    ("name", "Ada"),
                    ("email", "ada@example.org"),
                    ("message", "short"),
                ],
            ),
        ];
        for (field, form) in cases {
            let r = app.post_form("/api/contact", &form).await;
            assert_eq!(r.status, 422, "{field}: {}", r.body);
            let error: serde_json::Value = serde_json::from_str(&r.body).expect("JSON error");
            assert_eq!(error["Invalid"]["field"], field, "{}", r.body);
            assert!(error["Invalid"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()));
        }
        let missing = app.post_form("/api/contact", &[("name", "Ada")]).await;
        assert!(missing.status.is_client_error() || missing.status.is_server_error());
        assert!(
            !missing.body.to_lowercase().contains("sql"),
            "{}",
            missing.body
        );
        assert!(contact_message::Entity::find()
            .all(&app.db)
            .await
            .expect("rows")
            .is_empty());
    }
);

on_both_backends!(
    a_database_failure_shows_a_safe_message,
    |app: TestApp| async move {
        app.db.clone().close().await.expect("close pool");
        let r = app
            .post_form(
                "/api/contact",
                &[
                    ("name", "Ada"),
                    ("email", "ada@example.org"),
                    ("message", "Long enough message."),
                ],
            )
            .await;
        assert_eq!(r.status, 500);
        let lower = r.body.to_lowercase();
        for leak in ["sql", "pool", "connection", "database"] {
            assert!(!lower.contains(leak), "leaked {leak:?}: {}", r.body);
        }
        // What the page shows is the decoded error's text.
        let shown: AppError = serde_json::from_str(&r.body).expect("an AppError");
        assert_eq!(shown, AppError::Internal);
        assert!(shown
            .to_string()
            .starts_with("Something went wrong on our side"));
    }
);

on_both_backends!(
    contact_messages_are_limited_per_address,
    |app: TestApp| async move {
        let form = [
            ("name", "Ada"),
            ("email", "ada@example.org"),
            ("message", "Long enough message."),
        ];
        let sender = Visitor::new("192.0.2.160");
        for _ in 0..5 {
            let r = app.post_as("/api/contact", &form, &sender).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let r = app.post_as("/api/contact", &form, &sender).await;
        assert_eq!(r.status, 429, "{}", r.body);
        assert!(r.header("retry-after").is_some());
        // Someone else is not affected.
        let other = Visitor::new("192.0.2.161");
        assert_eq!(app.post_as("/api/contact", &form, &other).await.status, 200);
        assert_eq!(
            contact_message::Entity::find()
                .all(&app.db)
                .await
                .expect("rows")
                .len(),
            6
        );
    }
);
