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
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::predictions::sign_webhook;
use crate::{unix_now, AspectRatio};

/// How many generated files the server keeps for `GET /files/{name}`.
pub const MAX_FILES: usize = 512;
/// How many predictions the server remembers for polling.
pub const MAX_PREDICTIONS: usize = 1024;
/// Requests per generation: more is a 400 (OpenAI) or 422 (predictions).
pub const MAX_IMAGES: u32 = 4;

/// A fault the server injects into the next matching request(s).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer after this delay.
    Latency(std::time::Duration),
    /// 429 Too Many Requests (with Retry-After: 1).
    TooManyRequests,
    /// 500 Internal Server Error.
    ServerError,
    /// Never answer (the client's timeout must fire).
    Hang,
    /// 200 with a body that is not valid JSON.
    MalformedJson,
    /// Predictions: finish, but never send the webhook.
    LostWebhook,
    /// Refuse as a content-policy violation.
    Refuse,
    /// Predictions: the prediction fails with an error.
    PredictionFails,
    /// The answer lists this URL for every image instead of the server's
    /// own files (OpenAI `data[].url`, predictions `output`), as a hostile
    /// provider pointing the worker at an internal address would.
    OutputUrl(String),
    /// Outputs are URLs on the server's own host that answer
    /// `302 Found` to this URL.
    RedirectOutput(String),
    /// The answer has this many images more than requested.
    ExtraImages(u32),
    /// `200` with a body of this many bytes (streamed, no
    /// `Content-Length`); on polls too.
    OversizedAnswer(usize),
}

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
            http: crate::plain_client(Duration::from_secs(10)),
        }
    }
}

/// Faults in injection order, each with the number of requests it still
/// applies to (counts, not copies: `inject(fault, usize::MAX)` is "always").
#[derive(Default)]
struct FaultQueue(VecDeque<(Fault, usize)>);

impl FaultQueue {
    fn push(&mut self, fault: Fault, times: usize) {
        if times > 0 {
            self.0.push_back((fault, times));
        }
    }
    fn pop(&mut self) -> Option<Fault> {
        let (fault, left) = self.0.front_mut()?;
        *left -= 1;
        let fault = fault.clone();
        if *left == 0 {
            self.0.pop_front();
        }
        Some(fault)
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
        let url = crate::endpoint(base, &["files", &name])
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
                let url = crate::endpoint(base, &["files", &name])
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

// ---------------------------------------------------------------- OpenAI

fn openai_error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    let body = json!({
        "error": { "message": message, "type": kind, "param": null, "code": code }
    });
    (status, Json(body)).into_response()
}

fn malformed_json() -> Response {
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
fn oversized(bytes: usize) -> Response {
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

fn retry_after() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::RETRY_AFTER, HeaderValue::from_static("1"))]
}

#[derive(Deserialize)]
struct OpenAiRequest {
    prompt: String,
    n: Option<u32>,
    size: Option<String>,
    response_format: Option<String>,
    seed: Option<u64>,
    style: Option<String>,
}

fn parse_size(size: &str) -> Option<(u32, u32)> {
    let (w, h) = size.split_once('x')?;
    let (w, h): (u32, u32) = (w.parse().ok()?, h.parse().ok()?);
    let ok = |v: u32| (64..=2048).contains(&v);
    (ok(w) && ok(h)).then_some((w, h))
}

