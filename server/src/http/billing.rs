//! Plain HTTP routes of billing:
//! - `POST /hooks/stripe`: Stripe's webhook, verified on the raw body;
//!   answered 2xx once the event is stored with its effect (or was stored
//!   before), 400 when it is not from Stripe or cannot be read (nothing
//!   done; Stripe retries), 503 when the object it names could not be read
//!   back from Stripe, 500 when it could not be stored (Stripe retries both).
//! - `POST /hooks/creem`: Creem's, the same way (`creem-signature`).
//! - `GET /billing/history.csv`: the signed-in person's credit history.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use uni1_app::session::RequestAuth;
use uni1_domain::billing::{Billing, WebhookError, WebhookOutcome};

/// Most bytes one webhook request may carry (Stripe's events are a few KiB).
pub const WEBHOOK_BODY_LIMIT: usize = 256 * 1024;

pub async fn stripe_webhook(
    State(billing): State<Billing>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    answer("Stripe", billing.stripe_webhook(&body, signature).await)
}

pub async fn creem_webhook(
    State(billing): State<Billing>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers.get("creem-signature").and_then(|v| v.to_str().ok());
    answer("Creem", billing.creem_webhook(&body, signature).await)
}

/// The answer to a provider's webhook request.
fn answer(provider: &str, outcome: Result<WebhookOutcome, WebhookError>) -> Response {
    match outcome {
        Ok(WebhookOutcome::Applied(_)) => (StatusCode::OK, "ok").into_response(),
        Ok(WebhookOutcome::Duplicate) => (StatusCode::OK, "already received").into_response(),
        Err(WebhookError::NotConfigured) => StatusCode::NOT_FOUND.into_response(),
        Err(WebhookError::Refused(e)) => {
            tracing::warn!(error = %e, %provider, "refused a payment webhook");
            (StatusCode::BAD_REQUEST, e.to_string()).into_response()
        }
        Err(WebhookError::ProviderUnavailable(e)) => {
            tracing::warn!(error = %e, %provider, "a payment webhook waits for the provider's API");
            (StatusCode::SERVICE_UNAVAILABLE, "not applied, retry later").into_response()
        }
        Err(WebhookError::Unexpected(e)) => {
            tracing::error!(error = ?e, %provider, "a payment webhook could not be stored");
            (StatusCode::INTERNAL_SERVER_ERROR, "not stored, retry later").into_response()
        }
    }
}

pub async fn history_csv(
    State(billing): State<Billing>,
    Extension(auth): Extension<RequestAuth>,
) -> Response {
    let Some(user) = auth.user.as_ref() else {
        return Redirect::to("/sign-in?next=/billing").into_response();
    };
    match billing.history_csv(user.id).await {
        Ok(csv) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"uni1-credit-history.csv\""),
                ),
            ],
            csv,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "cannot export the credit history");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The history cannot be read right now. Please try again in a moment.",
            )
                .into_response()
        }
    }
}
