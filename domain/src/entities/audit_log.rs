//! An entry in the security audit log (sign-ins, password changes, ...).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The account concerned; `None` once it is deleted, or for failed
    /// sign-ins to addresses that have no account.
    pub user_id: Option<Uuid>,
    pub action: String,
    pub ip: String,
    pub user_agent: String,
    pub detail: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
