//! Progress for the studio's event streams (M6): what a person's jobs are
//! doing, read from the database so it works whichever process runs them.
//!
//! One poll per person per process, whatever the number of their open
//! streams: the first stream starts a poller, every stream of that person
//! reads its latest result from a `watch` channel, and the last stream to
//! close stops it. The poller polls every [`ProgressPolicy::busy`] while a
//! job is queued or running and backs off to [`ProgressPolicy::idle`] when
//! nothing is pending; a submit or cancel in this process wakes it at once.
//!
//! Streams are capped per person and in all (per process), with slots that
//! are freed when the stream is dropped, however it ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{watch, Notify};
use tokio::task::AbortHandle;
use uuid::Uuid;

use super::service::{GenerationView, Generations};
use crate::support::rate_limit::{Busy, Concurrency, Slot};

/// Streams one person may have open at once (tabs, windows, devices).
pub const MAX_STREAMS_PER_PERSON: usize = 3;
/// Streams open at once in one process, everyone together.
pub const MAX_STREAMS: usize = 1000;

/// Caps and poll intervals.
#[derive(Debug, Clone)]
pub struct ProgressPolicy {
    pub per_person: usize,
    pub overall: usize,
    /// Between polls while a job is queued or running.
    pub busy: Duration,
    /// The longest pause between polls when nothing is pending.
    pub idle: Duration,
    /// Jobs that ended this long ago are still sent, so a stream that
    /// (re)opened shortly after an ending never misses it. Longer than a
    /// stream lives plus its 30 s look-back.
    pub window: chrono::Duration,
}

impl Default for ProgressPolicy {
    fn default() -> Self {
        Self {
            per_person: MAX_STREAMS_PER_PERSON,
            overall: MAX_STREAMS,
            busy: Duration::from_millis(500),
            idle: Duration::from_secs(5),
            window: chrono::Duration::seconds(150),
        }
    }
}

/// The result of one poll.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Which poll of this person's poller (1, 2, …).
    pub poll: u64,
    pub jobs: Vec<GenerationView>,
    pub available: i64,
    pub held: i64,
}

type Latest = Option<Arc<Progress>>;

/// One person's poller and the number of streams reading it.
struct Feed {
    rx: watch::Receiver<Latest>,
    wake: Arc<Notify>,
    task: AbortHandle,
    streams: usize,
}

type Feeds = Arc<Mutex<HashMap<Uuid, Feed>>>;

fn lock(feeds: &Mutex<HashMap<Uuid, Feed>>) -> MutexGuard<'_, HashMap<Uuid, Feed>> {
    feeds.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The progress streams of one process.
#[derive(Clone)]
pub struct ProgressHub {
    policy: ProgressPolicy,
    slots: Concurrency,
    feeds: Feeds,
    polls: Arc<AtomicU64>,
}

impl std::fmt::Debug for ProgressHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressHub")
            .field("policy", &self.policy)
            .field("streams", &self.slots.total())
            .finish_non_exhaustive()
    }
}

impl Default for ProgressHub {
    fn default() -> Self {
        Self::new(ProgressPolicy::default())
    }
}

/// Why a stream was not opened. The texts are safe to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamRefused {
    #[error("Your generations are already followed in {limit} open windows. Close one, then reload this page.")]
    PerPerson { limit: usize },
    #[error(
        "Too many people are following their generations right now. Reload the page in a minute."
    )]
    Everyone,
}

/// An open progress stream: the latest poll result of its person. Dropping
/// it frees its slot and, for the last stream of a person, stops the poller.
pub struct ProgressStream {
    rx: watch::Receiver<Latest>,
    seen_first: bool,
    _feed: FeedGuard,
    _slot: Slot,
}

impl std::fmt::Debug for ProgressStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressStream")
            .field("user", &self._feed.user)
            .finish_non_exhaustive()
    }
}

struct FeedGuard {
    feeds: Feeds,
    user: Uuid,
}

impl Drop for FeedGuard {
    fn drop(&mut self) {
        let mut feeds = lock(&self.feeds);
        let last = match feeds.get_mut(&self.user) {
            Some(feed) => {
                feed.streams = feed.streams.saturating_sub(1);
                feed.streams == 0
            }
            None => false,
        };
        if last {
            if let Some(feed) = feeds.remove(&self.user) {
                feed.task.abort();
            }
        }
    }
}

