//! Changing the e-mail address: the new address is confirmed by a link sent
//! to it, and the old address is told twice (when asked, and when done).
//! An address that belongs to another account gets a notice instead, and
//! the person asking sees the same answer, so nobody learns who has one.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, SqlErr};

use super::email_tokens::Purpose;
use super::{email_key, password, AccountError, Accounts, ClientInfo, CurrentUser};
use crate::entities::user;
use crate::mail::{self, templates};
use crate::support::audit::{self, Action};
use crate::support::email::EmailAddress;
use crate::support::error::ResultExt;

impl Accounts {
    /// Asks to move the account to `new_email`. Accounts with a password
    /// must give it; accounts without one need a recent sign-in or a
    /// current two-factor code (see `accounts::reauth`).
    pub async fn request_email_change(
        &self,
        who: &CurrentUser,
        new_email: &str,
        password_given: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let new_email =
            EmailAddress::parse(new_email).map_err(|e| AccountError::invalid("email", e))?;
        let account = self.own_account(who).await?;
        if let Some(hash) = account.password_hash.clone() {
            password::check(hash, password_given).await?;
        } else {
            self.require_recent_auth(who, "", code, client).await?;
        }
        if email_key(new_email.as_str()) == account.email_key {
            return Err(AccountError::invalid(
                "email",
                "This is already your address.",
            ));
        }
        let taken = user::Entity::find()
            .filter(user::Column::EmailKey.eq(email_key(new_email.as_str())))
            .count(&self.db)
            .await
            .unexpected("checking an address")?
            > 0;
        let txn = crate::support::tx::begin(&self.db).await?;
        if taken {
            mail::enqueue(
                &txn,
                &self.key,
                None,
                "address_in_use",
                new_email.as_str(),
                templates::address_in_use(&self.mail),
            )
            .await?;
        } else {
            let token = self
                .issue_token(&txn, who.id, Purpose::ChangeEmail, new_email.as_str())
                .await?;
            mail::enqueue(
                &txn,
                &self.key,
                Some(who.id),
                "confirm_new_email",
                new_email.as_str(),
                templates::confirm_new_email(&self.mail, &token),
            )
            .await?;
        }
        mail::enqueue(
            &txn,
            &self.key,
            Some(who.id),
            "email_change_requested",
            &account.email,
            templates::email_change_requested(
                &self.mail,
                &account.display_name,
                new_email.as_str(),
            ),
        )
        .await?;
        audit::record(&txn, Some(who.id), Action::EmailChangeRequested, client, "").await?;
        txn.commit()
            .await
            .unexpected("committing an address change request")?;
        Ok(())
    }

    /// Moves the account to the address the link was sent to. An account
    /// that was unconfirmed until now is handed to the address's owner as
    /// on any other confirmation (see `accounts::reclaim`; the session
    /// `browser_session` stays if it is this account's).
    pub async fn confirm_email_change(
        &self,
        secret: &str,
        browser_session: Option<uuid::Uuid>,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let txn = crate::support::tx::begin(&self.db).await?;
        let token = self
            .consume_token(&txn, Purpose::ChangeEmail, secret)
            .await?;
        let account = user::Entity::find_by_id(token.user_id)
            .one(&txn)
            .await
            .unexpected("reading an account")?
            .ok_or(AccountError::LinkInvalid)?;
        let now = Utc::now();
        let moved = user::Entity::update_many()
            .col_expr(user::Column::Email, Expr::value(token.email.clone()))
            .col_expr(user::Column::EmailKey, Expr::value(email_key(&token.email)))
            .col_expr(user::Column::EmailConfirmedAt, Expr::value(now))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(account.id))
            .exec(&txn)
            .await;
        if let Err(e) = moved {
            if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
                // Taken by another account since the link was sent.
                return Err(AccountError::LinkInvalid);
            }
            return Err(crate::Unexpected::new("changing an address", e).into());
        }
        if account.email_confirmed_at.is_none() {
            super::reclaim::reclaim_unconfirmed(&txn, account.id, true, browser_session).await?;
        }
        super::email_tokens::expire_all(&txn, account.id).await?;
        mail::enqueue(
            &txn,
            &self.key,
            Some(account.id),
            "email_changed",
            &account.email,
            templates::email_changed(&self.mail, &account.display_name, &token.email),
        )
        .await?;
        audit::record(&txn, Some(account.id), Action::EmailChanged, client, "").await?;
        txn.commit()
            .await
            .unexpected("committing an address change")?;
        Ok(())
    }
}
