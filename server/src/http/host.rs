//! The Host allow-list: every request must name this site (the public URL's
//! authority, or another loopback name for a site on this machine). A page
//! on `http://evil.example:3000` whose name an attacker re-points at
//! 127.0.0.1 (DNS rebinding) reaches the server with `Host:
//! evil.example:3000`, so it is answered 421 before any handler runs.
//!
//! `/healthz` and `/readyz` answer whatever the Host: load balancers and
//! orchestrators probe by IP address, and the probes tell nothing. So does
//! `/metrics`, which scrapers reach by address and which answers only
//! with its bearer token.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, StatusCode};

use super::HttpPolicy;

/// The port an origin without one uses.
pub fn default_port(origin: &str) -> u16 {
    if origin
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    {
        443
    } else {
        80
    }
}

/// `host[:port]` (a Host header or an origin's authority) as `host:port` in
/// lower case, the port made explicit; `None` when malformed.
pub fn normalize(raw: &str, default_port: u16) -> Option<String> {
    if raw.is_empty()
        || raw
            .bytes()
            .any(|b| !(b.is_ascii_graphic()) || matches!(b, b'/' | b'@' | b'?' | b'#' | b'\\'))
    {
        return None;
    }
    let (host, port) = match raw.strip_prefix('[') {
        Some(rest) => {
            let (v6, after) = rest.split_once(']')?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?),
            };
            (format!("[{v6}]"), port)
        }
        None => match raw.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (raw.to_owned(), None),
        },
    };
    let port = match port {
        None => default_port,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
        Some(_) => return None,
    };
    if host.is_empty() || host == "[]" {
        return None;
    }
    Some(format!("{}:{port}", host.to_ascii_lowercase()))
}

/// True when `raw` (a Host value) is one of `allowed` (normalized values).
pub fn is_allowed(raw: &str, allowed: &[String], default_port: u16) -> bool {
    normalize(raw, default_port).is_some_and(|h| allowed.contains(&h))
}

/// The host a request was sent to: its Host header, or for HTTP/2 the
/// `:authority` in its URI.
pub fn of_request<B>(request: &http::Request<B>) -> Option<&str> {
    match request.headers().get(header::HOST) {
        Some(h) => h.to_str().ok(),
        None => request.uri().authority().map(|a| a.as_str()),
    }
}

fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// Middleware: answers 421 to a request for another host name.
pub async fn refuse_unknown_host(
    State(policy): State<HttpPolicy>,
    request: Request,
    next: Next,
) -> Response {
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let port = default_port(&policy.public_origin);
    let host = of_request(&request);
    if host.is_some_and(|h| is_allowed(h, &policy.allowed_hosts, port)) {
        return next.run(request).await;
    }
    tracing::warn!(host = ?host, "refused a request for another host name");
    (
        StatusCode::MISDIRECTED_REQUEST,
        "This server does not answer to that host name.",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Vec<String> {
        vec![
            "127.0.0.1:3000".into(),
            "localhost:3000".into(),
            "[::1]:3000".into(),
        ]
    }

    #[test]
    fn hosts_are_normalized() {
        assert_eq!(
            normalize("Images.Example.com", 443).as_deref(),
            Some("images.example.com:443")
        );
        assert_eq!(
            normalize("uni1.test:80", 80).as_deref(),
            Some("uni1.test:80")
        );
        assert_eq!(normalize("[::1]:3000", 80).as_deref(), Some("[::1]:3000"));
        for bad in [
            "",
            "a b",
            "evil.example/x",
            "user@uni1.test",
            "uni1.test:",
            "uni1.test:x",
            "uni1.test:99999",
            "[::1",
            "[::1]x",
            ":3000",
        ] {
            assert_eq!(normalize(bad, 80), None, "{bad:?}");
        }
    }

    #[test]
    fn only_our_names_pass() {
        let ours = vec!["images.example.com:443".to_owned()];
        assert!(is_allowed("images.example.com", &ours, 443));
        assert!(is_allowed("IMAGES.example.com:443", &ours, 443));
        assert!(!is_allowed("images.example.com:8443", &ours, 443));
        assert!(!is_allowed("evil.example", &ours, 443));
        assert!(!is_allowed("images.example.com.evil.example", &ours, 443));
        // DNS rebinding against a local install: the attacker's name.
        assert!(!is_allowed("evil.example:3000", &local(), 80));
        assert!(!is_allowed("127.0.0.1.nip.io:3000", &local(), 80));
        assert!(is_allowed("localhost:3000", &local(), 80));
        assert!(is_allowed("127.0.0.1:3000", &local(), 80));
        assert!(!is_allowed("127.0.0.1:3001", &local(), 80));
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        assert_eq!(default_port("https://uni1.example"), 443);
        assert_eq!(default_port("HTTPS://uni1.example"), 443);
        assert_eq!(default_port("http://127.0.0.1:3000"), 80);
    }
}
