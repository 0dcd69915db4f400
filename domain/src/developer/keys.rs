//! API keys: `uni1_sk_` + 32 random base62 characters + a 6-character
//! CRC32 checksum of them (so secret scanners can recognize a key and a
//! mistyped one is refused without a database read). A key is shown once;
//! only its SHA-256 is stored. A key is bound to its person and stops
//! working when it is revoked or expires, and while its person is
//! disabled, restricted or scheduled for deletion. Every key of a person
//! is revoked when their password is reset and when they sign out
//! everywhere ([`revoke_all`]).
//!
//! A key may have a monthly credit cap: the credits of the jobs it
//! submitted this calendar month (UTC) that were not given back
//! ([`spent_this_month`]) plus the new job's may not exceed it. The check
//! runs in the transaction that reserves the credits
//! ([`crate::generation::Generations::submit_as`]), so it holds under
//! concurrency. Each key also has a request rate ([`KeyRate`]), counted in
//! the shared limit store.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore as _;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::{AccountError, ClientInfo};
use crate::entities::{api_key, generation, user};
use crate::privacy::NotNow;
use crate::support::audit::{self, Action};
use crate::support::error::{ResultExt, Unexpected};
use crate::support::limit_store::Limit;

/// What every key starts with.
pub const KEY_PREFIX: &str = "uni1_sk_";
const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
/// The characters of the key shown in the list (prefix + 4).
const SHOWN_LEN: usize = KEY_PREFIX.len() + 4;
/// Keys one person may have that are not revoked.
pub const MAX_ACTIVE_KEYS: u64 = 20;
/// The longest expiry offered.
pub const MAX_EXPIRY_DAYS: u32 = 365;
pub const MAX_NAME: usize = 100;
/// The highest monthly credit cap a key may have.
pub const MAX_MONTHLY_CAP: i64 = 10_000_000;
/// `last_used_at` is written at most this often per key.
const LAST_USED_GRANULARITY: i64 = 60;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Submit generations.
    Generate,
    /// Read generations and images.
    Read,
    /// Manage webhook endpoints.
    Webhooks,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Generate, Scope::Read, Scope::Webhooks];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Generate => "generate",
            Scope::Read => "read",
            Scope::Webhooks => "webhooks",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    fn list(stored: &str) -> Vec<Scope> {
        stored.split_whitespace().filter_map(Scope::parse).collect()
    }
}

/// A new key as the person asks for it.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub name: String,
    pub scopes: Vec<String>,
    /// `None`: never expires.
    pub expires_in_days: Option<u32>,
    /// The most credits the key may spend per calendar month (UTC);
    /// `None`: no cap beyond the balance.
    pub monthly_credit_cap: Option<i64>,
}

/// A key as its owner sees it (never the secret).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// `uni1_sk_` and the next four characters.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub monthly_credit_cap: Option<i64>,
    /// Credits its jobs of this calendar month (UTC) hold or spent.
    pub spent_this_month: i64,
}

impl ApiKeyView {
    /// Neither revoked nor expired at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

impl From<api_key::Model> for ApiKeyView {
    fn from(m: api_key::Model) -> Self {
        Self {
            id: m.id,
            scopes: Scope::list(&m.scopes),
            name: m.name,
            prefix: m.prefix,
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            expires_at: m.expires_at,
            revoked_at: m.revoked_at,
            monthly_credit_cap: m.monthly_credit_cap,
            spent_this_month: 0,
        }
    }
}

/// The secret of a new key: shown once, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The key itself, to show to its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A key just made.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key: ApiKeyView,
    pub secret: Secret,
}

