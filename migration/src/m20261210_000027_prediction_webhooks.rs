//! Per-prediction webhooks (Replicate's `webhook` + `webhook_events_filter`)
//! and compact idempotent answers (issue 17).
//!
//! - `webhook_endpoints.kind`: `endpoint` (registered under Settings ->
//!   Webhooks) or `predictions`: the one row per person whose sealed secret
//!   is the person's default signing secret (`GET /v1/webhooks/default/secret`)
//!   and to which per-prediction deliveries belong. It is never listed,
//!   counted or subscribed to events.
//! - `webhook_deliveries.url`: where a per-prediction delivery goes (the
//!   prediction's own `webhook`); null for a registered endpoint's.
//! - `prediction_webhooks`: a prediction's `webhook` and filter, keyed by
//!   its job's idempotency key (known before the job exists, so the hook is
//!   there before any worker can end the job), with the origin it was
//!   made on (its body links there).
//! - `api_idempotency.response_kind`: null when `response_body` is the
//!   answer itself; `b64_json` when it is a compact reference to the job's
//!   images that the answer is rebuilt from on replay.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    Kind,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Url,
}

#[derive(DeriveIden)]
enum ApiIdempotency {
    Table,
    ResponseKind,
}

#[derive(DeriveIden)]
enum PredictionWebhooks {
    Table,
    Id,
    UserId,
    JobKey,
    SignerId,
    Url,
    Events,
    Origin,
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
        // One column per statement: SQLite adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookEndpoints::Table)
                    .add_column(text(WebhookEndpoints::Kind).default("endpoint"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookDeliveries::Table)
                    .add_column(text_null(WebhookDeliveries::Url))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiIdempotency::Table)
                    .add_column(text_null(ApiIdempotency::ResponseKind))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PredictionWebhooks::Table)
                    .if_not_exists()
                    .col(uuid(PredictionWebhooks::Id).primary_key())
                    .col(uuid(PredictionWebhooks::UserId))
                    .col(text(PredictionWebhooks::JobKey))
                    .col(uuid(PredictionWebhooks::SignerId))
                    .col(text(PredictionWebhooks::Url))
                    .col(text(PredictionWebhooks::Events))
                    .col(text(PredictionWebhooks::Origin))
                    .col(timestamp_with_time_zone(PredictionWebhooks::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_prediction_webhooks_user")
                            .from(PredictionWebhooks::Table, PredictionWebhooks::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_prediction_webhooks_signer")
                            .from(PredictionWebhooks::Table, PredictionWebhooks::SignerId)
                            .to(WebhookEndpoints::Table, WebhookEndpoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_prediction_webhooks_job")
                    .table(PredictionWebhooks::Table)
                    .col(PredictionWebhooks::UserId)
                    .col(PredictionWebhooks::JobKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_prediction_webhooks_created")
                    .table(PredictionWebhooks::Table)
                    .col(PredictionWebhooks::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PredictionWebhooks::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiIdempotency::Table)
                    .drop_column(ApiIdempotency::ResponseKind)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookDeliveries::Table)
                    .drop_column(WebhookDeliveries::Url)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookEndpoints::Table)
                    .drop_column(WebhookEndpoints::Kind)
                    .to_owned(),
            )
            .await
    }
}
