//! Rate limits for sign-in, sign-up and password reset (GCRA, shared in
//! the database).
//!
//! Sign-in is limited per IP address and per (IP, account) pair. Per
//! account alone there is only a soft budget ([`AccountBackoff`]): a short
//! pause that ends on its own, so an attacker elsewhere cannot lock a victim
//! out for long by failing on purpose. Reset and sign-up mails are also
//! limited per address, so nobody can fill someone's inbox.
//!
//! Addresses are counted by network ([`network_key`]): IPv4 addresses
//! whole, IPv6 addresses by their /64, so one host cannot rotate through
//! its 2^64 addresses for fresh budgets.
//!
//! The counts live in the database ([`RateLimits::shared`], see
//! [`super::limit_store`]): a limit is the same whatever the number of web
//! processes. The per-account sign-in pause and the ZIP slots stay per
//! process.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::limit_store::{Limit, LimitStore};

/// Refused: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, rounded up, at least one (a wait of 0.4 s is 1, not
    /// 2: a client told `retry-after: 1` must then get through).
    pub fn seconds(self) -> u64 {
        (self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0)).max(1)
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Sign-in attempts per address (network).
pub const SIGN_IN_IP: Limit = Limit::new("sign_in_ip", 30, MINUTE);
/// Sign-in attempts per (address, account) or (address, challenge).
pub const SIGN_IN_PAIR: Limit = Limit::new("sign_in_pair", 5, MINUTE);
/// Sign-ups per address.
pub const SIGN_UP_IP: Limit = Limit::new("sign_up_ip", 10, HOUR);
/// Password reset requests per address.
pub const RESET_IP: Limit = Limit::new("reset_ip", 10, HOUR);
/// Password reset mails per account.
pub const RESET_ACCOUNT: Limit = Limit::new("reset_account", 3, HOUR);
/// Underage reports per address.
pub const REPORT_IP: Limit = Limit::new("report_ip", 10, HOUR);
/// Reports about published images per address.
pub const IMAGE_REPORT_IP: Limit = Limit::new("image_report_ip", 20, HOUR);
/// Provider sign-ins started per address.
pub const OAUTH_START_IP: Limit = Limit::new("oauth_start_ip", 20, Duration::from_secs(600));
/// Contact form messages per address.
pub const CONTACT_IP: Limit = Limit::new("contact_ip", 5, HOUR);
/// Sign-up mails per recipient.
pub const SIGN_UP_RECIPIENT: Limit = Limit::new("sign_up_recipient", 3, HOUR);
/// Checkouts opened per account.
pub const CHECKOUT_ACCOUNT: Limit = Limit::new("checkout_account", 20, HOUR);
/// Cookie choices per address.
pub const CONSENT_IP: Limit = Limit::new("consent_ip", 30, Duration::from_secs(600));

/// The limits of the service. With [`RateLimits::shared`] the counts live
/// in the database and hold whatever the number of processes; the
/// [`Default`] keeps them in this process's memory (one process alone).
/// The per-account sign-in pause ([`AccountBackoff`]) stays per process.
#[derive(Debug, Default)]
pub struct RateLimits {
    store: LimitStore,
    account_failures: AccountBackoff,
}

/// What a limit counts an address against: an IPv4 address (or an
/// IPv4-mapped IPv6 one) whole, an IPv6 address by its /64, the smallest
/// block one subscriber is given.
pub fn network_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// `key` with its leading address (the whole key, or its first line, as in
/// `ip\nemail`) replaced by its [`network_key`]; keys that do not start
/// with an address (an e-mail) are unchanged.
fn by_network(key: String) -> String {
    let (head, rest) = match key.split_once('\n') {
        Some((head, rest)) => (head, Some(rest)),
        None => (key.as_str(), None),
    };
    let Ok(ip) = head.parse::<IpAddr>() else {
        return key;
    };
    match rest {
        Some(rest) => format!("{}\n{rest}", network_key(ip)),
        None => network_key(ip),
    }
}

