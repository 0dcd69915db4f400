//! "Sign in with Google" (OpenID Connect) and "Sign in with GitHub" (OAuth 2):
//! the two redirects of each flow.
//!
//! `GET /auth/{provider}/start` stores a single-use state with a PKCE
//! verifier and a nonce, and sends the browser to the provider.
//! `GET /auth/{provider}/callback` takes that state back (once), exchanges
//! the code with the verifier, checks the id_token (signature, issuer,
//! audience, expiry, nonce) for Google or reads `/user` and `/user/emails`
//! for GitHub, and hands the profile to `Accounts::sign_in_with_provider`.
//!
//! Failures send the person back to the sign-in page (or the security page
//! when linking) with a fixed error code; details go to the log only.
//!
//! Starting a flow costs a database write and (for Google) the provider's
//! metadata, so starts are rate limited per client address, and the
//! discovery document with its keys is fetched once per process and kept
//! for an hour ([`Cached`]); an id_token signed with a key id the cached
//! set does not know refreshes it (at most once a minute).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{header, HeaderValue};
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use uni1_app::session::{CookieSettings, RequestAuth};
use uni1_domain::accounts::providers::{Provider, ProviderFlow, ProviderOutcome, ProviderProfile};
use uni1_domain::accounts::{AccountError, Accounts};
use uni1_domain::support::rate_limit::{RateLimits, RetryAfter};

/// Google (or any OpenID provider) settings.
#[derive(Clone, Debug)]
pub struct GoogleSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    pub issuer: String,
}

/// GitHub settings; the URLs are configurable so tests can use a local peer.
#[derive(Clone, Debug)]
pub struct GitHubSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    pub authorize_url: String,
    pub token_url: String,
    pub api_url: String,
}

/// What the OAuth routes need.
#[derive(Clone)]
pub struct OAuth {
    pub google: Option<GoogleSettings>,
    pub github: Option<GitHubSettings>,
    pub public_origin: String,
    pub accounts: Accounts,
    pub cookie: CookieSettings,
    pub http: openidconnect::reqwest::Client,
    /// The limits of this process (starts are limited per address).
    pub limits: Arc<RateLimits>,
    /// The OpenID provider's metadata and keys, shared by every request.
    pub discovery: Arc<Cached<CoreProviderMetadata>>,
}

/// How long the provider's metadata and keys are kept.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(60 * 60);
/// The shortest time between two forced refreshes (an unknown key id).
pub const DISCOVERY_MIN_REFRESH: Duration = Duration::from_secs(60);

/// One value fetched from elsewhere and kept for `ttl`. Concurrent callers
/// wait for the one fetch in flight instead of starting their own.
#[derive(Debug)]
pub struct Cached<T> {
    slot: tokio::sync::Mutex<Option<(Instant, T)>>,
    ttl: Duration,
    min_refresh: Duration,
}

impl<T: Clone> Cached<T> {
    pub fn new(ttl: Duration, min_refresh: Duration) -> Self {
        Self {
            slot: tokio::sync::Mutex::new(None),
            ttl,
            min_refresh,
        }
    }

    /// The kept value, fetched first when there is none or it is too old.
    pub async fn get<F, Fut, E>(&self, fetch: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.fetch_if(|age| age >= self.ttl, fetch).await
    }

    /// Fetches again because the kept value missed something (a key id),
    /// unless it was fetched moments ago.
    pub async fn refresh<F, Fut, E>(&self, fetch: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.fetch_if(|age| age >= self.min_refresh, fetch).await
    }

    async fn fetch_if<F, Fut, E>(&self, stale: impl Fn(Duration) -> bool, fetch: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = slot.as_ref() {
            if !stale(at.elapsed()) {
                return Ok(value.clone());
            }
        }
        let value = fetch().await?;
        *slot = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}

impl<T: Clone> Default for Cached<T> {
    fn default() -> Self {
        Self::new(DISCOVERY_TTL, DISCOVERY_MIN_REFRESH)
    }
}

/// The scope asked of GitHub: the profile and the verified addresses.
pub const GITHUB_SCOPE: &str = "read:user user:email";

impl OAuth {
    /// An HTTP client that never follows redirects (no SSRF through them)
    /// and gives up after 15 seconds.
    pub fn http_client() -> Result<openidconnect::reqwest::Client, openidconnect::reqwest::Error> {
        openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .user_agent("uni1")
            .build()
    }

