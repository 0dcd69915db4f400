//! The gallery: every image a person made, newest first, searchable and
//! filterable, with favourites, deletion and the full settings of each.
//!
//! Every query filters on the owner, so another person's image id behaves
//! exactly like one that does not exist.
//!
//! Paging is keyset on `(created_at, id)` (index `ix_images_user_created_id`):
//! a page is "the next `limit` images older than the last one shown", so
//! images made or deleted between two pages never cause a duplicate or a gap.
//! A page costs exactly two queries whatever its size: the images, then their
//! generations by id.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{BinOper, Expr, Func, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::entities::{collection_image, generation, image};
use crate::support::error::{ResultExt, Unexpected};
use crate::support::pagination;

/// The most images one page may hold.
pub const MAX_PAGE: u64 = 100;
/// The most images one delete may name.
pub const MAX_DELETE: usize = 100;

/// The gallery service.
#[derive(Clone, Debug)]
pub struct Gallery {
    db: DatabaseConnection,
}

/// What to show. Empty text or ids mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GalleryQuery {
    /// Words somewhere in the prompt (case-insensitive; `%` and `_` are
    /// matched literally).
    pub text: Option<String>,
    pub model_id: Option<String>,
    pub aspect_ratio: Option<String>,
    /// Made on or after this day (UTC).
    pub from: Option<NaiveDate>,
    /// Made on or before this day (UTC).
    pub to: Option<NaiveDate>,
    pub favorites_only: bool,
    /// Only images in this collection (which must be the same person's).
    pub collection_id: Option<Uuid>,
    /// Leave out images whose download window ended (share pages).
    pub downloadable_only: bool,
    /// Leave out images hidden by moderation (share pages: a takedown).
    pub without_hidden: bool,
}

pub use crate::support::pagination::{BadCursor, Cursor};

impl Cursor {
    /// The cursor just after `item`.
    pub fn after(item: &GalleryItem) -> Self {
        Self::at(item.created_at, item.id)
    }
}

/// One image with what was asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct GalleryItem {
    pub id: Uuid,
    pub generation_id: Uuid,
    /// 0-based place among the images of its generation.
    pub position: i32,
    pub width: i32,
    pub height: i32,
    pub favorite: bool,
    pub prompt: String,
    pub model_id: String,
    pub aspect_ratio: String,
    pub seed: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When its files were deleted at the end of the download window.
    pub purged_at: Option<DateTime<Utc>>,
    /// Shown in the public gallery (published by its owner, not hidden).
    pub published: bool,
    /// Taken out of the public gallery by moderation (for good).
    pub hidden: bool,
    /// Taken down by moderation: its files are served to nobody but staff.
    pub taken_down: bool,
}

impl GalleryItem {
    pub fn purged(&self) -> bool {
        self.purged_at.is_some()
    }

    /// Whole days of download left, rounded up (an image made today has the
    /// whole period); 0 once expired.
    pub fn days_left(&self, now: DateTime<Utc>) -> i64 {
        if self.purged() {
            return 0;
        }
        days_left(self.expires_at, now)
    }
}

/// Whole days until `expires_at`, rounded up (an image made today has the
/// whole period left); 0 once it has passed. The one rule every page uses.
pub fn days_left(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    ((expires_at - now).num_seconds().max(0) + 86_399) / 86_400
}

/// One page of the gallery.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<GalleryItem>,
    /// `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

/// An image and every setting of the generation that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Details {
    pub item: GalleryItem,
    pub negative_prompt: Option<String>,
    pub style: Option<String>,
    pub seed_requested: Option<i64>,
    pub seed_used: Option<i64>,
    /// How many images the generation made.
    pub image_count: i32,
    pub credits: i64,
    pub status: crate::generation::Status,
    pub used_reference: bool,
    pub reference_strength: Option<f64>,
    pub parent_id: Option<Uuid>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What a delete did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// Deleted: files and record.
    pub deleted: Vec<Uuid>,
    /// Not this person's, or no such image.
    pub not_found: Vec<Uuid>,
    /// A file could not be deleted; the record stays so it can be retried.
    pub failed: Vec<Uuid>,
}

#[derive(Debug, FromQueryResult)]
struct ImageRow {
    id: Uuid,
    generation_id: Uuid,
    position: i32,
    width: i32,
    height: i32,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    purged_at: Option<DateTime<Utc>>,
    published_at: Option<DateTime<Utc>>,
    hidden_at: Option<DateTime<Utc>>,
    taken_down_at: Option<DateTime<Utc>>,
    favorite: bool,
}

fn favorite_col() -> Expr {
    Expr::col((image::Entity, image::Column::Favorite))
}

