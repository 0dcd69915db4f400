//! OpenAI Images compatible `POST /v1/images/generations`: the official
//! `openai` clients work against uni1 unchanged. The request becomes a
//! normal queued job through the studio's [`Generations::submit`] (credits
//! reserved, then captured or released by the worker; the job is in the
//! person's history and gallery), and the answer waits until the job ends
//! or [`super::ApiState::hold`] passes.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::Response;
use base64::Engine as _;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};
use uni1_domain::developer::idempotency::Claim;
use uni1_domain::developer::{Principal, Scope};
use uni1_domain::generation::service::Variant;
use uni1_domain::generation::{status, GenerationView, Generations, SubmitError, SubmitInput};
use uni1_models::{AspectRatio, Capabilities};

use super::{idempotent, Answer, ApiError, ApiState, Replay};

const PATH: &str = "/v1/images/generations";

/// How the images are sent back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFormat {
    B64Json,
    Url,
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagesRequest {
    pub model: String,
    pub prompt: String,
    pub n: u32,
    pub aspect_ratio: AspectRatio,
    pub response_format: ResponseFormat,
}

#[utoipa::path(
    post,
    path = "/v1/images/generations",
    tag = "OpenAI Images",
    operation_id = "create_image",
    summary = "Generate images",
    description = "OpenAI's `images.generate`. The request is a normal queued job (credits reserved, then captured or released; in the person's history and gallery) and the answer waits until it ends, or 25 s pass (504 `generation_pending`, naming the job). Needs the `generate` scope.",
    request_body = super::openapi::ImageGenerationRequest,
    params(super::openapi::IdempotencyKey),
    responses(
        (status = 200, description = "The images.", body = super::openapi::ImagesResponse,
            headers(("x-request-id" = String, description = "This request's id"))),
        super::openapi::OpenAiErrors,
    )
)]
/// `POST /v1/images/generations`.
pub async fn generations(
    State(api): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    use axum::response::IntoResponse as _;
    let principal = match api.authorize(&headers, Scope::Generate).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return ApiError::new(e.status(), "invalid_request_error", e.body_text())
                .final_answer()
                .into_response()
        }
    };
    let api2 = api.clone();
    let p2 = principal.clone();
    let b2 = body.clone();
    idempotent(
        &api,
        &principal,
        &headers,
        PATH,
        &body,
        move |claim| async move { generate(&api2, &p2, &b2, claim).await },
    )
    .await
}

async fn generate(api: &ApiState, who: &Principal, body: &[u8], claim: Option<Claim>) -> Answer {
    let request = match parse(body, &api.gens) {
        Ok(r) => r,
        Err(e) => return e.final_answer().into(),
    };
    run_job(api, who, request, None, claim).await
}

/// Submits `request` (with the reference upload of an edit) as a normal
/// job, waits for it and answers with its images.
pub(super) async fn run_job(
    api: &ApiState,
    who: &Principal,
    request: ImagesRequest,
    reference: Option<uuid::Uuid>,
    claim: Option<Claim>,
) -> Answer {
    let key = match claim {
        Some(c) => format!("api-{}", c.id.simple()),
        None => format!("api-{}", uuid::Uuid::now_v7().simple()),
    };
    let input = SubmitInput {
        idempotency_key: key,
        model_id: request.model.clone(),
        prompt: request.prompt.clone(),
        aspect_ratio: request.aspect_ratio.label().to_owned(),
        count: request.n,
        reference_upload: reference,
        ..Default::default()
    };
    let job = match api
        .gens
        .submit_as(who.user_id, who.email_confirmed, input, Some(who.budget()))
        .await
    {
        Ok(job) => job,
        Err(e) => return submit_error(e).into(),
    };
    let job = match wait(&api.gens, who, job, api.hold).await {
        Ok(job) => job,
        Err(e) => {
            let mut answer = Answer::from(e);
            answer.job_made = true;
            return answer;
        }
    };
    let mut answer: Answer = match job.status {
        status::SUCCEEDED => match success(api, who, &job, request.response_format).await {
            Ok((body, replay)) => Answer {
                status: StatusCode::OK,
                body,
                headers: vec![],
                keep: true,
                job_made: true,
                replay,
            },
            Err(e) => {
                // The job is done but its answer could not be made (storage
                // or database hiccup): not final, so the key is released and
                // a retry answers from the same job.
                let mut answer = Answer::from(e);
                answer.job_made = true;
                return answer;
            }
        },
        status::REFUSED => ApiError::invalid(
            "prompt",
            "content_policy_violation",
            job.error.clone().unwrap_or_else(|| {
                "The prompt or its images were refused by our content policy.".into()
            }),
        )
        .final_answer()
        .into(),
        status::CANCELLED => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("Generation {} was cancelled.", job.id),
        )
        .code("generation_cancelled")
        .final_answer()
        .into(),
        _ => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!(
                "Generation {} failed: {} No credits were charged for it.",
                job.id,
                job.error.as_deref().unwrap_or("the model did not answer.")
            ),
        )
        .code("generation_failed")
        .into(),
    };
    // A job was made and ended: repeats of the same key get this answer.
    answer.keep = true;
    answer.job_made = true;
    answer
}