    fn redirect_uri(&self, provider: Provider) -> String {
        format!("{}/auth/{}/callback", self.public_origin, provider.as_str())
    }

    fn configured(&self, provider: Provider) -> bool {
        match provider {
            Provider::Google => self.google.is_some(),
            Provider::GitHub => self.github.is_some(),
        }
    }
}

/// Why a flow failed, as a code the pages turn into a sentence.
#[derive(Debug)]
enum Failure {
    Unavailable,
    Cancelled,
    Expired,
    Provider,
    Unverified,
    LinkedElsewhere,
    Unconfirmed,
    ExistingAccount,
    Disabled,
    Internal,
}

impl Failure {
    fn code(&self) -> &'static str {
        match self {
            Failure::Unavailable => "unavailable",
            Failure::Cancelled => "cancelled",
            Failure::Expired => "expired",
            Failure::Provider => "provider",
            Failure::Unverified => "unverified",
            Failure::LinkedElsewhere => "linked_elsewhere",
            Failure::Unconfirmed => "unconfirmed",
            Failure::ExistingAccount => "existing_account",
            Failure::Disabled => "disabled",
            Failure::Internal => "internal",
        }
    }
}

fn from_account(err: AccountError) -> Failure {
    match err {
        AccountError::LinkInvalid => Failure::Expired,
        AccountError::ProviderEmailUnverified(_) => Failure::Unverified,
        AccountError::ProviderLinkedElsewhere(_) => Failure::LinkedElsewhere,
        AccountError::ProviderAddressHasAccount(_) => Failure::ExistingAccount,
        AccountError::Disabled { .. } => Failure::Disabled,
        AccountError::Unexpected(e) => {
            tracing::error!(error = %uni1_app::error::chain(&e), "provider sign-in failed");
            Failure::Internal
        }
        other => {
            tracing::warn!(error = %other, "provider sign-in refused");
            Failure::Provider
        }
    }
}

fn back(failure: Failure, provider: Provider, linking: bool) -> Response {
    let page = if linking {
        "/settings/security"
    } else {
        "/sign-in"
    };
    Redirect::to(&format!(
        "{page}?error={}&provider={}",
        failure.code(),
        provider.as_str()
    ))
    .into_response()
}

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
    link: Option<String>,
    login_hint: Option<String>,
}

/// `GET /auth/{provider}/start`
pub async fn start(
    State(oauth): State<OAuth>,
    Path(provider): Path<String>,
    Query(query): Query<StartQuery>,
    Extension(auth): Extension<RequestAuth>,
) -> Response {
    if let Err(wait) = oauth.limits.oauth_start(&auth.client.ip).await {
        return too_many_starts(wait);
    }
    let Some(provider) = Provider::parse(&provider) else {
        return Redirect::to("/sign-in?error=unavailable").into_response();
    };
    let linking = query.link.is_some();
    if !oauth.configured(provider) {
        return back(Failure::Unavailable, provider, linking);
    }
    let link_user_id = if linking {
        match &auth.user {
            // Linking to an unconfirmed account could be a pre-hijacking step.
            Some(user) if !user.email_confirmed => {
                return back(Failure::Unconfirmed, provider, true)
            }
            Some(user) => Some(user.id),
            None => return Redirect::to("/sign-in?next=/settings/security").into_response(),
        }
    } else {
        None
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let nonce = Nonce::new_random();
    let flow = ProviderFlow {
        pkce_verifier: verifier.secret().clone(),
        nonce: nonce.secret().clone(),
        next_path: uni1_app::auth::safe_next(query.next.as_deref()),
        link_user_id,
    };
    let state = match oauth.accounts.begin_provider_flow(provider, flow).await {
        Ok(state) => state,
        Err(e) => return back(from_account(e), provider, linking),
    };
    let url = match provider {
        Provider::Google => {
            google_authorize_url(
                &oauth,
                &state,
                challenge,
                nonce,
                query.login_hint.as_deref(),
            )
            .await
        }
        Provider::GitHub => {
            github_authorize_url(&oauth, &state, &challenge, query.login_hint.as_deref())
        }
    };
    match url {
        Ok(url) => {
            let mut response = Redirect::to(&url).into_response();
            if let Ok(cookie) = HeaderValue::from_str(&oauth.cookie.set_oauth(&state)) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => {
            tracing::error!(provider = provider.as_str(), error = %e, "cannot start a provider sign-in");
            back(Failure::Provider, provider, linking)
        }
    }
}

fn too_many_starts(wait: RetryAfter) -> Response {
    (
        http::StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, wait.seconds().to_string())],
        "Too many sign-in attempts from your network. Please wait a moment and try again.",
    )
        .into_response()
}

