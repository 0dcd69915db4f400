//! Rate limits for sign-in, sign-up and password reset (GCRA, in memory).
//!
//! Sign-in is limited per IP address and per (IP, account) pair, never per
//! account alone: an attacker elsewhere cannot lock a victim out by failing
//! on purpose. Reset mails are also limited per account, so nobody can fill
//! someone's inbox.
//!
//! Each process keeps its own counters: with N web processes the effective
//! limit is up to N times higher. A shared store is planned with the
//! scale-out work.

use std::num::NonZeroU32;
use std::time::Duration;

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
            clock: DefaultClock::default(),
        }
    }
}

impl RateLimits {
    fn check(&self, limiter: &Keyed, key: String) -> Result<(), RetryAfter> {
        if limiter.len() > 50_000 {
            limiter.retain_recent();
        }
        limiter
            .check_key(&key)
            .map_err(|not_until| RetryAfter(not_until.wait_time_from(self.clock.now())))
    }

    /// A sign-in attempt from `ip` for the account `email`.
    pub fn sign_in(&self, ip: &str, email: &str) -> Result<(), RetryAfter> {
        self.check(&self.sign_in_ip, ip.to_owned())?;
        self.check(
            &self.sign_in_pair,
            format!("{ip}\n{}", email.trim().to_lowercase()),
        )
    }

    /// A sign-up from `ip`.
    pub fn sign_up(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check(&self.sign_up_ip, ip.to_owned())
    }

    /// A report (underage account) from `ip`.
    pub fn report(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check(&self.report_ip, ip.to_owned())
    }

    /// A report about a published image from `ip` (its own budget, so it
    /// never uses up the underage-report one).
    pub fn image_report(&self, ip: &str) -> Result<(), RetryAfter> {
        self.check(&self.image_report_ip, ip.to_owned())
    }

    /// A password reset request from `ip` for `email`.
    pub fn reset(&self, ip: &str, email: &str) -> Result<(), RetryAfter> {
        self.check(&self.reset_ip, ip.to_owned())?;
        self.check(&self.reset_account, email.trim().to_lowercase())
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
    fn check(&self, limiter: &Keyed, who: uuid::Uuid) -> Result<(), RetryAfter> {
        if limiter.len() > 50_000 {
            limiter.retain_recent();
        }
        limiter
            .check_key(&who.to_string())
            .map_err(|not_until| RetryAfter(not_until.wait_time_from(self.clock.now())))
    }

    /// A reference upload by `who`.
    pub fn upload(&self, who: uuid::Uuid) -> Result<(), RetryAfter> {
        self.check(&self.upload, who)
    }

    /// A download of an original by `who`.
    pub fn media_original(&self, who: uuid::Uuid) -> Result<(), RetryAfter> {
        self.check(&self.media_original, who)
    }

    /// A ZIP download by `who`: the slot is held until the returned guard is
    /// dropped (with the response body).
    pub fn zip(&self, who: uuid::Uuid) -> Result<Slot, Busy> {
        self.zip.try_acquire(who)
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
