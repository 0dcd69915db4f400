//! `POST /consent`: the cookie choice of the banner and of the preference
//! center (CK-1), sent as a plain HTML form so it works without
//! JavaScript. The choice is recorded (`consent_records`), stored in the
//! browser's consent cookie, and the visitor is sent back where they were.
//! Withdrawing the preferences category removes its cookie at once.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use http::{header, HeaderValue, StatusCode};
use serde::Deserialize;
use std::sync::Arc;
use uni1_app::session::{CookieSettings, RequestAuth};
use uni1_domain::consent::{cookie_value, Consent, CookieChoice, Source};
use uni1_domain::support::rate_limit::RateLimits;
use uuid::Uuid;

/// What the route needs.
#[derive(Clone)]
pub struct ConsentRoute {
    pub consent: Consent,
    pub cookie: CookieSettings,
    pub limits: Arc<RateLimits>,
}

/// The form of the banner (`choice` = `all` or `none`) and of the
/// preference center (`choice` = `custom` with the checked categories).
#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    choice: String,
    #[serde(default)]
    preferences: Option<String>,
    #[serde(default)]
    analytics: Option<String>,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    from: String,
}

/// A local path to go back to; anything else goes home.
fn safe_return(path: &str) -> &str {
    let local = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path.len() <= 2000;
    if local {
        path
    } else {
        "/"
    }
}

fn message(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

pub async fn choose(
    State(route): State<ConsentRoute>,
    Extension(auth): Extension<RequestAuth>,
    Form(form): Form<ConsentForm>,
) -> Response {
    let checked = |v: &Option<String>| v.as_deref().is_some_and(|v| v == "on" || v == "1");
    let choice =
        match form.choice.as_str() {
            "all" => CookieChoice::ALL,
            "none" => CookieChoice::NONE,
            "custom" => CookieChoice {
                preferences: checked(&form.preferences),
                analytics: checked(&form.analytics),
            },
            _ => return message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Choose \"Accept all\", \"Reject all\", or save your choices on the cookies page.",
            ),
        };
    if let Err(retry) = route.limits.consent(&auth.client.ip).await {
        let mut response = message(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many changes to your cookie choices in a short time. Try again in a few minutes.",
        );
        if let Ok(v) = HeaderValue::from_str(&retry.seconds().to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    let source = if form.from == "settings" {
        Source::Settings
    } else {
        Source::Banner
    };
    // The browser keeps its consent id across changes of mind.
    let browser = auth.visitor.browser.unwrap_or_else(Uuid::new_v4);
    let user = auth.user.as_ref().map(|u| u.id);
    if let Err(e) = route
        .consent
        .record(user, browser, choice, auth.visitor.gpc, source)
        .await
    {
        tracing::error!(error = ?e, "recording a cookie choice failed");
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Your choice could not be saved just now. Please try again in a moment.",
        );
    }
    let target = safe_return(&form.return_to);
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, target)]).into_response();
    let mut cookies = vec![route.cookie.set_consent(&cookie_value(choice, browser))];
    if !choice.preferences {
        cookies.push(route.cookie.clear_studio());
    }
    for cookie in cookies {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::safe_return;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(safe_return("/gallery?page=2"), "/gallery?page=2");
        for bad in [
            "",
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "gallery",
        ] {
            assert_eq!(safe_return(bad), "/", "{bad:?}");
        }
    }
}
