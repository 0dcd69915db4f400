//! Rate limits shared by every process (`uni1_domain::support::limit_store`):
//! one row per (limit, key) that used part of its budget, holding the GCRA
//! theoretical arrival time `tat` in microseconds since the epoch, and
//! whether the last check was allowed (what the upsert returns). `subject` is
//! the SHA-256 of what is counted (an address, an account), never the
//! value itself.
//!
//! On PostgreSQL the table is UNLOGGED: no WAL for a write on every
//! sign-in attempt, at the price of forgetting the counts after a crash
//! (everyone gets a fresh budget) and not reaching replicas. On SQLite it
//! is an ordinary table. The index on `tat` serves the purge of rows whose
//! budget is full again.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES: &str = "CREATE UNLOGGED TABLE IF NOT EXISTS rate_limits (\
     name VARCHAR(64) NOT NULL, \
     subject VARCHAR(64) NOT NULL, \
     tat BIGINT NOT NULL, \
     allowed INTEGER NOT NULL DEFAULT 1, \
     PRIMARY KEY (name, subject))";

const SQLITE: &str = "CREATE TABLE IF NOT EXISTS rate_limits (\
     name VARCHAR(64) NOT NULL, \
     subject VARCHAR(64) NOT NULL, \
     tat BIGINT NOT NULL, \
     allowed INTEGER NOT NULL DEFAULT 1, \
     PRIMARY KEY (name, subject))";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let create = match manager.get_database_backend() {
            sea_orm_migration::sea_orm::DatabaseBackend::Postgres => POSTGRES,
            _ => SQLITE,
        };
        db.execute_unprepared(create).await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_rate_limits_tat ON rate_limits (tat)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS rate_limits")
            .await?;
        Ok(())
    }
}