impl RateLimits {
    /// Limits counted in the database `db`, shared by every process (with
    /// the same application key `key`, which keys the stored subjects).
    pub fn shared(db: sea_orm::DatabaseConnection, key: &super::crypto::AppKey) -> Self {
        Self {
            store: LimitStore::database(db, key),
            account_failures: AccountBackoff::default(),
        }
    }

    /// Checks `key` (its address counted by network) against `limit`.
    async fn check(&self, limit: Limit, key: String) -> Result<(), RetryAfter> {
        self.store.check(limit, &by_network(key)).await
    }

    /// A sign-in attempt from `ip` for the account `email`.
    pub async fn sign_in(&self, ip: &str, email: &str) -> Result<(), RetryAfter> {
        self.check(SIGN_IN_IP, ip.to_owned()).await?;
        self.check(
            SIGN_IN_PAIR,
            format!("{ip}\n{}", email.trim().to_lowercase()),
        )
        .await
    }

    /// A sign-up from `ip`.
    pub async fn sign_up(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check(SIGN_UP_IP, ip.to_owned()).await
    }

    /// A report (underage account) from `ip`.
    pub async fn report(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check(REPORT_IP, ip.to_owned()).await
    }

    /// A report about a published image from `ip` (its own budget, so it
    /// never uses up the underage-report one).
    pub async fn image_report(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check(IMAGE_REPORT_IP, ip.to_owned()).await
    }

    /// A password reset request from `ip` for `email`.
    pub async fn reset(&self, ip: &str, email: &str) -> Result<(), RetryAfter> {
        self.check(RESET_IP, ip.to_owned()).await?;
        self.check(RESET_ACCOUNT, email.trim().to_lowercase()).await
    }

    /// A provider sign-in started from `ip` (each start stores a flow and,
    /// for an OpenID provider, may need its discovery document).
    pub async fn oauth_start(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check(OAUTH_START_IP, ip.to_owned()).await
    }

    /// A checkout opened by an account (each one is an order and a call to
    /// the payment provider).
    pub async fn checkout(&self, user: &str) -> Result<(), RetryAfter> {
        self.check(CHECKOUT_ACCOUNT, user.to_owned()).await
    }

    /// A cookie choice from `ip` (each one is a recorded row).
    pub async fn consent(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check(CONSENT_IP, ip.to_owned()).await
    }

    /// A request of the developer API with the key `key_id`, against the
    /// key's `limit` ([`crate::developer::KeyRate::limit`]).
    pub async fn api_key(&self, limit: Limit, key_id: uuid::Uuid) -> Result<(), RetryAfter> {
        self.store.check(limit, &key_id.to_string()).await
    }

    /// A contact form message from `ip`.
    pub async fn contact(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check(CONTACT_IP, ip.to_owned()).await
    }

    /// A sign-up mail (a confirmation link, or the notice to an existing
    /// account) to `email`, whoever asks: nobody can fill an inbox.
    pub async fn sign_up_recipient(&self, email: &str) -> Result<(), RetryAfter> {
        self.check(SIGN_UP_RECIPIENT, email.trim().to_lowercase())
            .await
    }

    /// A second-factor code for the sign-in challenge `challenge` from `ip`:
    /// the budget belongs to that challenge (and its address), not to every
    /// person behind the same address.
    pub async fn second_factor(&self, ip: &str, challenge: &str) -> Result<(), RetryAfter> {
        self.check(SIGN_IN_IP, ip.to_owned()).await?;
        self.check(
            SIGN_IN_PAIR,
            format!(
                "{ip}\nsecond-factor:{}",
                crate::accounts::token::hash(challenge)
            ),
        )
        .await
    }

    /// Whether a password sign-in to `email` may be tried now, from any
    /// address (see [`AccountBackoff`]).
    pub fn account_sign_in(&self, email: &str) -> Result<(), RetryAfter> {
        self.account_failures
            .check(&account_key(email), Instant::now())
            .inspect_err(|_| crate::metrics::rate_limited("sign_in_account"))
    }

    /// A wrong password for `email`.
    pub fn account_sign_in_failed(&self, email: &str) {
        self.account_failures
            .failed(&account_key(email), Instant::now());
    }

