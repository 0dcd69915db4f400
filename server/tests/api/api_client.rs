//! What the developer API tests share: keys made from Settings, requests as
//! an API client sends them, a worker, and the official clients' scripts.

#![allow(clippy::unwrap_used)]

use axum::body::Body;
use http::Request;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uni1_domain::entities::generation;

use crate::support::{Reply, TestApp, Visitor};

/// Makes a key with `scopes` from Settings, as `v`; returns the secret.
pub async fn new_key(app: &TestApp, v: &Visitor, scopes: &[&str]) -> String {
    new_key_capped(app, v, scopes, None).await
}

/// [`new_key`] with a monthly credit cap.
pub async fn new_key_capped(
    app: &TestApp,
    v: &Visitor,
    scopes: &[&str],
    cap: Option<&str>,
) -> String {
    let mut form = vec![
        ("name", "my script"),
        ("expires_in_days", "30"),
        ("password", crate::fixtures::PASSWORD),
    ];
    for s in scopes {
        form.push(match *s {
            "generate" => ("scope_generate", "on"),
            "read" => ("scope_read", "on"),
            "webhooks" => ("scope_webhooks", "on"),
            other => panic!("no scope {other}"),
        });
    }
    if let Some(cap) = cap {
        form.push(("monthly_credit_cap", cap));
    }
    let r = app.post_as("/api/api-key-create", &form, v).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.json()["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("uni1_sk_"), "{secret}");
    secret
}

/// A `/v1` request as an API client sends it: bearer key, JSON, no cookie.
pub async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {key}"));
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_owned()));
    app.send(request.body(body).unwrap()).await
}

/// A worker, reaper and sweepers, as a process runs them.
pub fn worker(app: &TestApp, name: &str) -> uni1_server::background::Running {
    let mut tasks = uni1_server::background::Background::new();
    uni1_server::startup::with_worker(&mut tasks, &app.gens, name.into(), 2);
    tasks.start()
}

/// How many jobs `who` has.
pub async fn jobs_of(app: &TestApp, who: uuid::Uuid) -> u64 {
    generation::Entity::find()
        .filter(generation::Column::UserId.eq(who))
        .count(&app.db)
        .await
        .unwrap()
}

/// Runs `end2end/api/<script>` with `python` (a pinned venv's) and `env`;
/// asserts it ended well and printed "all checks passed". Returns stdout.
pub async fn run_python(python: String, script: &str, env: Vec<(&'static str, String)>) -> String {
    let script = format!("{}/../end2end/api/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(script)
            .envs(env)
            .output()
    })
    .await
    .unwrap()
    .expect("the venv's python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
    stdout
}
