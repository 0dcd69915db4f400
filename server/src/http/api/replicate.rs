//! Replicate-style asynchronous predictions: the official `replicate`
//! clients work against uni1 with `base_url` set to our origin.
//!
//! - Models: `uni1/<model id>` (owner `uni1`, name one of our model ids);
//!   a version is the model id itself (`POST /v1/predictions` with
//!   `"version": "<model id>"`, or `"uni1/<model id>"`).
//! - `input`: `prompt` (required), `negative_prompt`, `aspect_ratio`
//!   (`"1:1"`, `"16:9"`, ...), `num_outputs`, `seed`, `style`.
//! - A prediction is a normal queued job made through the studio's
//!   [`uni1_domain::generation::Generations::submit`] (credits reserved,
//!   then captured or released; in the person's history and gallery).
//! - Job states map to `starting` (queued), `processing` (running),
//!   `succeeded`, `failed` (failed or refused) and `canceled`.
//! - `Prefer: wait[=n]` holds a create until the job ends or `n` seconds
//!   (at most the API hold of 25 s, below the router's timeout) pass, then
//!   answers 201 with the current state; a job still queued or running is
//!   then `starting`, which is what makes `client.run` poll on.
//! - Outputs are signed, expiring URLs on our origin (`/v1/files/...`).
//! - Errors are problem details, as Replicate sends them:
//!   `{"type","title","status","detail"}` (and `invalid_fields` on a 422).
//! - `webhook` (an https URL on a public address, checked like webhook
//!   endpoints) and `webhook_events_filter` (a subset of `start`, `output`,
//!   `logs`, `completed`; default all): the prediction object is POSTed
//!   there through the webhook outbox, signed (Standard Webhooks) with the
//!   person's default secret from `GET /v1/webhooks/default/secret`
//!   (`{"key":"whsec_…"}`, the `webhooks` scope). What each event means
//!   here: [`uni1_domain::webhooks::predictions`].

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Map, Value};
use uni1_domain::developer::idempotency::Claim;
pub use uni1_domain::developer::predictions::OWNER;
use uni1_domain::developer::predictions::{self, Cursor, KEY_PREFIX};
use uni1_domain::developer::{Principal, Scope};
use uni1_domain::generation::{status, GenerationView, SubmitError, SubmitInput};
use uni1_domain::webhooks::predictions::{Filter, NewHook};
use uni1_domain::webhooks::WebhookError;
use uni1_models::AspectRatio;

use super::{idempotent, Answer, ApiError, ApiState};
/// The default page of `GET /v1/predictions`.
const PAGE: u64 = 100;

