//! Staff actions and personal-data breaches (SEC-2, SEC-3).
//!
//! `staff_actions` is the audit log of what staff did: who, to whom or to
//! what, why, and the request it came in (kept without the people once
//! their accounts are gone). `incidents` records a breach: what happened,
//! when it was discovered (the 72-hour clock starts there), its severity
//! and the categories of data, who is affected (a selection), and when
//! the notifications were queued and the incident closed.
//! `incident_notices` holds one row per notified person and incident,
//! written in the transaction that queues their mail: nobody is told twice
//! and a notification run that stops midway continues where it stopped.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StaffActions {
    Table,
    Id,
    ActorId,
    Action,
    TargetUserId,
    Target,
    Reason,
    RequestId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Incidents {
    Table,
    Id,
    Title,
    WhatHappened,
    WhatWeDo,
    WhatToDo,
    Severity,
    Categories,
    DiscoveredAt,
    RecordedAt,
    RecordedBy,
    Selection,
    SelectionDetail,
    NotifyStartedAt,
    NotifiedAt,
    NotifiedCount,
    ClosedAt,
    Measures,
}

#[derive(DeriveIden)]
enum IncidentNotices {
    Table,
    IncidentId,
    UserId,
    MailId,
    QueuedAt,
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
                    .table(StaffActions::Table)
                    .if_not_exists()
                    .col(uuid(StaffActions::Id).primary_key())
                    .col(uuid_null(StaffActions::ActorId))
                    .col(string_len(StaffActions::Action, 48))
                    .col(uuid_null(StaffActions::TargetUserId))
                    .col(string_len_null(StaffActions::Target, 100))
                    .col(string_len_null(StaffActions::Reason, 500))
                    .col(string_len_null(StaffActions::RequestId, 64))
                    .col(timestamp_with_time_zone(StaffActions::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_staff_actions_actor")
                            .from(StaffActions::Table, StaffActions::ActorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_staff_actions_target")
                            .from(StaffActions::Table, StaffActions::TargetUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("ix_staff_actions_created", StaffActions::CreatedAt),
            ("ix_staff_actions_actor", StaffActions::ActorId),
            ("ix_staff_actions_target", StaffActions::TargetUserId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(StaffActions::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Incidents::Table)
                    .if_not_exists()
                    .col(uuid(Incidents::Id).primary_key())
                    .col(string_len(Incidents::Title, 200))
                    .col(text(Incidents::WhatHappened))
                    .col(text(Incidents::WhatWeDo))
                    .col(text(Incidents::WhatToDo))
                    .col(string_len(Incidents::Severity, 16))
                    .col(string_len(Incidents::Categories, 300))
                    .col(timestamp_with_time_zone(Incidents::DiscoveredAt))
                    .col(timestamp_with_time_zone(Incidents::RecordedAt))
                    .col(uuid_null(Incidents::RecordedBy))
                    .col(string_len(Incidents::Selection, 32))
                    .col(text_null(Incidents::SelectionDetail))
                    .col(timestamp_with_time_zone_null(Incidents::NotifyStartedAt))
                    .col(timestamp_with_time_zone_null(Incidents::NotifiedAt))
                    .col(integer(Incidents::NotifiedCount).default(0))
                    .col(timestamp_with_time_zone_null(Incidents::ClosedAt))
                    .col(text_null(Incidents::Measures))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_incidents_recorded_by")
                            .from(Incidents::Table, Incidents::RecordedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IncidentNotices::Table)
                    .if_not_exists()
                    .col(uuid(IncidentNotices::IncidentId))
                    .col(uuid(IncidentNotices::UserId))
                    .col(uuid_null(IncidentNotices::MailId))
                    .col(timestamp_with_time_zone(IncidentNotices::QueuedAt))
                    .primary_key(
                        Index::create()
                            .col(IncidentNotices::IncidentId)
                            .col(IncidentNotices::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_incident_notices_incident")
                            .from(IncidentNotices::Table, IncidentNotices::IncidentId)
                            .to(Incidents::Table, Incidents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_incident_notices_user")
                            .from(IncidentNotices::Table, IncidentNotices::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_incident_notices_user")
                    .table(IncidentNotices::Table)
                    .col(IncidentNotices::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IncidentNotices::Table.into_iden(),
            Incidents::Table.into_iden(),
            StaffActions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
