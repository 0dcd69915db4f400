//! `/dev/outbox`: with `UNI1_DEV_OUTBOX` (by default only while no SMTP
//! server is set and the site listens on and is named by a loopback
//! address), the newest mails uni1 sent or queued, as plain text, so links
//! in them can be followed. Never routed otherwise.
//!
//! The mails hold password-reset links, so the page also answers only a
//! request whose connection comes from this machine and whose Host is the
//! site's own (not a DNS-rebinding page's name); anything else gets the
//! same 404 as a server without the page.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::{Html, IntoResponse};
use http::StatusCode;
use uni1_domain::mail::templates::escape;
use uni1_domain::sea_orm::DatabaseConnection;
use uni1_domain::support::crypto::AppKey;

/// What the page needs.
#[derive(Clone)]
pub struct DevOutbox {
    pub db: DatabaseConnection,
    /// Opens the sealed mail bodies.
    pub key: AppKey,
    /// The Host values the site answers to ([`super::HttpPolicy`]).
    pub allowed_hosts: Arc<[String]>,
    /// The public origin's default port.
    pub default_port: u16,
}

/// True when the request may see the outbox: a loopback peer and one of
/// the site's own host names.
pub fn local_request(
    peer: Option<SocketAddr>,
    host: Option<&str>,
    allowed_hosts: &[String],
    default_port: u16,
) -> bool {
    peer.is_some_and(|p| p.ip().to_canonical().is_loopback())
        && host.is_some_and(|h| super::host::is_allowed(h, allowed_hosts, default_port))
}

/// Lists the newest 50 mails.
pub async fn page(State(outbox): State<DevOutbox>, request: Request) -> impl IntoResponse {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    if !local_request(
        peer,
        super::host::of_request(&request),
        &outbox.allowed_hosts,
        outbox.default_port,
    ) {
        tracing::warn!(peer = ?peer, "refused /dev/outbox to a request from elsewhere");
        return super::media::not_found();
    }
    let mails = match uni1_domain::mail::recent(&outbox.db, &outbox.key, 50).await {
        Ok(mails) => mails,
        Err(e) => {
            tracing::error!(error = %uni1_app::error::chain(&e), "reading the outbox");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Could not read the outbox.",
            )
                .into_response();
        }
    };
    let mut body = String::from(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Outbox</title>\
         <body>\
         <h1>Development outbox</h1><p>No SMTP server is configured, so mail is written to the \
         outbox folder. This page is shown only to this machine, and only while the site is reachable on this machine alone.</p>",
    );
    for m in mails {
        let text = match m.text {
            Ok(text) if text.is_empty() => "(cleared after delivery)".to_owned(),
            Ok(text) => text,
            Err(e) => format!("(the sealed body does not open: {e})"),
        };
        body.push_str(&format!(
            "<article><hr><p><b>{}</b><br>to {} · {}{}</p><pre>{}</pre></article>",
            escape(&m.subject),
            escape(&m.to),
            m.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            if m.delivered {
                " · delivered"
            } else {
                " · queued"
            },
            escape(&text),
        ));
    }
    Html(body).into_response()
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
    fn only_this_machine_under_our_own_name_sees_the_outbox() {
        let loopback: Option<SocketAddr> = Some(([127, 0, 0, 1], 50000).into());
        assert!(local_request(
            loopback,
            Some("127.0.0.1:3000"),
            &local(),
            80
        ));
        assert!(local_request(
            loopback,
            Some("localhost:3000"),
            &local(),
            80
        ));
        let v6 = "[::ffff:127.0.0.1]:50000".parse().ok();
        assert!(local_request(v6, Some("[::1]:3000"), &local(), 80));
        // Another machine (a container's published port, a LAN neighbour).
        let remote = Some(([203, 0, 113, 9], 50000).into());
        assert!(!local_request(remote, Some("127.0.0.1:3000"), &local(), 80));
        // DNS rebinding: a local browser, the attacker's host name.
        assert!(!local_request(
            loopback,
            Some("evil.example:3000"),
            &local(),
            80
        ));
        assert!(!local_request(loopback, None, &local(), 80));
        assert!(!local_request(None, Some("127.0.0.1:3000"), &local(), 80));
    }
}
