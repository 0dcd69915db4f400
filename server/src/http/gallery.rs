//! Plain HTTP routes of the gallery, the share pages and the public gallery:
//! - `POST /gallery/selection`: what to do with the images ticked in the
//!   gallery (a plain form, so it works without JavaScript): download them
//!   as one ZIP, add them to a collection, or go to the delete confirmation.
//! - `GET /s/{token}/{image}/{thumb|preview}`: an image of a shared
//!   collection, through its link.
//! - `GET /p/{image}/{thumb|preview}`: a published image (anyone).
//! - `GET /og/{link}/{image}?exp&sig`: the signed, expiring preview URL of
//!   share pages for link-preview crawlers.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::Utc;
use futures::StreamExt as _;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use uni1_app::session::RequestAuth;
use uni1_app::state::AppState;
use uni1_domain::generation::service::{MediaObject, Variant};
use uni1_domain::generation::Generations;
use uni1_domain::library::archive::OriginalsZip;
use uni1_domain::library::sharing::SharedImage;
use uuid::Uuid;

use super::error::{HttpError, OrUnavailable as _};
use super::media::{send, unavailable};

/// Most images one selection may hold (the same cap as deleting).
const MAX_SELECTION: usize = uni1_domain::library::gallery::MAX_DELETE;

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// `POST /gallery/selection` with `action` (download | add | delete),
/// `id` once per ticked image and, to add, `collection`.
pub async fn selection(
    State(app): State<AppState>,
    Extension(auth): Extension<RequestAuth>,
    body: Bytes,
) -> Response {
    let Some(user) = auth.user.as_ref() else {
        return see_other("/sign-in?next=/gallery");
    };
    let mut action = String::new();
    let mut collection = String::new();
    let mut ids: Vec<Uuid> = Vec::new();
    let mut too_many = false;
    for (k, v) in url::form_urlencoded::parse(&body) {
        match &*k {
            "action" => action = v.into_owned(),
            "collection" => collection = v.into_owned(),
            "id" => match Uuid::parse_str(v.trim()) {
                Ok(id) if ids.len() < MAX_SELECTION => ids.push(id),
                Ok(_) => too_many = true,
                Err(_) => {}
            },
            _ => {}
        }
    }
    if too_many {
        return see_other("/gallery?notice=too-many");
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return see_other("/gallery?notice=none-selected");
    }
    match action.as_str() {
        "download" => {
            let slot = match app.generations.limits.zip(user.id) {
                Ok(slot) => slot,
                Err(uni1_domain::support::rate_limit::Busy::Person { limit }) => {
                    return (
                        StatusCode::TOO_MANY_REQUESTS,
                        format!("You are already downloading {limit} ZIP files. Wait until one has finished."),
                    )
                        .into_response()
                }
                Err(uni1_domain::support::rate_limit::Busy::Everyone) => return unavailable(),
            };
            download_zip(&app.generations, user.id, ids, slot).await
        }
        "delete" => {
            let list: Vec<String> = ids.iter().map(Uuid::to_string).collect();
            see_other(&format!("/delete-images?ids={}", list.join(",")))
        }
        "add" => {
            let Ok(collection) = Uuid::parse_str(collection.trim()) else {
                return see_other("/gallery?notice=choose-collection");
            };
            match app.collections.add(user.id, collection, &ids).await {
                Ok(_) => see_other(&format!("/collections/{collection}")),
                Err(uni1_domain::library::collections::CollectionError::NotFound) => {
                    see_other("/gallery?notice=choose-collection")
                }
                Err(e) => {
                    tracing::error!(error = %e, "adding to a collection failed");
                    unavailable()
                }
            }
        }
        _ => (
            StatusCode::BAD_REQUEST,
            "Choose what to do with the selected images.",
        )
            .into_response(),
    }
}

