//! The `uni1` server: configuration, database, HTTP application and the
//! process lifecycle. `main.rs` only parses the command line and calls in.

pub mod admin;
pub mod config;
pub mod db;
pub mod files;
pub mod generation;
pub mod http;
pub mod telemetry;

use std::path::Path;

use std::sync::Arc;

use anyhow::Context as _;
use leptos::config::LeptosOptions;
use secrecy::ExposeSecret;
use uni1_app::session::CookieSettings;
use uni1_app::site::SiteInfo;
use uni1_app::state::AppState;
use uni1_domain::accounts::{AccountPolicy, Accounts};
use uni1_domain::crypto::AppKey;
use uni1_domain::mail::delivery::Transport;
use uni1_domain::mail::MailContext;
use uni1_domain::rate_limit::RateLimits;

use crate::config::Settings;
use crate::http::{HttpPolicy, ServerState};

/// Reads Leptos's run-time settings from `path` if it exists (with
/// `LEPTOS_*` overrides), otherwise from the environment and defaults.
pub fn leptos_options(path: &Path) -> anyhow::Result<LeptosOptions> {
    if path.exists() {
        let path_str = path
            .to_str()
            .context("the Leptos config path is not UTF-8")?;
        let conf = leptos::config::get_configuration(Some(path_str))
            .with_context(|| format!("invalid Leptos settings in {}", path.display()))?;
        return Ok(conf.leptos_options);
    }
    let env = |key: &str, default: &str| std::env::var(key).unwrap_or_else(|_| default.into());
    Ok(LeptosOptions::builder()
        .output_name(env("LEPTOS_OUTPUT_NAME", "uni1"))
        .site_root(env("LEPTOS_SITE_ROOT", "target/site"))
        .site_pkg_dir(env("LEPTOS_SITE_PKG_DIR", "pkg"))
        .build())
}

/// The application key: `UNI1_APP_KEY`, or the key in `<data_dir>/app.key`,
/// written (owner-readable only) with a fresh key the first time.
pub fn app_key(given: Option<&secrecy::SecretString>, data_dir: &Path) -> anyhow::Result<AppKey> {
    if let Some(given) = given {
        return AppKey::from_base64(given.expose_secret()).context("invalid UNI1_APP_KEY");
    }
    let path = data_dir.join("app.key");
    if path.exists() {
        files::warn_if_open_to_others(&path, "the application key");
    } else {
        files::create_private_dir(data_dir)
            .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        use std::io::Write as _;
        options
            .open(&path)
            .and_then(|mut f| f.write_all(AppKey::generate_base64().as_bytes()))
            .with_context(|| format!("cannot write a new application key to {}", path.display()))?;
        tracing::warn!(path = %path.display(), "generated an application key; with several processes, set the same UNI1_APP_KEY on all of them");
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    AppKey::from_base64(&text)
        .with_context(|| format!("{} does not hold a valid key", path.display()))
}

/// Builds the application for `settings` on an open, migrated database.
pub fn app(
    settings: &Settings,
    db: uni1_domain::sea_orm::DatabaseConnection,
    leptos: LeptosOptions,
    key: AppKey,
) -> anyhow::Result<axum::Router> {
    let wakeups = uni1_models::predictions::Wakeups::default();
    let gens = generation::build(
        &settings.generation,
        db.clone(),
        &key,
        &settings.public_origin(),
        &wakeups,
    )?;
    Ok(app_with_generations(
        settings, db, leptos, key, gens, wakeups,
    ))
}

/// [`app`] with a generation service built by the caller (so a worker in the
/// same process, or a test, shares it).
pub fn app_with_generations(
    settings: &Settings,
    db: uni1_domain::sea_orm::DatabaseConnection,
    leptos: LeptosOptions,
    key: AppKey,
    generations: uni1_domain::generation::Generations,
    wakeups: uni1_models::predictions::Wakeups,
) -> axum::Router {
    let accounts = Accounts {
        db: db.clone(),
        policy: AccountPolicy {
            session_idle: chrono::Duration::hours(settings.session_idle_hours.into()),
            session_max: chrono::Duration::hours(settings.session_max_hours.into()),
            ..AccountPolicy::default()
        },
        mail: MailContext {
            base_url: settings.public_origin(),
            operator_name: settings.operator_name.clone(),
            operator_email: settings.operator_email.clone(),
        },
        key,
    };
    let state = ServerState {
        leptos,
        app: AppState {
            db,
            site: SiteInfo {
                operator_name: settings.operator_name.clone(),
                operator_email: settings.operator_email.clone(),
            },
            accounts,
            limits: Arc::new(RateLimits::default()),
            cookie: CookieSettings::new(settings.is_https()),
            providers: uni1_app::auth::SignInOptions {
                google: settings.google.is_some(),
                github: settings.github.is_some(),
            },
            generations,
        },
    };
    let oauth = http::oauth::OAuth {
        google: settings.google.clone(),
        github: settings.github.clone(),
        public_origin: settings.public_origin(),
        accounts: state.app.accounts.clone(),
        cookie: state.app.cookie.clone(),
        http: http::oauth::OAuth::http_client()
            .expect("the HTTP client builds with static settings"),
        limits: state.app.limits.clone(),
        discovery: Arc::default(),
    };
    let policy = HttpPolicy {
        public_origin: settings.public_origin(),
        allowed_hosts: settings.allowed_hosts().into(),
        hsts: settings.is_https(),
        trust_proxy_headers: settings.trust_proxy_headers,
        trusted_proxy_hops: settings.trusted_proxy_hops,
        dev_outbox: settings.dev_outbox,
        session_cookie: state.app.cookie.name,
    };
    let webhooks = http::media::Webhooks::new(
        settings.generation.model_webhook_secret.clone(),
        wakeups,
        &state.app.generations.catalog,
    );
    http::router(state, policy, oauth, webhooks)
}

/// Where this process sends mail.
pub fn mail_transport(settings: &config::Settings) -> anyhow::Result<Transport> {
    match &settings.smtp_url {
        Some(url) => Transport::smtp(url.expose_secret()).context("invalid UNI1_SMTP_URL"),
        None => Ok(Transport::Outbox(settings.data_dir.join("outbox"))),
    }
}

/// `uni1 serve`: migrate, then serve until SIGTERM or Ctrl-C, finishing the
/// requests in flight.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    // An allow-list of settings: `?settings` would print every field that
    // is not a secret type, and one missed field is one leaked credential.
    tracing::info!(settings = %settings.summary(), "starting");
    let leptos = leptos_options(&settings.leptos_config)?;
    files::create_private_dir(&settings.data_dir).with_context(|| {
        format!(
            "cannot create the data folder {}",
            settings.data_dir.display()
        )
    })?;
    let db = db::connect(&settings.database)
        .await
        .context("cannot connect to the database (check DATABASE_URL)")?;
    db::migrate(&db)
        .await
        .context("database migration failed")?;

    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (UNI1_LISTEN)", settings.listen))?;
    let transport = mail_transport(&settings)?;
    if settings.dev_outbox {
        println!(
            "mail goes to {} (readable from this machine at {}dev/outbox)",
            settings.data_dir.join("outbox").display(),
            settings.public_url
        );
    }
    let key = app_key(settings.app_key.as_ref(), &settings.data_dir)?;
    let mailer = tokio::spawn(uni1_domain::mail::delivery::run(
        db.clone(),
        key.clone(),
        transport,
        settings.mail_from.clone(),
        std::time::Duration::from_secs(2),
    ));
    // The 7-day expiry reminders (STO-4). Every server runs it; an image is
    // claimed in the same transaction as its mail, so none is sent twice.
    let reminders = tokio::spawn(uni1_domain::reminders::run(
        db.clone(),
        MailContext {
            base_url: settings.public_origin(),
            operator_name: settings.operator_name.clone(),
            operator_email: settings.operator_email.clone(),
        },
        key.clone(),
        std::time::Duration::from_secs(600),
    ));
    let wakeups = uni1_models::predictions::Wakeups::default();
    let gens = generation::build(
        &settings.generation,
        db.clone(),
        &key,
        &settings.public_origin(),
        &wakeups,
    )?;
    let (stop_worker, worker_stopped) = tokio::sync::watch::channel(false);
    let worker = (settings.generation.worker_slots > 0).then(|| {
        let gens = gens.clone();
        let slots = settings.generation.worker_slots;
        let mut stopped = worker_stopped.clone();
        tokio::spawn(async move {
            uni1_domain::generation::worker::run(
                gens,
                uni1_domain::generation::worker::worker_id(),
                slots,
                async move {
                    stopped.wait_for(|s| *s).await.ok();
                },
            )
            .await;
        })
    });
    let router = app_with_generations(&settings, db.clone(), leptos, key, gens, wakeups);
    println!("uni1 is running at {}", settings.public_url);
    // Responses with a streamed body (pages, files) are written in several
    // pieces; without TCP_NODELAY each later piece waits for the client's
    // delayed ACK (~40 ms).
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("the HTTP server failed")?;
    mailer.abort();
    reminders.abort();
    stop_worker.send(true).ok();
    if let Some(worker) = worker {
        worker.await.ok();
    }
    db.close().await.ok();
    tracing::info!("stopped");
    Ok(())
}

