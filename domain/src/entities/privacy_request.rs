//! One exercise of a privacy right (PRV-7): what was asked, when, by when
//! it must be answered, and where it stands. Kept without the person once
//! their account is deleted, as the record that the request was answered.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "privacy_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `None` once the account is deleted.
    pub user_id: Option<Uuid>,
    /// `export`, `deletion`, `objection`, `restriction`, `training_consent`,
    /// `correction` (see `privacy::RequestKind`).
    pub kind: String,
    /// `open`, `done`, `canceled` or `failed`.
    pub status: String,
    /// What was asked or done, in words without personal data ("turned on").
    pub detail: Option<String>,
    pub created_at: DateTimeUtc,
    /// One month after `created_at` (GDPR art. 12(3)).
    pub due_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    /// What staff noted while handling it (no personal data).
    pub staff_note: Option<String>,
    /// How it ended, in staff's words, when staff closed it.
    pub outcome: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
