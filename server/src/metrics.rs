//! The process's metrics recorder (ANA-2): installed once, the first time a
//! process builds its router, so every `metrics::counter!` in the domain,
//! storage and HTTP layers lands in it; `/metrics` renders it
//! (`http::metrics`). The names are in `uni1_domain::metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use uni1_domain::metrics::{
    BUILD_INFO, GENERATION_DURATION_SECONDS, GENERATION_QUEUE_WAIT_SECONDS,
    HTTP_REQUEST_DURATION_SECONDS,
};

/// How often histograms are folded in between scrapes, so they do not grow
/// without bound when nobody scrapes.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Bucket bounds (seconds) of the HTTP request histogram.
const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Bucket bounds (seconds) of generation times and queue waits: a built-in
/// image takes well under a second, a provider's up to minutes.
const JOB_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// The process's recorder, installed as the global one on first use. If
/// another recorder was installed first (a test harness of its own), this
/// one still renders, but records nothing.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = || {
            let b = PrometheusBuilder::new();
            let b = b
                .set_buckets_for_metric(
                    Matcher::Full(HTTP_REQUEST_DURATION_SECONDS.to_owned()),
                    HTTP_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(GENERATION_DURATION_SECONDS.to_owned()),
                        JOB_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(GENERATION_QUEUE_WAIT_SECONDS.to_owned()),
                        JOB_BUCKETS,
                    )
                });
            b.unwrap_or_else(|e| {
                tracing::error!(error = %e, "histogram buckets refused; using summaries");
                PrometheusBuilder::new()
            })
        };
        let handle = match builder().install_recorder() {
            Ok(handle) => handle,
            Err(e) => {
                tracing::warn!(error = %e, "another metrics recorder is installed; /metrics shows only its own");
                builder().build_recorder().handle()
            }
        };
        metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}