/// An error as problem details (RFC 9457), the shape Replicate sends and
/// its clients parse into `ReplicateError`.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub title: String,
    pub detail: String,
    /// `(field, message)` of a 422.
    pub invalid: Option<(String, String)>,
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, title: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title: title.to_owned(),
            detail: detail.into(),
            invalid: None,
            retry_after: None,
        }
    }

    /// 422 "Input validation failed" about `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            title: "Input validation failed".into(),
            detail: format!("- {field}: {message}"),
            invalid: Some((field.to_owned(), message)),
            retry_after: None,
        }
    }

    fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "The requested resource could not be found.",
        )
    }

    fn answer(self) -> Answer {
        let mut body = json!({
            "type": format!("https://uni1.dev/problems/{}", self.status.as_u16()),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Some((field, message)) = &self.invalid {
            body["invalid_fields"] = json!([{
                "type": "invalid",
                "field": field,
                "description": message,
            }]);
        }
        let mut headers = vec![(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        )];
        if let Some(secs) = self.retry_after {
            headers.push((header::RETRY_AFTER, HeaderValue::from(secs.clamp(1, 60))));
        }
        Answer {
            status: self.status,
            body: body.to_string(),
            headers,
            keep: false,
            job_made: false,
            replay: None,
        }
    }
}

impl From<ApiError> for Problem {
    fn from(e: ApiError) -> Self {
        let title = match e.status {
            StatusCode::UNAUTHORIZED => "Unauthenticated",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::TOO_MANY_REQUESTS => "Too many requests",
            StatusCode::SERVICE_UNAVAILABLE => "Service unavailable",
            StatusCode::PAYLOAD_TOO_LARGE => "Request too large",
            _ => "Bad request",
        };
        Self {
            status: e.status,
            title: title.into(),
            detail: e.message,
            invalid: None,
            retry_after: e.retry_after,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.answer().into_response()
    }
}

/// A checked `input`.
#[derive(Debug, Clone, PartialEq)]
struct PredictionInput {
    model: String,
    prompt: String,
    negative_prompt: String,
    aspect_ratio: String,
    num_outputs: u32,
    seed: Option<u64>,
    style: String,
    /// `webhook` and its filter.
    webhook: Option<(url::Url, Filter)>,
}

#[utoipa::path(
    post,
    path = "/v1/models/{owner}/{name}/predictions",
    tag = "Replicate predictions",
    operation_id = "create_model_prediction",
    summary = "Create a prediction of a model",
    description = "Replicate's `models.predictions.create` (what `replicate.run(\"uni1/<id>\")` calls). Queues a normal job and answers at once, or after `Prefer: wait`. Needs the `generate` scope.",
    params(
        ("owner" = String, Path, description = "Always `uni1`."),
        ("name" = String, Path, description = "A model id, e.g. `builtin`."),
        super::openapi::IdempotencyKey,
        super::openapi::PreferWait,
    ),
    request_body = super::openapi::PredictionRequest,
    responses(
        (status = 201, description = "The prediction: final when the job ended within the wait, otherwise `starting` or `processing`.", body = super::openapi::Prediction,
            headers(("location" = String, description = "The prediction's URL"))),
        super::openapi::CreateProblems,
    )
)]
/// `POST /v1/models/{owner}/{name}/predictions`.
pub async fn create_for_model(
    State(api): State<ApiState>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let path = format!("/v1/models/{owner}/{name}/predictions");
    create(api, Some((owner, name)), path, headers, body).await
}

#[utoipa::path(
    post,
    path = "/v1/predictions",
    tag = "Replicate predictions",
    operation_id = "create_prediction",
    summary = "Create a prediction of a version",
    description = "Replicate's `predictions.create` with `version`: the same as creating through the model. Needs the `generate` scope.",
    params(super::openapi::IdempotencyKey, super::openapi::PreferWait),
    request_body = super::openapi::PredictionWithVersionRequest,
    responses(
        (status = 201, description = "The prediction: final when the job ended within the wait, otherwise `starting` or `processing`.", body = super::openapi::Prediction,
            headers(("location" = String, description = "The prediction's URL"))),
        super::openapi::CreateProblems,
    )
)]
/// `POST /v1/predictions` (with `version`).
pub async fn create_with_version(
    State(api): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    create(api, None, "/v1/predictions".into(), headers, body).await
}

async fn create(
    api: ApiState,
    model: Option<(String, String)>,
    path: String,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let began = tokio::time::Instant::now();
    let principal = match api.authorize(&headers, Scope::Generate).await {
        Ok(p) => p,
        Err(e) => return Problem::from(e).into_response(),
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return Problem::new(e.status(), "Bad request", e.body_text()).into_response();
        }
    };
    // A wait counts from the request's arrival and ends a little early, so
    // the answer is back within the client's read timeout (n + 0.5 s).
    let wait = match prefer_wait(&headers, &api) {
        Ok(w) => w.map(|w| began + w.saturating_sub(std::time::Duration::from_millis(150))),
        Err(p) => return p.into_response(),
    };
    let api2 = api.clone();
    let p2 = principal.clone();
    let b2 = body.clone();
    let answer = idempotent(
        &api,
        &principal,
        &headers,
        &path,
        &body,
        move |claim| async move {
            let input = match parse(&b2, model.as_ref(), &api2) {
                Ok(i) => i,
                Err(p) => return p.answer(),
            };
            submit(&api2, &p2, input, wait, claim).await
        },
    )
    .await;
    as_problem(answer).await
}

