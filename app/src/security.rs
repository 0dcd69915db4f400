//! Settings -> Security: the person's sessions (end one, or all others) and
//! their sign-in history.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One session on the security page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    pub ip: String,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub current: bool,
}

/// One line of the sign-in history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub at: DateTime<Utc>,
    pub action: String,
    pub ip: String,
    pub browser: String,
}

/// A linked sign-in provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedInfo {
    /// `google` or `github`.
    pub provider: String,
    pub label: String,
    pub email: Option<String>,
    pub linked_at: DateTime<Utc>,
}

/// Everything the security page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityData {
    pub sessions: Vec<SessionInfo>,
    pub history: Vec<HistoryItem>,
    pub has_password: bool,
    pub linked: Vec<LinkedInfo>,
    pub available: crate::auth::SignInOptions,
    pub two_factor: bool,
}

/// What the two-factor set-up shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoFactorSetup {
    /// The QR code as a `data:image/svg+xml;base64,…` URL.
    pub qr_data_url: String,
    pub secret: String,
}

#[server(prefix = "/api", endpoint = "security_overview")]
pub async fn security_overview() -> Result<SecurityData, AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    let sessions = state.accounts.sessions(&user).await?;
    let history = state.accounts.history(&user).await?;
    let has_password = state.accounts.has_password(&user).await?;
    let linked = state
        .accounts
        .linked_providers(&user)
        .await?
        .into_iter()
        .map(|l| LinkedInfo {
            provider: l.provider.as_str().to_owned(),
            label: l.provider.label().to_owned(),
            email: l.email,
            linked_at: l.linked_at,
        })
        .collect();
    let two_factor = state.accounts.two_factor_enabled(user.id).await?;
    Ok(SecurityData {
        two_factor,
        has_password,
        linked,
        available: state.providers,
        sessions: sessions
            .into_iter()
            .map(|s| SessionInfo {
                id: s.id.to_string(),
                started_at: s.started_at,
                last_seen_at: s.last_seen_at,
                ended_at: s.ended_at,
                end_reason: s.end_reason,
                ip: s.ip,
                browser: s.browser,
                os: s.os,
                device: s.device,
                current: s.current,
            })
            .collect(),
        history: history
            .into_iter()
            .map(|h| HistoryItem {
                at: h.at,
                action: h.action,
                ip: h.ip,
                browser: h.browser,
            })
            .collect(),
    })
}

#[server(prefix = "/api", endpoint = "end_session")]
pub async fn end_session(id: String) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    let id = id.parse().map_err(|_| AppError::NotFound.respond())?;
    state
        .accounts
        .end_session(&user, id, &crate::session::client_info())
        .await?;
    Ok(())
}

/// Unlinks a provider. Needs a recent sign-in, the password or a code
/// (`accounts::reauth`); signs out the other sessions.
#[server(prefix = "/api", endpoint = "unlink_provider")]
pub async fn unlink_provider(
    provider: String,
    password: Option<String>,
    code: Option<String>,
) -> Result<(), AppError> {
    use uni1_domain::accounts::providers::Provider;
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    let client = crate::session::client_info();
    let provider = Provider::parse(&provider).ok_or_else(|| AppError::NotFound.respond())?;
    let password = password.unwrap_or_default();
    let code = code.unwrap_or_default();
    if !password.is_empty() || !code.is_empty() {
        state.limits.sign_in(&client.ip, &user.email).await?;
    }
    state
        .accounts
        .unlink_provider(&user, provider, &password, &code, &client)
        .await?;
    Ok(())
}

/// Starts two-factor enrolment. Needs a recent sign-in or the password
/// (`accounts::reauth`).
#[server(prefix = "/api", endpoint = "begin_two_factor")]
pub async fn begin_two_factor(password: Option<String>) -> Result<TwoFactorSetup, AppError> {
    use base64::Engine as _;
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    let client = crate::session::client_info();
    let password = password.unwrap_or_default();
    if !password.is_empty() {
        state.limits.sign_in(&client.ip, &user.email).await?;
    }
    let enrolment = state
        .accounts
        .begin_two_factor(&user, &password, &client)
        .await?;
    Ok(TwoFactorSetup {
        qr_data_url: format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(enrolment.qr_svg)
        ),
        secret: enrolment.secret_base32,
    })
}

#[server(prefix = "/api", endpoint = "confirm_two_factor")]
pub async fn confirm_two_factor(code: String) -> Result<Vec<String>, AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    state
        .limits
        .sign_in(&crate::session::client_info().ip, &user.email)
        .await?;
    Ok(state
        .accounts
        .confirm_two_factor(&user, &code, &crate::session::client_info())
        .await?)
}

#[server(prefix = "/api", endpoint = "disable_two_factor")]
pub async fn disable_two_factor(
    password: Option<String>,
    code: Option<String>,
) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    let client = crate::session::client_info();
    state.limits.sign_in(&client.ip, &user.email).await?;
    state
        .accounts
        .disable_two_factor(
            &user,
            &password.unwrap_or_default(),
            &code.unwrap_or_default(),
            &client,
        )
        .await?;
    Ok(())
}

#[server(prefix = "/api", endpoint = "end_other_sessions")]
pub async fn end_other_sessions() -> Result<u64, AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    Ok(state
        .accounts
        .end_other_sessions(&user, &crate::session::client_info())
        .await?)
}
