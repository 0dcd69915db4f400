//! One gate for decoding untrusted images (M8): reference uploads and model
//! outputs both decode on the blocking pool, and a decode can take a few
//! hundred megabytes at its peak, so at most one decode per CPU runs at
//! once in a process. The others wait here, asynchronously, before they
//! take a blocking thread.

use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

/// A bound on concurrent decodes.
#[derive(Debug, Clone)]
pub struct DecodeGate {
    permits: Arc<Semaphore>,
}

/// Why a gated decode did not return.
#[derive(Debug, thiserror::Error)]
#[error("the image decoder stopped unexpectedly")]
pub struct DecodeStopped;

impl DecodeGate {
    /// A gate letting `permits` decodes (at least one) run at once.
    pub fn new(permits: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(permits.max(1))),
        }
    }

    /// The process-wide gate: one permit per CPU.
    pub fn global() -> &'static DecodeGate {
        static GATE: OnceLock<DecodeGate> = OnceLock::new();
        GATE.get_or_init(|| {
            DecodeGate::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
        })
    }

    /// Runs `decode` on the blocking pool once a permit is free; the permit
    /// is held until it returns.
    pub async fn run<T, F>(&self, decode: F) -> Result<T, DecodeStopped>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DecodeStopped)?;
        tokio::task::spawn_blocking(move || {
            let out = decode();
            drop(permit);
            out
        })
        .await
        .map_err(|_| DecodeStopped)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_decodes_run_at_once_than_the_gate_allows() {
        let gate = DecodeGate::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                gate.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        // Twelve decodes of 20 ms each, but never more than two at once.
        assert!((1..=2).contains(&most), "{most} ran at once");
    }
}