/// Polls the job until it is final or `hold` passes.
async fn wait(
    gens: &Generations,
    who: &Principal,
    mut job: GenerationView,
    hold: std::time::Duration,
) -> Result<GenerationView, ApiError> {
    let deadline = tokio::time::Instant::now() + hold;
    loop {
        if !matches!(job.status, status::QUEUED | status::RUNNING) {
            return Ok(job);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "server_error",
                format!(
                    "Generation {} is still {} after {} seconds. It keeps going: find it in your history in the studio, or repeat this request with the same Idempotency-Key to wait for it again.",
                    job.id,
                    if job.status == status::QUEUED { "queued" } else { "running" },
                    hold.as_secs()
                ),
            )
            .code("generation_pending")
            .final_answer());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        job = match gens.get(who.user_id, job.id).await {
            Ok(Some(j)) => j,
            Ok(None) => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    format!("Generation {} is gone.", job.id),
                )
                .final_answer())
            }
            Err(e) => return Err(ApiError::unavailable(&e)),
        };
    }
}

/// The answer of a succeeded job; for base64 images, with the compact
/// form an `Idempotency-Key` keeps instead (the images' ids).
async fn success(
    api: &ApiState,
    who: &Principal,
    job: &GenerationView,
    format: ResponseFormat,
) -> Result<(String, Option<Replay>), ApiError> {
    let created = job.finished_at.unwrap_or(job.queued_at).timestamp();
    match format {
        ResponseFormat::Url => {
            let now = chrono::Utc::now();
            let data: Vec<Value> = job
                .images
                .iter()
                .filter(|i| !i.purged)
                .map(|img| {
                    json!({
                        "url": format!("{}{}", api.public_origin, api.media.path(img.id, now)),
                        "revised_prompt": job.prompt,
                    })
                })
                .collect();
            Ok((json!({"created": created, "data": data}).to_string(), None))
        }
        ResponseFormat::B64Json => {
            let ids: Vec<uuid::Uuid> = job
                .images
                .iter()
                .filter(|i| !i.purged)
                .map(|i| i.id)
                .collect();
            let (body, sent) = b64_body(api, who, created, &job.prompt, &ids).await?;
            let compact = json!({"generation": job.id, "created": created, "images": sent});
            Ok((
                body,
                Some(Replay {
                    kind: B64_REPLAY,
                    body: compact.to_string(),
                }),
            ))
        }
    }
}

/// The kind of a kept answer of base64 images.
pub(super) const B64_REPLAY: &str = "b64_json";

/// The body of base64 images `ids` of `who` (those still stored), and
/// the ids it holds.
async fn b64_body(
    api: &ApiState,
    who: &Principal,
    created: i64,
    prompt: &str,
    ids: &[uuid::Uuid],
) -> Result<(String, Vec<uuid::Uuid>), ApiError> {
    let mut data = Vec::new();
    let mut sent = Vec::new();
    for id in ids {
        let object = api
            .gens
            .media_for_owner(who.user_id, *id, Variant::Original)
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        let Some(object) = object else { continue };
        let bytes = api
            .gens
            .blobs
            .get(&object.path)
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        data.push(json!({
            "b64_json": base64::engine::general_purpose::STANDARD.encode(&bytes),
            "revised_prompt": prompt,
        }));
        sent.push(*id);
    }
    Ok((json!({"created": created, "data": data}).to_string(), sent))
}

