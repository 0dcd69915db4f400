//! Against account pre-hijacking: anyone can create an unconfirmed account
//! for someone else's address and set it up (a password, a linked identity,
//! two-factor) before the owner arrives. When the owner later proves the
//! address (by Google/GitHub, by a reset link, by the confirmation link or
//! by the link that moves an unconfirmed account to it), everything the
//! unconfirmed account gathered that the owner did not set is removed, and
//! every session ends (but the one of the browser that opened the
//! confirmation link, when it is signed in to this very account: it holds
//! both the password and the mailbox). API keys and webhook endpoints made
//! before the address was proven are removed as well: they would otherwise
//! spend the owner's credits, or hear of their generations, afterwards.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entities::{
    api_key, recovery_code, session, two_factor, two_factor_challenge, user, user_identity,
    webhook_endpoint,
};
use crate::support::error::{ResultExt, Unexpected};

/// Confirms the address of `user_id` for its proven owner. With
/// `keep_password = false` the password is removed too (the owner proved
/// the address through a provider and never chose it). `keep_session`, if
/// it is a session of this account, stays signed in.
pub(crate) async fn reclaim_unconfirmed(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    keep_password: bool,
    keep_session: Option<Uuid>,
) -> Result<(), Unexpected> {
    let now = Utc::now();
    let mut update = user::Entity::update_many()
        .col_expr(user::Column::EmailConfirmedAt, Expr::value(now))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id));
    if !keep_password {
        update = update.col_expr(
            user::Column::PasswordHash,
            Expr::value(Option::<String>::None),
        );
    }
    update
        .exec(conn)
        .await
        .unexpected("confirming a reclaimed address")?;
    user_identity::Entity::delete_many()
        .filter(user_identity::Column::UserId.eq(user_id))
        .exec(conn)
        .await
        .unexpected("removing identities of an unconfirmed account")?;
    two_factor::Entity::delete_by_id(user_id)
        .exec(conn)
        .await
        .unexpected("removing two-factor")?;
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(conn)
        .await
        .unexpected("removing recovery codes")?;
    two_factor_challenge::Entity::delete_many()
        .filter(two_factor_challenge::Column::UserId.eq(user_id))
        .exec(conn)
        .await
        .unexpected("removing sign-in challenges")?;
    api_key::Entity::delete_many()
        .filter(api_key::Column::UserId.eq(user_id))
        .exec(conn)
        .await
        .unexpected("removing API keys of an unconfirmed account")?;
    webhook_endpoint::Entity::delete_many()
        .filter(webhook_endpoint::Column::UserId.eq(user_id))
        .exec(conn)
        .await
        .unexpected("removing webhook endpoints of an unconfirmed account")?;
    let mut which = session::Column::UserId.eq(user_id);
    if let Some(keep) = keep_session {
        which = which.and(session::Column::Id.ne(keep));
    }
    super::sessions::end_sessions_on(conn, which, "address_reclaimed").await?;
    Ok(())
}
