//! The studio's data and server functions: the models on offer, the
//! balance, recent generations, submitting and cancelling. Thin: session ->
//! domain service -> DTO. The DTOs carry preformatted text, not chrono
//! types, to keep the browser bundle small.

// `generate` takes one argument per form field (so the plain HTML form works
// without JavaScript); the `#[server]` macro does not carry an `allow` on the
// function through to the code it generates.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A model as the studio shows it; its controls follow these capabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelOption {
    pub id: String,
    pub name: String,
    pub description: String,
    pub credits_per_image: i64,
    pub aspect_ratios: Vec<String>,
    pub max_images: u8,
    pub negative_prompt: bool,
    pub seed: bool,
    pub reference_image: bool,
    pub style_presets: Vec<String>,
}

/// One stored image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageDto {
    pub id: String,
    pub width: i32,
    pub height: i32,
    /// Whole days of download left (STO-4).
    pub days_left: i64,
}

/// One generation as its owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationDto {
    pub id: String,
    /// queued | running | succeeded | failed | refused | cancelled
    pub status: String,
    pub prompt: String,
    pub model_id: String,
    pub aspect_ratio: String,
    pub count: i32,
    pub seed: Option<i64>,
    pub credits: i64,
    pub error: Option<String>,
    pub queue_position: Option<u64>,
    /// "2026-11-24 14:03 UTC"
    pub queued_at: String,
    /// Seconds from start to finish, once finished.
    pub seconds: Option<f64>,
    pub images: Vec<ImageDto>,
}

impl GenerationDto {
    pub fn is_pending(&self) -> bool {
        matches!(self.status.as_str(), "queued" | "running")
    }
}

/// What the progress stream sends: the person's pending and just-finished
/// generations, and their balance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressUpdate {
    pub jobs: Vec<GenerationDto>,
    pub available: i64,
    pub held: i64,
}

/// Everything the studio page renders from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudioState {
    pub models: Vec<ModelOption>,
    pub available: i64,
    pub held: i64,
    pub email_confirmed: bool,
    /// A fresh idempotency key for the next submission.
    pub form_key: String,
    pub recent: Vec<GenerationDto>,
    /// The model and aspect ratio used last, when the visitor allows the
    /// preferences cookie that remembers them.
    pub remembered: Option<(String, String)>,
}

