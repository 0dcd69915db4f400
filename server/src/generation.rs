//! Builds the generation service from settings: the object store, the model
//! catalog and the queue policy. `uni1 serve` and `uni1 worker` both call
//! [`build`], so they agree on everything.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::ExposeSecret;
use uni1_domain::generation::{Catalog, ContentPolicy, Generations, ModelEntry, QueuePolicy};
use uni1_domain::support::crypto::AppKey;
use uni1_models::{AspectRatio, Capabilities};

use crate::config::{GenerationSettings, ModelFileEntry};

/// The encrypted object store from settings (the master key derived from the
/// application key unless `UNI1_STORAGE_KEYS` is set).
pub fn blobs(settings: &GenerationSettings, key: &AppKey) -> anyhow::Result<uni1_storage::Blobs> {
    let keyring = match &settings.storage.keys {
        Some(spec) => uni1_storage::Keyring::parse(spec.expose_secret())
            .context("invalid UNI1_STORAGE_KEYS")?,
        None => uni1_storage::Keyring::new(vec![uni1_storage::MasterKey::new(
            &format!("app-{}", key.id()),
            key.derive("storage master key"),
        )
        .context("cannot derive the storage key")?])
        .context("cannot derive the storage key")?,
    };
    uni1_storage::Blobs::open(&settings.storage.config, keyring)
        .context("cannot open the object store (check the UNI1_STORAGE settings)")
}

/// The models on offer: the `[[models]]` of the config file, or the built-in
/// generator alone.
pub fn catalog(
    settings: &GenerationSettings,
    public_origin: &str,
    wakeups: &uni1_models::predictions::Wakeups,
) -> anyhow::Result<Catalog> {
    if settings.models.is_empty() {
        return Ok(Catalog::builtin_only());
    }
    let mut entries = Vec::new();
    for m in settings.models.iter().filter(|m| m.enabled) {
        entries.push(model_entry(m, settings, public_origin, wakeups)?);
    }
    if entries.is_empty() {
        anyhow::bail!("every model in the config file is disabled; enable at least one");
    }
    Ok(Catalog::new(entries))
}