/// The images of `user` with the columns a gallery item needs.
fn image_rows(user: Uuid) -> sea_orm::Select<image::Entity> {
    image::Entity::find()
        .select_only()
        .columns([
            image::Column::Id,
            image::Column::GenerationId,
            image::Column::Position,
            image::Column::Width,
            image::Column::Height,
            image::Column::CreatedAt,
            image::Column::ExpiresAt,
            image::Column::PurgedAt,
            image::Column::PublishedAt,
            image::Column::HiddenAt,
            image::Column::TakenDownAt,
        ])
        .column_as(favorite_col(), "favorite")
        .filter(image::Column::UserId.eq(user))
}

/// `text` as a LIKE pattern for "contains", with `!` escaping the wildcards.
fn contains_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '!' | '%' | '_') {
            out.push('!');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// `LOWER(prompt) LIKE LOWER(pattern) ESCAPE '!'`: the same case folding on
/// both sides, by the database (SQLite folds ASCII letters only).
fn prompt_contains(text: &str) -> SimpleExpr {
    SimpleExpr::Binary(
        Box::new(Func::lower(Expr::col((generation::Entity, generation::Column::Prompt))).into()),
        BinOper::Like,
        Box::new(SimpleExpr::Binary(
            Box::new(Func::lower(Expr::val(contains_pattern(text))).into()),
            BinOper::Escape,
            Box::new(SimpleExpr::Constant('!'.into())),
        )),
    )
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn item(row: ImageRow, g: &generation::Model) -> GalleryItem {
    GalleryItem {
        id: row.id,
        generation_id: row.generation_id,
        position: row.position,
        width: row.width,
        height: row.height,
        favorite: row.favorite,
        prompt: g.prompt.clone(),
        model_id: g.model_id.clone(),
        aspect_ratio: g.aspect_ratio.clone(),
        seed: g.seed_used.or(g.seed_requested),
        created_at: row.created_at,
        expires_at: row.expires_at,
        purged_at: row.purged_at,
        published: row.published_at.is_some() && row.hidden_at.is_none(),
        hidden: row.hidden_at.is_some(),
        taken_down: row.taken_down_at.is_some(),
    }
}

impl Gallery {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Up to `limit` (1 to [`MAX_PAGE`]) images of `user` matching `query`,
    /// newest first, starting after `cursor`. Two queries.
    pub async fn page(
        &self,
        user: Uuid,
        query: &GalleryQuery,
        cursor: Option<Cursor>,
        limit: u64,
    ) -> Result<Page, Unexpected> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut select = image_rows(user);
        if query.favorites_only {
            select = select.filter(favorite_col().eq(true));
        }
        if query.downloadable_only {
            select = select.filter(image::Column::PurgedAt.is_null());
        }
        if query.without_hidden {
            select = select.filter(image::Column::HiddenAt.is_null());
        }
        if let Some(from) = query.from {
            select = select.filter(image::Column::CreatedAt.gte(start_of(from)));
        }
        if let Some(next_day) = query.to.and_then(|d| d.succ_opt()) {
            select = select.filter(image::Column::CreatedAt.lt(start_of(next_day)));
        }
        let text = non_empty(&query.text);
        let model = non_empty(&query.model_id);
        let aspect = non_empty(&query.aspect_ratio);
        if text.is_some() || model.is_some() || aspect.is_some() {
            // A subquery, so the filter stays inside the first statement.
            let mut gens = Query::select();
            gens.column((generation::Entity, generation::Column::Id))
                .from(generation::Entity)
                .and_where(generation::Column::UserId.eq(user));
            if let Some(text) = text {
                gens.and_where(prompt_contains(text));
            }
            if let Some(model) = model {
                gens.and_where(generation::Column::ModelId.eq(model));
            }
            if let Some(aspect) = aspect {
                gens.and_where(generation::Column::AspectRatio.eq(aspect));
            }
            select = select.filter(image::Column::GenerationId.in_subquery(gens.to_owned()));
        }
        if let Some(collection) = query.collection_id {
            select = select.filter(
                image::Column::Id.in_subquery(
                    Query::select()
                        .column(collection_image::Column::ImageId)
                        .from(collection_image::Entity)
                        .and_where(collection_image::Column::CollectionId.eq(collection))
                        .and_where(collection_image::Column::UserId.eq(user))
                        .to_owned(),
                ),
            );
        }
        let rows = pagination::newest_first(
            select,
            image::Column::CreatedAt,
            image::Column::Id,
            cursor,
            limit,
        )
        .into_model::<ImageRow>()
        .all(&self.db)
        .await
        .unexpected("listing the gallery")?;
        let (rows, more) = pagination::split(rows, limit);

        let mut gen_ids: Vec<Uuid> = rows.iter().map(|r| r.generation_id).collect();
        gen_ids.sort_unstable();
        gen_ids.dedup();
        let gens = if gen_ids.is_empty() {
            vec![]
        } else {
            generation::Entity::find()
                .filter(generation::Column::UserId.eq(user))
                .filter(generation::Column::Id.is_in(gen_ids))
                .all(&self.db)
                .await
                .unexpected("reading the gallery's generations")?
        };
        let by_id: std::collections::HashMap<Uuid, &generation::Model> =
            gens.iter().map(|g| (g.id, g)).collect();
        let items: Vec<GalleryItem> = rows
            .into_iter()
            .filter_map(|r| {
                let g = by_id.get(&r.generation_id).copied()?;
                Some(item(r, g))
            })
            .collect();
        let next_cursor = if more {
            items.last().map(Cursor::after)
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Marks or unmarks an image of `user` as a favourite; `false` if there
    /// is no such image of theirs.
    pub async fn set_favorite(
        &self,
        user: Uuid,
        image_id: Uuid,
        favorite: bool,
    ) -> Result<bool, Unexpected> {
        let res = image::Entity::update_many()
            .col_expr(image::Column::Favorite, Expr::value(favorite))
            .filter(image::Column::Id.eq(image_id))
            .filter(image::Column::UserId.eq(user))
            .exec(&self.db)
            .await
            .unexpected("marking a favourite")?;
        Ok(res.rows_affected == 1)
    }

    /// Deletes images of `user` (at most [`MAX_DELETE`]): the three stored
    /// objects first, then the records. Ids that are not theirs are left
    /// alone and reported as not found. A crash between the two steps leaves
    /// a record whose files are gone; deleting it again finishes the job
    /// (deleting a missing object is not an error).
    pub async fn delete(
        &self,
        blobs: &uni1_storage::Blobs,
        user: Uuid,
        ids: &[Uuid],
    ) -> Result<DeleteOutcome, Unexpected> {
        let mut wanted: Vec<Uuid> = ids.iter().copied().take(MAX_DELETE).collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(DeleteOutcome::default());
        }
        let rows = image::Entity::find()
            .filter(image::Column::UserId.eq(user))
            .filter(image::Column::Id.is_in(wanted.clone()))
            .all(&self.db)
            .await
            .unexpected("finding images to delete")?;
        let mut outcome = DeleteOutcome {
            not_found: wanted
                .iter()
                .filter(|id| !rows.iter().any(|r| r.id == **id))
                .copied()
                .collect(),
            ..Default::default()
        };
        for row in rows {
            let mut ok = true;
            for path in [&row.original_path, &row.preview_path, &row.thumb_path] {
                if let Err(e) = blobs.delete(path).await {
                    tracing::warn!(error = %e, image = %row.id, "cannot delete an image's file");
                    ok = false;
                }
            }
            if ok {
                outcome.deleted.push(row.id);
            } else {
                outcome.failed.push(row.id);
            }
        }
        if !outcome.deleted.is_empty() {
            image::Entity::delete_many()
                .filter(image::Column::UserId.eq(user))
                .filter(image::Column::Id.is_in(outcome.deleted.clone()))
                .exec(&self.db)
                .await
                .unexpected("deleting images")?;
        }
        Ok(outcome)
    }

    /// One image of `user` with every setting of its generation, or `None`
    /// (also when it is someone else's).
    pub async fn details(&self, user: Uuid, image_id: Uuid) -> Result<Option<Details>, Unexpected> {
        let Some(row) = image_rows(user)
            .filter(image::Column::Id.eq(image_id))
            .into_model::<ImageRow>()
            .one(&self.db)
            .await
            .unexpected("reading an image")?
        else {
            return Ok(None);
        };
        let Some(g) = generation::Entity::find_by_id(row.generation_id)
            .filter(generation::Column::UserId.eq(user))
            .one(&self.db)
            .await
            .unexpected("reading a generation")?
        else {
            return Ok(None);
        };
        Ok(Some(Details {
            item: item(row, &g),
            negative_prompt: g.negative_prompt,
            style: g.style,
            seed_requested: g.seed_requested,
            seed_used: g.seed_used,
            image_count: g.image_count,
            credits: g.credits,
            status: g.status,
            used_reference: g.reference_strength.is_some(),
            reference_strength: g.reference_strength,
            parent_id: g.parent_id,
            queued_at: g.queued_at,
            started_at: g.started_at,
            finished_at: g.finished_at,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_literal() {
        assert_eq!(contains_pattern("50%_off!"), "%50!%!_off!!%");
        assert_eq!(contains_pattern("cat"), "%cat%");
    }
}
