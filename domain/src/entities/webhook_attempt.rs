//! One attempt at sending a webhook delivery, for the endpoint's log.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub delivery_id: Uuid,
    pub endpoint_id: Uuid,
    pub attempted_at: DateTimeUtc,
    /// The receiver's HTTP status; `None` when no answer came.
    pub response_status: Option<i32>,
    /// Why it failed, for the person (no secrets, no bodies).
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
