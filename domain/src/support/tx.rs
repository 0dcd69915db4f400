//! Transactions: one way to open one. Every change that must happen
//! together (a balance and its ledger row, a state change and the mail that
//! reports it, a flag and the refusal it records) is written inside one;
//! a dropped transaction rolls back.
//!
//! On SQLite a transaction is opened as a *write* transaction at once (what
//! `BEGIN IMMEDIATE` does): SQLite has one writer, and a `BEGIN`
//! (deferred) transaction that reads first and writes later fails with
//! "database is locked" at its first write when another connection (an
//! admin command, a second process) wrote in between: WAL cannot upgrade a
//! stale read snapshot, and the busy timeout does not apply to that
//! upgrade. Taking the write lock before the first read waits for the
//! other writer instead (up to the busy timeout, 5 s) and then cannot
//! fail that way.
//!
//! SeaORM 1.1.20 (the pinned version) always opens SQLite transactions with
//! a plain `BEGIN` (`DatabaseTransaction::begin` passes no statement to
//! sqlx's `TransactionManager::begin`, and `begin_with_config` ignores
//! isolation and access modes on SQLite); sqlx 0.8.6's
//! `Pool::begin_with("BEGIN IMMEDIATE")` exists but returns a sqlx
//! transaction that SeaORM's queries cannot run on. So the first statement
//! of the transaction is a write that changes nothing
//! ([`TAKE_WRITE_LOCK`]): like `BEGIN IMMEDIATE`, it takes the write lock
//! before any read, waiting on the busy timeout. PostgreSQL needs nothing
//! (row locks and `FOR UPDATE`).

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, TransactionTrait};

use crate::support::error::{ResultExt as _, Unexpected};

/// A write that changes nothing and takes SQLite's write lock (the
/// migration table exists wherever the schema does).
pub const TAKE_WRITE_LOCK: &str = "DELETE FROM seaql_migrations WHERE 0 = 1";

/// Opens a write transaction on `db` (or a savepoint inside one): on
/// SQLite with the write lock taken first (see the module documentation).
pub async fn begin(db: &impl TransactionTrait) -> Result<DatabaseTransaction, Unexpected> {
    let txn = db.begin().await.unexpected("starting a transaction")?;
    lock_for_write(&txn).await?;
    Ok(txn)
}

/// Takes SQLite's write lock in `txn` (nothing on PostgreSQL): the first
/// statement of a transaction opened another way (SeaORM's
/// `transaction(|txn| …)`) that reads before it writes.
pub async fn lock_for_write(txn: &DatabaseTransaction) -> Result<(), Unexpected> {
    if txn.get_database_backend() == DatabaseBackend::Sqlite {
        txn.execute_unprepared(TAKE_WRITE_LOCK)
            .await
            .unexpected("starting a write transaction")?;
    }
    Ok(())
}

/// Makes the calling transaction the only one of `user`'s that passes
/// this point until it ends, so a count-then-insert cap (API keys, webhook
/// endpoints) holds under concurrency. On PostgreSQL (READ COMMITTED) it
/// locks the person's row (`FOR NO KEY UPDATE`: rows that reference the
/// person can still be inserted meanwhile). SQLite has one writer: a
/// no-op write takes the write lock now, before the transaction reads,
/// so a read snapshot never has to be upgraded ("database is locked").
pub async fn lock_person(
    conn: &impl sea_orm::ConnectionTrait,
    user: uuid::Uuid,
) -> Result<(), Unexpected> {
    use sea_orm::{DbBackend, Statement};
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE",
        _ => "UPDATE users SET updated_at = updated_at WHERE id = $1",
    };
    conn.execute(Statement::from_sql_and_values(backend, sql, [user.into()]))
        .await
        .unexpected("locking an account")?;
    Ok(())
}