    /// A right password for `email`: its failures are forgotten.
    pub fn account_sign_in_succeeded(&self, email: &str) {
        self.account_failures.succeeded(&account_key(email));
    }
}

fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Wrong passwords per account (from any address) before a pause.
pub const ACCOUNT_FAILURES: u32 = 10;
/// Failures older than this are forgotten.
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The first pause; each further one within [`PAUSES_REMEMBERED`] doubles,
/// up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(30);
const LONGEST_PAUSE: Duration = Duration::from_secs(15 * 60);
const PAUSES_REMEMBERED: Duration = Duration::from_secs(60 * 60);

/// A soft per-account budget for password sign-in: after
/// [`ACCOUNT_FAILURES`] wrong passwords within [`FAILURE_WINDOW`], whatever
/// the addresses they came from, sign-in to that account pauses for 30 s,
/// then 1, 2, 4 ... up to 15 minutes for further rounds within the hour.
/// It is a slowdown, never a lock: the pause ends on its own, so an attacker
/// elsewhere can delay the owner by minutes at most, while guessing from
/// many addresses drops to about ten tries per pause.
#[derive(Debug, Default)]
pub struct AccountBackoff {
    accounts: Mutex<HashMap<String, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
    paused_until: Option<Instant>,
    pauses: u32,
}

impl AccountBackoff {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Refused while the account's pause lasts.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), RetryAfter> {
        match self.lock().get(key).and_then(|f| f.paused_until) {
            Some(until) if until > now => Err(RetryAfter(until - now)),
            _ => Ok(()),
        }
    }

    /// Counts a failure; the one that uses up the budget starts a pause.
    pub fn failed(&self, key: &str, now: Instant) {
        let mut accounts = self.lock();
        if accounts.len() > 50_000 {
            accounts.retain(|_, f| {
                now.saturating_duration_since(f.since) < PAUSES_REMEMBERED
                    || f.paused_until.is_some_and(|u| u > now)
            });
        }
        let entry = accounts.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            since: now,
            paused_until: None,
            pauses: 0,
        });
        let last_pause_ended = entry.paused_until.unwrap_or(entry.since);
        if now.saturating_duration_since(last_pause_ended) >= PAUSES_REMEMBERED {
            entry.pauses = 0;
        }
        if now.saturating_duration_since(entry.since) >= FAILURE_WINDOW {
            entry.count = 0;
            entry.since = now;
        }
        entry.count += 1;
        if entry.count >= ACCOUNT_FAILURES {
            let pause = FIRST_PAUSE
                .saturating_mul(1 << entry.pauses.min(8))
                .min(LONGEST_PAUSE);
            entry.paused_until = Some(now + pause);
            entry.pauses += 1;
            entry.count = 0;
            entry.since = now;
        }
    }

    /// Forgets the account's failures.
    pub fn succeeded(&self, key: &str) {
        self.lock().remove(key);
    }
}

/// Per-person budgets of generation and the library: reference uploads,
/// downloads of originals and ZIP downloads (L4, M8). Keyed by account, so
/// changing addresses does not help. The rates are shared like
/// [`RateLimits`] (with [`PersonLimits::shared`]); the ZIP slots count
/// streams this process serves, so they stay per process.
#[derive(Debug)]
pub struct PersonLimits {
    store: LimitStore,
    zip: Concurrency,
}

/// Reference uploads one person may send in a burst (then one every two
/// minutes).
pub const UPLOADS_PER_HOUR: u32 = 30;
/// Originals one person may download in a burst (then one every 6 s).
pub const ORIGINALS_PER_10_MINUTES: u32 = 100;
/// ZIP downloads one person may have running at once.
pub const ZIP_STREAMS_PER_PERSON: usize = 2;
/// ZIP downloads running at once in one process, everyone together.
pub const ZIP_STREAMS: usize = 64;

/// Reference uploads per person.
pub const UPLOAD: Limit = Limit::new("upload", UPLOADS_PER_HOUR, HOUR);
/// Downloads of originals per person.
pub const MEDIA_ORIGINAL: Limit = Limit::new(
    "media_original",
    ORIGINALS_PER_10_MINUTES,
    Duration::from_secs(600),
);

