//! The client of an operator's output-moderation service (GEN-4): the image
//! and its prompt are POSTed as JSON to one configured URL, through the
//! project's one outbound client ([`Outbound`]: public addresses only, or
//! loopback when the URL itself is on loopback; https otherwise; no
//! redirects; the answer capped).
//!
//! Request: `{"prompt": "...", "image_png_base64": "..."}`.
//! Answer (200): `{"allowed": true}` or `{"allowed": false, "reason": "..."}`.
//! Anything else is an error (the job is retried, then fails with its
//! credits released): an output is never shown unchecked.

use std::time::Duration;

use base64::Engine as _;

use crate::outbound::{read_capped, transport_error, OutboundError};
use crate::{FetchError, Outbound};

/// The largest answer read from the service.
const MAX_ANSWER: usize = 16 * 1024;

/// What the service decided.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ModerationAnswer {
    pub allowed: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

/// An operator's moderation service at one URL.
#[derive(Debug, Clone)]
pub struct HttpModeration {
    outbound: Outbound,
    url: url::Url,
}

impl HttpModeration {
    /// Checks `url` by the outbound rules of model back-ends; `timeout`
    /// bounds each request.
    pub fn new(url: url::Url, timeout: Duration) -> Result<Self, OutboundError> {
        let outbound = Outbound::for_model(&url, &[], timeout)?;
        Ok(Self { outbound, url })
    }

    /// Asks the service about one image.
    pub async fn check(
        &self,
        image_png: &[u8],
        prompt: &str,
    ) -> Result<ModerationAnswer, FetchError> {
        let body = serde_json::json!({
            "prompt": prompt,
            "image_png_base64": base64::engine::general_purpose::STANDARD.encode(image_png),
        });
        let body = serde_json::to_vec(&body)
            .map_err(|e| FetchError::permanent(format!("encoding the request: {e}")))?;
        let response = self
            .outbound
            .post(self.url.clone())
            .map_err(FetchError::permanent)?
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error("asking the moderation service", &e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::retryable(format!(
                "the moderation service answered HTTP {status}"
            )));
        }
        let bytes = read_capped(response, MAX_ANSWER)
            .await
            .map_err(|e| e.context("the moderation answer"))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            FetchError::retryable(format!(
                "the moderation service's answer is not understood: {e}"
            ))
        })
    }
}
