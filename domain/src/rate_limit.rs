//! Rate limits for sign-in, sign-up and password reset (GCRA, in memory).
//!
//! Sign-in is limited per IP address and per (IP, account) pair, never per
//! account alone: an attacker elsewhere cannot lock a victim out by failing
//! on purpose. Reset mails are also limited per account, so nobody can fill
//! someone's inbox.
//!
//! Addresses are counted by network ([`network_key`]): IPv4 addresses
//! whole, IPv6 addresses by their /64, so one host cannot rotate through
//! its 2^64 addresses for fresh budgets.
//!
//! Each process keeps its own counters: with N web processes the effective
//! limit is up to N times higher. A shared store is planned with the
//! scale-out work.

use std::net::{IpAddr, Ipv6Addr};
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
    fn check(&self, limiter: &Keyed, key: String) -> Result<(), RetryAfter> {
        let key = by_network(key);
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
