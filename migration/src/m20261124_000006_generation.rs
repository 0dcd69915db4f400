//! Generation: the credit ledger and balances, generation jobs (the queue and
//! the history in one table), stored images, moderation flags and reference
//! uploads. Every table names its owner in `user_id`, with cascading deletes,
//! so account deletion reaches all of it (storage objects live under
//! `users/<id>/`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CreditBalances {
    Table,
    UserId,
    Available,
    Held,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CreditLedger {
    Table,
    Id,
    UserId,
    Kind,
    Amount,
    HeldChange,
    BalanceAfter,
    GenerationId,
    IdempotencyKey,
    Note,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Generations {
    Table,
    Id,
    UserId,
    IdempotencyKey,
    ModelId,
    Backend,
    Prompt,
    NegativePrompt,
    AspectRatio,
    ImageCount,
    SeedRequested,
    SeedUsed,
    Style,
    ReferencePath,
    ReferenceStrength,
    Credits,
    Status,
    Attempts,
    MaxAttempts,
    RunAfter,
    LeaseOwner,
    LeaseExpiresAt,
    ExternalId,
    CancelRequested,
    Error,
    ErrorDetail,
    ParentId,
    QueuedAt,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum Images {
    Table,
    Id,
    GenerationId,
    UserId,
    Position,
    Width,
    Height,
    OriginalPath,
    PreviewPath,
    ThumbPath,
    Bytes,
    KeyId,
    CreatedAt,
    ExpiresAt,
    PurgedAt,
}

#[derive(DeriveIden)]
enum ModerationFlags {
    Table,
    Id,
    UserId,
    GenerationId,
    Prompt,
    Reason,
    Source,
    CreatedAt,
    ReviewedAt,
}

#[derive(DeriveIden)]
enum Uploads {
    Table,
    Id,
    UserId,
    Path,
    Width,
    Height,
    CreatedAt,
    ExpiresAt,
}

fn owner<T: IntoIden + 'static>(table: T, column: T, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CreditBalances::Table)
                    .if_not_exists()
                    .col(uuid(CreditBalances::UserId).primary_key())
                    .col(
                        big_integer(CreditBalances::Available)
                            .check(Expr::col(CreditBalances::Available).gte(0)),
                    )
                    .col(
                        big_integer(CreditBalances::Held)
                            .check(Expr::col(CreditBalances::Held).gte(0)),
                    )
                    .col(timestamp_with_time_zone(CreditBalances::UpdatedAt))
                    .foreign_key(&mut owner(
                        CreditBalances::Table,
                        CreditBalances::UserId,
                        "fk_credit_balances_user",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CreditLedger::Table)
                    .if_not_exists()
                    .col(uuid(CreditLedger::Id).primary_key())
                    .col(uuid(CreditLedger::UserId))
                    .col(string_len(CreditLedger::Kind, 16))
                    .col(big_integer(CreditLedger::Amount))
                    .col(big_integer(CreditLedger::HeldChange))
                    .col(big_integer(CreditLedger::BalanceAfter))
                    .col(uuid_null(CreditLedger::GenerationId))
                    .col(string_len_uniq(CreditLedger::IdempotencyKey, 128))
                    .col(text_null(CreditLedger::Note))
                    .col(timestamp_with_time_zone(CreditLedger::CreatedAt))
                    .foreign_key(&mut owner(
                        CreditLedger::Table,
                        CreditLedger::UserId,
                        "fk_credit_ledger_user",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_credit_ledger_user")
                    .table(CreditLedger::Table)
                    .col(CreditLedger::UserId)
                    .col(CreditLedger::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Generations::Table)
                    .if_not_exists()
                    .col(uuid(Generations::Id).primary_key())
                    .col(uuid(Generations::UserId))
                    .col(string_len(Generations::IdempotencyKey, 64))
                    .col(string_len(Generations::ModelId, 64))
                    .col(string_len(Generations::Backend, 32))
                    .col(text(Generations::Prompt))
                    .col(text_null(Generations::NegativePrompt))
                    .col(string_len(Generations::AspectRatio, 8))
                    .col(integer(Generations::ImageCount))
                    .col(big_integer_null(Generations::SeedRequested))
                    .col(big_integer_null(Generations::SeedUsed))
                    .col(string_len_null(Generations::Style, 32))
                    .col(text_null(Generations::ReferencePath))
                    .col(double_null(Generations::ReferenceStrength))
                    .col(big_integer(Generations::Credits))
                    .col(string_len(Generations::Status, 16))
                    .col(integer(Generations::Attempts))
                    .col(integer(Generations::MaxAttempts))
                    .col(timestamp_with_time_zone(Generations::RunAfter))
                    .col(string_len_null(Generations::LeaseOwner, 64))
                    .col(timestamp_with_time_zone_null(Generations::LeaseExpiresAt))
                    .col(string_len_null(Generations::ExternalId, 128))
                    .col(boolean(Generations::CancelRequested))
                    .col(text_null(Generations::Error))
                    .col(text_null(Generations::ErrorDetail))
                    .col(uuid_null(Generations::ParentId))
                    .col(timestamp_with_time_zone(Generations::QueuedAt))
                    .col(timestamp_with_time_zone_null(Generations::StartedAt))
                    .col(timestamp_with_time_zone_null(Generations::FinishedAt))
                    .foreign_key(&mut owner(
                        Generations::Table,
                        Generations::UserId,
                        "fk_generations_user",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_generations_user_key")
                    .table(Generations::Table)
                    .col(Generations::UserId)
                    .col(Generations::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_generations_queue")
                    .table(Generations::Table)
                    .col(Generations::Status)
                    .col(Generations::RunAfter)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_generations_user_time")
                    .table(Generations::Table)
                    .col(Generations::UserId)
                    .col(Generations::QueuedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Images::Table)
                    .if_not_exists()
                    .col(uuid(Images::Id).primary_key())
                    .col(uuid(Images::GenerationId))
                    .col(uuid(Images::UserId))
                    .col(integer(Images::Position))
                    .col(integer(Images::Width))
                    .col(integer(Images::Height))
                    .col(text(Images::OriginalPath))
                    .col(text(Images::PreviewPath))
                    .col(text(Images::ThumbPath))
                    .col(big_integer(Images::Bytes))
                    .col(string_len(Images::KeyId, 32))
                    .col(timestamp_with_time_zone(Images::CreatedAt))
                    .col(timestamp_with_time_zone(Images::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Images::PurgedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_images_generation")
                            .from(Images::Table, Images::GenerationId)
                            .to(Generations::Table, Generations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut owner(Images::Table, Images::UserId, "fk_images_user"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_images_user_time")
                    .table(Images::Table)
                    .col(Images::UserId)
                    .col(Images::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_images_generation")
                    .table(Images::Table)
                    .col(Images::GenerationId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ModerationFlags::Table)
                    .if_not_exists()
                    .col(uuid(ModerationFlags::Id).primary_key())
                    .col(uuid(ModerationFlags::UserId))
                    .col(uuid_null(ModerationFlags::GenerationId))
                    .col(text(ModerationFlags::Prompt))
                    .col(text(ModerationFlags::Reason))
                    .col(string_len(ModerationFlags::Source, 16))
                    .col(timestamp_with_time_zone(ModerationFlags::CreatedAt))
                    .col(timestamp_with_time_zone_null(ModerationFlags::ReviewedAt))
                    .foreign_key(&mut owner(
                        ModerationFlags::Table,
                        ModerationFlags::UserId,
                        "fk_moderation_flags_user",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Uploads::Table)
                    .if_not_exists()
                    .col(uuid(Uploads::Id).primary_key())
                    .col(uuid(Uploads::UserId))
                    .col(text(Uploads::Path))
                    .col(integer(Uploads::Width))
                    .col(integer(Uploads::Height))
                    .col(timestamp_with_time_zone(Uploads::CreatedAt))
                    .col(timestamp_with_time_zone(Uploads::ExpiresAt))
                    .foreign_key(&mut owner(
                        Uploads::Table,
                        Uploads::UserId,
                        "fk_uploads_user",
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Uploads::Table.into_iden(),
            ModerationFlags::Table.into_iden(),
            Images::Table.into_iden(),
            Generations::Table.into_iden(),
            CreditLedger::Table.into_iden(),
            CreditBalances::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
