//! Sign-in with Google (OpenID Connect) and GitHub (OAuth 2) against a real
//! local provider (`end2end/peers/oidc.mjs`, npm oidc-provider), which
//! `make test` starts and names in `UNI1_TEST_OIDC_ISSUER`. Without it these
//! tests are skipped with a loud message, unless `UNI1_REQUIRE_PEERS=1`.

use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use uni1_domain::entities::{oauth_state, user_identity};

use crate::fixtures::{code_at, sign_in, sign_up, PASSWORD};
use crate::on_both_backends;
use crate::support::{run_configured, Backend, TestApp, Visitor, ORIGIN};

fn issuer() -> Option<String> {
    match std::env::var("UNI1_TEST_OIDC_ISSUER") {
        Ok(issuer) => Some(issuer),
        Err(_) if std::env::var("UNI1_REQUIRE_PEERS").as_deref() == Ok("1") => {
            panic!("UNI1_TEST_OIDC_ISSUER is required (make test starts the provider)")
        }
        Err(_) => {
            eprintln!("\n!!! SKIPPING a provider sign-in test: no local OpenID provider (run it through `make test`)\n");
            None
        }
    }
}

/// Runs `test` on both back-ends with Google and GitHub pointed at the peer.
async fn with_providers<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(issuer) = issuer() else { return };
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let issuer = issuer.clone();
        run_configured(
            backend,
            ORIGIN,
            move |args| {
                args.google_client_id = Some("uni1-google".into());
                args.google_client_secret = Some("google-test-secret".into());
                args.google_issuer = Some(issuer.clone());
                args.github_client_id = Some("uni1-github".into());
                args.github_client_secret = Some("github-test-secret".into());
                args.github_authorize_url = Some(format!("{issuer}/auth"));
                args.github_token_url = Some(format!("{issuer}/token"));
                args.github_api_url = Some(format!("{issuer}/github"));
            },
            &test,
        )
        .await;
    }
}

/// Follows the provider's redirects (keeping its cookies) from `location`
/// until it sends the browser back to the app; returns that path and query.
async fn through_provider(location: &str) -> String {
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut jar: Vec<(String, String)> = Vec::new();
    let mut next = location.to_owned();
    for _ in 0..10 {
        if let Some(back) = next.strip_prefix(ORIGIN) {
            return back.to_owned();
        }
        let cookie = jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let r = http
            .get(&next)
            .header("cookie", cookie)
            .send()
            .await
            .expect("provider answers");
        for set in r.headers().get_all("set-cookie") {
            let pair = set
                .to_str()
                .expect("ascii")
                .split(';')
                .next()
                .expect("pair");
            if let Some((k, v)) = pair.split_once('=') {
                jar.retain(|(name, _)| name != k);
                jar.push((k.to_owned(), v.to_owned()));
            }
        }
        let to = r
            .headers()
            .get("location")
            .unwrap_or_else(|| panic!("no redirect from {next}: {}", r.status()));
        let to = to.to_str().expect("ascii").to_owned();
        let base = url::Url::parse(&next).expect("url");
        next = base.join(&to).expect("joins").to_string();
    }
    panic!("the provider never sent the browser back");
}

/// Adds the cookie a reply set to the visitor's cookies.
fn add_cookie(visitor: &mut Visitor, reply: &crate::support::Reply, name: &str) {
    let set = reply
        .set_cookie(name)
        .unwrap_or_else(|| panic!("{name} cookie"));
    let pair = set.split(';').next().expect("pair").to_owned();
    let mut cookies: Vec<String> = visitor
        .cookie
        .as_deref()
        .unwrap_or_default()
        .split("; ")
        .filter(|c| !c.is_empty() && !c.starts_with(&format!("{name}=")))
        .map(str::to_owned)
        .collect();
    cookies.push(pair);
    visitor.cookie = Some(cookies.join("; "));
}

/// Starts a flow at the app (keeping the cookie that binds it to this
/// browser) and returns where the app sends the browser.
async fn start_flow(app: &TestApp, visitor: &mut Visitor, start: &str) -> String {
    let r = app.get_as(start, visitor).await;
    assert_eq!(r.status, 303, "{}", r.body);
    add_cookie(visitor, &r, "uni1_oauth");
    r.header("location").expect("to the provider").to_owned()
}

