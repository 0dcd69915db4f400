//! The gallery's data and server functions: a filtered page of images, the
//! details of one, favourites and deletion. Thin: session -> domain service
//! -> DTO, with dates and days preformatted as text.

// `get_gallery` takes one argument per filter field (so the plain GET form
// and its shareable URL map onto it one to one); the `#[server]` macro does
// not carry an `allow` on the function through to the code it generates.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// How many images one gallery page shows.
pub const PAGE_SIZE: u64 = 24;

/// A choice in a filter's drop-down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterOption {
    pub value: String,
    pub label: String,
}

/// One image in the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GalleryItemDto {
    pub id: String,
    pub prompt: String,
    pub model_id: String,
    pub aspect_ratio: String,
    pub seed: Option<i64>,
    pub width: i32,
    pub height: i32,
    pub favorite: bool,
    /// "2026-11-24 14:03 UTC"
    pub created_at: String,
    /// Whole days of download left; 0 once expired.
    pub days_left: i64,
    /// "2026-11-24" when the files were deleted at the end of the window.
    pub expired_on: Option<String>,
    /// Shown in the public gallery.
    pub published: bool,
    /// Taken out of the public gallery by moderation.
    pub hidden: bool,
    /// Taken down by moderation: its files are no longer served to anyone.
    #[serde(default)]
    pub taken_down: bool,
}

/// One page of the gallery, with what the filter form offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GalleryPageDto {
    pub items: Vec<GalleryItemDto>,
    /// The `cursor` for the "More" link; `None` on the last page.
    pub next_cursor: Option<String>,
    pub models: Vec<FilterOption>,
    pub aspect_ratios: Vec<String>,
    /// The person's collections, for "add the ticked images to".
    pub collections: Vec<FilterOption>,
}

/// One image with every setting that made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageDetailsDto {
    pub item: GalleryItemDto,
    pub model_name: String,
    pub negative_prompt: Option<String>,
    pub style: Option<String>,
    pub seed_requested: Option<i64>,
    pub seed_used: Option<i64>,
    /// "2 of 4"
    pub position: String,
    pub credits: i64,
    pub status: String,
    /// "0.6" when a reference image was used.
    pub reference_strength: Option<String>,
    pub queued_at: String,
    pub finished_at: Option<String>,
    /// Seconds from start to finish.
    pub seconds: Option<f64>,
    /// `/studio?prompt=…&model=…&aspect_ratio=…&seed=…`
    pub reuse_href: String,
    /// The same without the seed, remembering this image as the parent.
    pub variation_href: String,
    /// `/gallery/<id>` of the image this one is a variation of.
    pub parent_href: Option<String>,
}

/// What a delete did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletedDto {
    pub deleted: usize,
    pub not_found: usize,
}

#[cfg(feature = "ssr")]
pub(crate) mod server {
    use super::*;
    use uni1_domain::library::gallery::{Details, Gallery, GalleryItem};

    pub fn gallery() -> Result<(Gallery, uni1_domain::generation::Generations), AppError> {
        let state = crate::state::app_state()?;
        Ok((state.gallery, state.generations))
    }

    pub fn date(field: &str, s: &str) -> Result<Option<chrono::NaiveDate>, AppError> {
        match s.trim() {
            "" => Ok(None),
            s => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| {
                    AppError::invalid(field, "Enter the date as year-month-day, e.g. 2026-11-24.")
                        .respond()
                }),
        }
    }

    pub fn item_dto(i: GalleryItem, now: chrono::DateTime<chrono::Utc>) -> GalleryItemDto {
        GalleryItemDto {
            id: i.id.to_string(),
            days_left: i.days_left(now),
            expired_on: i.purged_at.map(crate::dates::day),
            created_at: crate::dates::minute(i.created_at),
            prompt: i.prompt,
            model_id: i.model_id,
            aspect_ratio: i.aspect_ratio,
            seed: i.seed,
            width: i.width,
            height: i.height,
            favorite: i.favorite,
            published: i.published,
            hidden: i.hidden,
            taken_down: i.taken_down,
        }
    }

    pub fn variation_href(d: &Details) -> String {
        let enc = crate::auth::encode_component;
        format!(
            "/studio?prompt={}&model={}&aspect_ratio={}&parent={}",
            enc(&d.item.prompt),
            enc(&d.item.model_id),
            enc(&d.item.aspect_ratio),
            d.item.id
        )
    }

    pub fn reuse_href(d: &Details) -> String {
        let enc = crate::auth::encode_component;
        let mut href = format!(
            "/studio?prompt={}&model={}&aspect_ratio={}",
            enc(&d.item.prompt),
            enc(&d.item.model_id),
            enc(&d.item.aspect_ratio)
        );
        if let Some(seed) = d.item.seed {
            href.push_str(&format!("&seed={seed}"));
        }
        href
    }
}

