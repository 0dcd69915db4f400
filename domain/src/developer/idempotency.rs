//! `Idempotency-Key` on the developer API, with Stripe's semantics: the
//! same key and request return the first answer; the same key with another
//! request is refused (422); the same key while the first request is still
//! running is refused (409, which the official clients retry). Keys are
//! scoped per person and kept for 24 hours.
//!
//! Only answers of requests that made a job are kept: a request refused
//! before it made anything (bad input, too many pending jobs, no credits)
//! frees its key ([`forget`]); one whose job was made but has no answer yet
//! (the wait ran out) unlocks it ([`release`]), so a retry with the key
//! waits for the same job.
//!
//! An answer of images in base64 is not kept whole: [`finish`] takes a
//! compact form (which images of which job) and the API rebuilds the same
//! bytes on a repeat.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, SqlErr,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::entities::api_idempotency;
use crate::support::error::{ResultExt, Unexpected};

/// How long a key is remembered.
pub const KEEP_HOURS: i64 = 24;
/// How long an unanswered first request holds its key (longer than any
/// request may take; a process that died mid-request frees it after this).
pub const LOCK_SECONDS: i64 = 120;
pub const MAX_KEY_LEN: usize = 255;

/// What to do with a request that carries an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// Run it; then [`finish`] or [`release`] the claim.
    Run(Claim),
    /// Answer with the first request's answer: `body` itself when `kind`
    /// is `None`, else rebuilt from the compact form `body` (see
    /// [`finish`]).
    Replay {
        status: u16,
        body: String,
        kind: Option<String>,
    },
    /// The first request with this key is still running.
    InFlight,
    /// This key was used with another request.
    Mismatch,
}

/// The right to run the request of one key; `id` is stable for the key's
/// 24 hours (jobs made under it are keyed by it, so a retry after a
/// released claim finds the same job).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub id: Uuid,
    /// This request made the row. A claim taken over from an earlier
    /// request (its wait ran out, or its process died) may have a job
    /// already, so it is never forgotten, only released.
    pub fresh: bool,
}

/// Whether `key` is a usable idempotency key (1 to 255 visible ASCII
/// characters).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The fingerprint of a request: method, path and body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Looks up `key` of `user` and claims it when the request may run.
pub async fn begin(
    db: &DatabaseConnection,
    user: Uuid,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
) -> Result<Begin, Unexpected> {
    for _ in 0..3 {
        let row = api_idempotency::Entity::find()
            .filter(api_idempotency::Column::UserId.eq(user))
            .filter(api_idempotency::Column::Key.eq(key))
            .one(db)
            .await
            .unexpected("reading an idempotency key")?;
        match row {
            Some(r) if r.expires_at <= now => {
                api_idempotency::Entity::delete_many()
                    .filter(api_idempotency::Column::Id.eq(r.id))
                    .exec(db)
                    .await
                    .unexpected("forgetting an idempotency key")?;
            }
            Some(r) if r.request_hash != request_hash => return Ok(Begin::Mismatch),
            Some(api_idempotency::Model {
                response_status: Some(status),
                response_body,
                response_kind,
                ..
            }) => {
                return Ok(Begin::Replay {
                    status: u16::try_from(status).unwrap_or(500),
                    body: response_body.unwrap_or_default(),
                    kind: response_kind,
                })
            }
            Some(r) if r.locked_until > now => return Ok(Begin::InFlight),
            Some(r) => {
                // Unanswered and unlocked: take it over, if nobody else did.
                let res = api_idempotency::Entity::update_many()
                    .col_expr(
                        api_idempotency::Column::LockedUntil,
                        Expr::value(now + Duration::seconds(LOCK_SECONDS)),
                    )
                    .filter(api_idempotency::Column::Id.eq(r.id))
                    .filter(api_idempotency::Column::LockedUntil.eq(r.locked_until))
                    .filter(api_idempotency::Column::ResponseStatus.is_null())
                    .exec(db)
                    .await
                    .unexpected("claiming an idempotency key")?;
                return Ok(if res.rows_affected == 1 {
                    Begin::Run(Claim {
                        id: r.id,
                        fresh: false,
                    })
                } else {
                    Begin::InFlight
                });
            }
            None => {
                let id = Uuid::now_v7();
                let inserted = api_idempotency::Entity::insert(api_idempotency::ActiveModel {
                    id: Set(id),
                    user_id: Set(user),
                    key: Set(key.to_owned()),
                    request_hash: Set(request_hash.to_owned()),
                    response_status: Set(None),
                    response_body: Set(None),
                    created_at: Set(now),
                    locked_until: Set(now + Duration::seconds(LOCK_SECONDS)),
                    expires_at: Set(now + Duration::hours(KEEP_HOURS)),
                    response_kind: Set(None),
                })
                .exec_without_returning(db)
                .await;
                match inserted {
                    Ok(_) => return Ok(Begin::Run(Claim { id, fresh: true })),
                    // Another request with this key was first: look again.
                    Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    }
                    Err(e) => return Err(Unexpected::new("recording an idempotency key", e)),
                }
            }
        }
    }
    Ok(Begin::InFlight)
}