/// The `Idempotency-Key` refusals (422, 409, a malformed key) come from
/// the shared wrapper in OpenAI's envelope: re-shaped as problem details,
/// their status and headers kept.
async fn as_problem(answer: Response) -> Response {
    let is_envelope = !answer.status().is_success()
        && answer
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == b"application/json");
    if !is_envelope {
        return answer;
    }
    let (mut parts, body) = answer.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, super::JSON_LIMIT).await else {
        return Problem::new(parts.status, "Bad request", "The request failed.").into_response();
    };
    let message = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "The request failed.".into());
    let title = match parts.status {
        StatusCode::CONFLICT => "Conflict",
        StatusCode::UNPROCESSABLE_ENTITY => "Idempotency key reused",
        _ => "Bad request",
    };
    let problem = Problem::new(parts.status, title, message).answer();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(problem.body))
}

/// `Prefer: wait` (the API hold) or `Prefer: wait=n` (1..=60, held at most
/// the API hold); `None` without the header.
fn prefer_wait(
    headers: &HeaderMap,
    api: &ApiState,
) -> Result<Option<std::time::Duration>, Problem> {
    let mut wait = None;
    for value in headers.get_all("prefer") {
        let Ok(value) = value.to_str() else { continue };
        for pref in value.split(',').map(str::trim) {
            let (name, arg) = match pref.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (pref, None),
            };
            if !name.eq_ignore_ascii_case("wait") {
                continue;
            }
            let secs = match arg {
                None => api.hold.as_secs(),
                Some(a) => match a.parse::<u64>() {
                    Ok(n @ 1..=60) => n,
                    _ => {
                        return Err(Problem::new(
                            StatusCode::BAD_REQUEST,
                            "Invalid Prefer header",
                            "Prefer: wait=n takes a whole number of seconds from 1 to 60.",
                        ))
                    }
                },
            };
            wait = Some(std::time::Duration::from_secs(secs).min(api.hold));
        }
    }
    Ok(wait)
}

