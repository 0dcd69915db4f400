//! Plain HTTP routes of the privacy center:
//! - `GET /settings/privacy/exports/{id}`: a ready data export of the
//!   signed-in owner, streamed part by part as it is decrypted (memory
//!   holds one part). Anyone else, an expired or unknown export: 404.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use futures::StreamExt as _;
use http::{header, HeaderValue, StatusCode};
use uni1_app::session::RequestAuth;
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
