//! Settings for generation, shared by `uni1 serve` and `uni1 worker`:
//! object storage, the models on offer (a `[[models]]` list in the config
//! file), credits and the queue.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// Where objects are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// A folder on this machine.
    #[default]
    Local,
    /// S3 or an S3-compatible store such as Cloudflare R2.
    S3,
    /// This process's memory (tests only: lost on exit).
    Memory,
}

/// Generation flags (and their environment variables).
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerationArgs {
    /// Object store for images [default: local]
    #[arg(long, env = "UNI1_STORAGE", value_enum, value_name = "KIND")]
    pub storage: Option<StorageKind>,

    /// Folder of the local object store [default: <data_dir>/objects]
    #[arg(long, env = "UNI1_STORAGE_DIR", value_name = "DIR")]
    pub storage_dir: Option<PathBuf>,

    /// S3 endpoint, e.g. https://<account>.r2.cloudflarestorage.com
    /// [default: AWS]
    #[arg(long, env = "UNI1_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// S3 bucket [default: none]
    #[arg(long, env = "UNI1_S3_BUCKET", value_name = "NAME")]
    pub s3_bucket: Option<String>,

    /// S3 region (`auto` for R2) [default: auto]
    #[arg(long, env = "UNI1_S3_REGION", value_name = "REGION")]
    pub s3_region: Option<String>,

    /// S3 access key id [default: none]
    #[arg(long, env = "UNI1_S3_ACCESS_KEY_ID", value_name = "ID")]
    pub s3_access_key_id: Option<String>,

    /// S3 secret access key [default: none]
    #[arg(
        long,
        env = "UNI1_S3_SECRET_ACCESS_KEY",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub s3_secret_access_key: Option<String>,

    /// Storage master keys, `id:base64,older-id:base64`; the first encrypts
    /// new objects, all of them open older ones (rotation)
    /// [default: one key derived from the application key]
    #[arg(
        long,
        env = "UNI1_STORAGE_KEYS",
        hide_env_values = true,
        value_name = "KEYS"
    )]
    pub storage_keys: Option<String>,

    /// Credits every new account receives [default: 50]
    #[arg(long, env = "UNI1_SIGNUP_CREDITS", value_name = "N")]
    pub signup_credits: Option<i64>,

    /// Comma-separated words and phrases refused in prompts [default: none]
    #[arg(long, env = "UNI1_BLOCKED_TERMS", value_name = "TERMS")]
    pub blocked_terms: Option<String>,

    /// Comma-separated words and phrases whose prompts may run but whose
    /// images are held for staff review instead of shown [default: none]
    #[arg(long, env = "UNI1_OUTPUT_BLOCKED_TERMS", value_name = "TERMS")]
    pub output_blocked_terms: Option<String>,

    /// An output-moderation service every generated image is POSTed to
    /// before its owner sees it (https, or http on loopback) [default: none,
    /// the built-in check only]
    #[arg(long, env = "UNI1_OUTPUT_MODERATION_URL", value_name = "URL")]
    pub output_moderation_url: Option<String>,

    /// Jobs this process runs at once; 0 runs no worker here (`uni1 serve`
    /// only) [default: 2]
    #[arg(long, env = "UNI1_WORKER_SLOTS", value_name = "N")]
    pub worker_slots: Option<usize>,

    /// Seconds a worker holds a job without renewing its lease before others
    /// presume it dead [default: 60]
    #[arg(long, env = "UNI1_JOB_LEASE_SECONDS", value_name = "SECONDS")]
    pub job_lease_seconds: Option<u64>,

    /// Seconds a stopping process (SIGTERM, Ctrl-C) lets its running jobs
    /// finish before it hands them back to the queue for another worker
    /// [default: 25]
    #[arg(long, env = "UNI1_SHUTDOWN_GRACE_SECONDS", value_name = "SECONDS")]
    pub shutdown_grace_seconds: Option<u64>,

    /// Jobs one person may have waiting or running [default: 8]
    #[arg(long, env = "UNI1_MAX_PENDING_PER_USER", value_name = "N")]
    pub max_pending_per_user: Option<u64>,

    /// Days an image can be downloaded after it was made [default: 90]
    #[arg(long, env = "UNI1_RETENTION_DAYS", value_name = "DAYS")]
    pub retention_days: Option<i64>,

    /// Secret (`whsec_…`) that model providers sign webhooks with
    /// [default: none: providers are polled]
    #[arg(
        long,
        env = "UNI1_MODEL_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub model_webhook_secret: Option<String>,

    /// Let people's webhook endpoints be on this machine (loopback, and
    /// http:// to it): for tests and a demo on one machine; never on a
    /// shared server [default: false]
    #[arg(long, env = "UNI1_WEBHOOKS_ALLOW_LOOPBACK", value_name = "BOOL")]
    pub webhooks_allow_loopback: Option<bool>,
}