/// Rebuilds a kept answer of base64 images from its compact form: the
/// same bytes as the first answer, read again from the stored images. An
/// image deleted since (by its owner, or taken down) makes it a 410.
pub(super) async fn rebuild_b64(
    api: &ApiState,
    who: &Principal,
    compact: &str,
) -> Result<String, ApiError> {
    let broken = || {
        tracing::error!("a kept idempotent answer does not parse");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The first answer to this Idempotency-Key cannot be repeated. Use a new key.",
        )
        .final_answer()
    };
    let value: Value = serde_json::from_str(compact).map_err(|_| broken())?;
    let job_id = value["generation"]
        .as_str()
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .ok_or_else(broken)?;
    let created = value["created"].as_i64().ok_or_else(broken)?;
    let ids = value["images"]
        .as_array()
        .ok_or_else(broken)?
        .iter()
        .map(|v| v.as_str().and_then(|s| uuid::Uuid::parse_str(s).ok()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(broken)?;
    let gone = || {
        ApiError::new(
            StatusCode::GONE,
            "invalid_request_error",
            format!(
                "The images of the first answer to this Idempotency-Key (generation {job_id}) were deleted since. Use a new key to generate again."
            ),
        )
        .code("idempotent_answer_gone")
        .final_answer()
    };
    let job = api
        .gens
        .get(who.user_id, job_id)
        .await
        .map_err(|e| ApiError::unavailable(&e))?
        .ok_or_else(gone)?;
    let (body, sent) = b64_body(api, who, created, &job.prompt, &ids).await?;
    if sent != ids {
        return Err(gone());
    }
    Ok(body)
}

/// What a refused submission means on the wire.
fn submit_error(e: SubmitError) -> ApiError {
    let message = e.to_string();
    match e {
        SubmitError::Invalid(f) => {
            let param = match f.field {
                "count" => "n",
                "aspect_ratio" => "size",
                "reference" | "reference_strength" => "image",
                other => other,
            };
            ApiError::invalid(param, "invalid_value", message).final_answer()
        }
        SubmitError::EmailNotConfirmed => {
            ApiError::new(StatusCode::FORBIDDEN, "permission_error", message)
                .code("email_not_confirmed")
                .final_answer()
        }
        SubmitError::Insufficient { .. } | SubmitError::InDebt { .. } => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "insufficient_quota", message)
                .code("insufficient_quota")
                .retry_after(60)
                .final_answer()
        }
        SubmitError::KeyCapReached { .. } => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "insufficient_quota", message)
                .code("key_cap_reached")
                .retry_after(60)
                .final_answer()
        }
        SubmitError::TooManyPending { .. } => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", message)
                .code("rate_limit_exceeded")
                .retry_after(5)
        }
        SubmitError::TooManyRefused { .. } => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", message)
                .code("too_many_refused")
                .retry_after(60)
                .final_answer()
        }
        SubmitError::ReferenceGone => {
            ApiError::invalid("image", "invalid_value", message).final_answer()
        }
        SubmitError::NotNow(_) => ApiError::new(StatusCode::FORBIDDEN, "permission_error", message)
            .code("account_restricted")
            .final_answer(),
        SubmitError::Unexpected(u) => ApiError::unavailable(&u),
    }
}

/// Parses the JSON body against the catalogue.
pub fn parse(body: &[u8], gens: &Generations) -> Result<ImagesRequest, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "We could not parse the JSON body of your request. Send a JSON object, with Content-Type: application/json.",
        )
    })?;
    let Value::Object(fields) = value else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "The body must be a JSON object.",
        ));
    };
    parse_fields(&fields, gens)
}

/// Checks the request's fields against the catalogue.
pub(super) fn parse_fields(
    fields: &Map<String, Value>,
    gens: &Generations,
) -> Result<ImagesRequest, ApiError> {
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::invalid(
                name,
                "invalid_type",
                format!("'{name}' must be a string."),
            )),
        }
    };
    let models = gens.catalog.all();
    let model = match text("model")? {
        None => models.first().map(|m| m.id.clone()).unwrap_or_default(),
        Some(m) => m,
    };
    let Some(entry) = gens.catalog.get(model.trim()) else {
        let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
        return Err(ApiError::invalid(
            "model",
            "invalid_value",
            format!(
                "The model '{model}' does not exist here. Use one of: {}.",
                ids.join(", ")
            ),
        ));
    };
    let prompt = text("prompt")?.unwrap_or_default();
    if prompt.trim().is_empty() {
        return Err(ApiError::invalid(
            "prompt",
            "missing_required_parameter",
            "Missing required parameter: 'prompt'.",
        ));
    }
    let n = match fields.get("n") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| ApiError::invalid("n", "invalid_type", "'n' must be a whole number."))?,
    };
    let aspect_ratio = aspect_for_size(entry.capabilities(), text("size")?.as_deref())?;
    let response_format = match text("response_format")?.as_deref() {
        None | Some("b64_json") => ResponseFormat::B64Json,
        Some("url") => ResponseFormat::Url,
        Some(other) => {
            return Err(ApiError::invalid(
                "response_format",
                "invalid_value",
                format!("'{other}' is not a response format: use 'b64_json' or 'url'."),
            ))
        }
    };
    match text("output_format")?.as_deref() {
        None | Some("png") => {}
        Some(other) => {
            return Err(ApiError::invalid(
                "output_format",
                "invalid_value",
                format!("'{other}' is not offered: images are sent as 'png'."),
            ))
        }
    }
    reject_unknown(fields)?;
    Ok(ImagesRequest {
        model: entry.id.clone(),
        prompt,
        n,
        aspect_ratio,
        response_format,
    })
}