/// Starts a flow at the app, goes through the provider as `email`, and
/// returns the app's callback path.
async fn provider_round_trip(
    app: &TestApp,
    visitor: &mut Visitor,
    start: &str,
    email: &str,
) -> String {
    let sep = if start.contains('?') { '&' } else { '?' };
    let location = start_flow(app, visitor, &format!("{start}{sep}login_hint={email}")).await;
    through_provider(&location).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_sign_up_needs_the_attestation_then_signs_in() {
    with_providers(|app: TestApp| async move {
        let mut v = Visitor::new("198.51.100.90");
        let callback = provider_round_trip(
            &app,
            &mut v,
            "/auth/google/start?next=/settings/security",
            "ada@example.org",
        )
        .await;
        assert!(callback.starts_with("/auth/google/callback?"), "{callback}");
        let r = app.get_as(&callback, &v).await;
        assert_eq!(r.status, 303);
        let complete = r.header("location").expect("location").to_owned();
        assert!(
            complete.starts_with("/sign-up/complete?token="),
            "{complete}"
        );
        let token = complete.split("token=").nth(1).expect("token").to_owned();

        let pending = app
            .post_as("/api/pending_sign_up", &[("token", &token)], &v)
            .await
            .json();
        assert_eq!(pending["email"], "ada@example.org");
        assert_eq!(pending["provider"], "Google");
        assert_eq!(
            pending["display_name"], "Test ada",
            "name taken from the provider"
        );

        let refused = app
            .post_as(
                "/api/complete_sign_up",
                &[("token", &token), ("terms", "on")],
                &v,
            )
            .await;
        assert_eq!(refused.status, 422);
        assert_eq!(refused.json()["Invalid"]["field"], "adult");
        let done = app
            .post_as(
                "/api/complete_sign_up",
                &[("token", &token), ("adult", "on"), ("terms", "on")],
                &v,
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        v.keep_cookie(&done);
        let me = app.post_as("/api/me", &[], &v).await.json();
        assert_eq!(me["display_name"], "Test ada");
        assert_eq!(
            me["email_confirmed"], true,
            "the provider verified the address"
        );
        let again = app
            .post_as(
                "/api/complete_sign_up",
                &[("token", &token), ("adult", "on"), ("terms", "on")],
                &v,
            )
            .await;
        assert_eq!(again.status, 422, "single use");

        // Next time, Google signs straight in and goes where asked.
        let mut fresh = Visitor::new("198.51.100.91");
        let callback = provider_round_trip(
            &app,
            &mut fresh,
            "/auth/google/start?next=/settings/security",
            "ada@example.org",
        )
        .await;
        let r = app.get_as(&callback, &fresh).await;
        assert_eq!(r.header("location"), Some("/settings/security"));
        fresh.keep_cookie(&r);
        assert_eq!(
            app.post_as("/api/me", &[], &fresh).await.json()["email"],
            "ada@example.org"
        );

        // The only sign-in method cannot be unlinked.
        let r = app
            .post_as("/api/unlink_provider", &[("provider", "google")], &fresh)
            .await;
        assert_eq!(r.status, 422);
        assert!(r.json()["Invalid"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("only way to sign in")));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_tampered_callbacks_are_refused() {
    with_providers(|app: TestApp| async move {
        let mut v = Visitor::new("198.51.100.92");
        let r = app
            .get_as("/auth/google/callback?code=abc&state=forged", &v)
            .await;
        assert_eq!(
            r.header("location"),
            Some("/sign-in?error=expired&provider=google")
        );

        let callback =
            provider_round_trip(&app, &mut v, "/auth/google/start", "eve@example.org").await;
        let first = app.get_as(&callback, &v).await;
        assert!(first
            .header("location")
            .is_some_and(|l| l.starts_with("/sign-up/complete")));
        let replay = app.get_as(&callback, &v).await;
        assert_eq!(
            replay.header("location"),
            Some("/sign-in?error=expired&provider=google"),
            "state is single use"
        );

        // The same code with a fresh, valid state: the provider refuses the
        // replayed code at the token endpoint.
        let used_code = callback
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("code="))
            .expect("a code")
            .to_owned();
        let fresh_state = start_flow(&app, &mut v, "/auth/google/start")
            .await
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("state="))
            .expect("a state")
            .to_owned();
        let r = app
            .get_as(
                &format!("/auth/google/callback?code={used_code}&state={fresh_state}"),
                &v,
            )
            .await;
        assert_eq!(
            r.header("location"),
            Some("/sign-in?error=provider&provider=google"),
            "replayed code"
        );

        // A flow whose stored nonce does not match the id_token's.
        let location = start_flow(
            &app,
            &mut v,
            "/auth/google/start?login_hint=mallory@example.org",
        )
        .await;
        for flow in oauth_state::Entity::find()
            .all(&app.db)
            .await
            .expect("flows")
        {
            let mut flow = flow.into_active_model();
            flow.nonce = Set("not-the-nonce-that-was-sent".into());
            flow.update(&app.db).await.expect("update");
        }
        let callback = through_provider(&location).await;
        let r = app.get_as(&callback, &v).await;
        assert_eq!(
            r.header("location"),
            Some("/sign-in?error=provider&provider=google")
        );
        assert!(
            user_identity::Entity::find()
                .all(&app.db)
                .await
                .expect("q")
                .is_empty(),
            "nothing linked"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_never_links_itself_to_an_existing_account_by_address() {
    with_providers(|app: TestApp| async move {
        let mut v = Visitor::new("198.51.100.93");
        // An address GitHub has not verified, and no account: refused.
        let callback = provider_round_trip(
            &app,
            &mut v,
            "/auth/github/start",
            "unverified-bo@example.org",
        )
        .await;
        let r = app.get_as(&callback, &v).await;
        assert_eq!(
            r.header("location"),
            Some("/sign-in?error=unverified&provider=github")
        );

        // A verified address that belongs to a confirmed account: not
        // linked, nobody signed in; the owner is told to link from settings.
        sign_up(&app, "grace@example.org", &v).await;
        crate::fixtures::confirm(&app, "grace@example.org", &v).await;
        let mut browser = Visitor::new("198.51.100.94");
        let callback = provider_round_trip(
            &app,
            &mut browser,
            "/auth/github/start",
            "grace@example.org",
        )
        .await;
        let r = app.get_as(&callback, &browser).await;
        assert_eq!(
            r.header("location"),
            Some("/sign-in?error=existing_account&provider=github")
        );
        assert!(r.set_cookie("uni1_session").is_none(), "no session");
        assert!(
            user_identity::Entity::find()
                .all(&app.db)
                .await
                .expect("q")
                .is_empty(),
            "nothing linked"
        );
        assert!(
            uni1_app::auth::provider_error_text("existing_account", "github")
                .contains("link GitHub from Settings")
        );

        // The owner signs in with the password and links GitHub; from then
        // on GitHub signs in.
        sign_in(&app, "grace@example.org", PASSWORD, &mut browser).await;
        let callback = provider_round_trip(
            &app,
            &mut browser,
            "/auth/github/start?link=1",
            "grace@example.org",
        )
        .await;
        let r = app.get_as(&callback, &browser).await;
        assert_eq!(
            r.header("location"),
            Some("/settings/security?linked=github")
        );
        let mut later = Visitor::new("198.51.100.89");
        let callback =
            provider_round_trip(&app, &mut later, "/auth/github/start", "grace@example.org").await;
        let r = app.get_as(&callback, &later).await;
        assert_eq!(r.header("location"), Some("/studio"));
        browser.keep_cookie(&r);
        let overview = app
            .post_as("/api/security_overview", &[], &browser)
            .await
            .json();
        assert_eq!(overview["linked"][0]["provider"], "github");
        assert_eq!(overview["has_password"], true);
        // With a password left, unlinking is fine.
        let r = app
            .post_as("/api/unlink_provider", &[("provider", "github")], &browser)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_in_people_link_a_provider_from_settings() {
    with_providers(|app: TestApp| async move {
        let mut v = Visitor::new("198.51.100.95");
        sign_up(&app, "linus@example.org", &v).await;
        crate::fixtures::confirm(&app, "linus@example.org", &v).await;
        sign_in(&app, "linus@example.org", PASSWORD, &mut v).await;
        // Linking works even when the provider's address differs (and is unverified).
        let callback = provider_round_trip(
            &app,
            &mut v,
            "/auth/github/start?link=1",
            "unverified-linus@example.org",
        )
        .await;
        let r = app.get_as(&callback, &v).await;
        assert_eq!(
            r.header("location"),
            Some("/settings/security?linked=github")
        );
        let overview = app.post_as("/api/security_overview", &[], &v).await.json();
        assert_eq!(
            overview["linked"][0]["email"],
            "unverified-linus@example.org"
        );

        // The same GitHub identity cannot be linked to a second account.
        let mut other = Visitor::new("198.51.100.96");
        sign_up(&app, "other@example.org", &other).await;
        crate::fixtures::confirm(&app, "other@example.org", &other).await;
        sign_in(&app, "other@example.org", PASSWORD, &mut other).await;
        let callback = provider_round_trip(
            &app,
            &mut other,
            "/auth/github/start?link=1",
            "unverified-linus@example.org",
        )
        .await;
        let r = app.get_as(&callback, &other).await;
        assert_eq!(
            r.header("location"),
            Some("/settings/security?error=linked_elsewhere&provider=github")
        );

        // Linking needs a signed-in person.
        let anonymous = Visitor::new("198.51.100.97");
        let r = app.get_as("/auth/github/start?link=1", &anonymous).await;
        assert_eq!(
            r.header("location"),
            Some("/sign-in?next=/settings/security")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_factor_is_asked_after_a_provider_sign_in_too() {
    with_providers(|app: TestApp| async move {
        // A Google account, then two-factor turned on.
        let mut v = Visitor::new("198.51.100.98");
        let callback =
            provider_round_trip(&app, &mut v, "/auth/google/start", "tfa@example.org").await;
        let complete = app
            .get_as(&callback, &v)
            .await
            .header("location")
            .expect("pending")
            .to_owned();
        let token = complete.split("token=").nth(1).expect("token").to_owned();
        let done = app
            .post_as(
                "/api/complete_sign_up",
                &[("token", &token), ("adult", "on"), ("terms", "on")],
                &v,
            )
            .await;
        v.keep_cookie(&done);
        let secret = app.post_as("/api/begin_two_factor", &[], &v).await.json()["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let r = app
            .post_as(
                "/api/confirm_two_factor",
                &[("code", &code_at(&secret, 0))],
                &v,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);

        // Google alone no longer signs in: the second step is asked.
        let mut other = Visitor::new("198.51.100.99");
        let callback = provider_round_trip(
            &app,
            &mut other,
            "/auth/google/start?next=/settings/security",
            "tfa@example.org",
        )
        .await;
        let r = app.get_as(&callback, &other).await;
        assert_eq!(r.header("location"), Some("/sign-in/two-factor"));
        assert!(r.set_cookie("uni1_session").is_none());
        let challenge = r.set_cookie("uni1_2fa").expect("challenge cookie");
        other.cookie = Some(challenge.split(';').next().expect("pair").to_owned());
        let r = app
            .post_as(
                "/api/verify_second_factor",
                &[("code", &code_at(&secret, 30))],
                &other,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.header("location"),
            Some("/settings/security"),
            "the next path survives the second step"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_opened_in_another_browser_is_refused() {
    with_providers(|app: TestApp| async move {
        // The attacker completes the provider step in their own browser...
        let mut attacker = Visitor::new("192.0.2.120");
        let callback = provider_round_trip(
            &app,
            &mut attacker,
            "/auth/google/start",
            "attacker@example.org",
        )
        .await;
        // ...and sends the callback link to the victim (login CSRF).
        let victim = Visitor::new("198.51.100.120");
        let r = app.get_as(&callback, &victim).await;
        assert_eq!(
            r.header("location"),
            Some("/sign-in?error=expired&provider=google")
        );
        assert!(r.set_cookie("uni1_session").is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_reclaims_an_account_someone_set_up_for_their_address() {
    with_providers(|app: TestApp| async move {
        // Someone creates an unconfirmed account for the victim's address.
        let mut squatter = Visitor::new("192.0.2.121");
        sign_up(&app, "victim@example.org", &squatter).await;
        assert_eq!(
            sign_in(&app, "victim@example.org", PASSWORD, &mut squatter)
                .await
                .status,
            200
        );
        // Linking and two-factor need a confirmed address.
        let r = app.get_as("/auth/github/start?link=1", &squatter).await;
        assert_eq!(
            r.header("location"),
            Some("/settings/security?error=unconfirmed&provider=github")
        );
        let r = app.post_as("/api/begin_two_factor", &[], &squatter).await;
        assert_eq!(r.status, 422);

        // The owner signs in with Google, which verified the address.
        let mut owner = Visitor::new("198.51.100.121");
        let callback =
            provider_round_trip(&app, &mut owner, "/auth/google/start", "victim@example.org").await;
        let r = app.get_as(&callback, &owner).await;
        assert_eq!(r.header("location"), Some("/studio"));
        owner.keep_cookie(&r);
        let me = app.post_as("/api/me", &[], &owner).await.json();
        assert_eq!(me["email_confirmed"], true);

        // The squatter's session and password are gone.
        assert!(app
            .post_as("/api/me", &[], &squatter)
            .await
            .json()
            .is_null());
        let mut again = Visitor::new("192.0.2.122");
        assert_eq!(
            sign_in(&app, "victim@example.org", PASSWORD, &mut again)
                .await
                .status,
            422
        );
        let overview = app
            .post_as("/api/security_overview", &[], &owner)
            .await
            .json();
        assert_eq!(overview["has_password"], false);
        assert_eq!(overview["linked"].as_array().map(Vec::len), Some(1));
    })
    .await;
}

on_both_backends!(
    confirming_the_address_ends_what_a_squatter_set_up,
    |app: TestApp| async move {
        use chrono::Utc;
        use sea_orm::{ColumnTrait, QueryFilter};
        use uni1_domain::entities::{recovery_code, two_factor, user};
        // Someone creates an unconfirmed account for the victim's address
        // and keeps a session.
        let mut squatter = Visitor::new("192.0.2.131");
        sign_up(&app, "victim2@example.org", &squatter).await;
        assert_eq!(
            sign_in(&app, "victim2@example.org", PASSWORD, &mut squatter)
                .await
                .status,
            200
        );
        // Two-factor cannot be set up while unconfirmed, and says why.
        let r = app.post_as("/api/begin_two_factor", &[], &squatter).await;
        assert_eq!(r.status, 422);
        assert!(r.json()["Invalid"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Confirm your e-mail address first")));
        // Whatever the account gathered anyway (rows an older version let
        // it set up while unconfirmed) must not survive the confirmation.
        let account = user::Entity::find()
            .filter(user::Column::EmailKey.eq("victim2@example.org"))
            .one(&app.db)
            .await
            .expect("q")
            .expect("account");
        user_identity::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            user_id: Set(account.id),
            provider: Set("github".into()),
            subject: Set("squatter-1".into()),
            email: Set(None),
            created_at: Set(Utc::now()),
            last_used_at: Set(Utc::now()),
        }
        .insert(&app.db)
        .await
        .expect("identity");
        two_factor::ActiveModel {
            user_id: Set(account.id),
            secret_sealed: Set(app.key.seal(b"squatter secret", account.id.as_bytes())),
            enabled_at: Set(Some(Utc::now())),
            last_used_step: Set(None),
            created_at: Set(Utc::now()),
        }
        .insert(&app.db)
        .await
        .expect("two-factor");
        recovery_code::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            user_id: Set(account.id),
            code_hash: Set("squatter".into()),
            used_at: Set(None),
        }
        .insert(&app.db)
        .await
        .expect("recovery code");

        // The owner opens the link from the mail, in a browser signed in
        // to nothing.
        let owner = Visitor::new("198.51.100.131");
        crate::fixtures::confirm(&app, "victim2@example.org", &owner).await;

        assert!(
            app.post_as("/api/me", &[], &squatter)
                .await
                .json()
                .is_null(),
            "the squatter's session ended"
        );
        assert!(user_identity::Entity::find()
            .filter(user_identity::Column::UserId.eq(account.id))
            .all(&app.db)
            .await
            .expect("q")
            .is_empty());
        assert!(two_factor::Entity::find_by_id(account.id)
            .one(&app.db)
            .await
            .expect("q")
            .is_none());
        assert!(recovery_code::Entity::find()
            .filter(recovery_code::Column::UserId.eq(account.id))
            .all(&app.db)
            .await
            .expect("q")
            .is_empty());
        let confirmed = user::Entity::find_by_id(account.id)
            .one(&app.db)
            .await
            .expect("q")
            .expect("account");
        assert!(confirmed.email_confirmed_at.is_some());
    }
);

/// A stand-in OpenID provider that only serves its discovery document and
/// keys, and counts how often it is asked.
async fn counting_issuer() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));
    let document = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    let counter = hits.clone();
    let router = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let document = document.clone();
                async move { axum::Json(document) }
            }),
        )
        .route(
            "/jwks",
            axum::routing::get(|| async { axum::Json(serde_json::json!({ "keys": [] })) }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (issuer, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_starts_are_limited_and_discovery_is_fetched_once() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let (issuer, hits) = counting_issuer().await;
        run_configured(
            backend,
            ORIGIN,
            move |args| {
                args.google_client_id = Some("uni1-google".into());
                args.google_client_secret = Some("google-test-secret".into());
                args.google_issuer = Some(issuer.clone());
                args.github_client_id = Some("uni1-github".into());
                args.github_client_secret = Some("github-test-secret".into());
                args.github_authorize_url = Some("http://github.invalid/auth".into());
                args.github_token_url = Some("http://github.invalid/token".into());
                args.github_api_url = Some("http://github.invalid/api".into());
            },
            |app: TestApp| async move {
                // Several starts, one discovery.
                for i in 0..3 {
                    let v = Visitor::new(&format!("198.51.100.{}", 140 + i));
                    let r = app.get_as("/auth/google/start", &v).await;
                    assert_eq!(r.status, 303, "{}", r.body);
                    assert!(r.header("location").is_some_and(|l| l.contains("/auth?")));
                }
                assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);

                // Starts are limited per address.
                let v = Visitor::new("192.0.2.140");
                for _ in 0..20 {
                    let r = app.get_as("/auth/github/start", &v).await;
                    assert_eq!(r.status, 303, "{}", r.body);
                }
                let r = app.get_as("/auth/github/start", &v).await;
                assert_eq!(r.status, 429, "{}", r.body);
                assert!(r
                    .header("retry-after")
                    .and_then(|s| s.parse::<u64>().ok())
                    .is_some_and(|s| s >= 1));
                let other = Visitor::new("192.0.2.141");
                assert_eq!(app.get_as("/auth/github/start", &other).await.status, 303);
            },
        )
        .await;
    }
}

#[tokio::test]
async fn cached_values_are_fetched_once_until_they_age() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use uni1_server::http::oauth::Cached;
    let counter = AtomicUsize::new(0);
    let fetches = &counter;
    let fetch = move || async move {
        Ok::<_, std::convert::Infallible>(fetches.fetch_add(1, Ordering::SeqCst))
    };
    let cache = Cached::new(Duration::from_secs(3600), Duration::from_secs(60));
    for _ in 0..3 {
        assert_eq!(cache.get(fetch).await, Ok(0));
    }
    // An unknown key id right after a fetch does not fetch again...
    assert_eq!(cache.refresh(fetch).await, Ok(0));
    // ...but does once the value is older than the shortest refresh.
    let eager = Cached::new(Duration::from_secs(3600), Duration::ZERO);
    assert_eq!(eager.get(fetch).await, Ok(1));
    assert_eq!(eager.refresh(fetch).await, Ok(2));
    // And everything is fetched again after the TTL.
    let short = Cached::new(Duration::ZERO, Duration::from_secs(60));
    assert_eq!(short.get(fetch).await, Ok(3));
    assert_eq!(short.get(fetch).await, Ok(4));
    assert_eq!(fetches.load(Ordering::SeqCst), 5);
}