/// The `uni1_studio` cookie's value for `model|aspect`, if it is one a
/// cookie can carry as it is.
#[cfg(feature = "ssr")]
fn studio_cookie_value(value: &str) -> Option<String> {
    (value.len() <= 100
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:|-".contains(c)))
    .then(|| value.to_owned())
}

/// The remembered studio settings of this request, if allowed and valid.
#[cfg(feature = "ssr")]
fn remembered_settings(models: &[ModelOption]) -> Option<(String, String)> {
    if !crate::session::visitor().preferences_allowed() {
        return None;
    }
    let state = crate::state::app_state().ok()?;
    let parts = use_context::<http::request::Parts>()?;
    let value = crate::session::cookie_value(&parts.headers, state.cookie.studio_name)?;
    let (model, aspect) = value.split_once('|')?;
    let known = models
        .iter()
        .find(|m| m.id == model)?
        .aspect_ratios
        .iter()
        .any(|a| a == aspect);
    known.then(|| (model.to_owned(), aspect.to_owned()))
}

#[cfg(feature = "ssr")]
pub fn to_dto(v: uni1_domain::generation::GenerationView) -> GenerationDto {
    let now = chrono::Utc::now();
    GenerationDto {
        id: v.id.to_string(),
        status: v.status.as_str().into(),
        prompt: v.prompt,
        model_id: v.model_id,
        aspect_ratio: v.aspect_ratio,
        count: v.count,
        seed: v.seed,
        credits: v.credits,
        error: v.error,
        queue_position: v.queue_position,
        queued_at: crate::dates::minute(v.queued_at),
        seconds: match (v.started_at, v.finished_at) {
            (Some(s), Some(f)) => Some((f - s).num_milliseconds() as f64 / 1000.0),
            _ => None,
        },
        images: v
            .images
            .into_iter()
            .filter(|i| !i.purged)
            .map(|i| ImageDto {
                id: i.id.to_string(),
                width: i.width,
                height: i.height,
                days_left: uni1_domain::library::gallery::days_left(i.expires_at, now),
            })
            .collect(),
    }
}

#[cfg(feature = "ssr")]
fn generations() -> Result<uni1_domain::generation::Generations, AppError> {
    Ok(crate::state::app_state()?.generations)
}

#[cfg(feature = "ssr")]
fn new_form_key() -> String {
    use rand::Rng as _;
    let bytes: [u8; 16] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The studio's data for the signed-in person.
#[server(prefix = "/api", endpoint = "studio")]
pub async fn get_studio() -> Result<StudioState, AppError> {
    let user = crate::session::require_user()?;
    let gens = generations()?;
    uni1_domain::billing::credits::ensure_account(&gens.db, user.id, &gens.credits).await?;
    let balance = uni1_domain::billing::credits::balance(&gens.db, user.id).await?;
    let recent = gens.recent(user.id, 20).await?;
    let models: Vec<ModelOption> = gens
        .catalog
        .all()
        .iter()
        .map(|m| {
            let c = m.capabilities();
            ModelOption {
                id: m.id.clone(),
                name: m.name.clone(),
                description: m.description.clone(),
                credits_per_image: m.credits_per_image,
                aspect_ratios: c
                    .aspect_ratios
                    .iter()
                    .map(|a| a.label().to_owned())
                    .collect(),
                max_images: c.max_images,
                negative_prompt: c.negative_prompt,
                seed: c.seed,
                reference_image: c.reference_image,
                style_presets: c.style_presets.clone(),
            }
        })
        .collect();
    Ok(StudioState {
        remembered: remembered_settings(&models),
        models,
        available: balance.available,
        held: balance.held,
        email_confirmed: user.email_confirmed,
        form_key: new_form_key(),
        recent: recent.into_iter().map(to_dto).collect(),
    })
}

/// Queues a generation. `seed` may be empty (random); `reference` is an
/// upload id from `POST /api/uploads/reference`.
#[server(prefix = "/api", endpoint = "generate")]
pub async fn generate(
    form_key: String,
    model: String,
    prompt: String,
    #[server(default)] negative_prompt: String,
    aspect_ratio: String,
    count: String,
    #[server(default)] seed: String,
    #[server(default)] style: String,
    #[server(default)] reference: String,
    #[server(default)] reference_strength: String,
    #[server(default)] parent: String,
) -> Result<GenerationDto, AppError> {
    use uni1_domain::generation::SubmitInput;

    let user = crate::session::require_user()?;
    let gens = generations()?;
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| AppError::invalid("count", "Choose how many images to make.").respond())?;
    let seed = match seed.trim() {
        "" => None,
        s => Some(s.parse::<u64>().map_err(|_| {
            AppError::invalid(
                "seed",
                "The seed must be a whole number, or empty for a random one.",
            )
            .respond()
        })?),
    };
    let reference_upload = match reference.trim() {
        "" => None,
        s => Some(uuid::Uuid::parse_str(s).map_err(|_| {
            AppError::invalid(
                "reference",
                "The reference image has expired. Upload it again.",
            )
            .respond()
        })?),
    };
    let reference_strength = match reference_strength.trim() {
        "" => None,
        s => Some(s.parse::<f32>().map_err(|_| {
            AppError::invalid("reference_strength", "The strength must be 0 to 1.").respond()
        })?),
    };
    let input = SubmitInput {
        idempotency_key: form_key,
        model_id: model,
        prompt,
        negative_prompt,
        aspect_ratio,
        count,
        seed,
        style,
        reference_upload,
        reference_strength,
        parent_id: match parent.trim() {
            "" => None,
            p => Some(uuid::Uuid::parse_str(p).map_err(|_| {
                AppError::invalid("parent", "The original image is no longer in your gallery.")
                    .respond()
            })?),
        },
    };
    let remembered = crate::session::visitor()
        .preferences_allowed()
        .then(|| format!("{}|{}", input.model_id, input.aspect_ratio));
    let view = gens.submit(user.id, user.email_confirmed, input).await?;
    crate::session::count_event(
        uni1_domain::analytics::EventKind::GenerationSubmitted,
        user.objected,
    )
    .await;
    // With the preferences category allowed, the studio starts with this
    // model and aspect ratio next time (the `uni1_studio` cookie).
    if let (Some(value), Ok(state)) = (remembered, crate::state::app_state()) {
        if let Some(value) = studio_cookie_value(&value) {
            crate::session::set_cookie_header(state.cookie.set_studio(&value));
        }
    }
    Ok(to_dto(view))
}

/// Cancels one of the signed-in person's generations.
#[server(prefix = "/api", endpoint = "cancel-generation")]
pub async fn cancel_generation(id: String) -> Result<GenerationDto, AppError> {
    let user = crate::session::require_user()?;
    let gens = generations()?;
    let id = crate::params::id(&id)?;
    match gens.cancel(user.id, id).await? {
        Some(view) => Ok(to_dto(view)),
        None => Err(AppError::NotFound.respond()),
    }
}

/// Deletes a reference image the person uploaded and no longer wants, at
/// once (not only after the hour). One a job already uses stays until the
/// job ends; the answer says whether it went.
#[server(prefix = "/api", endpoint = "remove-reference")]
pub async fn remove_reference(id: String) -> Result<bool, AppError> {
    let user = crate::session::require_user()?;
    let gens = generations()?;
    let id = crate::params::id(&id)?;
    Ok(gens.delete_upload(user.id, id).await?)
}