/// Why a key was not made or changed.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("You have {limit} API keys. Revoke one you no longer use first.")]
    TooMany { limit: u64 },
    #[error(transparent)]
    NotNow(#[from] NotNow),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

fn invalid(field: &'static str, message: impl Into<String>) -> ApiKeyError {
    ApiKeyError::Invalid {
        field,
        message: message.into(),
    }
}

/// Why a bearer key was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Send your API key in the Authorization header: \"Authorization: Bearer uni1_sk_…\". Make one under Settings → API keys.")]
    Missing,
    #[error("The API key is not right. Check it, or make a new one under Settings → API keys.")]
    Invalid,
    #[error("This API key was revoked. Make a new one under Settings → API keys.")]
    Revoked,
    #[error("This API key expired. Make a new one under Settings → API keys.")]
    Expired,
    #[error("This account has been disabled by uni1 staff: {reason}.")]
    Disabled { reason: String },
    #[error(transparent)]
    NotNow(#[from] NotNow),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// Who a valid key speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub key_id: Uuid,
    pub scopes: Vec<Scope>,
    pub email_confirmed: bool,
    pub monthly_credit_cap: Option<i64>,
}

impl Principal {
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// What a job submitted with this key is checked against.
    pub fn budget(&self) -> KeyBudget {
        KeyBudget {
            key_id: self.key_id,
            monthly_credit_cap: self.monthly_credit_cap,
        }
    }
}

/// The key a job is submitted with, and its monthly cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyBudget {
    pub key_id: Uuid,
    pub monthly_credit_cap: Option<i64>,
}

/// The request rate every key gets: `per_minute` on average, up to
/// `burst` at once (GCRA in the shared limit store, subject = the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Default for KeyRate {
    /// 120 requests a minute, 60 at once: a Replicate client polls twice
    /// a second, and a batch may start with a few dozen requests.
    fn default() -> Self {
        Self {
            per_minute: 120,
            burst: 60,
        }
    }
}

impl KeyRate {
    /// As a [`Limit`]: `burst` checks per `burst` intervals of
    /// `60 s / per_minute` each.
    pub fn limit(self) -> Limit {
        let per_minute = u64::from(self.per_minute.max(1));
        let burst = self.burst.max(1);
        let period_micros = 60_000_000 * u64::from(burst) / per_minute;
        Limit::new(
            "api_key",
            burst,
            std::time::Duration::from_micros(period_micros.max(1)),
        )
    }
}

/// The API key service.
#[derive(Debug, Clone)]
pub struct ApiKeys {
    db: DatabaseConnection,
    rate: KeyRate,
}

