//! Typed configuration: built-in defaults, then an optional TOML file, then
//! `UNI1_*` environment variables (and `DATABASE_URL`) or command-line flags.
//!
//! Every setting is declared once: a field of a clap + serde struct
//! ([`DatabaseArgs`], [`ServeArgs`], [`GenerationArgs`]) with its flag, its
//! environment variable and its documentation (`uni1 serve --help` shows
//! all of them). The file uses the same structs: its keys are the fields'
//! names, each value is checked against the field's type, and flags and
//! variables are laid over it ([`FileSettings::under`]); then `resolve`
//! applies the defaults and validates. A bad value stops start-up with a
//! message that names the setting, never a secret's value. A test fails
//! when a setting's variable is missing from the README.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

pub mod billing;
pub mod generation;
pub use billing::{BillingArgs, BillingSettings, PackFileEntry, PlanFileEntry};
pub use generation::{GenerationArgs, GenerationSettings, ModelFileEntry, StorageKind};

/// uni1: AI image generation you can run yourself.
#[derive(Debug, Parser)]
#[command(name = "uni1", version, about, long_about = None)]
pub struct Cli {
    /// TOML file with settings (keys as in `--help`, in snake_case).
    /// Environment variables and flags override it.
    #[arg(long, global = true, env = "UNI1_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply database migrations, then serve the web app (the default).
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Operator tasks: create accounts (the first admin), change roles,
    /// rebuild image previews.
    Admin(AdminArgs),
    /// Run generation jobs only (no web server), sharing the database and
    /// object store with `uni1 serve` processes, possibly on other machines.
    Worker(Box<WorkerArgs>),
    /// Run the project's model server: the OpenAI Images and predictions
    /// wire protocols in front of the built-in generator, with injectable
    /// faults. For demos and tests; not a real model.
    ModelServer(ModelServerArgs),
    /// Run the project's Stripe fake: customers, Checkout Sessions, a
    /// checkout page that "pays" without a card, and webhooks signed the
    /// Stripe way. For trying payments locally and for tests.
    PaymentFake(PaymentFakeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PaymentFakeArgs {
    /// Address and port to listen on
    #[arg(long, default_value = "127.0.0.1:7080")]
    pub listen: SocketAddr,
    /// The secret key uni1 must use (set the same as UNI1_STRIPE_SECRET_KEY)
    #[arg(
        long,
        env = "UNI1_PAYMENT_FAKE_SECRET_KEY",
        default_value = "sk_test_uni1_payment_fake",
        hide_env_values = true
    )]
    pub secret_key: String,
    /// The secret events are signed with (set the same as UNI1_STRIPE_WEBHOOK_SECRET)
    #[arg(
        long,
        env = "UNI1_PAYMENT_FAKE_WEBHOOK_SECRET",
        default_value = "whsec_uni1_payment_fake",
        hide_env_values = true
    )]
    pub webhook_secret: String,
    /// Where events are sent: uni1's `/hooks/stripe`
    #[arg(long, default_value = "http://127.0.0.1:3000/hooks/stripe")]
    pub webhook_url: String,
    /// A price it sells, `ID=AMOUNT:CURRENCY[:INTERVAL]` (amount in minor
    /// units; `month` or `year` for a plan), e.g. `price_starter=500:usd`
    /// or `price_pro=1000:usd:month`; repeat for more
    #[arg(long = "price", value_name = "ID=AMOUNT:CURRENCY[:INTERVAL]")]
    pub prices: Vec<String>,
    /// The Creem API key uni1 must use (set the same as UNI1_CREEM_API_KEY)
    #[arg(
        long,
        env = "UNI1_PAYMENT_FAKE_CREEM_API_KEY",
        default_value = "creem_test_uni1_payment_fake",
        hide_env_values = true
    )]
    pub creem_api_key: String,
    /// The secret Creem events are signed with (set the same as
    /// UNI1_CREEM_WEBHOOK_SECRET)
    #[arg(
        long,
        env = "UNI1_PAYMENT_FAKE_CREEM_WEBHOOK_SECRET",
        default_value = "whsec_creem_uni1_payment_fake",
        hide_env_values = true
    )]
    pub creem_webhook_secret: String,
    /// Where Creem events are sent: uni1's `/hooks/creem`
    #[arg(long, default_value = "http://127.0.0.1:3000/hooks/creem")]
    pub creem_webhook_url: String,
}

#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub generation: GenerationArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ModelServerArgs {
    /// Address and port to listen on
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub listen: SocketAddr,
    /// API key clients must send as a Bearer token
    #[arg(
        long,
        env = "UNI1_MODEL_SERVER_KEY",
        default_value = "local-model-key",
        hide_env_values = true
    )]
    pub api_key: String,
    /// Secret (`whsec_<base64>`) the server signs webhooks with
    #[arg(
        long,
        env = "UNI1_MODEL_SERVER_WEBHOOK_SECRET",
        default_value = "whsec_bG9jYWwtbW9kZWwtc2VydmVyLXNlY3JldA==",
        hide_env_values = true
    )]
    pub webhook_secret: String,
    /// Extra delay before every answer, in milliseconds
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Create a confirmed account. The password comes from
    /// UNI1_NEW_USER_PASSWORD or, with --password-stdin, the first line of
    /// standard input; it is never a flag (flags show up in process lists).
    CreateUser {
        #[arg(long)]
        email: String,
        /// Display name
        #[arg(long)]
        name: String,
        /// user, support or admin
        #[arg(long, default_value = "user")]
        role: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change the role of an existing account (user, support or admin).
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
    /// List, one JSON object per line, the stored images whose owners
    /// agreed that they may be used to train models (PRV-5): opted in, not
    /// objecting, not restricted, not being deleted. Each line: image id,
    /// owner id, prompt, object path (encrypted; read it with the storage
    /// keys), creation time and the privacy policy version consented to.
    TrainingExport,
    /// Print the analytics of the last days (ANA-1): page views, unique
    /// visitors, product events, top pages, referrers and devices. Only
    /// aggregates: nothing stored identifies a person.
    Analytics {
        /// How many days, up to today (UTC)
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=366))]
        days: u32,
        /// JSON instead of a table, for charts
        #[arg(long)]
        json: bool,
    },
    /// Announce a service update, a policy change or product news by mail
    /// (MAIL-3). Service updates and policy changes go to every account
    /// with a confirmed address that is not being deleted (service updates
    /// not to those who unsubscribed from them); marketing only to those
    /// who consented. The running servers queue the mails in batches,
    /// paced by UNI1_ANNOUNCEMENT_MAILS_PER_MINUTE, each person once.
    Announce {
        /// service, policy or marketing
        #[arg(long)]
        kind: String,
        /// The mail's subject (one line)
        #[arg(long)]
        subject: String,
        /// A plain-text file with the body; paragraphs separated by blank
        /// lines
        #[arg(long, value_name = "FILE")]
        body_file: std::path::PathBuf,
    },
    /// Make the preview and thumbnail of every image stored with an older
    /// encoding again from its original (today: lossy WebP within 150 KiB
    /// and 25 KiB). Takes the object-store settings of `uni1 serve`.
    /// Resumable: stop it at any time and run it again; it continues with
    /// what is not done. Safe while the site runs.
    RebuildVariants {
        /// Images read from the database per batch
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        batch: u64,
        #[command(flatten)]
        generation: Box<GenerationArgs>,
    },
}

