//! An operator's announcement (MAIL-3): a service update, a policy change
//! or a marketing mail, queued to its recipients in batches by
//! `mail::announcements`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "announcements")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `service`, `policy` or `marketing`.
    pub kind: String,
    pub subject: String,
    /// Plain text; paragraphs separated by blank lines.
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub created_at: DateTimeUtc,
    /// The sender's cursor: every account with a smaller or equal id has
    /// been considered.
    pub resume_after: Option<Uuid>,
    /// Mails queued so far (their `send_after` is staggered by it).
    pub queued: i64,
    /// When the mail at position 0 may go: mail number `n` goes
    /// `n / rate` minutes later (moved forward when sending resumes late,
    /// so a backlog never goes out at once).
    pub paced_from: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