impl ApiKeys {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            rate: KeyRate::default(),
        }
    }

    /// The same service with `rate` per key.
    pub fn with_rate(mut self, rate: KeyRate) -> Self {
        self.rate = rate;
        self
    }

    /// The request rate of every key.
    pub fn rate(&self) -> KeyRate {
        self.rate
    }

    /// Makes a key for `user`; its secret is in the answer and nowhere else.
    pub async fn create(
        &self,
        user: Uuid,
        client: &ClientInfo,
        new: NewKey,
    ) -> Result<CreatedKey, ApiKeyError> {
        let name = new.name.trim();
        if name.is_empty() {
            return Err(invalid(
                "name",
                "Give the key a name, e.g. where you use it.",
            ));
        }
        if name.chars().count() > MAX_NAME {
            return Err(invalid(
                "name",
                format!("Keep the name under {MAX_NAME} characters."),
            ));
        }
        let mut scopes = Vec::new();
        for s in &new.scopes {
            let s = Scope::parse(s.trim())
                .ok_or_else(|| invalid("scopes", "Choose among generate, read and webhooks."))?;
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        if scopes.is_empty() {
            return Err(invalid("scopes", "Choose at least one scope."));
        }
        let now = Utc::now();
        let expires_at = match new.expires_in_days {
            None => None,
            Some(d) if (1..=MAX_EXPIRY_DAYS).contains(&d) => Some(now + Duration::days(d.into())),
            Some(_) => {
                return Err(invalid(
                    "expires_in_days",
                    format!("A key expires after 1 to {MAX_EXPIRY_DAYS} days, or never."),
                ))
            }
        };
        if let Some(cap) = new.monthly_credit_cap {
            if !(1..=MAX_MONTHLY_CAP).contains(&cap) {
                return Err(invalid(
                    "monthly_credit_cap",
                    format!("A monthly cap is 1 to {MAX_MONTHLY_CAP} credits, or none."),
                ));
            }
        }
        crate::privacy::ensure_may_process(&self.db, user).await??;
        let txn = crate::support::tx::begin(&self.db).await?;
        // One key creation of a person at a time, so parallel requests
        // cannot pass the count below together.
        crate::support::tx::lock_person(&txn, user).await?;
        let active = api_key::Entity::find()
            .filter(api_key::Column::UserId.eq(user))
            .filter(api_key::Column::RevokedAt.is_null())
            .count(&txn)
            .await
            .unexpected("counting API keys")?;
        if active >= MAX_ACTIVE_KEYS {
            return Err(ApiKeyError::TooMany {
                limit: MAX_ACTIVE_KEYS,
            });
        }
        let secret = generate();
        let row = api_key::Model {
            id: Uuid::now_v7(),
            user_id: user,
            name: name.to_owned(),
            prefix: secret[..SHOWN_LEN].to_owned(),
            secret_hash: crate::accounts::token::hash(&secret),
            scopes: scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            created_at: now,
            last_used_at: None,
            expires_at,
            revoked_at: None,
            monthly_credit_cap: new.monthly_credit_cap,
        };
        api_key::Entity::insert(api_key::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await
            .unexpected("storing an API key")?;
        audit::record(
            &txn,
            Some(user),
            Action::ApiKeyCreated,
            client,
            // The prefix, scopes and cap only: the name is the person's
            // text, and this entry outlives the account.
            &match row.monthly_credit_cap {
                Some(cap) => format!("{}: {}; cap {cap}/month", row.prefix, row.scopes),
                None => format!("{}: {}", row.prefix, row.scopes),
            },
        )
        .await?;
        txn.commit().await.unexpected("storing an API key")?;
        Ok(CreatedKey {
            key: row.into(),
            secret: Secret(secret),
        })
    }

    /// The keys of `user`, newest first (revoked ones too), each with the
    /// credits it spent this month.
    pub async fn list(&self, user: Uuid) -> Result<Vec<ApiKeyView>, Unexpected> {
        let spent = spent_by_key(&self.db, user, Utc::now()).await?;
        Ok(api_key::Entity::find()
            .filter(api_key::Column::UserId.eq(user))
            .order_by_desc(api_key::Column::CreatedAt)
            .order_by_desc(api_key::Column::Id)
            .all(&self.db)
            .await
            .unexpected("listing API keys")?
            .into_iter()
            .map(|m| {
                let mut v = ApiKeyView::from(m);
                v.spent_this_month = spent.get(&v.id).copied().unwrap_or(0);
                v
            })
            .collect())
    }

    /// Revokes the key `id` of `user` at once; whether it was theirs and
    /// not revoked yet.
    pub async fn revoke(
        &self,
        user: Uuid,
        client: &ClientInfo,
        id: Uuid,
    ) -> Result<bool, Unexpected> {
        let txn = crate::support::tx::begin(&self.db).await?;
        let Some(row) = api_key::Entity::find_by_id(id)
            .filter(api_key::Column::UserId.eq(user))
            .filter(api_key::Column::RevokedAt.is_null())
            .one(&txn)
            .await
            .unexpected("reading an API key")?
        else {
            return Ok(false);
        };
        let res = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(api_key::Column::Id.eq(row.id))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .unexpected("revoking an API key")?;
        if res.rows_affected == 0 {
            return Ok(false);
        }
        audit::record(&txn, Some(user), Action::ApiKeyRevoked, client, &row.prefix).await?;
        txn.commit().await.unexpected("revoking an API key")?;
        Ok(true)
    }

    /// The person and scopes of the bearer key `presented`; refuses a
    /// malformed, unknown, revoked or expired key, and the keys of a person
    /// who is disabled, restricted or scheduled for deletion. Stamps the
    /// key's last use (at most once a minute).
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, AuthError> {
        let presented = presented.trim();
        if !well_formed(presented) {
            return Err(AuthError::Invalid);
        }
        let now = Utc::now();
        let row = api_key::Entity::find()
            .filter(api_key::Column::SecretHash.eq(crate::accounts::token::hash(presented)))
            .one(&self.db)
            .await
            .unexpected("reading an API key")?
            .ok_or(AuthError::Invalid)?;
        if row.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        if row.expires_at.is_some_and(|e| e <= now) {
            return Err(AuthError::Expired);
        }
        crate::accounts::ensure_enabled(&self.db, row.user_id)
            .await
            .map_err(|e| match e {
                AccountError::Disabled { reason } => AuthError::Disabled { reason },
                AccountError::Unexpected(u) => AuthError::Unexpected(u),
                other => AuthError::Unexpected(Unexpected::new(
                    "checking an account",
                    std::io::Error::other(other.to_string()),
                )),
            })?;
        crate::privacy::ensure_may_process(&self.db, row.user_id).await??;
        let person = user::Entity::find_by_id(row.user_id)
            .one(&self.db)
            .await
            .unexpected("reading an account")?
            .ok_or(AuthError::Invalid)?;
        if row
            .last_used_at
            .is_none_or(|t| t < now - Duration::seconds(LAST_USED_GRANULARITY))
        {
            api_key::Entity::update_many()
                .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
                .filter(api_key::Column::Id.eq(row.id))
                .exec(&self.db)
                .await
                .unexpected("stamping an API key's use")?;
        }
        Ok(Principal {
            user_id: row.user_id,
            key_id: row.id,
            scopes: Scope::list(&row.scopes),
            email_confirmed: person.email_confirmed_at.is_some(),
            monthly_credit_cap: row.monthly_credit_cap,
        })
    }
}

/// Why every key of a person was revoked (the audit entry's detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeAllReason {
    PasswordReset,
    SignedOutEverywhere,
}

