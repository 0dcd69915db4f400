//! The developer API under `/v1` (issue 17): plain axum routes that speak
//! OpenAI's wire protocol ([`openai`]) and Replicate's predictions
//! ([`replicate`], errors as problem details there), authorized by a bearer API key only.
//! Cookies are never looked at here (and keys are never accepted on pages),
//! so `/v1` has no CSRF surface and is exempt from the origin check.
//!
//! Every answer carries `x-request-id` (the router's middleware); errors
//! use OpenAI's envelope `{"error":{"message","type","param","code"}}`;
//! a 429 or 503 says `retry-after` (at most 60 s), and an answer a retry
//! cannot change says `x-should-retry: false` (the official clients retry
//! 408/409/429/5xx otherwise). `Idempotency-Key` on a POST has Stripe's
//! semantics ([`idempotent`]); a kept answer of base64 images is stored as
//! the ids of its images and rebuilt on a repeat ([`openai::rebuild_b64`]).
//! Every authorized request counts against its key's request rate ([`ApiState::authorize`]; 429 `rate_limit_exceeded`).

pub mod edits;
pub mod models;
pub mod openai;
pub mod openapi;
pub mod replicate;

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::json;
use uni1_app::state::AppState;
use uni1_domain::developer::idempotency::{self, Begin, Claim};
use uni1_domain::developer::{ApiKeys, AuthError, MediaSigner, Principal, Scope};
use uni1_domain::generation::Generations;

/// The largest JSON body accepted.
pub const JSON_LIMIT: usize = 1024 * 1024;
/// How long a request waits for its job (below the router's 30 s timeout).
pub const HOLD: Duration = Duration::from_secs(25);

const SHOULD_RETRY: HeaderName = HeaderName::from_static("x-should-retry");
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// What the API routes use.
#[derive(Clone)]
pub struct ApiState {
    pub keys: ApiKeys,
    pub gens: Generations,
    pub media: MediaSigner,
    /// For absolute image URLs.
    pub public_origin: String,
    /// How long a request holds for its job.
    pub hold: Duration,
    /// Per-prediction webhooks (and their default signing secret).
    pub webhooks: uni1_domain::webhooks::Webhooks,
    /// Counts each key's requests (the shared limit store).
    pub limits: std::sync::Arc<uni1_domain::support::rate_limit::RateLimits>,
}

impl ApiState {
    pub fn from_app(app: &AppState) -> Self {
        Self {
            keys: app.api_keys.clone(),
            gens: app.generations.clone(),
            media: app.api_media.clone(),
            public_origin: app.public_origin.clone(),
            hold: HOLD,
            webhooks: app.webhooks.clone(),
            limits: app.limits.clone(),
        }
    }
}

/// The `/v1` routes, with their state.
pub fn routes<S: Clone + Send + Sync + 'static>(app: &AppState) -> Router<S> {
    let state = ApiState::from_app(app);
    Router::new()
        .route(
            "/v1/images/generations",
            post(openai::generations).layer(axum::extract::DefaultBodyLimit::max(JSON_LIMIT)),
        )
        .route(
            "/v1/images/edits",
            post(edits::edits).layer(axum::extract::DefaultBodyLimit::max(edits::BODY_LIMIT)),
        )
        .route("/v1/files/{file}", get(signed_file))
        .route(
            "/v1/models/{owner}/{name}/predictions",
            post(replicate::create_for_model)
                .layer(axum::extract::DefaultBodyLimit::max(JSON_LIMIT)),
        )
        .route(
            "/v1/predictions",
            post(replicate::create_with_version)
                .get(replicate::list)
                .layer(axum::extract::DefaultBodyLimit::max(JSON_LIMIT)),
        )
        .route("/v1/predictions/{id}", get(replicate::get_one))
        .route("/v1/predictions/{id}/cancel", post(replicate::cancel))
        .route("/v1/models/{owner}/{name}", get(models::get_model))
        .route(
            "/v1/models/{owner}/{name}/versions",
            get(models::list_versions),
        )
        .route(
            "/v1/models/{owner}/{name}/versions/{id}",
            get(models::get_version),
        )
        .route("/v1/openapi.json", get(openapi::openapi_json))
        .route(
            "/v1/webhooks/default/secret",
            get(replicate::default_secret),
        )
        .route("/v1/{*rest}", any(unknown_route))
        .with_state(state)
}

