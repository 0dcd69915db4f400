//! The public gallery: images their owners chose to publish. Nothing is
//! public unless its owner publishes it, and unpublishing takes it out at
//! once (public media is served `no-cache`, so caches revalidate).
//!
//! Moderation hooks:
//! - Publishing runs the prompt through the [`ContentPolicy`] again (the
//!   blocked terms may have changed since the image was made).
//! - Anyone can report a published image; a report is a `moderation_flags`
//!   row (`source = report`) for staff review.
//! - [`Publishing::hide`] takes an image out of the public gallery for good
//!   (its owner cannot publish it again); admin pages will call it.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect,
};
use uuid::Uuid;

use crate::entities::{generation, image, moderation_flag};
use crate::generation::ContentPolicy;
use crate::support::error::{ResultExt, Unexpected};
use crate::support::pagination::{self, Cursor};

/// The most images one public page may hold.
pub const MAX_PAGE: u64 = 60;
/// Longest report text, in characters.
pub const MAX_REPORT: usize = 1000;

/// The publishing service.
#[derive(Clone, Debug)]
pub struct Publishing {
    db: DatabaseConnection,
}

/// A published image as anyone sees it: no owner, no settings beyond the
/// prompt and model.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicImage {
    pub id: Uuid,
    pub prompt: String,
    pub model_id: String,
    pub width: i32,
    pub height: i32,
    pub published_at: DateTime<Utc>,
}

/// One page of the public gallery, newest published first.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicPage {
    pub items: Vec<PublicImage>,
    pub next_cursor: Option<Cursor>,
}

/// Why publishing or reporting was refused.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("There is no such image.")]
    NotFound,
    #[error("This image's download period ended, so it cannot be published.")]
    Expired,
    #[error("This image was taken out of the public gallery by moderation and cannot be published again.")]
    Hidden,
    #[error("{0}")]
    Refused(String),
    #[error("Say in 1 to {MAX_REPORT} characters what is wrong with this image.")]
    BadReport,
    #[error(transparent)]
    NotNow(#[from] crate::privacy::NotNow),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// The text of a report, trimmed: 1 to [`MAX_REPORT`] characters.
pub fn report_text(text: &str) -> Result<&str, PublishError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_REPORT {
        Err(PublishError::BadReport)
    } else {
        Ok(text)
    }
}

/// Images anyone may see: published, not hidden, not purged.
fn visible() -> Condition {
    Condition::all()
        .add(image::Column::PublishedAt.is_not_null())
        .add(image::Column::HiddenAt.is_null())
        .add(image::Column::PurgedAt.is_null())
}