/// Settings that every subcommand touching the database takes.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseArgs {
    /// Database: `sqlite://PATH?mode=rwc` or `postgres://USER:PASSWORD@HOST/DB`
    /// [default: sqlite://<data_dir>/uni1.db?mode=rwc]
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Folder for local data: the SQLite file, object store and mail outbox
    /// [default: ./data]
    #[arg(long, env = "UNI1_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Largest number of pooled database connections [default: 10]
    #[arg(long, env = "UNI1_DATABASE_MAX_CONNECTIONS", value_name = "N")]
    pub database_max_connections: Option<u32>,

    /// Log format [default: text]
    #[arg(long, env = "UNI1_LOG_FORMAT", value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Application key (32 bytes, base64) that seals secrets stored in the
    /// database, such as two-factor seeds. Every process of one
    /// installation needs the same key. Generate one with
    /// `openssl rand -base64 32` [default: generated once into
    /// <data_dir>/app.key]
    #[arg(
        long,
        env = "UNI1_APP_KEY",
        hide_env_values = true,
        value_name = "BASE64"
    )]
    pub app_key: Option<String>,
}

/// Settings of `uni1 serve`.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default)]
pub struct ServeArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub database: DatabaseArgs,

    /// Address and port to listen on [default: 127.0.0.1:3000]
    #[arg(long, env = "UNI1_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// The URL people use to reach this site, e.g. https://images.example.com.
    /// With https, cookies are marked Secure and HSTS is sent
    /// [default: http://<listen>]
    #[arg(long, env = "UNI1_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Operator's name, shown on the privacy and contact pages
    /// [default: "the operator of this site"]
    #[arg(long, env = "UNI1_OPERATOR_NAME", value_name = "NAME")]
    pub operator_name: Option<String>,

    /// Operator's contact e-mail, shown on the privacy and contact pages
    /// [default: privacy@localhost.localdomain]
    #[arg(long, env = "UNI1_OPERATOR_EMAIL", value_name = "EMAIL")]
    pub operator_email: Option<String>,

    /// Leptos run-time settings file (site root, package dir); `LEPTOS_*`
    /// variables override it [default: Leptos.toml]
    #[arg(long, env = "UNI1_LEPTOS_CONFIG", value_name = "FILE")]
    pub leptos_config: Option<PathBuf>,

    /// SMTP server for outgoing mail: `smtp://host:25` (no TLS),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS) or
    /// `smtps://user:pass@host:465` (TLS). Without it, mail is written to
    /// `<data_dir>/outbox` [default: none]
    #[arg(
        long,
        env = "UNI1_SMTP_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub smtp_url: Option<String>,

    /// Sender of outgoing mail, e.g. `uni1 <no-reply@example.com>`
    /// [default: uni1 <no-reply@<public host>>]
    #[arg(long, env = "UNI1_MAIL_FROM", value_name = "MAILBOX")]
    pub mail_from: Option<String>,

    /// Hours without a request after which a session ends [default: 336]
    #[arg(long, env = "UNI1_SESSION_IDLE_HOURS", value_name = "HOURS")]
    pub session_idle_hours: Option<u32>,

    /// Hours after sign-in after which a session ends, active or not
    /// [default: 720]
    #[arg(long, env = "UNI1_SESSION_MAX_HOURS", value_name = "HOURS")]
    pub session_max_hours: Option<u32>,

    /// Days between asking for an account's deletion and the deletion,
    /// during which the person can cancel (1 to 90) [default: 7]
    #[arg(long, env = "UNI1_DELETION_GRACE_DAYS", value_name = "DAYS")]
    pub deletion_grace_days: Option<u32>,

    /// Announcement mails (service updates, policy changes, news) that may
    /// fall due per minute, per announcement, so transactional mail is not
    /// held up behind them (1 to 100000) [default: 600]
    #[arg(long, env = "UNI1_ANNOUNCEMENT_MAILS_PER_MINUTE", value_name = "N")]
    pub announcement_mails_per_minute: Option<u32>,

    /// Developer API requests one API key may send per minute, on average
    /// (1 to 100000); more get 429 with `retry-after` [default: 120]
    #[arg(long, env = "UNI1_API_KEY_REQUESTS_PER_MINUTE", value_name = "N")]
    pub api_key_requests_per_minute: Option<u32>,

    /// Developer API requests one API key may send at once, before
    /// UNI1_API_KEY_REQUESTS_PER_MINUTE paces it (1 to 10000) [default: 60]
    #[arg(long, env = "UNI1_API_KEY_BURST", value_name = "N")]
    pub api_key_burst: Option<u32>,

    /// Bearer token a Prometheus scraper sends to read /metrics
    /// (`Authorization: Bearer <token>`); at least 32 characters, e.g.
    /// `openssl rand -hex 32`. Without it /metrics answers 404
    /// [default: none]
    #[arg(
        long,
        env = "UNI1_METRICS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub metrics_token: Option<String>,

    /// Take the client's address from X-Forwarded-For. Only behind a
    /// reverse proxy that sets it [default: false]
    #[arg(long, env = "UNI1_TRUST_PROXY_HEADERS", value_name = "BOOL")]
    pub trust_proxy_headers: Option<bool>,

    /// With UNI1_TRUST_PROXY_HEADERS: how many proxies in front of uni1
    /// append to X-Forwarded-For (2 for a CDN in front of a load balancer).
    /// The client is the address the farthest of them appended
    /// [default: 1]
    #[arg(long, env = "UNI1_TRUSTED_PROXY_HOPS", value_name = "N")]
    pub trusted_proxy_hops: Option<u8>,

    /// Show the mails in the outbox at /dev/outbox (reset and confirmation
    /// links, no sign-in needed), to requests from this machine only.
    /// Refused unless uni1 listens on a loopback address and its public URL
    /// is on this machine [default: on only without UNI1_SMTP_URL, with a
    /// loopback listen address and public URL, and without
    /// UNI1_TRUST_PROXY_HEADERS]
    #[arg(long, env = "UNI1_DEV_OUTBOX", value_name = "BOOL")]
    pub dev_outbox: Option<bool>,

    /// OAuth client id for "Sign in with Google"; with the secret, shows the
    /// button [default: none]
    #[arg(long, env = "UNI1_GOOGLE_CLIENT_ID", value_name = "ID")]
    pub google_client_id: Option<String>,

    /// OAuth client secret for Google [default: none]
    #[arg(
        long,
        env = "UNI1_GOOGLE_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub google_client_secret: Option<String>,

    /// OpenID issuer used for Google [default: https://accounts.google.com]
    #[arg(long, env = "UNI1_GOOGLE_ISSUER", value_name = "URL")]
    pub google_issuer: Option<String>,

    /// OAuth client id for "Sign in with GitHub"; with the secret, shows the
    /// button [default: none]
    #[arg(long, env = "UNI1_GITHUB_CLIENT_ID", value_name = "ID")]
    pub github_client_id: Option<String>,

    /// OAuth client secret for GitHub [default: none]
    #[arg(
        long,
        env = "UNI1_GITHUB_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub github_client_secret: Option<String>,

    /// GitHub's authorize URL [default: https://github.com/login/oauth/authorize]
    #[arg(long, env = "UNI1_GITHUB_AUTHORIZE_URL", value_name = "URL")]
    pub github_authorize_url: Option<String>,

    /// GitHub's token URL [default: https://github.com/login/oauth/access_token]
    #[arg(long, env = "UNI1_GITHUB_TOKEN_URL", value_name = "URL")]
    pub github_token_url: Option<String>,

    /// GitHub's API base URL [default: https://api.github.com]
    #[arg(long, env = "UNI1_GITHUB_API_URL", value_name = "URL")]
    pub github_api_url: Option<String>,

    #[command(flatten)]
    #[serde(flatten)]
    pub generation: GenerationArgs,

    #[command(flatten)]
    #[serde(flatten)]
    pub billing: BillingArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The optional TOML file: the same settings as the flags (keys are the
/// flags' names in snake_case), declared once in the clap + serde structs
/// above, plus the `[[models]]`, `[[packs]]` and `[[plans]]` lists.
#[derive(Debug, Default)]
struct FileSettings {
    /// The file's settings, each checked against its type.
    settings: serde_json::Map<String, serde_json::Value>,
    models: Option<Vec<ModelFileEntry>>,
    packs: Option<Vec<PackFileEntry>>,
    plans: Option<Vec<PlanFileEntry>>,
}

impl FileSettings {
    /// `flags` over the file's settings: a flag or variable that is given
    /// wins, the file fills the rest; defaults are applied afterwards.
    fn under<T: Serialize + serde::de::DeserializeOwned>(
        &self,
        flags: T,
    ) -> Result<T, ConfigError> {
        // Fails only for a flag that is not text (a path that is not UTF-8):
        // refused, rather than quietly dropping the file's settings.
        let cannot = |e: serde_json::Error| {
            invalid(
                "the command line and environment",
                format!("a setting cannot be read ({e})"),
            )
        };
        let given = match serde_json::to_value(&flags).map_err(cannot)? {
            serde_json::Value::Object(given) => given,
            _ => return Ok(flags),
        };
        let mut merged = self.settings.clone();
        for (key, value) in given {
            if !value.is_null() {
                merged.insert(key, value);
            }
        }
        // Every value came from a `T` or was checked against `ServeArgs`,
        // whose fields are a superset of the other commands' (same types).
        serde_json::from_value(serde_json::Value::Object(merged)).map_err(cannot)
    }
}

/// A setting that cannot be used, with the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("invalid setting {setting}: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}

/// Database settings after defaults and validation.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
}

