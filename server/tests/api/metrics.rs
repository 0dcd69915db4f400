//! `/metrics` (ANA-2): absent without a token, refused with a wrong one,
//! and with the right one the Prometheus text format, read back by a
//! Prometheus parser: every family, a generation done here under its
//! model and outcome, a request under its route pattern (never a raw path).
//!
//! The recorder is per process and the tests of this binary run in
//! parallel, so counts are compared before and after, never as totals.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use uni1_domain::metrics as names;

use crate::fixtures::{drain, member, open_as};
use crate::on_both_backends;
use crate::support::{run_configured, Backend, Reply, TestApp, ORIGIN};

const TOKEN: &str = "metrics-test-token-0123456789abcdef-0123";

async fn scrape(app: &TestApp, authorization: Option<&str>, host: Option<&str>) -> Reply {
    let mut request = http::Request::get("/metrics");
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    if let Some(h) = host {
        request = request.header("host", h);
    }
    app.send(request.body(axum::body::Body::empty()).unwrap())
        .await
}

fn parse(body: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .unwrap_or_else(|e| panic!("not the Prometheus text format ({e}):\n{body}"))
}

/// The value of the counter `name` with exactly these labels (0 if absent).
fn counter(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name} is not a counter: {other:?}"),
        })
        .sum()
}

on_both_backends!(
    without_a_token_there_is_no_metrics_endpoint,
    |app| async move {
        let r = scrape(&app, None, None).await;
        assert_eq!(r.status, 404);
        let r = scrape(&app, Some(&format!("Bearer {TOKEN}")), None).await;
        assert_eq!(r.status, 404, "no token configured: nothing to guess");
    }
);

async fn scrape_shows_the_work_done(app: TestApp) {
    // Refused without the token, or with another one.
    let r = scrape(&app, None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    for wrong in [
        format!("Bearer {TOKEN}x"),
        "Bearer metrics-test-token".to_owned(),
        format!("Basic {TOKEN}"),
        TOKEN.to_owned(),
    ] {
        let r = scrape(&app, Some(&wrong), None).await;
        assert_eq!(r.status, 401, "{wrong}");
        assert!(!r.body.contains("uni1_"), "nothing leaks: {}", r.body);
    }
    let auth = format!("Bearer {TOKEN}");
    let before = parse(&scrape(&app, Some(&auth), None).await.body);

    // Work of every kind.
    let (alice, _) = member(&app, "metrics@uni1.test", "203.0.113.90").await;
    let form = [
        ("form_key", "key-metrics-0001"),
        ("model", "builtin"),
        ("prompt", "a lighthouse at dusk"),
        ("aspect_ratio", "1:1"),
        ("count", "1"),
    ];
    let r = app.post_as("/api/generate", &form, &alice).await;
    assert_eq!(r.status, 200, "{}", r.body);
    drain(&app.gens, Duration::from_secs(30)).await;
    assert_eq!(app.get("/healthz").await.status, 200);
    let raw_id = uuid::Uuid::now_v7();
    let r = app
        .get_as(&format!("/media/{raw_id}/preview"), &alice)
        .await;
    assert_eq!(r.status, 404);
    let events = open_as(
        &app,
        http::Request::get("/api/generations/events"),
        axum::body::Body::empty(),
        &alice,
    )
    .await;
    assert_eq!(events.status(), 200);
    drop(events);
    let limits = uni1_domain::support::rate_limit::RateLimits::default();
    let mut refused = false;
    for _ in 0..10 {
        refused |= limits.contact("192.0.2.77").await.is_err();
    }
    assert!(refused);
    let outbox = std::env::temp_dir().join(format!("uni1-outbox-{}", uuid::Uuid::new_v4()));
    let report = uni1_domain::mail::delivery::deliver_due(
        &app.db,
        &app.key,
        &uni1_server::mailers::OutboxMailer(outbox.clone()),
        &"uni1 <no-reply@uni1.test>".parse().unwrap(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert!(report.sent > 0, "the sign-up mails");
    std::fs::remove_dir_all(outbox).ok();

    // Scrapers reach each process by its address: any Host will do.
    let r = scrape(&app, Some(&auth), Some("10.0.0.5:3000")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.header("content-type")
    );
    let after = parse(&r.body);
    for family in names::ALL {
        assert!(
            after.samples.iter().any(|s| s.metric == *family),
            "{family} is missing from:\n{}",
            r.body
        );
    }
    let succeeded = [("model", "builtin"), ("outcome", "succeeded")];
    assert!(
        counter(&after, names::GENERATION_JOBS_TOTAL, &succeeded)
            >= counter(&before, names::GENERATION_JOBS_TOTAL, &succeeded) + 1.0,
        "the generation is counted under its model and outcome:\n{}",
        r.body
    );
    let model = [("backend", "builtin"), ("status", "succeeded")];
    assert!(
        counter(&after, names::MODEL_REQUESTS_TOTAL, &model)
            >= counter(&before, names::MODEL_REQUESTS_TOTAL, &model) + 1.0
    );
    let stored = [("op", "put"), ("outcome", "ok")];
    assert!(
        counter(&after, names::STORAGE_OPERATIONS_TOTAL, &stored)
            >= counter(&before, names::STORAGE_OPERATIONS_TOTAL, &stored) + 3.0,
        "original, preview and thumbnail"
    );
    let healthz = [("method", "GET"), ("route", "/healthz"), ("status", "200")];
    assert!(
        counter(&after, names::HTTP_REQUESTS_TOTAL, &healthz)
            >= counter(&before, names::HTTP_REQUESTS_TOTAL, &healthz) + 1.0
    );
    let requests: Vec<&str> = r
        .body
        .lines()
        .filter(|l| l.starts_with(names::HTTP_REQUESTS_TOTAL))
        .collect();
    // `prometheus-parse` misreads label values with braces (Prometheus
    // itself does not), so the pattern of a route with parameters is
    // looked for in the text.
    assert!(
        requests.iter().any(|l| l.starts_with(
            r#"uni1_http_requests_total{method="GET",route="/media/{image}/{variant}",status="404"} "#
        )),
        "{requests:#?}"
    );
    let generate = [("method", "POST"), ("route", "/api/generate")];
    assert!(
        counter(&after, names::HTTP_REQUESTS_TOTAL, &generate) >= 1.0,
        "{requests:#?}"
    );
    assert!(
        !r.body.contains(&raw_id.to_string()),
        "routes are patterns, never raw paths"
    );
    assert!(
        counter(
            &after,
            names::RATE_LIMITED_TOTAL,
            &[("limit", "contact_ip")]
        ) >= 1.0
    );
    assert!(counter(&after, names::MAIL_DELIVERIES_TOTAL, &[("outcome", "sent")]) >= 1.0);
    let build = after
        .samples
        .iter()
        .find(|s| s.metric == names::BUILD_INFO)
        .unwrap();
    assert_eq!(build.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
    assert!(matches!(build.value, prometheus_parse::Value::Gauge(v) if v == 1.0));
}

mod the_metrics_endpoint_needs_its_token_and_shows_the_work_done {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run_configured(
            Backend::Sqlite,
            ORIGIN,
            |a| a.metrics_token = Some(TOKEN.into()),
            scrape_shows_the_work_done,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run_configured(
            Backend::Postgres,
            ORIGIN,
            |a| a.metrics_token = Some(TOKEN.into()),
            scrape_shows_the_work_done,
        )
        .await;
    }
}
