//! Transactions: one way to open one. Every change that must happen
//! together (a balance and its ledger row, a state change and the mail that
//! reports it, a flag and the refusal it records) is written inside one;
//! a dropped transaction rolls back.

use sea_orm::{DatabaseTransaction, TransactionTrait};

use crate::support::error::{ResultExt as _, Unexpected};

/// Opens a transaction on `db` (or a savepoint inside one).
pub async fn begin(db: &impl TransactionTrait) -> Result<DatabaseTransaction, Unexpected> {
    db.begin().await.unexpected("starting a transaction")
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
