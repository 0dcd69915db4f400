//! Asynchronous providers in the Replicate predictions shape.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use tokio::sync::Notify;

use crate::outbound::{base64_len, read_capped, refused_by_guard, FetchError, Outbound, ReadError};
use crate::{
    error_chain, redact, snippet, transport_retryable, AspectRatio, Capabilities,
    GenerationRequest, ImageData, ImageModel, JobHooks, Outcome,
};

/// The largest prediction answer accepted (JSON with output URLs and the
/// model's logs), plus room for a reference image the provider echoes in
/// `input`.
pub const ANSWER_CAP: usize = 4 * 1024 * 1024;

/// What the user sees when the provider's safety checker fails a prediction.
pub const REFUSED_REASON: &str = "The model's safety filter refused this prompt.";

/// Webhooks older or newer than this (seconds) are refused as replays.
pub const WEBHOOK_TOLERANCE_SECS: i64 = 300;

/// Settings for one predictions-style model.
#[derive(Clone)]
pub struct Predictions {
    pub capabilities: crate::Capabilities,
    /// e.g. `https://api.replicate.com` (requests go to `{base}/v1/predictions`).
    pub base_url: url::Url,
    pub api_token: String,
    /// Sent as `version` (or model reference) in the submission.
    pub version: String,
    /// Where the provider should POST status changes (our webhook route), if
    /// reachable; polling is the fallback and the source of truth.
    pub webhook_url: Option<url::Url>,
    pub poll_interval: std::time::Duration,
    /// Give up (retryable failure) after this long.
    pub deadline: std::time::Duration,
    /// Every request goes through it (see [`Outbound`]).
    pub http: Outbound,
    pub wakeups: Wakeups,
}

impl Predictions {
    /// A model with [`Predictions::default_capabilities`], no webhook, a 2 s
    /// poll interval and a 10 minute deadline; adjust with the `with_*`
    /// methods or the public fields.
    pub fn new(
        base_url: url::Url,
        api_token: impl Into<String>,
        version: impl Into<String>,
        http: Outbound,
        wakeups: Wakeups,
    ) -> Self {
        Self {
            capabilities: Self::default_capabilities(),
            base_url,
            api_token: api_token.into(),
            version: version.into(),
            webhook_url: None,
            poll_interval: Duration::from_secs(2),
            deadline: Duration::from_secs(600),
            http,
            wakeups,
        }
    }

