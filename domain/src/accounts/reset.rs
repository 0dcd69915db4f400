//! Confirming an address, and choosing a new password through a link sent
//! by mail. A reset ends every session of the account.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::email_tokens::Purpose;
use super::password::{self, NewPassword};
use super::{email_key, AccountError, Accounts, ClientInfo, CurrentUser};
use crate::entities::{session, user};
use crate::mail::{self, templates};
use crate::support::audit::{self, Action};
use crate::support::error::{ResultExt, Unexpected};

impl Accounts {
    /// Confirms the address a confirmation link was sent to. The link
    /// proves the address, not that whoever set the account up owns it, so
    /// what the account gathered while unconfirmed goes (see
    /// `accounts::reclaim`) and every session ends, except
    /// `browser_session` (the session of the browser that opened the link)
    /// when it belongs to this account: that browser knows the password and
    /// reads the mailbox.
    pub async fn confirm_email(
        &self,
        secret: &str,
        browser_session: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let txn = crate::support::tx::begin(&self.db).await?;
        let token = self
            .consume_token(&txn, Purpose::ConfirmEmail, secret)
            .await?;
        let account = user::Entity::find_by_id(token.user_id)
            .one(&txn)
            .await
            .unexpected("reading an account")?
            .ok_or(AccountError::LinkInvalid)?;
        if email_key(&token.email) != account.email_key {
            // The account changed its address since the link was sent.
            return Err(AccountError::LinkInvalid);
        }
        if account.email_confirmed_at.is_none() {
            super::reclaim::reclaim_unconfirmed(&txn, account.id, true, browser_session).await?;
        }
        audit::record(
            &txn,
            Some(token.user_id),
            Action::EmailConfirmed,
            client,
            "",
        )
        .await?;
        txn.commit().await.unexpected("committing a confirmation")?;
        Ok(())
    }

    /// Sends a fresh confirmation link to the signed-in person's address.
    pub async fn resend_confirmation(&self, who: &CurrentUser) -> Result<(), AccountError> {
        if who.email_confirmed {
            return Ok(());
        }
        let txn = crate::support::tx::begin(&self.db).await?;
        self.queue_confirmation(&txn, who.id, &who.email).await?;
        txn.commit()
            .await
            .unexpected("committing a confirmation mail")?;
        Ok(())
    }

    /// Queues a mail with a fresh confirmation link for `email` of
    /// `user_id`, inside the caller's transaction (the person's own
    /// "send it again", and staff's).
    pub(crate) async fn queue_confirmation(
        &self,
        conn: &impl sea_orm::ConnectionTrait,
        user_id: Uuid,
        email: &str,
    ) -> Result<(), Unexpected> {
        let token = self
            .issue_token(conn, user_id, Purpose::ConfirmEmail, email)
            .await?;
        mail::enqueue(
            conn,
            &self.key,
            Some(user_id),
            "confirm_email",
            email,
            templates::confirm_email(&self.mail, &token),
        )
        .await?;
        Ok(())
    }

    /// Mails a reset link if the address has an account; answers the same
    /// either way. The answer comes before any database work: looking the
    /// address up and queueing the mail happen in the background, so the
    /// request does the same (nothing) and takes as long for every address.
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let accounts = self.clone();
        let email = email.trim().to_owned();
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(e) = accounts.send_reset_link(&email, &client).await {
                tracing::error!(error = ?e, "a password reset request failed");
            }
        });
        Ok(())
    }

    /// The background half of [`Accounts::request_password_reset`].
    async fn send_reset_link(&self, email: &str, client: &ClientInfo) -> Result<(), AccountError> {
        let found = user::Entity::find()
            .filter(user::Column::EmailKey.eq(email_key(email)))
            .one(&self.db)
            .await
            .unexpected("looking up an account")?;
        let Some(found) = found else {
            return Ok(());
        };
        let txn = crate::support::tx::begin(&self.db).await?;
        let token = self
            .issue_token(&txn, found.id, Purpose::ResetPassword, &found.email)
            .await?;
        mail::enqueue(
            &txn,
            &self.key,
            Some(found.id),
            "reset_password",
            &found.email,
            templates::reset_password(&self.mail, &found.display_name, &token),
        )
        .await?;
        audit::record(
            &txn,
            Some(found.id),
            Action::PasswordResetRequested,
            client,
            "",
        )
        .await?;
        txn.commit()
            .await
            .unexpected("committing a reset request")?;
        Ok(())
    }

    /// Sets a new password with a reset link, and ends every session. A
    /// reset link also proves the address, so it confirms it too.
    pub async fn reset_password(
        &self,
        secret: &str,
        new_password: &str,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        // Validate and hash before the transaction: argon2 takes a while and
        // SQLite holds its write lock for the whole transaction.
        let pending = self.peek_token(Purpose::ResetPassword, secret).await?;
        let account = user::Entity::find_by_id(pending.user_id)
            .one(&self.db)
            .await
            .unexpected("reading an account")?
            .ok_or(AccountError::LinkInvalid)?;
        let password = NewPassword::parse(new_password, &[&account.email, &account.display_name])
            .map_err(|e| AccountError::invalid("password", e))?;
        let hash = password::hash(password).await?;

        let txn = crate::support::tx::begin(&self.db).await?;
        let token = self
            .consume_token(&txn, Purpose::ResetPassword, secret)
            .await?;
        // The link must be for this account's current address.
        if token.user_id != account.id || email_key(&token.email) != account.email_key {
            return Err(AccountError::LinkInvalid);
        }
        if account.email_confirmed_at.is_none() {
            // The reset link just proved the address (see accounts::reclaim).
            super::reclaim::reclaim_unconfirmed(&txn, account.id, true, None).await?;
        }
        super::email_tokens::expire_all(&txn, account.id).await?;
        let now = Utc::now();
        user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                user::Column::EmailConfirmedAt,
                Expr::value(account.email_confirmed_at.unwrap_or(now)),
            )
            .filter(user::Column::Id.eq(account.id))
            .exec(&txn)
            .await
            .unexpected("storing a new password")?;
        super::sessions::end_sessions_on(
            &txn,
            session::Column::UserId.eq(account.id),
            "password_reset",
        )
        .await?;
        mail::enqueue(
            &txn,
            &self.key,
            Some(account.id),
            "password_changed",
            &account.email,
            templates::password_changed(&self.mail, &account.display_name),
        )
        .await?;
        audit::record(&txn, Some(account.id), Action::PasswordReset, client, "").await?;
        // Whoever knew the old password may have made keys: they go too.
        crate::developer::keys::revoke_all(
            &txn,
            account.id,
            client,
            crate::developer::RevokeAllReason::PasswordReset,
        )
        .await?;
        txn.commit()
            .await
            .unexpected("committing a password reset")?;
        Ok(())
    }
}
