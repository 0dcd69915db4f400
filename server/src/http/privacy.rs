//! Plain HTTP routes of the privacy center:
//! - `GET /settings/privacy/exports/{id}`: a ready data export of the
//!   signed-in owner, streamed part by part as it is decrypted (memory
//!   holds one part). Anyone else, an expired or unknown export: 404.
//! - `POST /api/profile/picture`: a new profile picture as the request body
//!   (PRV-1); `GET /settings/profile/picture/{id}`: it, to its owner only
//!   (the session already names the person's picture: no query).

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use futures::StreamExt as _;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use uni1_app::session::RequestAuth;
use uni1_app::state::AppState;
use uni1_domain::generation::service::MediaObject;
use uni1_domain::privacy::{Privacy, PrivacyError};
use uuid::Uuid;

pub async fn export_download(
    State(privacy): State<Privacy>,
    Extension(auth): Extension<RequestAuth>,
    Path(id): Path<String>,
) -> Response {
    let Some(user) = auth.user.as_ref() else {
        return Redirect::to("/sign-in?next=/settings/privacy").into_response();
    };
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            "This export is not available: it expired, or it is not yours. Ask for a new one under Settings, Privacy.",
        )
            .into_response()
    };
    let Ok(id) = Uuid::parse_str(id.trim_end_matches(".zip")) else {
        return not_found();
    };
    let download = match privacy.open_export(user.id, id).await {
        Ok(d) => d,
        Err(PrivacyError::ExportGone) => return not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "cannot open an export");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "The export cannot be read right now. Please try again in a moment.",
            )
                .into_response();
        }
    };
    let name = download.file_name();
    let size = download.size;
    let stream = futures::stream::unfold(download, |mut d| async move {
        let part = d.next_part().await?;
        Some((
            part.map(Bytes::from).map_err(|e| {
                tracing::error!(error = %e, "reading an export part failed");
                std::io::Error::other("the export could not be read")
            }),
            d,
        ))
    });
    let mut r = Response::new(Body::from_stream(stream.boxed()));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(d) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    r
}

/// `POST /api/profile/picture`: the image file as the request body.
/// Answers `{"url": …}` or a sentence saying what to change.
pub async fn upload_picture(
    State(app): State<AppState>,
    Extension(auth): Extension<RequestAuth>,
    body: Bytes,
) -> Response {
    let Some(user) = auth.user.as_ref() else {
        return (StatusCode::UNAUTHORIZED, "Sign in to change your picture.").into_response();
    };
    if let Err(retry) = app.generations.limits.upload(user.id).await {
        return super::media::too_many(retry, "Too many uploads.");
    }
    match app.privacy.set_picture(user.id, body.to_vec()).await {
        Ok(id) => Json(serde_json::json!({
            "url": uni1_app::privacy::picture_url(&id.to_string())
        }))
        .into_response(),
        Err(PrivacyError::Picture(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("This image cannot be used: {e}."),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %uni1_app::error::chain(&e), "storing a profile picture failed");
            super::media::unavailable()
        }
    }
}

/// `GET /settings/profile/picture/{id}`: the signed-in person's own
/// picture; any other id, or anyone else: 404.
pub async fn picture(
    State(app): State<AppState>,
    Extension(auth): Extension<RequestAuth>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let id = Uuid::parse_str(id.trim_end_matches(".webp")).ok();
    let (Some(user), Some(id)) = (auth.user.as_ref(), id) else {
        return super::media::not_found();
    };
    if user.picture != Some(id) {
        return super::media::not_found();
    }
    let object = MediaObject {
        path: uni1_domain::privacy::picture::picture_path(user.id, id),
        content_type: "image/webp",
        etag: format!("\"{}\"", id.simple()),
        file_name: "picture.webp".into(),
    };
    // The address changes with every new picture; `no-cache` still asks
    // each time, so the picture is gone from view after sign-out.
    let mut r = super::media::send(
        &app.generations.blobs,
        &object,
        "private, no-cache",
        &headers,
        false,
    )
    .await;
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Cookie"));
    r
}