impl Default for PersonLimits {
    fn default() -> Self {
        Self {
            store: LimitStore::default(),
            zip: Concurrency::new(ZIP_STREAMS_PER_PERSON, ZIP_STREAMS),
        }
    }
}

impl PersonLimits {
    /// Rates counted in the database `db`, shared by every process (with
    /// the same application key `key`).
    pub fn shared(db: sea_orm::DatabaseConnection, key: &super::crypto::AppKey) -> Self {
        Self {
            store: LimitStore::database(db, key),
            ..Self::default()
        }
    }

    /// A reference upload by `who`.
    pub async fn upload(&self, who: uuid::Uuid) -> Result<(), RetryAfter> {
        self.store.check(UPLOAD, &who.to_string()).await
    }

    /// A download of an original by `who`.
    pub async fn media_original(&self, who: uuid::Uuid) -> Result<(), RetryAfter> {
        self.store.check(MEDIA_ORIGINAL, &who.to_string()).await
    }

    /// A ZIP download by `who`: the slot is held until the returned guard is
    /// dropped (with the response body).
    pub fn zip(&self, who: uuid::Uuid) -> Result<Slot, Busy> {
        self.zip
            .try_acquire(who)
            .inspect_err(|_| crate::metrics::rate_limited("zip"))
    }
}

/// Why [`Concurrency::try_acquire`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// This person already holds `limit` slots.
    Person { limit: usize },
    /// Everyone together holds all the slots of this process.
    Everyone,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_person: std::collections::HashMap<uuid::Uuid, usize>,
}

/// At most `per_person` things at once per person and `overall` in all (in
/// this process). A slot is a guard: dropping it frees the slot, whatever
/// ended the work (completion, error, a client going away).
#[derive(Debug, Clone)]
pub struct Concurrency {
    held: std::sync::Arc<std::sync::Mutex<Held>>,
    per_person: usize,
    overall: usize,
}

/// One held slot of a [`Concurrency`]; freed on drop.
#[derive(Debug)]
pub struct Slot {
    held: std::sync::Arc<std::sync::Mutex<Held>>,
    who: uuid::Uuid,
}

