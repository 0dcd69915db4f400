//! Staff work on accounts and requests (ADM-1):
//! - `users.disabled_at` / `disabled_reason`: an account staff disabled
//!   cannot sign in; the reason is shown to the person when they try;
//! - `privacy_requests.staff_note` / `outcome`: what staff noted while
//!   handling a request and how it ended (no personal data: the row
//!   outlives the account).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    DisabledAt,
    DisabledReason,
}

#[derive(DeriveIden)]
enum PrivacyRequests {
    Table,
    StaffNote,
    Outcome,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for mut column in [
            timestamp_with_time_zone_null(Users::DisabledAt),
            string_len_null(Users::DisabledReason, 500),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        for mut column in [
            string_len_null(PrivacyRequests::StaffNote, 2000),
            string_len_null(PrivacyRequests::Outcome, 500),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(PrivacyRequests::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [PrivacyRequests::StaffNote, PrivacyRequests::Outcome] {
            manager
                .alter_table(
                    Table::alter()
                        .table(PrivacyRequests::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [Users::DisabledAt, Users::DisabledReason] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
