//! The `uni1` server: configuration, database, HTTP application and the
//! process lifecycle. `main.rs` only parses the command line and calls in.

pub mod admin;
pub mod background;
pub mod config;
pub mod db;
pub mod files;
pub mod generation;
pub mod http;
pub mod mailers;
pub mod metrics;
pub mod startup;
pub mod telemetry;

use std::path::Path;

use anyhow::Context as _;
use leptos::config::LeptosOptions;
use secrecy::ExposeSecret;
use uni1_domain::support::crypto::AppKey;

use crate::config::Settings;

/// Reads Leptos's run-time settings from `path` if it exists (with
/// `LEPTOS_*` overrides), otherwise from the environment and defaults.
pub fn leptos_options(path: &Path) -> anyhow::Result<LeptosOptions> {
    let mut options = if path.exists() {
        let path_str = path
            .to_str()
            .context("the Leptos config path is not UTF-8")?;
        let conf = leptos::config::get_configuration(Some(path_str))
            .with_context(|| format!("invalid Leptos settings in {}", path.display()))?;
        conf.leptos_options
    } else {
        let env = |key: &str, default: &str| std::env::var(key).unwrap_or_else(|_| default.into());
        LeptosOptions::builder()
            .output_name(env("LEPTOS_OUTPUT_NAME", "uni1"))
            .site_root(env("LEPTOS_SITE_ROOT", "target/site"))
            .site_pkg_dir(env("LEPTOS_SITE_PKG_DIR", "pkg"))
            .build()
    };
    // Hashed asset names when the build wrote a hash file next to this
    // binary (cargo-leptos `hash-files`), unless LEPTOS_HASH_FILES says.
    if std::env::var_os("LEPTOS_HASH_FILES").is_none() {
        options.hash_files = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.join(options.hash_file.as_ref())))
            .is_some_and(|file| file.is_file());
    }
    Ok(options)
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

/// How much longer than the jobs' grace period the background tasks may
/// take to stop (a hand-back, a pass in flight), before they are aborted.
const STOP_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// `uni1 serve`: migrate, then serve until SIGTERM or Ctrl-C. Then, at
/// once: stop accepting connections, end the progress streams with a
/// `retry:` hint (browsers reconnect to another process), stop claiming
/// jobs; finish the requests in flight and let running jobs finish within
/// `UNI1_SHUTDOWN_GRACE_SECONDS` (or hand them back to the queue); then
/// send the mail still queued (up to [`startup::MAIL_FLUSH`]).
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
    let db = startup::open_database(&settings.database).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (UNI1_LISTEN)", settings.listen))?;
    if settings.dev_outbox {
        println!(
            "mail goes to {} (readable from this machine at {}dev/outbox)",
            settings.data_dir.join("outbox").display(),
            settings.public_url
        );
    }
    let key = app_key(settings.app_key.as_ref(), &settings.data_dir)?;
    let services = startup::Services::build(&settings, db.clone(), key)?;
    let signal = shutdown_signal();
    let background = services.background(&settings)?.start();
    let router = services.router(&settings, leptos);
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
    let stopping = std::sync::Arc::new(tokio::sync::watch::Sender::new(false));
    let stopped = |rx: tokio::sync::watch::Receiver<bool>| async move {
        let mut rx = rx;
        rx.wait_for(|s| *s).await.ok();
    };
    {
        let stopping = stopping.clone();
        tokio::spawn(async move {
            signal.await;
            stopping.send_replace(true);
        });
    }
    let hub = services.generations.progress.clone();
    let http = {
        let stopping = stopping.clone();
        let until = stopped(stopping.subscribe());
        async move {
            let served = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                until.await;
                // Open streams end now; axum waits for nothing else long.
                hub.close();
            })
            .await
            .context("the HTTP server failed");
            // Also when the server failed: stop the rest.
            stopping.send_replace(true);
            served
        }
    };
    let grace = settings.generation.shutdown_grace + STOP_MARGIN;
    let work = {
        let until = stopped(stopping.subscribe());
        async move {
            until.await;
            background.stop_within(grace).await;
        }
    };
    let (served, ()) = tokio::join!(http, work);
    services.flush_mail(&settings).await;
    db.close().await.ok();
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// `uni1 worker`: run generation jobs (with the reaper and sweepers) until
/// SIGTERM or Ctrl-C; then claim nothing more and let running jobs finish
/// within `UNI1_SHUTDOWN_GRACE_SECONDS`, handing back the rest.
pub async fn worker(settings: config::WorkerSettings) -> anyhow::Result<()> {
    let db = startup::open_database(&settings.database).await?;
    let key = app_key(settings.app_key.as_ref(), &settings.data_dir)?;
    // Webhooks reach the web servers, which forward them on PostgreSQL
    // (a lone worker on SQLite polls).
    let (gens, wakeups) =
        startup::generations(&settings.generation, db.clone(), &key, "http://localhost")?;
    let slots = settings.generation.worker_slots.max(1);
    let id = uni1_domain::generation::worker::worker_id();
    println!("uni1 worker {id} is running with {slots} slots");
    let mut tasks = background::Background::new();
    startup::with_notifications(&mut tasks, &gens, &wakeups);
    startup::with_worker(&mut tasks, &gens, id, slots);
    let hooks = startup::webhooks(&settings.generation, db.clone(), key.clone())?;
    startup::with_webhooks(&mut tasks, &hooks);
    let stop = shutdown_signal();
    let running = tasks.start();
    stop.await;
    running
        .stop_within(settings.generation.shutdown_grace + STOP_MARGIN)
        .await;
    db.close().await.ok();
    tracing::info!("stopped");
    Ok(())
}