async fn openai_generate(
    State(server): State<ModelServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !server.authorized(&headers) {
        return openai_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided.",
        );
    }
    server.inner.submissions.fetch_add(1, Ordering::SeqCst);
    let mut outputs = Outputs::Files;
    let mut extra = 0;
    match server.next_fault() {
        Some(Fault::Latency(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::OutputUrl(url)) => outputs = Outputs::Url(url),
        Some(Fault::RedirectOutput(url)) => outputs = Outputs::Redirect(url),
        Some(Fault::ExtraImages(n)) => extra = n,
        Some(Fault::OversizedAnswer(bytes)) => return oversized(bytes),
        Some(Fault::TooManyRequests) => {
            let mut response = openai_error(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                "rate_limit_exceeded",
                "Rate limit reached. Please try again in 1s.",
            );
            response.headers_mut().extend(retry_after());
            return response;
        }
        Some(Fault::ServerError | Fault::PredictionFails) => {
            return openai_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "server_error",
                "The server had an error while processing your request.",
            )
        }
        Some(Fault::Hang) => {
            tokio::time::sleep(HANG).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Some(Fault::MalformedJson) => return malformed_json(),
        Some(Fault::Refuse) => return content_policy(),
        Some(Fault::LostWebhook) | None => {}
    }

    let request: OpenAiRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_json",
                &format!("We could not parse the JSON body of your request: {error}"),
            )
        }
    };
    let invalid = |message: &str| {
        openai_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_value",
            message,
        )
    };
    if request.prompt.trim().is_empty() {
        return invalid("prompt must not be empty.");
    }
    let n = request.n.unwrap_or(1);
    if !(1..=MAX_IMAGES).contains(&n) {
        return invalid("n must be between 1 and 4.");
    }
    let Some(size) = parse_size(request.size.as_deref().unwrap_or("1024x1024")) else {
        return invalid("size must be WIDTHxHEIGHT, each 64 to 2048.");
    };
    let as_url = match request.response_format.as_deref() {
        None | Some("b64_json") => false,
        Some("url") => true,
        Some(_) => return invalid("response_format must be b64_json or url."),
    };
    if mentions_nsfw(&request.prompt) {
        return content_policy();
    }

    let seed = request.seed.unwrap_or_else(rand::random);
    let as_url = as_url || !matches!(outputs, Outputs::Files);
    let Some(images) = render(request.prompt, request.style, seed, n + extra, size).await else {
        return openai_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "server_error",
            "Rendering failed.",
        );
    };
    let base = server.base(&headers);
    let data: Vec<Value> = images
        .into_iter()
        .map(|png| {
            if as_url {
                json!({ "url": server.output_url(&base, png, &outputs) })
            } else {
                json!({ "b64_json": base64::engine::general_purpose::STANDARD.encode(png) })
            }
        })
        .collect();
    Json(json!({ "created": unix_now(), "data": data, "seed": seed })).into_response()
}

fn content_policy() -> Response {
    openai_error(
        StatusCode::BAD_REQUEST,
        "image_generation_user_error",
        "content_policy_violation",
        "Your request was rejected as a result of our safety system.",
    )
}

// ----------------------------------------------------------- Predictions

/// One prediction as the server remembers it.
struct Record {
    id: String,
    version: Value,
    input: Value,
    status: &'static str,
    output: Option<Vec<String>>,
    error: Option<String>,
    webhook: Option<url::Url>,
    lost_webhook: bool,
    /// `urls.get` and `urls.cancel`.
    get_url: String,
    cancel_url: String,
}

impl Record {
    fn terminal(&self) -> bool {
        matches!(self.status, "succeeded" | "failed" | "canceled")
    }
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "version": self.version,
            "input": self.input,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "logs": "",
            "metrics": {},
            "urls": { "get": self.get_url, "cancel": self.cancel_url },
        })
    }
}

/// How a submitted prediction will end, decided at submission.
#[derive(Default)]
struct Plan {
    extra_delay: Duration,
    refuse: bool,
    fail: bool,
    lost_webhook: bool,
    outputs: Outputs,
    extra: u32,
}

fn replicate_error(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = json!({ "title": title, "detail": detail, "status": status.as_u16() });
    (status, Json(body)).into_response()
}

fn unauthenticated() -> Response {
    replicate_error(
        StatusCode::UNAUTHORIZED,
        "Unauthenticated",
        "You did not pass a valid authentication token",
    )
}

#[derive(Deserialize)]
struct PredictionRequest {
    #[serde(default)]
    version: Value,
    input: PredictionInput,
    webhook: Option<String>,
}

#[derive(Deserialize)]
struct PredictionInput {
    prompt: String,
    num_outputs: Option<u32>,
    aspect_ratio: Option<String>,
    seed: Option<u64>,
    style: Option<String>,
}

