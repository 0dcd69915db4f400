//! Collections: list, create, rename, delete, add and remove images, and a
//! page of one collection's images. Thin: session -> domain -> DTO.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::gallery::GalleryItemDto;

/// A collection as its owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionDto {
    pub id: String,
    pub name: String,
    pub image_count: i64,
    /// "2026-11-24 14:03 UTC"
    pub updated_at: String,
}

/// One page of a collection's images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionPageDto {
    pub collection: CollectionDto,
    pub items: Vec<GalleryItemDto>,
    pub next_cursor: Option<String>,
}

#[cfg(feature = "ssr")]
pub(crate) mod server {
    use super::*;
    use uni1_domain::library::collections::{CollectionView, Collections};

    pub fn collections() -> Result<Collections, AppError> {
        Ok(crate::state::app_state()?.collections)
    }

    pub fn dto(c: CollectionView) -> CollectionDto {
        CollectionDto {
            id: c.id.to_string(),
            name: c.name,
            image_count: c.image_count,
            updated_at: crate::dates::minute(c.updated_at),
        }
    }
}

/// The signed-in person's collections by name; with `image`, only those
/// holding that image.
#[server(prefix = "/api", endpoint = "collections")]
pub async fn list_collections(
    #[server(default)] image: String,
) -> Result<Vec<CollectionDto>, AppError> {
    let user = crate::session::require_user()?;
    let containing = match image.trim() {
        "" => None,
        s => Some(crate::params::id(s)?),
    };
    Ok(server::collections()?
        .list(user.id, containing)
        .await?
        .into_iter()
        .map(server::dto)
        .collect())
}

/// Makes a collection; with `image`, puts that image in it.
#[server(prefix = "/api", endpoint = "collection-create")]
pub async fn create_collection(
    name: String,
    #[server(default)] image: String,
) -> Result<CollectionDto, AppError> {
    let user = crate::session::require_user()?;
    let collections = server::collections()?;
    // Checked before anything is written, so a bad id leaves no collection.
    let image = match image.trim() {
        "" => None,
        s => Some(crate::params::id(s)?),
    };
    let mut c = collections.create(user.id, &name).await?;
    if let Some(image) = image {
        c.image_count = collections.add(user.id, c.id, &[image]).await? as i64;
    }
    Ok(server::dto(c))
}

/// Renames one of the signed-in person's collections.
#[server(prefix = "/api", endpoint = "collection-rename")]
pub async fn rename_collection(id: String, name: String) -> Result<(), AppError> {
    let user = crate::session::require_user()?;
    Ok(server::collections()?
        .rename(user.id, crate::params::id(&id)?, &name)
        .await?)
}

/// Deletes a collection (not its images) and goes to the list.
#[server(prefix = "/api", endpoint = "collection-delete")]
pub async fn delete_collection(id: String) -> Result<(), AppError> {
    let user = crate::session::require_user()?;
    if !server::collections()?
        .delete(user.id, crate::params::id(&id)?)
        .await?
    {
        return Err(AppError::NotFound.respond());
    }
    leptos_axum::redirect("/collections");
    Ok(())
}

/// Adds (`remove` empty) or removes (`remove` = "1") images, `ids`
/// separated by commas; returns how many were affected.
#[server(prefix = "/api", endpoint = "collection-images")]
pub async fn change_collection(
    id: String,
    ids: String,
    #[server(default)] remove: String,
) -> Result<u64, AppError> {
    let user = crate::session::require_user()?;
    let collections = server::collections()?;
    let collection = crate::params::id(&id)?;
    let images = crate::params::ids(&ids);
    if images.is_empty() {
        return Err(AppError::invalid("ids", "Choose at least one image.").respond());
    }
    if crate::params::flag(&remove) {
        Ok(collections.remove(user.id, collection, &images).await?)
    } else {
        Ok(collections.add(user.id, collection, &images).await? as u64)
    }
}

/// One collection of the signed-in person and a page of its images.
#[server(prefix = "/api", endpoint = "collection")]
pub async fn get_collection(
    id: String,
    #[server(default)] cursor: String,
) -> Result<CollectionPageDto, AppError> {
    use uni1_domain::library::gallery::GalleryQuery;
    let user = crate::session::require_user()?;
    let collections = server::collections()?;
    let id = crate::params::id(&id)?;
    let Some(c) = collections.get(user.id, id).await? else {
        return Err(AppError::NotFound.respond());
    };
    let cursor = crate::params::cursor(&cursor)?;
    let query = GalleryQuery {
        collection_id: Some(id),
        ..Default::default()
    };
    let page = crate::state::app_state()?
        .gallery
        .page(user.id, &query, cursor, crate::gallery::PAGE_SIZE)
        .await?;
    let now = chrono::Utc::now();
    Ok(CollectionPageDto {
        collection: server::dto(c),
        items: page
            .items
            .into_iter()
            .map(|i| crate::gallery::server::item_dto(i, now))
            .collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
    })
}
