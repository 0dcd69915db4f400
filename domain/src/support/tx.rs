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
