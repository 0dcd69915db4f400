//! API key budgets (issue 17): an optional monthly credit cap per key, and
//! the key a generation was submitted with (`NULL` for the studio), so the
//! credits a key spent this calendar month can be summed inside the
//! transaction that reserves more. No foreign key: a job outlives a key's
//! row only when the whole account goes, and then both go (the person's
//! rows cascade).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    MonthlyCreditCap,
}

#[derive(DeriveIden)]
enum Generations {
    Table,
    ApiKeyId,
    QueuedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(big_integer_null(ApiKeys::MonthlyCreditCap))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Generations::Table)
                    .add_column(uuid_null(Generations::ApiKeyId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_generations_api_key_time")
                    .table(Generations::Table)
                    .col(Generations::ApiKeyId)
                    .col(Generations::QueuedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_generations_api_key_time")
                    .table(Generations::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Generations::Table)
                    .drop_column(Generations::ApiKeyId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .drop_column(ApiKeys::MonthlyCreditCap)
                    .to_owned(),
            )
            .await
    }
}
