//! Resolves the session cookie of every page and server function request
//! into a [`RequestAuth`] (who is signed in, from which address and
//! browser) that server functions read from the request.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{header, HeaderMap, HeaderValue};
use uni1_app::session::{cookie_value, CookieSettings, RequestAuth};
use uni1_domain::accounts::{Accounts, ClientInfo, CurrentUser};
use uni1_domain::analytics::{self, Analytics, EventKind, Hit};
use uni1_domain::consent::{parse_cookie, Consent, Visitor};

/// What the middleware needs.
#[derive(Clone)]
pub struct SessionLayer {
    pub accounts: Accounts,
    pub cookie: CookieSettings,
    /// Proxies in front that append to X-Forwarded-For; 0: the header is
    /// not trusted and the connection's peer is the client.
    pub trusted_proxy_hops: usize,
    /// Cookie choices recorded for signed-in people.
    pub consent: Consent,
    /// Page views, for visitors who allow them.
    pub analytics: Analytics,
    /// This site's host, so internal navigation has no referrer.
    pub own_host: String,
}

/// The client's address. Without trusted proxies, the connection's peer.
/// With `hops` trusted proxies, each appends the address it was connected
/// from to X-Forwarded-For: the right-most `hops` entries were written by
/// them, and the `hops`-th from the right, written by the farthest proxy,
/// is the client (entries further left came from the client and prove
/// nothing). A shorter list means fewer
/// proxies were passed: its left-most entry is taken. A missing or
/// unreadable entry falls back to the peer. IPv4-mapped IPv6 addresses
/// count as IPv4.
pub fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, hops: usize) -> Option<IpAddr> {
    if hops > 0 {
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let forwarded = entries
            .len()
            .checked_sub(hops)
            .map_or(entries.first(), |i| entries.get(i))
            .and_then(|entry| parse_ip(entry));
        if let Some(ip) = forwarded {
            return Some(ip.to_canonical());
        }
    }
    peer.map(|ip| ip.to_canonical())
}

/// An address as proxies write it: `192.0.2.1`, `2001:db8::1`, or with a
/// port (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_ip(entry: &str) -> Option<IpAddr> {
    entry
        .parse()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

fn skip(path: &str) -> bool {
    path.starts_with("/pkg/")
        || matches!(
            path,
            "/healthz" | "/readyz" | "/metrics" | "/favicon.svg" | "/robots.txt"
        )
}

/// Middleware: attaches [`RequestAuth`] and clears a cookie whose session
/// has ended.
pub async fn resolve(
    State(layer): State<SessionLayer>,
    mut request: Request,
    next: Next,
) -> Response {
    if skip(request.uri().path()) {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client = ClientInfo {
        ip: client_ip(request.headers(), peer, layer.trusted_proxy_hops)
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
        user_agent: request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    };
    let token = cookie_value(request.headers(), layer.cookie.name).map(str::to_owned);
    // A cookie is cleared only when its session is really gone; a database
    // error leaves it alone (the next request may succeed).
    let (user, stale_cookie) = match &token {
        Some(token) => match layer.accounts.authenticate(token).await {
            Ok(Some(user)) => (Some(user), false),
            Ok(None) => (None, true),
            Err(e) => {
                tracing::error!(error = %uni1_app::error::chain(&e), "resolving a session failed");
                (None, false)
            }
        },
        None => (None, false),
    };
    let visitor = resolve_visitor(&layer, request.headers(), user.as_ref()).await;
    let page_view = is_page_view(&request).then(|| {
        (
            request.uri().path().to_owned(),
            request
                .headers()
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        )
    });
    let permit = analytics::permit(&visitor, user.as_ref().is_some_and(|u| u.objected));
    let client_for_count = client.clone();
    request.extensions_mut().insert(RequestAuth {
        client,
        user,
        visitor,
    });
    let mut response = next.run(request).await;
    if let (Some((path, referrer)), Some(permit)) = (page_view, permit) {
        let html = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        if response.status() == http::StatusCode::OK && html {
            let hit = Hit {
                path: Some(&path),
                referrer: referrer.as_deref(),
                own_host: &layer.own_host,
                user_agent: &client_for_count.user_agent,
                ip: &client_for_count.ip,
            };
            if let Err(e) = layer
                .analytics
                .record(permit, EventKind::PageView, hit, chrono::Utc::now())
                .await
            {
                tracing::warn!(error = ?e, "counting a page view failed");
            }
        }
    }
    let handler_set_cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| {
            v.to_str()
                .is_ok_and(|v| v.starts_with(&format!("{}=", layer.cookie.name)))
        });
    if stale_cookie && !handler_set_cookie {
        if let Ok(clear) = HeaderValue::from_str(&layer.cookie.clear()) {
            response.headers_mut().append(header::SET_COOKIE, clear);
        }
    }
    response
}