async fn prediction_create(
    State(server): State<ModelServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !server.authorized(&headers) {
        return unauthenticated();
    }
    server.inner.submissions.fetch_add(1, Ordering::SeqCst);
    let mut plan = Plan::default();
    match server.next_fault() {
        Some(Fault::Latency(delay)) => plan.extra_delay = delay,
        Some(Fault::TooManyRequests) => {
            let mut response = replicate_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Request was throttled",
                "Request was throttled. Expected available in 1 second.",
            );
            response.headers_mut().extend(retry_after());
            return response;
        }
        Some(Fault::ServerError) => {
            return replicate_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "Something went wrong.",
            )
        }
        Some(Fault::Hang) => {
            tokio::time::sleep(HANG).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Some(Fault::MalformedJson) => return malformed_json(),
        Some(Fault::Refuse) => plan.refuse = true,
        Some(Fault::PredictionFails) => plan.fail = true,
        Some(Fault::LostWebhook) => plan.lost_webhook = true,
        Some(Fault::OutputUrl(url)) => plan.outputs = Outputs::Url(url),
        Some(Fault::RedirectOutput(url)) => plan.outputs = Outputs::Redirect(url),
        Some(Fault::ExtraImages(n)) => plan.extra = n,
        Some(Fault::OversizedAnswer(bytes)) => return oversized(bytes),
        None => {}
    }

    let request: PredictionRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return replicate_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid input",
                &format!("The request body is not a valid prediction: {error}"),
            )
        }
    };
    let invalid =
        |detail: &str| replicate_error(StatusCode::UNPROCESSABLE_ENTITY, "Invalid input", detail);
    let input = &request.input;
    if input.prompt.trim().is_empty() {
        return invalid("input.prompt must not be empty");
    }
    let n = input.num_outputs.unwrap_or(1);
    if !(1..=MAX_IMAGES).contains(&n) {
        return invalid("input.num_outputs must be between 1 and 4");
    }
    let Some(aspect) = AspectRatio::parse(input.aspect_ratio.as_deref().unwrap_or("1:1")) else {
        return invalid("input.aspect_ratio must be one of 1:1, 4:3, 3:4, 16:9, 9:16");
    };
    let webhook = match request.webhook.as_deref().map(url::Url::parse) {
        None => None,
        Some(Ok(url)) if matches!(url.scheme(), "http" | "https") => Some(url),
        Some(_) => return invalid("webhook must be an http(s) URL"),
    };
    plan.refuse |= mentions_nsfw(&input.prompt);

    let base = server.base(&headers);
    let id = uuid::Uuid::new_v4().simple().to_string();
    let url_of = |segments: &[&str]| {
        crate::endpoint(&base, segments)
            .map(String::from)
            .unwrap_or_default()
    };
    // The input as received, minus a possibly huge inline reference image.
    let mut input_json = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("input").cloned())
        .unwrap_or(Value::Null);
    if let Some(map) = input_json.as_object_mut() {
        map.remove("image");
    }
    let record = Record {
        id: id.clone(),
        version: request.version.clone(),
        input: input_json,
        status: "starting",
        output: None,
        error: None,
        webhook,
        lost_webhook: plan.lost_webhook,
        get_url: url_of(&["v1", "predictions", &id]),
        cancel_url: url_of(&["v1", "predictions", &id, "cancel"]),
    };
    let answer = record.to_json();
    lock(&server.inner.predictions).insert(id.clone(), record);

    let job = Job {
        prompt: input.prompt.clone(),
        style: input.style.clone(),
        seed: input.seed.unwrap_or_else(rand::random),
        n: n + plan.extra,
        size: aspect.size(server.inner.base_size.load(Ordering::SeqCst)),
    };
    tokio::spawn(run_prediction(server.clone(), id, base, job, plan));
    (StatusCode::CREATED, Json(answer)).into_response()
}

struct Job {
    prompt: String,
    style: Option<String>,
    seed: u64,
    n: u32,
    size: (u32, u32),
}

