//! Refunds: what a refund could not take back from a balance is owed
//! (`credit_balances.debt`, changed only with a ledger entry's
//! `debt_change`), and each order remembers how much of it was refunded.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CreditBalances {
    Table,
    Debt,
}

#[derive(DeriveIden)]
enum CreditLedger {
    Table,
    DebtChange,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    RefundedAmount,
    RefundedCredits,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for (table, column) in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(big_integer(column).default(0))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in columns().into_iter().rev() {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// The new columns, each a count starting at 0.
fn columns() -> Vec<(DynIden, DynIden)> {
    vec![
        (
            CreditBalances::Table.into_iden(),
            CreditBalances::Debt.into_iden(),
        ),
        (
            CreditLedger::Table.into_iden(),
            CreditLedger::DebtChange.into_iden(),
        ),
        (
            Orders::Table.into_iden(),
            Orders::RefundedAmount.into_iden(),
        ),
        (
            Orders::Table.into_iden(),
            Orders::RefundedCredits.into_iden(),
        ),
    ]
}
