//! The developer API's documentation (issue 17): the OpenAPI 3.1 document
//! (a snapshot in `docs/openapi.json`, its structure, every `/v1` route in
//! it and every documented route served), `GET /v1/openapi.json`, and the
//! `/docs/api` page.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashSet};

use axum::body::Body;
use http::Request;
use serde_json::Value;
use uni1_server::http::api::openapi;

use crate::on_both_backends;
use crate::support::{TestApp, ORIGIN};

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    serde_json::from_str(openapi::json()).expect("the document is JSON")
}

/// (method, path, operation) of every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            if METHODS.contains(&method.as_str()) {
                ops.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

#[test]
fn openapi_document_matches_the_committed_snapshot() {
    let generated = openapi::json();
    if std::env::var("UNI1_UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
        std::fs::write(SNAPSHOT, generated).unwrap();
        eprintln!("wrote {SNAPSHOT}");
        return;
    }
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "docs/openapi.json is not the OpenAPI document the code generates (first difference at line {}: \
             committed {:?}, generated {:?}).\n\
             If the API changed on purpose, update the snapshot and commit it with the change:\n    \
             UNI1_UPDATE_SNAPSHOTS=1 cargo test -p uni1-server --features uni1-app/ssr --test api openapi_document_matches\n\
             then read `git diff docs/openapi.json`: it is what API clients will see change.",
            line + 1,
            committed.lines().nth(line).unwrap_or("<end of file>"),
            generated.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

/// Every `$ref` in `value`.
fn refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    found.push(v.as_str().unwrap_or_default().to_owned());
                }
                refs(v, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

/// The structure OpenAPI 3.1 requires, and what this API promises in it.
#[test]
fn openapi_document_is_structurally_openapi_3_1() {
    let doc = document();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(doc["info"]["version"].as_str().is_some());
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes[openapi::BEARER]["type"], "http");
    assert_eq!(schemes[openapi::BEARER]["scheme"], "bearer");
    assert_eq!(doc["security"][0][openapi::BEARER], Value::Array(vec![]));

    let ops = operations(&doc);
    assert!(ops.len() >= 12, "{} operations", ops.len());
    let mut ids = HashSet::new();
    for (method, path, op) in &ops {
        let at = format!("{} {path}", method.to_uppercase());
        assert!(path.starts_with("/v1/"), "{at}");
        let id = op["operationId"].as_str().expect("an operationId");
        assert!(ids.insert(id.to_owned()), "{at}: operationId {id} twice");
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{at}"
        );
        assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{at}");
        // Responses: at least one, each with a description, statuses valid.
        let responses = op["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{at}: no responses");
        for (status, response) in responses {
            assert!(
                status.len() == 3 && status.parse::<u16>().is_ok_and(|s| (100..600).contains(&s)),
                "{at}: status {status}"
            );
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{at} {status}: a description"
            );
        }
        // Path parameters: every `{name}` declared, required, in path.
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for name in path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        {
            let p = params
                .iter()
                .find(|p| p["name"] == name && p["in"] == "path")
                .unwrap_or_else(|| panic!("{at}: path parameter {name} undeclared"));
            assert_eq!(p["required"], true, "{at}: {name}");
        }
        for p in &params {
            assert!(
                ["path", "query", "header", "cookie"].contains(&p["in"].as_str().unwrap()),
                "{at}: {p}"
            );
        }
        // Every POST takes an Idempotency-Key and has a JSON or multipart body.
        if method == "post" && !path.ends_with("/cancel") {
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
                "{at}: Idempotency-Key"
            );
            let content = op["requestBody"]["content"].as_object().expect("a body");
            assert!(
                content.contains_key("application/json")
                    || content.contains_key("multipart/form-data"),
                "{at}"
            );
        }
        // Errors in the protocol's envelope.
        let replicate = path.contains("predictions")
            || path.starts_with("/v1/models/")
            || path.starts_with("/v1/webhooks/");
        for (status, response) in responses {
            if !status.starts_with('4') {
                continue;
            }
            let content = &response["content"];
            if replicate {
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{at} {status}"
                );
            } else {
                assert_eq!(
                    content["application/json"]["schema"]["$ref"],
                    "#/components/schemas/OpenAiError",
                    "{at} {status}"
                );
            }
        }
    }
    // Prefer: wait on both ways to create a prediction.
    for (method, path, op) in &ops {
        if method == "post" && path.ends_with("/predictions") {
            assert!(
                op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "Prefer" && p["in"] == "header"),
                "{path}: Prefer"
            );
        }
    }
    // Every reference resolves.
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "$ref {r} does not resolve"
        );
    }
}