/// An error in OpenAI's envelope, with its status and retry advice.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
    pub param: Option<String>,
    pub code: Option<&'static str>,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
    /// `Some(false)`: a retry cannot help.
    pub should_retry: Option<bool>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            param: None,
            code: None,
            retry_after: None,
            should_retry: None,
        }
    }

    /// 400 `invalid_request_error` about `param`.
    pub fn invalid(param: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
            .param(param)
            .code(code)
    }

    pub fn param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.clamp(1, 60));
        self
    }

    pub fn final_answer(mut self) -> Self {
        self.should_retry = Some(false);
        self
    }

    /// 503 after logging what went wrong (never sent).
    pub fn unavailable(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %uni1_app::error::chain(cause), "API request failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "The service is unavailable right now. Try again in a moment.",
        )
        .retry_after(5)
    }

    fn body(&self) -> String {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
        .to_string()
    }

    fn answer(self) -> Answer {
        let mut headers = Vec::new();
        if let Some(secs) = self.retry_after {
            headers.push((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        if let Some(retry) = self.should_retry {
            headers.push((
                SHOULD_RETRY,
                HeaderValue::from_static(if retry { "true" } else { "false" }),
            ));
        }
        Answer {
            status: self.status,
            body: self.body(),
            headers,
            keep: false,
            job_made: false,
            replay: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.answer().into_response()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let message = e.to_string();
        match e {
            AuthError::Missing => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
                    .code("missing_api_key")
            }
            AuthError::Invalid | AuthError::Revoked | AuthError::Expired => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
                    .code("invalid_api_key")
            }
            AuthError::Disabled { .. } => {
                Self::new(StatusCode::FORBIDDEN, "permission_error", message)
                    .code("account_disabled")
                    .final_answer()
            }
            AuthError::NotNow(_) => Self::new(StatusCode::FORBIDDEN, "permission_error", message)
                .code("account_restricted")
                .final_answer(),
            AuthError::Unexpected(u) => Self::unavailable(&u),
        }
    }
}

/// A JSON answer, and what an idempotency key does with it.
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Kept for repeats (the request made a job and this is its outcome).
    pub keep: bool,
    /// A job was made (a repeat must find it again, not make another).
    pub job_made: bool,
    /// What to keep instead of `body` for repeats (a compact form the
    /// answer is rebuilt from); `None`: `body` itself.
    pub replay: Option<Replay>,
}

/// The compact form of a kept answer, and its kind.
pub struct Replay {
    pub kind: &'static str,
    pub body: String,
}

impl From<ApiError> for Answer {
    fn from(e: ApiError) -> Self {
        e.answer()
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response();
        for (name, value) in self.headers {
            r.headers_mut().insert(name, value);
        }
        r
    }
}

impl ApiState {
    /// The person behind the request's bearer key, if it has `scope`.
    /// Only the `Authorization` header counts; a cookie is never read.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        scope: Scope,
    ) -> Result<Principal, ApiError> {
        self.authorize_any(headers, &[scope]).await
    }

    /// [`Self::authorize`] for a route that any of `scopes` opens: the key
    /// is looked up and counted once.
    pub async fn authorize_any(
        &self,
        headers: &HeaderMap,
        scopes: &[Scope],
    ) -> Result<Principal, ApiError> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        let principal = self.keys.authenticate(presented).await?;
        if let Err(wait) = self
            .limits
            .api_key(self.keys.rate().limit(), principal.key_id)
            .await
        {
            return Err(self.rate_error(wait.seconds()));
        }
        if !scopes.iter().any(|s| principal.may(*s)) {
            return Err(Self::scope_error(scopes));
        }
        Ok(principal)
    }

    /// 429: the key used up its request rate for now.
    fn rate_error(&self, retry_after: u64) -> ApiError {
        let rate = self.keys.rate();
        let retry_after = retry_after.clamp(1, 60);
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            format!(
                "Too many requests with this API key: it may send {} a minute, {} at once. Retry in {retry_after} s.",
                rate.per_minute, rate.burst
            ),
        )
        .code("rate_limit_exceeded")
        .retry_after(retry_after)
    }

    fn scope_error(scopes: &[Scope]) -> ApiError {
        let names = scopes
            .iter()
            .map(|s| format!("\"{}\"", s.as_str()))
            .collect::<Vec<_>>()
            .join(" or the ");
        ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            format!(
                "This API key does not have the {names} scope. Make a key with it under Settings → API keys."
            ),
        )
        .code("insufficient_scope")
        .final_answer()
    }
}

