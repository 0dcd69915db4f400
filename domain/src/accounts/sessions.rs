//! Server-side sessions. The browser holds a random 128-bit token in a
//! cookie; the database holds its hash with when and from where the session
//! started, when it was last used and when it ended. A session ends on
//! sign-out, when its owner ends it from another device, after the idle
//! timeout, at its absolute end, and when the password is reset.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{token, user_agent, AccountError, Accounts, ClientInfo, CurrentUser, Role};
use crate::entities::{session, user};
use crate::support::audit::{self, truncate, Action};
use crate::support::error::{ResultExt, Unexpected};

/// `last_seen_at` is written at most this often per session.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);
/// How many ended sessions the sessions page shows.
const HISTORY: u64 = 20;

/// A session just started: the token goes into the cookie.
#[derive(Debug)]
pub struct NewSession {
    pub token: String,
    pub session_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// A session as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: Uuid,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    pub ip: String,
    pub browser: String,
    pub os: String,
    pub device: String,
    /// The session this page was requested with.
    pub current: bool,
}

impl Accounts {
    /// Starts a session for `user_id` (inside the caller's transaction).
    pub(crate) async fn start_session(
        &self,
        conn: &impl ConnectionTrait,
        user_id: Uuid,
        client: &ClientInfo,
    ) -> Result<NewSession, Unexpected> {
        let (token, hash) = token::generate();
        let now = Utc::now();
        let device = user_agent::parse(&client.user_agent);
        let id = Uuid::now_v7();
        let expires_at = now + self.policy.session_max;
        session::ActiveModel {
            id: Set(id),
            user_id: Set(user_id),
            token_hash: Set(hash),
            created_at: Set(now),
            last_seen_at: Set(now),
            expires_at: Set(expires_at),
            ended_at: Set(None),
            end_reason: Set(None),
            ip: Set(truncate(&client.ip, 45)),
            user_agent: Set(truncate(&client.user_agent, 512)),
            browser: Set(truncate(&device.browser, 64)),
            os: Set(truncate(&device.os, 64)),
            device: Set(device.device.to_owned()),
        }
        .insert(conn)
        .await
        .unexpected("starting a session")?;
        Ok(NewSession {
            token,
            session_id: id,
            expires_at,
        })
    }

    /// The person a session cookie belongs to, if the session is live.
    /// Ends sessions that are past their idle or absolute timeout.
    pub async fn authenticate(
        &self,
        cookie_token: &str,
    ) -> Result<Option<CurrentUser>, Unexpected> {
        let found = session::Entity::find()
            .filter(session::Column::TokenHash.eq(token::hash(cookie_token)))
            .filter(session::Column::EndedAt.is_null())
            .find_also_related(user::Entity)
            .one(&self.db)
            .await
            .unexpected("reading a session")?;
        let Some((session, Some(user))) = found else {
            return Ok(None);
        };
        let now = Utc::now();
        let expired = if user.disabled_at.is_some() {
            // Disabling ends sessions; this catches one started meanwhile.
            Some("disabled")
        } else if now >= session.expires_at {
            Some("expired")
        } else if now - session.last_seen_at >= self.policy.session_idle {
            Some("idle")
        } else {
            None
        };
        if let Some(reason) = expired {
            self.end_sessions(session::Column::Id.eq(session.id), reason)
                .await?;
            return Ok(None);
        }
        if now - session.last_seen_at >= TOUCH_EVERY {
            session::Entity::update_many()
                .col_expr(session::Column::LastSeenAt, Expr::value(now))
                .filter(session::Column::Id.eq(session.id))
                .exec(&self.db)
                .await
                .unexpected("touching a session")?;
        }
        Ok(Some(CurrentUser {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            role: Role::from_stored(&user.role),
            email_confirmed: user.email_confirmed_at.is_some(),
            session_id: session.id,
            deletion_due: user.deletion_due_at,
            policy_changed: user.policy_seen_version.as_deref()
                != Some(crate::privacy::POLICY_VERSION),
            objected: user.objected_at.is_some(),
            picture: user.picture_id,
        }))
    }

