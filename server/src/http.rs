//! The HTTP application: Leptos pages and server functions, plain routes,
//! and the middleware every request passes through.

pub mod admin;
pub mod api;
pub mod api_docs;
pub mod billing;
pub mod cache;
pub mod consent;
pub mod csrf;
pub mod dev_outbox;
pub mod error;
pub mod gallery;
pub mod health;
pub mod host;
pub mod logging;
pub mod media;
pub mod metrics;
pub mod oauth;
pub mod privacy;
pub mod security_headers;
pub mod session;
pub mod unsubscribe;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use axum::handler::Handler as _;
use axum::routing::get;
use axum::Router;
use http::HeaderName;
use leptos::prelude::*;
use leptos_axum::{file_and_error_handler_with_context, generate_route_list, LeptosRoutes};
use tower::ServiceBuilder;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate as _};
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use uni1_app::state::AppState;
use uni1_app::{shell, App};

/// State of the axum router: Leptos's options and the app's state.
#[derive(Clone, FromRef)]
pub struct ServerState {
    pub leptos: LeptosOptions,
    pub app: AppState,
}

/// How requests are checked, derived from the settings.
#[derive(Clone, Debug)]
pub struct HttpPolicy {
    /// The public origin, e.g. `https://images.example.com`.
    pub public_origin: String,
    /// The `Host` values the site answers to (`host:port`, lower case):
    /// see [`crate::config::Settings::allowed_hosts`].
    pub allowed_hosts: Arc<[String]>,
    /// Send HSTS (only when served over https).
    pub hsts: bool,
    /// Take client addresses from X-Forwarded-For.
    pub trust_proxy_headers: bool,
    /// Proxies that append to X-Forwarded-For (with `trust_proxy_headers`).
    pub trusted_proxy_hops: u8,
    /// Route `/dev/outbox` (see `UNI1_DEV_OUTBOX`).
    pub dev_outbox: bool,
    /// The session cookie's name: answers to requests that carry it are
    /// never stored by caches.
    pub session_cookie: &'static str,
    /// `UNI1_METRICS_TOKEN`: `/metrics` answers only with it (404 without).
    pub metrics_token: Option<Arc<secrecy::SecretString>>,
}

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the whole application.
pub fn router(
    state: ServerState,
    policy: HttpPolicy,
    oauth: oauth::OAuth,
    webhooks: media::Webhooks,
) -> Router {
    let routes = generate_route_list(App);
    let app_state = state.app.clone();
    let context = move || provide_context(app_state.clone());

    let middleware = ServiceBuilder::new()
        // Outermost, so every answer is counted, refusals included.
        .layer(axum::middleware::from_fn(metrics::record))
        // A client's x-request-id is kept only when well formed; otherwise
        // the next layer makes one.
        .layer(axum::middleware::from_fn(
            logging::drop_malformed_request_id,
        ))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(logging::request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(axum::middleware::from_fn_with_state(
            policy.clone(),
            security_headers::apply,
        ))
        .layer(axum::middleware::from_fn_with_state(
            policy.clone(),
            cache::apply,
        ))
        .layer(axum::middleware::from_fn_with_state(
            policy.clone(),
            host::refuse_unknown_host,
        ))
        .layer(axum::middleware::from_fn_with_state(
            policy.clone(),
            csrf::refuse_foreign_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            session::SessionLayer {
                accounts: state.app.accounts.clone(),
                cookie: state.app.cookie.clone(),
                trusted_proxy_hops: if policy.trust_proxy_headers {
                    policy.trusted_proxy_hops.into()
                } else {
                    0
                },
                consent: state.app.consent.clone(),
                analytics: state.app.analytics.clone(),
                own_host: uni1_domain::analytics::site_host(&policy.public_origin),
            },
            session::resolve,
        ))
        .layer(axum::middleware::from_fn(admin::gate))
        // ZIPs hold PNGs and WebPs, which do not compress further.
        .layer(CompressionLayer::new().compress_when(
            DefaultPredicate::new().and(NotForContentType::const_new("application/zip")),
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ));

    let mut plain = Router::new()
        .route("/auth/{provider}/start", get(oauth::start))
        .route("/auth/{provider}/callback", get(oauth::callback))
        .with_state(oauth);
    let gens = state.app.generations.clone();
    plain = plain
        .route(
            "/media/{image}/{variant}",
            get(media::media).with_state(gens.clone()),
        )
        .route(
            "/api/generations/events",
            get(media::events).with_state(gens.clone()),
        )
        .route(
            "/s/{token}/image",
            get(media::shared_image).with_state(state.app.clone()),
        )
        .route(
            "/s/{token}/{image}/{variant}",
            get(gallery::shared_member).with_state(state.app.clone()),
        )
        .route(
            "/p/{image}/{variant}",
            get(gallery::public_media).with_state(state.app.clone()),
        )
        .route(
            "/og/{link}/{image}",
            get(gallery::og_image).with_state(state.app.clone()),
        )
        .route(
            "/gallery/selection",
            axum::routing::post(gallery::selection)
                .with_state(state.app.clone())
                .layer(axum::extract::DefaultBodyLimit::max(64 * 1024)),
        )
        .route(
            "/api/uploads/reference",
            axum::routing::post(media::upload_reference)
                .with_state(gens)
                .layer(axum::extract::DefaultBodyLimit::max(
                    10 * 1024 * 1024 + 1024,
                )),
        )
        .route(
            "/hooks/models/{model}",
            axum::routing::post(media::model_webhook).with_state(webhooks),
        )
        .route(
            "/hooks/stripe",
            axum::routing::post(billing::stripe_webhook)
                .with_state(state.app.billing.clone())
                .layer(axum::extract::DefaultBodyLimit::max(
                    billing::WEBHOOK_BODY_LIMIT,
                )),
        )
        .route(
            "/hooks/creem",
            axum::routing::post(billing::creem_webhook)
                .with_state(state.app.billing.clone())
                .layer(axum::extract::DefaultBodyLimit::max(
                    billing::WEBHOOK_BODY_LIMIT,
                )),
        )
        .route(
            "/admin/audit.csv",
            get(admin::audit_csv).with_state(state.app.admin.clone()),
        )
        .route(
            "/admin/incidents/{id}/record.txt",
            get(admin::incident_record).with_state(state.app.admin.clone()),
        )
        .route(
            "/admin/moderation/flags/{id}/image",
            axum::routing::post(admin::flagged_image).with_state(state.app.clone()),
        )
        .route(
            "/consent",
            axum::routing::post(consent::choose)
                .with_state(consent::ConsentRoute {
                    consent: state.app.consent.clone(),
                    cookie: state.app.cookie.clone(),
                    limits: state.app.limits.clone(),
                })
                .layer(axum::extract::DefaultBodyLimit::max(8 * 1024)),
        )
        .route(
            "/billing/history.csv",
            get(billing::history_csv).with_state(state.app.billing.clone()),
        )
        .route(
            "/api/profile/picture",
            axum::routing::post(privacy::upload_picture)
                .with_state(state.app.clone())
                .layer(axum::extract::DefaultBodyLimit::max(
                    10 * 1024 * 1024 + 1024,
                )),
        )
        .route(
            "/settings/profile/picture/{id}",
            get(privacy::picture).with_state(state.app.clone()),
        )
        .route(
            "/settings/privacy/exports/{id}",
            get(privacy::export_download).with_state(state.app.privacy.clone()),
        )
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe::confirm)
                .post(unsubscribe::one_click)
                .with_state(unsubscribe::UnsubscribeState {
                    db: state.app.db.clone(),
                    links: uni1_domain::mail::unsubscribe::Unsubscribe::new(
                        state.app.accounts.key(),
                    ),
                    stylesheet: uni1_app::stylesheet_href(&state.leptos),
                })
                .layer(axum::extract::DefaultBodyLimit::max(4 * 1024)),
        );
    if policy.dev_outbox {
        plain = plain.route(
            "/dev/outbox",
            get(dev_outbox::page).with_state(dev_outbox::DevOutbox {
                db: state.app.db.clone(),
                key: state.app.accounts.key().clone(),
                allowed_hosts: policy.allowed_hosts.clone(),
                default_port: host::default_port(&policy.public_origin),
            }),
        );
    }
    // The developer API's guide: plain HTML made once, no WASM.
    plain = plain.route(
        "/docs/api",
        get(api_docs::page).with_state(api_docs::ApiDocsPage::new(
            &uni1_app::stylesheet_href(&state.leptos),
            &state.app.public_origin,
            &state.app.generations.catalog,
        )),
    );
    // Static files (the WASM, JS, CSS and public/) straight from the site
    // root; anything else that is not a route gets the Leptos 404 page.
    let not_found = file_and_error_handler_with_context::<ServerState, _>(context.clone(), shell)
        .with_state(state.clone());
    // `.br` and `.gz` files written next to the site's files at build time
    // (scripts/precompress.mjs, maximum compression) are sent as they are;
    // the compression layer only compresses what has no such file.
    let static_files = ServeDir::new(&*state.leptos.site_root)
        .append_index_html_on_directories(false)
        .precompressed_br()
        .precompressed_gzip()
        .not_found_service(not_found);
    Router::new()
        .merge(plain)
        .merge(api::routes(&state.app))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route(
            "/metrics",
            get(metrics::scrape).with_state(metrics::Scrape {
                token: policy.metrics_token.clone(),
                db: state.app.db.clone(),
            }),
        )
        .leptos_routes_with_context(&state, routes, context, {
            let options = state.leptos.clone();
            move || shell(options.clone())
        })
        // Every route above tells the request metrics its pattern.
        .route_layer(axum::middleware::from_fn(metrics::tag_route))
        .fallback_service(static_files)
        .with_state(state)
        .layer(middleware)
}
