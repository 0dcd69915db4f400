//! Single-use, expiring tokens sent by mail. The mail carries the token;
//! the database keeps only its hash. Using a token marks it used in the
//! same statement that checks it, so two clicks cannot both succeed.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::{token, AccountError, Accounts};
use crate::entities::email_token::{self, Column};
use crate::support::error::{ResultExt, Unexpected};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    ConfirmEmail,
    ResetPassword,
    ChangeEmail,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::ConfirmEmail => "confirm_email",
            Purpose::ResetPassword => "reset_password",
            Purpose::ChangeEmail => "change_email",
        }
    }
}

impl Accounts {
    /// Stores a new token for `user_id` and returns the secret to mail.
    pub(crate) async fn issue_token(
        &self,
        conn: &impl ConnectionTrait,
        user_id: Uuid,
        purpose: Purpose,
        email: &str,
    ) -> Result<String, Unexpected> {
        let valid_for = match purpose {
            Purpose::ConfirmEmail | Purpose::ChangeEmail => self.policy.confirm_link_valid,
            Purpose::ResetPassword => self.policy.reset_link_valid,
        };
        let (secret, hash) = token::generate();
        let now = Utc::now();
        email_token::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user_id),
            purpose: Set(purpose.as_str().to_owned()),
            token_hash: Set(hash),
            email: Set(email.to_owned()),
            created_at: Set(now),
            expires_at: Set(now + valid_for),
            used_at: Set(None),
        }
        .insert(conn)
        .await
        .unexpected("storing a mail token")?;
        Ok(secret)
    }

    /// Reads the live token for `secret` without using it.
    pub(crate) async fn peek_token(
        &self,
        purpose: Purpose,
        secret: &str,
    ) -> Result<email_token::Model, AccountError> {
        email_token::Entity::find()
            .filter(Column::TokenHash.eq(token::hash(secret.trim())))
            .filter(Column::Purpose.eq(purpose.as_str()))
            .filter(Column::UsedAt.is_null())
            .filter(Column::ExpiresAt.gt(Utc::now()))
            .one(&self.db)
            .await
            .unexpected("reading a mail token")?
            .ok_or(AccountError::LinkInvalid)
    }

    /// Uses `secret` for `purpose` once: returns the token's row, or
    /// [`AccountError::LinkInvalid`] if it is unknown, used or expired.
    pub(crate) async fn consume_token(
        &self,
        conn: &impl ConnectionTrait,
        purpose: Purpose,
        secret: &str,
    ) -> Result<email_token::Model, AccountError> {
        let hash = token::hash(secret.trim());
        let now = Utc::now();
        let row = email_token::Entity::find()
            .filter(Column::TokenHash.eq(&hash))
            .filter(Column::Purpose.eq(purpose.as_str()))
            .one(conn)
            .await
            .unexpected("reading a mail token")?
            .ok_or(AccountError::LinkInvalid)?;
        let used = email_token::Entity::update_many()
            .col_expr(Column::UsedAt, Expr::value(now))
            .filter(Column::Id.eq(row.id))
            .filter(Column::UsedAt.is_null())
            .filter(Column::ExpiresAt.gt(now))
            .exec(conn)
            .await
            .unexpected("using a mail token")?;
        if used.rows_affected != 1 {
            return Err(AccountError::LinkInvalid);
        }
        Ok(row)
    }
}

/// Spends every unused mail link of `user_id` (after a password reset or an
/// address change, no older link may still act on the account).
pub(crate) async fn expire_all(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<(), Unexpected> {
    email_token::Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(Utc::now()))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::UsedAt.is_null())
        .exec(conn)
        .await
        .unexpected("expiring mail links")?;
    Ok(())
}
