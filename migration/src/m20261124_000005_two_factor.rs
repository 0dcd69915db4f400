//! Two-factor authentication: the sealed TOTP secret, recovery codes, and
//! sign-ins waiting for their second factor.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TwoFactor {
    Table,
    UserId,
    SecretSealed,
    EnabledAt,
    LastUsedStep,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    Id,
    UserId,
    CodeHash,
    UsedAt,
}

#[derive(DeriveIden)]
enum TwoFactorChallenges {
    Table,
    Id,
    UserId,
    TokenHash,
    Method,
    NextPath,
    Attempts,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
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
                    .table(TwoFactor::Table)
                    .if_not_exists()
                    .col(uuid(TwoFactor::UserId).primary_key())
                    .col(text(TwoFactor::SecretSealed))
                    .col(timestamp_with_time_zone_null(TwoFactor::EnabledAt))
                    .col(big_integer_null(TwoFactor::LastUsedStep))
                    .col(timestamp_with_time_zone(TwoFactor::CreatedAt))
                    .foreign_key(&mut owner(
                        TwoFactor::Table,
                        TwoFactor::UserId,
                        "fk_two_factor_user",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .if_not_exists()
                    .col(uuid(RecoveryCodes::Id).primary_key())
                    .col(uuid(RecoveryCodes::UserId))
                    .col(string_len(RecoveryCodes::CodeHash, 64))
                    .col(timestamp_with_time_zone_null(RecoveryCodes::UsedAt))
                    .foreign_key(&mut owner(
                        RecoveryCodes::Table,
                        RecoveryCodes::UserId,
                        "fk_recovery_codes_user",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_recovery_codes_user")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TwoFactorChallenges::Table)
                    .if_not_exists()
                    .col(uuid(TwoFactorChallenges::Id).primary_key())
                    .col(uuid(TwoFactorChallenges::UserId))
                    .col(string_len_uniq(TwoFactorChallenges::TokenHash, 64))
                    .col(string_len(TwoFactorChallenges::Method, 16))
                    .col(string_len(TwoFactorChallenges::NextPath, 512))
                    .col(integer(TwoFactorChallenges::Attempts).default(0))
                    .col(timestamp_with_time_zone(TwoFactorChallenges::CreatedAt))
                    .col(timestamp_with_time_zone(TwoFactorChallenges::ExpiresAt))
                    .col(timestamp_with_time_zone_null(TwoFactorChallenges::UsedAt))
                    .foreign_key(&mut owner(
                        TwoFactorChallenges::Table,
                        TwoFactorChallenges::UserId,
                        "fk_two_factor_challenges_user",
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TwoFactorChallenges::Table.into_iden(),
            RecoveryCodes::Table.into_iden(),
            TwoFactor::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
