//! One cookie choice (CK-1): the categories, the policy version, where it
//! was made, and whose it is (the person, or a browser's random consent
//! id). Append-only; never an IP address.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consent_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    /// The random id in the browser's consent cookie.
    pub browser_id: Option<Uuid>,
    pub preferences: bool,
    pub analytics: bool,
    /// The browser sent `Sec-GPC: 1` (analytics refused whatever is chosen).
    pub gpc: bool,
    pub policy_version: String,
    /// `banner` or `settings`.
    pub source: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
