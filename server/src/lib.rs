//! The `uni1` server: configuration, database, HTTP application and the
//! process lifecycle. `main.rs` only parses the command line and calls in.

pub mod config;
pub mod db;
pub mod http;
pub mod telemetry;

use std::path::Path;

use anyhow::Context as _;
use leptos::config::LeptosOptions;
use uni1_app::site::SiteInfo;
use uni1_app::state::AppState;

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

/// Builds the application for `settings` on an open, migrated database.
pub fn app(
    settings: &Settings,
    db: uni1_domain::sea_orm::DatabaseConnection,
    leptos: LeptosOptions,
) -> axum::Router {
    let state = ServerState {
        leptos,
        app: AppState {
            db,
            site: SiteInfo {
                operator_name: settings.operator_name.clone(),
                operator_email: settings.operator_email.clone(),
            },
        },
    };
    let policy = HttpPolicy {
        public_origin: settings.public_origin(),
        hsts: settings.is_https(),
    };
    http::router(state, policy)
}

/// `uni1 serve`: migrate, then serve until SIGTERM or Ctrl-C, finishing the
/// requests in flight.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(?settings, "starting");
    let leptos = leptos_options(&settings.leptos_config)?;
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
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
    let router = app(&settings, db.clone(), leptos);
    println!("uni1 is running at {}", settings.public_url);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the HTTP server failed")?;
    db.close().await.ok();
    tracing::info!("stopped");
    Ok(())
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
