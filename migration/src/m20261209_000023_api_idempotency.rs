//! `Idempotency-Key` on the developer API (issue 17, Stripe semantics): one
//! row per (person, key) for 24 hours, holding a hash of the first request
//! and, once it ended, its answer (replayed for a repeat).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiIdempotency {
    Table,
    Id,
    UserId,
    Key,
    RequestHash,
    ResponseStatus,
    ResponseBody,
    CreatedAt,
    LockedUntil,
    ExpiresAt,
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
                    .table(ApiIdempotency::Table)
                    .if_not_exists()
                    .col(uuid(ApiIdempotency::Id).primary_key())
                    .col(uuid(ApiIdempotency::UserId))
                    .col(string_len(ApiIdempotency::Key, 255))
                    .col(string_len(ApiIdempotency::RequestHash, 64))
                    .col(integer_null(ApiIdempotency::ResponseStatus))
                    .col(text_null(ApiIdempotency::ResponseBody))
                    .col(timestamp_with_time_zone(ApiIdempotency::CreatedAt))
                    .col(timestamp_with_time_zone(ApiIdempotency::LockedUntil))
                    .col(timestamp_with_time_zone(ApiIdempotency::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_idempotency_user")
                            .from(ApiIdempotency::Table, ApiIdempotency::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_api_idempotency_user_key")
                    .table(ApiIdempotency::Table)
                    .col(ApiIdempotency::UserId)
                    .col(ApiIdempotency::Key)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_api_idempotency_expires")
                    .table(ApiIdempotency::Table)
                    .col(ApiIdempotency::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiIdempotency::Table).to_owned())
            .await
    }
}
