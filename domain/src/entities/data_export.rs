//! A data export (PRV-2): queued by the person, built by a background pass
//! into encrypted parts under `users/<id>/exports/<export id>/`, downloadable
//! by its owner until `expires_at`, then purged.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "data_exports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// The `privacy_requests` row it answers.
    pub request_id: Uuid,
    /// `queued`, `building`, `ready`, `failed` or `expired`.
    pub status: String,
    pub attempts: i32,
    /// A builder holds it until then; after that another may take it over.
    pub locked_until: Option<DateTimeUtc>,
    /// How many stored parts the ZIP is split into.
    pub parts: i32,
    pub size_bytes: i64,
    /// Files in the ZIP.
    pub files: i32,
    pub created_at: DateTimeUtc,
    pub ready_at: Option<DateTimeUtc>,
    pub expires_at: Option<DateTimeUtc>,
    /// Why it failed, in words safe to show.
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
