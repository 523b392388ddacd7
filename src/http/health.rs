//! Liveness and readiness probes.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up and serving HTTP.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers and the Discord gateway session is ready.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(format!("database not answering: {e}")))?;
    if !state.gateway.get() {
        return Err(ApiError::Unavailable(
            "Discord gateway session not ready".into(),
        ));
    }
    let pending = state.store.pending_deliveries().await?;
    Ok(Json(
        json!({ "status": "ready", "pending_deliveries": pending }),
    ))
}
