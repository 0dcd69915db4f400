//! One page view or product event (ANA-1), without any identifier of a
//! person: `visitor` is a hash under a salt that exists only for `day`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "analytics_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub day: Date,
    /// `pageview`, `signup`, `generation_submitted`, `purchase`.
    pub kind: String,
    /// The page's path, without its query (page views only).
    pub path: Option<String>,
    /// The referring site's host, when another site.
    pub referrer_host: Option<String>,
    /// `desktop`, `mobile`, `tablet`, `bot` or `unknown`.
    pub device: String,
    /// Hex of 16 bytes: the same visitor on the same day, nothing more.
    pub visitor: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