/// `uni1 worker`: run generation jobs until SIGTERM or Ctrl-C.
pub async fn worker(settings: config::WorkerSettings) -> anyhow::Result<()> {
    let db = db::connect(&settings.database)
        .await
        .context("cannot connect to the database (check DATABASE_URL)")?;
    db::migrate(&db)
        .await
        .context("database migration failed")?;
    let key = app_key(settings.app_key.as_ref(), &settings.data_dir)?;
    // Webhooks reach the web servers; a lone worker polls.
    let wakeups = uni1_models::predictions::Wakeups::default();
    let gens = generation::build(
        &settings.generation,
        db.clone(),
        &key,
        "http://localhost",
        &wakeups,
    )?;
    let slots = settings.generation.worker_slots.max(1);
    let id = uni1_domain::generation::worker::worker_id();
    println!("uni1 worker {id} is running with {slots} slots");
    uni1_domain::generation::worker::run(gens, id, slots, shutdown_signal()).await;
    db.close().await.ok();
    Ok(())
}

/// `uni1 model-server`. Output URLs use the request's Host header.
pub async fn model_server(args: config::ModelServerArgs) -> anyhow::Result<()> {
    let server = uni1_models::server::ModelServer::new(&args.api_key, &args.webhook_secret);
    if args.latency_ms > 0 {
        server.inject(
            uni1_models::server::Fault::Latency(std::time::Duration::from_millis(args.latency_ms)),
            usize::MAX,
        );
    }
    println!(
        "uni1 model server (built-in generator, not AI) at http://{}",
        args.listen
    );
    uni1_models::server::run(args.listen, server)
        .await
        .with_context(|| format!("the model server on {} failed", args.listen))
}

/// `uni1 migrate`.
pub async fn migrate(database: &config::DatabaseSettings) -> anyhow::Result<()> {
    let db = db::connect(database)
        .await
        .context("cannot connect to the database (check DATABASE_URL)")?;
    db::migrate(&db)
        .await
        .context("database migration failed")?;
    println!("database is up to date");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