/// One `[[models]]` entry of the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFileEntry {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// builtin | openai | predictions
    pub backend: String,
    #[serde(default)]
    pub base_url: Option<String>,
    /// The secret itself (never printed by `Debug`), or...
    #[serde(default)]
    pub api_key: Option<SecretString>,
    /// ...the name of the environment variable that holds it.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The provider's model name (openai) or version (predictions).
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default = "one")]
    pub credits_per_image: i64,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub base_size: Option<u32>,
    #[serde(default)]
    pub max_images: Option<u8>,
    #[serde(default)]
    pub aspect_ratios: Option<Vec<String>>,
    #[serde(default)]
    pub negative_prompt: Option<bool>,
    #[serde(default)]
    pub seed: Option<bool>,
    #[serde(default)]
    pub reference_image: Option<bool>,
    #[serde(default)]
    pub style_presets: Option<Vec<String>>,
    /// Seconds before a request (or, for predictions, the whole job) gives up.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Hosts the provider's output URLs may point at (`example.com`,
    /// `*.example.com`); by default only the `base_url`'s host.
    #[serde(default)]
    pub output_hosts: Option<Vec<String>>,
}

fn one() -> i64 {
    1
}
fn yes() -> bool {
    true
}

/// Where objects go, validated.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    pub config: uni1_storage::StoreConfig,
    /// `None`: derive one key from the application key.
    pub keys: Option<SecretString>,
}

/// Generation settings, validated.
#[derive(Debug, Clone)]
pub struct GenerationSettings {
    pub storage: StorageSettings,
    pub models: Vec<ModelFileEntry>,
    pub signup_credits: i64,
    pub blocked_terms: Vec<String>,
    pub output_blocked_terms: Vec<String>,
    pub output_moderation_url: Option<url::Url>,
    pub worker_slots: usize,
    pub job_lease: std::time::Duration,
    /// How long running jobs may finish at shutdown before they are handed
    /// back.
    pub shutdown_grace: std::time::Duration,
    pub max_pending_per_user: u64,
    pub retention_days: i64,
    pub model_webhook_secret: Option<SecretString>,
    /// People's webhook endpoints may be on loopback.
    pub webhooks_allow_loopback: bool,
}

