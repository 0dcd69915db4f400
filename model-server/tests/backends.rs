//! Every back-end against the project's model server on loopback, with each
//! injectable fault; webhook verification; the built-in generator.

#![allow(clippy::unwrap_used)] // test helpers may unwrap

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use uni1_model_server::{Fault, ModelServer};
use uni1_models::builtin::Builtin;
use uni1_models::openai::OpenAiImages;
use uni1_models::predictions::{
    sign_webhook, verify_webhook, Predictions, SeenWebhooks, Wakeups, WebhookError,
    WEBHOOK_TOLERANCE_SECS,
};
use uni1_models::{
    AspectRatio, Capabilities, GenerationRequest, ImageData, ImageModel, JobHooks, NoHooks,
    Outbound, Outcome,
};

const KEY: &str = "sk-test-key-0123456789";
/// `whsec_` + base64 of 32 bytes.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Starts a model server on a free loopback port (TcpListener + axum::serve
/// in a task); returns its handle and base URL.
async fn start(server: ModelServer) -> (ModelServer, url::Url) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base: url::Url = format!("http://{}/", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    server.set_public_base(base.clone());
    let router = server.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (server, base)
}

fn server() -> ModelServer {
    ModelServer::new(KEY, SECRET).with_base_size(128)
}

/// Small images keep the tests fast.
fn small_caps() -> Capabilities {
    Capabilities {
        base_size: 128,
        ..OpenAiImages::default_capabilities()
    }
}

fn request(prompt: &str, count: u8) -> GenerationRequest {
    GenerationRequest {
        prompt: prompt.into(),
        negative_prompt: None,
        aspect_ratio: AspectRatio::Square,
        count,
        seed: Some(42),
        style: None,
        reference: None,
        resume_external_id: None,
    }
}

/// The outbound client of a model at `base` (loopback: allowed, since the
/// base is on loopback), fetching outputs from `base`'s host only.
fn outbound(base: &url::Url, timeout: Duration) -> Outbound {
    Outbound::for_model(base, &[], timeout).unwrap()
}

fn openai(base: &url::Url, key: &str, timeout: Duration) -> OpenAiImages {
    OpenAiImages::new(base.clone(), key, "uni1-builtin", outbound(base, timeout))
        .with_capabilities(small_caps())
}

fn predictions(base: &url::Url, wakeups: Wakeups) -> Predictions {
    Predictions::new(
        base.clone(),
        KEY,
        "uni1/builtin:1",
        outbound(base, Duration::from_secs(5)),
        wakeups,
    )
    .with_capabilities(small_caps())
    .with_poll_interval(Duration::from_millis(50))
    .with_deadline(Duration::from_secs(10))
}

/// Whether the imaging helper's renderer has landed (it returned empty
/// PNGs while it was a skeleton).
fn imaging_ready() -> bool {
    !uni1_imaging::render_builtin_png("probe", 1, 64, 64, None).is_empty()
}

fn assert_png(bytes: &[u8]) {
    if imaging_ready() {
        assert!(bytes.starts_with(PNG_MAGIC), "not a PNG");
    }
}

