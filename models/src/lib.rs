//! Image models behind one interface.
//!
//! A [`ImageModel`] takes one normalized [`GenerationRequest`] and answers one
//! normalized [`Outcome`]. Three back-ends implement it:
//! - [`builtin::Builtin`]: the local deterministic generator (no network;
//!   "built-in, not AI"), so the product works on first run;
//! - [`openai::OpenAiImages`]: `POST {base}/v1/images/generations`, answers as
//!   `b64_json` or `url` (also covers compatible servers);
//! - [`predictions::Predictions`]: asynchronous providers in the Replicate
//!   predictions shape (submit, poll, signed webhook, cancel).
//!
//! Every request to a provider goes through the model's
//! [`outbound::Outbound`] client: public addresses only (loopback only for a
//! model whose `base_url` is on loopback), no redirects, https, output URLs
//! only from the model's output hosts, capped answers.
//!
//! The project's own model server (both wire protocols in front of the
//! built-in generator, with injectable faults) is the `uni1-model-server`
//! crate, so this library carries no web server.

pub mod builtin;
pub mod moderation;
pub mod openai;
pub mod outbound;
pub mod predictions;

use serde::{Deserialize, Serialize};

pub use outbound::{FetchError, Outbound};

/// Aspect ratios the studio offers; each maps to a pixel size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AspectRatio {
    #[serde(rename = "1:1")]
    Square,
    #[serde(rename = "4:3")]
    Landscape4x3,
    #[serde(rename = "3:4")]
    Portrait3x4,
    #[serde(rename = "16:9")]
    Wide16x9,
    #[serde(rename = "9:16")]
    Tall9x16,
}

impl AspectRatio {
    pub const ALL: [AspectRatio; 5] = [
        AspectRatio::Square,
        AspectRatio::Landscape4x3,
        AspectRatio::Portrait3x4,
        AspectRatio::Wide16x9,
        AspectRatio::Tall9x16,
    ];

    /// "1:1", "16:9", ...
    pub fn label(self) -> &'static str {
        match self {
            AspectRatio::Square => "1:1",
            AspectRatio::Landscape4x3 => "4:3",
            AspectRatio::Portrait3x4 => "3:4",
            AspectRatio::Wide16x9 => "16:9",
            AspectRatio::Tall9x16 => "9:16",
        }
    }

    /// Parses a label ("16:9").
    pub fn parse(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.label() == label)
    }

    /// Pixel size for a model whose square output is `base` × `base`
    /// (rounded to multiples of 64).
    pub fn size(self, base: u32) -> (u32, u32) {
        let round = |v: f64| ((v / 64.0).round() as u32).max(1) * 64;
        let (w, h): (f64, f64) = match self {
            AspectRatio::Square => (1.0, 1.0),
            AspectRatio::Landscape4x3 => (4.0, 3.0),
            AspectRatio::Portrait3x4 => (3.0, 4.0),
            AspectRatio::Wide16x9 => (16.0, 9.0),
            AspectRatio::Tall9x16 => (9.0, 16.0),
        };
        let scale = f64::from(base) / (w * h).sqrt();
        (round(w * scale), round(h * scale))
    }
}

/// What a model can do; the studio builds its controls from this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    pub aspect_ratios: Vec<AspectRatio>,
    /// Square output size in pixels (other ratios keep the same area).
    pub base_size: u32,
    pub max_images: u8,
    pub negative_prompt: bool,
    pub seed: bool,
    pub reference_image: bool,
    pub style_presets: Vec<String>,
}

/// A reference image for image-to-image.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Re-encoded PNG (see `uni1_imaging::reference_png`).
    pub png: Vec<u8>,
    /// 0.0 (ignore) ..= 1.0 (follow closely).
    pub strength: f32,
}

/// One normalized request, already validated against the model's
/// [`Capabilities`].
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub aspect_ratio: AspectRatio,
    pub count: u8,
    /// The seed to use; `None` lets the back-end choose (and report it).
    pub seed: Option<u64>,
    pub style: Option<String>,
    pub reference: Option<Reference>,
    /// An earlier submission of this same job at an asynchronous provider
    /// (see [`JobHooks::submitted`]): resume it instead of submitting again.
    pub resume_external_id: Option<String>,
}

/// One image as the back-end returned it.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageData {
    Bytes(Vec<u8>),
    Base64(String),
    Url(url::Url),
}

/// How a generation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded {
        images: Vec<ImageData>,
        /// The seed actually used, when the back-end reports one.
        seed: Option<u64>,
    },
    /// `message` is for operators' logs; `retryable` says whether trying
    /// again later may work (429, 5xx, timeouts, network errors).
    Failed { retryable: bool, message: String },
    /// The back-end's content filter refused the request; `reason` is safe to
    /// show the user.
    Refused { reason: String },
    /// Cancelled at the user's request (see [`JobHooks::cancelled`]).
    Cancelled,
}

/// Calls from a back-end to the job that runs it.
#[async_trait::async_trait]
pub trait JobHooks: Send + Sync {
    /// The provider accepted the job under `external_id`; the queue records it
    /// so a worker that takes over after a crash resumes instead of paying for
    /// a second submission.
    async fn submitted(&self, external_id: &str);
    /// Whether the user asked to cancel; asynchronous back-ends check this
    /// while they wait and cancel at the provider.
    async fn cancelled(&self) -> bool;
}

/// Hooks that do nothing (for one-off calls and tests).
pub struct NoHooks;

#[async_trait::async_trait]
impl JobHooks for NoHooks {
    async fn submitted(&self, _external_id: &str) {}
    async fn cancelled(&self) -> bool {
        false
    }
}

/// An image model.
#[async_trait::async_trait]
pub trait ImageModel: Send + Sync {
    fn capabilities(&self) -> &Capabilities;
    /// The back-end's kind, recorded with each generation ("builtin",
    /// "openai", "predictions").
    fn backend(&self) -> &'static str;
    async fn generate(&self, request: &GenerationRequest, hooks: &dyn JobHooks) -> Outcome;

    /// Fetches an output this back-end returned as [`ImageData::Url`]
    /// (the queue stores it at once), through the model's
    /// [`outbound::Outbound`]: only from its output hosts, at most
    /// `max_bytes`. Back-ends that never answer URLs refuse.
    async fn fetch_output(&self, url: &url::Url, max_bytes: usize) -> Result<Vec<u8>, FetchError> {
        let _ = (url, max_bytes);
        Err(FetchError::permanent(format!(
            "the {} back-end does not deliver images as URLs",
            self.backend()
        )))
    }
}

/// An error with its sources ("error sending request: connection refused"),
/// since reqwest's own message leaves out the cause.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Whether a transport error is worth retrying: every transport failure
/// (timeout, refused or reset connection, broken body) may pass; only a
/// request we could not even build will not.
pub(crate) fn transport_retryable(error: &reqwest::Error) -> bool {
    !error.is_builder()
}

/// `base` with `segments` appended as path segments (percent-encoded, so an
/// id from a provider or the database cannot change the route).
pub fn endpoint(base: &url::Url, segments: &[&str]) -> Result<url::Url, String> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| format!("{base} cannot be used as a base URL"))?
        .pop_if_empty()
        .extend(segments);
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// At most `max` characters of a provider's answer, for log messages.
pub(crate) fn snippet(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// `message` with every occurrence of `secret` masked: some providers echo
/// (part of) the credential in their error bodies, and messages go to logs.
pub(crate) fn redact(message: &str, secret: &str) -> String {
    if secret.is_empty() {
        message.to_owned()
    } else {
        message.replace(secret, "[redacted]")
    }
}

/// Unix time now, in seconds (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