impl DatabaseSettings {
    /// True for a PostgreSQL URL.
    pub fn is_postgres(&self) -> bool {
        self.url.expose_secret().starts_with("postgres")
    }
}

/// Everything `uni1 serve` runs with, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub listen: SocketAddr,
    pub public_url: Url,
    pub operator_name: String,
    pub operator_email: String,
    pub leptos_config: PathBuf,
    /// `None`: mail goes to `<data_dir>/outbox`.
    pub smtp_url: Option<SecretString>,
    pub mail_from: lettre::message::Mailbox,
    pub session_idle_hours: u32,
    pub session_max_hours: u32,
    /// Between asking for an account's deletion and the deletion.
    pub deletion_grace_days: u32,
    /// At most this many mails of one announcement fall due per minute.
    pub announcement_mails_per_minute: u32,
    /// The request rate of every developer API key.
    pub api_key_rate: uni1_domain::developer::KeyRate,
    /// The bearer token of `/metrics`; `None`: no `/metrics`.
    pub metrics_token: Option<SecretString>,
    pub trust_proxy_headers: bool,
    /// Proxies that append to X-Forwarded-For (used with
    /// `trust_proxy_headers` only); at least 1.
    pub trusted_proxy_hops: u8,
    /// Route `/dev/outbox` (loopback listen address and public URL only).
    pub dev_outbox: bool,
    pub google: Option<crate::http::oauth::GoogleSettings>,
    pub github: Option<crate::http::oauth::GitHubSettings>,
    /// `UNI1_APP_KEY` as given (validated), or `None` for the key file.
    pub app_key: Option<SecretString>,
    pub generation: GenerationSettings,
    pub billing: BillingSettings,
}

/// Everything `uni1 worker` runs with, validated.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub database: DatabaseSettings,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub app_key: Option<SecretString>,
    pub generation: GenerationSettings,
}

impl WorkerSettings {
    pub fn resolve(args: WorkerArgs, file: Option<&Path>) -> Result<Self, ConfigError> {
        let file = read_file(file)?;
        let args = file.under(args)?;
        let app_key = validated_app_key(args.database.app_key.clone())?;
        let (database, data_dir, log_format) = resolve_database(args.database)?;
        let generation = GenerationSettings::resolve(args.generation, file.models, &data_dir)?;
        Ok(Self {
            database,
            data_dir,
            log_format,
            app_key: app_key.map(SecretString::from),
            generation,
        })
    }
}

fn validated_app_key(app_key: Option<String>) -> Result<Option<String>, ConfigError> {
    if let Some(key) = &app_key {
        uni1_domain::support::crypto::AppKey::from_base64(key)
            .map_err(|_| invalid("UNI1_APP_KEY", "must be 32 random bytes, base64-encoded (openssl rand -base64 32); the value is not shown"))?;
    }
    Ok(app_key)
}

