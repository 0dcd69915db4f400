//! Replicate's models and versions for the models this deployment offers,
//! so `replicate.models.get("uni1/<id>")`, `model.versions.list()` and
//! `client.run("uni1/<id>:<id>")` work with the official clients.
//!
//! A model is `uni1/<model id>` with exactly one version, whose id is the
//! model id (what `POST /v1/predictions` takes as `version`). The
//! version's `openapi_schema` is a Cog-style fragment built from the
//! model's capabilities (`Input`: prompt, and the aspect ratios, count,
//! seed, negative prompt and styles it offers; `Output`: an array of image
//! URLs), so clients that read it see what the model takes.
//!
//! Any valid key with the `read` or the `generate` scope may read them:
//! `client.run` with a version creates the prediction, then reads the
//! version (so a key that may generate must be able to read it).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use uni1_domain::developer::Scope;
use uni1_domain::generation::catalog::ModelEntry;
use uni1_models::AspectRatio;

use super::openapi::{Model, ModelVersion, VersionPage};
use super::replicate::{Problem, OWNER};
use super::{ApiError, ApiState};

/// The versions' `created_at`. The catalogue comes from configuration and
/// has no date, so a fixed one keeps the answer the same on every process
/// and after every restart (the date uni1's developer API appeared).
const VERSIONS_CREATED_AT: &str = "2026-12-05T00:00:00.000000Z";

/// The key's person, if the key may read or generate (looked up and
/// counted once).
async fn authorize(api: &ApiState, headers: &HeaderMap) -> Result<(), Problem> {
    api.authorize_any(headers, &[Scope::Read, Scope::Generate])
        .await
        .map(|_| ())
        .map_err(Problem::from)
}

fn model_not_found(api: &ApiState, owner: &str, name: &str) -> Problem {
    let ids = api
        .gens
        .catalog
        .all()
        .iter()
        .map(|m| format!("{OWNER}/{}", m.id))
        .collect::<Vec<_>>()
        .join(", ");
    Problem::new(
        StatusCode::NOT_FOUND,
        "Model not found",
        format!("The model {owner}/{name} does not exist here. Use one of: {ids}."),
    )
}

/// The model `owner/name`, if it is one of ours.
fn entry<'a>(api: &'a ApiState, owner: &str, name: &str) -> Result<&'a ModelEntry, Problem> {
    if owner != OWNER {
        return Err(model_not_found(api, owner, name));
    }
    api.gens
        .catalog
        .get(name)
        .ok_or_else(|| model_not_found(api, owner, name))
}

/// The default aspect ratio: square when offered, else the first.
fn default_ratio(ratios: &[AspectRatio]) -> Option<AspectRatio> {
    if ratios.contains(&AspectRatio::Square) {
        Some(AspectRatio::Square)
    } else {
        ratios.first().copied()
    }
}

/// The Cog-style schema of what the model takes and gives.
pub fn input_schema(entry: &ModelEntry) -> Value {
    let caps = entry.capabilities();
    let mut properties = serde_json::Map::new();
    let mut order = 0;
    let mut add = |name: &str, mut schema: Value| {
        schema["title"] = json!(title(name));
        schema["x-order"] = json!(order);
        order += 1;
        properties.insert(name.to_owned(), schema);
    };
    add(
        "prompt",
        json!({"type": "string", "description": "What to draw."}),
    );
    if caps.negative_prompt {
        add(
            "negative_prompt",
            json!({"type": "string", "description": "What to keep out of the image."}),
        );
    }
    let ratios: Vec<&str> = caps.aspect_ratios.iter().map(|a| a.label()).collect();
    add(
        "aspect_ratio",
        json!({
            "type": "string",
            "enum": ratios,
            "default": default_ratio(&caps.aspect_ratios).map(AspectRatio::label),
            "description": "Width to height.",
        }),
    );
    add(
        "num_outputs",
        json!({
            "type": "integer",
            "minimum": 1,
            "maximum": caps.max_images,
            "default": 1,
            "description": "How many images (each is charged).",
        }),
    );
    if caps.seed {
        add(
            "seed",
            json!({"type": "integer", "minimum": 0, "description": "The same seed and input give the same image."}),
        );
    }
    if !caps.style_presets.is_empty() {
        add(
            "style",
            json!({"type": "string", "enum": caps.style_presets, "description": "A style preset."}),
        );
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": entry.name, "version": entry.id},
        "paths": {},
        "components": {"schemas": {
            "Input": {
                "type": "object",
                "title": "Input",
                "required": ["prompt"],
                "properties": properties,
            },
            "Output": {
                "type": "array",
                "title": "Output",
                "items": {"type": "string", "format": "uri"},
            },
        }},
    })
}

