//! Background work in one place: a registry of named tasks that `serve`
//! and `worker` start together and stop together.
//!
//! - [`Background::every`]: a periodic pass (mail delivery, reminders, the
//!   reaper, the sweepers). A pass that fails logs its error and the next
//!   one runs at the next tick; passes of one task never overlap.
//! - [`Background::until_stopped`]: a long-running task that watches the
//!   stop signal itself (the generation worker, which finishes the jobs in
//!   hand before it returns).
//!
//! [`Running::stop`] signals every task, waits up to [`GRACE`] for them,
//! then aborts what is left.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long [`Running::stop`] waits for tasks to return.
pub const GRACE: Duration = Duration::from_secs(10);

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Starter = Box<dyn FnOnce(watch::Receiver<bool>) -> BoxFuture + Send>;

/// The tasks to start (see the module documentation).
#[derive(Default)]
pub struct Background {
    tasks: Vec<(&'static str, Starter)>,
}

/// A signal that resolves once [`Running::stop`] is called.
pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

fn stopped(mut rx: watch::Receiver<bool>) -> StopSignal {
    Box::pin(async move {
        // An error means the sender is gone: stop as well.
        rx.wait_for(|stop| *stop).await.ok();
    })
}

impl Background {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `pass` now and then every `interval` (measured from the end of
    /// the previous pass) until stopped. The pass logs its own failures.
    pub fn every<F, Fut>(&mut self, name: &'static str, interval: Duration, pass: F) -> &mut Self
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks.push((
            name,
            Box::new(move |rx| {
                Box::pin(async move {
                    let mut stop = stopped(rx);
                    loop {
                        tokio::select! {
                            () = &mut stop => break,
                            () = pass() => {}
                        }
                        tokio::select! {
                            () = &mut stop => break,
                            () = tokio::time::sleep(interval) => {}
                        }
                    }
                })
            }),
        ));
        self
    }

    /// Runs `task` with a signal that resolves at [`Running::stop`].
    pub fn until_stopped<F, Fut>(&mut self, name: &'static str, task: F) -> &mut Self
    where
        F: FnOnce(StopSignal) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks
            .push((name, Box::new(move |rx| Box::pin(task(stopped(rx))))));
        self
    }

    /// The names of the registered tasks, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.tasks.iter().map(|(name, _)| *name).collect()
    }

    /// Spawns every task.
    pub fn start(self) -> Running {
        let (tx, rx) = watch::channel(false);
        let handles = self
            .tasks
            .into_iter()
            .map(|(name, start)| (name, tokio::spawn(start(rx.clone()))))
            .collect();
        tracing::debug!("background tasks started");
        Running { stop: tx, handles }
    }
}

/// Started tasks.
pub struct Running {
    stop: watch::Sender<bool>,
    handles: Vec<(&'static str, JoinHandle<()>)>,
}

impl Running {
    /// Signals every task to stop and waits for them (at most [`GRACE`] in
    /// all); tasks still running then are aborted.
    pub async fn stop(self) {
        self.stop_within(GRACE).await;
    }

    /// [`Running::stop`] with another grace period.
    pub async fn stop_within(self, grace: Duration) {
        self.stop.send(true).ok();
        let deadline = tokio::time::Instant::now() + grace;
        for (name, mut handle) in self.handles {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) if error.is_panic() => {
                    tracing::error!(task = name, "background task panicked");
                }
                Ok(Err(_)) => {}
                Err(_) => {
                    tracing::warn!(task = name, "background task did not stop in time; aborted");
                    handle.abort();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    async fn until(what: &str, check: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting until {what}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_periodic_pass_runs_at_once_then_every_interval_until_stopped() {
        let runs = Arc::new(AtomicUsize::new(0));
        let mut background = Background::new();
        let counter = runs.clone();
        background.every("count", Duration::from_millis(40), move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        assert_eq!(background.names(), ["count"]);
        let started = tokio::time::Instant::now();
        let running = background.start();
        until("the first pass ran", || runs.load(Ordering::SeqCst) >= 1).await;
        until("two more passes ran", || runs.load(Ordering::SeqCst) >= 3).await;
        assert!(
            started.elapsed() >= Duration::from_millis(80),
            "passes are an interval apart"
        );
        running.stop().await;
        let after_stop = runs.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            after_stop,
            "no pass after stop"
        );
    }

    #[tokio::test]
    async fn stop_waits_for_a_task_that_finishes_its_work_and_aborts_one_that_hangs() {
        let finished = Arc::new(AtomicUsize::new(0));
        let mut background = Background::new();
        let done = finished.clone();
        background.until_stopped("polite", move |stop| async move {
            stop.await;
            // Work in hand is finished after the signal.
            tokio::time::sleep(Duration::from_millis(50)).await;
            done.fetch_add(1, Ordering::SeqCst);
        });
        background.until_stopped("stuck", |_stop| std::future::pending::<()>());
        let running = background.start();
        let started = tokio::time::Instant::now();
        running.stop_within(Duration::from_millis(300)).await;
        assert_eq!(
            finished.load(Ordering::SeqCst),
            1,
            "the polite task finished"
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
            "the stuck task is aborted after the grace period (waited {waited:?})"
        );
    }
}