    /// Signs out of the current session.
    pub async fn sign_out(
        &self,
        who: &CurrentUser,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        self.end_sessions(session::Column::Id.eq(who.session_id), "signed_out")
            .await?;
        audit::record(&self.db, Some(who.id), Action::SignOut, client, "").await?;
        Ok(())
    }

    /// The owner's live sessions, newest first, then recent ended ones.
    pub async fn sessions(&self, who: &CurrentUser) -> Result<Vec<SessionView>, AccountError> {
        Ok(self.sessions_of(who.id, Some(who.session_id)).await?)
    }

    /// The live sessions of `user_id`, newest first, then recent ended
    /// ones; `current` marks the one a page was requested with.
    pub async fn sessions_of(
        &self,
        user_id: Uuid,
        current: Option<Uuid>,
    ) -> Result<Vec<SessionView>, Unexpected> {
        let live = session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::EndedAt.is_null())
            .order_by_desc(session::Column::LastSeenAt)
            .all(&self.db)
            .await
            .unexpected("listing sessions")?;
        let ended = session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::EndedAt.is_not_null())
            .order_by_desc(session::Column::EndedAt)
            .limit(HISTORY)
            .all(&self.db)
            .await
            .unexpected("listing ended sessions")?;
        Ok(live
            .into_iter()
            .chain(ended)
            .map(|s| SessionView {
                current: Some(s.id) == current,
                id: s.id,
                started_at: s.created_at,
                last_seen_at: s.last_seen_at,
                ended_at: s.ended_at,
                end_reason: s.end_reason,
                ip: s.ip,
                browser: s.browser,
                os: s.os,
                device: s.device,
            })
            .collect())
    }

    /// Ends one of the owner's sessions. Someone else's session id is
    /// answered exactly like one that does not exist.
    pub async fn end_session(
        &self,
        who: &CurrentUser,
        session_id: Uuid,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let ended = self
            .end_sessions(
                session::Column::Id
                    .eq(session_id)
                    .and(session::Column::UserId.eq(who.id)),
                "ended_by_user",
            )
            .await?;
        if ended == 0 {
            return Err(AccountError::NotFound);
        }
        audit::record(
            &self.db,
            Some(who.id),
            Action::SessionEnded,
            client,
            &session_id.to_string(),
        )
        .await?;
        Ok(())
    }

    /// Ends every session of the owner except the current one, and
    /// revokes every API key (a key is a sign-in that outlives sessions).
    pub async fn end_other_sessions(
        &self,
        who: &CurrentUser,
        client: &ClientInfo,
    ) -> Result<u64, AccountError> {
        let txn = crate::support::tx::begin(&self.db).await?;
        let ended = end_sessions_on(
            &txn,
            session::Column::UserId
                .eq(who.id)
                .and(session::Column::Id.ne(who.session_id)),
            "ended_by_user",
        )
        .await?;
        audit::record(
            &txn,
            Some(who.id),
            Action::OtherSessionsEnded,
            client,
            &ended.to_string(),
        )
        .await?;
        crate::developer::keys::revoke_all(
            &txn,
            who.id,
            client,
            crate::developer::RevokeAllReason::SignedOutEverywhere,
        )
        .await?;
        txn.commit().await.unexpected("ending sessions")?;
        Ok(ended)
    }

    /// Ends the live sessions matching `which`; returns how many.
    pub(crate) async fn end_sessions(
        &self,
        which: sea_orm::sea_query::SimpleExpr,
        reason: &str,
    ) -> Result<u64, Unexpected> {
        end_sessions_on(&self.db, which, reason).await
    }
}

pub(crate) async fn end_sessions_on(
    conn: &impl ConnectionTrait,
    which: sea_orm::sea_query::SimpleExpr,
    reason: &str,
) -> Result<u64, Unexpected> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::EndedAt, Expr::value(Utc::now()))
        .col_expr(session::Column::EndReason, Expr::value(reason))
        .filter(which)
        .filter(session::Column::EndedAt.is_null())
        .exec(conn)
        .await
        .unexpected("ending sessions")?;
    Ok(result.rows_affected)
}
