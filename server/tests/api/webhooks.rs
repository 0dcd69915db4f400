//! The model webhook route (`POST /hooks/models/{model}`): only configured
//! predictions models take webhooks, and a replayed `webhook-id` wakes
//! nobody. No database is involved, so these run once.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use tower::ServiceExt;
use uni1_domain::generation::{Catalog, ModelEntry};
use uni1_models::predictions::{sign_webhook, Predictions, Wakeups};
use uni1_server::http::media::{model_webhook, Webhooks};

const SECRET: &str = "whsec_dGVzdC1zZWNyZXQtdGVzdC1zZWNyZXQ=";

fn catalog(wakeups: &Wakeups) -> Catalog {
    let base: url::Url = "https://api.replicate.com".parse().expect("url");
    let predictions = Predictions::new(
        base.clone(),
        "token",
        "version",
        uni1_models::Outbound::for_model(&base, &[], Duration::from_secs(5)).expect("client"),
        wakeups.clone(),
    );
    let entry = |id: &str, model: Arc<dyn uni1_models::ImageModel>| ModelEntry {
        id: id.into(),
        name: id.into(),
        description: String::new(),
        credits_per_image: 1,
        model,
    };
    Catalog::new(vec![
        entry("flux", Arc::new(predictions)),
        entry("builtin", Arc::new(uni1_models::builtin::Builtin::new())),
    ])
}

fn router(wakeups: &Wakeups) -> axum::Router {
    let hooks = Webhooks::new(
        Some(secrecy::SecretString::from(SECRET)),
        wakeups.clone(),
        &catalog(wakeups),
    );
    axum::Router::new()
        .route("/hooks/models/{model}", axum::routing::post(model_webhook))
        .with_state(hooks)
}

/// POSTs a webhook for `prediction`, signed with `webhook_id`.
async fn deliver(
    router: &axum::Router,
    model: &str,
    webhook_id: &str,
    prediction: &str,
) -> StatusCode {
    let body = serde_json::json!({ "id": prediction, "status": "succeeded" }).to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let signature = sign_webhook(SECRET, webhook_id, timestamp, body.as_bytes()).expect("sign");
    let request = Request::post(format!("/hooks/models/{model}"))
        .header("content-type", "application/json")
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(Body::from(body))
        .expect("request");
    router
        .clone()
        .oneshot(request)
        .await
        .expect("response")
        .status()
}

async fn woken(guard: &uni1_models::predictions::WakeupGuard) -> bool {
    tokio::time::timeout(Duration::from_millis(300), guard.notified())
        .await
        .is_ok()
}

#[tokio::test]
async fn a_replayed_model_webhook_is_ignored() {
    let wakeups = Wakeups::default();
    let router = router(&wakeups);
    let guard = wakeups.register("pred-1");

    assert_eq!(
        deliver(&router, "flux", "msg_1", "pred-1").await,
        StatusCode::NO_CONTENT
    );
    assert!(woken(&guard).await, "the first delivery wakes the poller");

    // The same signed webhook again: acknowledged, but it wakes nobody.
    assert_eq!(
        deliver(&router, "flux", "msg_1", "pred-1").await,
        StatusCode::NO_CONTENT
    );
    assert!(!woken(&guard).await, "a replay must not wake the poller");

    // A new webhook-id is a new event.
    assert_eq!(
        deliver(&router, "flux", "msg_2", "pred-1").await,
        StatusCode::NO_CONTENT
    );
    assert!(woken(&guard).await);
}

#[tokio::test]
async fn model_webhooks_need_a_configured_predictions_model() {
    let wakeups = Wakeups::default();
    let router = router(&wakeups);
    let guard = wakeups.register("pred-2");
    for model in ["builtin", "nope", "FLUX"] {
        assert_eq!(
            deliver(&router, model, &format!("msg_{model}"), "pred-2").await,
            StatusCode::NOT_FOUND,
            "{model}"
        );
    }
    assert!(!woken(&guard).await);
}
