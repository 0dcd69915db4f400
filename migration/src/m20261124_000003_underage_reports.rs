//! Reports that an account may belong to someone under 18, for admins to review.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UnderageReports {
    Table,
    Id,
    ReportedAccount,
    Details,
    ReporterEmail,
    ReporterUserId,
    Ip,
    Status,
    CreatedAt,
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
                    .table(UnderageReports::Table)
                    .if_not_exists()
                    .col(uuid(UnderageReports::Id).primary_key())
                    .col(string_len(UnderageReports::ReportedAccount, 254))
                    .col(text(UnderageReports::Details))
                    .col(string_len_null(UnderageReports::ReporterEmail, 254))
                    .col(uuid_null(UnderageReports::ReporterUserId))
                    .col(string_len(UnderageReports::Ip, 45))
                    .col(string_len(UnderageReports::Status, 16).default("open"))
                    .col(timestamp_with_time_zone(UnderageReports::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_underage_reports_reporter")
                            .from(UnderageReports::Table, UnderageReports::ReporterUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UnderageReports::Table).to_owned())
            .await
    }
}
