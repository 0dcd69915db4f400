//! Staff work (ADM-1): the one guard every staff function passes
//! ([`Admin::require`], SEC-1), the audit log of what staff did
//! ([`audit`], SEC-2), personal-data breaches with their 72-hour clock
//! ([`incidents`], SEC-3), people with their accounts ([`users`]), the
//! privacy-request queue ([`privacy_queue`]), payments ([`payments`]) and
//! refunds from an order's page ([`refunds`]), the
//! service's health for operators ([`health`], ANA-2), and the moderation
//! queue with its decisions ([`moderation`], GEN-4, ACC-5, STO-3).
//!
//! Roles: `support` reads the staff pages and the audit log; `admin` does
//! everything, including recording incidents and notifying people. Staff
//! functions also need two-factor authentication on for the staff account:
//! a stolen password alone opens no staff page.

pub mod announcements;
pub mod audit;
pub mod health;
pub mod incidents;
pub mod moderation;
pub mod payments;
pub mod privacy_queue;
pub mod refunds;
pub mod stats;
pub mod users;

use sea_orm::DatabaseConnection;

use crate::accounts::{Accounts, CurrentUser, Role};
use crate::mail::MailContext;
use crate::support::crypto::AppKey;
use crate::support::error::Unexpected;

/// Why a staff function refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("Please sign in to continue.")]
    Unauthenticated,
    /// Not staff, or staff without the role the action needs.
    #[error("You do not have access to that.")]
    Forbidden,
    #[error("Staff pages need two-factor authentication on your account: turn it on under Settings, Security.")]
    NeedsTwoFactor,
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("We could not find that.")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

impl From<crate::accounts::AccountError> for AdminError {
    fn from(e: crate::accounts::AccountError) -> Self {
        match e {
            crate::accounts::AccountError::Unexpected(e) => Self::Unexpected(e),
            crate::accounts::AccountError::NotFound => Self::NotFound,
            other => Self::Invalid {
                field: "",
                message: other.to_string(),
            },
        }
    }
}

impl AdminError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// A reason or outcome staff must give (it goes into the audit log):
/// trimmed, 3 to 500 characters.
pub fn reason(field: &'static str, text: &str) -> Result<String, AdminError> {
    let t = text.trim();
    if (3..=500).contains(&t.chars().count()) {
        Ok(t.to_owned())
    } else {
        Err(AdminError::invalid(
            field,
            "Give a reason of 3 to 500 characters (it goes into the audit log).",
        ))
    }
}

/// A required staff text: trimmed, not empty (`empty` is the message
/// then), at most `max` characters.
pub(crate) fn text(
    field: &'static str,
    value: &str,
    max: usize,
    empty: &str,
) -> Result<String, AdminError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AdminError::invalid(field, empty));
    }
    if v.chars().count() > max {
        return Err(AdminError::invalid(
            field,
            format!("Keep it under {max} characters."),
        ));
    }
    Ok(v.to_owned())
}

/// Proof that the request comes from staff with enough of a role and
/// two-factor on; only [`Admin::require`] makes one.
#[derive(Debug, Clone)]
pub struct Staff {
    pub user: CurrentUser,
}

impl Staff {
    pub fn id(&self) -> uuid::Uuid {
        self.user.id
    }

    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }
}

fn rank(role: Role) -> u8 {
    match role {
        Role::User => 0,
        Role::Support => 1,
        Role::Admin => 2,
    }
}

/// The staff service.
#[derive(Clone, Debug)]
pub struct Admin {
    pub(crate) db: DatabaseConnection,
    pub(crate) mail: MailContext,
    pub(crate) key: AppKey,
    pub(crate) accounts: Accounts,
}

impl Admin {
    pub fn new(db: DatabaseConnection, mail: MailContext, key: AppKey, accounts: Accounts) -> Self {
        Self {
            db,
            mail,
            key,
            accounts,
        }
    }

    /// The one check of every staff function: signed in, at least `need`,
    /// and two-factor on.
    pub async fn require(
        &self,
        user: Option<&CurrentUser>,
        need: Role,
    ) -> Result<Staff, AdminError> {
        let user = user.ok_or(AdminError::Unauthenticated)?;
        if rank(user.role) < rank(need) || user.role == Role::User {
            return Err(AdminError::Forbidden);
        }
        let on = self.accounts.two_factor_enabled(user.id).await?;
        if !on {
            return Err(AdminError::NeedsTwoFactor);
        }
        Ok(Staff { user: user.clone() })
    }
}
