//! Collections: a person's named sets of their own images. An image may be
//! in several; deleting a collection leaves its images alone, deleting an
//! image takes it out of every collection (foreign key cascade).
//!
//! Every query filters on the owner: someone else's collection or image id
//! behaves exactly like one that does not exist. The images of a collection
//! are paged by [`crate::library::gallery::Gallery::page`] with
//! [`crate::library::gallery::GalleryQuery::collection_id`] set, so they get the same
//! keyset paging, filters and query bound as the gallery.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::entities::{collection, collection_image, image};
use crate::support::error::{ResultExt, Unexpected};

/// Longest name, in characters.
pub const MAX_NAME: usize = 80;
/// Most collections one person may have.
pub const MAX_COLLECTIONS: u64 = 200;
/// Most images one add or remove may name.
pub const MAX_BATCH: usize = 100;

/// The collections service.
#[derive(Clone, Debug)]
pub struct Collections {
    db: DatabaseConnection,
}

/// A collection as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionView {
    pub id: Uuid,
    pub name: String,
    pub image_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Why a change to a collection was refused.
#[derive(Debug, thiserror::Error)]
pub enum CollectionError {
    #[error("Give the collection a name of 1 to {MAX_NAME} characters.")]
    BadName,
    #[error("You already have a collection with this name.")]
    NameTaken,
    #[error("You can have at most {MAX_COLLECTIONS} collections.")]
    TooMany,
    #[error("Choose at most {MAX_BATCH} images at a time.")]
    TooManyImages,
    #[error("There is no such collection.")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// A valid collection name: trimmed, 1 to [`MAX_NAME`] characters, no
/// control characters, inner runs of white space collapsed to one space.
pub fn parse_name(raw: &str) -> Result<String, CollectionError> {
    if raw.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(CollectionError::BadName);
    }
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME {
        return Err(CollectionError::BadName);
    }
    Ok(name)
}

#[derive(Debug, FromQueryResult)]
struct CountRow {
    collection_id: Uuid,
    n: i64,
}