/// True when the URL's host is this machine (`localhost`, 127.0.0.0/8, ::1).
fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Settings {
    /// The `Host` values this site answers to, as `host:port` in lower case:
    /// the public URL's authority and, when that is on this machine, the
    /// other loopback names with the same port (`localhost` beside
    /// `127.0.0.1`). A DNS-rebinding page always uses its own name, so it
    /// is never among them.
    pub fn allowed_hosts(&self) -> Vec<String> {
        let port = self.public_url.port_or_known_default().unwrap_or(80);
        let host = self
            .public_url
            .host_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut hosts = vec![format!("{host}:{port}")];
        if is_loopback_url(&self.public_url) {
            for alias in ["localhost", "127.0.0.1", "[::1]"] {
                let alias = format!("{alias}:{port}");
                if !hosts.contains(&alias) {
                    hosts.push(alias);
                }
            }
        }
        hosts
    }

    /// The settings worth logging at start-up, as `name=value` pairs: an
    /// allow-list of values that are never secret (no URLs that may carry
    /// credentials, no keys; secret settings only say whether they are set).
    pub fn summary(&self) -> String {
        let on = |b: bool| if b { "set" } else { "unset" };
        let storage = match &self.generation.storage.config {
            uni1_storage::StoreConfig::Local { root } => format!("local({})", root.display()),
            uni1_storage::StoreConfig::S3 { bucket, region, .. } => {
                format!("s3(bucket={bucket}, region={region})")
            }
            uni1_storage::StoreConfig::Memory => "memory".to_owned(),
        };
        let models = self
            .generation
            .models
            .iter()
            .map(|m| format!("{}:{}", m.id, m.backend))
            .collect::<Vec<_>>()
            .join(",");
        let database = if self.database.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        };
        [
            format!("listen={}", self.listen),
            format!("public_origin={}", self.public_origin()),
            format!("data_dir={}", self.data_dir.display()),
            format!("database={database}"),
            format!("database_max_connections={}", self.database.max_connections),
            format!("log_format={:?}", self.log_format),
            format!("leptos_config={}", self.leptos_config.display()),
            format!("smtp_url={}", on(self.smtp_url.is_some())),
            format!("mail_from={}", self.mail_from.email),
            format!("session_idle_hours={}", self.session_idle_hours),
            format!("session_max_hours={}", self.session_max_hours),
            format!("deletion_grace_days={}", self.deletion_grace_days),
            format!(
                "announcement_mails_per_minute={}",
                self.announcement_mails_per_minute
            ),
            format!(
                "api_key_rate={}/min,burst={}",
                self.api_key_rate.per_minute, self.api_key_rate.burst
            ),
            format!("metrics_token={}", on(self.metrics_token.is_some())),
            format!("trust_proxy_headers={}", self.trust_proxy_headers),
            format!("trusted_proxy_hops={}", self.trusted_proxy_hops),
            format!("dev_outbox={}", self.dev_outbox),
            format!("google={}", on(self.google.is_some())),
            format!("github={}", on(self.github.is_some())),
            format!("app_key={}", on(self.app_key.is_some())),
            format!("storage={storage}"),
            format!(
                "storage_keys={}",
                on(self.generation.storage.keys.is_some())
            ),
            format!("models=[{models}]"),
            format!("worker_slots={}", self.generation.worker_slots),
            format!(
                "model_webhook_secret={}",
                on(self.generation.model_webhook_secret.is_some())
            ),
            format!(
                "webhooks_allow_loopback={}",
                self.generation.webhooks_allow_loopback
            ),
            format!("stripe={}", on(self.billing.stripe.is_some())),
            format!("creem={}", on(self.billing.creem.is_some())),
            format!("packs={}", self.billing.catalogue.packs.len()),
            format!("plans={}", self.billing.catalogue.plans.len()),
        ]
        .join(" ")
    }

    /// True when the public URL is https: Secure cookies and HSTS.
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The public origin, e.g. `https://images.example.com`.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }

    /// Resolves the settings of `uni1 serve`: flags/env, then file, then defaults.
    pub fn resolve(args: ServeArgs, file: Option<&Path>) -> Result<Self, ConfigError> {
        let file = read_file(file)?;
        let args = file.under(args)?;
        let app_key = validated_app_key(args.database.app_key.clone())?;
        let (database, data_dir, log_format) = resolve_database(args.database)?;
        let generation = GenerationSettings::resolve(args.generation, file.models, &data_dir)?;
        let billing = BillingSettings::resolve(args.billing, file.packs, file.plans)?;
        let listen = args
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)));
        let public_url = match args.public_url {
            Some(raw) => parse_public_url(&raw)?,
            None => parse_public_url(&format!("http://{listen}"))?,
        };
        let operator_name = non_empty(
            "UNI1_OPERATOR_NAME",
            args.operator_name
                .unwrap_or_else(|| "the operator of this site".into()),
        )?;
        let operator_email = args
            .operator_email
            .unwrap_or_else(|| "privacy@localhost.localdomain".into());
        let operator_email = uni1_domain::support::email::EmailAddress::parse(&operator_email)
            .map_err(|e| invalid("UNI1_OPERATOR_EMAIL", e.to_string()))?
            .to_string();
        let smtp_url = args.smtp_url;
        if let Some(url) = &smtp_url {
            crate::mailers::SmtpMailer::from_url(url).map_err(|_| {
                invalid(
                    "UNI1_SMTP_URL",
                    "must look like smtp://host:25, smtp://user:pass@host:587?tls=required or smtps://user:pass@host:465 (the value is not shown because it may hold a password)",
                )
            })?;
        }
        let mail_from = match args.mail_from {
            Some(raw) => raw.parse().map_err(|e| {
                invalid("UNI1_MAIL_FROM", format!("{raw:?} is not a mailbox ({e})"))
            })?,
            None => default_sender(&public_url),
        };
        let session_idle_hours = args.session_idle_hours.unwrap_or(336);
        let session_max_hours = args.session_max_hours.unwrap_or(720);
        let deletion_grace_days = args.deletion_grace_days.unwrap_or(7);
        if !(1..=90).contains(&deletion_grace_days) {
            return Err(invalid(
                "UNI1_DELETION_GRACE_DAYS",
                format!("must be 1 to 90 days, not {deletion_grace_days}"),
            ));
        }
        let announcement_mails_per_minute = args.announcement_mails_per_minute.unwrap_or(600);
        if !(1..=100_000).contains(&announcement_mails_per_minute) {
            return Err(invalid(
                "UNI1_ANNOUNCEMENT_MAILS_PER_MINUTE",
                format!("must be 1 to 100000, not {announcement_mails_per_minute}"),
            ));
        }
        let metrics_token = match args.metrics_token {
            None => None,
            Some(t) if t.len() < 32 || !t.chars().all(|c| c.is_ascii_graphic()) => {
                return Err(invalid(
                    "UNI1_METRICS_TOKEN",
                    "must be at least 32 printable characters without spaces (openssl rand -hex 32); the value is not shown",
                ))
            }
            Some(t) => Some(SecretString::from(t)),
        };
        let default_rate = uni1_domain::developer::KeyRate::default();
        let api_key_rate = uni1_domain::developer::KeyRate {
            per_minute: args
                .api_key_requests_per_minute
                .unwrap_or(default_rate.per_minute),
            burst: args.api_key_burst.unwrap_or(default_rate.burst),
        };
        if !(1..=100_000).contains(&api_key_rate.per_minute) {
            return Err(invalid(
                "UNI1_API_KEY_REQUESTS_PER_MINUTE",
                format!("must be 1 to 100000, not {}", api_key_rate.per_minute),
            ));
        }
        if !(1..=10_000).contains(&api_key_rate.burst) {
            return Err(invalid(
                "UNI1_API_KEY_BURST",
                format!("must be 1 to 10000, not {}", api_key_rate.burst),
            ));
        }
        if session_idle_hours == 0 {
            return Err(invalid("UNI1_SESSION_IDLE_HOURS", "must be at least 1"));
        }
        if session_max_hours < session_idle_hours {
            return Err(invalid(
                "UNI1_SESSION_MAX_HOURS",
                format!("must be at least UNI1_SESSION_IDLE_HOURS ({session_idle_hours})"),
            ));
        }
        let trust_proxy_headers = args.trust_proxy_headers.unwrap_or(false);
        let trusted_proxy_hops = match args.trusted_proxy_hops {
            None => 1,
            Some(_) if !trust_proxy_headers => {
                return Err(invalid(
                    "UNI1_TRUSTED_PROXY_HOPS",
                    "only applies with UNI1_TRUST_PROXY_HEADERS=true",
                ))
            }
            Some(n @ 1..=16) => n,
            Some(_) => return Err(invalid("UNI1_TRUSTED_PROXY_HOPS", "must be 1 to 16")),
        };
        let dev_outbox = resolve_dev_outbox(
            args.dev_outbox,
            listen,
            &public_url,
            smtp_url.is_some(),
            trust_proxy_headers,
        )?;
        Ok(Self {
            database,
            data_dir,
            log_format,
            listen,
            public_url,
            operator_name,
            operator_email,
            leptos_config: args.leptos_config.unwrap_or_else(|| "Leptos.toml".into()),
            smtp_url: smtp_url.map(SecretString::from),
            mail_from,
            session_idle_hours,
            session_max_hours,
            deletion_grace_days,
            announcement_mails_per_minute,
            api_key_rate,
            metrics_token,
            trust_proxy_headers,
            trusted_proxy_hops,
            dev_outbox,
            google: match pair(
                ("UNI1_GOOGLE_CLIENT_ID", args.google_client_id),
                ("UNI1_GOOGLE_CLIENT_SECRET", args.google_client_secret),
            )? {
                None => None,
                Some((client_id, client_secret)) => Some(crate::http::oauth::GoogleSettings {
                    client_id,
                    client_secret: SecretString::from(client_secret),
                    issuer: http_url(
                        "UNI1_GOOGLE_ISSUER",
                        args.google_issuer,
                        "https://accounts.google.com",
                    )?,
                }),
            },
            app_key: app_key.map(SecretString::from),
            generation,
            billing,
            github: match pair(
                ("UNI1_GITHUB_CLIENT_ID", args.github_client_id),
                ("UNI1_GITHUB_CLIENT_SECRET", args.github_client_secret),
            )? {
                None => None,
                Some((client_id, client_secret)) => Some(crate::http::oauth::GitHubSettings {
                    client_id,
                    client_secret: SecretString::from(client_secret),
                    authorize_url: http_url(
                        "UNI1_GITHUB_AUTHORIZE_URL",
                        args.github_authorize_url,
                        "https://github.com/login/oauth/authorize",
                    )?,
                    token_url: http_url(
                        "UNI1_GITHUB_TOKEN_URL",
                        args.github_token_url,
                        "https://github.com/login/oauth/access_token",
                    )?,
                    api_url: http_url(
                        "UNI1_GITHUB_API_URL",
                        args.github_api_url,
                        "https://api.github.com",
                    )?,
                }),
            },
        })
    }
}

