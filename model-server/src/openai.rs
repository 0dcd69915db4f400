//! OpenAI Images: `POST /v1/images/generations`.

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use uni1_models::unix_now;

use crate::{
    malformed_json, mentions_nsfw, oversized, render, retry_after, Fault, ModelServer, Outputs,
    HANG, MAX_IMAGES,
};

fn openai_error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    let body = json!({
        "error": { "message": message, "type": kind, "param": null, "code": code }
    });
    (status, Json(body)).into_response()
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

pub(crate) async fn openai_generate(
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
