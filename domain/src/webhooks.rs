//! Outbound webhooks (Standard Webhooks 1.0): a person registers endpoints
//! ([`endpoints`]); when one of their generations ends, the transaction that
//! ends it writes one delivery per matching endpoint into an outbox table
//! ([`events`]); a background pass signs and sends them through the
//! project's outbound client, retrying over about three days
//! ([`delivery`]).
//!
//! Why the outbox row is written in the job's own transaction (and not by a
//! pass that scans finished jobs): an event exists exactly when the job's
//! end is committed, never for an end that rolled back, and no cursor has to
//! be kept or repaired. The cost is one indexed read of the owner's
//! endpoints per finished job.
//!
//! What a receiver gets (`data`): the job's id, its status, the model id,
//! when it was queued and finished, the number of images and their ids, and
//! for a failure the plain-words reason the studio shows. Never the prompt:
//! a webhook URL is often a third-party automation service, and the person
//! can fetch the prompt with the job's id if they want it there.
//!
//! A prediction made through the Replicate-style API may also name its own
//! `webhook` ([`predictions`]): that URL gets the prediction object (which
//! does hold the prompt: the person chose that URL for that prediction),
//! through the same outbox, signed with the person's default secret.

pub mod delivery;
pub mod endpoints;
pub mod events;
pub mod predictions;

use std::sync::Arc;

use base64::Engine as _;
use rand::RngCore as _;
use sea_orm::DatabaseConnection;

use crate::support::crypto::AppKey;
use crate::support::error::Unexpected;

/// The events a person can subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "generation.succeeded",
    "generation.failed",
    "generation.canceled",
];

/// Endpoints one person may have.
pub const MAX_ENDPOINTS: u64 = 10;

/// Longest endpoint URL.
pub const MAX_URL_LEN: usize = 2000;

/// The wait before each retry, after a failed attempt (Standard Webhooks'
/// recommendation: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, ...; here seven
/// times 10 h, so the last attempt is about 3.2 days after the first).
#[derive(Clone, Debug)]
pub struct Schedule(Arc<[chrono::Duration]>);

impl Schedule {
    /// The standard schedule (13 attempts over about 3.2 days).
    pub fn standard() -> Self {
        let m = chrono::Duration::minutes;
        let h = chrono::Duration::hours;
        let mut waits = vec![chrono::Duration::seconds(5), m(5), m(30), h(2), h(5)];
        waits.extend(std::iter::repeat_n(h(10), 7));
        Self(waits.into())
    }

    /// Any schedule (tests use milliseconds).
    pub fn new(waits: Vec<chrono::Duration>) -> Self {
        Self(waits.into())
    }

    /// The wait after the `attempts`-th failed attempt, or `None` when
    /// that was the last.
    pub fn after(&self, attempts: i32) -> Option<chrono::Duration> {
        usize::try_from(attempts)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.0.get(i).copied())
    }

    /// How many attempts a delivery gets.
    pub fn attempts(&self) -> usize {
        self.0.len() + 1
    }

    /// From the first attempt to the last.
    pub fn span(&self) -> chrono::Duration {
        self.0
            .iter()
            .fold(chrono::Duration::zero(), |sum, wait| sum + *wait)
    }
}

/// A signing secret, `whsec_<base64 of 32 random bytes>`: shown to its
/// owner once, stored sealed, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

impl Secret {
    /// A fresh random secret.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    /// The secret's text (to show once, or to sign with).
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn seal(&self, key: &AppKey, endpoint: uuid::Uuid) -> String {
        key.seal(self.0.as_bytes(), endpoint.as_bytes())
    }

    fn open(key: &AppKey, sealed: &str, endpoint: uuid::Uuid) -> Option<Self> {
        let bytes = key.open(sealed, endpoint.as_bytes()).ok()?;
        String::from_utf8(bytes).ok().map(Self)
    }
}

/// Why a webhook request was refused (messages are safe to show).
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("Enter an https:// address.")]
    BadUrl,
    #[error("This address cannot receive webhooks: {0}.")]
    Refused(String),
    #[error("Choose at least one event.")]
    NoEvents,
    #[error("You can have at most {MAX_ENDPOINTS} webhook endpoints.")]
    TooMany,
    #[error("Turn the endpoint on first.")]
    Disabled,
    #[error("This delivery is still being sent.")]
    InProgress,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// People's webhook endpoints and their deliveries.
#[derive(Clone, Debug)]
pub struct Webhooks {
    pub(crate) db: DatabaseConnection,
    pub(crate) key: AppKey,
    /// The outbound client (its address rules also check registrations).
    pub http: uni1_models::Outbound,
    pub schedule: Schedule,
    /// Signs the output URLs in a prediction webhook's body.
    pub media: crate::developer::MediaSigner,
}

impl Webhooks {
    /// The service; `allow_loopback` lets endpoints on this machine through
    /// (tests and one-machine demos: `UNI1_WEBHOOKS_ALLOW_LOOPBACK`).
    pub fn new(
        db: DatabaseConnection,
        key: AppKey,
        allow_loopback: bool,
    ) -> Result<Self, uni1_models::outbound::OutboundError> {
        Ok(Self {
            media: crate::developer::MediaSigner::new(db.clone(), &key),
            db,
            key,
            http: uni1_models::Outbound::for_webhooks(delivery::TIMEOUT, allow_loopback)?,
            schedule: Schedule::standard(),
        })
    }

    /// The same service with another retry schedule (tests).
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_standard_schedule_spans_about_three_days() {
        let s = Schedule::standard();
        assert_eq!(s.after(1), Some(chrono::Duration::seconds(5)));
        assert_eq!(s.after(2), Some(chrono::Duration::minutes(5)));
        assert_eq!(s.after(12), Some(chrono::Duration::hours(10)));
        assert_eq!(s.after(13), None);
        assert_eq!(s.attempts(), 13);
        let hours = s.span().num_minutes() as f64 / 60.0;
        assert!((72.0..80.0).contains(&hours), "{hours} h");
    }

    #[test]
    fn secrets_are_whsec_base64_and_never_printed() {
        let s = Secret::generate();
        let b64 = s.expose().strip_prefix("whsec_").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(raw.len(), 32);
        assert!(!format!("{s:?}").contains(b64));
        let key = AppKey::from_bytes([7; 32]);
        let id = uuid::Uuid::now_v7();
        let sealed = s.seal(&key, id);
        assert!(!sealed.contains(b64));
        assert_eq!(Secret::open(&key, &sealed, id), Some(s));
        assert_eq!(Secret::open(&key, &sealed, uuid::Uuid::now_v7()), None);
    }
}
