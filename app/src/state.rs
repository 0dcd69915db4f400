//! Server-side state shared by every request, and per-response headers set
//! while rendering.

use leptos::prelude::*;
use std::sync::Arc;

use uni1_domain::accounts::Accounts;
use uni1_domain::sea_orm::DatabaseConnection;
use uni1_domain::support::rate_limit::RateLimits;

use crate::error::AppError;
use crate::session::CookieSettings;
use crate::site::SiteInfo;

/// What server functions and pages need from the server process.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub site: SiteInfo,
    pub accounts: Accounts,
    pub limits: Arc<RateLimits>,
    pub cookie: CookieSettings,
    /// Which outside sign-in providers are configured.
    pub providers: crate::auth::SignInOptions,
    /// Generation: models, queue, credits and storage.
    pub generations: uni1_domain::generation::Generations,
    pub gallery: uni1_domain::library::gallery::Gallery,
    pub collections: uni1_domain::library::collections::Collections,
    pub sharing: uni1_domain::library::sharing::Sharing,
    pub publishing: uni1_domain::library::publishing::Publishing,
    /// The public origin without a trailing slash, for absolute links.
    pub public_origin: String,
    /// Credit packs, checkouts, orders and the credit history.
    pub billing: uni1_domain::billing::Billing,
    /// The payment provider's checkout origin, allowed as a form target.
    pub checkout_origin: Option<String>,
    /// The privacy center: requests, choices, exports, deletion.
    pub privacy: uni1_domain::privacy::Privacy,
    /// Who processes personal data for this site (from the settings), for
    /// `/privacy-choices`.
    pub processors: Arc<Vec<crate::privacy::ProcessorDto>>,
    /// Recorded cookie choices (CK-1).
    pub consent: uni1_domain::consent::Consent,
    /// First-party analytics without identifiers (ANA-1).
    pub analytics: uni1_domain::analytics::Analytics,
    /// Staff work: the guard, incidents, the audit log.
    pub admin: uni1_domain::admin::Admin,
    /// The developer API's keys (issue 17).
    pub api_keys: uni1_domain::developer::ApiKeys,
    /// Signs the image URLs of API answers.
    pub api_media: uni1_domain::developer::MediaSigner,
    /// Outbound webhook endpoints and their delivery log.
    pub webhooks: uni1_domain::webhooks::Webhooks,
}

/// The [`AppState`] the server provided to this request.
pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the request context");
        AppError::Internal.respond()
    })
}

/// Generates this response's script nonce and sends the matching
/// Content-Security-Policy. Hydration needs the nonce (inline bootstrap
/// script), `'strict-dynamic'` (it imports the JS glue) and
/// `'wasm-unsafe-eval'` (it compiles the WASM).
pub fn set_content_security_policy() {
    leptos::nonce::provide_nonce();
    let Some(nonce) = leptos::nonce::use_nonce() else {
        return;
    };
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    // A buy form redirects to the payment provider's checkout page, which
    // `form-action` must allow.
    let checkout = use_context::<AppState>()
        .and_then(|s| s.checkout_origin)
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'{checkout}; frame-ancestors 'none'"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}
