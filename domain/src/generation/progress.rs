//! Progress for the studio's event streams (M6): what a person's jobs are
//! doing, read from the database so it works whichever process runs them.
//!
//! One hub per process, one database read per tick for every stream it
//! serves: while any stream is open, one task ([`ProgressHub`]'s) reads the
//! jobs and balances of every person watched in this process at once
//! ([`Generations::progress_of`]: a fixed number of statements, whatever
//! the number of streams or people), and fans each person's result out to
//! their streams through a `watch` channel. A person's streams only ever
//! receive that person's channel. The hub ticks every
//! [`ProgressPolicy::busy`] while any watched job is queued or running and
//! backs off to [`ProgressPolicy::idle`] when nothing is pending; a submit
//! or cancel in this process, a job notification from any process
//! (PostgreSQL `LISTEN`, see [`super::notify`]) or a new person's first
//! stream wakes it at once (at most one tick per [`MIN_GAP`]). The task
//! ends when the last stream closes and starts again with the next.
//!
//! Streams are capped per person and in all (per process), with slots that
//! are freed when the stream is dropped, however it ends. At shutdown,
//! [`ProgressHub::close`] ends every stream (the web layer sends a `retry:`
//! hint first, so browsers reconnect to another process) and refuses new
//! ones.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{watch, Notify};
use uuid::Uuid;

use super::service::{GenerationView, Generations};
use crate::support::rate_limit::{Busy, Concurrency, Slot};

/// Streams one person may have open at once (tabs, windows, devices).
pub const MAX_STREAMS_PER_PERSON: usize = 3;
/// Streams open at once in one process, everyone together.
pub const MAX_STREAMS: usize = 1000;
/// The shortest time between two ticks woken early: a burst of wake-ups
/// (many jobs changing at once) costs one read, not one each.
pub const MIN_GAP: Duration = Duration::from_millis(50);

/// Caps and poll intervals.
#[derive(Debug, Clone)]
pub struct ProgressPolicy {
    pub per_person: usize,
    pub overall: usize,
    /// Between ticks while a watched job is queued or running.
    pub busy: Duration,
    /// The longest pause between ticks when nothing is pending.
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

/// One person's progress after one tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Which read of this person since their first stream opened (1, 2, …).
    pub poll: u64,
    pub jobs: Vec<GenerationView>,
    pub available: i64,
    pub held: i64,
}

type Latest = Option<Arc<Progress>>;

/// One watched person: their channel and the number of their streams.
struct Feed {
    tx: watch::Sender<Latest>,
    streams: usize,
    /// Reads of this person so far.
    poll: u64,
    /// Whether the hub has stamped them as watching yet (MAIL-1).
    stamped: bool,
}

#[derive(Default)]
struct State {
    feeds: HashMap<Uuid, Feed>,
    /// Whether the hub's task runs.
    running: bool,
}

struct Inner {
    state: Mutex<State>,
    wake: Notify,
    ticks: AtomicU64,
    closing: watch::Sender<bool>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The progress streams of one process and the one task that reads for
/// them all. Cheap to clone (clones share everything).
#[derive(Clone)]
pub struct ProgressHub {
    policy: ProgressPolicy,
    slots: Concurrency,
    inner: Arc<Inner>,
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
    #[error("This server is restarting. Your page reconnects by itself.")]
    ShuttingDown,
}

/// An open progress stream: the latest result of its person. Dropping it
/// frees its slot and, for the last stream of a person, forgets them.
pub struct ProgressStream {
    rx: watch::Receiver<Latest>,
    closing: watch::Receiver<bool>,
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
    inner: Arc<Inner>,
    user: Uuid,
}

impl Drop for FeedGuard {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        let last = match state.feeds.get_mut(&self.user) {
            Some(feed) => {
                feed.streams = feed.streams.saturating_sub(1);
                feed.streams == 0
            }
            None => false,
        };
        if last {
            state.feeds.remove(&self.user);
        }
    }
}

impl ProgressStream {
    /// The next result: the latest one at once when the stream is new,
    /// then each newer one. `None` when the stream is over: the hub is
    /// closing ([`Self::closed_by_shutdown`]) or gone.
    pub async fn next(&mut self) -> Option<Arc<Progress>> {
        if *self.closing.borrow() {
            return None;
        }
        if !self.seen_first {
            let now = self.rx.borrow_and_update().clone();
            if let Some(p) = now {
                self.seen_first = true;
                return Some(p);
            }
        }
        loop {
            tokio::select! {
                biased;
                _ = self.closing.wait_for(|c| *c) => return None,
                changed = self.rx.changed() => changed.ok()?,
            }
            if let Some(p) = self.rx.borrow_and_update().clone() {
                self.seen_first = true;
                return Some(p);
            }
        }
    }

    /// Whether the stream ended because this process is shutting down
    /// (the browser should reconnect, to another process).
    pub fn closed_by_shutdown(&self) -> bool {
        *self.closing.borrow()
    }
}

impl ProgressHub {
    pub fn new(policy: ProgressPolicy) -> Self {
        Self {
            slots: Concurrency::new(policy.per_person, policy.overall),
            policy,
            inner: Arc::new(Inner {
                state: Mutex::default(),
                wake: Notify::new(),
                ticks: AtomicU64::new(0),
                closing: watch::Sender::new(false),
            }),
        }
    }

    /// Ticks so far (each one read for every watched person together; for
    /// tests and benchmarks).
    pub fn polls(&self) -> u64 {
        self.inner.ticks.load(Ordering::SeqCst)
    }