    /// Every aspect ratio at 1024 px, up to 4 images, negative prompt and
    /// seed, no reference image, no style presets.
    pub fn default_capabilities() -> Capabilities {
        Capabilities {
            aspect_ratios: AspectRatio::ALL.to_vec(),
            base_size: 1024,
            max_images: 4,
            negative_prompt: true,
            seed: true,
            reference_image: false,
            style_presets: vec![],
        }
    }

    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }
    pub fn with_webhook_url(mut self, url: url::Url) -> Self {
        self.webhook_url = Some(url);
        self
    }
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The submission body. Optional inputs are sent only when set; a
    /// reference image goes as a `data:` URI in `image` with
    /// `prompt_strength`, the names most image-to-image models on Replicate
    /// use, and only if the model declares reference support.
    fn submission(&self, request: &GenerationRequest) -> serde_json::Value {
        let mut input = serde_json::Map::new();
        input.insert("prompt".into(), request.prompt.as_str().into());
        if let Some(negative) = &request.negative_prompt {
            input.insert("negative_prompt".into(), negative.as_str().into());
        }
        input.insert("num_outputs".into(), request.count.into());
        input.insert("aspect_ratio".into(), request.aspect_ratio.label().into());
        if let Some(seed) = request.seed {
            input.insert("seed".into(), seed.into());
        }
        if let Some(style) = &request.style {
            input.insert("style".into(), style.as_str().into());
        }
        if let Some(reference) = request
            .reference
            .as_ref()
            .filter(|_| self.capabilities.reference_image)
        {
            let data = base64::engine::general_purpose::STANDARD.encode(&reference.png);
            input.insert(
                "image".into(),
                format!("data:image/png;base64,{data}").into(),
            );
            input.insert(
                "prompt_strength".into(),
                f64::from(reference.strength).into(),
            );
        }
        let mut body = serde_json::json!({
            "version": self.version,
            "input": input,
        });
        if let (Some(map), Some(webhook)) = (body.as_object_mut(), &self.webhook_url) {
            map.insert("webhook".into(), webhook.as_str().into());
            map.insert(
                "webhook_events_filter".into(),
                serde_json::json!(["completed"]),
            );
        }
        body
    }

    /// The largest answer accepted: [`ANSWER_CAP`], plus the reference
    /// image in base64 when one is sent (providers echo their input).
    fn answer_cap(&self, request: &GenerationRequest) -> usize {
        let echoed = request
            .reference
            .as_ref()
            .filter(|_| self.capabilities.reference_image)
            .map_or(0, |r| base64_len(r.png.len()) + 64);
        ANSWER_CAP.saturating_add(echoed)
    }

    fn failed(&self, retryable: bool, message: String) -> Outcome {
        Outcome::Failed {
            retryable,
            message: redact(&message, &self.api_token),
        }
    }

    /// Submits; `Err` is the outcome to return (nothing was recorded).
    /// A malformed answer is retryable like any other failed submission,
    /// although the provider may have accepted it: without an id we cannot
    /// follow it, and at worst one generation is paid twice.
    async fn submit(&self, request: &GenerationRequest) -> Result<String, Outcome> {
        let url = crate::endpoint(&self.base_url, &["v1", "predictions"])
            .map_err(|message| self.failed(false, message))?;
        let response = self
            .http
            .post(url)
            .map_err(|message| self.failed(false, message))?
            .bearer_auth(&self.api_token)
            .json(&self.submission(request))
            .send()
            .await
            .map_err(|error| {
                self.failed(
                    transport_retryable(&error) && !refused_by_guard(&error),
                    format!("submitting the prediction failed: {}", error_chain(&error)),
                )
            })?;
        let status = response.status();
        let body = read_capped(response, self.answer_cap(request))
            .await
            .map_err(|error| {
                let FetchError { retryable, message } = error.context("the submission answer");
                self.failed(retryable, message)
            })?;
        if !status.is_success() {
            return Err(self.failed(
                retryable_status(status),
                format!(
                    "submitting the prediction answered HTTP {status}: {}",
                    snippet(&String::from_utf8_lossy(&body), 300)
                ),
            ));
        }
        match serde_json::from_slice::<Prediction>(&body) {
            Ok(prediction) if !prediction.id.is_empty() => Ok(prediction.id),
            Ok(_) => Err(self.failed(true, "the submission answer has an empty id".into())),
            Err(error) => Err(self.failed(
                true,
                format!(
                    "the submission answer is not the expected JSON ({error}): {}",
                    snippet(&String::from_utf8_lossy(&body), 200)
                ),
            )),
        }
    }

    /// One status request. `Err` is a permanent error (the token was
    /// revoked, the prediction does not exist); transient ones are ridden
    /// out until the deadline.
    async fn poll(&self, id: &str, request: &GenerationRequest) -> Result<Polled, Outcome> {
        let url = crate::endpoint(&self.base_url, &["v1", "predictions", id])
            .map_err(|message| self.failed(false, message))?;
        let get = self
            .http
            .get(url)
            .map_err(|message| self.failed(false, message))?;
        let response = match get.bearer_auth(&self.api_token).send().await {
            Ok(response) => response,
            Err(error) => {
                let message = format!("polling failed: {}", error_chain(&error));
                if refused_by_guard(&error) {
                    return Err(self.failed(false, message));
                }
                return Ok(Polled::Transient(message));
            }
        };
        let status = response.status();
        let body = match read_capped(response, self.answer_cap(request)).await {
            Ok(body) => body,
            Err(error @ ReadError::TooLarge { .. }) => {
                return Err(self.failed(false, error.context("the poll answer").message))
            }
            Err(error) => return Ok(Polled::Transient(error.context("the poll answer").message)),
        };
        if !status.is_success() {
            let message = format!(
                "polling the prediction answered HTTP {status}: {}",
                snippet(&String::from_utf8_lossy(&body), 300)
            );
            if retryable_status(status) {
                return Ok(Polled::Transient(message));
            }
            return Err(self.failed(false, message));
        }
        match serde_json::from_slice::<Prediction>(&body) {
            Ok(prediction) => Ok(match self.settle(prediction, request) {
                Some(outcome) => Polled::Done(outcome),
                None => Polled::Running,
            }),
            Err(error) => Ok(Polled::Transient(format!(
                "the poll answer is not a prediction ({error}): {}",
                snippet(&String::from_utf8_lossy(&body), 200)
            ))),
        }
    }

    /// The outcome a prediction's status means, `None` while it runs.
    fn settle(&self, prediction: Prediction, request: &GenerationRequest) -> Option<Outcome> {
        match prediction.status.as_str() {
            "succeeded" => {
                let urls: Vec<&str> = match &prediction.output {
                    Some(serde_json::Value::String(url)) => vec![url.as_str()],
                    Some(serde_json::Value::Array(items)) => {
                        items.iter().filter_map(serde_json::Value::as_str).collect()
                    }
                    _ => vec![],
                };
                // Never more than was asked for (and paid): the extra URLs
                // are not fetched.
                if urls.len() > usize::from(request.count) {
                    return Some(self.failed(
                        false,
                        format!(
                            "the prediction has {} outputs, more than the {} requested",
                            urls.len(),
                            request.count
                        ),
                    ));
                }
                let images: Result<Vec<ImageData>, _> = urls
                    .iter()
                    .map(|url| url::Url::parse(url).map(ImageData::Url))
                    .collect();
                if let Ok(images) = &images {
                    for image in images {
                        if let ImageData::Url(url) = image {
                            if let Err(refused) = self.http.check_output(url) {
                                return Some(self.failed(
                                    false,
                                    format!("the prediction output URL is refused: {refused}"),
                                ));
                            }
                        }
                    }
                }
                // Retryable like any malformed answer; the queue bounds it.
                Some(match images {
                    Ok(images) if !images.is_empty() => Outcome::Succeeded {
                        images,
                        seed: request.seed,
                    },
                    Ok(_) => self.failed(true, "the prediction succeeded without output".into()),
                    Err(error) => self.failed(
                        true,
                        format!("the prediction output has a bad URL: {error}"),
                    ),
                })
            }
            "failed" => {
                let error = match &prediction.error {
                    Some(serde_json::Value::String(text)) => text.clone(),
                    Some(serde_json::Value::Null) | None => "no error given".into(),
                    Some(other) => other.to_string(),
                };
                Some(if is_safety_error(&error) {
                    Outcome::Refused {
                        reason: REFUSED_REASON.into(),
                    }
                } else {
                    self.failed(
                        false,
                        format!("the prediction failed: {}", snippet(&error, 300)),
                    )
                })
            }
            "canceled" | "cancelled" => Some(Outcome::Cancelled),
            // "starting", "processing", and anything new: keep waiting; the
            // deadline bounds it.
            _ => None,
        }
    }

    /// Best effort: a prediction we stop waiting for should stop costing.
    async fn cancel(&self, id: &str) {
        let Ok(url) = crate::endpoint(&self.base_url, &["v1", "predictions", id, "cancel"]) else {
            return;
        };
        let Ok(post) = self.http.post(url) else {
            return;
        };
        match post.bearer_auth(&self.api_token).send().await {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                tracing::warn!(prediction = id, status = %response.status(), "cancelling the prediction failed");
            }
            Err(error) => {
                tracing::warn!(prediction = id, error = %error_chain(&error), "cancelling the prediction failed");
            }
        }
    }
}

