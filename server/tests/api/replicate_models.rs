//! Replicate's models and versions (issue 17): `uni1/<model id>` with one
//! version, in the shapes the OpenAPI document describes, readable with a
//! `read` or `generate` key; unknown models and versions are 404 problem
//! details.

#![allow(clippy::unwrap_used)]

use axum::body::Body;
use http::Request;
use serde_json::Value;

use crate::fixtures::member;
use crate::on_both_backends;
use crate::support::{Reply, TestApp, Visitor, ORIGIN};

async fn key_with(app: &TestApp, v: &Visitor, scope: &str) -> String {
    let form = [
        ("name", "models script"),
        ("expires_in_days", "30"),
        (scope, "on"),
    ];
    let r = app.post_as("/api/api-key-create", &form, v).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["secret"].as_str().unwrap().to_owned()
}

async fn get(app: &TestApp, path: &str, key: Option<&str>) -> Reply {
    let mut request = Request::get(path);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    app.send(request.body(Body::empty()).unwrap()).await
}

fn problem(r: &Reply, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let body = r.json();
    assert_eq!(body["status"], status);
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

/// `value` has every property the document's schema `name` requires.
fn has_required(value: &Value, name: &str) {
    let doc: Value = serde_json::from_str(uni1_server::http::api::openapi::json()).unwrap();
    let schema = &doc["components"]["schemas"][name];
    for field in schema["required"].as_array().unwrap() {
        let field = field.as_str().unwrap();
        assert!(
            value.get(field).is_some(),
            "{name}.{field} missing in {value}"
        );
    }
}

on_both_backends!(
    models_and_versions_in_replicates_shapes,
    |app: TestApp| async move {
        let (alice, _) = member(&app, "alice@uni1.test", "203.0.113.96").await;
        let read = key_with(&app, &alice, "scope_read").await;
        let generate = key_with(&app, &alice, "scope_generate").await;
        let webhooks = key_with(&app, &alice, "scope_webhooks").await;

        let r = get(&app, "/v1/models/uni1/builtin", Some(&read)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let model = r.json();
        has_required(&model, "Model");
        assert_eq!(model["owner"], "uni1");
        assert_eq!(model["name"], "builtin");
        assert_eq!(model["visibility"], "public");
        assert_eq!(model["url"], format!("{ORIGIN}/docs/api#models"));
        assert!(model["description"].as_str().unwrap().contains("not AI"));
        let latest = &model["latest_version"];
        has_required(latest, "ModelVersion");
        assert_eq!(latest["id"], "builtin");
        assert_eq!(latest["cog_version"], "none");
        assert!(
            chrono::DateTime::parse_from_rfc3339(latest["created_at"].as_str().unwrap()).is_ok()
        );
        // The input schema says what the built-in model takes.
        let schemas = &latest["openapi_schema"]["components"]["schemas"];
        assert_eq!(schemas["Input"]["required"], serde_json::json!(["prompt"]));
        let input = &schemas["Input"]["properties"];
        assert_eq!(input["prompt"]["type"], "string");
        assert_eq!(input["aspect_ratio"]["default"], "1:1");
        assert!(input["aspect_ratio"]["enum"]
            .as_array()
            .unwrap()
            .contains(&Value::from("16:9")));
        assert_eq!(input["num_outputs"]["minimum"], 1);
        assert!(input["num_outputs"]["maximum"].as_u64().unwrap() >= 1);
        assert_eq!(schemas["Output"]["type"], "array");
        assert_ne!(schemas["Output"]["x-cog-array-type"], "iterator");

        // Its versions: one, the same; by id too.
        let r = get(&app, "/v1/models/uni1/builtin/versions", Some(&generate)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let page = r.json();
        has_required(&page, "VersionPage");
        assert_eq!(page["next"], Value::Null);
        assert_eq!(page["results"].as_array().unwrap().len(), 1);
        assert_eq!(page["results"][0], *latest);
        let r = get(
            &app,
            "/v1/models/uni1/builtin/versions/builtin",
            Some(&read),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), *latest);

        // Unknown ones: 404 problems that name what exists.
        let r = get(&app, "/v1/models/uni1/dall-e", Some(&read)).await;
        let p = problem(&r, 404);
        assert!(
            p["detail"].as_str().unwrap().contains("uni1/builtin"),
            "{p}"
        );
        problem(
            &get(&app, "/v1/models/openai/builtin", Some(&read)).await,
            404,
        );
        problem(
            &get(&app, "/v1/models/uni1/dall-e/versions", Some(&read)).await,
            404,
        );
        let r = get(
            &app,
            "/v1/models/uni1/builtin/versions/5c7d5dc6",
            Some(&read),
        )
        .await;
        let p = problem(&r, 404);
        assert!(p["detail"].as_str().unwrap().contains("builtin"), "{p}");

        // A key is needed, with the read or the generate scope.
        problem(&get(&app, "/v1/models/uni1/builtin", None).await, 401);
        problem(
            &get(&app, "/v1/models/uni1/builtin", Some("uni1_sk_nope")).await,
            401,
        );
        let r = get(&app, "/v1/models/uni1/builtin", Some(&webhooks)).await;
        let p = problem(&r, 403);
        assert!(p["detail"].as_str().unwrap().contains("scope"), "{p}");
        let r = get(
            &app,
            "/v1/models/uni1/builtin/versions/builtin",
            Some(&generate),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
);