/// A page of the signed-in person's images. Every argument may be empty:
/// `q` words in the prompt, `model`, `aspect_ratio`, `from`/`to` dates
/// (YYYY-MM-DD, UTC, inclusive), `favorites` ("1" for favourites only),
/// `cursor` from the previous page's `next_cursor`.
#[server(prefix = "/api", endpoint = "gallery")]
pub async fn get_gallery(
    #[server(default)] q: String,
    #[server(default)] model: String,
    #[server(default)] aspect_ratio: String,
    #[server(default)] from: String,
    #[server(default)] to: String,
    #[server(default)] favorites: String,
    #[server(default)] cursor: String,
) -> Result<GalleryPageDto, AppError> {
    use uni1_domain::library::gallery::GalleryQuery;

    let user = crate::session::require_user()?;
    let (gallery, gens) = server::gallery()?;
    let cursor = crate::params::cursor(&cursor)?;
    let from = server::date("from", &from)?;
    let to = server::date("to", &to)?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(
                AppError::invalid("to", "The end date is before the start date.").respond(),
            );
        }
    }
    let query = GalleryQuery {
        text: Some(q),
        model_id: Some(model),
        aspect_ratio: Some(aspect_ratio),
        from,
        to,
        favorites_only: crate::params::flag(&favorites),
        collection_id: None,
        downloadable_only: false,
        without_hidden: false,
    };
    let page = gallery.page(user.id, &query, cursor, PAGE_SIZE).await?;
    let collections = crate::state::app_state()?
        .collections
        .names(user.id)
        .await?
        .into_iter()
        .map(|(id, name)| FilterOption {
            value: id.to_string(),
            label: name,
        })
        .collect();
    let now = chrono::Utc::now();
    let aspect_ratios = gens
        .catalog
        .aspect_ratio_labels()
        .into_iter()
        .map(str::to_owned)
        .collect();
    Ok(GalleryPageDto {
        items: page
            .items
            .into_iter()
            .map(|i| server::item_dto(i, now))
            .collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
        models: gens
            .catalog
            .all()
            .iter()
            .map(|m| FilterOption {
                value: m.id.clone(),
                label: m.name.clone(),
            })
            .collect(),
        aspect_ratios,
        collections,
    })
}

/// One image of the signed-in person with all its settings.
#[server(prefix = "/api", endpoint = "gallery-image")]
pub async fn get_image_details(id: String) -> Result<ImageDetailsDto, AppError> {
    let user = crate::session::require_user()?;
    let (gallery, gens) = server::gallery()?;
    let id = crate::params::id(&id)?;
    let Some(d) = gallery.details(user.id, id).await? else {
        return Err(AppError::NotFound.respond());
    };
    let reuse_href = server::reuse_href(&d);
    let variation_href = server::variation_href(&d);
    let parent_href = d.parent_id.map(|p| format!("/gallery/{p}"));
    let model_name = gens
        .catalog
        .all()
        .iter()
        .find(|m| m.id == d.item.model_id)
        .map(|m| m.name.clone())
        .unwrap_or_else(|| d.item.model_id.clone());
    let fmt = crate::dates::second;
    Ok(ImageDetailsDto {
        model_name,
        negative_prompt: d.negative_prompt.clone(),
        style: d.style.clone(),
        seed_requested: d.seed_requested,
        seed_used: d.seed_used,
        position: format!("{} of {}", d.item.position + 1, d.image_count),
        credits: d.credits,
        status: d.status.as_str().into(),
        reference_strength: d.reference_strength.map(|s| format!("{s:.2}")),
        queued_at: fmt(d.queued_at),
        finished_at: d.finished_at.map(fmt),
        seconds: match (d.started_at, d.finished_at) {
            (Some(s), Some(f)) => Some((f - s).num_milliseconds() as f64 / 1000.0),
            _ => None,
        },
        reuse_href,
        variation_href,
        parent_href,
        item: server::item_dto(d.item, chrono::Utc::now()),
    })
}

