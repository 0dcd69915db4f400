//! SeaORM migrations for uni1, written once for SQLite and PostgreSQL.
//!
//! Add a migration: copy the newest `mYYYYMMDD_NNNNNN_*.rs`, give it the next
//! name, and append it to [`Migrator::migrations`]. Never edit one that has
//! shipped.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_contact_messages;
mod m20261124_000002_accounts;
mod m20261124_000003_underage_reports;
mod m20261124_000004_identities;
mod m20261124_000005_two_factor;
mod m20261124_000006_generation;
mod m20261124_000007_gallery;
mod m20261124_000008_share_links;
mod m20261124_000009_collections_publishing;
mod m20261204_000010_billing;
mod m20261204_000011_refunds;
mod m20261205_000012_subscriptions;
mod m20261206_000013_privacy;
mod m20261207_000014_consent;
mod m20261207_000015_mail_preferences;
mod m20261207_000016_incidents;
mod m20261208_000017_profile_picture;
mod m20261208_000018_daily_stats;
mod m20261208_000019_moderation;
mod m20261208_000020_staff_users;
mod m20261209_000021_payment_event_failures;
mod m20261209_000022_api_keys;
mod m20261209_000023_api_idempotency;
mod m20261209_000024_webhooks;
mod m20261209_000025_rate_limits;
mod m20261210_000026_api_key_caps;
mod m20261210_000027_prediction_webhooks;

/// Applies every migration in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_contact_messages::Migration),
            Box::new(m20261124_000002_accounts::Migration),
            Box::new(m20261124_000003_underage_reports::Migration),
            Box::new(m20261124_000004_identities::Migration),
            Box::new(m20261124_000005_two_factor::Migration),
            Box::new(m20261124_000006_generation::Migration),
            Box::new(m20261124_000007_gallery::Migration),
            Box::new(m20261124_000008_share_links::Migration),
            Box::new(m20261124_000009_collections_publishing::Migration),
            Box::new(m20261204_000010_billing::Migration),
            Box::new(m20261204_000011_refunds::Migration),
            Box::new(m20261205_000012_subscriptions::Migration),
            Box::new(m20261206_000013_privacy::Migration),
            Box::new(m20261207_000014_consent::Migration),
            Box::new(m20261207_000015_mail_preferences::Migration),
            Box::new(m20261207_000016_incidents::Migration),
            Box::new(m20261208_000017_profile_picture::Migration),
            Box::new(m20261208_000018_daily_stats::Migration),
            Box::new(m20261208_000019_moderation::Migration),
            Box::new(m20261208_000020_staff_users::Migration),
            Box::new(m20261209_000021_payment_event_failures::Migration),
            Box::new(m20261209_000022_api_keys::Migration),
            Box::new(m20261209_000023_api_idempotency::Migration),
            Box::new(m20261209_000024_webhooks::Migration),
            Box::new(m20261209_000025_rate_limits::Migration),
            Box::new(m20261210_000026_api_key_caps::Migration),
            Box::new(m20261210_000027_prediction_webhooks::Migration),
        ]
    }
}
