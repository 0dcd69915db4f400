//! Where rate limits keep their counts: in the database, shared by every
//! process of the service (the production store), or in this process's
//! memory (one process alone: unit tests and tools).
//!
//! Both stores run the same algorithm, GCRA (the generic cell rate
//! algorithm, a token bucket kept as one timestamp): a limit of `burst`
//! checks per `period` lets one check through every `period / burst` and
//! up to `burst` at once. Each (limit, key) keeps its *theoretical arrival
//! time* `tat`; a check at `now` is allowed when
//! `max(tat, now) + interval - now <= period`, and then moves `tat` to
//! `max(tat, now) + interval`. A refusal leaves `tat` as it was and waits
//! until the check would be allowed.
//!
//! In the database a check is one statement, an upsert of the
//! `rate_limits` row (`INSERT … ON CONFLICT (name, subject) DO UPDATE …
//! RETURNING`), so concurrent checks from any number of processes are
//! serialized on the row (a row lock on PostgreSQL, the single writer on
//! SQLite) and never let more through than the limit allows. The table is
//! UNLOGGED on PostgreSQL: a crash forgets the counts (everyone gets a
//! fresh budget), which is the price of not writing them to the WAL.
//!
//! Keys are stored as their HMAC-SHA-256 under a key derived from the
//! application key ([`SubjectKey`], the `subject` column): addresses and
//! e-mail addresses never reach the table in clear, and a copy of the
//! table cannot be reversed by hashing every IPv4 address or a list of
//! e-mail addresses without the application key. Every process with the
//! same application key computes the same subject. (Rows written with the
//! unsalted SHA-256 of earlier versions are never matched again; they
//! expire and are purged like any other.) Time is this process's clock in microseconds
//! since the epoch; processes on hosts whose clocks differ by `d` may let
//! through about `d / interval` more checks at the edge of a window.
//!
//! A row whose `tat` is in the past means a full budget, exactly as a
//! missing row: [`purge`] deletes those.
//!
//! If the database cannot answer, the check is counted in this process
//! (and logged): limits never open up because the database is busy (a
//! flood could make it so on purpose), and a hiccup locks nobody out.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use hmac::{Hmac, Mac};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sha2::Sha256;

use super::rate_limit::RetryAfter;
use crate::support::crypto::AppKey;
use crate::support::error::{ResultExt, Unexpected};

/// The key of the `subject` column: HMAC-SHA-256 under
/// `AppKey::derive("rate limit subjects v1")`. Never printed.
#[derive(Clone)]
pub struct SubjectKey([u8; 32]);

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectKey(..)")
    }
}

impl SubjectKey {
    /// The subject key of the application key `key`.
    pub fn new(key: &AppKey) -> Self {
        Self(key.derive("rate limit subjects v1"))
    }

