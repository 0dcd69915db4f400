//! Plain HTTP routes of the gallery, the share pages and the public gallery:
//! - `POST /gallery/selection`: what to do with the images ticked in the
//!   gallery (a plain form, so it works without JavaScript): download them
//!   as one ZIP, add them to a collection, or go to the delete confirmation.
//! - `GET /s/{token}/{image}/{thumb|preview}`: an image of a shared
//!   collection, through its link.
//! - `GET /p/{image}/{thumb|preview}`: a published image (anyone).
//! - `GET /og/{link}/{image}?exp&sig`: the signed, expiring preview URL of
//!   share pages for link-preview crawlers.

use std::collections::HashSet;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::Utc;
use futures::StreamExt as _;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use uni1_app::session::RequestAuth;
use uni1_domain::archive::ZipStream;
use uni1_domain::entities::image;
use uni1_domain::generation::service::{MediaObject, Variant};
use uni1_domain::generation::Generations;
use uni1_domain::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uni1_domain::sharing::{SharedImage, Sharing};
use uuid::Uuid;

use super::media::{not_found, send, unavailable};

/// Most images one selection may hold (the same cap as deleting).
const MAX_SELECTION: usize = uni1_domain::gallery::MAX_DELETE;

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// `POST /gallery/selection` with `action` (download | add | delete),
/// `id` once per ticked image and, to add, `collection`.
pub async fn selection(
    State(gens): State<Generations>,
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
            let slot = match gens.limits.zip(user.id) {
                Ok(slot) => slot,
                Err(uni1_domain::rate_limit::Busy::Person { limit }) => {
                    return (
                        StatusCode::TOO_MANY_REQUESTS,
                        format!("You are already downloading {limit} ZIP files. Wait until one has finished."),
                    )
                        .into_response()
                }
                Err(uni1_domain::rate_limit::Busy::Everyone) => return unavailable(),
            };
            download_zip(gens, user.id, ids, slot).await
        }
        "delete" => {
            let list: Vec<String> = ids.iter().map(Uuid::to_string).collect();
            see_other(&format!("/delete-images?ids={}", list.join(",")))
        }
        "add" => {
            let Ok(collection) = Uuid::parse_str(collection.trim()) else {
                return see_other("/gallery?notice=choose-collection");
            };
            let collections = uni1_domain::collections::Collections::new(gens.db.clone());
            match collections.add(user.id, collection, &ids).await {
                Ok(_) => see_other(&format!("/collections/{collection}")),
                Err(uni1_domain::collections::CollectionError::NotFound) => {
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
/// one ZIP: each file is read, decrypted and sent before the next is read.
/// `slot` (one of the person's concurrent ZIP downloads) is held by the
/// stream, so it is freed when the download ends or the client leaves.
async fn download_zip(
    gens: Generations,
    user: Uuid,
    ids: Vec<Uuid>,
    slot: uni1_domain::rate_limit::Slot,
) -> Response {
    let rows = match image::Entity::find()
        .filter(image::Column::UserId.eq(user))
        .filter(image::Column::Id.is_in(ids))
        .filter(image::Column::PurgedAt.is_null())
        .order_by_desc(image::Column::CreatedAt)
        .all(&gens.db)
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "reading images to download failed");
            return unavailable();
        }
    };
    if rows.is_empty() {
        return see_other("/gallery?notice=none-downloadable");
    }
    struct State {
        rows: std::vec::IntoIter<image::Model>,
        zip: Option<ZipStream>,
        names: HashSet<String>,
        blobs: uni1_storage::Blobs,
        _slot: uni1_domain::rate_limit::Slot,
    }
    let state = State {
        _slot: slot,
        rows: rows.into_iter(),
        zip: Some(ZipStream::new()),
        names: HashSet::new(),
        blobs: gens.blobs.clone(),
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        loop {
            let Some(img) = st.rows.next() else {
                let end = st.zip.take()?.finish();
                return Some((Ok::<_, std::io::Error>(Bytes::from(end)), st));
            };
            let object = MediaObject::of(&img, Variant::Original);
            let data = match st.blobs.get(&object.path).await {
                Ok(d) => d,
                Err(uni1_storage::StorageError::NotFound(_)) => {
                    tracing::error!(path = %object.path, "an image row points at a missing object");
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "reading an image for a ZIP failed");
                    return Some((Err(std::io::Error::other("storage")), st));
                }
            };
            let mut name = object.file_name.clone();
            if !st.names.insert(name.clone()) {
                name = format!("{}-{}.png", name.trim_end_matches(".png"), img.id.simple());
                st.names.insert(name.clone());
            }
            let zip = st.zip.as_mut()?;
            let header = match zip.add(&name, &data, img.created_at) {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(error = %e, "a ZIP could not be built");
                    return Some((Err(std::io::Error::other("archive")), st));
                }
            };
            let mut chunk = header;
            chunk.extend_from_slice(&data);
            return Some((Ok(Bytes::from(chunk)), st));
        }
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

fn lookup_failed(e: &uni1_domain::Unexpected) -> Response {
    tracing::error!(error = %uni1_app::error::chain(e), "looking up a shared image failed");
    unavailable()
}

/// `GET /s/{token}/{image}/{variant}`.
pub async fn shared_member(
    State(gens): State<Generations>,
    Path((token, image, variant)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let (Ok(image), Some(variant)) = (Uuid::parse_str(&image), shown_variant(&variant)) else {
        return not_found();
    };
    let sharing = Sharing {
        db: gens.db.clone(),
    };
    match sharing.resolve_image(&token, image, Utc::now()).await {
        Ok(Some(s)) => noindex(send_shared(&gens, &s, variant, "no-store", &headers).await),
        Ok(None) => not_found(),
        Err(e) => lookup_failed(&e),
    }
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
    State(gens): State<Generations>,
    Path((image, variant)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (Ok(image), Some(variant)) = (Uuid::parse_str(&image), shown_variant(&variant)) else {
        return not_found();
    };
    let publishing = uni1_domain::publishing::Publishing::new(gens.db.clone());
    match publishing.stored(image).await {
        Ok(Some(img)) => {
            send(
                &gens.blobs,
                &MediaObject::of(&img, variant),
                "public, no-cache",
                &headers,
                false,
            )
            .await
        }
        Ok(None) => not_found(),
        Err(e) => lookup_failed(&e),
    }
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
    State(gens): State<Generations>,
    Path((link, image)): Path<(String, String)>,
    Query(q): Query<Signed>,
    headers: HeaderMap,
) -> Response {
    let (Ok(link), Ok(image)) = (Uuid::parse_str(&link), Uuid::parse_str(&image)) else {
        return not_found();
    };
    let now = Utc::now();
    if !gens.signer.verify(link, image, q.exp, &q.sig, now) {
        return not_found();
    }
    let sharing = Sharing {
        db: gens.db.clone(),
    };
    match sharing.resolve_image_by_link_id(link, image, now).await {
        Ok(Some(s)) => {
            noindex(send_shared(&gens, &s, Variant::Preview, "no-store", &headers).await)
        }
        Ok(None) => not_found(),
        Err(e) => lookup_failed(&e),
    }
}
