//! Settings → API keys (issue 17): make, list and revoke the keys of the
//! developer API. A new key's secret is in the answer of `api-key-create`
//! and nowhere else.

// `create_api_key` takes one argument per form field (so the plain HTML
// form works without JavaScript); the `#[server]` macro does not carry an
// `allow` on the function through to the code it generates.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A key as its owner sees it (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyDto {
    pub id: String,
    pub name: String,
    /// `uni1_sk_` and four more characters.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    /// "never" or a time.
    pub last_used: String,
    /// "never" or a time.
    pub expires: String,
    /// "active", "expired" or "revoked".
    pub state: String,
    /// The monthly credit cap, if any.
    pub monthly_credit_cap: Option<i64>,
    /// Credits its jobs of this calendar month (UTC) hold or spent.
    pub spent_this_month: i64,
}

/// A key just made: the secret, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewApiKeyDto {
    pub key: ApiKeyDto,
    pub secret: String,
}

#[cfg(feature = "ssr")]
fn dto(v: uni1_domain::developer::ApiKeyView) -> ApiKeyDto {
    let now = chrono::Utc::now();
    let state = if v.revoked_at.is_some() {
        "revoked"
    } else if v.is_active(now) {
        "active"
    } else {
        "expired"
    };
    ApiKeyDto {
        id: v.id.to_string(),
        scopes: v.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        created_at: crate::dates::minute(v.created_at),
        last_used: v
            .last_used_at
            .map(crate::dates::minute)
            .unwrap_or_else(|| "never".into()),
        expires: v
            .expires_at
            .map(crate::dates::minute)
            .unwrap_or_else(|| "never".into()),
        state: state.into(),
        monthly_credit_cap: v.monthly_credit_cap,
        spent_this_month: v.spent_this_month,
        name: v.name,
        prefix: v.prefix,
    }
}

/// Makes a key for the signed-in person. Each scope is a checkbox
/// (`scope_generate`, `scope_read`, `scope_webhooks`: present when ticked);
/// `expires_in_days` empty for never, else 1..=365; `monthly_credit_cap`
/// empty for none, else the most credits the key may spend per calendar
/// month (UTC).
#[server(prefix = "/api", endpoint = "api-key-create")]
pub async fn create_api_key(
    name: String,
    #[server(default)] scope_generate: String,
    #[server(default)] scope_read: String,
    #[server(default)] scope_webhooks: String,
    #[server(default)] expires_in_days: String,
    #[server(default)] monthly_credit_cap: String,
    #[server(default)] password: String,
    #[server(default)] code: String,
) -> Result<NewApiKeyDto, AppError> {
    let user = crate::session::require_user()?;
    let state = crate::state::app_state()?;
    // A key outlives the session: a stolen session alone must not mint one.
    state
        .accounts
        .require_recent_auth(&user, &password, &code, &crate::session::client_info())
        .await?;
    let mut scopes = Vec::new();
    for (value, scope) in [
        (&scope_generate, "generate"),
        (&scope_read, "read"),
        (&scope_webhooks, "webhooks"),
    ] {
        if !value.trim().is_empty() {
            scopes.push(scope.to_owned());
        }
    }
    let expires_in_days = match expires_in_days.trim() {
        "" | "never" => None,
        s => Some(s.parse::<u32>().map_err(|_| {
            AppError::invalid(
                "expires_in_days",
                "A key expires after 1 to 365 days, or never.",
            )
            .respond()
        })?),
    };
    let monthly_credit_cap = match monthly_credit_cap.trim() {
        "" => None,
        s => Some(s.parse::<i64>().map_err(|_| {
            AppError::invalid(
                "monthly_credit_cap",
                "The monthly cap is a whole number of credits, or empty for none.",
            )
            .respond()
        })?),
    };
    let created = state
        .api_keys
        .create(
            user.id,
            &crate::session::client_info(),
            uni1_domain::developer::NewKey {
                name,
                scopes,
                expires_in_days,
                monthly_credit_cap,
            },
        )
        .await?;
    Ok(NewApiKeyDto {
        secret: created.secret.expose().to_owned(),
        key: dto(created.key),
    })
}

/// The signed-in person's keys, newest first.
#[server(prefix = "/api", endpoint = "api-key-list")]
pub async fn list_api_keys() -> Result<Vec<ApiKeyDto>, AppError> {
    let user = crate::session::require_user()?;
    let state = crate::state::app_state()?;
    Ok(state
        .api_keys
        .list(user.id)
        .await?
        .into_iter()
        .map(dto)
        .collect())
}

/// Revokes one of the signed-in person's keys at once.
#[server(prefix = "/api", endpoint = "api-key-revoke")]
pub async fn revoke_api_key(id: String) -> Result<(), AppError> {
    let user = crate::session::require_user()?;
    let state = crate::state::app_state()?;
    let id = crate::params::id(&id)?;
    if state
        .api_keys
        .revoke(user.id, &crate::session::client_info(), id)
        .await?
    {
        Ok(())
    } else {
        Err(AppError::NotFound.respond())
    }
}
