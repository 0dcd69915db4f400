//! A person's key for the developer API (only its SHA-256 is stored).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// The key's first characters (`uni1_sk_` and four more), to tell keys
    /// apart in the list.
    pub prefix: String,
    /// SHA-256 (hex) of the whole key.
    #[sea_orm(unique)]
    pub secret_hash: String,
    /// Space-separated scopes: `generate`, `read`, `webhooks`.
    pub scopes: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// The most credits the key may spend in a calendar month (UTC);
    /// `None`: no cap beyond the person's balance.
    pub monthly_credit_cap: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
