//! The privacy center: every exercise of a right is a `privacy_requests`
//! row (kept without the person once their account is gone, as the record
//! that it was answered); data exports are built by a background pass into
//! encrypted objects (`data_exports`); a person's choices (objection,
//! restriction, training consent) and a scheduled account deletion are
//! columns of `users`, each with its time, as is the privacy policy
//! version whose notice the person last saw.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PrivacyRequests {
    Table,
    Id,
    UserId,
    Kind,
    Status,
    Detail,
    CreatedAt,
    DueAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum DataExports {
    Table,
    Id,
    UserId,
    RequestId,
    Status,
    Attempts,
    LockedUntil,
    Parts,
    SizeBytes,
    Files,
    CreatedAt,
    ReadyAt,
    ExpiresAt,
    Error,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    ObjectedAt,
    RestrictedAt,
    TrainingConsentAt,
    TrainingConsentVersion,
    DeletionDueAt,
    PolicySeenVersion,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PrivacyRequests::Table)
                    .if_not_exists()
                    .col(uuid(PrivacyRequests::Id).primary_key())
                    .col(uuid_null(PrivacyRequests::UserId))
                    .col(string_len(PrivacyRequests::Kind, 32))
                    .col(string_len(PrivacyRequests::Status, 16))
                    .col(string_len_null(PrivacyRequests::Detail, 500))
                    .col(timestamp_with_time_zone(PrivacyRequests::CreatedAt))
                    .col(timestamp_with_time_zone(PrivacyRequests::DueAt))
                    .col(timestamp_with_time_zone_null(PrivacyRequests::CompletedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_privacy_requests_user")
                            .from(PrivacyRequests::Table, PrivacyRequests::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_privacy_requests_user")
                    .table(PrivacyRequests::Table)
                    .col(PrivacyRequests::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DataExports::Table)
                    .if_not_exists()
                    .col(uuid(DataExports::Id).primary_key())
                    .col(uuid(DataExports::UserId))
                    .col(uuid(DataExports::RequestId))
                    .col(string_len(DataExports::Status, 16))
                    .col(integer(DataExports::Attempts).default(0))
                    .col(timestamp_with_time_zone_null(DataExports::LockedUntil))
                    .col(integer(DataExports::Parts).default(0))
                    .col(big_integer(DataExports::SizeBytes).default(0))
                    .col(integer(DataExports::Files).default(0))
                    .col(timestamp_with_time_zone(DataExports::CreatedAt))
                    .col(timestamp_with_time_zone_null(DataExports::ReadyAt))
                    .col(timestamp_with_time_zone_null(DataExports::ExpiresAt))
                    .col(string_len_null(DataExports::Error, 500))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_data_exports_user")
                            .from(DataExports::Table, DataExports::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_data_exports_status")
                    .table(DataExports::Table)
                    .col(DataExports::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_data_exports_user")
                    .table(DataExports::Table)
                    .col(DataExports::UserId)
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite alters one at a time.
        let columns = [
            timestamp_with_time_zone_null(Users::ObjectedAt),
            timestamp_with_time_zone_null(Users::RestrictedAt),
            timestamp_with_time_zone_null(Users::TrainingConsentAt),
            string_len_null(Users::TrainingConsentVersion, 32),
            timestamp_with_time_zone_null(Users::DeletionDueAt),
            string_len_null(Users::PolicySeenVersion, 32),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_users_deletion_due")
                    .table(Users::Table)
                    .col(Users::DeletionDueAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_users_deletion_due")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Users::PolicySeenVersion,
            Users::DeletionDueAt,
            Users::TrainingConsentVersion,
            Users::TrainingConsentAt,
            Users::RestrictedAt,
            Users::ObjectedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(DataExports::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(PrivacyRequests::Table).to_owned())
            .await
    }
}
