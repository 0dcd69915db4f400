//! The name of every metric uni1 records (ANA-2), in one place: the code
//! that records one uses these constants, `/metrics` renders them in the
//! Prometheus text format, and the README lists them. Prometheus naming:
//! base units (seconds), counters end in `_total`.
//!
//! Labels stay bounded: a route is its pattern (never a raw path), a model
//! is a configured model id, an outcome or status is one of a few words.
//! Per-process metrics are recorded where the work happens (the HTTP
//! middleware in `server`, the worker, storage, mail delivery, the rate
//! limits); the service-wide gauges are read from the database when
//! `/metrics` is scraped ([`crate::admin::health::record_service_gauges`]).

/// Counter `{method, route, status}`: HTTP requests answered.
pub const HTTP_REQUESTS_TOTAL: &str = "uni1_http_requests_total";
/// Histogram `{method, route}`: time to the response's head.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "uni1_http_request_duration_seconds";
/// Counter `{model, outcome}`: generation attempts by how they ended
/// (`succeeded`, `failed`, `refused`, `cancelled`, `retried`,
/// `lease_lost`, `error`).
pub const GENERATION_JOBS_TOTAL: &str = "uni1_generation_jobs_total";
/// Histogram `{model}`: one attempt of a job, claim to end.
pub const GENERATION_DURATION_SECONDS: &str = "uni1_generation_duration_seconds";
/// Histogram: from a job becoming runnable to a worker claiming it.
pub const GENERATION_QUEUE_WAIT_SECONDS: &str = "uni1_generation_queue_wait_seconds";
/// Counter `{backend, status}`: calls of a model back-end (`succeeded`,
/// `refused`, `retryable_error`, `error`, `cancelled`).
pub const MODEL_REQUESTS_TOTAL: &str = "uni1_model_requests_total";
/// Counter `{op, outcome}`: object-store operations (recorded by
/// `uni1_storage`, which owns the name).
pub const STORAGE_OPERATIONS_TOTAL: &str = uni1_storage::OPERATIONS_METRIC;
/// Gauge `{state}`: database pool connections (`idle`, `in_use`), read at
/// scrape time.
pub const DB_POOL_CONNECTIONS: &str = "uni1_db_pool_connections";
/// Counter `{limit}`: requests refused by a rate limit.
pub const RATE_LIMITED_TOTAL: &str = "uni1_rate_limited_total";
/// Gauge: progress streams (server-sent events) open in this process.
pub const SSE_CONNECTIONS: &str = "uni1_sse_connections";
/// Counter `{outcome}`: mail delivery attempts (`sent`, `retrying`,
/// `failed`).
pub const MAIL_DELIVERIES_TOTAL: &str = "uni1_mail_deliveries_total";
/// Gauge `{status}`: jobs waiting (`queued`) and running, service-wide.
pub const GENERATION_QUEUE_DEPTH: &str = "uni1_generation_queue_depth";
/// Gauge: age of the oldest queued job (0 when none), service-wide.
pub const GENERATION_QUEUE_OLDEST_SECONDS: &str = "uni1_generation_queue_oldest_seconds";
/// Gauge: mails queued and neither sent nor given up, service-wide.
pub const MAIL_OUTBOX_PENDING: &str = "uni1_mail_outbox_pending";
/// Gauge `{version}`: always 1.
pub const BUILD_INFO: &str = "uni1_build_info";

/// Every family `/metrics` shows once the process did the work (the tests
/// check the list against a scrape).
pub const ALL: &[&str] = &[
    HTTP_REQUESTS_TOTAL,
    HTTP_REQUEST_DURATION_SECONDS,
    GENERATION_JOBS_TOTAL,
    GENERATION_DURATION_SECONDS,
    GENERATION_QUEUE_WAIT_SECONDS,
    MODEL_REQUESTS_TOTAL,
    STORAGE_OPERATIONS_TOTAL,
    DB_POOL_CONNECTIONS,
    RATE_LIMITED_TOTAL,
    SSE_CONNECTIONS,
    MAIL_DELIVERIES_TOTAL,
    GENERATION_QUEUE_DEPTH,
    GENERATION_QUEUE_OLDEST_SECONDS,
    MAIL_OUTBOX_PENDING,
    BUILD_INFO,
];

/// Counts a refusal by the rate limit `limit`.
pub fn rate_limited(limit: &'static str) {
    metrics::counter!(RATE_LIMITED_TOTAL, "limit" => limit).increment(1);
}
