//! Cookie consent and first-party analytics.
//!
//! Every choice a visitor makes about cookies is a `consent_records` row
//! (append-only: the record that consent was given): the categories, the
//! policy version, where it was made, whether the browser sent Global
//! Privacy Control, and the browser's random consent id or the person
//! (never an IP address). A person's rows go with their account.
//!
//! `analytics_events` hold no identifier of a person: a page or event, the
//! day, the referrer's host, a coarse device class, and a hash of the
//! visitor under a salt that exists only for that day (`analytics_salts`,
//! deleted once the day is over), so unique visitors can be counted within
//! a day and never linked across days.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConsentRecords {
    Table,
    Id,
    UserId,
    BrowserId,
    Preferences,
    Analytics,
    Gpc,
    PolicyVersion,
    Source,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AnalyticsEvents {
    Table,
    Id,
    Day,
    Kind,
    Path,
    ReferrerHost,
    Device,
    Visitor,
}

#[derive(DeriveIden)]
enum AnalyticsSalts {
    Table,
    Day,
    Salt,
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
                    .table(ConsentRecords::Table)
                    .if_not_exists()
                    .col(uuid(ConsentRecords::Id).primary_key())
                    .col(uuid_null(ConsentRecords::UserId))
                    .col(uuid_null(ConsentRecords::BrowserId))
                    .col(boolean(ConsentRecords::Preferences))
                    .col(boolean(ConsentRecords::Analytics))
                    .col(boolean(ConsentRecords::Gpc))
                    .col(string_len(ConsentRecords::PolicyVersion, 32))
                    .col(string_len(ConsentRecords::Source, 16))
                    .col(timestamp_with_time_zone(ConsentRecords::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_consent_records_user")
                            .from(ConsentRecords::Table, ConsentRecords::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("ix_consent_records_user", ConsentRecords::UserId),
            ("ix_consent_records_browser", ConsentRecords::BrowserId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ConsentRecords::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AnalyticsEvents::Table)
                    .if_not_exists()
                    .col(uuid(AnalyticsEvents::Id).primary_key())
                    .col(date(AnalyticsEvents::Day))
                    .col(string_len(AnalyticsEvents::Kind, 32))
                    .col(string_len_null(AnalyticsEvents::Path, 200))
                    .col(string_len_null(AnalyticsEvents::ReferrerHost, 255))
                    .col(string_len(AnalyticsEvents::Device, 16))
                    .col(string_len(AnalyticsEvents::Visitor, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_analytics_events_day_kind")
                    .table(AnalyticsEvents::Table)
                    .col(AnalyticsEvents::Day)
                    .col(AnalyticsEvents::Kind)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AnalyticsSalts::Table)
                    .if_not_exists()
                    .col(date(AnalyticsSalts::Day).primary_key())
                    .col(string_len(AnalyticsSalts::Salt, 64))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AnalyticsSalts::Table.into_iden(),
            AnalyticsEvents::Table.into_iden(),
            ConsentRecords::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
