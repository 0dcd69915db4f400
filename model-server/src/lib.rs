//! The project's model server (`uni1 model-server`): both wire protocols in
//! front of the built-in generator, with injectable faults.
//!
//! Routes:
//! - `POST /v1/images/generations` (OpenAI Images: `b64_json` or `url`);
//! - `POST /v1/predictions`, `GET /v1/predictions/{id}`,
//!   `POST /v1/predictions/{id}/cancel` (Replicate predictions, with signed
//!   `completed` webhooks);
//! - `GET /files/{name}`: outputs given as URLs, kept in memory (the most
//!   recent [`MAX_FILES`]), without authentication like a provider's
//!   delivery URLs.
//!
//! A prompt containing the word `nsfw` is always refused, so demos can show
//! refusals without injecting faults.
//!
//! It is its own crate so the production library (`uni1-models`, and the
//! domain above it) carries no web server: `uni1 model-server`, the HTTP
//! tests and the browser tests use it. [`openai`] and [`predictions`] hold
//! one wire protocol each, [`faults`] what a test can inject.

mod faults;
mod openai;
mod predictions;

use std::collections::{HashMap, VecDeque};
use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;

pub use faults::Fault;
use faults::FaultQueue;
use openai::openai_generate;
use predictions::{prediction_cancel, prediction_create, prediction_get, Record};

/// How many generated files the server keeps for `GET /files/{name}`.
pub const MAX_FILES: usize = 512;
/// How many predictions the server remembers for polling.
pub const MAX_PREDICTIONS: usize = 1024;
/// Requests per generation: more is a 400 (OpenAI) or 422 (predictions).
pub const MAX_IMAGES: u32 = 4;

/// Where a fault sends the outputs.
#[derive(Debug, Clone, Default)]
enum Outputs {
    /// The server's own `/files/{name}`.
    #[default]
    Files,
    Url(String),
    Redirect(String),
}

/// Shared, test-controlled server state.
///
/// Clones share everything (faults, counters, files), so a test keeps one
/// clone to steer the server it serves.
#[derive(Clone, Default)]
pub struct ModelServer {
    inner: Arc<Inner>,
}

struct Inner {
    /// Empty: no authentication (only [`ModelServer::default`]).
    api_key: String,
    webhook_secret: String,
    faults: Mutex<FaultQueue>,
    poll_faults: Mutex<FaultQueue>,
    submissions: AtomicUsize,
    polls: AtomicUsize,
    webhooks_sent: AtomicUsize,
    cancels: AtomicUsize,
    files: Mutex<Bounded<Vec<u8>>>,
    /// `/files/{name}` that answer a redirect to the value.
    redirects: Mutex<Bounded<String>>,
    predictions: Mutex<Bounded<Record>>,
    public_base: Mutex<Option<url::Url>>,
    processing_delay_ms: AtomicU64,
    base_size: AtomicU32,
    /// Sends webhooks.
    http: reqwest::Client,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            api_key: String::new(),
            webhook_secret: String::new(),
            faults: Mutex::default(),
            poll_faults: Mutex::default(),
            submissions: AtomicUsize::new(0),
            polls: AtomicUsize::new(0),
            webhooks_sent: AtomicUsize::new(0),
            cancels: AtomicUsize::new(0),
            files: Mutex::new(Bounded::new(MAX_FILES)),
            redirects: Mutex::new(Bounded::new(MAX_FILES)),
            predictions: Mutex::new(Bounded::new(MAX_PREDICTIONS)),
            public_base: Mutex::default(),
            processing_delay_ms: AtomicU64::new(200),
            base_size: AtomicU32::new(512),
            http: plain_client(Duration::from_secs(10)),
        }
    }
}

/// A map that forgets its oldest entries past `cap`, so a long demo run
/// does not grow without bound.
struct Bounded<T> {
    map: HashMap<String, T>,
    order: VecDeque<String>,
    cap: usize,
}

impl<T> Bounded<T> {
    fn new(cap: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap,
        }
    }
    fn insert(&mut self, key: String, value: T) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

