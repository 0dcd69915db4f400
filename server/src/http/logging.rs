//! What requests leave in the logs: a span per request with the method, a
//! path whose bearer tokens are redacted, and a request id that is either
//! the client's well-formed one or a fresh UUID.

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

use super::REQUEST_ID;

/// The request path as logs may show it. Share links carry their bearer
/// token in the path (`/s/{token}`, `/s/{token}/image`,
/// `/s/{token}/{image}/{variant}`): anyone who reads the log could open
/// them, so the token becomes `{token}`. Other paths hold no secrets (ids
/// are checked against their owner; one-time tokens travel in query
/// strings, which are never logged).
pub fn loggable_path(path: &str) -> Cow<'_, str> {
    if path.starts_with("/unsubscribe/") {
        return Cow::Borrowed("/unsubscribe/{token}");
    }
    match path.strip_prefix("/s/") {
        Some(rest) => {
            let tail = rest.find('/').map_or("", |i| &rest[i..]);
            Cow::Owned(format!("/s/{{token}}{tail}"))
        }
        None => Cow::Borrowed(path),
    }
}

/// A client's `x-request-id` that may be logged as is: 1 to 64 ASCII
/// letters, digits, `-` or `_` (a UUID fits). Anything else (spaces,
/// quotes, `key=value`) could forge fields in text logs.
pub fn well_formed_request_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Middleware (before `SetRequestIdLayer`): drops a malformed
/// `x-request-id` (or a repeated one), so a fresh id is generated instead.
pub async fn drop_malformed_request_id(mut request: Request, next: Next) -> Response {
    let headers = request.headers_mut();
    let mut ids = headers.get_all(&REQUEST_ID).iter();
    let keep = matches!(
        (ids.next(), ids.next()),
        (Some(id), None) if well_formed_request_id(id.as_bytes())
    );
    if !keep {
        headers.remove(&REQUEST_ID);
    }
    next.run(request).await
}

/// The span every request is logged in.
pub fn request_span(req: &http::Request<Body>) -> tracing::Span {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %loggable_path(req.uri().path()),
        request_id = %id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn share_tokens_are_redacted_from_paths() {
        assert_eq!(loggable_path("/s/AbC_123-xyz"), "/s/{token}");
        assert_eq!(loggable_path("/s/AbC_123-xyz/image"), "/s/{token}/image");
        assert_eq!(
            loggable_path("/s/AbC_123-xyz/0d7e/preview"),
            "/s/{token}/0d7e/preview"
        );
        assert_eq!(loggable_path("/s/"), "/s/{token}");
        for kept in [
            "/",
            "/gallery",
            "/media/0d7e/preview",
            "/sign-in",
            "/settings/sharing",
        ] {
            assert_eq!(loggable_path(kept), kept);
        }
    }

    #[test]
    fn only_plain_request_ids_are_kept() {
        for ok in [
            "0b9a4c1e-8f2d-4b7a-9c3e-1d2f3a4b5c6d",
            "req-42",
            "A_b-9",
            &"x".repeat(64),
        ] {
            assert!(well_formed_request_id(ok.as_bytes()), "{ok:?}");
        }
        for bad in [
            "",
            "abc def",
            "id user=admin",
            "a\"b",
            "a\nb",
            "é",
            &"x".repeat(65),
        ] {
            assert!(!well_formed_request_id(bad.as_bytes()), "{bad:?}");
        }
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut log) = self.0.lock() {
                log.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// L2: the access log line of a share link has no token.
    #[tokio::test(flavor = "current_thread")]
    async fn the_access_log_never_shows_a_share_token() {
        use tower::ServiceExt as _;
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = axum::Router::new()
            .route("/s/{token}/image", axum::routing::get(|| async { "img" }))
            .layer(
                tower_http::trace::TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(
                        tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                    ),
            );
        let response = app
            .oneshot(
                http::Request::get("/s/SeCrEtToKeN123/image")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("/s/{token}/image"), "{text}");
        assert!(!text.contains("SeCrEtToKeN123"), "{text}");
    }
}
