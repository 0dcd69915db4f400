//! One checkout: what was bought, for how much, and where the payment stands.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `None` once the account is deleted (the sale stays as a tax record).
    pub user_id: Option<Uuid>,
    /// `stripe`
    pub provider: String,
    /// `pack` (a credit pack's checkout), `plan` (a plan's first checkout
    /// and invoice) or `renewal` (a plan's later paid invoice).
    pub kind: String,
    /// The catalogue id of what was bought (a pack or a plan).
    pub item: String,
    pub item_name: String,
    pub credits: i64,
    /// In the currency's minor unit (cents).
    pub amount: i64,
    /// ISO 4217, lower case.
    pub currency: String,
    /// pending | paid | refunded | expired
    pub status: String,
    /// The provider's checkout session id.
    #[sea_orm(unique)]
    pub checkout_id: Option<String>,
    /// The provider's payment id (Stripe's payment intent).
    pub payment_id: Option<String>,
    /// Refunded so far (minor units) and the credits taken back for it.
    pub refunded_amount: i64,
    pub refunded_credits: i64,
    /// The provider's invoice (plans): each paid invoice is one order.
    #[sea_orm(unique)]
    pub invoice_id: Option<String>,
    /// The provider's subscription a plan order belongs to.
    pub subscription_id: Option<String>,
    /// The provider's page for the invoice or receipt.
    pub receipt_url: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub paid_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