/// Keeps `status` and `body` as the answer to every repeat of the claim.
/// With a `kind`, `body` is a compact form the caller rebuilds the answer
/// from (an answer of images in base64 is megabytes; it is kept as the
/// ids of the images, which stay stored, and rebuilt byte for byte).
pub async fn finish(
    db: &DatabaseConnection,
    claim: Claim,
    status: u16,
    body: &str,
    kind: Option<&str>,
) -> Result<(), Unexpected> {
    api_idempotency::Entity::update_many()
        .col_expr(
            api_idempotency::Column::ResponseStatus,
            Expr::value(i32::from(status)),
        )
        .col_expr(
            api_idempotency::Column::ResponseBody,
            Expr::value(body.to_owned()),
        )
        .col_expr(
            api_idempotency::Column::ResponseKind,
            Expr::value(kind.map(str::to_owned)),
        )
        .filter(api_idempotency::Column::Id.eq(claim.id))
        .exec(db)
        .await
        .unexpected("keeping an idempotent answer")?;
    Ok(())
}

/// Lets a repeat of the claim run again (nothing was kept).
pub async fn release(db: &DatabaseConnection, claim: Claim) -> Result<(), Unexpected> {
    api_idempotency::Entity::update_many()
        .col_expr(
            api_idempotency::Column::LockedUntil,
            Expr::value(Utc::now()),
        )
        .filter(api_idempotency::Column::Id.eq(claim.id))
        .filter(api_idempotency::Column::ResponseStatus.is_null())
        .exec(db)
        .await
        .unexpected("releasing an idempotency key")?;
    Ok(())
}

/// Forgets the claim's key: its request made nothing (refused input, no
/// credits), so the key is free for any request, as with Stripe. A claim
/// taken over from an earlier request is only released: that request may
/// have made a job, which a retry with the key must find, not make again.
pub async fn forget(db: &DatabaseConnection, claim: Claim) -> Result<(), Unexpected> {
    if !claim.fresh {
        return release(db, claim).await;
    }
    api_idempotency::Entity::delete_many()
        .filter(api_idempotency::Column::Id.eq(claim.id))
        .filter(api_idempotency::Column::ResponseStatus.is_null())
        .exec(db)
        .await
        .unexpected("forgetting an idempotency key")?;
    Ok(())
}

/// Deletes keys older than 24 hours; how many went.
pub async fn purge_pass(db: &DatabaseConnection) -> Result<u64, Unexpected> {
    let res = api_idempotency::Entity::delete_many()
        .filter(api_idempotency::Column::ExpiresAt.lte(Utc::now()))
        .exec(db)
        .await
        .unexpected("purging idempotency keys")?;
    Ok(res.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_fingerprints() {
        assert!(valid_key("a"));
        assert!(valid_key(&"k".repeat(255)));
        assert!(!valid_key(""));
        assert!(!valid_key(&"k".repeat(256)));
        assert!(!valid_key("with space"));
        let a = fingerprint("POST", "/v1/images/generations", b"{}");
        assert_eq!(a.len(), 64);
        assert_ne!(a, fingerprint("POST", "/v1/images/generations", b"{ }"));
        assert_ne!(a, fingerprint("POST", "/v1/images/edits", b"{}"));
    }
}