/// The `/v1` paths routed in `server/src/http/api.rs`.
fn routed_paths() -> BTreeSet<String> {
    let source = include_str!("../../src/http/api.rs");
    let start = source.find("pub fn routes").expect("routes()");
    let end = start + source[start..].find("\n}\n").expect("end of routes()");
    source[start..end]
        .split('"')
        .filter(|s| s.starts_with("/v1/") && !s.contains('*'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_v1_route_is_in_the_openapi_document() {
    let doc = document();
    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let routed = routed_paths();
    assert!(routed.len() >= 10, "{routed:?}");
    let missing: Vec<_> = routed.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routed but not in the OpenAPI document: {missing:?} (add #[utoipa::path] to the handler and list it in openapi::ApiDoc)"
    );
    let stale: Vec<_> = documented.difference(&routed).collect();
    assert!(stale.is_empty(), "documented but not routed: {stale:?}");
}

on_both_backends!(
    openapi_json_is_served_without_a_key_and_every_documented_operation_is_routed,
    |app: TestApp| async move {
        let r = app.get("/v1/openapi.json").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
        assert!(r.header("x-request-id").is_some());
        assert_eq!(r.body, openapi::json());

        // Each documented operation reaches its handler (which asks for a
        // key, or answers), never the catch-all's "unknown URL" or a 405.
        for (method, path, _) in operations(&document()) {
            let uri = path
                .replace("{owner}", "uni1")
                .replace("{name}", "builtin")
                .replace("{id}", "0190c0de00007000800000000000dead")
                .replace("{file}", "0190c0de-0000-7000-8000-00000000dead.png");
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let r = app.send(request).await;
            assert_ne!(r.status, 405, "{method} {uri}");
            assert!(
                !r.body.contains("unknown_url"),
                "{method} {uri} is documented but not routed: {}",
                r.body
            );
            if path != "/v1/openapi.json" && path != "/v1/files/{file}" {
                assert_eq!(r.status, 401, "{method} {uri} asks for a key: {}", r.body);
            }
        }
    }
);

on_both_backends!(
    the_api_docs_page_is_plain_html_with_examples_and_every_route,
    |app: TestApp| async move {
        let r = app.get("/docs/api").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.header("cache-control"), Some("public, no-cache"));
        // Revalidated without a body.
        let etag = r.header("etag").expect("an ETag").to_owned();
        let revalidated = app
            .send(
                http::Request::get("/docs/api")
                    .header("if-none-match", &etag)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(revalidated.status, 304);
        assert!(revalidated.body.is_empty());
        let csp = r.header("content-security-policy").unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("style-src 'self'"),
            "{csp}"
        );
        let html = &r.body;
        // A page of the site: its stylesheet, title, description; indexable;
        // landmarks and headings; no WASM.
        assert!(html.starts_with("<!DOCTYPE html><html lang=\"en\">"));
        assert!(html.contains("<title>API documentation · uni1</title>"));
        assert!(html.contains("<meta name=\"description\" content=\"Generate images"));
        assert!(html.contains("rel=\"stylesheet\" href=\"/pkg/"));
        assert!(!html.contains("noindex"));
        assert!(!html.contains("<script"), "no scripts, no WASM");
        assert!(html.contains(&format!(
            "<link rel=\"canonical\" href=\"{ORIGIN}/docs/api\">"
        )));
        for landmark in [
            "<header",
            "<main id=\"main\"",
            "<footer",
            "<nav aria-label=\"On this page\"",
        ] {
            assert!(html.contains(landmark), "{landmark}");
        }
        assert_eq!(html.matches("<h1").count(), 1);
        assert!(html.matches("<h2").count() >= 6);
        // Examples: labelled code blocks for each client, on this origin.
        for caption in [
            "curl: generate an image",
            "Python, with the openai library",
            "curl: create a prediction and wait",
            "Python, with the replicate library",
            "JavaScript (an ES module, e.g. example.mjs on Node 18+), with fetch",
        ] {
            assert!(
                html.contains(&format!("{caption}</figcaption>")),
                "{caption}"
            );
        }
        assert!(html.contains("from openai import OpenAI"));
        assert!(html.contains("import replicate"));
        assert!(html.contains("await fetch("));
        assert!(html.contains(&format!("curl {ORIGIN}/v1/images/generations")));
        assert!(html.contains(&format!("base_url=&quot;{ORIGIN}/v1&quot;")));
        assert!(html.contains("uni1/builtin"), "the catalogue's model");
        // Every documented route, by method and path.
        for (method, path, _) in operations(&document()) {
            let row = format!(
                "<td class=\"py-1 pr-4 font-mono\">{}</td><td class=\"py-1 pr-4 font-mono\">{path}</td>",
                method.to_uppercase()
            );
            assert!(html.contains(&row), "{method} {path} is not on the page");
        }
        // Signed in or not, the same page.
        let (alice, _) = crate::fixtures::member(&app, "alice@uni1.test", "203.0.113.95").await;
        let again = app.get_as("/docs/api", &alice).await;
        assert_eq!(again.body, r.body);
        assert_eq!(again.header("cache-control"), Some("public, no-cache"));
    }
);