/// Runs `run` under the request's `Idempotency-Key`, if it has one: a
/// repeat of a kept answer replays it (`idempotent-replayed: true`); the
/// key with another body -> 422; the key while its first request runs ->
/// 409. `run` gets the claim (its id keys the job, so a released key's
/// retry finds the same job).
pub async fn idempotent<F, Fut>(
    api: &ApiState,
    principal: &Principal,
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
    run: F,
) -> Response
where
    F: FnOnce(Option<Claim>) -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    let Some(key) = headers.get("idempotency-key") else {
        return run(None).await.into_response();
    };
    let key = match key.to_str() {
        Ok(k) if idempotency::valid_key(k) => k,
        _ => {
            return ApiError::invalid(
                "Idempotency-Key",
                "invalid_idempotency_key",
                "The Idempotency-Key header must be 1 to 255 visible ASCII characters.",
            )
            .final_answer()
            .into_response()
        }
    };
    let fingerprint = idempotency::fingerprint("POST", path, body);
    let db = &api.gens.db;
    let begun =
        idempotency::begin(db, principal.user_id, key, &fingerprint, chrono::Utc::now()).await;
    let claim = match begun {
        Err(e) => return ApiError::unavailable(&e).into_response(),
        Ok(Begin::Mismatch) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_error",
                "This Idempotency-Key was already used with a different request. Use a new key for a new request.",
            )
            .code("idempotency_key_reused")
            .final_answer()
            .into_response()
        }
        Ok(Begin::InFlight) => {
            return ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_error",
                "A request with this Idempotency-Key is still running. Retry in a moment to get its answer.",
            )
            .code("idempotency_key_in_use")
            .retry_after(1)
            .into_response()
        }
        Ok(Begin::Replay { status, body, kind }) => {
            let body = match kind.as_deref() {
                None => body,
                Some(openai::B64_REPLAY) => {
                    match openai::rebuild_b64(api, principal, &body).await {
                        Ok(body) => body,
                        Err(e) => return e.into_response(),
                    }
                }
                Some(other) => {
                    tracing::error!(kind = other, "an idempotent answer of an unknown kind");
                    return ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        "The first answer to this Idempotency-Key cannot be repeated. Use a new key.",
                    )
                    .final_answer()
                    .into_response();
                }
            };
            let mut r = Answer {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                body,
                headers: vec![(REPLAYED, HeaderValue::from_static("true"))],
                keep: true,
                job_made: true,
                replay: None,
            }
            .into_response();
            if !r.status().is_success() {
                r.headers_mut()
                    .insert(SHOULD_RETRY, HeaderValue::from_static("false"));
            }
            return r;
        }
        Ok(Begin::Run(claim)) => claim,
    };
    let answer = run(Some(claim)).await;
    let kept = if answer.keep {
        let (body, kind) = match &answer.replay {
            Some(r) => (r.body.as_str(), Some(r.kind)),
            None => (answer.body.as_str(), None),
        };
        idempotency::finish(db, claim, answer.status.as_u16(), body, kind).await
    } else if answer.job_made {
        idempotency::release(db, claim).await
    } else {
        idempotency::forget(db, claim).await
    };
    if let Err(e) = kept {
        tracing::error!(error = %e, "recording an idempotent answer failed");
    }
    answer.into_response()
}

#[derive(serde::Deserialize)]
pub struct SignedQuery {
    #[serde(default)]
    exp: i64,
    #[serde(default)]
    sig: String,
}

#[utoipa::path(
    get,
    path = "/v1/files/{file}",
    tag = "Files",
    operation_id = "get_file",
    summary = "An image of an answer",
    description = "The signed, expiring URL an answer gave (`response_format: url`, a prediction's `output`). Needs no key, and an `Authorization` header is ignored.",
    security(()),
    params(
        ("file" = String, Path, description = "`<image id>.png`"),
        ("exp" = i64, Query, description = "When the URL expires (Unix seconds)."),
        ("sig" = String, Query, description = "The URL's signature."),
    ),
    responses(
        (status = 200, description = "The PNG.", content(("image/png"))),
        (status = 404, description = "The URL is not valid or has expired.", body = openapi::OpenAiError),
        (status = 503, description = "The service cannot answer now.", body = openapi::OpenAiError),
    )
)]
/// `GET /v1/files/{image}.png?exp=…&sig=…`: an image of an API answer,
/// by its signed URL alone (an `Authorization` header is ignored).
pub async fn signed_file(
    State(api): State<ApiState>,
    Path(file): Path<String>,
    Query(q): Query<SignedQuery>,
    headers: HeaderMap,
) -> Response {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "This image link is not valid or has expired.",
        )
        .code("not_found")
        .final_answer()
        .into_response()
    };
    let Some(id) = file
        .strip_suffix(".png")
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
    else {
        return not_found();
    };
    match api
        .media
        .object(id, q.exp, &q.sig, chrono::Utc::now())
        .await
    {
        Ok(Some(object)) => {
            super::media::send(
                &api.gens.blobs,
                &object,
                "private, max-age=3600",
                &headers,
                false,
            )
            .await
        }
        Ok(None) => not_found(),
        Err(e) => ApiError::unavailable(&e).into_response(),
    }
}

/// Anything else under `/v1`.
pub async fn unknown_route(method: http::Method, uri: http::Uri) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        format!("Unknown request URL: {method} {}.", uri.path()),
    )
    .code("unknown_url")
    .final_answer()
    .into_response()
}
