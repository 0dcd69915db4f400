//! Signing in with e-mail and password, and the sign-in history.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::two_factor::SignInOutcome;
use super::{email_key, password, AccountError, Accounts, ClientInfo, CurrentUser};
use crate::entities::{audit_log, user};
use crate::support::audit::{self, Action};
use crate::support::error::{ResultExt, Unexpected};

/// One entry of a person's security history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: chrono::DateTime<chrono::Utc>,
    pub action: String,
    pub ip: String,
    pub browser: String,
}

impl Accounts {
    /// Checks the password, then starts a session (or, with two-factor on,
    /// a challenge for the second step, which leads to `next_path`).
    /// Unknown addresses and wrong passwords get the same answer in the
    /// same time.
    pub async fn sign_in(
        &self,
        email: &str,
        candidate: &str,
        next_path: &str,
        client: &ClientInfo,
    ) -> Result<SignInOutcome, AccountError> {
        let key = email_key(email.trim());
        let found = user::Entity::find()
            .filter(user::Column::EmailKey.eq(&key))
            .one(&self.db)
            .await
            .unexpected("looking up an account")?;
        let stored = found.as_ref().and_then(|u| u.password_hash.clone());
        let ok = password::verify(stored, candidate.to_owned()).await?;
        let found = match found {
            Some(found) if ok => found,
            other => {
                let user_id = other.map(|u| u.id);
                audit::record(&self.db, user_id, Action::SignInFailed, client, "password").await?;
                return Err(AccountError::InvalidCredentials);
            }
        };
        let txn = crate::support::tx::begin(&self.db).await?;
        let outcome = self
            .after_first_factor(&txn, found.id, "password", next_path, client)
            .await?;
        txn.commit().await.unexpected("committing a sign-in")?;
        Ok(outcome)
    }

    /// The owner's recent security events, newest first.
    pub async fn history(&self, who: &CurrentUser) -> Result<Vec<HistoryEntry>, AccountError> {
        Ok(self.history_of(who.id).await?)
    }

    /// The recent security events of the account `user_id`, newest first
    /// (the owner's page, and staff's page about the person).
    pub async fn history_of(&self, user_id: uuid::Uuid) -> Result<Vec<HistoryEntry>, Unexpected> {
        let rows = audit_log::Entity::find()
            .filter(audit_log::Column::UserId.eq(user_id))
            .order_by_desc(audit_log::Column::CreatedAt)
            .limit(50)
            .all(&self.db)
            .await
            .unexpected("reading the security history")?;
        Ok(rows
            .into_iter()
            .map(|r| HistoryEntry {
                at: r.created_at,
                action: r.action,
                browser: {
                    let d = super::user_agent::parse(&r.user_agent);
                    format!("{} on {}", d.browser, d.os)
                },
                ip: r.ip,
            })
            .collect())
    }
}
