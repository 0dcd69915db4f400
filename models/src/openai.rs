//! OpenAI Images compatible back-end: `POST {base_url}/v1/images/generations`.

use serde::Deserialize;

use crate::outbound::{base64_len, read_capped, refused_by_guard, FetchError, Outbound};
use crate::{
    error_chain, redact, snippet, transport_retryable, AspectRatio, Capabilities,
    GenerationRequest, ImageData, ImageModel, JobHooks, Outcome,
};

/// Room in an answer for everything but the images (JSON, seed, ...).
const ANSWER_OVERHEAD: usize = 64 * 1024;

/// What the user sees when the provider's content filter refuses: the
/// provider's own wording may quote the prompt or policy internals.
pub const REFUSED_REASON: &str = "The model's safety filter refused this prompt.";

/// Settings for one OpenAI-compatible model.
#[derive(Clone)]
pub struct OpenAiImages {
    pub capabilities: crate::Capabilities,
    /// e.g. `https://api.openai.com` (no trailing `/v1`).
    pub base_url: url::Url,
    pub api_key: String,
    /// The provider's model name, sent as `model`.
    pub model: String,
    /// Every request goes through it (see [`Outbound`]).
    pub http: Outbound,
}

impl OpenAiImages {
    /// A model with [`OpenAiImages::default_capabilities`]; set
    /// `capabilities` to what the provider's model really accepts.
    pub fn new(
        base_url: url::Url,
        api_key: impl Into<String>,
        model: impl Into<String>,
        http: Outbound,
    ) -> Self {
        Self {
            capabilities: Self::default_capabilities(),
            base_url,
            api_key: api_key.into(),
            model: model.into(),
            http,
        }
    }

    /// Replaces the capabilities (builder style).
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Every aspect ratio at a 1024 px base, up to 4 images, negative prompt
    /// and seed (sent as extra fields, which compatible servers such as the
    /// project's model server honour and OpenAI ignores), no reference image
    /// (the generations endpoint takes none), no style presets.
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

    /// The JSON body: OpenAI's fields, plus `negative_prompt`, `seed` and
    /// `style` only when set (OpenAI tolerates unknown fields; compatible
    /// servers use them). A reference image is not sent: the generations
    /// endpoint has no field for it.
    fn body(&self, request: &GenerationRequest) -> serde_json::Value {
        let (width, height) = request.aspect_ratio.size(self.capabilities.base_size);
        let mut body = serde_json::json!({
            "model": self.model,
            "prompt": request.prompt,
            "n": request.count,
            "size": format!("{width}x{height}"),
            "response_format": "b64_json",
        });
        if let Some(map) = body.as_object_mut() {
            if let Some(negative) = &request.negative_prompt {
                map.insert("negative_prompt".into(), negative.as_str().into());
            }
            if let Some(seed) = request.seed {
                map.insert("seed".into(), seed.into());
            }
            if let Some(style) = &request.style {
                map.insert("style".into(), style.as_str().into());
            }
        }
        body
    }

    /// The largest answer accepted for `count` images: each at most the
    /// model's image size, in base64, plus the JSON around them.
    fn answer_cap(&self, count: u8) -> usize {
        base64_len(self.http.max_image_bytes())
            .saturating_mul(usize::from(count.max(1)))
            .saturating_add(ANSWER_OVERHEAD)
    }

    fn failed(&self, retryable: bool, message: String) -> Outcome {
        Outcome::Failed {
            retryable,
            message: redact(&message, &self.api_key),
        }
    }
}

#[derive(Deserialize)]
struct ImagesResponse {
    data: Option<Vec<ImageItem>>,
    /// Not OpenAI's: the project's model server reports the seed it used.
    seed: Option<u64>,
}

#[derive(Deserialize)]
struct ImageItem {
    b64_json: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: Option<String>,
    message: Option<String>,
}