fn retryable_status(status: reqwest::StatusCode) -> bool {
    status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// Whether a failed prediction's error is the provider's safety checker
/// (Replicate models word it "NSFW content detected" and the like).
fn is_safety_error(error: &str) -> bool {
    let error = error.to_lowercase();
    ["nsfw", "safety", "content policy", "sensitive content"]
        .iter()
        .any(|needle| error.contains(needle))
}

/// What one poll found.
enum Polled {
    Done(Outcome),
    Running,
    /// A transient error, kept for the deadline's message.
    Transient(String),
}

#[derive(Deserialize)]
struct Prediction {
    #[serde(default)]
    id: String,
    #[serde(default)]
    status: String,
    output: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
}

#[async_trait::async_trait]
impl ImageModel for Predictions {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }
    fn backend(&self) -> &'static str {
        "predictions"
    }

    /// Submits (or resumes `resume_external_id`), then polls: once at once
    /// (a webhook may have come before we listened), then whenever a webhook
    /// wakes us or `poll_interval` passes. `hooks.cancelled()` is checked
    /// before every poll; to cancel without waiting for the next poll, the
    /// queue can call [`Wakeups::wake`] with the external id.
    async fn generate(&self, request: &GenerationRequest, hooks: &dyn JobHooks) -> Outcome {
        let started = Instant::now();
        // A deadline too far to represent is as good as a year.
        let deadline = started
            .checked_add(self.deadline)
            .unwrap_or_else(|| started + Duration::from_secs(365 * 24 * 3600));
        let id = match &request.resume_external_id {
            Some(id) => id.clone(),
            None => match self.submit(request).await {
                Ok(id) => {
                    hooks.submitted(&id).await;
                    id
                }
                Err(outcome) => return outcome,
            },
        };
        let waiter = self.wakeups.register(&id);
        let mut last_error: Option<String> = None;
        loop {
            if hooks.cancelled().await {
                self.cancel(&id).await;
                return Outcome::Cancelled;
            }
            let now = Instant::now();
            if now >= deadline {
                self.cancel(&id).await;
                let last = last_error
                    .map(|e| format!(" (last poll error: {e})"))
                    .unwrap_or_default();
                return self.failed(
                    true,
                    format!(
                        "prediction {id} gave no result within {} s{last}",
                        self.deadline.as_secs_f32()
                    ),
                );
            }
            // A poll that hangs must not outlive the deadline either.
            match tokio::time::timeout_at(deadline.into(), self.poll(&id, request)).await {
                Ok(Ok(Polled::Done(outcome)) | Err(outcome)) => return outcome,
                Ok(Ok(Polled::Running)) => last_error = None,
                Ok(Ok(Polled::Transient(error))) => {
                    let error = redact(&error, &self.api_token);
                    tracing::debug!(prediction = %id, %error, "poll failed; polling again");
                    last_error = Some(error);
                }
                Err(_) => last_error = Some("the poll did not answer in time".into()),
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            tokio::select! {
                () = waiter.notified() => {}
                () = tokio::time::sleep(self.poll_interval.min(remaining)) => {}
            }
        }
    }

    async fn fetch_output(&self, url: &url::Url, max_bytes: usize) -> Result<Vec<u8>, FetchError> {
        self.http
            .fetch_output(url, max_bytes)
            .await
            .map_err(|e| FetchError {
                retryable: e.retryable,
                message: redact(&e.message, &self.api_token),
            })
    }
}

