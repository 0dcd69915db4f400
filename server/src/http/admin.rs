//! Staff routes outside Leptos, and the gate in front of every staff page.
//!
//! - [`gate`]: `/admin` and everything under it answer 404 to anyone who is
//!   not staff (support or admin) and send signed-out visitors to sign in,
//!   before the page is rendered: the admin pages and their WASM chunk are
//!   never sent to other people. The full check (role per action and
//!   two-factor) is `Admin::require`, in every staff function.
//! - `GET /admin/audit.csv`: the audit log as CSV (filters as on the page).
//! - `GET /admin/incidents/{id}/record.txt`: the record of a breach for
//!   the supervisory authority.
//! - `POST /admin/moderation/flags/{id}/image` (form field `reason`): a
//!   flagged image for staff (STO-3); the look is written to the audit log
//!   with its reason before a byte is sent, and the answer is `no-store`.

use axum::extract::{Path, Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use http::{header, HeaderMap, StatusCode};
use serde::Deserialize;
use uni1_app::session::RequestAuth;
use uni1_domain::accounts::Role;
use uni1_domain::admin::{Admin, AdminError};

fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// Middleware: only staff reach `/admin…`.
pub async fn gate(request: Request, next: Next) -> Response {
    if !is_admin_path(request.uri().path()) {
        return next.run(request).await;
    }
    let role = request
        .extensions()
        .get::<RequestAuth>()
        .and_then(|a| a.user.as_ref())
        .map(|u| u.role);
    match role {
        None => Redirect::to("/sign-in?next=/admin").into_response(),
        Some(Role::User) => (StatusCode::NOT_FOUND, "Not found").into_response(),
        Some(Role::Support | Role::Admin) => next.run(request).await,
    }
}

fn refused(err: AdminError) -> Response {
    match err {
        AdminError::Unauthenticated => Redirect::to("/sign-in?next=/admin").into_response(),
        AdminError::Forbidden => {
            (StatusCode::FORBIDDEN, "You do not have access to that.").into_response()
        }
        AdminError::NeedsTwoFactor => (StatusCode::FORBIDDEN, err.to_string()).into_response(),
        AdminError::NotFound => (StatusCode::NOT_FOUND, "Not found").into_response(),
        AdminError::Invalid { message, .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, message).into_response()
        }
        AdminError::Unexpected(e) => {
            tracing::error!(error = ?e, "a staff download failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "This could not be prepared just now. Try again in a moment.",
            )
                .into_response()
        }
    }
}

fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-request-id").and_then(|v| v.to_str().ok())
}

#[derive(Debug, Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
}

pub async fn audit_csv(
    State(admin): State<Admin>,
    Extension(auth): Extension<RequestAuth>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let staff = match admin.require(auth.user.as_ref(), Role::Support).await {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    let filter =
        match uni1_app::admin::audit_filter(&q.actor, &q.target, &q.action, &q.from, &q.until) {
            Ok(f) => f,
            Err(e) => return (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).into_response(),
        };
    match admin.audit_csv(&staff, &filter, request_id(&headers)).await {
        Ok(csv) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"uni1-staff-audit.csv\"",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            csv,
        )
            .into_response(),
        Err(e) => refused(e),
    }
}

pub async fn incident_record(
    State(admin): State<Admin>,
    Extension(auth): Extension<RequestAuth>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let staff = match admin.require(auth.user.as_ref(), Role::Support).await {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return refused(AdminError::NotFound);
    };
    match admin
        .authority_record(&staff, id, request_id(&headers))
        .await
    {
        Ok(text) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"uni1-incident-record.txt\"",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            text,
        )
            .into_response(),
        Err(e) => refused(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct ViewForm {
    #[serde(default)]
    reason: String,
}

/// `POST /admin/moderation/flags/{id}/image`: audited, then the image.
pub async fn flagged_image(
    State(app): State<uni1_app::state::AppState>,
    Extension(auth): Extension<RequestAuth>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<ViewForm>,
) -> Response {
    let admin = &app.admin;
    let staff = match admin.require(auth.user.as_ref(), Role::Support).await {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return refused(AdminError::NotFound);
    };
    let object = match admin
        .view_flagged(&staff, id, &form.reason, request_id(&headers))
        .await
    {
        Ok(o) => o,
        Err(e) => return refused(e),
    };
    match app.generations.blobs.get(&object.path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, object.content_type),
                (header::CACHE_CONTROL, "no-store"),
                (header::CONTENT_DISPOSITION, "inline"),
            ],
            bytes,
        )
            .into_response(),
        Err(uni1_storage::StorageError::NotFound(_)) => refused(AdminError::NotFound),
        Err(e) => {
            tracing::error!(error = %e, "reading a flagged image failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "This could not be prepared just now. Try again in a moment.",
            )
                .into_response()
        }
    }
}