/// starting → processing → succeeded/failed, then the webhook.
async fn run_prediction(server: ModelServer, id: String, base: url::Url, job: Job, plan: Plan) {
    let delay = server.processing_delay();
    tokio::time::sleep(delay / 2).await;
    {
        let mut predictions = lock(&server.inner.predictions);
        match predictions.map.get_mut(&id) {
            Some(record) if record.status == "starting" => record.status = "processing",
            _ => return,
        }
    }
    tokio::time::sleep(delay / 2 + plan.extra_delay).await;
    if plan.refuse {
        server
            .finish(
                &id,
                "failed",
                None,
                Some(
                    "NSFW content detected. Try running it again, or try a different prompt."
                        .into(),
                ),
            )
            .await;
        return;
    }
    if plan.fail {
        server
            .finish(
                &id,
                "failed",
                None,
                Some("Prediction failed: the model raised an error (CUDA out of memory).".into()),
            )
            .await;
        return;
    }
    // Cancelled meanwhile: do not bother rendering.
    if lock(&server.inner.predictions)
        .map
        .get(&id)
        .is_none_or(Record::terminal)
    {
        return;
    }
    match render(job.prompt, job.style, job.seed, job.n, job.size).await {
        Some(images) => {
            let urls = images
                .into_iter()
                .map(|png| server.output_url(&base, png, &plan.outputs))
                .collect();
            server.finish(&id, "succeeded", Some(urls), None).await;
        }
        None => {
            server
                .finish(&id, "failed", None, Some("Rendering failed.".into()))
                .await;
        }
    }
}

impl ModelServer {
    /// Moves a prediction to a terminal status (unless it already is: the
    /// first of completion and cancel wins) and sends its webhook.
    async fn finish(
        &self,
        id: &str,
        status: &'static str,
        output: Option<Vec<String>>,
        error: Option<String>,
    ) {
        let delivery = {
            let mut predictions = lock(&self.inner.predictions);
            let Some(record) = predictions.map.get_mut(id) else {
                return;
            };
            if record.terminal() {
                return;
            }
            record.status = status;
            record.output = output;
            record.error = error;
            match (&record.webhook, record.lost_webhook) {
                (Some(url), false) => Some((url.clone(), record.to_json())),
                _ => None,
            }
        };
        if let Some((url, body)) = delivery {
            self.send_webhook(url, body).await;
        }
    }

    /// POSTs a signed webhook once (no retries: polling is the fallback).
    async fn send_webhook(&self, url: url::Url, body: Value) {
        let body = match serde_json::to_vec(&body) {
            Ok(body) => body,
            Err(_) => return,
        };
        let webhook_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let timestamp = unix_now();
        let Some(signature) =
            sign_webhook(&self.inner.webhook_secret, &webhook_id, timestamp, &body)
        else {
            tracing::warn!("the webhook secret is not whsec_<base64>; webhook not sent");
            return;
        };
        let sent = self
            .inner
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(_) => {
                self.inner.webhooks_sent.fetch_add(1, Ordering::SeqCst);
            }
            Err(error) => {
                tracing::warn!(error = %crate::error_chain(&error), "webhook delivery failed");
            }
        }
    }
}

async fn prediction_get(
    State(server): State<ModelServer>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !server.authorized(&headers) {
        return unauthenticated();
    }
    server.inner.polls.fetch_add(1, Ordering::SeqCst);
    let fault = lock(&server.inner.poll_faults).pop();
    match fault {
        Some(Fault::Latency(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::TooManyRequests) => {
            let mut response = replicate_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Request was throttled",
                "Request was throttled.",
            );
            response.headers_mut().extend(retry_after());
            return response;
        }
        Some(Fault::ServerError) => {
            return replicate_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "Something went wrong.",
            )
        }
        Some(Fault::Hang) => {
            tokio::time::sleep(HANG).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Some(Fault::MalformedJson) => return malformed_json(),
        Some(Fault::OversizedAnswer(bytes)) => return oversized(bytes),
        _ => {}
    }
    let answer = lock(&server.inner.predictions)
        .map
        .get(&id)
        .map(Record::to_json);
    match answer {
        Some(answer) => Json(answer).into_response(),
        None => replicate_error(StatusCode::NOT_FOUND, "Not found", "Not found."),
    }
}

async fn prediction_cancel(
    State(server): State<ModelServer>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !server.authorized(&headers) {
        return unauthenticated();
    }
    server.inner.cancels.fetch_add(1, Ordering::SeqCst);
    server.finish(&id, "canceled", None, None).await;
    let answer = lock(&server.inner.predictions)
        .map
        .get(&id)
        .map(Record::to_json);
    match answer {
        Some(answer) => Json(answer).into_response(),
        None => replicate_error(StatusCode::NOT_FOUND, "Not found", "Not found."),
    }
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