/// Parses the body against the catalogue: the model from the path or
/// `version`, the fields of `input`.
fn parse(
    body: &[u8],
    model: Option<&(String, String)>,
    api: &ApiState,
) -> Result<PredictionInput, Problem> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "We could not parse the JSON body of your request. Send a JSON object, with Content-Type: application/json.",
        )
    })?;
    let Value::Object(fields) = value else {
        return Err(Problem::invalid("body", "The body must be a JSON object."));
    };
    let catalog = &api.gens.catalog;
    let ids = || {
        catalog
            .all()
            .iter()
            .map(|m| format!("{OWNER}/{}", m.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let model_id = match model {
        Some((owner, name)) => {
            if owner != OWNER || catalog.get(name).is_none() {
                return Err(Problem::new(
                    StatusCode::NOT_FOUND,
                    "Model not found",
                    format!(
                        "The model {owner}/{name} does not exist here. Use one of: {}.",
                        ids()
                    ),
                ));
            }
            name.clone()
        }
        None => {
            let version = match fields.get("version") {
                Some(Value::String(v)) => v.trim(),
                None | Some(Value::Null) => {
                    return Err(Problem::invalid("version", "version is required"))
                }
                Some(_) => return Err(Problem::invalid("version", "version must be a string")),
            };
            // "uni1/<id>", "uni1/<id>:<id>" or "<id>".
            let name = version.rsplit(':').next().unwrap_or(version);
            let name = name.strip_prefix("uni1/").unwrap_or(name);
            if catalog.get(name).is_none() {
                return Err(Problem::invalid(
                    "version",
                    format!(
                        "The version {version} does not exist here. Use a model id of: {}.",
                        ids()
                    ),
                ));
            }
            name.to_owned()
        }
    };
    for name in fields.keys() {
        match name.as_str() {
            "input" | "stream" | "webhook" | "webhook_events_filter" => {}
            "version" if model.is_none() => {}
            other => return Err(Problem::invalid(other, "Unknown field.")),
        }
    }
    let input = match fields.get("input") {
        Some(Value::Object(i)) => i,
        None | Some(Value::Null) => return Err(Problem::invalid("input", "input is required")),
        Some(_) => return Err(Problem::invalid("input", "input must be an object")),
    };
    let webhook = parse_webhook(&fields, api)?;
    let mut input = parse_input(input, model_id, api)?;
    input.webhook = webhook;
    Ok(input)
}

/// `webhook` (checked like a webhook endpoint's address: https, a public
/// address) and `webhook_events_filter` (default: every event).
fn parse_webhook(
    fields: &Map<String, Value>,
    api: &ApiState,
) -> Result<Option<(url::Url, Filter)>, Problem> {
    let filter = match fields.get("webhook_events_filter") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let names = items
                .iter()
                .map(|v| v.as_str())
                .collect::<Option<Vec<&str>>>()
                .ok_or_else(|| {
                    Problem::invalid(
                        "webhook_events_filter",
                        "webhook_events_filter must be a list of event names",
                    )
                })?;
            Some(Filter::parse(&names).map_err(|m| Problem::invalid("webhook_events_filter", m))?)
        }
        Some(_) => {
            return Err(Problem::invalid(
                "webhook_events_filter",
                "webhook_events_filter must be a list of event names",
            ))
        }
    };
    let url = match fields.get("webhook") {
        None | Some(Value::Null) => {
            if filter.is_some() {
                return Err(Problem::invalid(
                    "webhook_events_filter",
                    "webhook_events_filter needs a webhook",
                ));
            }
            return Ok(None);
        }
        Some(Value::String(u)) => u,
        Some(_) => return Err(Problem::invalid("webhook", "webhook must be a string")),
    };
    let url = api.webhooks.parse_url(url).map_err(|e| match e {
        WebhookError::BadUrl => Problem::invalid(
            "webhook",
            "Enter an https:// address of at most 2000 characters.",
        ),
        WebhookError::Refused(why) => Problem::invalid(
            "webhook",
            format!("This address cannot receive webhooks: {why}."),
        ),
        _ => Problem::invalid("webhook", "This address cannot receive webhooks."),
    })?;
    Ok(Some((url, filter.unwrap_or(Filter::ALL))))
}

fn parse_input(
    input: &Map<String, Value>,
    model: String,
    api: &ApiState,
) -> Result<PredictionInput, Problem> {
    let text = |name: &str| -> Result<Option<String>, Problem> {
        match input.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Problem::invalid(
                &format!("input.{name}"),
                format!("{name} must be a string"),
            )),
        }
    };
    let number = |name: &str| -> Result<Option<u64>, Problem> {
        match input.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                Problem::invalid(
                    &format!("input.{name}"),
                    format!("{name} must be a whole number of 0 or more"),
                )
            }),
        }
    };
    for name in input.keys() {
        if !matches!(
            name.as_str(),
            "prompt" | "negative_prompt" | "aspect_ratio" | "num_outputs" | "seed" | "style"
        ) {
            return Err(Problem::invalid(
                &format!("input.{name}"),
                "Unknown input. This model takes prompt, negative_prompt, aspect_ratio, num_outputs, seed and style.",
            ));
        }
    }
    let prompt = text("prompt")?.unwrap_or_default();
    if prompt.trim().is_empty() {
        return Err(Problem::invalid("input.prompt", "prompt is required"));
    }
    let caps = api
        .gens
        .catalog
        .get(&model)
        .map(|m| m.capabilities().clone());
    let aspect_ratio = match text("aspect_ratio")? {
        Some(a) => a,
        None => caps
            .as_ref()
            .and_then(|c| {
                if c.aspect_ratios.contains(&AspectRatio::Square) {
                    Some(AspectRatio::Square)
                } else {
                    c.aspect_ratios.first().copied()
                }
            })
            .map(|a| a.label().to_owned())
            .unwrap_or_default(),
    };
    let num_outputs = match number("num_outputs")? {
        None => 1,
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
    };
    Ok(PredictionInput {
        model,
        prompt,
        negative_prompt: text("negative_prompt")?.unwrap_or_default(),
        aspect_ratio,
        num_outputs,
        seed: number("seed")?,
        style: text("style")?.unwrap_or_default(),
        webhook: None,
    })
}