/// Wakes a waiting back-end when a verified webhook for its prediction
/// arrives in this process (other processes fall back to polling).
#[derive(Clone, Default)]
pub struct Wakeups {
    waiting: Arc<Mutex<HashMap<String, Waiting>>>,
}

struct Waiting {
    notify: Arc<Notify>,
    /// Back-ends waiting on this id (normally one).
    count: usize,
}

impl Wakeups {
    /// Called by the webhook route after verification.
    pub fn wake(&self, prediction_id: &str) {
        if let Some(waiting) = self.lock().get(prediction_id) {
            // `notify_one` keeps a permit if the waiter is busy polling, so
            // a webhook that lands between two waits is not lost.
            waiting.notify.notify_one();
        }
    }

    /// Starts listening for `prediction_id`; stops when the guard drops.
    pub fn register(&self, prediction_id: &str) -> WakeupGuard {
        let mut waiting = self.lock();
        let entry = waiting
            .entry(prediction_id.to_owned())
            .or_insert_with(|| Waiting {
                notify: Arc::new(Notify::new()),
                count: 0,
            });
        entry.count += 1;
        WakeupGuard {
            wakeups: self.clone(),
            id: prediction_id.to_owned(),
            notify: entry.notify.clone(),
        }
    }

    /// How many prediction ids are being waited for (for metrics and tests).
    pub fn waiting(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        // The map stays consistent even if a holder panicked.
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A registration with [`Wakeups`]; dropping it unregisters.
pub struct WakeupGuard {
    wakeups: Wakeups,
    id: String,
    notify: Arc<Notify>,
}

impl WakeupGuard {
    /// Completes when [`Wakeups::wake`] is called for this id (at once if it
    /// was called since the last wait).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

impl Drop for WakeupGuard {
    fn drop(&mut self) {
        let mut waiting = self.wakeups.lock();
        if let Some(entry) = waiting.get_mut(&self.id) {
            entry.count = entry.count.saturating_sub(1);
            if entry.count == 0 {
                waiting.remove(&self.id);
            }
        }
    }
}

/// `webhook-id`s of webhooks already accepted, remembered for as long as a
/// replay could still pass the timestamp check (twice
/// [`WEBHOOK_TOLERANCE_SECS`] after it arrived), so a replayed webhook is
/// ignored.
///
/// The set is in this process's memory and bounded
/// ([`SeenWebhooks::CAPACITY`]): another process does not know what this one
/// saw, and past the capacity the oldest ids are forgotten early. Either way
/// a replay can at most wake a poller once more; polling stays the source of
/// truth.
#[derive(Clone, Default)]
pub struct SeenWebhooks {
    inner: Arc<Mutex<SeenInner>>,
}

#[derive(Default)]
struct SeenInner {
    ids: HashSet<String>,
    /// (forget at, id), oldest first.
    order: VecDeque<(i64, String)>,
}

impl SeenWebhooks {
    /// At most this many ids are remembered.
    pub const CAPACITY: usize = 10_000;

    /// Records `webhook_id`, received at `now_unix`; `false` if it was
    /// already recorded (a replay). Call it only after the signature
    /// checked out, so strangers cannot fill the set.
    pub fn first_time(&self, webhook_id: &str, now_unix: i64) -> bool {
        let mut seen = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while let Some((forget_at, _)) = seen.order.front() {
            if *forget_at >= now_unix && seen.order.len() < Self::CAPACITY {
                break;
            }
            if let Some((_, id)) = seen.order.pop_front() {
                seen.ids.remove(&id);
            }
        }
        if !seen.ids.insert(webhook_id.to_owned()) {
            return false;
        }
        let forget_at = now_unix.saturating_add(2 * WEBHOOK_TOLERANCE_SECS);
        seen.order.push_back((forget_at, webhook_id.to_owned()));
        true
    }

    /// How many ids are remembered (for tests).
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .ids
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a webhook was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("missing or malformed signature headers")]
    Malformed,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the timestamp is too old or in the future")]
    Stale,
}

fn webhook_mac(
    secret: &str,
    webhook_id: &str,
    timestamp: &str,
    body: &[u8],
) -> Option<Hmac<Sha256>> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// The `webhook-signature` header value (`v1,<base64>`) for a webhook, as
/// [`verify_webhook`] checks it; `None` if `secret` is not base64 (with or
/// without the `whsec_` prefix).
pub fn sign_webhook(secret: &str, webhook_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let mac = webhook_mac(secret, webhook_id, &timestamp.to_string(), body)?;
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    Some(format!("v1,{signature}"))
}

/// Verifies a webhook signed the way Replicate signs (Standard Webhooks:
/// `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256
/// of "{id}.{timestamp}.{body}">`, secret `whsec_<base64>`), within 5 minutes
/// of `now_unix`; returns the prediction id from the body.
///
/// The header may list several space-separated signatures (during secret
/// rotation); one match is enough, compared in constant time. A secret that
/// is not valid base64 matches nothing (`BadSignature`): it is a
/// configuration error, but the sender is refused all the same.
pub fn verify_webhook(
    secret: &str,
    webhook_id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<String, WebhookError> {
    if webhook_id.is_empty() {
        return Err(WebhookError::Malformed);
    }
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::Malformed)?;
    if now_unix.abs_diff(sent) > WEBHOOK_TOLERANCE_SECS.unsigned_abs() {
        return Err(WebhookError::Stale);
    }
    let signatures: Vec<&str> = signature_header
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .collect();
    if signatures.is_empty() {
        return Err(WebhookError::Malformed);
    }
    let mac = webhook_mac(secret, webhook_id, timestamp.trim(), body)
        .ok_or(WebhookError::BadSignature)?;
    let matched = signatures.iter().any(|signature| {
        base64::engine::general_purpose::STANDARD
            .decode(signature)
            .is_ok_and(|bytes| mac.clone().verify_slice(&bytes).is_ok())
    });
    if !matched {
        return Err(WebhookError::BadSignature);
    }
    #[derive(Deserialize)]
    struct Body {
        id: String,
    }
    serde_json::from_slice::<Body>(body)
        .map(|body| body.id)
        .map_err(|_| WebhookError::Malformed)
}