fn lock(held: &std::sync::Mutex<Held>) -> std::sync::MutexGuard<'_, Held> {
    // The counters stay consistent even if a holder panicked mid-update:
    // every update is a single step.
    held.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Concurrency {
    pub fn new(per_person: usize, overall: usize) -> Self {
        Self {
            held: Default::default(),
            per_person,
            overall,
        }
    }

    /// A slot for `who`, or why not.
    pub fn try_acquire(&self, who: uuid::Uuid) -> Result<Slot, Busy> {
        let mut held = lock(&self.held);
        let mine = held.by_person.get(&who).copied().unwrap_or(0);
        if mine >= self.per_person {
            return Err(Busy::Person {
                limit: self.per_person,
            });
        }
        if held.total >= self.overall {
            return Err(Busy::Everyone);
        }
        held.total += 1;
        held.by_person.insert(who, mine + 1);
        Ok(Slot {
            held: self.held.clone(),
            who,
        })
    }

    /// Slots `who` holds now.
    pub fn held_by(&self, who: uuid::Uuid) -> usize {
        lock(&self.held).by_person.get(&who).copied().unwrap_or(0)
    }

    /// Slots held now, everyone together.
    pub fn total(&self) -> usize {
        lock(&self.held).total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = lock(&self.held);
        held.total = held.total.saturating_sub(1);
        let gone = match held.by_person.get_mut(&self.who) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
            None => false,
        };
        if gone {
            held.by_person.remove(&self.who);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let s = |ms| RetryAfter(Duration::from_millis(ms)).seconds();
        assert_eq!(
            (s(0), s(1), s(990), s(1000), s(1500), s(60_000)),
            (1, 1, 1, 1, 2, 60)
        );
    }

    #[test]
    fn ipv6_is_counted_by_its_64_and_ipv4_whole() {
        let key = |s: &str| network_key(s.parse().unwrap());
        assert_eq!(key("198.51.100.7"), "198.51.100.7");
        assert_eq!(key("::ffff:198.51.100.7"), "198.51.100.7");
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(
            by_network("2001:db8:1:2::9\nA@x".into()),
            "2001:db8:1:2::/64\nA@x"
        );
        assert_eq!(
            by_network("victim@example.org".into()),
            "victim@example.org"
        );
        assert_eq!(by_network("unknown".into()), "unknown");
    }

    #[tokio::test]
    async fn rotating_through_one_ipv6_64_shares_one_budget() {
        for limits in both().await {
            let mut allowed = 0;
            for i in 0..10 {
                let ip = format!("2001:db8:7:7::{i:x}");
                allowed += usize::from(limits.sign_in(&ip, "victim@example.org").await.is_ok());
            }
            assert_eq!(allowed, 5, "the (address, account) budget is per /64");
            let mut allowed = 0;
            for i in 0..40 {
                let (ip, email) = (
                    format!("2001:db8:7:7:{i:x}::1"),
                    format!("u{i}@example.org"),
                );
                allowed += usize::from(limits.sign_in(&ip, &email).await.is_ok());
            }
            assert_eq!(allowed, 20, "30 a minute per /64, 10 of them used above");
            assert!(
                limits
                    .sign_in("2001:db8:7:8::1", "victim@example.org")
                    .await
                    .is_ok(),
                "the next /64 is someone else"
            );
        }
    }

    #[tokio::test]
    async fn sign_in_is_limited_per_pair_without_locking_out_other_addresses() {
        for limits in both().await {
            for _ in 0..5 {
                assert!(limits
                    .sign_in("198.51.100.1", "victim@example.org")
                    .await
                    .is_ok());
            }
            let refused = limits
                .sign_in("198.51.100.1", "victim@example.org")
                .await
                .unwrap_err();
            assert!(refused.seconds() >= 1 && refused.seconds() <= 60);
            // The victim, from their own address, is not affected.
            assert!(limits
                .sign_in("203.0.113.7", "victim@example.org")
                .await
                .is_ok());
        }
    }

    #[tokio::test]
    async fn one_address_cannot_try_many_accounts_quickly() {
        for limits in both().await {
            let mut allowed = 0;
            for i in 0..40 {
                let email = format!("user{i}@example.org");
                allowed += usize::from(limits.sign_in("198.51.100.2", &email).await.is_ok());
            }
            assert_eq!(allowed, 30);
        }
    }

    #[test]
    fn an_account_pauses_after_its_failure_budget_and_the_pause_grows() {
        let backoff = AccountBackoff::default();
        let t0 = Instant::now();
        for i in 0..ACCOUNT_FAILURES - 1 {
            backoff.failed("v@example.org", t0 + Duration::from_secs(u64::from(i)));
            assert!(backoff.check("v@example.org", t0).is_ok());
        }
        backoff.failed("v@example.org", t0 + Duration::from_secs(10));
        let wait = backoff
            .check("v@example.org", t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait.0, FIRST_PAUSE);
        assert!(
            backoff.check("other@example.org", t0).is_ok(),
            "per account"
        );
        // The pause ends on its own (no lock), and the next one is longer.
        let t1 = t0 + Duration::from_secs(41);
        assert!(backoff.check("v@example.org", t1).is_ok());
        for _ in 0..ACCOUNT_FAILURES {
            backoff.failed("v@example.org", t1);
        }
        assert_eq!(
            backoff.check("v@example.org", t1).unwrap_err().0,
            FIRST_PAUSE * 2
        );
        // A right password forgets it all.
        backoff.succeeded("v@example.org");
        assert!(backoff.check("v@example.org", t1).is_ok());
        // Failures spread out over more than the window never pause.
        let slow = AccountBackoff::default();
        for i in 0..3 * ACCOUNT_FAILURES {
            slow.failed("s@example.org", t0 + FAILURE_WINDOW / 5 * i);
            assert!(slow
                .check("s@example.org", t0 + FAILURE_WINDOW / 5 * i)
                .is_ok());
        }
    }

    #[test]
    fn pauses_stop_growing() {
        let backoff = AccountBackoff::default();
        let t0 = Instant::now();
        for _ in 0..20 * ACCOUNT_FAILURES {
            backoff.failed("v@example.org", t0);
        }
        assert_eq!(
            backoff.check("v@example.org", t0).unwrap_err().0,
            LONGEST_PAUSE
        );
    }

    #[tokio::test]
    async fn second_factor_budget_is_per_challenge() {
        for limits in both().await {
            for _ in 0..5 {
                assert!(limits
                    .second_factor("198.51.100.3", "challenge-a")
                    .await
                    .is_ok());
            }
            assert!(limits
                .second_factor("198.51.100.3", "challenge-a")
                .await
                .is_err());
            // Someone else behind the same address has their own budget.
            assert!(limits
                .second_factor("198.51.100.3", "challenge-b")
                .await
                .is_ok());
        }
    }

    #[tokio::test]
    async fn sign_up_mail_is_limited_per_recipient() {
        for limits in both().await {
            for _ in 0..3 {
                assert!(limits.sign_up_recipient("x@example.org").await.is_ok());
            }
            assert!(limits.sign_up_recipient(" X@example.org ").await.is_err());
            assert!(limits.sign_up_recipient("y@example.org").await.is_ok());
        }
    }

    #[tokio::test]
    async fn reset_mail_is_limited_per_account() {
        for limits in both().await {
            for i in 0..3 {
                assert!(limits
                    .reset(&format!("198.51.100.{i}"), "a@example.org")
                    .await
                    .is_ok());
            }
            assert!(limits.reset("198.51.100.9", "A@example.org").await.is_err());
        }
    }

    #[test]
    fn concurrency_slots_are_capped_per_person_and_overall_and_freed_on_drop() {
        let c = Concurrency::new(2, 3);
        let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let a1 = c.try_acquire(a).unwrap();
        let a2 = c.try_acquire(a).unwrap();
        assert_eq!(c.try_acquire(a).unwrap_err(), Busy::Person { limit: 2 });
        let b1 = c.try_acquire(b).unwrap();
        // Three in all: nobody else gets one.
        assert_eq!(
            c.try_acquire(uuid::Uuid::now_v7()).unwrap_err(),
            Busy::Everyone
        );
        drop(a1);
        assert_eq!((c.held_by(a), c.total()), (1, 2));
        let a3 = c.try_acquire(a).unwrap();
        drop((a2, a3, b1));
        assert_eq!((c.held_by(a), c.held_by(b), c.total()), (0, 0, 0));
    }

    #[tokio::test]
    async fn uploads_are_limited_per_person() {
        for limits in [
            PersonLimits::default(),
            PersonLimits::shared(sqlite().await, &test_key()),
        ] {
            let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
            for _ in 0..UPLOADS_PER_HOUR {
                assert!(limits.upload(a).await.is_ok());
            }
            assert!(limits.upload(a).await.is_err());
            assert!(limits.upload(b).await.is_ok());
        }
    }

    fn test_key() -> super::super::crypto::AppKey {
        super::super::crypto::AppKey::from_bytes([3; 32])
    }

    /// A migrated in-memory SQLite database (one connection: each
    /// in-memory connection is its own database).
    async fn sqlite() -> sea_orm::DatabaseConnection {
        use uni1_migration::MigratorTrait as _;
        let mut options = sea_orm::ConnectOptions::new("sqlite::memory:");
        options
            .max_connections(1)
            .min_connections(1)
            .sqlx_logging(false);
        let db = sea_orm::Database::connect(options).await.expect("sqlite");
        uni1_migration::Migrator::up(&db, None)
            .await
            .expect("migrations");
        db
    }

    /// The same limits in memory and in a database: both stores must
    /// behave alike.
    async fn both() -> [RateLimits; 2] {
        [
            RateLimits::default(),
            RateLimits::shared(sqlite().await, &test_key()),
        ]
    }
}
