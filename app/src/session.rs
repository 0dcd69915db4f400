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
}

/// How the session cookie is written.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    /// `__Host-uni1_session` over https, `uni1_session` otherwise.
    pub name: &'static str,
    pub secure: bool,
}

impl CookieSettings {
    pub fn new(https: bool) -> Self {
        Self {
            name: if https {
                "__Host-uni1_session"
            } else {
                "uni1_session"
            },
            secure: https,
        }
    }

    /// The `Set-Cookie` value that stores `token` for `max_age_secs`.
    pub fn set(&self, token: &str, max_age_secs: i64) -> String {
        format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
            self.name,
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value that removes the cookie.
    pub fn clear(&self) -> String {
        self.set("", 0)
    }
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

/// The signed-in person, if any.
pub fn current_user() -> Option<CurrentUser> {
    request_auth().user
}

/// The signed-in person, or [`AppError::Unauthenticated`].
pub fn require_user() -> Result<CurrentUser, AppError> {
    current_user().ok_or_else(|| AppError::Unauthenticated.respond())
}

fn set_cookie_header(value: String) {
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
