//! Server side: who is asking, and the session cookie.
//!
//! The server's session middleware resolves the cookie before the request
//! reaches Leptos and leaves a [`RequestAuth`] in the request extensions;
//! these helpers read it from the request parts Leptos provides.

use leptos::prelude::*;
use uni1_domain::accounts::{ClientInfo, CurrentUser, NewSession};

use crate::error::AppError;

/// What the session middleware found out about a request.
#[derive(Debug, Clone, Default)]
pub struct RequestAuth {
    pub client: ClientInfo,
    pub user: Option<CurrentUser>,
    /// What the visitor allows beyond essential cookies (CK-1).
    pub visitor: uni1_domain::consent::Visitor,
}

/// How the session cookie (and the short-lived cookie of a sign-in
/// waiting for its second factor) are written.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    /// `__Host-uni1_session` over https, `uni1_session` otherwise.
    pub name: &'static str,
    /// `__Host-uni1_2fa` over https, `uni1_2fa` otherwise.
    pub challenge_name: &'static str,
    /// `__Host-uni1_oauth` over https, `uni1_oauth` otherwise: binds a
    /// Google/GitHub sign-in to the browser that started it.
    pub oauth_name: &'static str,
    /// `__Host-uni1_consent` over https, `uni1_consent` otherwise: the
    /// visitor's cookie choices (essential).
    pub consent_name: &'static str,
    /// `__Host-uni1_studio` over https, `uni1_studio` otherwise: the
    /// studio's last model and aspect ratio (preferences category).
    pub studio_name: &'static str,
    pub secure: bool,
}

/// How long a sign-in waits for its second factor.
pub const CHALLENGE_MAX_AGE_SECS: i64 = 600;

impl CookieSettings {
    pub fn new(https: bool) -> Self {
        Self {
            name: if https {
                "__Host-uni1_session"
            } else {
                "uni1_session"
            },
            challenge_name: if https { "__Host-uni1_2fa" } else { "uni1_2fa" },
            oauth_name: if https {
                "__Host-uni1_oauth"
            } else {
                "uni1_oauth"
            },
            consent_name: if https {
                "__Host-uni1_consent"
            } else {
                "uni1_consent"
            },
            studio_name: if https {
                "__Host-uni1_studio"
            } else {
                "uni1_studio"
            },
            secure: https,
        }
    }

    fn cookie(&self, name: &str, value: &str, max_age_secs: i64) -> String {
        format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value that stores `token` for `max_age_secs`.
    pub fn set(&self, token: &str, max_age_secs: i64) -> String {
        self.cookie(self.name, token, max_age_secs)
    }

    /// The `Set-Cookie` value that removes the cookie.
    pub fn clear(&self) -> String {
        self.set("", 0)
    }

    /// The `Set-Cookie` value for a sign-in challenge.
    pub fn set_challenge(&self, token: &str) -> String {
        self.cookie(self.challenge_name, token, CHALLENGE_MAX_AGE_SECS)
    }

    /// The `Set-Cookie` value that binds an OAuth flow to this browser.
    pub fn set_oauth(&self, state: &str) -> String {
        self.cookie(self.oauth_name, state, CHALLENGE_MAX_AGE_SECS)
    }

    /// The `Set-Cookie` value that stores the visitor's cookie choices.
    pub fn set_consent(&self, value: &str) -> String {
        self.cookie(
            self.consent_name,
            value,
            uni1_domain::consent::MAX_AGE_DAYS * 86_400,
        )
    }

    /// The `Set-Cookie` value that remembers the studio's settings.
    pub fn set_studio(&self, value: &str) -> String {
        self.cookie(
            self.studio_name,
            value,
            uni1_domain::consent::MAX_AGE_DAYS * 86_400,
        )
    }

    /// The `Set-Cookie` value that removes the studio's settings.
    pub fn clear_studio(&self) -> String {
        self.cookie(self.studio_name, "", 0)
    }

    /// The `Set-Cookie` value that removes the challenge cookie.
    pub fn clear_challenge(&self) -> String {
        self.cookie(self.challenge_name, "", 0)
    }
}

/// The value of cookie `name` in a `Cookie` header map.
pub fn cookie_value<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The sign-in challenge cookie of this request, if any.
pub fn challenge_cookie(settings: &CookieSettings) -> Option<String> {
    use_context::<http::request::Parts>()
        .and_then(|parts| cookie_value(&parts.headers, settings.challenge_name).map(str::to_owned))
}

fn request_auth() -> RequestAuth {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<RequestAuth>().cloned())
        .unwrap_or_default()
}

/// The address and browser of this request.
pub fn client_info() -> ClientInfo {
    request_auth().client
}

/// What the visitor allows beyond essential cookies.
pub fn visitor() -> uni1_domain::consent::Visitor {
    request_auth().visitor
}

/// The signed-in person, if any.
pub fn current_user() -> Option<CurrentUser> {
    request_auth().user
}

/// The signed-in person, or [`AppError::Unauthenticated`].
pub fn require_user() -> Result<CurrentUser, AppError> {
    current_user().ok_or_else(|| AppError::Unauthenticated.respond())
}

/// Appends a `Set-Cookie` header to this response.
pub fn set_cookie_header(value: String) {
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(&value),
    ) {
        response.append_header(http::header::SET_COOKIE, value);
    }
}

/// Sends the cookie for a new session.
pub fn set_session_cookie(settings: &CookieSettings, session: &NewSession) {
    let max_age = (session.expires_at - chrono::Utc::now())
        .num_seconds()
        .max(0);
    set_cookie_header(settings.set(&session.token, max_age));
}

/// Removes the session cookie.
pub fn clear_session_cookie(settings: &CookieSettings) {
    set_cookie_header(settings.clear());
}

/// Counts a product event (sign-up, generation) for this request's
/// visitor, only if they allow analytics and have not objected (ANA-1).
/// A failure is logged and never fails the request.
pub async fn count_event(kind: uni1_domain::analytics::EventKind, objected: bool) {
    count(kind, None, objected).await;
}

/// Counts a page the visitor opened inside the app (a client-side
/// navigation, which never reaches the server as a page load).
pub async fn count_page_view(path: &str) {
    let objected = current_user().is_some_and(|u| u.objected);
    count(
        uni1_domain::analytics::EventKind::PageView,
        Some(path),
        objected,
    )
    .await;
}

/// Whether this request's visitor is counted at all (the `<body>` tells
/// the browser, so it reports client-side navigations only then).
pub fn counted() -> bool {
    let auth = request_auth();
    let objected = auth.user.as_ref().is_some_and(|u| u.objected);
    uni1_domain::analytics::permit(&auth.visitor, objected).is_some()
}

async fn count(kind: uni1_domain::analytics::EventKind, path: Option<&str>, objected: bool) {
    use uni1_domain::analytics::{permit, Hit};
    let auth = request_auth();
    let Some(permit) = permit(&auth.visitor, objected) else {
        return;
    };
    let Some(state) = use_context::<crate::state::AppState>() else {
        return;
    };
    let host = uni1_domain::analytics::site_host(&state.public_origin);
    let hit = Hit {
        path,
        own_host: &host,
        user_agent: &auth.client.user_agent,
        ip: &auth.client.ip,
        ..Hit::default()
    };
    if let Err(e) = state
        .analytics
        .record(permit, kind, hit, chrono::Utc::now())
        .await
    {
        tracing::warn!(error = ?e, "counting an event failed");
    }
}
