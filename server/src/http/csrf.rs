//! Cross-site request forgery protection for everything that changes state.
//!
//! Leptos server functions accept plain form posts, so a page on another
//! site could make a signed-in visitor's browser call them. Browsers label
//! every request with where it came from: `Sec-Fetch-Site` (all current
//! browsers) and `Origin` (every non-GET request). A request whose labels
//! say it came from another site is refused before it reaches a handler.
//! Requests without either header did not come from a browser page (API
//! clients, payment webhooks) and cannot carry a victim's cookies by
//! accident, so they pass; SameSite=Lax session cookies back this up.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, Method, StatusCode};

use super::HttpPolicy;

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Refused(&'static str),
}

/// Decides whether a state-changing request may proceed.
pub fn check(method: &Method, headers: &HeaderMap, public_origin: &str) -> Verdict {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Verdict::Allowed;
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        match site.as_bytes() {
            b"same-origin" | b"none" => {}
            _ => return Verdict::Refused("sec-fetch-site is not same-origin"),
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return Verdict::Refused("origin header is not text");
        };
        if !origin_matches(origin, public_origin, headers.get(header::HOST)) {
            return Verdict::Refused("origin is foreign");
        }
    }
    Verdict::Allowed
}

/// The origin is ours when it is the configured public origin, or when its
/// host and port are the ones the request was sent to (a second name for the
/// same server, like `localhost` beside `127.0.0.1`).
fn origin_matches(origin: &str, public_origin: &str, host: Option<&http::HeaderValue>) -> bool {
    if origin.eq_ignore_ascii_case(public_origin) {
        return true;
    }
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match (authority, host.and_then(|h| h.to_str().ok())) {
        (Some(authority), Some(host)) => authority.eq_ignore_ascii_case(host),
        _ => false,
    }
}

/// Middleware: refuses cross-site state-changing requests with 403.
pub async fn refuse_foreign_origin(
    State(policy): State<HttpPolicy>,
    request: Request,
    next: Next,
) -> Response {
    match check(request.method(), request.headers(), &policy.public_origin) {
        Verdict::Allowed => next.run(request).await,
        Verdict::Refused(reason) => {
            tracing::warn!(reason, path = %request.uri().path(), "refused a cross-site request");
            (
                StatusCode::FORBIDDEN,
                "This request came from another site and was refused. Reload the page and try again.",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const OURS: &str = "https://uni1.example";

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn reads_are_never_blocked() {
        let h = headers(&[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert_eq!(check(&Method::GET, &h, OURS), Verdict::Allowed);
    }

    #[test]
    fn same_origin_posts_pass() {
        let h = headers(&[
            ("origin", "https://uni1.example"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(check(&Method::POST, &h, OURS), Verdict::Allowed);
        let h = headers(&[
            ("origin", "http://localhost:3000"),
            ("host", "localhost:3000"),
        ]);
        assert_eq!(check(&Method::POST, &h, OURS), Verdict::Allowed);
    }

    #[test]
    fn foreign_posts_are_refused() {
        for h in [
            headers(&[("origin", "https://evil.example")]),
            headers(&[("origin", "null")]),
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "same-site")]),
            headers(&[("origin", "https://evil.example"), ("host", "uni1.example")]),
            headers(&[("origin", "https://uni1.example.evil.example")]),
        ] {
            assert!(
                matches!(check(&Method::POST, &h, OURS), Verdict::Refused(_)),
                "{h:?}"
            );
            assert!(
                matches!(check(&Method::DELETE, &h, OURS), Verdict::Refused(_)),
                "{h:?}"
            );
        }
    }

    #[test]
    fn non_browser_clients_pass() {
        assert_eq!(
            check(&Method::POST, &HeaderMap::new(), OURS),
            Verdict::Allowed
        );
    }
}