/// The client for the OpenID provider, from the cached metadata (fetched
/// again first when `refresh` is set).
async fn google_client(
    oauth: &OAuth,
    refresh: bool,
) -> anyhow::Result<(
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
)> {
    let google = oauth
        .google
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("Google is not configured"))?;
    let issuer = IssuerUrl::new(google.issuer.clone())?;
    let http = &oauth.http;
    let fetch = move || async move {
        CoreProviderMetadata::discover_async(issuer, http)
            .await
            .map_err(anyhow::Error::from)
    };
    let metadata = match refresh {
        false => oauth.discovery.get(fetch).await?,
        true => oauth.discovery.refresh(fetch).await?,
    };
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(google.client_id.clone()),
        Some(ClientSecret::new(
            google.client_secret.expose_secret().to_owned(),
        )),
    )
    .set_redirect_uri(RedirectUrl::new(oauth.redirect_uri(Provider::Google))?);
    Ok((client,))
}

async fn google_authorize_url(
    oauth: &OAuth,
    state: &str,
    challenge: PkceCodeChallenge,
    nonce: Nonce,
    login_hint: Option<&str>,
) -> anyhow::Result<String> {
    let (client,) = google_client(oauth, false).await?;
    let state = state.to_owned();
    let mut request = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            move || CsrfToken::new(state),
            move || nonce,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    if let Some(hint) = login_hint {
        request = request.add_extra_param("login_hint", hint.to_owned());
    }
    Ok(request.url().0.to_string())
}

