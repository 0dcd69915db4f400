//! A generation: the job in the queue while it runs, and the record of what
//! was asked and what happened afterwards (GEN-2, ANA-2).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "generations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub idempotency_key: String,
    pub model_id: String,
    pub backend: String,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub aspect_ratio: String,
    pub image_count: i32,
    pub seed_requested: Option<i64>,
    pub seed_used: Option<i64>,
    pub style: Option<String>,
    pub reference_path: Option<String>,
    pub reference_strength: Option<f64>,
    pub credits: i64,
    pub status: Status,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_after: DateTimeUtc,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub external_id: Option<String>,
    pub cancel_requested: bool,
    /// What the user is told (plain words).
    pub error: Option<String>,
    /// What operators see (back-end messages; never shown to users).
    pub error_detail: Option<String>,
    pub parent_id: Option<Uuid>,
    pub queued_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    /// `due` when the owner is to be mailed that the job ended (opted in,
    /// not watched), `queued` once that mail is in the outbox.
    pub done_notice: Option<String>,
    /// The API key it was submitted with (`None`: the studio), for the
    /// key's monthly credit cap.
    pub api_key_id: Option<Uuid>,
}

/// Where a job is, stored as its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Status {
    #[sea_orm(string_value = "queued")]
    Queued,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "refused")]
    Refused,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

impl Status {
    /// The stored name ("queued", ...), also what pages and DTOs show.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Refused => "refused",
            Status::Cancelled => "cancelled",
        }
    }

    /// Whether a job in this state is finished.
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Queued | Status::Running)
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
