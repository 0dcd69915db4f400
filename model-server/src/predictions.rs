//! Replicate predictions: submit, poll, cancel, signed `completed` webhooks.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use uni1_models::predictions::sign_webhook;
use uni1_models::{unix_now, AspectRatio};

use crate::{
    lock, malformed_json, mentions_nsfw, oversized, render, retry_after, Fault, ModelServer,
    Outputs, HANG, MAX_IMAGES,
};

/// One prediction as the server remembers it.
pub(crate) struct Record {
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

/// The answer a fault makes of a submission or a poll instead of the real
/// one (throttled, server error, hang, malformed or oversized), if any.
async fn failed_answer(fault: Option<&Fault>, throttled: &str) -> Option<Response> {
    Some(match fault? {
        Fault::TooManyRequests => {
            let mut response = replicate_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Request was throttled",
                throttled,
            );
            response.headers_mut().extend(retry_after());
            response
        }
        Fault::ServerError => replicate_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            "Something went wrong.",
        ),
        Fault::Hang => {
            tokio::time::sleep(HANG).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Fault::MalformedJson => malformed_json(),
        Fault::OversizedAnswer(bytes) => oversized(*bytes),
        _ => return None,
    })
}

pub(crate) async fn prediction_create(
    State(server): State<ModelServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !server.authorized(&headers) {
        return unauthenticated();
    }
    server.inner.submissions.fetch_add(1, Ordering::SeqCst);
    let mut plan = Plan::default();
    let fault = server.next_fault();
    if let Some(answer) = failed_answer(
        fault.as_ref(),
        "Request was throttled. Expected available in 1 second.",
    )
    .await
    {
        return answer;
    }
    match fault {
        Some(Fault::Latency(delay)) => plan.extra_delay = delay,
        Some(Fault::Refuse) => plan.refuse = true,
        Some(Fault::PredictionFails) => plan.fail = true,
        Some(Fault::LostWebhook) => plan.lost_webhook = true,
        Some(Fault::OutputUrl(url)) => plan.outputs = Outputs::Url(url),
        Some(Fault::RedirectOutput(url)) => plan.outputs = Outputs::Redirect(url),
        Some(Fault::ExtraImages(n)) => plan.extra = n,
        // Answered above.
        Some(
            Fault::TooManyRequests
            | Fault::ServerError
            | Fault::Hang
            | Fault::MalformedJson
            | Fault::OversizedAnswer(_),
        )
        | None => {}
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
        uni1_models::endpoint(&base, segments)
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
                tracing::warn!(error = %uni1_models::error_chain(&error), "webhook delivery failed");
            }
        }
    }
}

pub(crate) async fn prediction_get(
    State(server): State<ModelServer>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !server.authorized(&headers) {
        return unauthenticated();
    }
    server.inner.polls.fetch_add(1, Ordering::SeqCst);
    let fault = lock(&server.inner.poll_faults).pop();
    if let Some(answer) = failed_answer(fault.as_ref(), "Request was throttled.").await {
        return answer;
    }
    if let Some(Fault::Latency(delay)) = fault {
        tokio::time::sleep(delay).await;
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

pub(crate) async fn prediction_cancel(
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