/// The image bytes, decoding base64 and fetching URLs through `model`.
async fn bytes_of(model: &dyn ImageModel, image: &ImageData) -> Vec<u8> {
    match image {
        ImageData::Bytes(bytes) => bytes.clone(),
        ImageData::Base64(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
        ImageData::Url(url) => model.fetch_output(url, 10 << 20).await.unwrap(),
    }
}

/// A plain client for talking to the model server directly.
fn direct() -> reqwest::Client {
    reqwest::Client::new()
}

fn assert_retryable(outcome: &Outcome) {
    match outcome {
        Outcome::Failed { retryable, message } => assert!(*retryable, "not retryable: {message}"),
        other => panic!("expected a retryable failure, got {other:?}"),
    }
}

fn assert_permanent(outcome: &Outcome) {
    match outcome {
        Outcome::Failed { retryable, message } => assert!(!*retryable, "retryable: {message}"),
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

fn assert_no_key(outcome: &Outcome) {
    if let Outcome::Failed { message, .. } = outcome {
        assert!(
            !message.contains(KEY),
            "the message leaks the key: {message}"
        );
    }
}

// ---------------------------------------------------------------- OpenAI

#[tokio::test]
async fn openai_b64_answer() {
    let (server, base) = start(server()).await;
    let model = openai(&base, KEY, Duration::from_secs(10));
    let outcome = model.generate(&request("a lighthouse", 2), &NoHooks).await;
    let Outcome::Succeeded { images, seed } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(seed, Some(42));
    assert_eq!(images.len(), 2);
    for image in &images {
        assert!(matches!(image, ImageData::Base64(_)));
        let bytes = bytes_of(&model, image).await;
        assert!(!bytes.is_empty());
        assert_png(&bytes);
    }
    assert_eq!(server.submissions(), 1);
}

#[tokio::test]
async fn openai_url_answer() {
    let (_server, base) = start(server()).await;
    // Ask the server directly for URLs, then follow them with fetch_output.
    let answer: serde_json::Value = direct()
        .post(base.join("v1/images/generations").unwrap())
        .bearer_auth(KEY)
        .json(&serde_json::json!({
            "model": "x", "prompt": "a fox", "n": 3, "size": "128x64", "response_format": "url"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = answer["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for item in data {
        let url: url::Url = item["url"].as_str().unwrap().parse().unwrap();
        assert!(
            url.as_str().starts_with(base.as_str()),
            "{url} not under {base}"
        );
        let bytes = outbound(&base, Duration::from_secs(5))
            .fetch_output(&url, 10 << 20)
            .await
            .unwrap();
        assert!(!bytes.is_empty());
        assert_png(&bytes);
    }
}

/// The back-end parses `url` answers too (a compatible server may ignore
/// `response_format`): a tiny stub answers with a URL on a listed output
/// host; the same answer from a model that does not list it is refused.
#[tokio::test]
async fn openai_parses_url_items() {
    let router = axum::Router::new().route(
        "/v1/images/generations",
        axum::routing::post(|| async {
            axum::Json(serde_json::json!({"data": [{"url": "https://cdn.example/a.png"}]}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base: url::Url = format!("http://{}", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let listed = OpenAiImages {
        http: Outbound::for_model(&base, &["cdn.example".into()], Duration::from_secs(5)).unwrap(),
        ..openai(&base, KEY, Duration::from_secs(5))
    };
    let outcome = listed.generate(&request("x", 1), &NoHooks).await;
    assert_eq!(
        outcome,
        Outcome::Succeeded {
            images: vec![ImageData::Url("https://cdn.example/a.png".parse().unwrap())],
            seed: Some(42),
        }
    );
    let outcome = openai(&base, KEY, Duration::from_secs(5))
        .generate(&request("x", 1), &NoHooks)
        .await;
    assert_refused(&outcome, "not one of this model's output hosts");
}

#[tokio::test]
async fn openai_faults() {
    let (server, base) = start(server()).await;
    let model = openai(&base, KEY, Duration::from_secs(10));
    let req = request("a harbour at dusk", 1);

    server.inject(Fault::TooManyRequests, 1);
    let outcome = model.generate(&req, &NoHooks).await;
    assert_retryable(&outcome);
    assert_no_key(&outcome);

    server.inject(Fault::ServerError, 1);
    assert_retryable(&model.generate(&req, &NoHooks).await);

    server.inject(Fault::MalformedJson, 1);
    assert_retryable(&model.generate(&req, &NoHooks).await);

    server.inject(Fault::Refuse, 1);
    let outcome = model.generate(&req, &NoHooks).await;
    assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");

    server.inject(Fault::Latency(Duration::from_millis(300)), 1);
    let started = Instant::now();
    let outcome = model.generate(&req, &NoHooks).await;
    assert!(matches!(outcome, Outcome::Succeeded { .. }), "{outcome:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // The queue is empty again: a plain success.
    assert!(matches!(
        model.generate(&req, &NoHooks).await,
        Outcome::Succeeded { .. }
    ));
    assert_eq!(server.submissions(), 6);
}

/// Faults apply in injection order; `usize::MAX` times means "always" (the
/// `uni1 model-server --latency-ms` flag) without storing that many copies.
#[tokio::test]
async fn faults_apply_in_order_and_forever() {
    let (server, base) = start(server()).await;
    server.inject(Fault::ServerError, 1);
    server.inject(Fault::Latency(Duration::from_millis(100)), usize::MAX);
    let model = openai(&base, KEY, Duration::from_secs(10));
    assert_retryable(&model.generate(&request("x", 1), &NoHooks).await);
    for _ in 0..3 {
        let started = Instant::now();
        let outcome = model.generate(&request("x", 1), &NoHooks).await;
        assert!(matches!(outcome, Outcome::Succeeded { .. }), "{outcome:?}");
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}

#[tokio::test]
async fn openai_hang_times_out_retryably() {
    let (server, base) = start(server()).await;
    server.inject(Fault::Hang, 1);
    let model = openai(&base, KEY, Duration::from_secs(1));
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        model.generate(&request("x", 1), &NoHooks),
    )
    .await
    .expect("the client timeout fired");
    assert_retryable(&outcome);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn openai_nsfw_prompt_is_refused() {
    let (_server, base) = start(server()).await;
    let outcome = openai(&base, KEY, Duration::from_secs(5))
        .generate(&request("something NSFW please", 1), &NoHooks)
        .await;
    assert_eq!(
        outcome,
        Outcome::Refused {
            reason: "The model's safety filter refused this prompt.".into()
        }
    );
}

#[tokio::test]
async fn openai_wrong_key_is_permanent_and_not_logged() {
    let (server, base) = start(server()).await;
    let wrong = "sk-wrong-key-9876543210";
    let outcome = openai(&base, wrong, Duration::from_secs(5))
        .generate(&request("x", 1), &NoHooks)
        .await;
    assert_permanent(&outcome);
    if let Outcome::Failed { message, .. } = &outcome {
        assert!(message.contains("401"), "{message}");
        assert!(!message.contains(wrong));
    }
    assert_eq!(server.submissions(), 0);
}

/// A provider that echoes the key in its error body: the message masks it.
#[tokio::test]
async fn openai_error_messages_mask_an_echoed_key() {
    let router = axum::Router::new().route(
        "/v1/images/generations",
        axum::routing::post(|headers: HeaderMap| async move {
            let auth = headers["authorization"].to_str().unwrap().to_owned();
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"error": {"code": "invalid_api_key", "message": format!("bad key {auth}")}})),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base: url::Url = format!("http://{}", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let outcome = openai(&base, KEY, Duration::from_secs(5))
        .generate(&request("x", 1), &NoHooks)
        .await;
    assert_permanent(&outcome);
    assert_no_key(&outcome);
}

#[tokio::test]
async fn openai_connection_refused_is_retryable() {
    // Bind then drop: nothing listens on that port any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base: url::Url = format!("http://{}", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    drop(listener);
    let outcome = openai(&base, KEY, Duration::from_secs(5))
        .generate(&request("x", 1), &NoHooks)
        .await;
    assert_retryable(&outcome);
}

// ----------------------------------------------------------- Predictions

/// Records the external id and answers `cancelled()` as told.
#[derive(Default)]
struct Hooks {
    external_id: Mutex<Option<String>>,
    cancel: AtomicBool,
    cancel_checks: AtomicUsize,
}

#[async_trait::async_trait]
impl JobHooks for Hooks {
    async fn submitted(&self, external_id: &str) {
        *self.external_id.lock().unwrap() = Some(external_id.to_owned());
    }
    async fn cancelled(&self) -> bool {
        self.cancel_checks.fetch_add(1, Ordering::SeqCst);
        self.cancel.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Receiver {
    wakeups: Wakeups,
    verified: Arc<Mutex<Vec<String>>>,
}

async fn receive_webhook(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    match verify_webhook(
        SECRET,
        &header("webhook-id"),
        &header("webhook-timestamp"),
        &header("webhook-signature"),
        &body,
        now,
    ) {
        Ok(id) => {
            receiver.verified.lock().unwrap().push(id.clone());
            receiver.wakeups.wake(&id);
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}

/// A webhook receiver like the product's route: verifies, then wakes.
async fn start_receiver(wakeups: Wakeups) -> (url::Url, Arc<Mutex<Vec<String>>>) {
    let verified = Arc::new(Mutex::new(Vec::new()));
    let router = axum::Router::new()
        .route("/hooks/predictions", axum::routing::post(receive_webhook))
        .with_state(Receiver {
            wakeups,
            verified: verified.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hooks/predictions",
        listener.local_addr().unwrap()
    )
    .parse()
    .unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, verified)
}

#[tokio::test]
async fn predictions_succeed_via_webhook() {
    let (server, base) = start(server()).await;
    let wakeups = Wakeups::default();
    let (hook_url, verified) = start_receiver(wakeups.clone()).await;
    // Polling alone would take 30 s: finishing within 10 s needs the webhook.
    let model = predictions(&base, wakeups.clone())
        .with_webhook_url(hook_url)
        .with_poll_interval(Duration::from_secs(30))
        .with_deadline(Duration::from_secs(60));
    let hooks = Hooks::default();
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        model.generate(&request("a quiet forest", 2), &hooks),
    )
    .await
    .expect("the webhook woke the back-end before the 30 s poll");
    let Outcome::Succeeded { images, seed } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(seed, Some(42));
    assert_eq!(images.len(), 2);
    for image in &images {
        assert!(matches!(image, ImageData::Url(_)));
        let bytes = bytes_of(&model, image).await;
        assert!(!bytes.is_empty());
        assert_png(&bytes);
    }
    let id = hooks.external_id.lock().unwrap().clone().unwrap();
    assert_eq!(*verified.lock().unwrap(), vec![id]);
    assert_eq!(server.webhooks_sent(), 1);
    assert_eq!(server.submissions(), 1);
    assert_eq!(wakeups.waiting(), 0, "the registration is removed");
}

#[tokio::test]
async fn predictions_lost_webhook_still_succeed_by_polling() {
    let (server, base) = start(server()).await;
    let wakeups = Wakeups::default();
    let (hook_url, verified) = start_receiver(wakeups.clone()).await;
    server.inject(Fault::LostWebhook, 1);
    let model = predictions(&base, wakeups).with_webhook_url(hook_url);
    let outcome = model.generate(&request("dunes", 1), &NoHooks).await;
    assert!(matches!(outcome, Outcome::Succeeded { .. }), "{outcome:?}");
    assert_eq!(server.webhooks_sent(), 0);
    assert!(verified.lock().unwrap().is_empty());
    assert!(server.polls() >= 2);
}

#[tokio::test]
async fn predictions_ride_out_poll_errors() {
    let (server, base) = start(server()).await;
    server.inject_on_polls(Fault::ServerError, 2);
    server.inject_on_polls(Fault::TooManyRequests, 1);
    server.inject_on_polls(Fault::MalformedJson, 1);
    let outcome = predictions(&base, Wakeups::default())
        .generate(&request("rain", 1), &NoHooks)
        .await;
    assert!(matches!(outcome, Outcome::Succeeded { .. }), "{outcome:?}");
    assert!(server.polls() >= 5);
}

#[tokio::test]
async fn predictions_failure_is_permanent() {
    let (server, base) = start(server()).await;
    server.inject(Fault::PredictionFails, 1);
    let outcome = predictions(&base, Wakeups::default())
        .generate(&request("a city", 1), &NoHooks)
        .await;
    assert_permanent(&outcome);
}

#[tokio::test]
async fn predictions_refusals() {
    let (server, base) = start(server()).await;
    let model = predictions(&base, Wakeups::default());
    server.inject(Fault::Refuse, 1);
    let outcome = model.generate(&request("a city", 1), &NoHooks).await;
    assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");
    let outcome = model.generate(&request("nsfw city", 1), &NoHooks).await;
    assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");
}

#[tokio::test]
async fn predictions_submission_faults() {
    let (server, base) = start(server()).await;
    let model = predictions(&base, Wakeups::default());
    let req = request("x", 1);
    server.inject(Fault::TooManyRequests, 1);
    assert_retryable(&model.generate(&req, &NoHooks).await);
    server.inject(Fault::ServerError, 1);
    assert_retryable(&model.generate(&req, &NoHooks).await);
    server.inject(Fault::MalformedJson, 1);
    assert_retryable(&model.generate(&req, &NoHooks).await);
    server.inject(Fault::Latency(Duration::from_millis(200)), 1);
    assert!(matches!(
        model.generate(&req, &NoHooks).await,
        Outcome::Succeeded { .. }
    ));
    let wrong = Predictions {
        api_token: "wrong".into(),
        ..model.clone()
    };
    assert_permanent(&wrong.generate(&req, &NoHooks).await);
}

#[tokio::test]
async fn predictions_cancel() {
    let (server, base) = start(server().with_processing_delay(Duration::from_secs(5))).await;
    let hooks = Hooks::default();
    hooks.cancel.store(true, Ordering::SeqCst);
    let outcome = predictions(&base, Wakeups::default())
        .generate(&request("x", 1), &hooks)
        .await;
    assert_eq!(outcome, Outcome::Cancelled);
    assert_eq!(server.cancels(), 1);
    assert!(hooks.external_id.lock().unwrap().is_some());
}

/// A worker that dies after submitting, and one that takes over with the
/// recorded id: one submission in all.
#[tokio::test]
async fn predictions_resume_by_external_id() {
    let (server, base) = start(server().with_processing_delay(Duration::from_millis(500))).await;
    let model = predictions(&base, Wakeups::default());
    let hooks = Hooks::default();
    let crashed = tokio::time::timeout(
        Duration::from_millis(200),
        model.generate(&request("x", 1), &hooks),
    )
    .await;
    assert!(crashed.is_err(), "the first worker was stopped mid-wait");
    let id = hooks.external_id.lock().unwrap().clone().unwrap();
    let resumed = GenerationRequest {
        resume_external_id: Some(id),
        ..request("x", 1)
    };
    let outcome = model.generate(&resumed, &NoHooks).await;
    assert!(matches!(outcome, Outcome::Succeeded { .. }), "{outcome:?}");
    assert_eq!(server.submissions(), 1);
}

#[tokio::test]
async fn predictions_deadline_is_retryable_and_cancels() {
    let (server, base) = start(server().with_processing_delay(Duration::from_secs(30))).await;
    let outcome = predictions(&base, Wakeups::default())
        .with_deadline(Duration::from_millis(300))
        .generate(&request("x", 1), &NoHooks)
        .await;
    assert_retryable(&outcome);
    assert_eq!(server.cancels(), 1);
}

#[tokio::test]
async fn predictions_hanging_poll_does_not_outlive_the_deadline() {
    let (server, base) = start(server().with_processing_delay(Duration::from_secs(30))).await;
    server.inject_on_polls(Fault::Hang, 10);
    let started = Instant::now();
    let outcome = Predictions {
        // A client timeout longer than the deadline.
        http: outbound(&base, Duration::from_secs(60)),
        ..predictions(&base, Wakeups::default()).with_deadline(Duration::from_millis(500))
    }
    .generate(&request("x", 1), &NoHooks)
    .await;
    assert_retryable(&outcome);
    assert!(started.elapsed() < Duration::from_secs(5));
    let Outcome::Failed { message, .. } = outcome else {
        unreachable!()
    };
    assert!(message.contains("did not answer in time"), "{message}");
}

// ------------------------------------------------------------- Webhooks

fn signed(body: &[u8], ts: i64) -> String {
    sign_webhook(SECRET, "msg_1", ts, body).unwrap()
}

#[test]
fn webhook_good_signature() {
    let body = br#"{"id":"abc123","status":"succeeded"}"#;
    let ts = 1_700_000_000;
    assert_eq!(
        verify_webhook(
            SECRET,
            "msg_1",
            &ts.to_string(),
            &signed(body, ts),
            body,
            ts + 10
        ),
        Ok("abc123".into())
    );
}

#[test]
fn webhook_tampered_body() {
    let body = br#"{"id":"abc123","status":"succeeded"}"#;
    let ts = 1_700_000_000;
    let tampered = br#"{"id":"abc124","status":"succeeded"}"#;
    assert_eq!(
        verify_webhook(
            SECRET,
            "msg_1",
            &ts.to_string(),
            &signed(body, ts),
            tampered,
            ts
        ),
        Err(WebhookError::BadSignature)
    );
    // The id and timestamp are signed too.
    assert_eq!(
        verify_webhook(
            SECRET,
            "msg_2",
            &ts.to_string(),
            &signed(body, ts),
            body,
            ts
        ),
        Err(WebhookError::BadSignature)
    );
    assert_eq!(
        verify_webhook(
            SECRET,
            "msg_1",
            &(ts + 1).to_string(),
            &signed(body, ts),
            body,
            ts
        ),
        Err(WebhookError::BadSignature)
    );
}

#[test]
fn webhook_wrong_secret() {
    let body = br#"{"id":"abc123"}"#;
    let ts = 1_700_000_000;
    let other = ModelServer::generate_webhook_secret();
    assert_eq!(
        verify_webhook(
            &other,
            "msg_1",
            &ts.to_string(),
            &signed(body, ts),
            body,
            ts
        ),
        Err(WebhookError::BadSignature)
    );
    assert_eq!(
        verify_webhook(
            "whsec_!!!",
            "msg_1",
            &ts.to_string(),
            &signed(body, ts),
            body,
            ts
        ),
        Err(WebhookError::BadSignature)
    );
}

#[test]
fn webhook_stale_timestamp() {
    let body = br#"{"id":"abc123"}"#;
    let ts = 1_700_000_000;
    let header = signed(body, ts);
    for now in [ts + 301, ts - 301] {
        assert_eq!(
            verify_webhook(SECRET, "msg_1", &ts.to_string(), &header, body, now),
            Err(WebhookError::Stale)
        );
    }
    assert!(verify_webhook(SECRET, "msg_1", &ts.to_string(), &header, body, ts + 300).is_ok());
}

#[test]
fn webhook_multiple_signatures() {
    let body = br#"{"id":"abc123"}"#;
    let ts = 1_700_000_000;
    let old = sign_webhook(&ModelServer::generate_webhook_secret(), "msg_1", ts, body).unwrap();
    let header = format!("v2,AAAA {old} v1,notbase64!! {}", signed(body, ts));
    assert_eq!(
        verify_webhook(SECRET, "msg_1", &ts.to_string(), &header, body, ts),
        Ok("abc123".into())
    );
    // Only non-matching entries: refused.
    let header = format!("{old} v1,AAAA");
    assert_eq!(
        verify_webhook(SECRET, "msg_1", &ts.to_string(), &header, body, ts),
        Err(WebhookError::BadSignature)
    );
}

#[test]
fn webhook_malformed_headers() {
    let body = br#"{"id":"abc123"}"#;
    let ts = 1_700_000_000;
    let sig = signed(body, ts);
    assert_eq!(
        verify_webhook(SECRET, "msg_1", "yesterday", &sig, body, ts),
        Err(WebhookError::Malformed)
    );
    assert_eq!(
        verify_webhook(SECRET, "", &ts.to_string(), &sig, body, ts),
        Err(WebhookError::Malformed)
    );
    assert_eq!(
        verify_webhook(SECRET, "msg_1", &ts.to_string(), "", body, ts),
        Err(WebhookError::Malformed)
    );
    // Signed, but no prediction id in the body.
    let no_id = br#"{"status":"succeeded"}"#;
    assert_eq!(
        verify_webhook(
            SECRET,
            "msg_1",
            &ts.to_string(),
            &signed(no_id, ts),
            no_id,
            ts
        ),
        Err(WebhookError::Malformed)
    );
}

#[test]
fn seen_webhooks_ignore_replays_within_the_window() {
    let seen = SeenWebhooks::default();
    let now = 1_700_000_000;
    assert!(seen.first_time("msg_1", now));
    assert!(!seen.first_time("msg_1", now + 10), "a replay");
    assert!(
        !seen.first_time("msg_1", now + 2 * WEBHOOK_TOLERANCE_SECS),
        "a replay at the last second its timestamp could still pass"
    );
    assert!(seen.first_time("msg_2", now + 20));
    // Past the window the ids are forgotten (a replay is stale by then).
    let later = now + 2 * WEBHOOK_TOLERANCE_SECS + 21;
    assert!(seen.first_time("msg_1", later));
    assert_eq!(seen.len(), 1);
    // Bounded.
    for i in 0..SeenWebhooks::CAPACITY + 10 {
        seen.first_time(&format!("flood_{i}"), later);
    }
    assert!(seen.len() <= SeenWebhooks::CAPACITY);
}

#[tokio::test]
async fn wakeups_keep_a_wake_that_lands_between_waits() {
    let wakeups = Wakeups::default();
    let guard = wakeups.register("p1");
    wakeups.wake("p1");
    wakeups.wake("someone-else");
    tokio::time::timeout(Duration::from_secs(1), guard.notified())
        .await
        .expect("the wake was kept");
    drop(guard);
    assert_eq!(wakeups.waiting(), 0);
}

// ------------------------------------------------------- fetch_output

#[tokio::test]
async fn fetch_output_limits() {
    let (_server, base) = start(server()).await;
    let http = outbound(&base, Duration::from_secs(5));
    let file: url::Url = "file:///etc/passwd".parse().unwrap();
    assert!(http.fetch_output(&file, 1024).await.is_err());
    let missing = base.join("files/nope.png").unwrap();
    assert!(http.fetch_output(&missing, 1024).await.is_err());

    // A URL output, fetched with a limit below and above its size.
    let answer: serde_json::Value = direct()
        .post(base.join("v1/images/generations").unwrap())
        .bearer_auth(KEY)
        .json(&serde_json::json!({"prompt": "big", "size": "256x256", "response_format": "url"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url: url::Url = answer["data"][0]["url"].as_str().unwrap().parse().unwrap();
    let full = http.fetch_output(&url, 10 << 20).await.unwrap();
    if !full.is_empty() {
        let refused = http.fetch_output(&url, full.len() - 1).await.unwrap_err();
        assert!(!refused.retryable, "{refused}");
        assert_eq!(http.fetch_output(&url, full.len()).await.unwrap(), full);
    }

    // A model whose base is `localhost` resolves it (to loopback) and may
    // fetch from it.
    let by_name: url::Url = format!("http://localhost:{}/", base.port().unwrap())
        .parse()
        .unwrap();
    let mut named = url.clone();
    named.set_host(Some("localhost")).unwrap();
    assert_eq!(
        outbound(&by_name, Duration::from_secs(5))
            .fetch_output(&named, 10 << 20)
            .await
            .unwrap(),
        full
    );
}

// ------------------------------------------------------ SSRF and limits

/// A listener on loopback that counts the connections it receives (and
/// answers none).
async fn connection_counter() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            open.push(stream);
        }
    });
    (port, count)
}

/// A permanent failure whose operator message contains `needle`.
fn assert_refused(outcome: &Outcome, needle: &str) {
    match outcome {
        Outcome::Failed { retryable, message } => {
            assert!(!*retryable, "retryable: {message}");
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
            assert!(!message.contains(KEY), "the message leaks the key");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

const INTERNAL_URLS: [&str; 6] = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://10.0.0.5:8500/v1/agent/self",
    "https://10.0.0.5/v1/agent/self",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
    "http://2852039166/latest/meta-data/",
];

#[tokio::test]
async fn output_urls_at_internal_addresses_are_refused() {
    let (server, base) = start(server()).await;
    let openai = openai(&base, KEY, Duration::from_secs(5));
    let predictions = predictions(&base, Wakeups::default());
    for url in INTERNAL_URLS {
        server.inject(Fault::OutputUrl(url.into()), 1);
        let outcome = openai.generate(&request("x", 1), &NoHooks).await;
        assert_refused(&outcome, "refused");
        server.inject(Fault::OutputUrl(url.into()), 1);
        let outcome = predictions.generate(&request("x", 1), &NoHooks).await;
        assert_refused(&outcome, "refused");
        // Asked directly, the model refuses to fetch it too.
        let direct = openai
            .fetch_output(&url.parse().unwrap(), 1 << 20)
            .await
            .unwrap_err();
        assert!(!direct.retryable, "{direct}");
    }
}

#[tokio::test]
async fn output_urls_on_another_host_are_refused_and_not_fetched() {
    let (server, base) = start(server()).await;
    let (port, connections) = connection_counter().await;
    let elsewhere = format!("http://localhost:{port}/files/a.png");
    server.inject(Fault::OutputUrl(elsewhere.clone()), 1);
    let outcome = openai(&base, KEY, Duration::from_secs(5))
        .generate(&request("x", 1), &NoHooks)
        .await;
    assert_refused(&outcome, "not one of this model's output hosts");
    server.inject(Fault::OutputUrl(elsewhere.clone()), 1);
    let model = predictions(&base, Wakeups::default());
    let outcome = model.generate(&request("x", 1), &NoHooks).await;
    assert_refused(&outcome, "not one of this model's output hosts");
    assert!(model
        .fetch_output(&elsewhere.parse().unwrap(), 1 << 20)
        .await
        .is_err());
    assert_eq!(connections.load(Ordering::SeqCst), 0, "nothing was fetched");
}

/// An output on the provider's own host that redirects to an internal
/// address: the redirect is not followed.
#[tokio::test]
async fn output_redirects_are_not_followed() {
    let (server, base) = start(server()).await;
    let (port, connections) = connection_counter().await;
    let internal = format!("http://127.0.0.1:{port}/latest/meta-data/");
    let openai = openai(&base, KEY, Duration::from_secs(5));
    let predictions = predictions(&base, Wakeups::default());
    for model in [&openai as &dyn ImageModel, &predictions] {
        server.inject(Fault::RedirectOutput(internal.clone()), 1);
        let outcome = model.generate(&request("x", 1), &NoHooks).await;
        let Outcome::Succeeded { images, .. } = outcome else {
            panic!("{outcome:?}")
        };
        let ImageData::Url(url) = &images[0] else {
            panic!("not a URL")
        };
        let refused = model.fetch_output(url, 1 << 20).await.unwrap_err();
        assert!(!refused.retryable, "{refused}");
        assert!(
            refused.message.contains("redirects are not followed"),
            "{refused}"
        );
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0, "nothing was fetched");
}

/// A public model resolves names only to public addresses: `localhost`
/// (even when listed as an output host) is refused at connect time.
#[tokio::test]
async fn the_resolver_refuses_non_public_addresses() {
    let (port, connections) = connection_counter().await;
    let public = Outbound::for_model(
        &"https://provider.example/".parse().unwrap(),
        &["localhost".into()],
        Duration::from_secs(5),
    )
    .unwrap();
    let url: url::Url = format!("https://localhost:{port}/a.png").parse().unwrap();
    let refused = public.fetch_output(&url, 1 << 20).await.unwrap_err();
    assert!(!refused.retryable, "{refused}");
    assert!(refused.message.contains("non-public"), "{refused}");
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn oversized_answers_are_refused() {
    let (server, base) = start(server()).await;
    let model = OpenAiImages {
        http: outbound(&base, Duration::from_secs(10)).with_max_image_bytes(64 * 1024),
        ..openai(&base, KEY, Duration::from_secs(10))
    };
    server.inject(Fault::OversizedAnswer(4 << 20), 1);
    assert_refused(
        &model.generate(&request("x", 1), &NoHooks).await,
        "larger than",
    );

    let model = predictions(&base, Wakeups::default());
    server.inject(Fault::OversizedAnswer(8 << 20), 1);
    assert_refused(
        &model.generate(&request("x", 1), &NoHooks).await,
        "larger than",
    );
    server.inject_on_polls(Fault::OversizedAnswer(8 << 20), 1);
    assert_refused(
        &model.generate(&request("x", 1), &NoHooks).await,
        "larger than",
    );
}

#[tokio::test]
async fn more_images_than_requested_are_refused() {
    let (server, base) = start(server()).await;
    let openai = openai(&base, KEY, Duration::from_secs(10));
    let predictions = predictions(&base, Wakeups::default());
    for model in [&openai as &dyn ImageModel, &predictions] {
        server.inject(Fault::ExtraImages(2), 1);
        assert_refused(
            &model.generate(&request("x", 1), &NoHooks).await,
            "more than the 1 requested",
        );
        // Exactly the number requested passes.
        assert!(matches!(
            model.generate(&request("x", 2), &NoHooks).await,
            Outcome::Succeeded { ref images, .. } if images.len() == 2
        ));
    }
}

// -------------------------------------------------------------- Builtin

fn builtin() -> Builtin {
    let mut model = Builtin::new();
    model.capabilities.base_size = 128;
    model
}

#[tokio::test]
async fn builtin_is_deterministic_and_reports_the_seed() {
    if !imaging_ready() {
        eprintln!("skipped: uni1_imaging::render_builtin_png is still a skeleton");
        return;
    }
    let model = builtin();
    let first = model.generate(&request("a red kite", 3), &NoHooks).await;
    let second = model.generate(&request("a red kite", 3), &NoHooks).await;
    assert_eq!(first, second);
    let Outcome::Succeeded { images, seed } = first else {
        panic!("{first:?}")
    };
    assert_eq!(seed, Some(42));
    assert_eq!(images.len(), 3);
    for image in &images {
        let ImageData::Bytes(bytes) = image else {
            panic!("not bytes")
        };
        assert!(bytes.starts_with(PNG_MAGIC));
    }
    // Image i of a batch is the single image of seed + i.
    let alone = model
        .generate(
            &GenerationRequest {
                seed: Some(43),
                ..request("a red kite", 1)
            },
            &NoHooks,
        )
        .await;
    let Outcome::Succeeded { images: alone, .. } = alone else {
        panic!("{alone:?}")
    };
    assert_eq!(alone[0], images[1]);
    assert_ne!(images[0], images[1]);
}

#[tokio::test]
async fn builtin_chooses_and_reports_a_seed() {
    if !imaging_ready() {
        eprintln!("skipped: uni1_imaging::render_builtin_png is still a skeleton");
        return;
    }
    let model = builtin();
    let outcome = model
        .generate(
            &GenerationRequest {
                seed: None,
                aspect_ratio: AspectRatio::Wide16x9,
                ..request("x", 1)
            },
            &NoHooks,
        )
        .await;
    let Outcome::Succeeded { images, seed } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(seed.is_some());
    assert_eq!(images.len(), 1);
}

#[tokio::test]
async fn builtin_refuses_too_many_images() {
    let outcome = builtin().generate(&request("x", 5), &NoHooks).await;
    assert_permanent(&outcome);
    let outcome = builtin().generate(&request("x", 0), &NoHooks).await;
    assert_permanent(&outcome);
}
