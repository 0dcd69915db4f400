//! One UTC day of the staff dashboard's figures (ADM-1), written by the
//! background job "daily stats" (`admin::stats`); no column names a person.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "daily_stats")]
pub struct Model {
    /// `YYYY-MM-DD` (UTC).
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: String,
    pub signups: i64,
    pub active_people: i64,
    pub generations_succeeded: i64,
    pub generations_failed: i64,
    pub generations_refused: i64,
    pub generations_cancelled: i64,
    pub credits_sold: i64,
    pub credits_spent: i64,
    pub refunds: i64,
    pub credits_refunded: i64,
    /// JSON object: currency (ISO 4217, lower case) -> minor units.
    #[sea_orm(column_type = "Text")]
    pub revenue: String,
    /// JSON object: currency -> minor units refunded.
    #[sea_orm(column_type = "Text")]
    pub refunded: String,
    pub computed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