/// `uni1 model-server`. Output URLs use the request's Host header.
pub async fn model_server(args: config::ModelServerArgs) -> anyhow::Result<()> {
    let server = uni1_model_server::ModelServer::new(&args.api_key, &args.webhook_secret);
    if args.latency_ms > 0 {
        server.inject(
            uni1_model_server::Fault::Latency(std::time::Duration::from_millis(args.latency_ms)),
            usize::MAX,
        );
    }
    println!(
        "uni1 model server (built-in generator, not AI) at http://{}",
        args.listen
    );
    uni1_model_server::run(args.listen, server)
        .await
        .with_context(|| format!("the model server on {} failed", args.listen))
}

/// `uni1 payment-fake`: the project's Stripe fake on `args.listen`.
pub async fn payment_fake(args: config::PaymentFakeArgs) -> anyhow::Result<()> {
    let mut prices = std::collections::HashMap::new();
    for spec in &args.prices {
        let parsed = spec.split_once('=').and_then(|(id, rest)| {
            Some((id.trim().to_owned(), uni1_payment_fake::Price::parse(rest)?))
        });
        let (id, price) = parsed.with_context(|| {
            format!(
                "--price {spec:?} must look like price_starter=500:usd or price_pro=1000:usd:month"
            )
        })?;
        prices.insert(id, price);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let origin = format!("http://{}", listener.local_addr()?);
    println!(
        "uni1 payment fake (Stripe-shaped, no real payments) at {origin}; events go to {}",
        args.webhook_url
    );
    uni1_payment_fake::serve(
        listener,
        uni1_payment_fake::FakeSettings {
            secret_key: args.secret_key,
            webhook_url: args.webhook_url,
            webhook_secret: args.webhook_secret,
            public_origin: origin,
            prices,
            creem: Some(uni1_payment_fake::CreemFake {
                api_key: args.creem_api_key,
                webhook_url: args.creem_webhook_url,
                webhook_secret: args.creem_webhook_secret,
            }),
        },
    )
    .await
    .context("the payment fake failed")
}

/// `uni1 migrate`.
pub async fn migrate(database: &config::DatabaseSettings) -> anyhow::Result<()> {
    let db = startup::open_database(database).await?;
    db.close().await.ok();
    println!("database is up to date");
    Ok(())
}

/// Resolves at SIGTERM or Ctrl-C. The SIGTERM handler is installed when
/// this is called (not when first polled), so a SIGTERM that arrives while
/// the process starts its work is not the default "terminate at once".
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        let ctrl_c = async {
            tokio::signal::ctrl_c().await.ok();
        };
        #[cfg(unix)]
        let terminate = async {
            match terminate {
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
        tracing::info!(
            "shutting down: claiming no more jobs, finishing requests and jobs in flight"
        );
    }
}
