//! OpenAI Images compatible `POST /v1/images/edits` (multipart): one
//! `image` (or one `image[]`) becomes the job's reference image through the
//! studio's own upload checks ([`Generations::store_reference`]: sniffed
//! format, byte and pixel limits before decoding, re-encoded without
//! metadata, stored encrypted), then the same queued job as
//! `/v1/images/generations`. Masks are refused by name (no model here
//! takes one).
//!
//! An `Idempotency-Key` fingerprints the parsed request (its text fields
//! and the SHA-256 of each file with its field name), not the multipart
//! bytes: a client's retry encodes the same request with a new boundary.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest as _, Multipart, Request, State};
use axum::response::{IntoResponse as _, Response};
use http::StatusCode;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use uni1_domain::developer::idempotency::Claim;
use uni1_domain::developer::{Principal, Scope};
use uni1_domain::generation::service::UploadError;

use super::openai::{parse_fields, run_job};
use super::{idempotent, Answer, ApiError, ApiState};

const PATH: &str = "/v1/images/edits";
/// The largest multipart body: one reference image (10 MiB, the studio's
/// limit) and the text fields.
pub const BODY_LIMIT: usize = 10 * 1024 * 1024 + 64 * 1024;

#[utoipa::path(
    post,
    path = "/v1/images/edits",
    tag = "OpenAI Images",
    operation_id = "edit_image",
    summary = "Make images from an image",
    description = "OpenAI's `images.edit`: one image (the job's reference image, checked like a studio upload) and a prompt, as multipart/form-data. Otherwise the same as a generation. Needs the `generate` scope.",
    request_body(content = super::openapi::ImageEditForm, content_type = "multipart/form-data"),
    params(super::openapi::IdempotencyKey),
    responses(
        (status = 200, description = "The images.", body = super::openapi::ImagesResponse,
            headers(("x-request-id" = String, description = "This request's id"))),
        super::openapi::OpenAiErrors,
    )
)]
/// `POST /v1/images/edits`.
pub async fn edits(State(api): State<ApiState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let principal = match api.authorize(&parts.headers, Scope::Generate).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "The request is too large: send one image of at most 10 MiB.",
            )
            .param("image")
            .code("request_too_large")
            .final_answer()
            .into_response()
        }
    };
    let headers = parts.headers.clone();
    let (fields, image) = match read_form(parts, bytes).await {
        Ok(form) => form,
        Err(e) => return e.final_answer().into_response(),
    };
    let print = form_fingerprint(&fields, &image);
    let (api2, p2) = (api.clone(), principal.clone());
    idempotent(
        &api,
        &principal,
        &headers,
        PATH,
        print.as_bytes(),
        move |claim| async move { edit(&api2, &p2, fields, image.bytes, claim).await },
    )
    .await
}

/// What an `Idempotency-Key` compares: the text fields (sorted by name)
/// and each file as its field name and SHA-256, never the multipart
/// encoding (its boundary, part order or file name).
fn form_fingerprint(fields: &Map<String, Value>, image: &FormFile) -> String {
    let sorted: std::collections::BTreeMap<&String, &Value> = fields.iter().collect();
    let digest: String = Sha256::digest(&image.bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({
        "fields": sorted,
        "files": [{"field": image.field, "sha256": digest}],
    })
    .to_string()
}

/// A file of the form.
struct FormFile {
    field: String,
    bytes: Bytes,
}

async fn edit(
    api: &ApiState,
    who: &Principal,
    fields: Map<String, Value>,
    image: Bytes,
    claim: Option<Claim>,
) -> Answer {
    let request = match parse_fields(&fields, &api.gens) {
        Ok(r) => r,
        Err(e) => return e.final_answer().into(),
    };
    let upload = match api.gens.store_reference(who.user_id, image.to_vec()).await {
        Ok(u) => u,
        Err(UploadError::Image(e)) => {
            return ApiError::invalid("image", "invalid_image", e.to_string())
                .final_answer()
                .into()
        }
        Err(UploadError::RateLimited(retry)) => {
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "Too many image uploads. Try again in a moment.",
            )
            .code("rate_limit_exceeded")
            .retry_after(retry.seconds())
            .into()
        }
        Err(e @ UploadError::TooMany { .. }) => {
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                e.to_string(),
            )
            .code("too_many_uploads")
            .retry_after(60)
            .into()
        }
        Err(UploadError::Unexpected(u)) => return ApiError::unavailable(&u).into(),
    };
    run_job(api, who, request, Some(upload.id), claim).await
}

/// The text fields (as JSON values: `n` as a number when it is one) and
/// the one image of a multipart body.
async fn read_form(
    parts: http::request::Parts,
    body: Bytes,
) -> Result<(Map<String, Value>, FormFile), ApiError> {
    let not_multipart = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "Send the edit as multipart/form-data with an 'image' file and a 'prompt'.",
        )
    };
    // The request's own parts keep the route's body limit for the parser.
    let mut form = Multipart::from_request(Request::from_parts(parts, Body::from(body)), &())
        .await
        .map_err(|_| not_multipart())?;
    let mut fields = Map::new();
    let mut images: Vec<FormFile> = Vec::new();
    while let Some(field) = form.next_field().await.map_err(|_| not_multipart())? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "image" | "image[]" => images.push(FormFile {
                bytes: field.bytes().await.map_err(|_| not_multipart())?,
                field: name,
            }),
            "mask" => {
                return Err(ApiError::invalid(
                    "mask",
                    "unsupported_parameter",
                    "Masks are not supported: send the image alone, and describe the change in the prompt.",
                ))
            }
            _ => {
                let text = field.text().await.map_err(|_| not_multipart())?;
                let value = match name.as_str() {
                    "n" => text
                        .trim()
                        .parse::<u64>()
                        .map(Value::from)
                        .unwrap_or(Value::String(text)),
                    _ => Value::String(text),
                };
                fields.insert(name, value);
            }
        }
    }
    let mut images = images.into_iter();
    match (images.next(), images.next()) {
        (Some(image), None) => Ok((fields, image)),
        (None, _) => Err(ApiError::invalid(
            "image",
            "missing_required_parameter",
            "Missing required parameter: 'image'.",
        )),
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "image",
            "invalid_value",
            "Send one image: the models here take one reference image.",
        )),
    }
}
