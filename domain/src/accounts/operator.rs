//! What the operator does from the command line: create an account (the
//! first admin, say) and change an account's role. Both are audited.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, SqlErr};
use uuid::Uuid;

use super::password::{self, NewPassword};
use super::{email_key, AccountError, Accounts, ClientInfo, Role};
use crate::entities::user;
use crate::support::audit::{self, Action};
use crate::support::email::EmailAddress;
use crate::support::error::ResultExt;

fn operator() -> ClientInfo {
    ClientInfo {
        ip: "command line".into(),
        user_agent: "uni1 admin".into(),
    }
}

impl Accounts {
    /// Creates a confirmed account with `role`. The operator vouches for the
    /// address and for the person being an adult who accepts the terms.
    pub async fn create_by_operator(
        &self,
        email: &str,
        display_name: &str,
        new_password: &str,
        role: Role,
    ) -> Result<Uuid, AccountError> {
        let email = EmailAddress::parse(email).map_err(|e| AccountError::invalid("email", e))?;
        let display_name = display_name.trim();
        if display_name.is_empty() || display_name.chars().count() > super::signup::NAME_MAX {
            return Err(AccountError::invalid(
                "display_name",
                "Enter a name of 1 to 100 characters.",
            ));
        }
        let password = NewPassword::parse(new_password, &[email.as_str(), display_name])
            .map_err(|e| AccountError::invalid("password", e))?;
        let hash = password::hash(password).await?;
        let now = Utc::now();
        let id = Uuid::now_v7();
        let txn = crate::support::tx::begin(&self.db).await?;
        let inserted = super::signup::NewAccount {
            email: email.as_str(),
            display_name,
            password_hash: Some(hash),
            confirmed: true,
            role,
            avatar_url: None,
        }
        .row(id, now)
        .insert(&txn)
        .await;
        match inserted {
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(AccountError::invalid(
                    "email",
                    "An account with this address already exists.",
                ));
            }
            other => {
                other.unexpected("creating an account")?;
            }
        }
        audit::record(
            &txn,
            Some(id),
            Action::CreatedByOperator,
            &operator(),
            role.as_str(),
        )
        .await?;
        txn.commit().await.unexpected("committing an account")?;
        Ok(id)
    }

    /// Gives the account with `email` the role `role` and signs it out
    /// everywhere, so the new privileges start with a fresh session.
    pub async fn set_role(&self, email: &str, role: Role) -> Result<(), AccountError> {
        let txn = crate::support::tx::begin(&self.db).await?;
        let found = user::Entity::find()
            .filter(user::Column::EmailKey.eq(email_key(email.trim())))
            .one(&txn)
            .await
            .unexpected("looking up an account")?
            .ok_or(AccountError::NotFound)?;
        user::Entity::update_many()
            .col_expr(user::Column::Role, Expr::value(role.as_str()))
            .col_expr(user::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(user::Column::Id.eq(found.id))
            .exec(&txn)
            .await
            .unexpected("changing a role")?;
        // New privileges start with a new session (rotation at privilege change).
        super::sessions::end_sessions_on(
            &txn,
            crate::entities::session::Column::UserId.eq(found.id),
            "role_changed",
        )
        .await?;
        audit::record(
            &txn,
            Some(found.id),
            Action::RoleChanged,
            &operator(),
            &format!("{} -> {}", found.role, role.as_str()),
        )
        .await?;
        txn.commit().await.unexpected("committing a role change")?;
        Ok(())
    }
}
