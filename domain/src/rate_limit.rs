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
}
