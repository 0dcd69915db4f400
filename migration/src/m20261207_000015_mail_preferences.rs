//! Mail preferences, one-click unsubscribe and announcements (MAIL-1..3).
//!
//! - `users`: the opt-ins (generation-finished mail, service updates,
//!   marketing with the time and source of the consent) and
//!   `progress_watched_until`, stamped while a browser of the person
//!   follows their jobs, so a job that ends unwatched can be mailed about
//!   whichever process ran it;
//! - `generations.done_notice`: `due` when its ending should be mailed,
//!   `queued` once the mail is in the outbox;
//! - `mail_outbox.list_unsubscribe`: the `List-Unsubscribe` value of a
//!   non-transactional mail (delivery adds the two headers);
//! - `announcements` (an operator's service update, policy change or
//!   marketing mail, with the cursor of its sender) and
//!   `announcement_recipients` (one row per person per announcement,
//!   written with the outbox row: nobody gets one twice).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    NotifyGenerationDone,
    ServiceUpdates,
    MarketingConsentAt,
    MarketingConsentSource,
    ProgressWatchedUntil,
}

#[derive(DeriveIden)]
enum Generations {
    Table,
    DoneNotice,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    ListUnsubscribe,
}

#[derive(DeriveIden)]
enum Announcements {
    Table,
    Id,
    Kind,
    Subject,
    Body,
    CreatedAt,
    ResumeAfter,
    Queued,
    PacedFrom,
    CompletedAt,
}

#[derive(DeriveIden)]
enum AnnouncementRecipients {
    Table,
    AnnouncementId,
    UserId,
    QueuedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        let columns = [
            boolean(Users::NotifyGenerationDone)
                .default(false)
                .to_owned(),
            boolean(Users::ServiceUpdates).default(true).to_owned(),
            timestamp_with_time_zone_null(Users::MarketingConsentAt),
            string_len_null(Users::MarketingConsentSource, 32),
            timestamp_with_time_zone_null(Users::ProgressWatchedUntil),
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
            .alter_table(
                Table::alter()
                    .table(Generations::Table)
                    .add_column(string_len_null(Generations::DoneNotice, 8))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_generations_done_notice")
                    .table(Generations::Table)
                    .col(Generations::DoneNotice)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MailOutbox::Table)
                    .add_column(string_len_null(MailOutbox::ListUnsubscribe, 1000))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Announcements::Table)
                    .if_not_exists()
                    .col(uuid(Announcements::Id).primary_key())
                    .col(string_len(Announcements::Kind, 16))
                    .col(string_len(Announcements::Subject, 200))
                    .col(text(Announcements::Body))
                    .col(timestamp_with_time_zone(Announcements::CreatedAt))
                    .col(uuid_null(Announcements::ResumeAfter))
                    .col(big_integer(Announcements::Queued).default(0i64))
                    .col(timestamp_with_time_zone_null(Announcements::PacedFrom))
                    .col(timestamp_with_time_zone_null(Announcements::CompletedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AnnouncementRecipients::Table)
                    .if_not_exists()
                    .col(uuid(AnnouncementRecipients::AnnouncementId))
                    .col(uuid(AnnouncementRecipients::UserId))
                    .col(timestamp_with_time_zone(AnnouncementRecipients::QueuedAt))
                    .primary_key(
                        Index::create()
                            .col(AnnouncementRecipients::AnnouncementId)
                            .col(AnnouncementRecipients::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_announcement_recipients_announcement")
                            .from(
                                AnnouncementRecipients::Table,
                                AnnouncementRecipients::AnnouncementId,
                            )
                            .to(Announcements::Table, Announcements::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_announcement_recipients_user")
                            .from(
                                AnnouncementRecipients::Table,
                                AnnouncementRecipients::UserId,
                            )
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_announcement_recipients_user")
                    .table(AnnouncementRecipients::Table)
                    .col(AnnouncementRecipients::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(AnnouncementRecipients::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Announcements::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MailOutbox::Table)
                    .drop_column(MailOutbox::ListUnsubscribe)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_generations_done_notice")
                    .table(Generations::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Generations::Table)
                    .drop_column(Generations::DoneNotice)
                    .to_owned(),
            )
            .await?;
        for column in [
            Users::ProgressWatchedUntil,
            Users::MarketingConsentSource,
            Users::MarketingConsentAt,
            Users::ServiceUpdates,
            Users::NotifyGenerationDone,
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
        Ok(())
    }
}