/// Whether `/dev/outbox` is routed. By default only where nobody else can
/// reach it: no SMTP server (so the outbox is where mail goes), a loopback
/// listen address and public URL, and no proxy in front (a local proxy
/// would make every visitor look local). Asked for explicitly, it is still
/// refused with an address or a public URL that other machines reach.
fn resolve_dev_outbox(
    asked: Option<bool>,
    listen: SocketAddr,
    public_url: &Url,
    smtp: bool,
    trust_proxy_headers: bool,
) -> Result<bool, ConfigError> {
    let local = listen.ip().is_loopback() && is_loopback_url(public_url);
    match asked {
        None => Ok(local && !smtp && !trust_proxy_headers),
        Some(false) => Ok(false),
        Some(true) if !listen.ip().is_loopback() => Err(invalid(
            "UNI1_DEV_OUTBOX",
            format!(
                "cannot be on while uni1 listens on {listen}, which other machines can reach \
                 (it shows every reset and confirmation link); listen on 127.0.0.1 or [::1], or turn it off"
            ),
        )),
        Some(true) if !local => Err(invalid(
            "UNI1_DEV_OUTBOX",
            "cannot be on with a public URL that is not on this machine \
             (localhost, 127.0.0.1 or [::1]); turn it off",
        )),
        Some(true) => Ok(true),
    }
}

/// What `uni1 migrate` and `uni1 admin` run with.
#[derive(Debug)]
pub struct DatabaseOnly {
    pub database: DatabaseSettings,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    /// `UNI1_APP_KEY` (flag, variable or file), validated; `None` for the
    /// key file.
    pub app_key: Option<SecretString>,
}

/// Resolves the database settings alone (for `uni1 migrate` and `uni1 admin`).
pub fn resolve_database_only(
    args: DatabaseArgs,
    file: Option<&Path>,
) -> Result<DatabaseOnly, ConfigError> {
    let args = read_file(file)?.under(args)?;
    let app_key = validated_app_key(args.app_key.clone())?;
    let (database, data_dir, log_format) = resolve_database(args)?;
    Ok(DatabaseOnly {
        database,
        data_dir,
        log_format,
        app_key: app_key.map(SecretString::from),
    })
}

fn resolve_database(
    args: DatabaseArgs,
) -> Result<(DatabaseSettings, PathBuf, LogFormat), ConfigError> {
    let data_dir = args.data_dir.unwrap_or_else(|| "data".into());
    let url = args
        .database_url
        .unwrap_or_else(|| format!("sqlite://{}/uni1.db?mode=rwc", data_dir.display()));
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        return Err(invalid(
            "DATABASE_URL",
            "must start with sqlite:// or postgres:// (the value is not shown because it may hold a password)",
        ));
    }
    let max_connections = args.database_max_connections.unwrap_or(10);
    if max_connections == 0 {
        return Err(invalid(
            "UNI1_DATABASE_MAX_CONNECTIONS",
            "must be at least 1",
        ));
    }
    let log_format = args.log_format.unwrap_or_default();
    Ok((
        DatabaseSettings {
            url: SecretString::from(url),
            max_connections,
        },
        data_dir,
        log_format,
    ))
}