/// Queues the job, holds for `wait` if asked, answers 201.
async fn submit(
    api: &ApiState,
    who: &Principal,
    input: PredictionInput,
    wait: Option<tokio::time::Instant>,
    claim: Option<Claim>,
) -> Answer {
    let key = match claim {
        Some(c) => format!("{KEY_PREFIX}{}", c.id.simple()),
        None => format!("{KEY_PREFIX}{}", uuid::Uuid::now_v7().simple()),
    };
    if let Some((url, filter)) = &input.webhook {
        // Recorded before the job exists, so whatever ends it finds it.
        let hook = NewHook {
            user: who.user_id,
            job_key: &key,
            url,
            filter: *filter,
            origin: &api.public_origin,
        };
        if let Err(e) = api.webhooks.register_prediction(hook).await {
            return Problem::from(ApiError::unavailable(&e)).answer();
        }
    }
    let hooked = input.webhook.is_some();
    let submit = SubmitInput {
        idempotency_key: key.clone(),
        model_id: input.model,
        prompt: input.prompt,
        negative_prompt: input.negative_prompt,
        aspect_ratio: input.aspect_ratio,
        count: input.num_outputs,
        seed: input.seed,
        style: input.style,
        ..Default::default()
    };
    let mut job = match api
        .gens
        .submit_as(who.user_id, who.email_confirmed, submit, Some(who.budget()))
        .await
    {
        Ok(job) => job,
        Err(e) => {
            if hooked {
                if let Err(e) = api.webhooks.forget_prediction(who.user_id, &key).await {
                    tracing::error!(error = %e, "forgetting a prediction webhook failed");
                }
            }
            return submit_problem(e).answer();
        }
    };
    if hooked {
        // The job is made: a failure here loses the `start` event only
        // (its end event is queued by the transaction that ends it).
        if let Err(e) = api
            .webhooks
            .prediction_created(who.user_id, &key, &job)
            .await
        {
            tracing::error!(error = %e, "queueing a prediction's start webhook failed");
        }
    }
    if let Some(deadline) = wait {
        while matches!(job.status, status::QUEUED | status::RUNNING)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            match predictions::get(&api.gens, who.user_id, job.id).await {
                Ok(Some(j)) => job = j,
                Ok(None) => break,
                Err(e) => {
                    let mut a = Problem::from(ApiError::unavailable(&e)).answer();
                    a.job_made = true;
                    return a;
                }
            }
        }
    }
    let mut body = prediction(api, &job);
    if wait.is_some() && matches!(job.status, status::QUEUED | status::RUNNING) {
        // The wait ended first: `starting` is what makes the official
        // clients' `run` poll (they take any other state as the end).
        body["status"] = json!("starting");
    }
    let location = format!("{}/v1/predictions/{}", api.public_origin, job.id.simple());
    let mut headers = vec![];
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.push((header::LOCATION, v));
    }
    Answer {
        status: StatusCode::CREATED,
        body: body.to_string(),
        headers,
        keep: true,
        job_made: true,
        replay: None,
    }
}

