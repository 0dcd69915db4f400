//! API keys: `uni1_sk_` + 32 random base62 characters + a 6-character
//! CRC32 checksum of them (so secret scanners can recognize a key and a
//! mistyped one is refused without a database read). A key is shown once;
//! only its SHA-256 is stored. A key is bound to its person and stops
//! working when it is revoked or expires, and while its person is
//! disabled, restricted or scheduled for deletion.

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
use crate::entities::{api_key, user};
use crate::privacy::NotNow;
use crate::support::audit::{self, Action};
use crate::support::error::{ResultExt, Unexpected};

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
}

impl Principal {
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// The API key service.
#[derive(Debug, Clone)]
pub struct ApiKeys {
    db: DatabaseConnection,
}

impl ApiKeys {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
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
        crate::privacy::ensure_may_process(&self.db, user).await??;
        let txn = crate::support::tx::begin(&self.db).await?;
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
            // The prefix and scopes only: the name is the person's text,
            // and this entry outlives the account.
            &format!("{}: {}", row.prefix, row.scopes),
        )
        .await?;
        txn.commit().await.unexpected("storing an API key")?;
        Ok(CreatedKey {
            key: row.into(),
            secret: Secret(secret),
        })
    }

    /// The keys of `user`, newest first (revoked ones too).
    pub async fn list(&self, user: Uuid) -> Result<Vec<ApiKeyView>, Unexpected> {
        Ok(api_key::Entity::find()
            .filter(api_key::Column::UserId.eq(user))
            .order_by_desc(api_key::Column::CreatedAt)
            .order_by_desc(api_key::Column::Id)
            .all(&self.db)
            .await
            .unexpected("listing API keys")?
            .into_iter()
            .map(Into::into)
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
        })
    }
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
