//! A report that an account may belong to someone under 18.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "underage_reports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The reported account's e-mail address, name or profile link, as typed.
    pub reported_account: String,
    pub details: String,
    /// How to reach the reporter, if they gave an address.
    pub reporter_email: Option<String>,
    /// The reporter's account, if they were signed in.
    pub reporter_user_id: Option<Uuid>,
    pub ip: String,
    /// `open`, later `reviewed` by an admin.
    pub status: String,
    pub created_at: DateTimeUtc,
    /// When staff marked it reviewed.
    pub reviewed_at: Option<DateTimeUtc>,
    /// The reviewer's outcome note.
    pub outcome: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
