//! A personal-data breach (SEC-3): what happened, when it was discovered
//! (the 72-hour clock starts there), who is affected, and when they were
//! told.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub title: String,
    /// For the notice: what happened.
    pub what_happened: String,
    /// For the notice: what the operator does about it.
    pub what_we_do: String,
    /// For the notice: what people should do.
    pub what_to_do: String,
    /// `low`, `medium`, `high`.
    pub severity: String,
    /// The categories of personal data concerned, comma-separated.
    pub categories: String,
    pub discovered_at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
    pub recorded_by: Option<Uuid>,
    /// `everyone`, `active_between` or `accounts`.
    pub selection: String,
    /// For `active_between`: `<from>/<to>` (RFC 3339); for `accounts`: one
    /// address per line.
    pub selection_detail: Option<String>,
    pub notify_started_at: Option<DateTimeUtc>,
    /// When every affected person's notice was queued.
    pub notified_at: Option<DateTimeUtc>,
    pub notified_count: i32,
    pub closed_at: Option<DateTimeUtc>,
    /// The measures taken, for the authority's record.
    pub measures: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