/// Marks (`favorite` = "true") or unmarks one of the signed-in person's
/// images; returns the new state.
#[server(prefix = "/api", endpoint = "gallery-favorite")]
pub async fn set_favorite(id: String, favorite: String) -> Result<bool, AppError> {
    let user = crate::session::require_user()?;
    let (gallery, _) = server::gallery()?;
    let id = crate::params::id(&id)?;
    let favorite = crate::params::flag(&favorite);
    if gallery.set_favorite(user.id, id, favorite).await? {
        Ok(favorite)
    } else {
        Err(AppError::NotFound.respond())
    }
}

/// Deletes images of the signed-in person for good: `ids` separated by
/// commas or spaces (at most 100). Ids that are not theirs are ignored; if
/// none is theirs the answer is "not found". `after` = "gallery" sends the
/// browser to the gallery afterwards (the image's own page is gone).
#[server(prefix = "/api", endpoint = "gallery-delete")]
pub async fn delete_images(
    ids: String,
    #[server(default)] after: String,
) -> Result<DeletedDto, AppError> {
    let user = crate::session::require_user()?;
    let (gallery, gens) = server::gallery()?;
    let parsed = crate::params::ids(&ids);
    if parsed.len() > uni1_domain::library::gallery::MAX_DELETE {
        return Err(AppError::invalid("ids", "Delete at most 100 images at a time.").respond());
    }
    let outcome = gallery.delete(&gens.blobs, user.id, &parsed).await?;
    if !outcome.failed.is_empty() {
        tracing::error!(failed = ?outcome.failed, "images could not be deleted");
        return Err(AppError::Internal.respond());
    }
    if outcome.deleted.is_empty() {
        return Err(AppError::NotFound.respond());
    }
    if after == "gallery" {
        leptos_axum::redirect("/gallery");
    }
    Ok(DeletedDto {
        deleted: outcome.deleted.len(),
        not_found: outcome.not_found.len(),
    })
}

/// The expiry reminder setting and the download window it is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReminderSettingDto {
    pub on: bool,
    pub retention_days: i64,
}

/// Whether the signed-in person gets a mail 7 days before images expire;
/// `None` when signed out (the Settings page shows it, and stays open to
/// everyone).
#[server(prefix = "/api", endpoint = "reminders")]
pub async fn get_expiry_reminders() -> Result<Option<ReminderSettingDto>, AppError> {
    let Some(user) = crate::session::current_user() else {
        return Ok(None);
    };
    let state = crate::state::app_state()?;
    Ok(Some(ReminderSettingDto {
        on: uni1_domain::library::reminders::opted_in(&state.db, user.id).await?,
        retention_days: state.generations.queue.retention.num_days(),
    }))
}

/// Turns the expiry reminder on (`on` = "true") or off.
#[server(prefix = "/api", endpoint = "reminders-set")]
pub async fn set_expiry_reminders(on: String) -> Result<bool, AppError> {
    let user = crate::session::require_user()?;
    let db = crate::state::app_state()?.db;
    let on = crate::params::flag(&on);
    uni1_domain::library::reminders::set_opt_in(&db, user.id, on).await?;
    Ok(on)
}