/// Streams the originals of `ids` (those of `user` still downloadable) as
/// one ZIP ([`OriginalsZip`]). `slot` (one of the person's concurrent ZIP downloads) is held by the
/// stream, so it is freed when the download ends or the client leaves.
async fn download_zip(
    gens: &Generations,
    user: Uuid,
    ids: Vec<Uuid>,
    slot: uni1_domain::support::rate_limit::Slot,
) -> Response {
    let zip = match OriginalsZip::open(&gens.db, &gens.blobs, user, ids).await {
        Ok(Some(zip)) => zip,
        Ok(None) => return see_other("/gallery?notice=none-downloadable"),
        Err(e) => {
            tracing::error!(error = %uni1_app::error::chain(&e), "reading images to download failed");
            return unavailable();
        }
    };
    // The slot lives as long as the stream.
    let stream = futures::stream::unfold((zip, slot), |(mut zip, slot)| async move {
        let chunk = zip.next_chunk().await?;
        Some((
            chunk.map(Bytes::from).map_err(std::io::Error::other),
            (zip, slot),
        ))
    });
    let file = format!("uni1-images-{}.zip", Utc::now().format("%Y%m%d-%H%M%S"));
    let mut r = Response::new(Body::from_stream(stream.boxed()));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(d) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    r
}

/// Only the variants that pages show may be fetched through links and the
/// public gallery; originals stay with their owner.
fn shown_variant(v: &str) -> Option<Variant> {
    match Variant::parse(v)? {
        Variant::Original => None,
        v => Some(v),
    }
}

/// `GET /s/{token}/{image}/{variant}`.
pub async fn shared_member(
    State(app): State<AppState>,
    Path((token, image, variant)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let (Ok(image), Some(variant)) = (Uuid::parse_str(&image), shown_variant(&variant)) else {
        return Err(HttpError::NotFound);
    };
    let shared = app
        .sharing
        .resolve_image(&token, image, Utc::now())
        .await
        .or_unavailable("looking up a shared image failed")?
        .ok_or(HttpError::NotFound)?;
    Ok(noindex(
        send_shared(&app.generations, &shared, variant, "no-store", &headers).await,
    ))
}

async fn send_shared(
    gens: &Generations,
    s: &SharedImage,
    variant: Variant,
    cache: &'static str,
    headers: &HeaderMap,
) -> Response {
    send(
        &gens.blobs,
        &MediaObject::of(&s.image, variant),
        cache,
        headers,
        false,
    )
    .await
}

fn noindex(mut r: Response) -> Response {
    r.headers_mut()
        .insert("x-robots-tag", HeaderValue::from_static("noindex"));
    r
}

/// `GET /p/{image}/{variant}`: a published image. `no-cache`, so shared
/// caches revalidate (ETag) and an unpublished image stops at once.
pub async fn public_media(
    State(app): State<AppState>,
    Path((image, variant)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let (Ok(image), Some(variant)) = (Uuid::parse_str(&image), shown_variant(&variant)) else {
        return Err(HttpError::NotFound);
    };
    let img = app
        .publishing
        .stored(image)
        .await
        .or_unavailable("looking up a published image failed")?
        .ok_or(HttpError::NotFound)?;
    Ok(send(
        &app.generations.blobs,
        &MediaObject::of(&img, variant),
        "public, no-cache",
        &headers,
        false,
    )
    .await)
}

#[derive(Debug, Deserialize)]
pub struct Signed {
    #[serde(default)]
    exp: i64,
    #[serde(default)]
    sig: String,
}

/// `GET /og/{link}/{image}?exp=…&sig=…`: the preview for link-preview
/// crawlers. The signature and expiry are checked first (no database
/// read for a forged URL), then the link must still be open.
pub async fn og_image(
    State(app): State<AppState>,
    Path((link, image)): Path<(String, String)>,
    Query(q): Query<Signed>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let (Ok(link), Ok(image)) = (Uuid::parse_str(&link), Uuid::parse_str(&image)) else {
        return Err(HttpError::NotFound);
    };
    let now = Utc::now();
    if !app
        .generations
        .signer
        .verify(link, image, q.exp, &q.sig, now)
    {
        return Err(HttpError::NotFound);
    }
    let shared = app
        .sharing
        .resolve_image_by_link_id(link, image, now)
        .await
        .or_unavailable("looking up a shared preview failed")?
        .ok_or(HttpError::NotFound)?;
    Ok(noindex(
        send_shared(
            &app.generations,
            &shared,
            Variant::Preview,
            "no-store",
            &headers,
        )
        .await,
    ))
}
