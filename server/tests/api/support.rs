//! The test harness: a fresh database per test on either back-end, the real
//! router on top, and helpers to send requests to it.
//!
//! PostgreSQL: `UNI1_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) must reach a server that
//! lets that user create databases. If none answers, PostgreSQL tests are
//! skipped with a loud message, unless `UNI1_REQUIRE_POSTGRES=1` (set by
//! `make test`), which makes them fail instead.

use std::future::Future;

use axum::body::Body;
use axum::Router;
use http::{HeaderMap, Request, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tower::ServiceExt;
use uni1_server::config::{ServeArgs, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The origin the test app believes it is served at.
pub const ORIGIN: &str = "http://uni1.test";

/// A running app on its own database.
#[derive(Clone)]
pub struct TestApp {
    pub router: Router,
    pub db: DatabaseConnection,
    pub key: uni1_domain::support::crypto::AppKey,
    /// The generation service the router uses (in-memory object store unless
    /// the test configured another); tests run its worker themselves.
    pub gens: uni1_domain::generation::Generations,
    /// The database's URL, for child processes (`uni1 worker`).
    pub database_url: String,
    /// The public origin the app was configured with (usually [`ORIGIN`]).
    pub origin: String,
    /// The privacy center the router uses; tests run its passes themselves.
    pub privacy: uni1_domain::privacy::Privacy,
    /// The staff service the router uses.
    pub admin: uni1_domain::admin::Admin,
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The whole `Set-Cookie` header for cookie `name`, if set.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A browser: its address, its cookie and its User-Agent.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub ip: std::net::IpAddr,
    pub cookie: Option<String>,
    pub user_agent: &'static str,
}

pub const FIREFOX_LINUX: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
pub const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

impl Visitor {
    pub fn new(ip: &str) -> Self {
        Self {
            ip: ip.parse().expect("an IP address"),
            cookie: None,
            user_agent: FIREFOX_LINUX,
        }
    }

    pub fn with_agent(mut self, user_agent: &'static str) -> Self {
        self.user_agent = user_agent;
        self
    }

    /// Keeps the session cookie from a sign-in reply.
    pub fn keep_cookie(&mut self, reply: &Reply) {
        let set = reply
            .set_cookie(SESSION_COOKIE)
            .expect("a session cookie was set");
        let pair = set.split(';').next().expect("name=value").to_owned();
        self.cookie = Some(pair);
    }
}

/// The session cookie's name over plain http.
pub const SESSION_COOKIE: &str = "uni1_session";

impl TestApp {
    /// The Host header a browser sends to this app.
    pub fn host(&self) -> &str {
        self.origin
            .split_once("://")
            .map_or(self.origin.as_str(), |(_, host)| host)
    }

    /// Sends `request` as a browser on this machine would: with the app's
    /// Host header (unless the request names one) and a loopback peer
    /// (unless it has one).
    pub async fn send(&self, mut request: Request<Body>) -> Reply {
        if !request.headers().contains_key(http::header::HOST) {
            let host = http::HeaderValue::from_str(self.host()).expect("a valid host");
            request.headers_mut().insert(http::header::HOST, host);
        }
        if request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .is_none()
        {
            request.extensions_mut().insert(axum::extract::ConnectInfo(
                std::net::SocketAddr::from(([127, 0, 0, 1], 40000)),
            ));
        }
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body reads");
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.to_vec(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(
            Request::get(path)
                .body(Body::empty())
                .expect("request builds"),
        )
        .await
    }

    /// A form POST as a same-origin browser page sends it.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.post_form_from(path, form, Some(&self.origin)).await
    }

    /// A form POST with the given `Origin` header (or none).
    pub async fn post_form_from(
        &self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Reply {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut request = Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        self.send(request.body(Body::from(body)).expect("request builds"))
            .await
    }
}

impl TestApp {
    /// A same-origin form POST (a server function call) from `visitor`.
    pub async fn post_as(&self, path: &str, form: &[(&str, &str)], visitor: &Visitor) -> Reply {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .header("origin", &self.origin);
        self.send_from(request, Body::from(body), visitor).await
    }

    /// A same-origin POST of raw `body` (an upload) from `visitor`.
    pub async fn post_bytes_as(&self, path: &str, body: Vec<u8>, visitor: &Visitor) -> Reply {
        let request = Request::post(path)
            .header("content-type", "application/octet-stream")
            .header("origin", &self.origin);
        self.send_from(request, Body::from(body), visitor).await
    }

    /// A page GET from `visitor`.
    pub async fn get_as(&self, path: &str, visitor: &Visitor) -> Reply {
        self.send_from(Request::get(path), Body::empty(), visitor)
            .await
    }

    /// Sends `request` with `body` as `visitor`'s browser: its user agent,
    /// its cookie if signed in, and its address as the peer.
    async fn send_from(
        &self,
        request: http::request::Builder,
        body: Body,
        visitor: &Visitor,
    ) -> Reply {
        let mut request = request.header("user-agent", visitor.user_agent);
        if let Some(cookie) = &visitor.cookie {
            request = request.header("cookie", cookie);
        }
        let mut request = request.body(body).expect("request builds");
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(
                visitor.ip, 40000,
            )));
        self.send(request).await
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Settings as a test server uses them, with a config file's text when
/// given (for `[[packs]]` and `[[models]]`, which only the file can list).
pub fn settings_from_file(
    database_url: String,
    public_url: &str,
    file: Option<&str>,
    configure: impl FnOnce(&mut ServeArgs),
) -> Settings {
    let mut args = ServeArgs {
        public_url: Some(public_url.into()),
        operator_name: Some("Test Operator".into()),
        operator_email: Some("operator@uni1.test".into()),
        ..Default::default()
    };
    args.database.database_url = Some(database_url);
    args.database.database_max_connections = Some(5);
    args.generation.storage = Some(uni1_server::config::StorageKind::Memory);
    // Tests run workers themselves, when they want one.
    args.generation.worker_slots = Some(0);
    configure(&mut args);
    let path = file.map(|text| {
        let path =
            std::env::temp_dir().join(format!("uni1-test-{}.toml", uuid::Uuid::new_v4().simple()));
        std::fs::write(&path, text).expect("config file");
        path
    });
    let settings = Settings::resolve(args, path.as_deref()).expect("test settings are valid");
    if let Some(path) = path {
        std::fs::remove_file(path).ok();
    }
    settings
}

/// A fresh, migrated database; `None` when PostgreSQL is not available and
/// not required.
pub struct TestDatabase {
    pub url: String,
    drop_postgres: Option<(String, String)>,
    sqlite_dir: Option<std::path::PathBuf>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Option<Self> {
        let name = format!("uni1_test_{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).expect("temp dir");
                Some(Self {
                    url: format!("sqlite://{}/uni1.db?mode=rwc", dir.display()),
                    drop_postgres: None,
                    sqlite_dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let admin_url = std::env::var("UNI1_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
                let admin = match Database::connect(&admin_url).await {
                    Ok(db) => db,
                    Err(e) => {
                        if std::env::var("UNI1_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                            panic!("PostgreSQL is required but unreachable at {admin_url}: {e}");
                        }
                        eprintln!(
                            "\n!!! SKIPPING a PostgreSQL test: cannot reach {admin_url}: {e}\n"
                        );
                        return None;
                    }
                };
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let (base, _) = admin_url.rsplit_once('/').expect("URL has a path");
                Some(Self {
                    url: format!("{base}/{name}"),
                    drop_postgres: Some((admin_url, name)),
                    sqlite_dir: None,
                })
            }
        }
    }

    pub async fn destroy(self) {
        if let Some((admin_url, name)) = self.drop_postgres {
            if let Ok(admin) = Database::connect(&admin_url).await {
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok();
                admin.close().await.ok();
            }
        }
        if let Some(dir) = self.sqlite_dir {
            std::fs::remove_dir_all(dir).ok();
        }
    }
}

/// Runs `test` against a fresh app on `backend` with `public_url`, then
/// removes its database.
pub async fn run_with<F, Fut>(backend: Backend, public_url: &str, test: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    run_configured(backend, public_url, |_| {}, test).await;
}

/// `UNI1_TEST_LOG=<filter>` (e.g. `uni1=debug,sea_orm=debug`) shows the
/// server's log in the output of failing tests.
fn init_test_log() {
    if let Ok(filter) = std::env::var("UNI1_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// Like [`run_with`], with a chance to change the settings first.
pub async fn run_configured<C, F, Fut>(backend: Backend, public_url: &str, configure: C, test: F)
where
    C: FnOnce(&mut ServeArgs),
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    run_with_file(backend, public_url, None, configure, test).await;
}

/// Like [`run_configured`], with a config file's text as well.
pub async fn run_with_file<C, F, Fut>(
    backend: Backend,
    public_url: &str,
    file: Option<&str>,
    configure: C,
    test: F,
) where
    C: FnOnce(&mut ServeArgs),
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    init_test_log();
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let settings = settings_from_file(database.url.clone(), public_url, file, configure);
    let db = uni1_server::startup::open_database(&settings.database)
        .await
        .expect("connect and migrate");
    let leptos = leptos::config::LeptosOptions::builder()
        .output_name("uni1")
        .site_root(site_root())
        .build();
    let key = uni1_domain::support::crypto::AppKey::from_base64(&match &settings.app_key {
        Some(k) => secrecy::ExposeSecret::expose_secret(k).to_owned(),
        None => uni1_domain::support::crypto::AppKey::generate_base64(),
    })
    .expect("a valid key");
    let mut services = uni1_server::startup::Services::build(&settings, db.clone(), key.clone())
        .expect("services");
    services.generations.queue.poll_interval = std::time::Duration::from_millis(20);
    services.generations.queue.retry_base = std::time::Duration::from_millis(10);
    let gens = services.generations.clone();
    let app = TestApp {
        router: services.router(&settings, leptos),
        db: db.clone(),
        key,
        gens,
        database_url: database.url.clone(),
        origin: settings.public_origin(),
        privacy: services.privacy.clone(),
        admin: services.admin.clone(),
    };
    test(app).await;
    db.close().await.ok();
    database.destroy().await;
}

/// A file name as `cargo leptos build` writes it with `hash-files`.
pub const HASHED_JS: &str = "uni1.Zr3f6u2vQ5yK1tB0pXw_aQ.js";

/// A site root with one stylesheet, and one content-hashed file with its
/// brotli copy, as scripts/build-site.sh would leave them.
fn site_root() -> &'static str {
    static ROOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("uni1-test-site-{}", std::process::id()));
        std::fs::create_dir_all(root.join("pkg")).expect("site root");
        std::fs::write(root.join("pkg/uni1.css"), "body{margin:0}").expect("stylesheet");
        std::fs::write(
            root.join(format!("pkg/{HASHED_JS}")),
            "export const x = 1;\n",
        )
        .expect("js");
        std::fs::write(root.join(format!("pkg/{HASHED_JS}.br")), b"precompressed").expect("br");
        root.display().to_string()
    })
}

/// Runs `test` against a fresh app on `backend` served at [`ORIGIN`].
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    run_with(backend, ORIGIN, test).await;
}

/// Declares one test per back-end: `mod $name { fn sqlite; fn postgres }`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $test:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::support::run($crate::support::Backend::Sqlite, $test).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::support::run($crate::support::Backend::Postgres, $test).await;
            }
        }
    };
}