impl RevokeAllReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeAllReason::PasswordReset => "password_reset",
            RevokeAllReason::SignedOutEverywhere => "signed_out_everywhere",
        }
    }
}

/// Revokes every key of `user` that is not revoked yet, inside the
/// caller's transaction when given one, and records it in their audit log
/// (when there was any); returns how many.
pub async fn revoke_all(
    conn: &impl ConnectionTrait,
    user: Uuid,
    client: &ClientInfo,
    reason: RevokeAllReason,
) -> Result<u64, Unexpected> {
    let res = api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(api_key::Column::UserId.eq(user))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(conn)
        .await
        .unexpected("revoking API keys")?;
    if res.rows_affected > 0 {
        audit::record(
            conn,
            Some(user),
            Action::ApiKeysRevoked,
            client,
            &format!("{}: {}", reason.as_str(), res.rows_affected),
        )
        .await?;
    }
    Ok(res.rows_affected)
}

/// The start of the calendar month (UTC) of `now`.
pub fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{Datelike as _, TimeZone as _};
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

/// Jobs whose credits count against a key: held (queued, running) or
/// spent (succeeded). A job that failed, was cancelled or refused gave
/// its credits back in the same transaction that set its state.
const COUNTED: [crate::generation::Status; 3] = [
    crate::generation::status::QUEUED,
    crate::generation::status::RUNNING,
    crate::generation::status::SUCCEEDED,
];

/// `SUM(credits)` as a 64-bit integer on both back-ends (PostgreSQL's
/// `SUM(bigint)` is `numeric`).
fn sum_credits() -> sea_orm::sea_query::SimpleExpr {
    Expr::cust("CAST(COALESCE(SUM(credits), 0) AS BIGINT)")
}

/// The credits the jobs of key `key` submitted this calendar month (UTC
/// of `now`) hold or spent. Inside the submitting transaction (with the
/// person's balance row locked) this is exact.
pub async fn spent_this_month(
    conn: &impl ConnectionTrait,
    key: Uuid,
    now: DateTime<Utc>,
) -> Result<i64, Unexpected> {
    use sea_orm::QuerySelect as _;
    let spent: Option<i64> = generation::Entity::find()
        .select_only()
        .column_as(sum_credits(), "spent")
        .filter(generation::Column::ApiKeyId.eq(key))
        .filter(generation::Column::QueuedAt.gte(month_start(now)))
        .filter(generation::Column::Status.is_in(COUNTED))
        .into_tuple()
        .one(conn)
        .await
        .unexpected("summing a key's credits")?;
    Ok(spent.unwrap_or(0))
}

