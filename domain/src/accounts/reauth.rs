//! Re-authentication before sensitive changes (turning two-factor on,
//! unlinking a provider, moving a passwordless account to a new address):
//! a stolen or forgotten session alone must not be enough.
//!
//! One rule: the session was started (by a full sign-in, second factor
//! included) less than [`REAUTH_WINDOW`] ago, or the request carries the
//! account's password, or a current two-factor code. People without a
//! password or two-factor sign in again with their provider, which starts a
//! fresh session.

use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{password, AccountError, Accounts, ClientInfo, CurrentUser};
use crate::entities::session;
use crate::support::error::ResultExt;

/// How long after a sign-in sensitive changes need nothing more.
pub const REAUTH_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

impl Accounts {
    /// Passes when `who` signed in recently, or gave their password or a
    /// current two-factor code (empty strings when not given).
    pub async fn require_recent_auth(
        &self,
        who: &CurrentUser,
        password_given: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let started = session::Entity::find_by_id(who.session_id)
            .filter(session::Column::UserId.eq(who.id))
            .one(&self.db)
            .await
            .unexpected("reading a session")?
            .map(|s| s.created_at);
        if started.is_some_and(|at| Utc::now() - at < REAUTH_WINDOW) {
            return Ok(());
        }
        let account = self.own_account(who).await?;
        if !password_given.is_empty() {
            if let Some(hash) = account.password_hash.clone() {
                return password::check(hash, password_given).await;
            }
        }
        if !code.trim().is_empty() && self.two_factor_enabled(who.id).await? {
            return self.second_factor_recheck(&account, code, client).await;
        }
        Err(AccountError::ReauthRequired)
    }
}
