//! A refused prompt (GEN-4) or a report about a published image, kept for
//! staff review.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "moderation_flags")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub generation_id: Option<Uuid>,
    /// The published image a report is about.
    pub image_id: Option<Uuid>,
    pub prompt: String,
    pub reason: String,
    /// blocklist | backend | report
    pub source: String,
    pub created_at: DateTimeUtc,
    pub reviewed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
