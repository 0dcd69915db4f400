//! Moderation decisions (GEN-4, ACC-5, STO-3).
//!
//! - `moderation_flags.decision` (`dismissed`, `hidden`, `taken_down`) and
//!   `decision_note` (the staff reason), beside the existing `reviewed_at`;
//! - `moderation_flags.review_object`: the path of a refused output, kept
//!   sealed for staff review only, cleared when the object is purged (after
//!   the decision or 30 days);
//! - `underage_reports.reviewed_at` and `outcome` (the reviewer's note);
//! - `images.taken_down_at`: moderation took the image down; nobody but
//!   staff sees it any more (its owner sees that it was taken down).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ModerationFlags {
    Table,
    Decision,
    DecisionNote,
    ReviewObject,
    ReviewedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UnderageReports {
    Table,
    ReviewedAt,
    Outcome,
}

#[derive(DeriveIden)]
enum Images {
    Table,
    TakenDownAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        let flags = [
            string_len_null(ModerationFlags::Decision, 16),
            string_len_null(ModerationFlags::DecisionNote, 500),
            string_len_null(ModerationFlags::ReviewObject, 300),
        ];
        for mut column in flags {
            manager
                .alter_table(
                    Table::alter()
                        .table(ModerationFlags::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_moderation_flags_open")
                    .table(ModerationFlags::Table)
                    .col(ModerationFlags::ReviewedAt)
                    .col(ModerationFlags::CreatedAt)
                    .to_owned(),
            )
            .await?;
        let reports = [
            timestamp_with_time_zone_null(UnderageReports::ReviewedAt),
            string_len_null(UnderageReports::Outcome, 500),
        ];
        for mut column in reports {
            manager
                .alter_table(
                    Table::alter()
                        .table(UnderageReports::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Images::Table)
                    .add_column(timestamp_with_time_zone_null(Images::TakenDownAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Images::Table)
                    .drop_column(Images::TakenDownAt)
                    .to_owned(),
            )
            .await?;
        for column in [UnderageReports::Outcome, UnderageReports::ReviewedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(UnderageReports::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ix_moderation_flags_open")
                    .table(ModerationFlags::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            ModerationFlags::ReviewObject,
            ModerationFlags::DecisionNote,
            ModerationFlags::Decision,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ModerationFlags::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
