//! A refused prompt or output (GEN-4) or a report about a published image,
//! kept for staff review.

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
    /// blocklist | backend | report | output
    pub source: String,
    pub created_at: DateTimeUtc,
    pub reviewed_at: Option<DateTimeUtc>,
    /// The staff decision: dismissed | hidden | taken_down.
    pub decision: Option<String>,
    /// The staff reason for the decision.
    pub decision_note: Option<String>,
    /// A refused output kept sealed for staff review (no owner route serves
    /// it); cleared when it is purged after the decision or 30 days.
    pub review_object: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
