//! One thing staff did (SEC-2): who, to whom or what, why, and in which
//! request. Kept without the people once their accounts are gone.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_actions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub actor_id: Option<Uuid>,
    /// e.g. `incident.record`, `incident.notify`, `audit.export`.
    pub action: String,
    /// The person the action concerned, if one.
    pub target_user_id: Option<Uuid>,
    /// What else it concerned, e.g. `incident:<id>`.
    pub target: Option<String>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
