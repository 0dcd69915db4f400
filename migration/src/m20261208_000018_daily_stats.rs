//! The staff dashboard's figures (ADM-1): one `daily_stats` row per UTC
//! day, written by the background job "daily stats"
//! (`uni1_domain::admin::stats`), so the dashboard reads 30 small rows
//! instead of scanning the big tables on every page load.
//!
//! The row's key is the day (`YYYY-MM-DD`): the job upserts it, so a rerun
//! or two servers racing write the same row. Money is kept per currency as
//! a JSON object of minor units (`{"eur":1200}`), since a day may have
//! sales in several currencies. No column names a person.
//!
//! The indexes make the job's per-day range counts cheap on the tables it
//! reads (people, sessions, generations, the ledger, orders).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DailyStats {
    Table,
    Day,
    Signups,
    ActivePeople,
    GenerationsSucceeded,
    GenerationsFailed,
    GenerationsRefused,
    GenerationsCancelled,
    CreditsSold,
    CreditsSpent,
    Refunds,
    CreditsRefunded,
    Revenue,
    Refunded,
    ComputedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    CreatedAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum Generations {
    Table,
    QueuedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum CreditLedger {
    Table,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    PaidAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut table = Table::create();
        table
            .table(DailyStats::Table)
            .if_not_exists()
            .col(string_len(DailyStats::Day, 10).primary_key());
        for column in [
            DailyStats::Signups,
            DailyStats::ActivePeople,
            DailyStats::GenerationsSucceeded,
            DailyStats::GenerationsFailed,
            DailyStats::GenerationsRefused,
            DailyStats::GenerationsCancelled,
            DailyStats::CreditsSold,
            DailyStats::CreditsSpent,
            DailyStats::Refunds,
            DailyStats::CreditsRefunded,
        ] {
            table.col(big_integer(column).default(0));
        }
        table
            .col(text(DailyStats::Revenue))
            .col(text(DailyStats::Refunded))
            .col(timestamp_with_time_zone(DailyStats::ComputedAt));
        manager.create_table(table.to_owned()).await?;
        let indexes: [(&str, DynIden, DynIden); 7] = [
            (
                "ix_stats_users_created",
                Users::Table.into_iden(),
                Users::CreatedAt.into_iden(),
            ),
            (
                "ix_stats_sessions_created",
                Sessions::Table.into_iden(),
                Sessions::CreatedAt.into_iden(),
            ),
            (
                "ix_stats_sessions_last_seen",
                Sessions::Table.into_iden(),
                Sessions::LastSeenAt.into_iden(),
            ),
            (
                "ix_stats_generations_queued",
                Generations::Table.into_iden(),
                Generations::QueuedAt.into_iden(),
            ),
            (
                "ix_stats_generations_finished",
                Generations::Table.into_iden(),
                Generations::FinishedAt.into_iden(),
            ),
            (
                "ix_stats_credit_ledger_created",
                CreditLedger::Table.into_iden(),
                CreditLedger::CreatedAt.into_iden(),
            ),
            (
                "ix_stats_orders_paid",
                Orders::Table.into_iden(),
                Orders::PaidAt.into_iden(),
            ),
        ];
        for (name, table, column) in indexes {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_stats_orders_updated")
                    .table(Orders::Table)
                    .col(Orders::UpdatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            ("ix_stats_orders_updated", Orders::Table.into_iden()),
            ("ix_stats_orders_paid", Orders::Table.into_iden()),
            (
                "ix_stats_credit_ledger_created",
                CreditLedger::Table.into_iden(),
            ),
            (
                "ix_stats_generations_finished",
                Generations::Table.into_iden(),
            ),
            (
                "ix_stats_generations_queued",
                Generations::Table.into_iden(),
            ),
            ("ix_stats_sessions_last_seen", Sessions::Table.into_iden()),
            ("ix_stats_sessions_created", Sessions::Table.into_iden()),
            ("ix_stats_users_created", Users::Table.into_iden()),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(DailyStats::Table).to_owned())
            .await
    }
}