/// What a refused submission means on the wire.
fn submit_problem(e: SubmitError) -> Problem {
    let message = e.to_string();
    match e {
        SubmitError::Invalid(f) => {
            let field = match f.field {
                "count" => "input.num_outputs",
                "aspect_ratio" => "input.aspect_ratio",
                "prompt" => "input.prompt",
                "negative_prompt" => "input.negative_prompt",
                "seed" => "input.seed",
                "style" => "input.style",
                "model" => "version",
                _ => "input",
            };
            Problem::invalid(field, message)
        }
        SubmitError::EmailNotConfirmed | SubmitError::NotNow(_) => {
            Problem::new(StatusCode::FORBIDDEN, "Forbidden", message)
        }
        SubmitError::Insufficient { .. } | SubmitError::InDebt { .. } => {
            Problem::new(StatusCode::PAYMENT_REQUIRED, "Insufficient credit", message)
        }
        SubmitError::KeyCapReached { .. } => Problem::new(
            StatusCode::PAYMENT_REQUIRED,
            "Monthly spend limit reached",
            message,
        ),
        SubmitError::TooManyPending { .. } => {
            let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests", message);
            p.retry_after = Some(5);
            p
        }
        SubmitError::TooManyRefused { .. } => {
            let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests", message);
            p.retry_after = Some(60);
            p
        }
        SubmitError::ReferenceGone => Problem::invalid("input", message),
        SubmitError::Unexpected(u) => ApiError::unavailable(&u).into(),
    }
}

/// A job as a Replicate prediction object (the same JSON a prediction's
/// webhook sends).
fn prediction(api: &ApiState, job: &GenerationView) -> Value {
    predictions::render(job, &api.public_origin, &api.media, chrono::Utc::now())
}

fn parse_id(id: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(id.trim()).ok()
}

fn ok(api: &ApiState, job: &GenerationView) -> Response {
    Answer {
        status: StatusCode::OK,
        body: prediction(api, job).to_string(),
        headers: vec![],
        keep: false,
        job_made: false,
        replay: None,
    }
    .into_response()
}

#[utoipa::path(
    get,
    path = "/v1/predictions/{id}",
    tag = "Replicate predictions",
    operation_id = "get_prediction",
    summary = "Get a prediction",
    description = "The key's person's prediction (another person's is not found). Needs the `read` scope.",
    params(("id" = String, Path, description = "The prediction's id.")),
    responses(
        (status = 200, description = "The prediction.", body = super::openapi::Prediction),
        super::openapi::ReadProblems,
    )
)]
/// `GET /v1/predictions/{id}`: the owner's prediction, or 404.
pub async fn get_one(
    State(api): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let who = match api.authorize(&headers, Scope::Read).await {
        Ok(p) => p,
        Err(e) => return Problem::from(e).into_response(),
    };
    let Some(id) = parse_id(&id) else {
        return Problem::not_found().into_response();
    };
    match predictions::get(&api.gens, who.user_id, id).await {
        Ok(Some(job)) => ok(&api, &job),
        Ok(None) => Problem::not_found().into_response(),
        Err(e) => Problem::from(ApiError::unavailable(&e)).into_response(),
    }
}

