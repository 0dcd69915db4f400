//! `uni1 admin`: the first admin account and role changes.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uni1_domain::entities::{audit_log, user};
use uni1_server::config::AdminCommand;

use crate::fixtures::{sign_in, PASSWORD};
use crate::on_both_backends;
use crate::support::{TestApp, Visitor};

fn create(email: &str, role: &str) -> AdminCommand {
    AdminCommand::CreateUser {
        email: email.into(),
        name: "Root Operator".into(),
        role: role.into(),
        password_stdin: false,
    }
}

on_both_backends!(
    the_operator_creates_an_admin_who_can_sign_in,
    |app: TestApp| async move {
        let message = uni1_server::admin::run(
            app.db.clone(),
            app.key.clone(),
            create("root@example.org", "admin"),
            Some(PASSWORD.into()),
        )
        .await
        .expect("created");
        assert!(
            message.contains("created admin account root@example.org"),
            "{message}"
        );
        let account = user::Entity::find()
            .filter(user::Column::EmailKey.eq("root@example.org"))
            .one(&app.db)
            .await
            .expect("q")
            .expect("exists");
        assert_eq!(account.role, "admin");
        assert!(account.email_confirmed_at.is_some());
        let mut v = Visitor::new("198.51.100.70");
        assert_eq!(
            sign_in(&app, "root@example.org", PASSWORD, &mut v)
                .await
                .status,
            200
        );

        let again = uni1_server::admin::run(
            app.db.clone(),
            app.key.clone(),
            create("ROOT@example.org", "admin"),
            Some(PASSWORD.into()),
        )
        .await;
        assert!(again.unwrap_err().to_string().contains("already exists"));
        let weak = uni1_server::admin::run(
            app.db.clone(),
            app.key.clone(),
            create("weak@example.org", "admin"),
            Some("password".into()),
        )
        .await;
        assert!(weak.unwrap_err().to_string().starts_with("password:"));
        let no_password = uni1_server::admin::run(
            app.db.clone(),
            app.key.clone(),
            create("none@example.org", "user"),
            None,
        )
        .await;
        assert!(no_password
            .unwrap_err()
            .to_string()
            .contains("UNI1_NEW_USER_PASSWORD"));
        let bad_role = uni1_server::admin::run(
            app.db.clone(),
            app.key.clone(),
            create("x@example.org", "owner"),
            Some(PASSWORD.into()),
        )
        .await;
        assert!(bad_role.unwrap_err().to_string().contains("unknown role"));
    }
);

on_both_backends!(roles_change_and_are_audited, |app: TestApp| async move {
    uni1_server::admin::run(
        app.db.clone(),
        app.key.clone(),
        create("staff@example.org", "user"),
        Some(PASSWORD.into()),
    )
    .await
    .expect("created");
    let mut staff = Visitor::new("198.51.100.71");
    assert_eq!(
        sign_in(&app, "staff@example.org", PASSWORD, &mut staff)
            .await
            .status,
        200
    );
    let set = AdminCommand::SetRole {
        email: "Staff@example.org".into(),
        role: "support".into(),
    };
    uni1_server::admin::run(app.db.clone(), app.key.clone(), set, None)
        .await
        .expect("set");
    let account = user::Entity::find()
        .filter(user::Column::EmailKey.eq("staff@example.org"))
        .one(&app.db)
        .await
        .expect("q")
        .expect("exists");
    assert_eq!(account.role, "support");
    let entries = audit_log::Entity::find()
        .filter(audit_log::Column::UserId.eq(account.id))
        .all(&app.db)
        .await
        .expect("audit");
    assert!(entries
        .iter()
        .any(|e| e.action == "role_changed" && e.detail == "user -> support"));
    let me = app.post_as("/api/me", &[], &staff).await.json();
    assert!(me.is_null(), "a role change ends the person's sessions");
    let missing = AdminCommand::SetRole {
        email: "nobody@example.org".into(),
        role: "admin".into(),
    };
    assert!(
        uni1_server::admin::run(app.db.clone(), app.key.clone(), missing, None)
            .await
            .is_err()
    );
});
