//! Share links: make, list and revoke links to one image or one collection
//! (owner only), and read what a link shows (anyone holding it).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A link as its owner sees it; `url` only right after it was made (the
/// token is not stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareLinkDto {
    pub id: String,
    /// Set for a link to one image.
    pub image_id: Option<String>,
    /// Set for a link to a collection.
    pub collection_id: Option<String>,
    pub created_at: String,
    /// "never" or "2026-12-24 10:00 UTC"
    pub expires: String,
    pub active: bool,
    pub revoked: bool,
}

impl ShareLinkDto {
    /// "active", "expired" or "turned off".
    pub fn state(&self) -> &'static str {
        if self.revoked {
            "turned off"
        } else if self.active {
            "active"
        } else {
            "expired"
        }
    }
}

/// A new link: its address, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewShareDto {
    pub url: String,
}

/// An image on a share page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedImageDto {
    pub id: String,
    pub prompt: String,
    pub width: i32,
    pub height: i32,
    /// Relative path of the picture to show.
    pub src: String,
    /// Relative path of the larger picture (collections link to it).
    pub full: String,
}

/// What a share page shows: one image, or a page of a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedDto {
    /// The prompt, or the collection's name.
    pub title: String,
    /// The image is in the public gallery, so the page may be indexed.
    pub indexable: bool,
    pub page_url: String,
    /// Absolute, signed and expiring: for link previews (OpenGraph,
    /// Twitter cards). `None` for an empty collection.
    pub preview_url: Option<String>,
    pub preview_width: i32,
    pub preview_height: i32,
    pub image: Option<SharedImageDto>,
    /// The collection's images on this page.
    pub items: Vec<SharedImageDto>,
    /// For the collection's "More" link.
    pub next_cursor: Option<String>,
}

#[cfg(feature = "ssr")]
mod server {
    use super::*;
    use uni1_domain::library::sharing::ShareTarget;

    pub fn sharing() -> Result<
        (
            uni1_domain::library::sharing::Sharing,
            crate::state::AppState,
        ),
        AppError,
    > {
        let state = crate::state::app_state()?;
        Ok((state.sharing.clone(), state))
    }

    /// The image or collection named by the form: exactly one of the two.
    pub fn target(image: &str, collection: &str) -> Result<Option<ShareTarget>, AppError> {
        match (image.trim(), collection.trim()) {
            ("", "") => Ok(None),
            (i, "") => Ok(Some(ShareTarget::Image(crate::params::id(i)?))),
            ("", c) => Ok(Some(ShareTarget::Collection(crate::params::id(c)?))),
            _ => Err(
                AppError::invalid("image", "Share an image or a collection, not both.").respond(),
            ),
        }
    }

    pub fn dto(v: uni1_domain::library::sharing::ShareLinkView) -> ShareLinkDto {
        let now = chrono::Utc::now();
        let (image_id, collection_id) = match v.target {
            ShareTarget::Image(i) => (Some(i.to_string()), None),
            ShareTarget::Collection(c) => (None, Some(c.to_string())),
        };
        ShareLinkDto {
            id: v.id.to_string(),
            image_id,
            collection_id,
            created_at: crate::dates::minute(v.created_at),
            expires: v
                .expires_at
                .map(crate::dates::minute)
                .unwrap_or_else(|| "never".into()),
            active: v.is_active(now),
            revoked: v.revoked_at.is_some(),
        }
    }
}

