//! Liveness and readiness probes for load balancers and orchestrators.

use axum::extract::State;
use axum::response::IntoResponse;
use http::StatusCode;
use uni1_app::state::AppState;

/// `GET /healthz`: the process is up and answering.
pub async fn live() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers; 503 otherwise (cause in the log).
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match uni1_domain::support::health::database_ready(&state.db).await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::error!(error = %uni1_app::error::chain(&e), "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}