fn view(c: collection::Model, image_count: i64) -> CollectionView {
    CollectionView {
        id: c.id,
        name: c.name,
        image_count,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

impl Collections {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    async fn name_taken(
        &self,
        user: Uuid,
        name: &str,
        except: Option<Uuid>,
    ) -> Result<bool, Unexpected> {
        let mut q = collection::Entity::find()
            .filter(collection::Column::UserId.eq(user))
            .filter(collection::Column::Name.eq(name));
        if let Some(id) = except {
            q = q.filter(collection::Column::Id.ne(id));
        }
        Ok(q.count(&self.db)
            .await
            .unexpected("checking a collection name")?
            > 0)
    }

    /// A new, empty collection of `user`.
    pub async fn create(&self, user: Uuid, name: &str) -> Result<CollectionView, CollectionError> {
        let name = parse_name(name)?;
        let existing = collection::Entity::find()
            .filter(collection::Column::UserId.eq(user))
            .count(&self.db)
            .await
            .unexpected("counting collections")?;
        if existing >= MAX_COLLECTIONS {
            return Err(CollectionError::TooMany);
        }
        if self.name_taken(user, &name, None).await? {
            return Err(CollectionError::NameTaken);
        }
        let now = Utc::now();
        let row = collection::Model {
            id: Uuid::now_v7(),
            user_id: user,
            name,
            created_at: now,
            updated_at: now,
        };
        // The unique index decides a race between two identical creates.
        collection::Entity::insert(collection::ActiveModel::from(row.clone()))
            .exec_without_returning(&self.db)
            .await
            .map_err(|e| match e.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => CollectionError::NameTaken,
                _ => Unexpected::new("creating a collection", e).into(),
            })?;
        Ok(view(row, 0))
    }

    /// Renames a collection of `user`.
    pub async fn rename(&self, user: Uuid, id: Uuid, name: &str) -> Result<(), CollectionError> {
        let name = parse_name(name)?;
        if self.name_taken(user, &name, Some(id)).await? {
            return Err(CollectionError::NameTaken);
        }
        let res = collection::Entity::update_many()
            .col_expr(collection::Column::Name, Expr::value(name))
            .col_expr(collection::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(collection::Column::Id.eq(id))
            .filter(collection::Column::UserId.eq(user))
            .exec(&self.db)
            .await
            .map_err(|e| match e.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => CollectionError::NameTaken,
                _ => Unexpected::new("renaming a collection", e).into(),
            })?;
        if res.rows_affected == 1 {
            Ok(())
        } else {
            Err(CollectionError::NotFound)
        }
    }

    /// Deletes a collection of `user` (its images stay in the gallery; its
    /// share links stop working). `false` if there is no such collection.
    pub async fn delete(&self, user: Uuid, id: Uuid) -> Result<bool, Unexpected> {
        let res = collection::Entity::delete_many()
            .filter(collection::Column::Id.eq(id))
            .filter(collection::Column::UserId.eq(user))
            .exec(&self.db)
            .await
            .unexpected("deleting a collection")?;
        Ok(res.rows_affected == 1)
    }

    /// The ids and names of every collection of `user`, by name (one query).
    pub async fn names(&self, user: Uuid) -> Result<Vec<(Uuid, String)>, Unexpected> {
        collection::Entity::find()
            .select_only()
            .columns([collection::Column::Id, collection::Column::Name])
            .filter(collection::Column::UserId.eq(user))
            .order_by_asc(collection::Column::Name)
            .into_tuple()
            .all(&self.db)
            .await
            .unexpected("listing collection names")
    }

    /// One collection of `user`, with its image count.
    pub async fn get(&self, user: Uuid, id: Uuid) -> Result<Option<CollectionView>, Unexpected> {
        let Some(c) = collection::Entity::find_by_id(id)
            .filter(collection::Column::UserId.eq(user))
            .one(&self.db)
            .await
            .unexpected("reading a collection")?
        else {
            return Ok(None);
        };
        let n = collection_image::Entity::find()
            .filter(collection_image::Column::CollectionId.eq(id))
            .count(&self.db)
            .await
            .unexpected("counting a collection's images")?;
        Ok(Some(view(c, n as i64)))
    }

    /// Every collection of `user`, by name, with image counts (two
    /// queries). With `containing`, only those that hold that image.
    pub async fn list(
        &self,
        user: Uuid,
        containing: Option<Uuid>,
    ) -> Result<Vec<CollectionView>, Unexpected> {
        let mut q = collection::Entity::find().filter(collection::Column::UserId.eq(user));
        if let Some(image_id) = containing {
            q = q.filter(
                collection::Column::Id.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(collection_image::Column::CollectionId)
                        .from(collection_image::Entity)
                        .and_where(collection_image::Column::ImageId.eq(image_id))
                        .and_where(collection_image::Column::UserId.eq(user))
                        .to_owned(),
                ),
            );
        }
        let rows = q
            .order_by_asc(collection::Column::Name)
            .all(&self.db)
            .await
            .unexpected("listing collections")?;
        if rows.is_empty() {
            return Ok(vec![]);
        }
        let counts: Vec<CountRow> = collection_image::Entity::find()
            .select_only()
            .column(collection_image::Column::CollectionId)
            .column_as(collection_image::Column::ImageId.count(), "n")
            .filter(collection_image::Column::UserId.eq(user))
            .filter(collection_image::Column::CollectionId.is_in(rows.iter().map(|c| c.id)))
            .group_by(collection_image::Column::CollectionId)
            .into_model::<CountRow>()
            .all(&self.db)
            .await
            .unexpected("counting collection images")?;
        Ok(rows
            .into_iter()
            .map(|c| {
                let n = counts
                    .iter()
                    .find(|r| r.collection_id == c.id)
                    .map_or(0, |r| r.n);
                view(c, n)
            })
            .collect())
    }

    /// A batch of at most [`MAX_BATCH`] images for a collection of `user`.
    async fn check_batch(
        &self,
        user: Uuid,
        id: Uuid,
        images: &[Uuid],
    ) -> Result<(), CollectionError> {
        if images.len() > MAX_BATCH {
            return Err(CollectionError::TooManyImages);
        }
        let found = collection::Entity::find_by_id(id)
            .filter(collection::Column::UserId.eq(user))
            .count(&self.db)
            .await
            .unexpected("reading a collection")?;
        if found == 1 {
            Ok(())
        } else {
            Err(CollectionError::NotFound)
        }
    }

    /// Adds images of `user` to their collection; ids that are not their
    /// images are ignored, images already in it stay once. Returns how many
    /// of the named images are now in the collection.
    pub async fn add(
        &self,
        user: Uuid,
        collection_id: Uuid,
        images: &[Uuid],
    ) -> Result<usize, CollectionError> {
        self.check_batch(user, collection_id, images).await?;
        let owned: Vec<Uuid> = image::Entity::find()
            .select_only()
            .column(image::Column::Id)
            .filter(image::Column::UserId.eq(user))
            .filter(image::Column::Id.is_in(images.iter().copied()))
            .into_tuple()
            .all(&self.db)
            .await
            .unexpected("finding images to collect")?;
        if owned.is_empty() {
            return Ok(0);
        }
        let now = Utc::now();
        collection_image::Entity::insert_many(owned.iter().map(|id| {
            collection_image::ActiveModel {
                collection_id: Set(collection_id),
                image_id: Set(*id),
                user_id: Set(user),
                added_at: Set(now),
            }
        }))
        .on_conflict(
            OnConflict::columns([
                collection_image::Column::CollectionId,
                collection_image::Column::ImageId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .do_nothing()
        .exec_without_returning(&self.db)
        .await
        .unexpected("adding images to a collection")?;
        self.touch(collection_id).await?;
        Ok(owned.len())
    }

    /// Takes images out of a collection of `user` (they stay in the
    /// gallery). Returns how many were in it.
    pub async fn remove(
        &self,
        user: Uuid,
        collection_id: Uuid,
        images: &[Uuid],
    ) -> Result<u64, CollectionError> {
        self.check_batch(user, collection_id, images).await?;
        let res = collection_image::Entity::delete_many()
            .filter(collection_image::Column::CollectionId.eq(collection_id))
            .filter(collection_image::Column::UserId.eq(user))
            .filter(collection_image::Column::ImageId.is_in(images.iter().copied()))
            .exec(&self.db)
            .await
            .unexpected("removing images from a collection")?;
        self.touch(collection_id).await?;
        Ok(res.rows_affected)
    }

    async fn touch(&self, id: Uuid) -> Result<(), Unexpected> {
        collection::Entity::update_many()
            .col_expr(collection::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(collection::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .unexpected("updating a collection")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_collapsed_and_bounded() {
        assert_eq!(parse_name("  Sea   and sky ").unwrap(), "Sea and sky");
        assert!(matches!(parse_name("   "), Err(CollectionError::BadName)));
        assert!(matches!(
            parse_name("a\u{0}b"),
            Err(CollectionError::BadName)
        ));
        assert!(parse_name(&"é".repeat(MAX_NAME)).is_ok());
        assert!(matches!(
            parse_name(&"é".repeat(MAX_NAME + 1)),
            Err(CollectionError::BadName)
        ));
    }
}
