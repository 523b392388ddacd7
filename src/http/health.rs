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

/// The database answers, Discord accepts the bot token and the gateway session is ready (here, or
/// on the live replica holding each shard's lease); says which leases this replica holds. The
/// reasons are plain words; the database's own error text goes to the log only.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let database_down = |error: crate::store::StoreError| {
        tracing::warn!(%error, "readiness: the database did not answer");
        ApiError::Unavailable("database not answering".into())
    };
    state.store.ping().await.map_err(database_down)?;
    if state.discord_token.rejected_since().is_some() {
        return Err(ApiError::Unavailable(
            "Discord rejected the bot token".into(),
        ));
    }
    let held = state.leases.held();
    let runs_a_shard = held.iter().any(|l| l.starts_with("gateway:"));
    // A replica without a shard is ready while another live replica runs every shard.
    let ready = if runs_a_shard {
        state.gateway.get()
    } else {
        let now = chrono::Utc::now();
        let leases = state.store.leases().await.map_err(database_down)?;
        (0..state.shards).all(|shard| {
            let name = crate::leases::shard_lease(shard, state.shards);
            leases.iter().any(|l| l.name == name && l.expires_at > now)
        })
    };
    if !ready {
        return Err(ApiError::Unavailable(
            "Discord gateway session not ready".into(),
        ));
    }
    let pending = state
        .store
        .pending_deliveries()
        .await
        .map_err(database_down)?;
    Ok(Json(json!({
        "status": "ready",
        "pending_deliveries": pending,
        "replica": state.leases.replica(),
        "leases": held,
    })))
}