    /// The stored subject of `key` (lowercase hex).
    pub fn subject(&self, key: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(key.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// One limit: at most `burst` checks per `period` for each key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The limit's name: the metric label and the table's `name` column.
    pub name: &'static str,
    pub burst: u32,
    pub period: Duration,
}

impl Limit {
    pub const fn new(name: &'static str, burst: u32, period: Duration) -> Self {
        Self {
            name,
            burst,
            period,
        }
    }

    /// The time one check uses up (`period / burst`), at least 1 µs.
    fn interval_micros(self) -> i64 {
        let period = i64::try_from(self.period.as_micros()).unwrap_or(i64::MAX);
        (period / i64::from(self.burst.max(1))).max(1)
    }

    /// How far ahead of now `tat` may be after an allowed check.
    fn tolerance_micros(self) -> i64 {
        self.interval_micros()
            .saturating_mul(i64::from(self.burst.max(1)))
    }

    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(self.period / burst.get())
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

/// Where the counts live; cheap to clone (clones share the counts).
#[derive(Debug, Clone)]
pub enum LimitStore {
    /// In this process only: with N processes a limit is N times looser.
    Memory(Arc<Memory>),
    /// In the `rate_limits` table (subjects keyed by the [`SubjectKey`]):
    /// the same limit for every process with the same application key; the
    /// in-process store stands in while the database cannot answer.
    Database(DatabaseConnection, SubjectKey, Arc<Memory>),
}

impl Default for LimitStore {
    fn default() -> Self {
        Self::Memory(Arc::default())
    }
}

/// The in-process store: one `governor` limiter per limit.
#[derive(Debug, Default)]
pub struct Memory {
    limiters: Mutex<HashMap<&'static str, Arc<Keyed>>>,
    clock: DefaultClock,
}

impl Memory {
    fn limiter(&self, limit: Limit) -> Arc<Keyed> {
        let mut limiters = self
            .limiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        limiters
            .entry(limit.name)
            .or_insert_with(|| Arc::new(RateLimiter::keyed(limit.quota())))
            .clone()
    }

    fn check(&self, limit: Limit, key: &str) -> Result<(), RetryAfter> {
        let limiter = self.limiter(limit);
        if limiter.len() > 50_000 {
            limiter.retain_recent();
        }
        limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| RetryAfter(not_until.wait_time_from(self.clock.now())))
    }
}

/// The check: one upsert. `$3` is now, `$4` the interval, `$5` the
/// tolerance (all in microseconds). Plain SQL that PostgreSQL and SQLite
/// (3.35 and later: `RETURNING`) both run; the `CASE` stands for
/// `GREATEST`, which SQLite lacks. Every `SET` expression reads the row as
/// it was before the update, on both.
const CHECK: &str = "INSERT INTO rate_limits (name, subject, tat, allowed) VALUES ($1, $2, $3 + $4, 1) \
     ON CONFLICT (name, subject) DO UPDATE SET \
       allowed = CASE WHEN (CASE WHEN rate_limits.tat > $3 THEN rate_limits.tat ELSE $3 END) + $4 - $3 <= $5 \
                 THEN 1 ELSE 0 END, \
       tat = CASE WHEN (CASE WHEN rate_limits.tat > $3 THEN rate_limits.tat ELSE $3 END) + $4 - $3 <= $5 \
             THEN (CASE WHEN rate_limits.tat > $3 THEN rate_limits.tat ELSE $3 END) + $4 \
             ELSE rate_limits.tat END \
     RETURNING tat, allowed";

fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

impl LimitStore {
    /// The shared store on `db`, its subjects keyed by `key`.
    pub fn database(db: DatabaseConnection, key: &AppKey) -> Self {
        Self::Database(db, SubjectKey::new(key), Arc::default())
    }

    /// Counts one check of `key` against `limit`; refused (with the wait)
    /// when the key has used its budget. A refusal is counted in the
    /// `uni1_rate_limited_total{limit}` metric.
    pub async fn check(&self, limit: Limit, key: &str) -> Result<(), RetryAfter> {
        let outcome = match self {
            Self::Memory(memory) => memory.check(limit, key),
            Self::Database(db, subjects, fallback) => {
                match check_in_database(db, subjects, limit, key, now_micros()).await {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        // Never open: a flood that makes the database busy
                        // must not switch sign-in limits off. This process
                        // counts alone until the database answers again.
                        tracing::warn!(limit = limit.name, error = ?e, "rate limit store unavailable; counting in this process");
                        fallback.check(limit, key)
                    }
                }
            }
        };
        outcome.inspect_err(|_| crate::metrics::rate_limited(limit.name))
    }
}

/// One check of `key` (stored as its [`SubjectKey::subject`]) in the
/// `rate_limits` table at `now` (µs since the epoch).
pub async fn check_in_database(
    db: &DatabaseConnection,
    subjects: &SubjectKey,
    limit: Limit,
    key: &str,
    now: i64,
) -> Result<Result<(), RetryAfter>, Unexpected> {
    let interval = limit.interval_micros();
    let tolerance = limit.tolerance_micros();
    let stmt = Statement::from_sql_and_values(
        db.get_database_backend(),
        CHECK,
        [
            limit.name.into(),
            subjects.subject(key).into(),
            now.into(),
            interval.into(),
            tolerance.into(),
        ],
    );
    let row = db
        .query_one(stmt)
        .await
        .unexpected("checking a rate limit")?
        .ok_or_else(|| {
            Unexpected::new(
                "checking a rate limit",
                std::io::Error::other("the upsert returned no row"),
            )
        })?;
    let allowed: i32 = row
        .try_get("", "allowed")
        .unexpected("reading a rate limit")?;
    if allowed == 1 {
        return Ok(Ok(()));
    }
    let tat: i64 = row.try_get("", "tat").unexpected("reading a rate limit")?;
    // Allowed again once max(tat, t) + interval - t <= tolerance.
    let wait = tat
        .saturating_add(interval)
        .saturating_sub(tolerance)
        .saturating_sub(now)
        .max(1);
    Ok(Err(RetryAfter(Duration::from_micros(
        u64::try_from(wait).unwrap_or(1),
    ))))
}

/// How often [`purge`] runs.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// Deletes the rows that stand for a full budget (`tat` in the past):
/// the table holds only keys that used part of theirs.
pub async fn purge(db: &DatabaseConnection) -> Result<u64, Unexpected> {
    let stmt = Statement::from_sql_and_values(
        db.get_database_backend(),
        "DELETE FROM rate_limits WHERE tat < $1",
        [now_micros().into()],
    );
    Ok(db
        .execute(stmt)
        .await
        .unexpected("purging rate limits")?
        .rows_affected())
}

/// The background pass around [`purge`].
pub async fn purge_pass(db: &DatabaseConnection) {
    match purge(db).await {
        Ok(n) if n > 0 => tracing::debug!(rows = n, "purged spent rate limits"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = ?e, "purging rate limits failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_keyed_not_plain_hashes_and_stable_for_one_app_key() {
        let key = AppKey::from_bytes([7; 32]);
        let subject = SubjectKey::new(&key).subject("192.0.2.1");
        // Not the unsalted SHA-256 that anyone could compute for every
        // IPv4 address.
        assert_ne!(subject, crate::accounts::token::hash("192.0.2.1"));
        assert_eq!(subject.len(), 64);
        // Another process with the same application key (a key read from
        // the same base64 text) stores the same subject.
        let same = AppKey::from_base64(&base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            [7; 32],
        ))
        .unwrap();
        assert_eq!(SubjectKey::new(&same).subject("192.0.2.1"), subject);
        // Another application key, another subject; another key, too.
        let other = AppKey::from_bytes([8; 32]);
        assert_ne!(SubjectKey::new(&other).subject("192.0.2.1"), subject);
        assert_ne!(SubjectKey::new(&key).subject("192.0.2.2"), subject);
        // The known answer (computed outside Rust: HMAC-SHA-256 under
        // SHA-256("uni1 key derivation v1\0rate limit subjects v1\0" ||
        // key)), so a change of derivation, which would reset every count
        // once, is noticed.
        assert_eq!(
            subject,
            "ad947ded7dffde5928eaf369c23e91fcc541d936fde7da481d54de0050734ea3"
        );
        assert_eq!(format!("{:?}", SubjectKey::new(&key)), "SubjectKey(..)");
    }
}
