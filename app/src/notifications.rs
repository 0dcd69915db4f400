//! Settings -> Notifications: which mails a person gets beyond the
//! transactional ones (server functions; the page is
//! `pages::notifications`). Thin: session -> `mail::preferences` -> DTO.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The mail preferences as the page shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationsDto {
    pub generation_done: bool,
    pub expiry_reminders: bool,
    pub service_updates: bool,
    /// "2026-12-07 10:00 UTC, on the settings page" when consent was given.
    pub marketing_since: Option<String>,
    /// How long images can be downloaded (for the reminder's text).
    pub retention_days: i64,
}

#[server(prefix = "/api", endpoint = "mail_preferences")]
pub async fn mail_preferences() -> Result<NotificationsDto, AppError> {
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    let prefs = uni1_domain::mail::preferences::get(&state.db, user.id)
        .await?
        .ok_or_else(|| AppError::Unauthenticated.respond())?;
    Ok(NotificationsDto {
        generation_done: prefs.generation_done,
        expiry_reminders: prefs.expiry_reminders,
        service_updates: prefs.service_updates,
        marketing_since: prefs.marketing.map(|(at, source)| {
            let place = match source.as_str() {
                uni1_domain::mail::preferences::SOURCE_SETTINGS => "on this page".to_owned(),
                other => format!("({other})"),
            };
            format!("{} {place}", crate::dates::minute(at))
        }),
        retention_days: state.generations.queue.retention.num_days(),
    })
}

/// Turns one kind of mail on or off: `category` is generation_done,
/// expiry_reminders, service_updates or marketing; `on` is "on" or "off".
/// Turning marketing on records the consent with its time and source.
#[server(prefix = "/api", endpoint = "set_mail_preference")]
pub async fn set_mail_preference(category: String, on: String) -> Result<(), AppError> {
    use uni1_domain::mail::{preferences, unsubscribe::Category};
    let state = crate::state::app_state()?;
    let user = crate::session::require_user()?;
    let category = Category::parse(&category)
        .ok_or_else(|| AppError::invalid("category", "There is no such kind of mail.").respond())?;
    let on = match on.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(AppError::invalid("on", "Choose on or off.").respond()),
    };
    preferences::set(
        &state.db,
        user.id,
        category,
        on,
        preferences::SOURCE_SETTINGS,
        chrono::Utc::now(),
    )
    .await?;
    Ok(())
}
