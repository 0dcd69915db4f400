//! The one error type of plain HTTP routes (media, shared images, uploads,
//! webhooks): each variant has its status and a user-safe body; the cause
//! of a failure is logged once, here, with its whole chain, and never sent.
//! Handlers return `Result<Response, HttpError>` and use `?` with
//! [`OrUnavailable`].

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use uni1_domain::support::rate_limit::RetryAfter;

/// Why a plain route did not answer with its content.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// 404, the same for "does not exist" and "not yours", so ids cannot be
    /// probed.
    #[error("not found")]
    NotFound,
    /// 429 with `Retry-After`; `what` says which budget ran out.
    #[error("{what}")]
    TooMany {
        retry: RetryAfter,
        what: &'static str,
    },
    /// 503: the service is busy or a dependency is down; nothing to log.
    #[error("unavailable")]
    Unavailable,
    /// 503, after logging `context` and the cause chain.
    #[error("{context}")]
    Failed {
        context: &'static str,
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// The body of a 503.
pub const UNAVAILABLE: &str = "The image is unavailable right now. Try again in a moment.";

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        match self {
            HttpError::NotFound => (StatusCode::NOT_FOUND, "Not found").into_response(),
            HttpError::TooMany { retry, what } => {
                let secs = retry.seconds();
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("{what} Try again in {secs} seconds."),
                )
                    .into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                r
            }
            HttpError::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE).into_response()
            }
            HttpError::Failed { context, cause } => {
                tracing::error!(error = %uni1_app::error::chain(cause.as_ref()), "{context}");
                (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE).into_response()
            }
        }
    }
}

/// Turns any error into [`HttpError::Failed`] with what was being done.
pub trait OrUnavailable<T> {
    fn or_unavailable(self, context: &'static str) -> Result<T, HttpError>;
}

impl<T, E> OrUnavailable<T> for Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn or_unavailable(self, context: &'static str) -> Result<T, HttpError> {
        self.map_err(|cause| HttpError::Failed {
            context,
            cause: Box::new(cause),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connection refused by 10.0.0.7:5432")]
    struct Secret;

    #[tokio::test]
    async fn statuses_and_bodies_are_user_safe() {
        let r = HttpError::NotFound.into_response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);

        let r = HttpError::TooMany {
            retry: RetryAfter(std::time::Duration::from_millis(1500)),
            what: "Too many uploads.",
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");

        let failed: Result<(), Secret> = Err(Secret);
        let r = failed
            .or_unavailable("reading an image failed")
            .unwrap_err()
            .into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(r.into_body(), 1024)
            .await
            .expect("a small body");
        let body = String::from_utf8_lossy(&body);
        assert_eq!(body, UNAVAILABLE);
        assert!(!body.contains("10.0.0.7"), "the cause stays in the log");
    }
}
