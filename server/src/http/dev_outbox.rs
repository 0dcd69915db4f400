//! `/dev/outbox`: in development mode (no SMTP server, site only on this
//! machine), the newest mails uni1 sent or queued, as plain text, so links
//! in them can be followed. Never routed otherwise.

use axum::extract::State;
use axum::response::{Html, IntoResponse};
use http::StatusCode;
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder, QuerySelect};
use uni1_domain::crypto::AppKey;
use uni1_domain::entities::mail_outbox;
use uni1_domain::mail::templates::escape;

/// Lists the newest 50 mails (their sealed bodies opened with the key).
pub async fn page(State((db, key)): State<(DatabaseConnection, AppKey)>) -> impl IntoResponse {
    let mails = match mail_outbox::Entity::find()
        .order_by_desc(mail_outbox::Column::CreatedAt)
        .limit(50)
        .all(&db)
        .await
    {
        Ok(mails) => mails,
        Err(e) => {
            tracing::error!(error = %e, "reading the outbox");
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
         outbox folder. This page exists only while the site is reachable on this machine alone.</p>",
    );
    for m in mails {
        let text = match uni1_domain::mail::open_bodies(&key, &m) {
            Ok(bodies) if bodies.text.is_empty() => "(cleared after delivery)".to_owned(),
            Ok(bodies) => bodies.text,
            Err(e) => format!("(the sealed body does not open: {e})"),
        };
        body.push_str(&format!(
            "<article><hr><p><b>{}</b><br>to {} · {}{}</p><pre>{}</pre></article>",
            escape(&m.subject),
            escape(&m.to_address),
            m.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            if m.sent_at.is_some() {
                " · delivered"
            } else {
                " · queued"
            },
            escape(&text),
        ));
    }
    Html(body).into_response()
}
