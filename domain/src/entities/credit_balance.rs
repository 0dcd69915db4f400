//! A person's credits: `available` to spend and `held` by jobs in flight.
//! Only changed together with a `credit_ledger` entry.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credit_balances")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub available: i64,
    pub held: i64,
    /// Credits a refund could not take back: settled first by the next
    /// credits, and no generation starts while it is above zero.
    pub debt: i64,
    /// The part of `available` that expires at `expiring_until` (a plan's
    /// credits for its current period); spent before the rest.
    pub expiring: i64,
    pub expiring_until: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