/// Makes a link to one of the signed-in person's images (`image`) or
/// collections (`collection`). `expires_in_days`: empty for never, else
/// 1..=365.
#[server(prefix = "/api", endpoint = "share-create")]
pub async fn create_share_link(
    #[server(default)] image: String,
    expires_in_days: String,
    #[server(default)] collection: String,
) -> Result<NewShareDto, AppError> {
    use uni1_domain::library::sharing::ShareError;
    let user = crate::session::require_user()?;
    let (sharing, state) = server::sharing()?;
    let Some(target) = server::target(&image, &collection)? else {
        return Err(AppError::invalid("image", "Choose what to share.").respond());
    };
    let days = match expires_in_days.trim() {
        "" | "never" => None,
        s => Some(s.parse::<u32>().map_err(|_| {
            AppError::invalid("expires_in_days", ShareError::BadExpiry.to_string()).respond()
        })?),
    };
    let (_, token) = sharing.create(user.id, target, days).await?;
    Ok(NewShareDto {
        url: format!("{}/s/{token}", state.public_origin),
    })
}

/// The signed-in person's links to one image or collection, or all of them
/// when both are empty.
#[server(prefix = "/api", endpoint = "share-list")]
pub async fn list_share_links(
    #[server(default)] image: String,
    #[server(default)] collection: String,
) -> Result<Vec<ShareLinkDto>, AppError> {
    let user = crate::session::require_user()?;
    let (sharing, _) = server::sharing()?;
    let target = server::target(&image, &collection)?;
    Ok(sharing
        .list(user.id, target)
        .await?
        .into_iter()
        .map(server::dto)
        .collect())
}

/// Revokes one of the signed-in person's links.
#[server(prefix = "/api", endpoint = "share-revoke")]
pub async fn revoke_share_link(id: String) -> Result<(), AppError> {
    let user = crate::session::require_user()?;
    let (sharing, _) = server::sharing()?;
    if sharing.revoke(user.id, crate::params::id(&id)?).await? {
        Ok(())
    } else {
        Err(AppError::NotFound.respond())
    }
}

/// What the link `token` shows; the same "not found" for a wrong, revoked or
/// expired link. For a collection, `cursor` pages through its images.
#[server(prefix = "/api", endpoint = "shared")]
pub async fn get_shared(
    token: String,
    #[server(default)] cursor: String,
) -> Result<SharedDto, AppError> {
    use uni1_domain::library::sharing::SharedContent;
    let (sharing, state) = server::sharing()?;
    let token = token.trim().to_owned();
    // A wrong link is "not found" whatever the cursor; the cursor only
    // matters (and a bad one is refused) on a collection's page.
    let cursor = crate::params::public_cursor(&cursor);
    let Some(view) = sharing
        .view(
            &state.gallery,
            &state.generations.signer,
            &token,
            cursor.as_ref().ok().copied().flatten(),
            crate::gallery::PAGE_SIZE,
            chrono::Utc::now(),
        )
        .await?
    else {
        return Err(AppError::NotFound.respond());
    };
    if matches!(view.content, SharedContent::Collection { .. }) {
        cursor?;
    }
    let origin = &state.public_origin;
    let (image, items, next_cursor) = match view.content {
        SharedContent::Image(image) => (
            Some(SharedImageDto {
                id: image.image.id.to_string(),
                prompt: image.prompt,
                width: image.image.width,
                height: image.image.height,
                src: format!("/s/{token}/image"),
                full: format!("/s/{token}/image"),
            }),
            vec![],
            None,
        ),
        SharedContent::Collection { items, next_cursor } => (
            None,
            items
                .into_iter()
                .map(|i| SharedImageDto {
                    id: i.id.to_string(),
                    src: format!("/s/{token}/{}/thumb", i.id),
                    full: format!("/s/{token}/{}/preview", i.id),
                    prompt: i.prompt,
                    width: i.width,
                    height: i.height,
                })
                .collect(),
            next_cursor.map(|c| c.encode()),
        ),
    };
    Ok(SharedDto {
        title: view.title,
        indexable: view.indexable,
        preview_url: view.preview.as_ref().map(|p| format!("{origin}{}", p.path)),
        preview_width: view.preview.as_ref().map_or(0, |p| p.width),
        preview_height: view.preview.as_ref().map_or(0, |p| p.height),
        page_url: format!("{origin}/s/{token}"),
        image,
        items,
        next_cursor,
    })
}
