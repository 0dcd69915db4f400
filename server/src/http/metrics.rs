//! `/metrics` (ANA-2) and the HTTP request metrics.
//!
//! - [`scrape`]: the Prometheus text format, for a scraper that sends
//!   `Authorization: Bearer <UNI1_METRICS_TOKEN>` (compared in constant
//!   time); 401 with a wrong or missing token, 404 when no token is
//!   configured. Like the probes, it answers whatever the `Host`, since
//!   scrapers reach each process by its address. Before rendering, the
//!   service-wide gauges are read from the database.
//! - [`record`] (outermost middleware) counts and times every request by
//!   method, route and status; [`tag_route`] (a route layer) tells it
//!   which route pattern answered. A request no route matched (static
//!   files, the 404 page) is counted as route `other`: never a raw path,
//!   so the label set stays bounded.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uni1_domain::metrics::{HTTP_REQUESTS_TOTAL, HTTP_REQUEST_DURATION_SECONDS};
use uni1_domain::sea_orm::DatabaseConnection;

/// What `/metrics` needs.
#[derive(Clone)]
pub struct Scrape {
    /// `UNI1_METRICS_TOKEN`; `None`: the endpoint does not exist.
    pub token: Option<Arc<SecretString>>,
    pub db: DatabaseConnection,
}

/// `GET /metrics`.
pub async fn scrape(State(scrape): State<Scrape>, headers: HeaderMap) -> Response {
    let Some(token) = &scrape.token else {
        return (StatusCode::NOT_FOUND, "Not found").into_response();
    };
    if !bearer_matches(&headers, token.expose_secret()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "A valid bearer token is needed.",
        )
            .into_response();
    }
    if let Err(e) =
        uni1_domain::admin::health::record_service_gauges(&scrape.db, chrono::Utc::now()).await
    {
        tracing::error!(error = %uni1_app::error::chain(&e), "reading the service-wide gauges failed");
    }
    let body = crate::metrics::handle().render();
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Whether the request carries `Authorization: Bearer <expected>`. Both
/// sides are hashed first, so the comparison takes the same time whatever
/// the length or the first differing byte.
fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or_default();
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    let same = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0;
    same && !given.is_empty()
}

/// The `method` label: the common methods by name, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Route layer: hands the matched route pattern to [`record`] through the
/// response's extensions (the outer middleware runs before routing, so the
/// request's own extensions do not have it there).
pub async fn tag_route(request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(matched) = matched {
        response.extensions_mut().insert(matched);
    }
    response
}

/// Middleware: counts and times every request.
pub async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |m| m.as_str().to_owned());
    let status = response.status().as_u16().to_string();
    metrics::histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        "method" => method,
        "route" => route.clone()
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        HTTP_REQUESTS_TOTAL,
        "method" => method,
        "route" => route,
        "status" => status
    )
    .increment(1);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let token = "0123456789abcdef-metrics";
        assert!(bearer_matches(&with(&format!("Bearer {token}")), token));
        assert!(bearer_matches(&with(&format!("bearer {token}")), token));
        for bad in [
            "Bearer 0123456789abcdef-metric",
            "Bearer 0123456789abcdef-metricsX",
            "Basic 0123456789abcdef-metrics",
            "Bearer ",
            "0123456789abcdef-metrics",
        ] {
            assert!(!bearer_matches(&with(bad), token), "{bad}");
        }
        assert!(!bearer_matches(&HeaderMap::new(), token));
    }
}
