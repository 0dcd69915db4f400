//! Settings -> Webhooks: the person's outbound webhook endpoints (server
//! functions; the page is `pages::webhooks`). Thin: session ->
//! `uni1_domain::webhooks` (which checks ownership) -> DTO.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The events a person can choose, with their labels.
pub const EVENTS: &[(&str, &str)] = &[
    ("generation.succeeded", "A generation succeeded"),
    ("generation.failed", "A generation failed"),
    ("generation.canceled", "A generation was canceled"),
];

/// An endpoint as its owner sees it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointDto {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: String,
    pub enabled: bool,
    /// Why it is off: "you turned it off" or "the receiver answered 410 Gone".
    pub disabled_because: Option<String>,
}

/// A signing secret, shown once after adding an endpoint or rotating.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretDto {
    pub endpoint_id: String,
    pub secret: String,
}

impl std::fmt::Debug for SecretDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretDto")
            .field("endpoint_id", &self.endpoint_id)
            .finish_non_exhaustive()
    }
}

/// One attempt in an endpoint's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptDto {
    pub delivery_id: String,
    pub event_type: String,
    pub at: String,
    /// "HTTP 200", or "no answer".
    pub answer: String,
    pub error: Option<String>,
    /// delivered, retrying or failed.
    pub state: String,
    pub can_resend: bool,
}

#[cfg(feature = "ssr")]
mod server {
    use super::*;
    use uni1_domain::webhooks::endpoints::{AttemptView, EndpointView};

    pub fn dto(v: EndpointView) -> EndpointDto {
        EndpointDto {
            id: v.id.to_string(),
            url: v.url,
            events: v.events,
            created_at: crate::dates::minute(v.created_at),
            enabled: v.disabled_at.is_none(),
            disabled_because: v.disabled_at.map(|at| {
                let why = match v.disabled_reason.as_deref() {
                    Some(uni1_domain::webhooks::delivery::GONE) => "the receiver answered 410 Gone",
                    _ => "you turned it off",
                };
                format!("{why} ({})", crate::dates::minute(at))
            }),
        }
    }

    pub fn attempt(a: AttemptView) -> AttemptDto {
        AttemptDto {
            delivery_id: a.delivery_id.to_string(),
            event_type: a.event_type,
            at: crate::dates::second(a.attempted_at),
            answer: a
                .response_status
                .map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}")),
            error: a.error,
            state: a.delivery_state.to_owned(),
            can_resend: a.can_resend,
        }
    }
}

/// The signed-in person's endpoints.
#[server(prefix = "/api", endpoint = "webhooks")]
pub async fn list_webhooks() -> Result<Vec<EndpointDto>, AppError> {
    let user = crate::session::require_user()?;
    let state = crate::state::app_state()?;
    Ok(state
        .webhooks
        .list(user.id)
        .await?
        .into_iter()
        .map(server::dto)
        .collect())
}

/// Adds an endpoint: `url` (https), and each chosen event as `on`. Answers
/// the secret, once.
#[server(prefix = "/api", endpoint = "webhook-add")]
pub async fn add_webhook(
    url: String,
    #[server(default)] succeeded: String,
    #[server(default)] failed: String,
    #[server(default)] canceled: String,
) -> Result<SecretDto, AppError> {
    let user = crate::session::require_user()?;
    let state = crate::state::app_state()?;
    let events: Vec<String> = [
        (succeeded, EVENTS[0].0),
        (failed, EVENTS[1].0),
        (canceled, EVENTS[2].0),
    ]
    .into_iter()
    .filter(|(on, _)| !on.is_empty())
    .map(|(_, event)| event.to_owned())
    .collect();
    let (endpoint, secret) = state.webhooks.add(user.id, &url, &events).await?;
    Ok(SecretDto {
        endpoint_id: endpoint.id.to_string(),
        secret: secret.expose().to_owned(),
    })
}

/// Turns endpoint `id` off or on (`on` is "on" or "off").
#[server(prefix = "/api", endpoint = "webhook-enable")]
pub async fn set_webhook_enabled(id: String, on: String) -> Result<(), AppError> {
    let user = crate::session::require_user()?;
    let state = crate::state::app_state()?;
    let on = match on.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(AppError::invalid("on", "Choose on or off.").respond()),
    };
    state
        .webhooks
        .set_enabled(user.id, crate::params::id(&id)?, on)
        .await?;
    Ok(())
}

/// Deletes endpoint `id` with its log.
#[server(prefix = "/api", endpoint = "webhook-delete")]
pub async fn delete_webhook(id: String) -> Result<(), AppError> {
    let user = crate::session::require_user()?;
    let state = crate::state::app_state()?;
    state
        .webhooks
        .delete(user.id, crate::params::id(&id)?)
        .await?;
    Ok(())
}

/// A new secret for endpoint `id`, shown once.
#[server(prefix = "/api", endpoint = "webhook-rotate")]
pub async fn rotate_webhook_secret(id: String) -> Result<SecretDto, AppError> {
    let user = crate::session::require_user()?;
    let state = crate::state::app_state()?;
    let id = crate::params::id(&id)?;
    let secret = state.webhooks.rotate_secret(user.id, id).await?;
    Ok(SecretDto {
        endpoint_id: id.to_string(),
        secret: secret.expose().to_owned(),
    })
}

/// The last attempts to endpoint `id`, newest first.
#[server(prefix = "/api", endpoint = "webhook-log")]
pub async fn webhook_log(id: String) -> Result<Vec<AttemptDto>, AppError> {
    let user = crate::session::require_user()?;
    let state = crate::state::app_state()?;
    Ok(state
        .webhooks
        .log(user.id, crate::params::id(&id)?)
        .await?
        .into_iter()
        .map(server::attempt)
        .collect())
}

/// "Send again": delivery `delivery` is queued again.
#[server(prefix = "/api", endpoint = "webhook-resend")]
pub async fn resend_webhook(delivery: String) -> Result<(), AppError> {
    let user = crate::session::require_user()?;
    let state = crate::state::app_state()?;
    state
        .webhooks
        .send_again(user.id, crate::params::id(&delivery)?)
        .await?;
    Ok(())
}