fn read_file(path: Option<&Path>) -> Result<FileSettings, ConfigError> {
    let Some(path) = path else {
        return Ok(FileSettings::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    parse_file(path, &text)
}

/// The settings in the text of the file at `path`.
fn parse_file(path: &Path, text: &str) -> Result<FileSettings, ConfigError> {
    let bad = |message: String| ConfigError::ParseFile {
        path: path.to_owned(),
        message,
    };
    let mut table: toml::Table = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
    let models = match table.remove("models") {
        None => None,
        Some(value) => Some(
            Vec::<ModelFileEntry>::deserialize(value)
                .map_err(|e| bad(format!("[[models]]: {e}")))?,
        ),
    };
    let packs = match table.remove("packs") {
        None => None,
        Some(value) => Some(
            Vec::<PackFileEntry>::deserialize(value).map_err(|e| bad(format!("[[packs]]: {e}")))?,
        ),
    };
    let plans = match table.remove("plans") {
        None => None,
        Some(value) => Some(
            Vec::<PlanFileEntry>::deserialize(value).map_err(|e| bad(format!("[[plans]]: {e}")))?,
        ),
    };
    let known: Vec<String> = ServeArgs::augment_args(clap::Command::new("uni1"))
        .get_arguments()
        .map(|arg| arg.get_id().to_string())
        .collect();
    let mut settings = serde_json::Map::new();
    for (key, value) in table {
        if !known.contains(&key) {
            return Err(bad(format!("unknown setting `{key}`")));
        }
        let value = serde_json::to_value(value).map_err(|e| bad(format!("`{key}`: {e}")))?;
        let mut one = serde_json::Map::new();
        one.insert(key.clone(), value.clone());
        // Checked alone, so the error names the key (and never shows a
        // string's value: every secret is a string, and any string parses).
        serde_json::from_value::<ServeArgs>(serde_json::Value::Object(one))
            .map_err(|e| bad(format!("`{key}`: {e}")))?;
        settings.insert(key, value);
    }
    Ok(FileSettings {
        settings,
        models,
        packs,
        plans,
    })
}

/// Both settings of a pair (client id and secret), or neither.
fn pair(
    (a_name, a): (&'static str, Option<String>),
    (b_name, b): (&'static str, Option<String>),
) -> Result<Option<(String, String)>, ConfigError> {
    match (
        a.filter(|v| !v.trim().is_empty()),
        b.filter(|v| !v.trim().is_empty()),
    ) {
        (Some(a), Some(b)) => Ok(Some((a, b))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(invalid(b_name, format!("must be set when {a_name} is set"))),
        (None, Some(_)) => Err(invalid(a_name, format!("must be set when {b_name} is set"))),
    }
}

/// An http(s) URL setting, or its default.
fn http_url(
    setting: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    let raw = value.unwrap_or_else(|| default.to_owned());
    match Url::parse(&raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(raw.trim_end_matches('/').to_owned())
        }
        _ => Err(invalid(
            setting,
            format!("{raw:?} must be an http:// or https:// URL"),
        )),
    }
}

fn default_sender(public_url: &Url) -> lettre::message::Mailbox {
    let host = match public_url.host() {
        Some(url::Host::Domain(d)) if d != "localhost" => d.to_owned(),
        _ => "localhost.localdomain".to_owned(),
    };
    format!("uni1 <no-reply@{host}>")
        .parse()
        .unwrap_or_else(|_| {
            lettre::message::Mailbox::new(
                None,
                lettre::Address::new("no-reply", "localhost.localdomain").expect("a valid address"),
            )
        })
}

fn parse_public_url(raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw)
        .map_err(|e| invalid("UNI1_PUBLIC_URL", format!("{raw:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(
            "UNI1_PUBLIC_URL",
            format!("{raw:?} must be an http:// or https:// URL with a host"),
        ));
    }
    Ok(url)
}

fn non_empty(setting: &'static str, value: String) -> Result<String, ConfigError> {
    let value = value.trim().to_owned();
    if value.is_empty() {
        return Err(invalid(setting, "must not be empty"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Every environment variable a setting reads is documented in the
    /// README, so the table cannot fall behind the code.
    #[test]
    fn every_setting_is_in_the_readme() {
        use clap::CommandFactory as _;
        fn envs(command: &clap::Command, out: &mut Vec<String>) {
            for arg in command.get_arguments() {
                if let Some(env) = arg.get_env() {
                    out.push(env.to_string_lossy().into_owned());
                }
            }
            for sub in command.get_subcommands() {
                envs(sub, out);
            }
        }
        let mut names = Vec::new();
        envs(&Cli::command(), &mut names);
        assert!(names.len() > 20, "the settings were found: {names:?}");
        let readme = include_str!("../../README.md");
        let missing: Vec<&String> = names
            .iter()
            .filter(|name| !readme.contains(&format!("`{name}")))
            .collect();
        assert!(
            missing.is_empty(),
            "settings missing from README.md: {missing:?}"
        );
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let s = Settings::resolve(ServeArgs::default(), None).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(s.public_origin(), "http://127.0.0.1:3000");
        assert_eq!(
            s.database.url.expose_secret(),
            "sqlite://data/uni1.db?mode=rwc"
        );
        assert!(!s.is_https());
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let mut file = tempfile();
        writeln!(
            file.1,
            "listen = \"127.0.0.1:4000\"\noperator_name = \"From File\""
        )
        .unwrap();
        let args = ServeArgs {
            operator_name: Some("From Flag".into()),
            ..Default::default()
        };
        let s = Settings::resolve(args, Some(&file.0)).unwrap();
        assert_eq!(s.listen.port(), 4000);
        assert_eq!(s.operator_name, "From Flag");
        assert_eq!(s.public_origin(), "http://127.0.0.1:4000");
    }

    #[test]
    fn a_value_of_the_wrong_type_in_the_file_is_refused_by_name() {
        let mut file = tempfile();
        writeln!(file.1, "worker_slots = \"many\"").unwrap();
        let err = Settings::resolve(ServeArgs::default(), Some(&file.0))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`worker_slots`"), "{err}");
        // Generation and database settings come from the same file.
        let mut file = tempfile();
        writeln!(file.1, "worker_slots = 5\ndatabase_max_connections = 3").unwrap();
        let s = Settings::resolve(ServeArgs::default(), Some(&file.0)).unwrap();
        assert_eq!(s.generation.worker_slots, 5);
        assert_eq!(s.database.max_connections, 3);
        let args = WorkerArgs {
            generation: GenerationArgs {
                worker_slots: Some(1),
                ..Default::default()
            },
            ..Default::default()
        };
        let w = WorkerSettings::resolve(args, Some(&file.0)).unwrap();
        assert_eq!(w.generation.worker_slots, 1, "a flag wins over the file");
        assert_eq!(w.database.max_connections, 3);
    }

    #[test]
    fn migrate_and_admin_read_the_same_file() {
        let key = uni1_domain::support::crypto::AppKey::generate_base64();
        let mut file = tempfile();
        writeln!(
            file.1,
            "database_max_connections = 4\napp_key = \"{key}\"\nlisten = \"127.0.0.1:4000\""
        )
        .unwrap();
        let s = resolve_database_only(DatabaseArgs::default(), Some(&file.0)).unwrap();
        assert_eq!(s.database.max_connections, 4);
        assert_eq!(
            s.app_key.as_ref().map(|k| k.expose_secret().to_owned()),
            Some(key),
            "the admin command takes the key from the file too"
        );
    }

    #[test]
    fn an_unknown_key_in_the_file_is_refused_by_name() {
        let mut file = tempfile();
        writeln!(file.1, "lisen = \"127.0.0.1:4000\"").unwrap();
        let err = Settings::resolve(ServeArgs::default(), Some(&file.0))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn bad_values_name_the_setting_and_hide_secrets() {
        let args = ServeArgs {
            public_url: Some("ftp://x".into()),
            ..Default::default()
        };
        let err = Settings::resolve(args, None).unwrap_err().to_string();
        assert!(err.contains("UNI1_PUBLIC_URL"), "{err}");

        let mut args = ServeArgs::default();
        args.database.database_url = Some("mysql://root:hunter2@db/x".into());
        let err = Settings::resolve(args, None).unwrap_err().to_string();
        assert!(
            err.contains("DATABASE_URL") && !err.contains("hunter2"),
            "{err}"
        );

        let args = ServeArgs {
            operator_email: Some("not-an-address".into()),
            ..Default::default()
        };
        let err = Settings::resolve(args, None).unwrap_err().to_string();
        assert!(err.contains("UNI1_OPERATOR_EMAIL"), "{err}");

        let args = ServeArgs {
            smtp_url: Some("ftp://user:hunter2@mail".into()),
            ..Default::default()
        };
        let err = Settings::resolve(args, None).unwrap_err().to_string();
        assert!(
            err.contains("UNI1_SMTP_URL") && !err.contains("hunter2"),
            "{err}"
        );

        let args = ServeArgs {
            session_idle_hours: Some(48),
            session_max_hours: Some(24),
            ..Default::default()
        };
        let err = Settings::resolve(args, None).unwrap_err().to_string();
        assert!(err.contains("UNI1_SESSION_MAX_HOURS"), "{err}");

        for days in [0, 91] {
            let args = ServeArgs {
                deletion_grace_days: Some(days),
                ..Default::default()
            };
            let err = Settings::resolve(args, None).unwrap_err().to_string();
            assert!(
                err.contains("UNI1_DELETION_GRACE_DAYS") && err.contains("1 to 90"),
                "{err}"
            );
        }

        for rate in [0, 100_001] {
            let args = ServeArgs {
                announcement_mails_per_minute: Some(rate),
                ..Default::default()
            };
            let err = Settings::resolve(args, None).unwrap_err().to_string();
            assert!(
                err.contains("UNI1_ANNOUNCEMENT_MAILS_PER_MINUTE") && err.contains("1 to 100000"),
                "{err}"
            );
        }
        let s = Settings::resolve(ServeArgs::default(), None).unwrap();
        assert_eq!(s.announcement_mails_per_minute, 600);

        for (per_minute, burst, named) in [
            (Some(0), None, "UNI1_API_KEY_REQUESTS_PER_MINUTE"),
            (None, Some(0), "UNI1_API_KEY_BURST"),
            (None, Some(10_001), "UNI1_API_KEY_BURST"),
        ] {
            let args = ServeArgs {
                api_key_requests_per_minute: per_minute,
                api_key_burst: burst,
                ..Default::default()
            };
            let err = Settings::resolve(args, None).unwrap_err().to_string();
            assert!(err.contains(named), "{err}");
        }
        assert_eq!((s.api_key_rate.per_minute, s.api_key_rate.burst), (120, 60));
    }

    #[test]
    fn a_bad_app_key_is_refused_without_showing_it() {
        let mut args = ServeArgs::default();
        args.database.app_key = Some("c2hvcnQta2V5".into());
        let err = Settings::resolve(args, None).unwrap_err().to_string();
        assert!(
            err.contains("UNI1_APP_KEY") && !err.contains("c2hvcnQta2V5"),
            "{err}"
        );
    }

    #[test]
    fn providers_need_both_id_and_secret() {
        let args = ServeArgs {
            google_client_id: Some("id".into()),
            ..Default::default()
        };
        let err = Settings::resolve(args, None).unwrap_err().to_string();
        assert!(err.contains("UNI1_GOOGLE_CLIENT_SECRET"), "{err}");
        let args = ServeArgs {
            github_client_id: Some("id".into()),
            github_client_secret: Some("s3cret".into()),
            github_api_url: Some("not a url".into()),
            ..Default::default()
        };
        let err = Settings::resolve(args, None).unwrap_err().to_string();
        assert!(
            err.contains("UNI1_GITHUB_API_URL") && !err.contains("s3cret"),
            "{err}"
        );
        let s = Settings::resolve(ServeArgs::default(), None).unwrap();
        assert!(
            s.google.is_none() && s.github.is_none(),
            "no buttons unless configured"
        );
    }

    #[test]
    fn mail_defaults_follow_the_public_url() {
        let s = Settings::resolve(ServeArgs::default(), None).unwrap();
        assert!(s.dev_outbox, "no SMTP and a loopback URL");
        assert_eq!(
            s.mail_from.email.to_string(),
            "no-reply@localhost.localdomain"
        );
        let args = ServeArgs {
            public_url: Some("https://images.example.com".into()),
            ..Default::default()
        };
        let s = Settings::resolve(args, None).unwrap();
        assert!(!s.dev_outbox, "a public site never shows the outbox");
        assert_eq!(s.mail_from.email.to_string(), "no-reply@images.example.com");
    }

    #[test]
    fn debug_output_never_shows_the_database_password() {
        let mut args = ServeArgs::default();
        args.database.database_url = Some("postgres://u:hunter2@db/x".into());
        let s = Settings::resolve(args, None).unwrap();
        assert!(s.database.is_postgres());
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    /// H1: every secret setting holds a sentinel; neither `Debug` nor the
    /// start-up summary may show any of them.
    // SMTP settings are checked by building the transport, whose pool
    // needs a runtime.
    #[tokio::test]
    async fn no_secret_reaches_debug_output_or_the_start_up_log_line() {
        const APP_KEY: &str = "U0VOVElORUwtYXBwLWtleS0wMTIzNDU2Nzg5YWJjZGU=";
        const STORE_KEY: &str = "U0VOVElORUwtc3RvcmUta2V5LTAxMjM0NTY3ODlhYmM=";
        let mut file = tempfile();
        writeln!(
            file.1,
            "[[models]]\nid = \"remote\"\nname = \"Remote\"\nbackend = \"openai\"\n\
             base_url = \"https://api.example.com/v1\"\napi_key = \"SENTINEL-model-key\"\n"
        )
        .unwrap();
        let mut args = ServeArgs {
            smtp_url: Some("smtp://mailer:SENTINEL-smtp@mail.example.com:587".into()),
            google_client_id: Some("google-id".into()),
            google_client_secret: Some("SENTINEL-google".into()),
            github_client_id: Some("github-id".into()),
            github_client_secret: Some("SENTINEL-github".into()),
            metrics_token: Some("SENTINEL-metrics-0123456789abcdef0123456789".into()),
            ..Default::default()
        };
        args.database.database_url = Some("postgres://u:SENTINEL-db@db/x".into());
        args.database.app_key = Some(APP_KEY.into());
        args.generation.storage = Some(StorageKind::S3);
        args.generation.s3_bucket = Some("images".into());
        args.generation.s3_access_key_id = Some("AKID".into());
        args.generation.s3_secret_access_key = Some("SENTINEL-s3".into());
        args.generation.storage_keys = Some(format!("k1:{STORE_KEY}"));
        args.generation.model_webhook_secret = Some("whsec_SENTINEL".into());
        let s = Settings::resolve(args, Some(&file.0)).unwrap();
        assert_eq!(
            s.generation.models.len(),
            1,
            "the model with its key is loaded"
        );

        let debug = format!("{s:?}");
        let summary = s.summary();
        for text in [&debug, &summary] {
            assert!(!text.contains("SENTINEL"), "{text}");
            assert!(
                !text.contains(APP_KEY) && !text.contains(STORE_KEY),
                "{text}"
            );
        }
        assert!(
            debug.contains("images") && debug.contains("AKID"),
            "{debug}"
        );
        for expected in [
            "listen=127.0.0.1:3000",
            "database=postgres",
            "smtp_url=set",
            "storage=s3(bucket=images, region=auto)",
            "models=[remote:openai]",
            "model_webhook_secret=set",
            "metrics_token=set",
        ] {
            assert!(summary.contains(expected), "{expected}: {summary}");
        }
    }

    #[test]
    fn a_short_metrics_token_is_refused_without_showing_it() {
        let args = ServeArgs {
            metrics_token: Some("short secret".into()),
            ..Default::default()
        };
        let err = Settings::resolve(args, None).unwrap_err().to_string();
        assert!(err.contains("UNI1_METRICS_TOKEN"), "{err}");
        assert!(!err.contains("short secret"), "{err}");
        let s = Settings::resolve(ServeArgs::default(), None).unwrap();
        assert!(s.metrics_token.is_none(), "no /metrics unless asked for");
    }

    fn outbox(configure: impl FnOnce(&mut ServeArgs)) -> Result<bool, String> {
        let mut args = ServeArgs::default();
        configure(&mut args);
        Settings::resolve(args, None)
            .map(|s| s.dev_outbox)
            .map_err(|e| e.to_string())
    }

    // SMTP settings are checked by building the transport, whose pool
    // needs a runtime.
    #[tokio::test]
    async fn the_dev_outbox_is_on_only_where_nobody_else_can_reach_it() {
        assert_eq!(outbox(|_| {}), Ok(true), "the local default set-up");
        // The container set-up: reachable from other machines.
        assert_eq!(
            outbox(|a| {
                a.listen = Some("0.0.0.0:3000".parse().unwrap());
                a.public_url = Some("http://localhost:3000".into());
            }),
            Ok(false)
        );
        assert_eq!(
            outbox(|a| a.trust_proxy_headers = Some(true)),
            Ok(false),
            "behind a proxy every visitor looks local"
        );
        assert_eq!(
            outbox(|a| a.smtp_url = Some("smtp://127.0.0.1:25".into())),
            Ok(false)
        );
        assert_eq!(
            outbox(|a| a.public_url = Some("https://images.example.com".into())),
            Ok(false),
            "a tunnel or proxy serves the public name"
        );
        assert_eq!(outbox(|a| a.dev_outbox = Some(false)), Ok(false));
        assert_eq!(
            outbox(|a| {
                a.dev_outbox = Some(true);
                a.trust_proxy_headers = Some(true);
            }),
            Ok(true),
            "asked for, behind a local test proxy"
        );
    }

    #[test]
    fn asking_for_the_dev_outbox_on_a_reachable_address_is_refused() {
        let err = outbox(|a| {
            a.dev_outbox = Some(true);
            a.listen = Some("0.0.0.0:3000".parse().unwrap());
            a.public_url = Some("http://localhost:3000".into());
        })
        .unwrap_err();
        assert!(
            err.contains("UNI1_DEV_OUTBOX") && err.contains("0.0.0.0:3000"),
            "{err}"
        );
        let err = outbox(|a| {
            a.dev_outbox = Some(true);
            a.public_url = Some("https://images.example.com".into());
        })
        .unwrap_err();
        assert!(err.contains("UNI1_DEV_OUTBOX"), "{err}");
    }

    #[test]
    fn trusted_proxy_hops_default_to_one_and_need_trust() {
        let s = Settings::resolve(
            ServeArgs {
                trust_proxy_headers: Some(true),
                ..Default::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(s.trusted_proxy_hops, 1);
        let s = Settings::resolve(
            ServeArgs {
                trust_proxy_headers: Some(true),
                trusted_proxy_hops: Some(2),
                ..Default::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(s.trusted_proxy_hops, 2);
        for (trust, hops) in [(true, 0), (false, 2), (true, 17)] {
            let err = Settings::resolve(
                ServeArgs {
                    trust_proxy_headers: Some(trust),
                    trusted_proxy_hops: Some(hops),
                    ..Default::default()
                },
                None,
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("UNI1_TRUSTED_PROXY_HOPS"), "{err}");
        }
    }

    #[test]
    fn allowed_hosts_are_the_public_authority_and_local_aliases() {
        let s = Settings::resolve(ServeArgs::default(), None).unwrap();
        assert_eq!(
            s.allowed_hosts(),
            ["127.0.0.1:3000", "localhost:3000", "[::1]:3000"]
        );
        let s = Settings::resolve(
            ServeArgs {
                public_url: Some("https://Images.Example.com".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(s.allowed_hosts(), ["images.example.com:443"]);
    }

    fn tempfile() -> (PathBuf, std::fs::File) {
        let path = std::env::temp_dir().join(format!("uni1-config-{}.toml", uuid::Uuid::new_v4()));
        let file = std::fs::File::create(&path).unwrap();
        (path, file)
    }
}