/// What the visitor allows: their browser's consent cookie; without one,
/// the signed-in person's last recorded choice; `Sec-GPC: 1` refuses
/// analytics either way.
async fn resolve_visitor(
    layer: &SessionLayer,
    headers: &HeaderMap,
    user: Option<&CurrentUser>,
) -> Visitor {
    let gpc = headers
        .get("sec-gpc")
        .is_some_and(|v| v.as_bytes().trim_ascii() == b"1");
    let cookie = cookie_value(headers, layer.cookie.consent_name).and_then(parse_cookie);
    let (choice, browser) = match (cookie, user) {
        (Some((choice, browser)), _) => (Some(choice), Some(browser)),
        (None, Some(user)) => match layer.consent.latest_for_user(user.id).await {
            Ok(latest) => (latest.map(|r| r.choice), None),
            Err(e) => {
                tracing::error!(error = ?e, "reading a person's cookie choice failed");
                (None, None)
            }
        },
        (None, None) => (None, None),
    };
    Visitor {
        choice,
        browser,
        gpc,
    }
}

/// A browser loading a page (not a script, an image or a server function).
fn is_page_view(request: &Request) -> bool {
    let headers = request.headers();
    let path = request.uri().path();
    if request.method() != http::Method::GET
        || path.starts_with("/api/")
        || path.starts_with("/dev/")
        || path.starts_with("/media/")
    {
        return false;
    }
    match headers.get("sec-fetch-dest") {
        Some(dest) => dest.as_bytes() == b"document",
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let h = xff(&["198.51.100.7"]);
        assert_eq!(client_ip(&h, ip("203.0.113.1"), 0), ip("203.0.113.1"));
        assert_eq!(client_ip(&h, None, 0), None);
        assert_eq!(
            client_ip(&HeaderMap::new(), ip("::ffff:203.0.113.1"), 0),
            ip("203.0.113.1"),
            "IPv4-mapped counts as IPv4"
        );
    }

    #[test]
    fn trusted_hops_pick_the_address_the_farthest_proxy_saw() {
        // The client forged the first entry; one proxy appended the real one.
        let h = xff(&["10.0.0.1, 198.51.100.7"]);
        assert_eq!(client_ip(&h, ip("127.0.0.1"), 1), ip("198.51.100.7"));
        // CDN -> load balancer -> uni1: the LB appended the CDN's address.
        let h = xff(&["10.0.0.1, 198.51.100.7, 192.0.2.50"]);
        assert_eq!(client_ip(&h, ip("127.0.0.1"), 2), ip("198.51.100.7"));
        assert_eq!(client_ip(&h, ip("127.0.0.1"), 1), ip("192.0.2.50"));
        // Several headers are one list, in order.
        let h = xff(&["10.0.0.1", "198.51.100.7, 192.0.2.50"]);
        assert_eq!(client_ip(&h, ip("127.0.0.1"), 2), ip("198.51.100.7"));
        // Fewer entries than proxies: the left-most one.
        let h = xff(&["198.51.100.7"]);
        assert_eq!(client_ip(&h, ip("127.0.0.1"), 2), ip("198.51.100.7"));
        // With ports, IPv6, or unreadable.
        let h = xff(&["[2001:db8::7]:4711"]);
        assert_eq!(client_ip(&h, ip("127.0.0.1"), 1), ip("2001:db8::7"));
        let h = xff(&["198.51.100.7:4711"]);
        assert_eq!(client_ip(&h, ip("127.0.0.1"), 1), ip("198.51.100.7"));
        let h = xff(&["unknown"]);
        assert_eq!(client_ip(&h, ip("127.0.0.1"), 1), ip("127.0.0.1"));
        assert_eq!(
            client_ip(&HeaderMap::new(), ip("127.0.0.1"), 1),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn finds_the_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; uni1_session=tok; b=2"),
        );
        assert_eq!(cookie_value(&h, "uni1_session"), Some("tok"));
        assert_eq!(cookie_value(&h, "uni1"), None);
        h.insert(header::COOKIE, HeaderValue::from_static("uni1_session="));
        assert_eq!(cookie_value(&h, "uni1_session"), None);
    }
}