#[utoipa::path(
    post,
    path = "/v1/predictions/{id}/cancel",
    tag = "Replicate predictions",
    operation_id = "cancel_prediction",
    summary = "Cancel a prediction",
    description = "A queued job ends at once and its credits are released; a running one ends as soon as its worker notices. Cancelling an ended prediction changes nothing. Needs the `generate` scope.",
    params(("id" = String, Path, description = "The prediction's id.")),
    responses(
        (status = 200, description = "The prediction, `canceled` unless it had already ended.", body = super::openapi::Prediction),
        super::openapi::ReadProblems,
    )
)]
/// `POST /v1/predictions/{id}/cancel`: a queued job ends at once (its
/// credits released), a running one as soon as its worker notices.
pub async fn cancel(
    State(api): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let who = match api.authorize(&headers, Scope::Generate).await {
        Ok(p) => p,
        Err(e) => return Problem::from(e).into_response(),
    };
    let Some(id) = parse_id(&id) else {
        return Problem::not_found().into_response();
    };
    match predictions::get(&api.gens, who.user_id, id).await {
        Ok(Some(_)) => {}
        Ok(None) => return Problem::not_found().into_response(),
        Err(e) => return Problem::from(ApiError::unavailable(&e)).into_response(),
    }
    match api.gens.cancel(who.user_id, id).await {
        Ok(Some(job)) => ok(&api, &job),
        Ok(None) => Problem::not_found().into_response(),
        Err(e) => Problem::from(ApiError::unavailable(&e)).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    page_size: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/v1/predictions",
    tag = "Replicate predictions",
    operation_id = "list_predictions",
    summary = "List predictions",
    description = "The key's person's predictions, newest first, keyset paged: follow `next` as it is. Needs the `read` scope.",
    params(
        ("cursor" = Option<String>, Query, description = "From the previous page's `next`."),
        ("page_size" = Option<u64>, Query, description = "1 to 100 (default 100)."),
    ),
    responses(
        (status = 200, description = "A page.", body = super::openapi::PredictionPage),
        (status = 400, description = "The cursor is not valid.", body = super::openapi::Problem, content_type = "application/problem+json"),
        super::openapi::ReadProblems,
    )
)]
/// `GET /v1/predictions[?cursor=…]`: the owner's predictions, newest
/// first, keyset paged (`next` is the URL of the next page, or null).
pub async fn list(
    State(api): State<ApiState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let who = match api.authorize(&headers, Scope::Read).await {
        Ok(p) => p,
        Err(e) => return Problem::from(e).into_response(),
    };
    let bad = || {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The cursor is not valid: use the next URL of the previous page as it is.",
        )
        .into_response()
    };
    let Ok(Query(q)) = query else {
        return bad();
    };
    let cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => match Cursor::decode(c) {
            Some(c) => Some(c),
            None => return bad(),
        },
    };
    let size = q.page_size.unwrap_or(PAGE);
    match predictions::page(&api.gens, who.user_id, cursor, size).await {
        Ok((jobs, next)) => {
            let results: Vec<Value> = jobs.iter().map(|j| prediction(&api, j)).collect();
            let size = size.clamp(1, predictions::MAX_PAGE);
            let next = next.map(|c| {
                let mut url = format!("{}/v1/predictions?cursor={}", api.public_origin, c.encode());
                if size != PAGE {
                    url.push_str(&format!("&page_size={size}"));
                }
                url
            });
            Answer {
                status: StatusCode::OK,
                body: json!({"previous": null, "next": next, "results": results}).to_string(),
                headers: vec![],
                keep: false,
                job_made: false,
                replay: None,
            }
            .into_response()
        }
        Err(e) => Problem::from(ApiError::unavailable(&e)).into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/v1/webhooks/default/secret",
    tag = "Replicate predictions",
    operation_id = "get_default_webhook_secret",
    summary = "The default webhook signing secret",
    description = "The secret that signs this person's prediction webhooks (made on first use). Needs the `webhooks` scope.",
    responses(
        (status = 200, description = "The secret.", body = super::openapi::DefaultSecret),
        super::openapi::ReadProblems,
    )
)]
/// `GET /v1/webhooks/default/secret`: the person's default signing secret
/// (`{"key":"whsec_…"}`, made on first use), which signs their
/// predictions' webhooks; what Replicate's
/// `client.webhooks.default.secret()` reads. Needs the `webhooks` scope.
pub async fn default_secret(State(api): State<ApiState>, headers: HeaderMap) -> Response {
    let who = match api.authorize(&headers, Scope::Webhooks).await {
        Ok(p) => p,
        Err(e) => return Problem::from(e).into_response(),
    };
    match api.webhooks.default_secret(who.user_id).await {
        Ok(secret) => Answer {
            status: StatusCode::OK,
            body: json!({"key": secret.expose()}).to_string(),
            headers: vec![(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            keep: false,
            job_made: false,
            replay: None,
        }
        .into_response(),
        Err(e) => Problem::from(ApiError::unavailable(&e)).into_response(),
    }
}