/// [`spent_this_month`] for every key of `user`.
async fn spent_by_key(
    conn: &impl ConnectionTrait,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<std::collections::HashMap<Uuid, i64>, Unexpected> {
    use sea_orm::QuerySelect as _;
    let rows: Vec<(Option<Uuid>, i64)> = generation::Entity::find()
        .select_only()
        .column(generation::Column::ApiKeyId)
        .column_as(sum_credits(), "spent")
        .filter(generation::Column::UserId.eq(user))
        .filter(generation::Column::ApiKeyId.is_not_null())
        .filter(generation::Column::QueuedAt.gte(month_start(now)))
        .filter(generation::Column::Status.is_in(COUNTED))
        .group_by(generation::Column::ApiKeyId)
        .into_tuple()
        .all(conn)
        .await
        .unexpected("summing keys' credits")?;
    Ok(rows
        .into_iter()
        .filter_map(|(k, n)| k.map(|k| (k, n)))
        .collect())
}

/// The keys of `user` for their data export (never the hash).
pub async fn export_json(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<Value>, Unexpected> {
    let rows = api_key::Entity::find()
        .filter(Condition::all().add(api_key::Column::UserId.eq(user_id)))
        .order_by_asc(api_key::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting API keys")?;
    let iso = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(rows
        .iter()
        .map(|k| {
            json!({
                "id": k.id,
                "name": k.name,
                "prefix": k.prefix,
                "scopes": k.scopes,
                "created_at": iso(k.created_at),
                "last_used_at": k.last_used_at.map(iso),
                "expires_at": k.expires_at.map(iso),
                "revoked_at": k.revoked_at.map(iso),
                "monthly_credit_cap": k.monthly_credit_cap,
            })
        })
        .collect())
}

/// The person's idempotency keys of the last 24 hours for their data
/// export: key, times and the answer's status (the answer itself holds
/// their generation, which the export has already).
pub async fn export_idempotency_json(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<Value>, Unexpected> {
    use crate::entities::api_idempotency;
    let rows = api_idempotency::Entity::find()
        .filter(api_idempotency::Column::UserId.eq(user_id))
        .order_by_asc(api_idempotency::Column::CreatedAt)
        .all(conn)
        .await
        .unexpected("exporting API idempotency keys")?;
    let iso = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(rows
        .iter()
        .map(|r| {
            json!({
                "idempotency_key": r.key,
                "created_at": iso(r.created_at),
                "expires_at": iso(r.expires_at),
                "answer_status": r.response_status,
            })
        })
        .collect())
}

/// A fresh key.
fn generate() -> String {
    let mut random = String::with_capacity(RANDOM_LEN);
    let mut buf = [0u8; 64];
    while random.len() < RANDOM_LEN {
        rand::rngs::OsRng.fill_bytes(&mut buf);
        for b in buf {
            // 248 = 4 * 62: no bias.
            if b < 248 && random.len() < RANDOM_LEN {
                random.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    format!("{KEY_PREFIX}{random}{}", checksum(&random))
}

/// CRC32 of the random part, in 6 base62 characters.
fn checksum(random: &str) -> String {
    let mut n = u64::from(crc32fast::hash(random.as_bytes()));
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Shape and checksum, before any database read.
pub fn well_formed(key: &str) -> bool {
    let Some(rest) = key.strip_prefix(KEY_PREFIX) else {
        return false;
    };
    if rest.len() != RANDOM_LEN + CHECKSUM_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (random, sum) = rest.split_at(RANDOM_LEN);
    checksum(random) == sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_checksummed_and_unique() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with("uni1_sk_"));
        assert_eq!(a.len(), KEY_PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN);
        assert!(well_formed(&a) && well_formed(&b));
        // One character changed: the checksum refuses it.
        let mut typo = a.clone().into_bytes();
        let i = KEY_PREFIX.len() + 3;
        typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
        assert!(!well_formed(&String::from_utf8(typo).unwrap_or_default()));
        assert!(!well_formed("uni1_sk_short"));
        assert!(!well_formed(&a.replace("uni1_sk_", "sk-")));
        assert_eq!(format!("{:?}", Secret(a.clone())), "Secret(..)");
    }

    #[test]
    fn key_rates_and_months() {
        // 60 a minute, 20 at once: one a second, 20 s of tolerance.
        let l = KeyRate {
            per_minute: 60,
            burst: 20,
        }
        .limit();
        assert_eq!(
            (l.burst, l.period),
            (20, std::time::Duration::from_secs(20))
        );
        let l = KeyRate {
            per_minute: 120,
            burst: 60,
        }
        .limit();
        assert_eq!(l.period, std::time::Duration::from_secs(30));
        let t = DateTime::parse_from_rfc3339("2026-12-31T23:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(month_start(t).to_rfc3339(), "2026-12-01T00:00:00+00:00");
    }

    #[test]
    fn scopes_round_trip() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            Scope::list("generate read bogus"),
            vec![Scope::Generate, Scope::Read]
        );
    }
}
