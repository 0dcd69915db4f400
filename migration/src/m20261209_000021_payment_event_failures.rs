//! `payment_event_failures`: a verified provider event whose effect could
//! not be applied (the database or the provider's API failed). Nothing of
//! it was applied (its transaction rolled back) and the provider sends it
//! again; staff can also apply it again from the payments page once the
//! cause is fixed. The payload is sealed with the app key; the row goes
//! when the event is applied, or after 30 days.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PaymentEventFailures {
    Table,
    Id,
    Provider,
    EventId,
    EventType,
    Payload,
    Error,
    Attempts,
    FirstFailedAt,
    LastFailedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PaymentEventFailures::Table)
                    .if_not_exists()
                    .col(uuid(PaymentEventFailures::Id).primary_key())
                    .col(string_len(PaymentEventFailures::Provider, 16))
                    .col(string_len(PaymentEventFailures::EventId, 255))
                    .col(string_len(PaymentEventFailures::EventType, 100))
                    .col(text(PaymentEventFailures::Payload))
                    .col(string_len(PaymentEventFailures::Error, 300))
                    .col(integer(PaymentEventFailures::Attempts).default(1))
                    .col(timestamp_with_time_zone(
                        PaymentEventFailures::FirstFailedAt,
                    ))
                    .col(timestamp_with_time_zone(PaymentEventFailures::LastFailedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_payment_event_failures_event")
                    .table(PaymentEventFailures::Table)
                    .col(PaymentEventFailures::Provider)
                    .col(PaymentEventFailures::EventId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PaymentEventFailures::Table).to_owned())
            .await
    }
}
