//! `Cache-Control` for answers that hold private data. A handler that
//! chose its own policy keeps it (`/media`: `private, no-cache` with ETag
//! revalidation; share links: `no-store`; published images: `public,
//! no-cache`). Otherwise `no-store` goes on:
//! - every answer to a request that carries a session cookie (signed-in
//!   pages name the person; a shared computer's cache outlives sign-out),
//! - every server-function answer (`/api/…`),
//! - every HTML page that is not one of the public ones (landing,
//!   `/explore`, `/p/{id}`, the legal and contact pages), such as the reset
//!   and confirmation pages whose URLs carry one-time tokens.
//!
//! Public pages get `Vary: Cookie`: the cookie banner shows on them until
//! the consent cookie records a choice.
//!
//! Static files (`/pkg/…`, `/favicon.svg`, `/robots.txt`) never get
//! `no-store`. Files whose names carry a content hash (what
//! `cargo leptos build` writes to `/pkg` with `hash-files`) are kept for a
//! year without revalidation (`immutable`): a new build has new names. Any
//! other static file is revalidated (`no-cache`, answered by a 304 from its
//! `Last-Modified`).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{header, HeaderMap, HeaderValue};
use uni1_app::session::cookie_value;

use super::HttpPolicy;

fn static_file(path: &str) -> bool {
    path.starts_with("/pkg/") || matches!(path, "/favicon.svg" | "/robots.txt")
}

/// True for `/pkg/<stem>.<hash>.<ext>`, the hash being cargo-leptos's:
/// 22 characters of unpadded URL-safe base64 (an MD5 of the contents).
pub fn content_hashed(path: &str) -> bool {
    let Some(name) = path.strip_prefix("/pkg/") else {
        return false;
    };
    if name.contains('/') {
        return false;
    }
    let mut parts = name.rsplit('.');
    let (Some(_ext), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !stem.is_empty()
        && hash.len() == 22
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The `Cache-Control` of a static file at `path`.
pub fn static_policy(path: &str) -> &'static str {
    if content_hashed(path) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

/// Pages anyone may see and caches may keep, as today.
fn public_page(path: &str) -> bool {
    matches!(
        path,
        "/" | "/explore" | "/privacy" | "/terms" | "/cookies" | "/contact"
    ) || path
        .strip_prefix("/p/")
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// True when the answer must carry `Cache-Control: no-store`.
pub fn needs_no_store(path: &str, has_session_cookie: bool, response: &HeaderMap) -> bool {
    if response.contains_key(header::CACHE_CONTROL) || static_file(path) {
        return false;
    }
    if has_session_cookie || path.starts_with("/api/") {
        return true;
    }
    is_html(response) && !public_page(path)
}

/// Middleware: adds `Cache-Control: no-store` where [`needs_no_store`].
pub async fn apply(State(policy): State<HttpPolicy>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let has_session_cookie = cookie_value(request.headers(), policy.session_cookie).is_some();
    let mut response = next.run(request).await;
    if static_file(&path)
        && response.status().is_success()
        && !response.headers().contains_key(header::CACHE_CONTROL)
    {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(static_policy(&path)),
        );
    } else if needs_no_store(&path, has_session_cookie, response.headers()) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    } else if is_html(response.headers()) {
        // A public page shows the cookie banner until the consent cookie
        // says a choice was made: a cache must key it by the cookies.
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("Cookie"));
    }
    response
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h
    }

    #[test]
    fn private_answers_are_not_stored() {
        assert!(needs_no_store("/gallery", true, &html()));
        assert!(
            needs_no_store("/", true, &html()),
            "signed in: names the person"
        );
        assert!(needs_no_store("/api/me", false, &HeaderMap::new()));
        assert!(needs_no_store("/reset-password/new", false, &html()));
        assert!(needs_no_store("/settings/security", false, &html()));
        assert!(needs_no_store("/healthz", true, &HeaderMap::new()));
    }

    #[test]
    fn public_pages_static_files_and_chosen_policies_are_kept() {
        for path in ["/", "/explore", "/p/0d7e", "/privacy", "/contact"] {
            assert!(!needs_no_store(path, false, &html()), "{path}");
        }
        assert!(!needs_no_store("/pkg/uni1.js", true, &HeaderMap::new()));
        assert!(!needs_no_store("/favicon.svg", true, &HeaderMap::new()));
        let mut chosen = html();
        chosen.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        assert!(!needs_no_store("/media/x/preview", true, &chosen));
        assert!(!needs_no_store("/healthz", false, &HeaderMap::new()));
    }

    #[test]
    fn only_content_hashed_files_are_immutable() {
        for hashed in [
            "/pkg/uni1.Zr3f6u2vQ5yK1tB0pXw_aQ.wasm",
            "/pkg/uni1.Zr3f6u2vQ5yK1tB0pXw-aQ.js",
            "/pkg/split_landing_route_1234.AAAAAAAAAAAAAAAAAAAAAA.wasm",
            "/pkg/__wasm_split.AAAAAAAAAAAAAAAAAAAAAA.js",
        ] {
            assert!(content_hashed(hashed), "{hashed}");
            assert_eq!(static_policy(hashed), "public, max-age=31536000, immutable");
        }
        for plain in [
            "/pkg/uni1.wasm",
            "/pkg/uni1.css",
            "/pkg/snippets/x/inline0.AAAAAAAAAAAAAAAAAAAAAA.js",
            "/pkg/uni1.AAAAAAAAAAAAAAAAAAAAA.wasm",
            "/pkg/uni1.AAAAAAAAAAAAAAAAAAAA!A.wasm",
            "/pkg/.AAAAAAAAAAAAAAAAAAAAAA.js",
            "/favicon.svg",
            "/uni1.AAAAAAAAAAAAAAAAAAAAAA.wasm",
        ] {
            assert!(!content_hashed(plain), "{plain}");
        }
        assert_eq!(static_policy("/favicon.svg"), "no-cache");
    }
}
