//! A verified provider event whose effect failed to apply (nothing of it
//! was applied); kept sealed until it is applied, or for 30 days.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_event_failures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub provider: String,
    pub event_id: String,
    pub event_type: String,
    /// The event's raw body, sealed with the app key (it can hold the
    /// buyer's address).
    pub payload: String,
    /// What failed, in words safe to show staff (no database details).
    pub error: String,
    pub attempts: i32,
    pub first_failed_at: DateTimeUtc,
    pub last_failed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