impl ProgressStream {
    /// The next poll result: the latest one at once when the stream is new,
    /// then each newer one. `None` if the poller is gone.
    pub async fn next(&mut self) -> Option<Arc<Progress>> {
        if !self.seen_first {
            let now = self.rx.borrow_and_update().clone();
            if let Some(p) = now {
                self.seen_first = true;
                return Some(p);
            }
        }
        loop {
            self.rx.changed().await.ok()?;
            if let Some(p) = self.rx.borrow_and_update().clone() {
                self.seen_first = true;
                return Some(p);
            }
        }
    }
}

impl ProgressHub {
    pub fn new(policy: ProgressPolicy) -> Self {
        Self {
            slots: Concurrency::new(policy.per_person, policy.overall),
            policy,
            feeds: Arc::default(),
            polls: Arc::default(),
        }
    }

    /// Polls run so far by this hub, all people together (for tests and
    /// metrics).
    pub fn polls(&self) -> u64 {
        self.polls.load(Ordering::SeqCst)
    }

    /// People with a running poller.
    pub fn pollers(&self) -> usize {
        lock(&self.feeds).len()
    }

    /// Streams open now, everyone together.
    pub fn streams(&self) -> usize {
        self.slots.total()
    }

    /// Polls `user`'s progress now if they have a stream open here (after
    /// a submit or a cancel).
    pub fn wake(&self, user: Uuid) {
        if let Some(feed) = lock(&self.feeds).get(&user) {
            feed.wake.notify_one();
        }
    }

    /// Polls every open stream's progress now (after the job notification
    /// connection came back: what it missed is found by this poll).
    pub fn wake_all(&self) {
        for feed in lock(&self.feeds).values() {
            feed.wake.notify_one();
        }
    }

    /// Opens a stream of `user`'s progress, starting their poller if it is
    /// their first. Must run inside a Tokio runtime.
    pub fn open(&self, gens: &Generations, user: Uuid) -> Result<ProgressStream, StreamRefused> {
        let slot = self.slots.try_acquire(user).map_err(|e| match e {
            Busy::Person { limit } => StreamRefused::PerPerson { limit },
            Busy::Everyone => StreamRefused::Everyone,
        })?;
        let mut feeds = lock(&self.feeds);
        let feed = feeds.entry(user).or_insert_with(|| {
            let (tx, rx) = watch::channel(None);
            let wake = Arc::new(Notify::new());
            let task = tokio::spawn(poll_loop(
                gens.clone(),
                user,
                tx,
                wake.clone(),
                self.polls.clone(),
                self.policy.clone(),
            ))
            .abort_handle();
            Feed {
                rx,
                wake,
                task,
                streams: 0,
            }
        });
        feed.streams += 1;
        let rx = feed.rx.clone();
        drop(feeds);
        Ok(ProgressStream {
            rx,
            seen_first: false,
            _feed: FeedGuard {
                feeds: self.feeds.clone(),
                user,
            },
            _slot: slot,
        })
    }
}

async fn poll_loop(
    gens: Generations,
    user: Uuid,
    tx: watch::Sender<Latest>,
    wake: Arc<Notify>,
    polls: Arc<AtomicU64>,
    policy: ProgressPolicy,
) {
    let mut pause = policy.busy;
    let mut poll = 0;
    // While this poller runs, a browser of the person is watching: stamp it
    // in the database so every worker process knows (MAIL-1).
    let mut stamped: Option<tokio::time::Instant> = None;
    loop {
        if stamped.is_none_or(|at| at.elapsed() >= crate::mail::notices::STAMP_EVERY) {
            match crate::mail::notices::stamp_watched(&gens.db, user, Utc::now()).await {
                Ok(()) => stamped = Some(tokio::time::Instant::now()),
                Err(e) => tracing::warn!(error = ?e, "cannot stamp a watched stream"),
            }
        }
        polls.fetch_add(1, Ordering::SeqCst);
        poll += 1;
        let since = Utc::now() - policy.window;
        match gens.changed_since(user, since).await {
            Ok(jobs) => {
                let balance = crate::billing::credits::balance(&gens.db, user)
                    .await
                    .unwrap_or_default();
                let pending = jobs.iter().any(|j| !j.status.is_final());
                tx.send_replace(Some(Arc::new(Progress {
                    poll,
                    jobs,
                    available: balance.available,
                    held: balance.held,
                })));
                pause = if pending {
                    policy.busy
                } else {
                    (pause * 2).min(policy.idle).max(policy.busy)
                };
            }
            Err(e) => {
                tracing::warn!(error = ?e, "progress poll failed");
                pause = (pause * 2).min(policy.idle).max(policy.busy);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = wake.notified() => pause = policy.busy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_limit() {
        assert!(StreamRefused::PerPerson { limit: 3 }
            .to_string()
            .contains("3 open windows"));
    }
}
