//! Rate limits for sign-in, sign-up and password reset (GCRA, in memory).
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
//! Each process keeps its own counters: with N web processes the effective
//! limit is up to N times higher. A shared store is planned with the
//! scale-out work.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// Refused: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, at least one.
    pub fn seconds(self) -> u64 {
        self.0.as_secs().max(1) + u64::from(self.0.subsec_nanos() > 0)
    }
}

/// The limits one process enforces.
#[derive(Debug)]
pub struct RateLimits {
    sign_in_ip: Keyed,
    sign_in_pair: Keyed,
    sign_up_ip: Keyed,
    reset_ip: Keyed,
    reset_account: Keyed,
    report_ip: Keyed,
    image_report_ip: Keyed,
    oauth_start_ip: Keyed,
    contact_ip: Keyed,
    sign_up_recipient: Keyed,
    checkout_account: Keyed,
    consent_ip: Keyed,
    account_failures: AccountBackoff,
    clock: DefaultClock,
}

fn quota(burst: u32, per: Duration) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(per / burst.get())
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            sign_in_ip: RateLimiter::keyed(quota(30, Duration::from_secs(60))),
            sign_in_pair: RateLimiter::keyed(quota(5, Duration::from_secs(60))),
            sign_up_ip: RateLimiter::keyed(quota(10, Duration::from_secs(3600))),
            reset_ip: RateLimiter::keyed(quota(10, Duration::from_secs(3600))),
            reset_account: RateLimiter::keyed(quota(3, Duration::from_secs(3600))),
            report_ip: RateLimiter::keyed(quota(10, Duration::from_secs(3600))),
            image_report_ip: RateLimiter::keyed(quota(20, Duration::from_secs(3600))),
            oauth_start_ip: RateLimiter::keyed(quota(20, Duration::from_secs(600))),
            contact_ip: RateLimiter::keyed(quota(5, Duration::from_secs(3600))),
            sign_up_recipient: RateLimiter::keyed(quota(3, Duration::from_secs(3600))),
            checkout_account: RateLimiter::keyed(quota(20, Duration::from_secs(3600))),
            consent_ip: RateLimiter::keyed(quota(30, Duration::from_secs(600))),
            account_failures: AccountBackoff::default(),
            clock: DefaultClock::default(),
        }
    }
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
    /// Checks `key` against `limiter`; a refusal is counted under `limit`.
    fn check(&self, limit: &'static str, limiter: &Keyed, key: String) -> Result<(), RetryAfter> {
        let key = by_network(key);
        if limiter.len() > 50_000 {
            limiter.retain_recent();
        }
        limiter.check_key(&key).map_err(|not_until| {
            crate::metrics::rate_limited(limit);
            RetryAfter(not_until.wait_time_from(self.clock.now()))
        })
    }

    /// A sign-in attempt from `ip` for the account `email`.
    pub fn sign_in(&self, ip: &str, email: &str) -> Result<(), RetryAfter> {
        self.check("sign_in_ip", &self.sign_in_ip, ip.to_owned())?;
        self.check(
            "sign_in_pair",
            &self.sign_in_pair,
            format!("{ip}\n{}", email.trim().to_lowercase()),
        )
    }

    /// A sign-up from `ip`.
    pub fn sign_up(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check("sign_up_ip", &self.sign_up_ip, ip.to_owned())
    }

    /// A report (underage account) from `ip`.
    pub fn report(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check("report_ip", &self.report_ip, ip.to_owned())
    }

    /// A report about a published image from `ip` (its own budget, so it
    /// never uses up the underage-report one).
    pub fn image_report(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check("image_report_ip", &self.image_report_ip, ip.to_owned())
    }

    /// A password reset request from `ip` for `email`.
    pub fn reset(&self, ip: &str, email: &str) -> Result<(), RetryAfter> {
        self.check("reset_ip", &self.reset_ip, ip.to_owned())?;
        self.check(
            "reset_account",
            &self.reset_account,
            email.trim().to_lowercase(),
        )
    }

    /// A provider sign-in started from `ip` (each start stores a flow and,
    /// for an OpenID provider, may need its discovery document).
    pub fn oauth_start(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check("oauth_start_ip", &self.oauth_start_ip, ip.to_owned())
    }

    /// A checkout opened by an account (each one is an order and a call to
    /// the payment provider).
    pub fn checkout(&self, user: &str) -> Result<(), RetryAfter> {
        self.check("checkout_account", &self.checkout_account, user.to_owned())
    }

    /// A cookie choice from `ip` (each one is a recorded row).
    pub fn consent(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check("consent_ip", &self.consent_ip, ip.to_owned())
    }

    /// A contact form message from `ip`.
    pub fn contact(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check("contact_ip", &self.contact_ip, ip.to_owned())
    }

    /// A sign-up mail (a confirmation link, or the notice to an existing
    /// account) to `email`, whoever asks: nobody can fill an inbox.
    pub fn sign_up_recipient(&self, email: &str) -> Result<(), RetryAfter> {
        self.check(
            "sign_up_recipient",
            &self.sign_up_recipient,
            email.trim().to_lowercase(),
        )
    }

    /// A second-factor code for the sign-in challenge `challenge` from `ip`:
    /// the budget belongs to that challenge (and its address), not to every
    /// person behind the same address.
    pub fn second_factor(&self, ip: &str, challenge: &str) -> Result<(), RetryAfter> {
        self.check("sign_in_ip", &self.sign_in_ip, ip.to_owned())?;
        self.check(
            "sign_in_pair",
            &self.sign_in_pair,
            format!(
                "{ip}\nsecond-factor:{}",
                crate::accounts::token::hash(challenge)
            ),
        )
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
/// changing addresses does not help; in memory, per process, like
/// [`RateLimits`].
#[derive(Debug)]
pub struct PersonLimits {
    upload: Keyed,
    media_original: Keyed,
    zip: Concurrency,
    clock: DefaultClock,
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

impl Default for PersonLimits {
    fn default() -> Self {
        Self {
            upload: RateLimiter::keyed(quota(UPLOADS_PER_HOUR, Duration::from_secs(3600))),
            media_original: RateLimiter::keyed(quota(
                ORIGINALS_PER_10_MINUTES,
                Duration::from_secs(600),
            )),
            zip: Concurrency::new(ZIP_STREAMS_PER_PERSON, ZIP_STREAMS),
            clock: DefaultClock::default(),
        }
    }
}

impl PersonLimits {
    fn check(
        &self,
        limit: &'static str,
        limiter: &Keyed,
        who: uuid::Uuid,
    ) -> Result<(), RetryAfter> {
        if limiter.len() > 50_000 {
            limiter.retain_recent();
        }
        limiter.check_key(&who.to_string()).map_err(|not_until| {
            crate::metrics::rate_limited(limit);
            RetryAfter(not_until.wait_time_from(self.clock.now()))
        })
    }

    /// A reference upload by `who`.
    pub fn upload(&self, who: uuid::Uuid) -> Result<(), RetryAfter> {
        self.check("upload", &self.upload, who)
    }

    /// A download of an original by `who`.
    pub fn media_original(&self, who: uuid::Uuid) -> Result<(), RetryAfter> {
        self.check("media_original", &self.media_original, who)
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

    #[test]
    fn rotating_through_one_ipv6_64_shares_one_budget() {
        let limits = RateLimits::default();
        let allowed = (0..10)
            .filter(|i| {
                limits
                    .sign_in(&format!("2001:db8:7:7::{i:x}"), "victim@example.org")
                    .is_ok()
            })
            .count();
        assert_eq!(allowed, 5, "the (address, account) budget is per /64");
        let allowed = (0..40)
            .filter(|i| {
                limits
                    .sign_in(
                        &format!("2001:db8:7:7:{i:x}::1"),
                        &format!("u{i}@example.org"),
                    )
                    .is_ok()
            })
            .count();
        assert_eq!(allowed, 20, "30 a minute per /64, 10 of them used above");
        assert!(
            limits
                .sign_in("2001:db8:7:8::1", "victim@example.org")
                .is_ok(),
            "the next /64 is someone else"
        );
    }

    #[test]
    fn sign_in_is_limited_per_pair_without_locking_out_other_addresses() {
        let limits = RateLimits::default();
        for _ in 0..5 {
            assert!(limits.sign_in("198.51.100.1", "victim@example.org").is_ok());
        }
        let refused = limits
            .sign_in("198.51.100.1", "victim@example.org")
            .unwrap_err();
        assert!(refused.seconds() >= 1 && refused.seconds() <= 60);
        // The victim, from their own address, is not affected.
        assert!(limits.sign_in("203.0.113.7", "victim@example.org").is_ok());
    }

    #[test]
    fn one_address_cannot_try_many_accounts_quickly() {
        let limits = RateLimits::default();
        let allowed = (0..40)
            .filter(|i| {
                limits
                    .sign_in("198.51.100.2", &format!("user{i}@example.org"))
                    .is_ok()
            })
            .count();
        assert_eq!(allowed, 30);
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

    #[test]
    fn second_factor_budget_is_per_challenge() {
        let limits = RateLimits::default();
        for _ in 0..5 {
            assert!(limits.second_factor("198.51.100.3", "challenge-a").is_ok());
        }
        assert!(limits.second_factor("198.51.100.3", "challenge-a").is_err());
        // Someone else behind the same address has their own budget.
        assert!(limits.second_factor("198.51.100.3", "challenge-b").is_ok());
    }

    #[test]
    fn sign_up_mail_is_limited_per_recipient() {
        let limits = RateLimits::default();
        for _ in 0..3 {
            assert!(limits.sign_up_recipient("x@example.org").is_ok());
        }
        assert!(limits.sign_up_recipient(" X@example.org ").is_err());
        assert!(limits.sign_up_recipient("y@example.org").is_ok());
    }

    #[test]
    fn reset_mail_is_limited_per_account() {
        let limits = RateLimits::default();
        for i in 0..3 {
            assert!(limits
                .reset(&format!("198.51.100.{i}"), "a@example.org")
                .is_ok());
        }
        assert!(limits.reset("198.51.100.9", "A@example.org").is_err());
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

    #[test]
    fn uploads_are_limited_per_person() {
        let limits = PersonLimits::default();
        let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        for _ in 0..UPLOADS_PER_HOUR {
            assert!(limits.upload(a).is_ok());
        }
        assert!(limits.upload(a).is_err());
        assert!(limits.upload(b).is_ok());
    }
}
