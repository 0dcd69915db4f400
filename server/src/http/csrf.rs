//! Cross-site request forgery protection for everything that changes state.
//!
//! Leptos server functions accept plain form posts, so a page on another
//! site could make a signed-in visitor's browser call them. Browsers label
//! every request with where it came from: `Sec-Fetch-Site` (all current
//! browsers) and `Origin` (every non-GET request). A request whose labels
//! say it came from another site is refused before it reaches a handler.
//! `Origin` must be the public origin exactly, scheme included (or, for a
//! site on this machine, the same scheme and port under another loopback
//! name).
//!
//! Requests without either header did not come from a current browser page
//! (API clients, model webhooks) and pass, unless their body is one a plain
//! HTML form can send (`application/x-www-form-urlencoded`,
//! `multipart/form-data`, `text/plain`): an old browser that labels nothing
//! could be made to send those cross-site, so they need a label.
//! SameSite=Lax session cookies back this up.
//!
//! One path is exempt: `/unsubscribe/{token}` (RFC 8058 one-click
//! unsubscribe). Mail programs POST to it with no Origin and no cookie;
//! its only authority is the signed token in the path, which can only turn
//! a mail off, so a request from anywhere may use it.

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

/// Decides whether a state-changing request may proceed. `allowed_hosts`
/// are the normalized authorities the site answers to
/// ([`super::host::normalize`]).
pub fn check(
    method: &Method,
    headers: &HeaderMap,
    public_origin: &str,
    allowed_hosts: &[String],
) -> Verdict {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Verdict::Allowed;
    }
    let site = headers.get("sec-fetch-site");
    if let Some(site) = site {
        match site.as_bytes() {
            b"same-origin" | b"none" => {}
            _ => return Verdict::Refused("sec-fetch-site is not same-origin"),
        }
    }
    let origin = headers.get(header::ORIGIN);
    if let Some(origin) = origin {
        let Ok(origin) = origin.to_str() else {
            return Verdict::Refused("origin header is not text");
        };
        if !origin_matches(origin, public_origin, allowed_hosts) {
            return Verdict::Refused("origin is foreign");
        }
    }
    if site.is_none() && origin.is_none() && form_body(headers) {
        return Verdict::Refused("a form post without Origin or Sec-Fetch-Site");
    }
    Verdict::Allowed
}

/// True for the body types an HTML form can send across sites.
fn form_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|mime| {
            matches!(
                mime.as_str(),
                "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
            )
        })
}

/// The origin is ours when it is the public origin, scheme included. A site
/// on this machine also answers to its other loopback names (`localhost`
/// beside `127.0.0.1`) on the same scheme and port.
fn origin_matches(origin: &str, public_origin: &str, allowed_hosts: &[String]) -> bool {
    if origin.eq_ignore_ascii_case(public_origin) {
        return true;
    }
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let Some((public_scheme, _)) = public_origin.split_once("://") else {
        return false;
    };
    scheme.eq_ignore_ascii_case(public_scheme)
        && super::host::is_allowed(
            authority,
            allowed_hosts,
            super::host::default_port(public_origin),
        )
}

/// Paths that take no session and are authorized by a signed token alone,
/// and the developer API (`/v1/`), which reads no cookie: only a bearer
/// key, which a cross-site page cannot make a browser send.
fn exempt(path: &str) -> bool {
    path.starts_with("/v1/")
        || path
            .strip_prefix(uni1_domain::mail::unsubscribe::PATH_PREFIX)
            .is_some_and(|token| !token.is_empty() && !token.contains('/'))
}

/// Middleware: refuses cross-site state-changing requests with 403.
pub async fn refuse_foreign_origin(
    State(policy): State<HttpPolicy>,
    request: Request,
    next: Next,
) -> Response {
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    match check(
        request.method(),
        request.headers(),
        &policy.public_origin,
        &policy.allowed_hosts,
    ) {
        Verdict::Allowed => next.run(request).await,
        Verdict::Refused(reason) => {
            tracing::warn!(reason, path = %super::logging::loggable_path(request.uri().path()), "refused a cross-site request");
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

    fn ours() -> Vec<String> {
        vec!["uni1.example:443".to_owned()]
    }

    fn check_ours(method: &Method, h: &HeaderMap) -> Verdict {
        check(method, h, OURS, &ours())
    }

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
        assert_eq!(check_ours(&Method::GET, &h), Verdict::Allowed);
    }

    #[test]
    fn same_origin_posts_pass() {
        let h = headers(&[
            ("origin", "https://uni1.example"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(check_ours(&Method::POST, &h), Verdict::Allowed);
        let h = headers(&[("origin", "https://uni1.example:443")]);
        assert_eq!(check_ours(&Method::POST, &h), Verdict::Allowed);
        let h = headers(&[
            ("sec-fetch-site", "same-origin"),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        assert_eq!(check_ours(&Method::POST, &h), Verdict::Allowed);
    }

    #[test]
    fn a_local_site_accepts_its_other_loopback_names() {
        let local = vec![
            "127.0.0.1:3000".to_owned(),
            "localhost:3000".to_owned(),
            "[::1]:3000".to_owned(),
        ];
        let h = headers(&[
            ("origin", "http://localhost:3000"),
            ("host", "localhost:3000"),
        ]);
        assert_eq!(
            check(&Method::POST, &h, "http://127.0.0.1:3000", &local),
            Verdict::Allowed
        );
        let h = headers(&[("origin", "http://evil.example:3000")]);
        assert!(matches!(
            check(&Method::POST, &h, "http://127.0.0.1:3000", &local),
            Verdict::Refused(_)
        ));
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
            // L5: the right host over the wrong scheme is another origin,
            // even when Host agrees with it.
            headers(&[("origin", "http://uni1.example"), ("host", "uni1.example")]),
            headers(&[("origin", "http://uni1.example:443")]),
            headers(&[
                ("origin", "http://localhost:3000"),
                ("host", "localhost:3000"),
            ]),
        ] {
            assert!(
                matches!(check_ours(&Method::POST, &h), Verdict::Refused(_)),
                "{h:?}"
            );
            assert!(
                matches!(check_ours(&Method::DELETE, &h), Verdict::Refused(_)),
                "{h:?}"
            );
        }
    }

    #[test]
    fn unlabelled_form_posts_are_refused() {
        for form in [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
            "multipart/form-data; boundary=x",
            "text/plain",
        ] {
            let h = headers(&[("content-type", form)]);
            assert!(
                matches!(check_ours(&Method::POST, &h), Verdict::Refused(_)),
                "{form}"
            );
        }
    }

    #[test]
    fn only_the_unsubscribe_link_is_exempt() {
        assert!(exempt("/unsubscribe/abc.marketing.sig"));
        assert!(!exempt("/unsubscribe/"));
        assert!(!exempt("/unsubscribe/a/b"));
        assert!(!exempt("/api/unsubscribe/abc"));
        assert!(!exempt("/api/set_mail_preference"));
    }

    #[test]
    fn the_developer_api_is_exempt_as_it_reads_no_cookie() {
        assert!(exempt("/v1/images/generations"));
        assert!(exempt("/v1/images/edits"));
        assert!(!exempt("/v1"));
        assert!(!exempt("/api/v1/images"));
    }

    #[test]
    fn non_browser_clients_pass() {
        assert_eq!(
            check_ours(&Method::POST, &HeaderMap::new()),
            Verdict::Allowed
        );
        for api in ["application/json", "application/octet-stream", "image/png"] {
            let h = headers(&[("content-type", api)]);
            assert_eq!(check_ours(&Method::POST, &h), Verdict::Allowed, "{api}");
        }
    }
}
