//! Plain HTTP routes of generation:
//! - `GET /media/{image}/{variant}`: decrypted image bytes for their owner
//!   only (STO-3). Anyone else, signed in or not, gets the same 404 as for an
//!   id that does not exist, so ids cannot be probed.
//! - `GET /api/generations/events`: the owner's job progress as
//!   server-sent events, read from the database (so it works whichever
//!   process runs the job).
//! - `POST /hooks/models/{model}`: signed webhooks from asynchronous model
//!   providers; they only wake the waiting worker, polling stays the truth.
//! - `POST /api/uploads/reference`: a reference image, checked, re-encoded,
//!   stored encrypted and kept until its job ends (GEN-3).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use uni1_app::session::RequestAuth;
use uni1_app::state::AppState;
use uni1_domain::generation::progress::StreamRefused;
use uni1_domain::generation::service::{MediaObject, UploadError, Variant};
use uni1_domain::generation::Generations;
use uni1_domain::support::rate_limit::RetryAfter;
use uuid::Uuid;

use super::error::{HttpError, OrUnavailable as _};

pub(crate) fn not_found() -> Response {
    HttpError::NotFound.into_response()
}

/// 429 with `what`, when to try again, and `Retry-After`.
pub(crate) fn too_many(retry: RetryAfter, what: &'static str) -> Response {
    HttpError::TooMany { retry, what }.into_response()
}

pub(crate) fn unavailable() -> Response {
    HttpError::Unavailable.into_response()
}

#[derive(Debug, Deserialize)]
pub struct MediaQuery {
    #[serde(default)]
    download: Option<String>,
}

/// `GET /media/{image}/{variant}`.
pub async fn media(
    State(gens): State<Generations>,
    Extension(auth): Extension<RequestAuth>,
    Path((image, variant)): Path<(String, String)>,
    Query(query): Query<MediaQuery>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let (Some(user), Ok(image), Some(variant)) = (
        auth.user.as_ref(),
        Uuid::parse_str(&image),
        Variant::parse(&variant),
    ) else {
        return Err(HttpError::NotFound);
    };
    if variant == Variant::Original {
        gens.limits
            .media_original(user.id)
            .await
            .map_err(|retry| HttpError::TooMany {
                retry,
                what: "Too many downloads of originals.",
            })?;
    }
    let object = gens
        .media_for_owner(user.id, image, variant)
        .await
        .or_unavailable("looking up an image failed")?
        .ok_or(HttpError::NotFound)?;
    // `no-cache`: the browser keeps the image but asks again each time
    // (a 304 with the ETag), so it stops being shown after sign-out,
    // deletion or expiry instead of living on in the cache for a day.
    let mut r = send(
        &gens.blobs,
        &object,
        "private, no-cache",
        &headers,
        query.download.is_some(),
    )
    .await;
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Cookie"));
    Ok(r)
}

/// The decrypted `object` with its type, `cache` policy, ETag (answering
/// a matching `If-None-Match` with 304) and file name.
pub async fn send(
    blobs: &uni1_storage::Blobs,
    object: &MediaObject,
    cache: &'static str,
    headers: &HeaderMap,
    download: bool,
) -> Response {
    let cache = HeaderValue::from_static(cache);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == object.etag))
    {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(etag) = HeaderValue::from_str(&object.etag) {
            r.headers_mut().insert(header::ETAG, etag);
        }
        r.headers_mut().insert(header::CACHE_CONTROL, cache);
        return r;
    }
    let bytes = match blobs.get(&object.path).await {
        Ok(b) => b,
        Err(uni1_storage::StorageError::NotFound(_)) => {
            tracing::error!(path = %object.path, "an image row points at a missing object");
            return not_found();
        }
        Err(e) => {
            tracing::error!(error = %e, "reading an image failed");
            return unavailable();
        }
    };
    let disposition = format!(
        "{}; filename=\"{}\"",
        if download { "attachment" } else { "inline" },
        object.file_name
    );
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(object.content_type),
    );
    h.insert(header::CACHE_CONTROL, cache);
    if let Ok(etag) = HeaderValue::from_str(&object.etag) {
        h.insert(header::ETAG, etag);
    }
    if let Ok(d) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    r
}

/// How long one event stream lasts; the browser reconnects by itself, and
/// the session is checked again then.
const STREAM_LIFETIME: Duration = Duration::from_secs(120);

