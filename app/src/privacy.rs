//! Settings -> Privacy: what is stored, the export, the choices, the
//! account's deletion and the requests (server functions; the page is
//! `pages::privacy`). Thin: session -> `Privacy` -> DTOs with ready strings.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One category of "your data".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDto {
    pub key: String,
    pub label: String,
    pub what: String,
    pub count: u64,
}

/// A data export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportDto {
    pub id: String,
    /// queued | building | ready | failed | expired
    pub status: String,
    /// "3.2 MB, 41 files", when ready.
    pub size: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
}

/// A privacy request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestDto {
    pub label: String,
    pub status: String,
    pub detail: Option<String>,
    pub created_at: String,
    pub due_at: String,
    pub completed_at: Option<String>,
}

/// Everything the privacy page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyData {
    /// The name shown to the person and in mails.
    pub display_name: String,
    /// The address of their profile picture, if they uploaded one.
    pub picture: Option<String>,
    /// Their sign-in provider gave a picture that can be used instead.
    pub provider_picture: bool,
    pub stored: Vec<StoredDto>,
    pub exports: Vec<ExportDto>,
    pub requests: Vec<RequestDto>,
    /// Since when, if on.
    pub objected: Option<String>,
    pub restricted: Option<String>,
    pub training: Option<String>,
    pub deletion_due: Option<String>,
    pub grace_days: i64,
    pub has_password: bool,
    pub two_factor: bool,
}

#[cfg(feature = "ssr")]
fn size_label(bytes: i64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MB", b / (1024.0 * 1024.0))
    } else {
        format!("{} KB", (bytes + 1023) / 1024)
    }
}

#[server(prefix = "/api", endpoint = "privacy_overview")]
pub async fn privacy_overview() -> Result<PrivacyData, AppError> {
    use crate::dates::minute;
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    let stored = state.privacy.stored(user.id).await?;
    let choices = state.privacy.choices(user.id).await?;
    let exports = state.privacy.exports(user.id).await?;
    let requests = state.privacy.requests(user.id, 50).await?;
    Ok(PrivacyData {
        display_name: user.display_name.clone(),
        picture: user.picture.map(|p| picture_url(&p.to_string())),
        provider_picture: choices.has_provider_picture,
        stored: stored
            .into_iter()
            .map(|s| StoredDto {
                key: s.key.to_owned(),
                label: s.label.to_owned(),
                what: s.what.to_owned(),
                count: s.count,
            })
            .collect(),
        exports: exports
            .into_iter()
            .map(|e| ExportDto {
                id: e.id.to_string(),
                size: (e.status == "ready")
                    .then(|| format!("{}, {} files", size_label(e.size_bytes), e.files)),
                status: e.status,
                created_at: minute(e.created_at),
                expires_at: e.expires_at.map(minute),
            })
            .collect(),
        requests: requests
            .into_iter()
            .map(|r| RequestDto {
                label: uni1_domain::privacy::RequestKind::label(&r.kind).to_owned(),
                status: r.status,
                detail: r.detail,
                created_at: minute(r.created_at),
                due_at: crate::dates::day(r.due_at),
                completed_at: r.completed_at.map(minute),
            })
            .collect(),
        objected: choices.objected_at.map(minute),
        restricted: choices.restricted_at.map(minute),
        training: choices.training_consent_at.map(|t| {
            format!(
                "{} (privacy policy {})",
                minute(t),
                choices.training_consent_version.unwrap_or_default()
            )
        }),
        deletion_due: choices.deletion_due_at.map(minute),
        grace_days: state.privacy.policy().deletion_grace.num_days(),
        has_password: state.accounts.has_password(&user).await?,
        two_factor: state.accounts.two_factor_enabled(user.id).await?,
    })
}

/// Where the signed-in person's profile picture `id` is served (to them
/// only; `POST /api/profile/picture` uploads a new one).
pub fn picture_url(id: &str) -> String {
    format!("/settings/profile/picture/{id}.webp")
}

/// Removes the profile picture (PRV-1).
#[server(prefix = "/api", endpoint = "remove_picture")]
pub async fn remove_picture() -> Result<bool, AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    Ok(state.privacy.remove_picture(user.id).await?)
}

/// Makes the picture the sign-in provider gave the profile picture.
#[server(prefix = "/api", endpoint = "use_provider_picture")]
pub async fn use_provider_picture() -> Result<String, AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    let id = state.privacy.use_provider_picture(user.id).await?;
    Ok(picture_url(&id.to_string()))
}

/// Corrects the display name (PRV-1).
#[server(prefix = "/api", endpoint = "set_display_name")]
pub async fn set_display_name(display_name: String) -> Result<String, AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    Ok(state
        .accounts
        .set_display_name(&user, &display_name)
        .await?)
}

#[server(prefix = "/api", endpoint = "request_export")]
pub async fn request_export() -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    state.privacy.request_export(&user).await?;
    Ok(())
}

/// Turns a choice on or off: `choice` is objection, restriction or
/// training_consent; `on` is "on" or "off".
#[server(prefix = "/api", endpoint = "set_privacy_choice")]
pub async fn set_privacy_choice(choice: String, on: String) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    let choice = uni1_domain::privacy::choices::Choice::parse(&choice)
        .ok_or_else(|| AppError::invalid("choice", "There is no such choice.").respond())?;
    let on = match on.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(AppError::invalid("on", "Choose on or off.").respond()),
    };
    state.privacy.set_choice(&user, choice, on).await?;
    Ok(())
}

/// Schedules the account's deletion after the grace period. `confirm`
/// must be checked; the password or a two-factor code proves it is them
/// (unless they signed in within the last minutes).
#[server(prefix = "/api", endpoint = "schedule_deletion")]
pub async fn schedule_deletion(
    confirm: Option<String>,
    password: Option<String>,
    code: Option<String>,
) -> Result<String, AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    if confirm.as_deref() != Some("on") {
        return Err(AppError::invalid(
            "confirm",
            "Tick the box to confirm that you want your account deleted.",
        )
        .respond());
    }
    let client = crate::session::client_info();
    state.limits.sign_in(&client.ip, &user.email).await?;
    let due = state
        .privacy
        .schedule_deletion(
            &user,
            &password.unwrap_or_default(),
            &code.unwrap_or_default(),
            &client,
        )
        .await?;
    Ok(crate::dates::minute(due))
}

#[server(prefix = "/api", endpoint = "cancel_deletion")]
pub async fn cancel_deletion() -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    state.privacy.cancel_deletion(&user).await?;
    Ok(())
}

/// A company or service that processes personal data for this site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessorDto {
    pub name: String,
    /// What it does and what it receives.
    pub role: String,
}

/// The processors this site is configured with (PRV-6).
#[server(prefix = "/api", endpoint = "processors")]
pub async fn processors() -> Result<Vec<ProcessorDto>, AppError> {
    Ok(crate::state::app_state()?.processors.as_ref().clone())
}

/// Dismisses the notice of the current privacy policy (POL-1).
#[server(prefix = "/api", endpoint = "dismiss_policy_notice")]
pub async fn dismiss_policy_notice() -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    state.accounts.policy_seen(&user).await?;
    Ok(())
}

/// Deletes the person's reference uploads that no waiting job needs, now
/// (PRV-3); returns how many.
#[server(prefix = "/api", endpoint = "delete_unused_uploads")]
pub async fn delete_unused_uploads() -> Result<usize, AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    Ok(state.generations.delete_unused_uploads(user.id).await?)
}
