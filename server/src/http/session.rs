//! Resolves the session cookie of every page and server function request
//! into a [`RequestAuth`] (who is signed in, from which address and
//! browser) that server functions read from the request.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{header, HeaderValue};
use uni1_app::session::{cookie_value, CookieSettings, RequestAuth};
use uni1_domain::accounts::{Accounts, ClientInfo};

/// What the middleware needs.
#[derive(Clone)]
pub struct SessionLayer {
    pub accounts: Accounts,
    pub cookie: CookieSettings,
    pub trust_proxy_headers: bool,
}

/// The client's address: the connection's peer, or with
/// `trust_proxy_headers` the last address the proxy appended.
fn client_ip(request: &Request, trust_proxy_headers: bool) -> String {
    if trust_proxy_headers {
        let forwarded = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').map(str::trim).find(|s| !s.is_empty()));
        if let Some(ip) = forwarded {
            return ip.to_owned();
        }
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn skip(path: &str) -> bool {
    path.starts_with("/pkg/")
        || matches!(
            path,
            "/healthz" | "/readyz" | "/favicon.svg" | "/robots.txt"
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
    let client = ClientInfo {
        ip: client_ip(&request, layer.trust_proxy_headers),
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
    request
        .extensions_mut()
        .insert(RequestAuth { client, user });
    let mut response = next.run(request).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    use http::HeaderMap;

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