/// The reconnection delay a stream closed by a shutdown asks for.
pub const SHUTDOWN_RETRY: Duration = Duration::from_millis(1000);

/// Counts a progress stream in `uni1_sse_connections` while it is open.
struct OpenStream;

impl OpenStream {
    fn new() -> Self {
        metrics::gauge!(uni1_domain::metrics::SSE_CONNECTIONS).increment(1.0);
        Self
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!(uni1_domain::metrics::SSE_CONNECTIONS).decrement(1.0);
    }
}

/// `GET /api/generations/events`: for confirmed addresses only, at most
/// [`uni1_domain::generation::progress::MAX_STREAMS_PER_PERSON`] at once per
/// person (429 past it) and
/// [`uni1_domain::generation::progress::MAX_STREAMS`] in all (503). Every
/// stream of this process reads the process's progress hub (one database
/// read per tick for all of them); the stream's slot is freed when the
/// response body is dropped. At shutdown the stream sends a `retry:` hint
/// and ends (503 with `Retry-After: 1` for a stream opened then).
pub async fn events(
    State(gens): State<Generations>,
    Extension(auth): Extension<RequestAuth>,
) -> Response {
    let Some(user) = auth.user.as_ref() else {
        return (
            StatusCode::UNAUTHORIZED,
            "Sign in to follow your generations.",
        )
            .into_response();
    };
    if !user.email_confirmed {
        return (
            StatusCode::FORBIDDEN,
            "Confirm your e-mail address to follow your generations.",
        )
            .into_response();
    }
    let progress = match gens.progress.open(&gens, user.id) {
        Ok(p) => p,
        Err(e @ StreamRefused::PerPerson { .. }) => {
            return (StatusCode::TOO_MANY_REQUESTS, e.to_string()).into_response()
        }
        Err(e @ StreamRefused::Everyone) => {
            let mut r = (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            return r;
        }
        Err(e @ StreamRefused::ShuttingDown) => {
            let mut r = (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        }
    };
    let deadline = tokio::time::Instant::now() + STREAM_LIFETIME;
    let open = OpenStream::new();
    // Each poll result is turned into JSON here; only a change is sent.
    let stream = futures::stream::unfold(
        (Some(progress), String::new(), open),
        move |(progress, last, open)| async move {
            let mut progress = progress?;
            loop {
                let Ok(next) = tokio::time::timeout_at(deadline, progress.next()).await else {
                    return None;
                };
                let Some(p) = next else {
                    if !progress.closed_by_shutdown() {
                        return None;
                    }
                    // This process is shutting down: the browser reconnects
                    // (through the load balancer, to another process) after
                    // `retry`, resuming with Last-Event-ID; then the stream
                    // ends, so the server's shutdown does not wait for it.
                    drop(progress);
                    let event = Event::default()
                        .comment("server restarting")
                        .retry(SHUTDOWN_RETRY);
                    return Some((Ok::<_, Infallible>(event), (None, last, open)));
                };
                let update = uni1_app::studio::ProgressUpdate {
                    jobs: p
                        .jobs
                        .iter()
                        .cloned()
                        .map(uni1_app::studio::to_dto)
                        .collect(),
                    available: p.available,
                    held: p.held,
                };
                let json = serde_json::to_string(&update).unwrap_or_else(|_| "{}".into());
                if last.is_empty() || json != last {
                    // Every event is a whole snapshot (the jobs of the last
                    // window), so a browser that reconnects, to this process
                    // or another, is complete again with its first event; the
                    // id (the snapshot's time, ms) lets it and a proxy tell
                    // events apart across processes.
                    let event = Event::default()
                        .event("jobs")
                        .id(Utc::now().timestamp_millis().to_string())
                        .data(json.clone());
                    return Some((Ok::<_, Infallible>(event), (Some(progress), json, open)));
                }
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// State of the model webhook route.
#[derive(Clone)]
pub struct Webhooks {
    pub secret: Option<SecretString>,
    pub wakeups: uni1_models::predictions::Wakeups,
    /// Ids of the configured models whose back-end is `predictions` (the
    /// only ones that receive webhooks).
    pub models: std::sync::Arc<std::collections::HashSet<String>>,
    /// `webhook-id`s accepted within the tolerance window (this process only).
    pub seen: uni1_models::predictions::SeenWebhooks,
    /// On PostgreSQL, the database through which a webhook also wakes the
    /// worker of another process that waits for it (see
    /// `uni1_domain::generation::notify`).
    pub forward: Option<uni1_domain::sea_orm::DatabaseConnection>,
}

impl Webhooks {
    /// The route's state for `catalog`'s predictions models.
    pub fn new(
        secret: Option<SecretString>,
        wakeups: uni1_models::predictions::Wakeups,
        catalog: &uni1_domain::generation::Catalog,
    ) -> Self {
        let models = catalog
            .all()
            .iter()
            .filter(|m| m.model.backend() == "predictions")
            .map(|m| m.id.clone())
            .collect();
        Self {
            secret,
            wakeups,
            models: std::sync::Arc::new(models),
            seen: uni1_models::predictions::SeenWebhooks::default(),
            forward: None,
        }
    }

    /// Also forwards each verified webhook to every process through `db`
    /// (PostgreSQL `NOTIFY`; nothing on SQLite).
    pub fn forwarding_through(mut self, db: uni1_domain::sea_orm::DatabaseConnection) -> Self {
        self.forward = Some(db);
        self
    }
}

/// `POST /hooks/models/{model}`: 404 unless a secret is set and `{model}`
/// is a configured predictions model; a verified webhook wakes the job's
/// poller once (a replayed `webhook-id` is acknowledged and ignored).
pub async fn model_webhook(
    State(hooks): State<Webhooks>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = &hooks.secret else {
        return not_found();
    };
    if !hooks.models.contains(&model) {
        return not_found();
    }
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let now = Utc::now().timestamp();
    match uni1_models::predictions::verify_webhook(
        secret.expose_secret(),
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
        &body,
        now,
    ) {
        Ok(prediction) => {
            if hooks.seen.first_time(h("webhook-id"), now) {
                hooks.wakeups.wake(&prediction);
                if let Some(db) = &hooks.forward {
                    uni1_domain::generation::notify::forward_webhook(db, &prediction).await;
                }
            } else {
                tracing::info!(model = %model, "ignored a replayed model webhook");
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "refused a model webhook");
            (StatusCode::UNAUTHORIZED, "invalid signature").into_response()
        }
    }
}

/// `POST /api/uploads/reference`: the image file as the request body.
pub async fn upload_reference(
    State(gens): State<Generations>,
    Extension(auth): Extension<RequestAuth>,
    body: Bytes,
) -> Response {
    let Some(user) = auth.user.as_ref() else {
        return (
            StatusCode::UNAUTHORIZED,
            "Sign in to upload a reference image.",
        )
            .into_response();
    };
    if !user.email_confirmed {
        return (StatusCode::FORBIDDEN, "Confirm your e-mail address first.").into_response();
    }
    match gens.store_reference(user.id, body.to_vec()).await {
        Ok(upload) => Json(serde_json::json!({
            "id": upload.id,
            "width": upload.width,
            "height": upload.height,
        }))
        .into_response(),
        Err(UploadError::Image(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("This image cannot be used: {e}."),
        )
            .into_response(),
        Err(UploadError::RateLimited(retry)) => too_many(retry, "Too many uploads."),
        Err(e @ UploadError::TooMany { .. }) => {
            (StatusCode::TOO_MANY_REQUESTS, e.to_string()).into_response()
        }
        Err(UploadError::Unexpected(e)) => {
            tracing::error!(error = %uni1_app::error::chain(&e), "storing a reference image failed");
            unavailable()
        }
    }
}

/// `GET /s/{token}/image`: the preview of a shared image, for the share page.
/// Not cached anywhere, so revoking a link takes effect at once; a wrong,
/// revoked or expired link is a 404.
pub async fn shared_image(
    State(app): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let image = match app.sharing.resolve(&token, Utc::now()).await {
        Ok(Some(uni1_domain::library::sharing::Shared::Image { image, .. })) => image,
        Ok(_) => return not_found(),
        Err(e) => {
            tracing::error!(error = %uni1_app::error::chain(&e), "resolving a share link failed");
            return unavailable();
        }
    };
    let object = MediaObject::of(&image.image, Variant::Preview);
    let mut r = send(&app.generations.blobs, &object, "no-store", &headers, false).await;
    r.headers_mut()
        .insert("x-robots-tag", HeaderValue::from_static("noindex"));
    r
}
