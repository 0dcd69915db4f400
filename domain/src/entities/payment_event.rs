//! A payment provider's webhook event, stored in the transaction of its
//! effect: `(provider, event_id)` is UNIQUE, so a repeated event does nothing.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub provider: String,
    pub event_id: String,
    pub event_type: String,
    pub received_at: DateTimeUtc,
    /// What the event did (`granted`, `ignored: …`, `refused: …`).
    pub outcome: String,
    pub order_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