impl Publishing {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Publishes (`on`) or unpublishes an image of `user`. Returns whether
    /// it is published now.
    pub async fn set_published(
        &self,
        content: &ContentPolicy,
        user: Uuid,
        image_id: Uuid,
        on: bool,
    ) -> Result<bool, PublishError> {
        let img = image::Entity::find_by_id(image_id)
            .filter(image::Column::UserId.eq(user))
            .one(&self.db)
            .await
            .unexpected("reading an image")?
            .ok_or(PublishError::NotFound)?;
        if !on {
            image::Entity::update_many()
                .col_expr(
                    image::Column::PublishedAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(image::Column::Id.eq(img.id))
                .filter(image::Column::UserId.eq(user))
                .exec(&self.db)
                .await
                .unexpected("unpublishing an image")?;
            return Ok(false);
        }
        crate::privacy::ensure_may_process(&self.db, user).await??;
        if img.hidden_at.is_some() {
            return Err(PublishError::Hidden);
        }
        if img.purged_at.is_some() {
            return Err(PublishError::Expired);
        }
        if img.published_at.is_some() {
            return Ok(true);
        }
        let gen = generation::Entity::find_by_id(img.generation_id)
            .one(&self.db)
            .await
            .unexpected("reading a generation")?
            .ok_or(PublishError::NotFound)?;
        if let Some(reason) = content
            .check(&gen.prompt, gen.negative_prompt.as_deref())
            .await
        {
            return Err(PublishError::Refused(reason));
        }
        image::Entity::update_many()
            .col_expr(image::Column::PublishedAt, Expr::value(Utc::now()))
            .filter(image::Column::Id.eq(img.id))
            .filter(image::Column::UserId.eq(user))
            .filter(image::Column::HiddenAt.is_null())
            .filter(image::Column::PublishedAt.is_null())
            .exec(&self.db)
            .await
            .unexpected("publishing an image")?;
        Ok(true)
    }

    /// A page of the public gallery after `cursor` (two queries).
    pub async fn page(&self, cursor: Option<Cursor>, limit: u64) -> Result<PublicPage, Unexpected> {
        let limit = limit.clamp(1, MAX_PAGE);
        let rows = pagination::newest_first(
            image::Entity::find().filter(visible()),
            image::Column::PublishedAt,
            image::Column::Id,
            cursor,
            limit,
        )
        .all(&self.db)
        .await
        .unexpected("listing the public gallery")?;
        let (rows, more) = pagination::split(rows, limit);
        let items = self.with_prompts(rows).await?;
        let next_cursor = if more {
            items.last().map(|i| Cursor::at(i.published_at, i.id))
        } else {
            None
        };
        Ok(PublicPage { items, next_cursor })
    }

    async fn with_prompts(&self, rows: Vec<image::Model>) -> Result<Vec<PublicImage>, Unexpected> {
        if rows.is_empty() {
            return Ok(vec![]);
        }
        let gens: Vec<(Uuid, String, String)> = generation::Entity::find()
            .select_only()
            .columns([
                generation::Column::Id,
                generation::Column::Prompt,
                generation::Column::ModelId,
            ])
            .filter(generation::Column::Id.is_in(rows.iter().map(|r| r.generation_id)))
            .into_tuple()
            .all(&self.db)
            .await
            .unexpected("reading public prompts")?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let (_, prompt, model_id) = gens.iter().find(|g| g.0 == r.generation_id)?;
                Some(PublicImage {
                    id: r.id,
                    prompt: prompt.clone(),
                    model_id: model_id.clone(),
                    width: r.width,
                    height: r.height,
                    published_at: r.published_at?,
                })
            })
            .collect())
    }

    /// One published image, or `None` (private, hidden, expired, missing).
    pub async fn image(&self, id: Uuid) -> Result<Option<PublicImage>, Unexpected> {
        let row = self.stored(id).await?;
        Ok(self.with_prompts(row.into_iter().collect()).await?.pop())
    }

    /// The stored image behind a public one, for serving its files.
    pub async fn stored(&self, id: Uuid) -> Result<Option<image::Model>, Unexpected> {
        image::Entity::find_by_id(id)
            .filter(visible())
            .one(&self.db)
            .await
            .unexpected("reading a public image")
    }

    /// Records a report about a published image for staff review. The
    /// reporter stays anonymous to the owner.
    pub async fn report(&self, image_id: Uuid, text: &str) -> Result<(), PublishError> {
        let text = report_text(text)?;
        let img = image::Entity::find_by_id(image_id)
            .filter(visible())
            .one(&self.db)
            .await
            .unexpected("reading a reported image")?
            .ok_or(PublishError::NotFound)?;
        let gen = generation::Entity::find_by_id(img.generation_id)
            .one(&self.db)
            .await
            .unexpected("reading a reported image's generation")?
            .ok_or(PublishError::NotFound)?;
        crate::moderation::flag(
            &self.db,
            crate::moderation::Flag {
                owner: img.user_id,
                generation: Some(gen.id),
                image: Some(img.id),
                prompt: &gen.prompt,
                reason: text,
                source: crate::moderation::Source::Report,
            },
            Utc::now(),
        )
        .await?;
        Ok(())
    }

    /// Open reports about `image_id` (for staff, and for tests).
    pub async fn open_reports(&self, image_id: Uuid) -> Result<u64, Unexpected> {
        moderation_flag::Entity::find()
            .filter(moderation_flag::Column::ImageId.eq(image_id))
            .filter(moderation_flag::Column::ReviewedAt.is_null())
            .count(&self.db)
            .await
            .unexpected("counting reports")
    }

    /// Moderation: takes an image out of the public gallery for good.
    /// `false` if there is no such image.
    pub async fn hide(&self, image_id: Uuid) -> Result<bool, Unexpected> {
        let res = image::Entity::update_many()
            .col_expr(image::Column::HiddenAt, Expr::value(Utc::now()))
            .filter(image::Column::Id.eq(image_id))
            .exec(&self.db)
            .await
            .unexpected("hiding an image")?;
        Ok(res.rows_affected == 1)
    }
}
