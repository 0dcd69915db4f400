//! Subscriptions: plans bought through a payment provider, their state as
//! the provider last reported it, and the credits a plan grants each
//! period, which expire at the period's end unless the plan rolls them
//! over (`credit_balances.expiring` of `available` until
//! `expiring_until`, changed only with a ledger entry's `expiring_change`).
//! Each paid invoice is an order (`orders.invoice_id` UNIQUE).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    Id,
    UserId,
    Provider,
    SubscriptionId,
    CustomerId,
    Plan,
    Status,
    CurrentPeriodEnd,
    CancelAtPeriodEnd,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CreditBalances {
    Table,
    Expiring,
    ExpiringUntil,
}

#[derive(DeriveIden)]
enum CreditLedger {
    Table,
    ExpiringChange,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Kind,
    InvoiceId,
    SubscriptionId,
    ReceiptUrl,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Subscriptions::Table)
                    .if_not_exists()
                    .col(uuid(Subscriptions::Id).primary_key())
                    // Kept without the person when the account is deleted,
                    // like the orders it paid.
                    .col(uuid_null(Subscriptions::UserId))
                    .col(string_len(Subscriptions::Provider, 16))
                    .col(string_len(Subscriptions::SubscriptionId, 255))
                    .col(string_len(Subscriptions::CustomerId, 255))
                    .col(string_len(Subscriptions::Plan, 64))
                    .col(string_len(Subscriptions::Status, 32))
                    .col(timestamp_with_time_zone_null(
                        Subscriptions::CurrentPeriodEnd,
                    ))
                    .col(boolean(Subscriptions::CancelAtPeriodEnd).default(false))
                    .col(timestamp_with_time_zone(Subscriptions::CreatedAt))
                    .col(timestamp_with_time_zone(Subscriptions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_subscriptions_user")
                            .from(Subscriptions::Table, Subscriptions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_subscriptions_provider_id")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::Provider)
                    .col(Subscriptions::SubscriptionId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_subscriptions_user")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::UserId)
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite alters one at a time.
        let columns = [
            (
                CreditBalances::Table.into_iden(),
                big_integer(CreditBalances::Expiring).default(0).to_owned(),
            ),
            (
                CreditBalances::Table.into_iden(),
                timestamp_with_time_zone_null(CreditBalances::ExpiringUntil),
            ),
            (
                CreditLedger::Table.into_iden(),
                big_integer(CreditLedger::ExpiringChange)
                    .default(0)
                    .to_owned(),
            ),
            (
                Orders::Table.into_iden(),
                string_len(Orders::Kind, 16).default("pack").to_owned(),
            ),
            (
                Orders::Table.into_iden(),
                string_len_null(Orders::InvoiceId, 255),
            ),
            (
                Orders::Table.into_iden(),
                string_len_null(Orders::SubscriptionId, 255),
            ),
            (
                Orders::Table.into_iden(),
                string_len_null(Orders::ReceiptUrl, 2048),
            ),
        ];
        for (table, mut column) in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ux_orders_invoice")
                    .table(Orders::Table)
                    .col(Orders::InvoiceId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_credit_balances_expiring")
                    .table(CreditBalances::Table)
                    .col(CreditBalances::ExpiringUntil)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_credit_balances_expiring")
                    .table(CreditBalances::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_orders_invoice")
                    .table(Orders::Table)
                    .to_owned(),
            )
            .await?;
        let columns: [(DynIden, DynIden); 7] = [
            (Orders::Table.into_iden(), Orders::ReceiptUrl.into_iden()),
            (
                Orders::Table.into_iden(),
                Orders::SubscriptionId.into_iden(),
            ),
            (Orders::Table.into_iden(), Orders::InvoiceId.into_iden()),
            (Orders::Table.into_iden(), Orders::Kind.into_iden()),
            (
                CreditLedger::Table.into_iden(),
                CreditLedger::ExpiringChange.into_iden(),
            ),
            (
                CreditBalances::Table.into_iden(),
                CreditBalances::ExpiringUntil.into_iden(),
            ),
            (
                CreditBalances::Table.into_iden(),
                CreditBalances::Expiring.into_iden(),
            ),
        ];
        for (table, column) in columns {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Subscriptions::Table).to_owned())
            .await
    }
}