/// Fields OpenAI defines that uni1 accepts and ignores; anything else is
/// refused by name, so a typo is not silently dropped.
const IGNORED: &[&str] = &[
    "quality",
    "style",
    "user",
    "background",
    "moderation",
    "output_compression",
    "partial_images",
    "stream",
    "input_fidelity",
];

fn reject_unknown(fields: &Map<String, Value>) -> Result<(), ApiError> {
    const KNOWN: &[&str] = &[
        "model",
        "prompt",
        "n",
        "size",
        "response_format",
        "output_format",
    ];
    for name in fields.keys() {
        if !KNOWN.contains(&name.as_str()) && !IGNORED.contains(&name.as_str()) {
            return Err(ApiError::invalid(
                name,
                "unknown_parameter",
                format!("Unknown parameter: '{name}'."),
            ));
        }
    }
    Ok(())
}

/// `size` ("WxH" or "auto") -> one of the model's aspect ratios: the one
/// within 2% of W/H, or a clear refusal naming the sizes that work.
pub fn aspect_for_size(caps: &Capabilities, size: Option<&str>) -> Result<AspectRatio, ApiError> {
    let offered = &caps.aspect_ratios;
    let default = if offered.contains(&AspectRatio::Square) {
        Some(AspectRatio::Square)
    } else {
        offered.first().copied()
    };
    let sizes = || {
        offered
            .iter()
            .map(|a| {
                let (w, h) = a.size(1024);
                format!("{w}x{h}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let refuse = |what: &str| {
        ApiError::invalid(
            "size",
            "invalid_value",
            format!("{what} This model makes these sizes (or any with the same aspect ratio): {}, or 'auto'.", sizes()),
        )
    };
    let size = match size.map(str::trim) {
        None | Some("auto") | Some("") => {
            return default.ok_or_else(|| refuse("This model offers no sizes."))
        }
        Some(s) => s,
    };
    let parsed = size.split_once(['x', 'X']).and_then(|(w, h)| {
        let (w, h) = (w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?);
        (w > 0 && h > 0).then_some((f64::from(w), f64::from(h)))
    });
    let Some((w, h)) = parsed else {
        return Err(refuse(&format!("'{size}' is not a size like 1024x1024.")));
    };
    let want = w / h;
    offered
        .iter()
        .copied()
        .find(|a| {
            let ratio = nominal_ratio(*a);
            (ratio - want).abs() / ratio <= 0.02
        })
        .ok_or_else(|| refuse(&format!("The size {size} has no matching aspect ratio.")))
}

/// Width over height as the label says ("16:9" -> 1.78).
fn nominal_ratio(a: AspectRatio) -> f64 {
    let (w, h) = a.label().split_once(':').unwrap_or(("1", "1"));
    let (w, h) = (
        w.parse::<f64>().unwrap_or(1.0),
        h.parse::<f64>().unwrap_or(1.0),
    );
    w / h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_map_to_aspect_ratios_or_are_refused() {
        let model = uni1_models::builtin::Builtin::new();
        let caps = uni1_models::ImageModel::capabilities(&model);
        assert_eq!(aspect_for_size(caps, None).ok(), Some(AspectRatio::Square));
        assert_eq!(
            aspect_for_size(caps, Some("auto")).ok(),
            Some(AspectRatio::Square)
        );
        assert_eq!(
            aspect_for_size(caps, Some("512x512")).ok(),
            Some(AspectRatio::Square)
        );
        assert_eq!(
            aspect_for_size(caps, Some("1792x1024")).ok(),
            Some(AspectRatio::Wide16x9)
        );
        assert_eq!(
            aspect_for_size(caps, Some("1024x1792")).ok(),
            Some(AspectRatio::Tall9x16)
        );
        for bad in ["1536x1024x", "big", "0x10", "3000x1000"] {
            let e = aspect_for_size(caps, Some(bad)).unwrap_err();
            assert_eq!(e.param.as_deref(), Some("size"));
            assert!(e.message.contains("1024x1024"), "{}", e.message);
        }
    }
}
