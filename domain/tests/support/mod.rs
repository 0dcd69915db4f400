//! The domain-level test harness: a fresh, migrated database on SQLite and
//! on PostgreSQL, no HTTP. `each_backend(|db| async { … })` runs a test on
//! both (PostgreSQL is skipped with a loud line when it cannot be reached,
//! unless `UNI1_REQUIRE_POSTGRES=1`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;

use sea_orm::{
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Set,
};
use uni1_migration::MigratorTrait as _;
use uuid::Uuid;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `test` on a fresh database of each backend, then drops it.
pub async fn each_backend<F, Fut>(test: F)
where
    F: Fn(DatabaseConnection, Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = format!("uni1_domain_test_{}", Uuid::new_v4().simple());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).unwrap();
                // SQLite has one writer: one connection, as the server uses.
                let mut options =
                    ConnectOptions::new(format!("sqlite://{}/uni1.db?mode=rwc", dir.display()));
                options.max_connections(1).sqlx_logging(false);
                let db = Database::connect(options).await.unwrap();
                uni1_migration::Migrator::up(&db, None).await.unwrap();
                test(db.clone(), backend).await;
                db.close().await.ok();
                std::fs::remove_dir_all(dir).ok();
            }
            Backend::Postgres => {
                let admin_url = std::env::var("UNI1_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
                let admin = match Database::connect(&admin_url).await {
                    Ok(db) => db,
                    Err(e) => {
                        if std::env::var("UNI1_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                            panic!("PostgreSQL is required but unreachable at {admin_url}: {e}");
                        }
                        eprintln!(
                            "\n!!! SKIPPING a PostgreSQL test: cannot reach {admin_url}: {e}\n"
                        );
                        continue;
                    }
                };
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap();
                let (base, _) = admin_url.rsplit_once('/').unwrap();
                let mut options = ConnectOptions::new(format!("{base}/{name}"));
                options.max_connections(8).sqlx_logging(false);
                let db = Database::connect(options).await.unwrap();
                uni1_migration::Migrator::up(&db, None).await.unwrap();
                test(db.clone(), backend).await;
                db.close().await.ok();
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok();
                admin.close().await.ok();
            }
        }
    }
}

/// A person with a confirmed address (no password).
pub async fn person(db: &DatabaseConnection, email: &str) -> Uuid {
    use uni1_domain::entities::user;
    let now = chrono::Utc::now();
    let id = Uuid::now_v7();
    user::ActiveModel {
        id: Set(id),
        email: Set(email.into()),
        email_key: Set(email.to_lowercase()),
        email_confirmed_at: Set(Some(now)),
        password_hash: Set(None),
        display_name: Set("Test Person".into()),
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
        deletion_due_at: Set(None),
        policy_seen_version: Set(None),
        notify_generation_done: Set(false),
        service_updates: Set(true),
        marketing_consent_at: Set(None),
        marketing_consent_source: Set(None),
        progress_watched_until: Set(None),
        picture_id: Set(None),
        disabled_at: Set(None),
        disabled_reason: Set(None),
    }
    .insert(db)
    .await
    .unwrap();
    id
}
