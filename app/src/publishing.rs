//! The public gallery: publishing one's own images, browsing what others
//! published, and reporting an image.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// How many images one public page shows.
pub const PUBLIC_PAGE_SIZE: u64 = 24;

/// A published image as anyone sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicImageDto {
    pub id: String,
    pub prompt: String,
    pub model_id: String,
    pub width: i32,
    pub height: i32,
    /// "2026-11-24"
    pub published_on: String,
    /// Absolute URL of the preview, for OpenGraph.
    pub image_url: String,
    pub page_url: String,
}

/// One page of the public gallery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicPageDto {
    pub items: Vec<PublicImageDto>,
    pub next_cursor: Option<String>,
}

#[cfg(feature = "ssr")]
mod server {
    use super::*;
    use uni1_domain::library::publishing::{PublicImage, Publishing};

    pub fn publishing() -> Result<(Publishing, crate::state::AppState), AppError> {
        let state = crate::state::app_state()?;
        Ok((state.publishing.clone(), state))
    }

    pub fn dto(p: PublicImage, origin: &str) -> PublicImageDto {
        PublicImageDto {
            image_url: format!("{origin}/p/{}/preview", p.id),
            page_url: format!("{origin}/p/{}", p.id),
            id: p.id.to_string(),
            prompt: p.prompt,
            model_id: p.model_id,
            width: p.width,
            height: p.height,
            published_on: crate::dates::day(p.published_at),
        }
    }
}

/// Publishes (`published` = "true") or unpublishes one of the signed-in
/// person's images; returns the new state.
#[server(prefix = "/api", endpoint = "publish")]
pub async fn set_published(id: String, published: String) -> Result<bool, AppError> {
    let user = crate::session::require_user()?;
    let (publishing, state) = server::publishing()?;
    let on = crate::params::flag(&published);
    Ok(publishing
        .set_published(
            &state.generations.content,
            user.id,
            crate::params::id(&id)?,
            on,
        )
        .await?)
}

/// A page of the public gallery, newest first.
#[server(prefix = "/api", endpoint = "explore")]
pub async fn get_public_gallery(
    #[server(default)] cursor: String,
) -> Result<PublicPageDto, AppError> {
    let (publishing, state) = server::publishing()?;
    let cursor = crate::params::public_cursor(&cursor)?;
    let page = publishing.page(cursor, PUBLIC_PAGE_SIZE).await?;
    let origin = state.public_origin.clone();
    Ok(PublicPageDto {
        items: page
            .items
            .into_iter()
            .map(|p| server::dto(p, &origin))
            .collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
    })
}

/// One published image.
#[server(prefix = "/api", endpoint = "explore-image")]
pub async fn get_public_image(id: String) -> Result<PublicImageDto, AppError> {
    let (publishing, state) = server::publishing()?;
    match publishing.image(crate::params::id(&id)?).await? {
        Some(p) => Ok(server::dto(p, &state.public_origin)),
        None => Err(AppError::NotFound.respond()),
    }
}

/// Reports a published image to the moderators (anyone may; limited per
/// address).
#[server(prefix = "/api", endpoint = "explore-report")]
pub async fn report_image(id: String, reason: String) -> Result<(), AppError> {
    let (publishing, state) = server::publishing()?;
    let image = crate::params::id(&id)?;
    uni1_domain::library::publishing::report_text(&reason)?;
    let client = crate::session::client_info();
    state.limits.image_report(&client.ip).await?;
    Ok(publishing.report(image, &reason).await?)
}
