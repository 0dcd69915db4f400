//! `/unsubscribe/{token}` (MAIL-2): the one-click unsubscribe link of every
//! mail a person may turn off, working without signing in.
//!
//! - `POST`: unsubscribes at once (RFC 8058: mail programs send
//!   `List-Unsubscribe=One-Click` with no Origin and no cookie; the CSRF
//!   check lets this path through, since the signed token is the only
//!   authority and it can only turn a mail off);
//! - `GET`: a confirmation page with a button that POSTs, so a link
//!   scanner that opens every link unsubscribes nobody.
//!
//! A forged token, or one signed for another person or category, gets a
//! 404 page and changes nothing (`mail::unsubscribe`).

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use uni1_domain::mail::templates::escape;
use uni1_domain::mail::unsubscribe::{self, Category, Unsubscribe};
use uni1_domain::sea_orm::DatabaseConnection;

/// What the route needs.
#[derive(Clone)]
pub struct UnsubscribeState {
    pub db: DatabaseConnection,
    pub links: Unsubscribe,
    /// The site's stylesheet (`/pkg/…css`, hashed when built so).
    pub stylesheet: String,
}

/// The page around a message; its own CSP (the stylesheet, a form to this
/// site, nothing else).
fn page(state: &UnsubscribeState, status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <link rel=\"stylesheet\" href=\"{}\"><title>{} · uni1</title></head>\
         <body class=\"min-h-screen bg-surface text-ink antialiased\">\
         <main class=\"mx-auto max-w-xl space-y-4 p-6\" data-testid=\"unsubscribe\">\
         <h1 class=\"text-2xl font-bold\">{}</h1>{body}</main></body></html>",
        escape(&state.stylesheet),
        escape(title),
        escape(title),
    );
    let mut r = (status, Html(html)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn invalid(state: &UnsubscribeState) -> Response {
    page(
        state,
        StatusCode::NOT_FOUND,
        "This link does not work",
        "<p>This unsubscribe link is not valid: it may have been cut short when it was copied. \
         Open it from the mail again, or sign in and choose your mails under \
         <a class=\"underline\" href=\"/settings/notifications\">Settings → Notifications</a>.</p>",
    )
}

fn unavailable(state: &UnsubscribeState) -> Response {
    page(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        "Please try again",
        "<p>We could not change your mails just now. Please try again in a moment.</p>",
    )
}

fn settings_hint() -> &'static str {
    "<p class=\"text-ink-muted\">You can change this any time under \
     <a class=\"underline\" href=\"/settings/notifications\">Settings → Notifications</a>. \
     Mails about your account itself (confirmations, password resets, receipts, security notices) always come.</p>"
}

/// `GET /unsubscribe/{token}`: asks before unsubscribing.
pub async fn confirm(State(state): State<UnsubscribeState>, Path(token): Path<String>) -> Response {
    let Some((user, category)) = state.links.verify(&token) else {
        return invalid(&state);
    };
    match unsubscribe::subscribed(&state.db, user, category).await {
        Ok(None) => invalid(&state),
        Ok(Some(false)) => done(&state, category),
        Ok(Some(true)) => page(
            &state,
            StatusCode::OK,
            "Unsubscribe",
            &format!(
                "<p>Stop getting {} from uni1?</p>\
                 <form method=\"post\" action=\"/unsubscribe/{}\">\
                 <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
                 <button type=\"submit\" class=\"btn-primary\" data-testid=\"unsubscribe-confirm\">Unsubscribe</button>\
                 </form>{}",
                escape(category.label()),
                escape(&token),
                settings_hint()
            ),
        ),
        Err(e) => {
            tracing::error!(error = ?e, "cannot read mail preferences");
            unavailable(&state)
        }
    }
}

fn done(state: &UnsubscribeState, category: Category) -> Response {
    page(
        state,
        StatusCode::OK,
        "You are unsubscribed",
        &format!(
            "<p data-testid=\"unsubscribed\">You no longer get {} from uni1.</p>{}",
            escape(category.label()),
            settings_hint()
        ),
    )
}

/// `POST /unsubscribe/{token}`: unsubscribes at once (RFC 8058).
pub async fn one_click(
    State(state): State<UnsubscribeState>,
    Path(token): Path<String>,
) -> Response {
    let Some((user, category)) = state.links.verify(&token) else {
        return invalid(&state);
    };
    match unsubscribe::apply(&state.db, user, category).await {
        Ok(true) => {
            tracing::info!(category = category.as_str(), "unsubscribed by link");
            done(&state, category)
        }
        Ok(false) => invalid(&state),
        Err(e) => {
            tracing::error!(error = ?e, "cannot unsubscribe");
            unavailable(&state)
        }
    }
}