#[async_trait::async_trait]
impl ImageModel for OpenAiImages {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }
    fn backend(&self) -> &'static str {
        "openai"
    }

    /// One request, no retries here (the queue retries retryable failures
    /// with back-off). Malformed 2xx answers are retryable: a truncated body
    /// from a proxy or an overloaded server is usually transient, and the
    /// queue bounds the attempts.
    async fn generate(&self, request: &GenerationRequest, _hooks: &dyn JobHooks) -> Outcome {
        let url = match crate::endpoint(&self.base_url, &["v1", "images", "generations"]) {
            Ok(url) => url,
            Err(message) => return self.failed(false, message),
        };
        let post = match self.http.post(url) {
            Ok(post) => post,
            Err(message) => return self.failed(false, message),
        };
        let sent = post
            .bearer_auth(&self.api_key)
            .json(&self.body(request))
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                let kind = if error.is_timeout() {
                    "timed out"
                } else {
                    "failed"
                };
                return self.failed(
                    transport_retryable(&error) && !refused_by_guard(&error),
                    format!("the image request {kind}: {}", error_chain(&error)),
                );
            }
        };
        let status = response.status();
        let body = match read_capped(response, self.answer_cap(request.count)).await {
            Ok(body) => body,
            Err(error) => {
                let FetchError { retryable, message } = error.context("the answer");
                return self.failed(retryable, message);
            }
        };
        let text = String::from_utf8_lossy(&body);

        if !status.is_success() {
            let detail = serde_json::from_slice::<ErrorResponse>(&body).ok();
            let code = detail.as_ref().and_then(|d| d.error.code.as_deref());
            if status == reqwest::StatusCode::BAD_REQUEST
                && matches!(
                    code,
                    Some("content_policy_violation" | "moderation_blocked")
                )
            {
                return Outcome::Refused {
                    reason: REFUSED_REASON.into(),
                };
            }
            let retryable = status == reqwest::StatusCode::TOO_MANY_REQUESTS
                || status == reqwest::StatusCode::REQUEST_TIMEOUT
                || status.is_server_error();
            let message = detail
                .and_then(|d| d.error.message)
                .unwrap_or_else(|| text.to_string());
            return self.failed(
                retryable,
                format!("HTTP {status}: {}", snippet(&message, 300)),
            );
        }

        let parsed: ImagesResponse = match serde_json::from_slice(&body) {
            Ok(parsed) => parsed,
            Err(error) => {
                return self.failed(
                    true,
                    format!(
                        "the answer is not the expected JSON ({error}): {}",
                        snippet(&text, 200)
                    ),
                )
            }
        };
        let items = parsed.data.unwrap_or_default();
        // Never more than was asked for (and paid): a provider that sends
        // more is broken or hostile, and its extra URLs are not fetched.
        if items.len() > usize::from(request.count) {
            return self.failed(
                false,
                format!(
                    "the answer has {} images, more than the {} requested",
                    items.len(),
                    request.count
                ),
            );
        }
        let mut images = Vec::new();
        for item in items {
            match (item.b64_json, item.url) {
                (Some(b64), _) if !b64.is_empty() => images.push(ImageData::Base64(b64)),
                (_, Some(url)) => match url::Url::parse(&url) {
                    Ok(url) => {
                        if let Err(refused) = self.http.check_output(&url) {
                            return self.failed(
                                false,
                                format!("the answer's image URL is refused: {refused}"),
                            );
                        }
                        images.push(ImageData::Url(url))
                    }
                    Err(error) => {
                        return self
                            .failed(true, format!("the answer has a bad image URL: {error}"))
                    }
                },
                _ => return self.failed(true, "an image in the answer has no data".into()),
            }
        }
        if images.is_empty() {
            return self.failed(true, "the answer has no images".into());
        }
        // A requested seed counts as used only if the model declares seed
        // support; OpenAI itself ignores it.
        let requested = request.seed.filter(|_| self.capabilities.seed);
        Outcome::Succeeded {
            images,
            seed: parsed.seed.or(requested),
        }
    }

    async fn fetch_output(&self, url: &url::Url, max_bytes: usize) -> Result<Vec<u8>, FetchError> {
        self.http
            .fetch_output(url, max_bytes)
            .await
            .map_err(|e| FetchError {
                retryable: e.retryable,
                message: redact(&e.message, &self.api_key),
            })
    }
}
