//! One `Idempotency-Key` of one person on the developer API, for 24 hours.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_idempotency")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub key: String,
    /// SHA-256 (hex) of the method, path and body of the first request.
    pub request_hash: String,
    /// Set once the first request has its answer.
    pub response_status: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub response_body: Option<String>,
    pub created_at: DateTimeUtc,
    /// While unanswered, the first request holds the key until then (a
    /// process that died mid-request does not hold it for a day).
    pub locked_until: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// `None`: `response_body` is the answer itself; `Some("b64_json")`:
    /// it is a compact reference the answer is rebuilt from on replay.
    pub response_kind: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
