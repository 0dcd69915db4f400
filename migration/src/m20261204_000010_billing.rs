//! Billing: orders (one per checkout), each provider's customer id per
//! person, and every payment webhook event received (its id UNIQUE per
//! provider, so an event repeated by the provider has its effect once).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    UserId,
    Provider,
    Item,
    ItemName,
    Credits,
    Amount,
    Currency,
    Status,
    CheckoutId,
    PaymentId,
    CreatedAt,
    UpdatedAt,
    PaidAt,
}

#[derive(DeriveIden)]
enum BillingCustomers {
    Table,
    UserId,
    Provider,
    CustomerId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PaymentEvents {
    Table,
    Id,
    Provider,
    EventId,
    EventType,
    ReceivedAt,
    Outcome,
    OrderId,
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
                    .table(Orders::Table)
                    .if_not_exists()
                    .col(uuid(Orders::Id).primary_key())
                    // Kept without the person when the account is deleted:
                    // a sale is a tax record.
                    .col(uuid_null(Orders::UserId))
                    .col(string_len(Orders::Provider, 16))
                    .col(string_len(Orders::Item, 64))
                    .col(string_len(Orders::ItemName, 200))
                    .col(big_integer(Orders::Credits))
                    .col(big_integer(Orders::Amount))
                    .col(string_len(Orders::Currency, 3))
                    .col(string_len(Orders::Status, 16))
                    .col(string_len_null(Orders::CheckoutId, 255).unique_key())
                    .col(string_len_null(Orders::PaymentId, 255))
                    .col(timestamp_with_time_zone(Orders::CreatedAt))
                    .col(timestamp_with_time_zone(Orders::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Orders::PaidAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_orders_user")
                            .from(Orders::Table, Orders::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_orders_user_created")
                    .table(Orders::Table)
                    .col(Orders::UserId)
                    .col(Orders::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BillingCustomers::Table)
                    .if_not_exists()
                    .col(uuid(BillingCustomers::UserId))
                    .col(string_len(BillingCustomers::Provider, 16))
                    .col(string_len(BillingCustomers::CustomerId, 255))
                    .col(timestamp_with_time_zone(BillingCustomers::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(BillingCustomers::UserId)
                            .col(BillingCustomers::Provider),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_billing_customers_user")
                            .from(BillingCustomers::Table, BillingCustomers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PaymentEvents::Table)
                    .if_not_exists()
                    .col(uuid(PaymentEvents::Id).primary_key())
                    .col(string_len(PaymentEvents::Provider, 16))
                    .col(string_len(PaymentEvents::EventId, 255))
                    .col(string_len(PaymentEvents::EventType, 100))
                    .col(timestamp_with_time_zone(PaymentEvents::ReceivedAt))
                    .col(string_len(PaymentEvents::Outcome, 200))
                    .col(uuid_null(PaymentEvents::OrderId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_payment_events_provider_event")
                    .table(PaymentEvents::Table)
                    .col(PaymentEvents::Provider)
                    .col(PaymentEvents::EventId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PaymentEvents::Table.into_iden(),
            BillingCustomers::Table.into_iden(),
            Orders::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
