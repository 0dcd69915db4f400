//! The security audit log: sign-ins (and failed ones), sign-outs, password
//! and e-mail changes. Operators read it; the person sees their own
//! sign-in history. Entries outlive sessions; deleting an account keeps its
//! entries without the link to the person (user_id set to NULL).

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use uuid::Uuid;

use crate::accounts::ClientInfo;
use crate::entities::audit_log;
use crate::support::error::{ResultExt, Unexpected};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SignUp,
    SignUpExistingEmail,
    EmailConfirmed,
    SignIn,
    SignInFailed,
    SignOut,
    SessionEnded,
    OtherSessionsEnded,
    PasswordResetRequested,
    PasswordReset,
    CreatedByOperator,
    RoleChanged,
    ProviderLinked,
    ProviderUnlinked,
    TwoFactorEnabled,
    TwoFactorDisabled,
    TwoFactorFailed,
    TwoFactorPaused,
    EmailChangeRequested,
    EmailChanged,
    ApiKeyCreated,
    ApiKeyRevoked,
    /// Every key of the person, at once (password reset, signing out
    /// everywhere).
    ApiKeysRevoked,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::SignUp => "sign_up",
            Action::SignUpExistingEmail => "sign_up_existing_email",
            Action::EmailConfirmed => "email_confirmed",
            Action::SignIn => "sign_in",
            Action::SignInFailed => "sign_in_failed",
            Action::SignOut => "sign_out",
            Action::SessionEnded => "session_ended",
            Action::OtherSessionsEnded => "other_sessions_ended",
            Action::PasswordResetRequested => "password_reset_requested",
            Action::PasswordReset => "password_reset",
            Action::CreatedByOperator => "created_by_operator",
            Action::RoleChanged => "role_changed",
            Action::ProviderLinked => "provider_linked",
            Action::ProviderUnlinked => "provider_unlinked",
            Action::TwoFactorEnabled => "two_factor_enabled",
            Action::TwoFactorDisabled => "two_factor_disabled",
            Action::TwoFactorFailed => "two_factor_failed",
            Action::TwoFactorPaused => "two_factor_paused",
            Action::EmailChangeRequested => "email_change_requested",
            Action::EmailChanged => "email_changed",
            Action::ApiKeyCreated => "api_key_created",
            Action::ApiKeyRevoked => "api_key_revoked",
            Action::ApiKeysRevoked => "api_keys_revoked",
        }
    }
}

/// Appends an entry, inside the caller's transaction when given one.
pub async fn record(
    conn: &impl ConnectionTrait,
    user_id: Option<Uuid>,
    action: Action,
    client: &ClientInfo,
    detail: &str,
) -> Result<(), Unexpected> {
    audit_log::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        action: Set(action.as_str().to_owned()),
        ip: Set(truncate(&client.ip, 45)),
        user_agent: Set(truncate(&client.user_agent, 512)),
        detail: Set(detail.to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(conn)
    .await
    .unexpected("writing the audit log")?;
    Ok(())
}

pub(crate) fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}
