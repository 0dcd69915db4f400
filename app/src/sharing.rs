//! Share links: make, list and revoke links to one image (owner only), and
//! read what a link shows (anyone holding it).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A link as its owner sees it; `url` only right after it was made (the
/// token is not stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareLinkDto {
    pub id: String,
    pub image_id: String,
    pub created_at: String,
    /// "never" or "2026-12-24 10:00 UTC"
    pub expires: String,
    pub active: bool,
    pub revoked: bool,
}

/// A new link: its address, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewShareDto {
    pub url: String,
}

/// What a share page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedDto {
    pub prompt: String,
    pub width: i32,
    pub height: i32,
    /// Relative, for the page.
    pub image_path: String,
    /// Absolute, for link previews (OpenGraph, Twitter cards).
    pub image_url: String,
    pub page_url: String,
}

#[cfg(feature = "ssr")]
mod server {
    use super::*;

    pub fn sharing() -> Result<(uni1_domain::sharing::Sharing, String), AppError> {
        let state = crate::state::app_state()?;
        Ok((
            uni1_domain::sharing::Sharing {
                db: state.db.clone(),
            },
            state.accounts.mail.base_url.clone(),
        ))
    }

    pub fn id(s: &str) -> Result<uuid::Uuid, AppError> {
        uuid::Uuid::parse_str(s.trim()).map_err(|_| AppError::NotFound.respond())
    }

    pub fn dto(v: uni1_domain::sharing::ShareLinkView) -> ShareLinkDto {
        let now = chrono::Utc::now();
        ShareLinkDto {
            id: v.id.to_string(),
            image_id: v.image_id.to_string(),
            created_at: v.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            expires: v
                .expires_at
                .map(|e| e.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "never".into()),
            active: v.is_active(now),
            revoked: v.revoked_at.is_some(),
        }
    }
}

/// Makes a link to one of the signed-in person's images. `expires_in_days`:
/// empty for never, else 1..=365.
#[server(prefix = "/api", endpoint = "share-create")]
pub async fn create_share_link(
    image: String,
    expires_in_days: String,
) -> Result<NewShareDto, AppError> {
    use uni1_domain::sharing::ShareError;
    let user = crate::session::require_user()?;
    let (sharing, origin) = server::sharing()?;
    let days = match expires_in_days.trim() {
        "" | "never" => None,
        s => Some(s.parse::<u32>().map_err(|_| {
            AppError::invalid("expires_in_days", ShareError::BadExpiry.to_string()).respond()
        })?),
    };
    match sharing.create(user.id, server::id(&image)?, days).await {
        Ok((_, token)) => Ok(NewShareDto {
            url: format!("{origin}/s/{token}"),
        }),
        Err(e @ ShareError::BadExpiry) => {
            Err(AppError::invalid("expires_in_days", e.to_string()).respond())
        }
        Err(ShareError::NotFound) => Err(AppError::NotFound.respond()),
        Err(ShareError::Unexpected(e)) => Err(AppError::from(e).respond()),
    }
}

/// The signed-in person's links to one image, or all of them when `image`
/// is empty.
#[server(prefix = "/api", endpoint = "share-list")]
pub async fn list_share_links(
    #[server(default)] image: String,
) -> Result<Vec<ShareLinkDto>, AppError> {
    let user = crate::session::require_user()?;
    let (sharing, _) = server::sharing()?;
    let image = match image.trim() {
        "" => None,
        s => Some(server::id(s)?),
    };
    Ok(sharing
        .list(user.id, image)
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
    if sharing.revoke(user.id, server::id(&id)?).await? {
        Ok(())
    } else {
        Err(AppError::NotFound.respond())
    }
}

/// What the link `token` shows; the same "not found" for a wrong, revoked or
/// expired link.
#[server(prefix = "/api", endpoint = "shared")]
pub async fn get_shared(token: String) -> Result<SharedDto, AppError> {
    let (sharing, origin) = server::sharing()?;
    let token = token.trim().to_owned();
    match sharing.resolve(&token, chrono::Utc::now()).await? {
        Some(s) => Ok(SharedDto {
            prompt: s.prompt,
            width: s.image.width,
            height: s.image.height,
            image_path: format!("/s/{token}/image"),
            image_url: format!("{origin}/s/{token}/image"),
            page_url: format!("{origin}/s/{token}"),
        }),
        None => Err(AppError::NotFound.respond()),
    }
}