/// "num_outputs" -> "Num Outputs" (Cog's titles).
fn title(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn version(entry: &ModelEntry) -> ModelVersion {
    ModelVersion {
        id: entry.id.clone(),
        created_at: VERSIONS_CREATED_AT.to_owned(),
        cog_version: "none".into(),
        openapi_schema: input_schema(entry),
    }
}

fn model(api: &ApiState, entry: &ModelEntry) -> Model {
    Model {
        url: format!("{}/docs/api#models", api.public_origin),
        owner: OWNER.into(),
        name: entry.id.clone(),
        description: Some(entry.description.clone()),
        visibility: "public".into(),
        github_url: None,
        paper_url: None,
        license_url: None,
        run_count: 0,
        cover_image_url: None,
        default_example: None,
        latest_version: Some(version(entry)),
    }
}

fn ok<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => super::Answer {
            status: StatusCode::OK,
            body,
            headers: vec![],
            keep: false,
            job_made: false,
            replay: None,
        }
        .into_response(),
        Err(e) => Problem::from(ApiError::unavailable(&e)).into_response(),
    }
}

/// A model, with its latest (and only) version.
#[utoipa::path(
    get,
    path = "/v1/models/{owner}/{name}",
    tag = "Replicate models",
    operation_id = "get_model",
    summary = "Get a model",
    params(
        ("owner" = String, Path, description = "Always `uni1`."),
        ("name" = String, Path, description = "A model id, e.g. `builtin`."),
    ),
    responses(
        (status = 200, description = "The model.", body = Model),
        super::openapi::ReadProblems,
    )
)]
pub async fn get_model(
    State(api): State<ApiState>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(p) = authorize(&api, &headers).await {
        return p.into_response();
    }
    match entry(&api, &owner, &name) {
        Ok(e) => ok(&model(&api, e)),
        Err(p) => p.into_response(),
    }
}

/// A model's versions: one, whose id is the model id.
#[utoipa::path(
    get,
    path = "/v1/models/{owner}/{name}/versions",
    tag = "Replicate models",
    operation_id = "list_model_versions",
    summary = "List a model's versions",
    params(
        ("owner" = String, Path, description = "Always `uni1`."),
        ("name" = String, Path, description = "A model id, e.g. `builtin`."),
    ),
    responses(
        (status = 200, description = "The versions, newest first.", body = VersionPage),
        super::openapi::ReadProblems,
    )
)]
pub async fn list_versions(
    State(api): State<ApiState>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(p) = authorize(&api, &headers).await {
        return p.into_response();
    }
    match entry(&api, &owner, &name) {
        Ok(e) => ok(&VersionPage {
            previous: None,
            next: None,
            results: vec![version(e)],
        }),
        Err(p) => p.into_response(),
    }
}

/// One version of a model.
#[utoipa::path(
    get,
    path = "/v1/models/{owner}/{name}/versions/{id}",
    tag = "Replicate models",
    operation_id = "get_model_version",
    summary = "Get a model version",
    params(
        ("owner" = String, Path, description = "Always `uni1`."),
        ("name" = String, Path, description = "A model id, e.g. `builtin`."),
        ("id" = String, Path, description = "The version id: the model id."),
    ),
    responses(
        (status = 200, description = "The version.", body = ModelVersion),
        super::openapi::ReadProblems,
    )
)]
pub async fn get_version(
    State(api): State<ApiState>,
    Path((owner, name, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(p) = authorize(&api, &headers).await {
        return p.into_response();
    }
    match entry(&api, &owner, &name) {
        Ok(e) if e.id == id => ok(&version(e)),
        Ok(e) => Problem::new(
            StatusCode::NOT_FOUND,
            "Version not found",
            format!("The model {OWNER}/{} has one version: {}.", e.id, e.id),
        )
        .into_response(),
        Err(p) => p.into_response(),
    }
}