fn capabilities(m: &ModelFileEntry, defaults: Capabilities) -> anyhow::Result<Capabilities> {
    let aspect_ratios = match &m.aspect_ratios {
        None => defaults.aspect_ratios,
        Some(list) => list
            .iter()
            .map(|a| {
                AspectRatio::parse(a).with_context(|| {
                    format!(
                        "model {:?}: aspect ratio {a:?} is not one of 1:1, 4:3, 3:4, 16:9, 9:16",
                        m.id
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    Ok(Capabilities {
        aspect_ratios,
        base_size: m.base_size.unwrap_or(defaults.base_size).clamp(64, 2048),
        max_images: m.max_images.unwrap_or(defaults.max_images).clamp(1, 8),
        negative_prompt: m.negative_prompt.unwrap_or(defaults.negative_prompt),
        seed: m.seed.unwrap_or(defaults.seed),
        reference_image: m.reference_image.unwrap_or(defaults.reference_image),
        style_presets: m.style_presets.clone().unwrap_or(defaults.style_presets),
    })
}

fn secret(m: &ModelFileEntry) -> anyhow::Result<String> {
    if let Some(k) = &m.api_key {
        return Ok(secrecy::ExposeSecret::expose_secret(k).to_owned());
    }
    if let Some(var) = &m.api_key_env {
        return std::env::var(var).with_context(|| {
            format!(
                "model {:?}: the environment variable {var} is not set",
                m.id
            )
        });
    }
    anyhow::bail!("model {:?}: set api_key or api_key_env", m.id)
}

fn base_url(m: &ModelFileEntry) -> anyhow::Result<url::Url> {
    let raw = m
        .base_url
        .as_deref()
        .with_context(|| format!("model {:?}: base_url is required for this back-end", m.id))?;
    let url = url::Url::parse(raw)
        .with_context(|| format!("model {:?}: base_url {raw:?} is not a URL", m.id))?;
    uni1_models::outbound::check_base_url(&url).with_context(|| format!("model {:?}", m.id))?;
    Ok(url)
}

/// The model's one outbound client (public addresses only, no redirects,
/// outputs from its output hosts; see `uni1_models::outbound`).
fn outbound(
    m: &ModelFileEntry,
    base: &url::Url,
    timeout: Duration,
) -> anyhow::Result<uni1_models::Outbound> {
    uni1_models::Outbound::for_model(base, m.output_hosts.as_deref().unwrap_or_default(), timeout)
        .with_context(|| format!("model {:?}", m.id))
}

fn model_entry(
    m: &ModelFileEntry,
    settings: &GenerationSettings,
    public_origin: &str,
    wakeups: &uni1_models::predictions::Wakeups,
) -> anyhow::Result<ModelEntry> {
    let builtin_caps = uni1_models::builtin::Builtin::new().capabilities;
    let timeout = Duration::from_secs(m.timeout_seconds.unwrap_or(120).clamp(1, 3600));
    let model: Arc<dyn uni1_models::ImageModel> = match m.backend.as_str() {
        "builtin" => Arc::new(uni1_models::builtin::Builtin {
            capabilities: capabilities(m, builtin_caps)?,
        }),
        "openai" => Arc::new(uni1_models::openai::OpenAiImages {
            capabilities: capabilities(
                m,
                Capabilities {
                    reference_image: false,
                    ..builtin_caps
                },
            )?,
            http: outbound(m, &base_url(m)?, timeout)?,
            base_url: base_url(m)?,
            api_key: secret(m)?,
            model: m.model.clone().unwrap_or_else(|| "gpt-image-1".into()),
        }),
        "predictions" => Arc::new(uni1_models::predictions::Predictions {
            capabilities: capabilities(m, builtin_caps)?,
            http: outbound(m, &base_url(m)?, Duration::from_secs(30))?,
            base_url: base_url(m)?,
            api_token: secret(m)?,
            version: m
                .model
                .clone()
                .with_context(|| format!("model {:?}: set model (the provider's version)", m.id))?,
            webhook_url: match settings.model_webhook_secret {
                Some(_) => Some(
                    url::Url::parse(&format!("{public_origin}/hooks/models/{}", m.id))
                        .context("the public URL cannot carry a webhook path")?,
                ),
                None => None,
            },
            poll_interval: Duration::from_secs(2),
            deadline: timeout,
            wakeups: wakeups.clone(),
        }),
        other => anyhow::bail!("model {:?}: unknown back-end {other:?}", m.id),
    };
    Ok(ModelEntry {
        id: m.id.clone(),
        name: m.name.clone(),
        description: m
            .description
            .clone()
            .unwrap_or_else(|| match m.backend.as_str() {
                "builtin" => "Built-in pattern generator: runs locally, not AI".into(),
                _ => String::new(),
            }),
        credits_per_image: m.credits_per_image,
        model,
    })
}

/// The generation service for this process.
pub fn build(
    settings: &GenerationSettings,
    db: uni1_domain::sea_orm::DatabaseConnection,
    key: &AppKey,
    public_origin: &str,
    wakeups: &uni1_models::predictions::Wakeups,
) -> anyhow::Result<Generations> {
    Ok(Generations {
        limits: Arc::new(uni1_domain::support::rate_limit::PersonLimits::shared(
            db.clone(),
            key,
        )),
        db,
        catalog: catalog(settings, public_origin, wakeups)?,
        blobs: blobs(settings, key)?,
        content: ContentPolicy::new(settings.blocked_terms.clone()),
        output: output_checks(settings)?,
        queue: QueuePolicy {
            max_pending_per_user: settings.max_pending_per_user,
            lease: settings.job_lease,
            shutdown_grace: settings.shutdown_grace,
            retention: chrono::Duration::days(settings.retention_days),
            ..QueuePolicy::default()
        },
        credits: uni1_domain::billing::credits::CreditPolicy {
            signup_grant: settings.signup_credits,
        },
        wake: Arc::new(tokio::sync::Notify::new()),
        signer: uni1_domain::library::sharing::LinkSigner::new(key.derive("share preview urls")),
        progress: uni1_domain::generation::progress::ProgressHub::default(),
    })
}

/// The output checks (GEN-4): the built-in one, then the operator's
/// moderation service when configured.
fn output_checks(
    settings: &GenerationSettings,
) -> anyhow::Result<uni1_domain::generation::output_check::OutputChecks> {
    use uni1_domain::generation::output_check::{
        BuiltinOutputCheck, HttpOutputCheck, OutputChecks, OutputModerator,
    };
    let mut checks: Vec<Arc<dyn OutputModerator>> = vec![Arc::new(BuiltinOutputCheck::new(
        settings.blocked_terms.clone(),
        settings.output_blocked_terms.clone(),
    ))];
    if let Some(url) = &settings.output_moderation_url {
        let service = uni1_models::moderation::HttpModeration::new(
            url.clone(),
            std::time::Duration::from_secs(30),
        )
        .map_err(|e| anyhow::anyhow!("UNI1_OUTPUT_MODERATION_URL: {e}"))?;
        checks.push(Arc::new(HttpOutputCheck(service)));
    }
    Ok(OutputChecks::new(checks))
}
