//! A prediction's own `webhook` and `webhook_events_filter` (Replicate's
//! per-prediction webhooks), keyed by the idempotency key of its job.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "prediction_webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// The job's idempotency key (`rep-…`).
    pub job_key: String,
    /// The person's signer row in `webhook_endpoints` (kind `predictions`).
    pub signer_id: Uuid,
    pub url: String,
    /// The filter, comma-separated (`start,output,logs,completed`).
    pub events: String,
    /// The origin the prediction was made on (its body links there; a
    /// worker process sending it has no public URL of its own).
    pub origin: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