/// Locks, ignoring poisoning: every critical section leaves the state
/// consistent, and a test server must not cascade one panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ModelServer {
    /// A server that requires `api_key` as a Bearer token and signs webhooks
    /// with `webhook_secret` (`whsec_<base64>`).
    pub fn new(api_key: &str, webhook_secret: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                api_key: api_key.to_owned(),
                webhook_secret: webhook_secret.to_owned(),
                ..Inner::default()
            }),
        }
    }

    /// A fresh random webhook secret in the `whsec_<base64>` form.
    pub fn generate_webhook_secret() -> String {
        let key: [u8; 32] = rand::random();
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        )
    }

    /// Queues `fault` for the next `times` requests.
    ///
    /// Only submissions (generation POSTs) take faults from this queue, in
    /// the order injected; polls have their own
    /// ([`ModelServer::inject_on_polls`]). `times = usize::MAX` means
    /// "always" (faults injected after it never come up).
    pub fn inject(&self, fault: Fault, times: usize) {
        lock(&self.inner.faults).push(fault, times);
    }

    /// Queues `fault` for the next `times` prediction polls
    /// (`GET /v1/predictions/{id}`): `Latency`, `TooManyRequests`,
    /// `ServerError`, `Hang`, `MalformedJson` and `OversizedAnswer` apply;
    /// others are ignored.
    pub fn inject_on_polls(&self, fault: Fault, times: usize) {
        lock(&self.inner.poll_faults).push(fault, times);
    }

    /// Number of generation requests received (submissions, not polls).
    ///
    /// Counts authenticated requests only; a 401 neither counts nor takes
    /// a fault.
    pub fn submissions(&self) -> usize {
        self.inner.submissions.load(Ordering::SeqCst)
    }
    /// Authenticated prediction polls received.
    pub fn polls(&self) -> usize {
        self.inner.polls.load(Ordering::SeqCst)
    }
    /// Webhooks delivered (the receiver answered, whatever its status).
    pub fn webhooks_sent(&self) -> usize {
        self.inner.webhooks_sent.load(Ordering::SeqCst)
    }
    /// Authenticated cancel requests received.
    pub fn cancels(&self) -> usize {
        self.inner.cancels.load(Ordering::SeqCst)
    }

    /// Builds output and prediction URLs on `base` instead of the request's
    /// `Host` header (needed behind proxies; tests bind port 0 first).
    pub fn with_public_base(self, base: url::Url) -> Self {
        self.set_public_base(base);
        self
    }
    /// Same as [`ModelServer::with_public_base`], on a shared handle.
    pub fn set_public_base(&self, base: url::Url) {
        *lock(&self.inner.public_base) = Some(base);
    }
    /// How long a prediction takes before it succeeds (default 200 ms;
    /// a `Latency` fault adds to it).
    pub fn with_processing_delay(self, delay: Duration) -> Self {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.inner
            .processing_delay_ms
            .store(millis, Ordering::SeqCst);
        self
    }
    /// Square size of prediction outputs (default 512; other aspect ratios
    /// keep the area). OpenAI requests say their own `size`.
    pub fn with_base_size(self, base: u32) -> Self {
        self.inner.base_size.store(base, Ordering::SeqCst);
        self
    }

    /// The axum router; serve it on loopback.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/v1/images/generations", post(openai_generate))
            .route("/v1/predictions", post(prediction_create))
            .route("/v1/predictions/{id}", get(prediction_get))
            .route("/v1/predictions/{id}/cancel", post(prediction_cancel))
            .route("/files/{name}", get(file_get))
            // Reference images travel inline as data URIs.
            .layer(DefaultBodyLimit::max(32 * 1024 * 1024))
            .with_state(self.clone())
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        if self.inner.api_key.is_empty() {
            return true;
        }
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("Token "))
            .unwrap_or("");
        constant_time_eq(token.trim().as_bytes(), self.inner.api_key.as_bytes())
    }

    fn next_fault(&self) -> Option<Fault> {
        lock(&self.inner.faults).pop()
    }

    /// Where clients reach us: the configured public base, else the `Host`
    /// header, else localhost.
    fn base(&self, headers: &HeaderMap) -> url::Url {
        if let Some(base) = lock(&self.inner.public_base).clone() {
            return base;
        }
        headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(|host| url::Url::parse(&format!("http://{host}/")).ok())
            .filter(|url| url.path() == "/" && url.query().is_none() && url.username().is_empty())
            .unwrap_or_else(|| url::Url::parse("http://localhost/").expect("a constant URL"))
    }

    /// Stores a PNG and returns its URL under `base`.
    fn store_file(&self, base: &url::Url, png: Vec<u8>) -> String {
        let name = format!("{}.png", uuid::Uuid::new_v4().simple());
        let url = uni1_models::endpoint(base, &["files", &name])
            .map(String::from)
            .unwrap_or_else(|_| format!("/files/{name}"));
        lock(&self.inner.files).insert(name, png);
        url
    }

    /// The URL of one output as `outputs` says.
    fn output_url(&self, base: &url::Url, png: Vec<u8>, outputs: &Outputs) -> String {
        match outputs {
            Outputs::Files => self.store_file(base, png),
            Outputs::Url(url) => url.clone(),
            Outputs::Redirect(target) => {
                let name = format!("{}.png", uuid::Uuid::new_v4().simple());
                let url = uni1_models::endpoint(base, &["files", &name])
                    .map(String::from)
                    .unwrap_or_else(|_| format!("/files/{name}"));
                lock(&self.inner.redirects).insert(name, target.clone());
                url
            }
        }
    }

    fn processing_delay(&self) -> Duration {
        Duration::from_millis(self.inner.processing_delay_ms.load(Ordering::SeqCst))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the prompt has the word `nsfw` (any case): always refused.
fn mentions_nsfw(prompt: &str) -> bool {
    prompt
        .split(|c: char| !c.is_alphanumeric())
        .any(|word| word.eq_ignore_ascii_case("nsfw"))
}

/// Renders `n` images with seeds `seed`, `seed + 1`, ... off the async
/// threads.
async fn render(
    prompt: String,
    style: Option<String>,
    seed: u64,
    n: u32,
    (width, height): (u32, u32),
) -> Option<Vec<Vec<u8>>> {
    tokio::task::spawn_blocking(move || {
        (0..u64::from(n))
            .map(|i| {
                uni1_imaging::render_builtin_png(
                    &prompt,
                    seed.wrapping_add(i),
                    width,
                    height,
                    style.as_deref(),
                )
            })
            .collect()
    })
    .await
    .ok()
}

const HANG: Duration = Duration::from_secs(3600);

// ------------------------------------------------- Answers both protocols use

pub(crate) fn malformed_json() -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        "{not json",
    )
        .into_response()
}