fn github_authorize_url(
    oauth: &OAuth,
    state: &str,
    challenge: &PkceCodeChallenge,
    login_hint: Option<&str>,
) -> anyhow::Result<String> {
    let github = oauth
        .github
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("GitHub is not configured"))?;
    let mut url = url::Url::parse(&github.authorize_url)?;
    url.query_pairs_mut()
        .append_pair("client_id", &github.client_id)
        .append_pair("redirect_uri", &oauth.redirect_uri(Provider::GitHub))
        .append_pair("response_type", "code")
        .append_pair("scope", GITHUB_SCOPE)
        .append_pair("state", state)
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    if let Some(hint) = login_hint {
        url.query_pairs_mut()
            .append_pair("login", hint)
            .append_pair("login_hint", hint);
    }
    Ok(url.to_string())
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/{provider}/callback`
pub async fn callback(
    State(oauth): State<OAuth>,
    Path(provider): Path<String>,
    Query(query): Query<CallbackQuery>,
    Extension(auth): Extension<RequestAuth>,
    headers: http::HeaderMap,
) -> Response {
    let Some(provider) = Provider::parse(&provider) else {
        return Redirect::to("/sign-in?error=unavailable").into_response();
    };
    let Some(state) = query.state.as_deref() else {
        return back(Failure::Expired, provider, false);
    };
    // The flow must come back to the browser that started it: otherwise
    // anyone could send a victim their own callback URL and sign them in
    // to the sender's account (login CSRF).
    if uni1_app::session::cookie_value(&headers, oauth.cookie.oauth_name) != Some(state) {
        return back(Failure::Expired, provider, false);
    }
    let flow = match oauth.accounts.take_provider_flow(provider, state).await {
        Ok(flow) => flow,
        Err(e) => return back(from_account(e), provider, false),
    };
    let linking = flow.link_user_id.is_some();
    if linking && auth.user.as_ref().map(|u| u.id) != flow.link_user_id {
        // The person who started linking is not the one signed in now.
        return back(Failure::Expired, provider, true);
    }
    if query.error.is_some() {
        return back(Failure::Cancelled, provider, linking);
    }
    let Some(code) = query.code else {
        return back(Failure::Provider, provider, linking);
    };
    let profile = match provider {
        Provider::Google => google_profile(&oauth, code, &flow).await,
        Provider::GitHub => github_profile(&oauth, code, &flow).await,
    };
    let profile = match profile {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(provider = provider.as_str(), error = %format!("{e:#}"), "provider answer refused");
            return back(Failure::Provider, provider, linking);
        }
    };
    match oauth
        .accounts
        .sign_in_with_provider(profile, flow.link_user_id, &flow.next_path, &auth.client)
        .await
    {
        Ok(ProviderOutcome::SignedIn(session)) => {
            let max_age = (session.expires_at - chrono::Utc::now())
                .num_seconds()
                .max(0);
            let mut response = Redirect::to(&flow.next_path).into_response();
            if let Ok(cookie) = HeaderValue::from_str(&oauth.cookie.set(&session.token, max_age)) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Ok(ProviderOutcome::SecondFactor(challenge)) => {
            let mut response = Redirect::to("/sign-in/two-factor").into_response();
            if let Ok(cookie) = HeaderValue::from_str(&oauth.cookie.set_challenge(&challenge)) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Ok(ProviderOutcome::Linked) => {
            Redirect::to(&format!("/settings/security?linked={}", provider.as_str()))
                .into_response()
        }
        Ok(ProviderOutcome::NeedsSignUp(token)) => {
            Redirect::to(&format!("/sign-up/complete?token={token}")).into_response()
        }
        Err(e) => back(from_account(e), provider, linking),
    }
}

async fn google_profile(
    oauth: &OAuth,
    code: String,
    flow: &ProviderFlow,
) -> anyhow::Result<ProviderProfile> {
    let (client,) = google_client(oauth, false).await?;
    let token = client
        .exchange_code(AuthorizationCode::new(code))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()))
        .request_async(&oauth.http)
        .await?;
    let id_token = token
        .extra_fields()
        .id_token()
        .ok_or_else(|| anyhow::anyhow!("no id_token in the token response"))?;
    let nonce = Nonce::new(flow.nonce.clone());
    let first = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .cloned();
    let claims = match first {
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => {
            // The provider rotated its keys since the metadata was cached.
            let (fresh,) = google_client(oauth, true).await?;
            let verifier = fresh.id_token_verifier();
            id_token.claims(&verifier, &nonce)?.clone()
        }
        other => other?,
    };
    Ok(ProviderProfile {
        provider: Provider::Google,
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified().unwrap_or(false),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned()),
        picture: claims
            .picture()
            .and_then(|p| p.get(None))
            .map(|p| p.as_str().to_owned()),
    })
}

#[derive(Deserialize)]
struct GitHubToken {
    access_token: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct GitHubUser {
    id: u64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct GitHubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

async fn github_profile(
    oauth: &OAuth,
    code: String,
    flow: &ProviderFlow,
) -> anyhow::Result<ProviderProfile> {
    let github = oauth
        .github
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("GitHub is not configured"))?;
    let token = oauth
        .http
        .post(&github.token_url)
        .header(header::ACCEPT, "application/json")
        .form(&[
            ("client_id", github.client_id.as_str()),
            ("client_secret", github.client_secret.expose_secret()),
            ("code", code.as_str()),
            (
                "redirect_uri",
                oauth.redirect_uri(Provider::GitHub).as_str(),
            ),
            ("code_verifier", flow.pkce_verifier.as_str()),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await?
        .bytes()
        .await?;
    let token: GitHubToken = serde_json::from_slice(&token)?;
    let access = match (token.access_token, token.error) {
        (Some(access), _) => access,
        (None, error) => anyhow::bail!("token endpoint refused: {}", error.unwrap_or_default()),
    };
    let get = |path: &str| {
        oauth
            .http
            .get(format!("{}{path}", github.api_url.trim_end_matches('/')))
            .header(header::ACCEPT, "application/vnd.github+json")
            .bearer_auth(&access)
    };
    let user: GitHubUser = serde_json::from_slice(
        &get("/user")
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?,
    )?;
    let emails: Vec<GitHubEmail> = serde_json::from_slice(
        &get("/user/emails")
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?,
    )?;
    let primary = emails.iter().find(|e| e.primary).or_else(|| emails.first());
    Ok(ProviderProfile {
        provider: Provider::GitHub,
        subject: user.id.to_string(),
        email: primary.map(|e| e.email.clone()),
        email_verified: primary.is_some_and(|e| e.verified),
        name: user.name.or(Some(user.login)),
        picture: user.avatar_url,
    })
}