    /// People watched in this process now (each read in every tick).
    pub fn pollers(&self) -> usize {
        self.inner.lock().feeds.len()
    }

    /// Streams open now, everyone together.
    pub fn streams(&self) -> usize {
        self.slots.total()
    }

    /// Reads now if `user` has a stream open here (after a submit or a
    /// cancel, or a notification about their job).
    pub fn wake(&self, user: Uuid) {
        if self.inner.lock().feeds.contains_key(&user) {
            self.inner.wake.notify_one();
        }
    }

    /// Reads now (after the job notification connection came back: what
    /// it missed is found by this read).
    pub fn wake_all(&self) {
        self.inner.wake.notify_one();
    }

    /// Shutdown: ends every open stream and refuses new ones.
    pub fn close(&self) {
        self.inner.closing.send_replace(true);
        self.inner.wake.notify_one();
    }

    /// Opens a stream of `user`'s progress, starting the hub's task if it
    /// is not running. Must run inside a Tokio runtime.
    pub fn open(&self, gens: &Generations, user: Uuid) -> Result<ProgressStream, StreamRefused> {
        if *self.inner.closing.borrow() {
            return Err(StreamRefused::ShuttingDown);
        }
        let slot = self.slots.try_acquire(user).map_err(|e| match e {
            Busy::Person { limit } => StreamRefused::PerPerson { limit },
            Busy::Everyone => StreamRefused::Everyone,
        })?;
        let mut state = self.inner.lock();
        let mut new_person = false;
        let feed = state.feeds.entry(user).or_insert_with(|| {
            new_person = true;
            Feed {
                tx: watch::Sender::new(None),
                streams: 0,
                poll: 0,
                stamped: false,
            }
        });
        feed.streams += 1;
        let rx = feed.tx.subscribe();
        if !state.running {
            state.running = true;
            tokio::spawn(run(gens.clone(), self.inner.clone(), self.policy.clone()));
        } else if new_person {
            // Their first result in the next tick, not after a long pause.
            self.inner.wake.notify_one();
        }
        drop(state);
        Ok(ProgressStream {
            rx,
            closing: self.inner.closing.subscribe(),
            seen_first: false,
            _feed: FeedGuard {
                inner: self.inner.clone(),
                user,
            },
            _slot: slot,
        })
    }
}

/// The hub's task: one read per tick for every watched person, until no
/// stream is left (or the hub closes).
async fn run(gens: Generations, inner: Arc<Inner>, policy: ProgressPolicy) {
    // Should this task end by a panic, the next stream starts a new one
    // (instead of every stream of the process waiting forever).
    struct Restartable(Arc<Inner>);
    impl Drop for Restartable {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.lock().running = false;
            }
        }
    }
    let _restartable = Restartable(inner.clone());
    let mut pause = policy.busy;
    // While someone is watched here, a browser of theirs is open: stamp
    // it in the database so every worker process knows (MAIL-1), for all
    // of them at once, every `STAMP_EVERY`.
    let mut stamped_at: Option<tokio::time::Instant> = None;
    loop {
        let (users, unstamped) = {
            let mut state = inner.lock();
            if state.feeds.is_empty() || *inner.closing.borrow() {
                state.running = false;
                return;
            }
            let users: Vec<Uuid> = state.feeds.keys().copied().collect();
            let unstamped: Vec<Uuid> = state
                .feeds
                .iter()
                .filter(|(_, f)| !f.stamped)
                .map(|(u, _)| *u)
                .collect();
            (users, unstamped)
        };
        // Everyone every `STAMP_EVERY`; in between, only people who just
        // joined (not everyone again each time someone opens a stream).
        let due = stamped_at.is_none_or(|at| at.elapsed() >= crate::mail::notices::STAMP_EVERY);
        let to_stamp = if due { users.clone() } else { unstamped };
        if !to_stamp.is_empty() {
            let users = to_stamp;
            match crate::mail::notices::stamp_all_watched(&gens.db, &users, Utc::now()).await {
                Ok(()) => {
                    if due {
                        stamped_at = Some(tokio::time::Instant::now());
                    }
                    let mut state = inner.lock();
                    for user in &users {
                        if let Some(feed) = state.feeds.get_mut(user) {
                            feed.stamped = true;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = ?e, "cannot stamp watched streams"),
            }
        }
        inner.ticks.fetch_add(1, Ordering::SeqCst);
        let since = Utc::now() - policy.window;
        match gens.progress_of(&users, since).await {
            Ok(mut read) => {
                let mut pending = false;
                let mut state = inner.lock();
                for user in &users {
                    let Some(feed) = state.feeds.get_mut(user) else {
                        continue;
                    };
                    let (jobs, balance) = read.remove(user).unwrap_or_default();
                    pending |= jobs.iter().any(|j| !j.status.is_final());
                    feed.poll += 1;
                    feed.tx.send_replace(Some(Arc::new(Progress {
                        poll: feed.poll,
                        jobs,
                        available: balance.available,
                        held: balance.held,
                    })));
                }
                pause = if pending {
                    policy.busy
                } else {
                    (pause * 2).min(policy.idle).max(policy.busy)
                };
            }
            Err(e) => {
                tracing::warn!(error = ?e, "progress read failed");
                pause = (pause * 2).min(policy.idle).max(policy.busy);
            }
        }
        let ticked = tokio::time::Instant::now();
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = inner.wake.notified() => {
                pause = policy.busy;
                tokio::time::sleep_until(ticked + MIN_GAP).await;
            }
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
