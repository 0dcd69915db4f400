//! A plan bought through a payment provider, as the provider last reported
//! it (read back from its API on every change, so events out of order
//! never leave an old state).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `None` once the account is deleted.
    pub user_id: Option<Uuid>,
    /// `stripe`
    pub provider: String,
    /// The provider's subscription id.
    pub subscription_id: String,
    pub customer_id: String,
    /// The catalogue id of the plan.
    pub plan: String,
    /// The provider's status: active, trialing, past_due, canceled, …
    pub status: String,
    pub current_period_end: Option<DateTimeUtc>,
    pub cancel_at_period_end: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
