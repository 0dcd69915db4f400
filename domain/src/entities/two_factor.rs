//! A person's TOTP secret, sealed with the application key.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "two_factor")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// `crypto::AppKey::seal` of the raw secret, bound to `user_id`.
    pub secret_sealed: String,
    /// `None` while enrolment waits for its first code.
    pub enabled_at: Option<DateTimeUtc>,
    /// The last 30-second step a code was accepted for (no replays).
    pub last_used_step: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