impl GenerationSettings {
    pub(super) fn resolve(
        args: GenerationArgs,
        models: Option<Vec<ModelFileEntry>>,
        data_dir: &Path,
    ) -> Result<Self, ConfigError> {
        let kind = args.storage.unwrap_or_default();
        let config = match kind {
            StorageKind::Local => uni1_storage::StoreConfig::Local {
                root: args.storage_dir.unwrap_or_else(|| data_dir.join("objects")),
            },
            StorageKind::Memory => uni1_storage::StoreConfig::Memory,
            StorageKind::S3 => {
                let need = |name: &'static str, v: Option<String>| {
                    v.filter(|v| !v.trim().is_empty())
                        .ok_or_else(|| invalid(name, "must be set when UNI1_STORAGE is s3"))
                };
                let endpoint = args.s3_endpoint;
                let allow_http = endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://"));
                if let Some(ep) = &endpoint {
                    match url::Url::parse(ep) {
                        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                        _ => {
                            return Err(invalid(
                                "UNI1_S3_ENDPOINT",
                                format!("{ep:?} must be an http:// or https:// URL"),
                            ))
                        }
                    }
                }
                uni1_storage::StoreConfig::S3 {
                    endpoint,
                    bucket: need("UNI1_S3_BUCKET", args.s3_bucket)?,
                    region: args.s3_region.unwrap_or_else(|| "auto".into()),
                    access_key_id: need("UNI1_S3_ACCESS_KEY_ID", args.s3_access_key_id)?,
                    secret_access_key: need(
                        "UNI1_S3_SECRET_ACCESS_KEY",
                        args.s3_secret_access_key,
                    )?
                    .into(),
                    allow_http,
                }
            }
        };
        let keys = args.storage_keys;
        if let Some(spec) = &keys {
            uni1_storage::Keyring::parse(spec)
                .map_err(|e| invalid("UNI1_STORAGE_KEYS", e.to_string()))?;
        }
        let signup_credits = args.signup_credits.unwrap_or(50);
        if !(0..=1_000_000).contains(&signup_credits) {
            return Err(invalid("UNI1_SIGNUP_CREDITS", "must be 0 to 1000000"));
        }
        let blocked_terms = args
            .blocked_terms
            .unwrap_or_default()
            .split(',')
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        let output_blocked_terms = args
            .output_blocked_terms
            .unwrap_or_default()
            .split(',')
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        let output_moderation_url = match args
            .output_moderation_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            None => None,
            Some(raw) => {
                let url = url::Url::parse(raw)
                    .map_err(|e| invalid("UNI1_OUTPUT_MODERATION_URL", format!("{raw:?}: {e}")))?;
                uni1_models::outbound::check_base_url(&url)
                    .map_err(|e| invalid("UNI1_OUTPUT_MODERATION_URL", e.to_string()))?;
                Some(url)
            }
        };
        let lease = args.job_lease_seconds.unwrap_or(60);
        if !(2..=3600).contains(&lease) {
            return Err(invalid("UNI1_JOB_LEASE_SECONDS", "must be 2 to 3600"));
        }
        let grace = args.shutdown_grace_seconds.unwrap_or(25);
        if grace > 3600 {
            return Err(invalid("UNI1_SHUTDOWN_GRACE_SECONDS", "must be 0 to 3600"));
        }
        let max_pending = args.max_pending_per_user.unwrap_or(8);
        if max_pending == 0 {
            return Err(invalid("UNI1_MAX_PENDING_PER_USER", "must be at least 1"));
        }
        let retention_days = args.retention_days.unwrap_or(90);
        if !(1..=3650).contains(&retention_days) {
            return Err(invalid("UNI1_RETENTION_DAYS", "must be 1 to 3650"));
        }
        let models = models.unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        for m in &models {
            if m.id.is_empty()
                || m.id.len() > 64
                || !m
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    "models.id",
                    format!("{:?} must be 1 to 64 letters, digits, - or _", m.id),
                ));
            }
            if !seen.insert(m.id.clone()) {
                return Err(invalid("models.id", format!("{:?} is listed twice", m.id)));
            }
            if !matches!(m.backend.as_str(), "builtin" | "openai" | "predictions") {
                return Err(invalid(
                    "models.backend",
                    format!(
                        "model {:?}: {:?} must be builtin, openai or predictions",
                        m.id, m.backend
                    ),
                ));
            }
            // https only (http:// for a server on loopback), never a private
            // address: the key and the outputs travel there.
            if let Some(raw) = &m.base_url {
                let url = url::Url::parse(raw).map_err(|_| {
                    invalid(
                        "models.base_url",
                        format!("model {:?}: {raw:?} is not a URL", m.id),
                    )
                })?;
                uni1_models::outbound::check_base_url(&url)
                    .map_err(|e| invalid("models.base_url", format!("model {:?}: {e}", m.id)))?;
            }
            if let Some(hosts) = &m.output_hosts {
                uni1_models::outbound::check_output_hosts(hosts).map_err(|e| {
                    invalid("models.output_hosts", format!("model {:?}: {e}", m.id))
                })?;
            }
            if !(1..=10_000).contains(&m.credits_per_image) {
                return Err(invalid(
                    "models.credits_per_image",
                    format!("model {:?}: must be 1 to 10000", m.id),
                ));
            }
        }
        Ok(Self {
            storage: StorageSettings {
                config,
                keys: keys.map(SecretString::from),
            },
            models,
            signup_credits,
            blocked_terms,
            output_blocked_terms,
            output_moderation_url,
            worker_slots: args.worker_slots.unwrap_or(2),
            job_lease: std::time::Duration::from_secs(lease),
            shutdown_grace: std::time::Duration::from_secs(grace),
            max_pending_per_user: max_pending,
            retention_days,
            model_webhook_secret: args.model_webhook_secret.map(SecretString::from),
            webhooks_allow_loopback: args.webhooks_allow_loopback.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<GenerationSettings, ConfigError> {
        let file = super::super::parse_file(Path::new("test.toml"), text)?;
        let args = file.under(GenerationArgs::default())?;
        GenerationSettings::resolve(args, file.models, Path::new("data"))
    }

    fn model(base_url: &str) -> String {
        format!(
            "[[models]]\nid = \"remote\"\nname = \"Remote\"\nbackend = \"openai\"\n\
             base_url = \"{base_url}\"\napi_key = \"k\"\n"
        )
    }

    #[test]
    fn model_base_urls_are_https_or_loopback() {
        for ok in [
            "https://api.openai.com",
            "http://127.0.0.1:7070",
            "http://localhost:7070/",
            "http://[::1]:7070",
        ] {
            assert!(resolve(&model(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.example.com",
            "http://10.0.0.5:8000",
            "https://169.254.169.254",
            "https://[fd00::1]",
        ] {
            let error = resolve(&model(bad)).unwrap_err().to_string();
            assert!(
                error.contains("models.base_url") && error.contains("\"remote\""),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn output_hosts_are_host_names() {
        let listed = format!(
            "{}output_hosts = [\"replicate.delivery\", \"*.replicate.delivery\"]\n",
            model("https://api.replicate.com")
        );
        let settings = resolve(&listed).unwrap();
        assert_eq!(
            settings.models[0].output_hosts.as_deref(),
            Some(
                &[
                    "replicate.delivery".to_owned(),
                    "*.replicate.delivery".to_owned()
                ][..]
            )
        );
        let bad = format!(
            "{}output_hosts = [\"https://cdn.example/x\"]\n",
            model("https://api.replicate.com")
        );
        let error = resolve(&bad).unwrap_err().to_string();
        assert!(error.contains("models.output_hosts"), "{error}");
    }
}
