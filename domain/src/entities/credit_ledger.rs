//! The append-only credit ledger: one row per change, each with a unique
//! idempotency key so that no change is applied twice.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credit_ledger")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// grant | reserve | capture | release | refund | adjust | expire
    pub kind: String,
    /// Change to `available` (negative for a reserve).
    pub amount: i64,
    /// Change to `held`.
    pub held_change: i64,
    /// Change to `debt`.
    pub debt_change: i64,
    /// Change to `expiring`.
    pub expiring_change: i64,
    /// `available` after this entry.
    pub balance_after: i64,
    pub generation_id: Option<Uuid>,
    #[sea_orm(unique)]
    pub idempotency_key: String,
    pub note: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