/// A `200` JSON answer of `bytes` bytes, streamed without a length.
pub(crate) fn oversized(bytes: usize) -> Response {
    const CHUNK: usize = 64 * 1024;
    let chunks = (0..bytes.div_ceil(CHUNK)).map(move |i| {
        let len = CHUNK.min(bytes - i * CHUNK);
        Ok::<_, std::io::Error>(Bytes::from(vec![b' '; len]))
    });
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        axum::body::Body::from_stream(futures::stream::iter(chunks)),
    )
        .into_response()
}

pub(crate) fn retry_after() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::RETRY_AFTER, HeaderValue::from_static("1"))]
}

// ----------------------------------------------------------------- Files

async fn file_get(State(server): State<ModelServer>, Path(name): Path<String>) -> Response {
    let redirect = lock(&server.inner.redirects).map.get(&name).cloned();
    if let Some(target) = redirect {
        return match HeaderValue::from_str(&target) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
    }
    let png = lock(&server.inner.files).map.get(&name).cloned();
    match png {
        Some(png) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static("image/png"))],
            png,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

// --------------------------------------------------------------- Serving

/// Serves `server` on `listen` until Ctrl-C. Requests in flight are
/// dropped rather than drained: a `Hang` fault would otherwise hold the
/// shutdown for an hour.
pub async fn run(listen: SocketAddr, server: ModelServer) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, "model server listening");
    tokio::select! {
        served = axum::serve(listener, server.router()).into_future() => served,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// Serves `server` on a fresh loopback port in a background task, with the
/// public base set to it; returns that base (`http://127.0.0.1:port/`).
/// For tests of code that talks to a model.
pub async fn spawn_local(server: ModelServer) -> std::io::Result<url::Url> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    let base = url::Url::parse(&format!("http://{address}/"))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    server.set_public_base(base.clone());
    let router = server.router();
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "model server stopped");
        }
    });
    Ok(base)
}

/// A client without redirects or proxies from the environment's defaults,
/// for the webhooks the server sends.
fn plain_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|error| {
            tracing::error!(%error, "could not build the webhook client; using defaults");
            reqwest::Client::new()
        })
}
