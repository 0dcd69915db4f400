//! Accounts: sign-up with e-mail and password, confirmation and reset by
//! mail, server-side sessions, and the audit log of what happened to an
//! account.
//!
//! [`Accounts`] is the service the web layer calls; each concern lives in
//! its own file as an `impl Accounts` block. Messages never reveal whether
//! an address has an account.

mod email_change;
mod email_tokens;
mod operator;
pub mod password;
mod profile;
pub mod providers;
mod reauth;
mod reclaim;
mod reset;
pub(crate) mod sessions;
mod signin;
mod signup;
pub mod token;
pub mod two_factor;
pub mod user_agent;

use chrono::Duration;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::mail::MailContext;
use crate::support::error::Unexpected;

pub use reauth::REAUTH_WINDOW;
pub use sessions::{NewSession, SessionView};
pub use signin::HistoryEntry;
pub use signup::SignUp;

/// The version of the terms a new account accepts.
pub const TERMS_VERSION: &str = "2026-11-24";

/// Who is asking: recorded with sessions and audit entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: String,
}

/// What a person may do beyond their own data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Support,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Support => "support",
            Role::Admin => "admin",
        }
    }

    /// Parses a role name as typed on the command line.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Role::User),
            "support" => Some(Role::Support),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Reads a stored role; anything unknown is the least privileged.
    pub fn from_stored(s: &str) -> Self {
        match s {
            "admin" => Role::Admin,
            "support" => Role::Support,
            _ => Role::User,
        }
    }
}

/// The signed-in person, as pages and server functions see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub email_confirmed: bool,
    /// The session this request belongs to.
    pub session_id: Uuid,
    /// When the account is to be deleted, if the person asked (the
    /// privacy center's grace period).
    pub deletion_due: Option<chrono::DateTime<chrono::Utc>>,
    /// The privacy policy changed since the person last saw it (POL-1).
    pub policy_changed: bool,
    /// The person objected to processing beyond the service (PRV-4): no
    /// analytics about them.
    pub objected: bool,
    /// The uploaded profile picture, if any (PRV-1).
    pub picture: Option<Uuid>,
}

/// How long things last.
#[derive(Debug, Clone)]
pub struct AccountPolicy {
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// A session ends this long after sign-in, whatever the activity.
    pub session_max: Duration,
    pub confirm_link_valid: Duration,
    pub reset_link_valid: Duration,
}

impl Default for AccountPolicy {
    fn default() -> Self {
        Self {
            session_idle: Duration::days(14),
            session_max: Duration::days(30),
            confirm_link_valid: Duration::days(2),
            reset_link_valid: Duration::hours(1),
        }
    }
}

/// Why an account operation did not succeed, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("The e-mail address or password is not right.")]
    InvalidCredentials,
    #[error("This link is not valid any more. Ask for a new one.")]
    LinkInvalid,
    #[error("We could not find that.")]
    NotFound,
    #[error("{} did not confirm an e-mail address for this account. Sign in with your password, then link {} from Settings.", .0.label(), .0.label())]
    ProviderEmailUnverified(providers::Provider),
    #[error("This {} account is already linked to another uni1 account.", .0.label())]
    ProviderLinkedElsewhere(providers::Provider),
    #[error("{} is your only way to sign in. Choose a password first (\"Forgot your password?\" on the sign-in page).", .0.label())]
    LastSignInMethod(providers::Provider),
    #[error("An account with this e-mail address already exists. Sign in to it first (with your password or the way you signed in before), then link {} from Settings > Security.", .0.label())]
    ProviderAddressHasAccount(providers::Provider),
    #[error("For your safety, confirm it is you: enter your password (or a code from your authenticator app), or sign in again, then try once more.")]
    ReauthRequired,
    #[error("This account has been disabled by uni1 staff: {reason}. If you think this is a mistake, write to us through the contact page.")]
    Disabled { reason: String },
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// Refuses a sign-in to an account staff disabled (after the first factor
/// was proven, so the answer tells nothing to someone without it).
pub(crate) async fn ensure_enabled(
    conn: &impl sea_orm::ConnectionTrait,
    user_id: Uuid,
) -> Result<(), AccountError> {
    use crate::entities::user;
    use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, QuerySelect as _};
    let disabled: Option<Option<String>> = user::Entity::find_by_id(user_id)
        .select_only()
        .column(user::Column::DisabledReason)
        .filter(user::Column::DisabledAt.is_not_null())
        .into_tuple()
        .one(conn)
        .await
        .map_err(|e| Unexpected::new("checking whether an account is disabled", e))?;
    match disabled {
        Some(reason) => Err(AccountError::Disabled {
            reason: reason.unwrap_or_else(|| "no reason given".into()),
        }),
        None => Ok(()),
    }
}

impl AccountError {
    pub(crate) fn invalid(field: &'static str, err: impl std::fmt::Display) -> Self {
        Self::Invalid {
            field,
            message: err.to_string(),
        }
    }
}

/// The accounts service.
#[derive(Debug, Clone)]
pub struct Accounts {
    db: DatabaseConnection,
    policy: AccountPolicy,
    mail: MailContext,
    /// Seals secrets stored in the database (TOTP seeds).
    key: crate::support::crypto::AppKey,
}

impl Accounts {
    pub fn new(
        db: DatabaseConnection,
        policy: AccountPolicy,
        mail: MailContext,
        key: crate::support::crypto::AppKey,
    ) -> Self {
        Self {
            db,
            policy,
            mail,
            key,
        }
    }

    /// The key that seals secrets and mail bodies.
    pub fn key(&self) -> &crate::support::crypto::AppKey {
        &self.key
    }
}

/// The lower-cased form of an address, used to find its account.
pub(crate) fn email_key(email: &str) -> String {
    email.to_lowercase()
}
