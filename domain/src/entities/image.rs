//! One stored image of a generation: three encrypted objects (original PNG,
//! WebP preview, WebP thumbnail) and when downloads end.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "images")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub generation_id: Uuid,
    pub user_id: Uuid,
    pub position: i32,
    pub width: i32,
    pub height: i32,
    pub original_path: String,
    pub preview_path: String,
    pub thumb_path: String,
    /// Plaintext size of the three files together.
    pub bytes: i64,
    /// The storage master key that sealed them.
    pub key_id: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub purged_at: Option<DateTimeUtc>,
    /// Marked by the owner in the gallery.
    pub favorite: bool,
    /// When the owner published it to the public gallery (`None`: private).
    pub published_at: Option<DateTimeUtc>,
    /// When moderation took it out of the public gallery.
    pub hidden_at: Option<DateTimeUtc>,
    /// When the 7-day expiry reminder about it was queued.
    pub reminded_at: Option<DateTimeUtc>,
    /// When moderation took it down: nobody but staff sees it any more.
    pub taken_down_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
