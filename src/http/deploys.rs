//! `POST /api/v1/deploys`: the generic deploy event any CI can send.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{Authenticated, JsonBody};
use super::AppState;
use crate::domain::deploy::{DeployEvent, RawDeployEvent};
use crate::metrics::InboundOutcome;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/deploys", post(create_deploy))
}

/// Answers 202 only once the event, the deploy and its outbox rows are committed.
#[tracing::instrument(skip_all, fields(service, deploy_id))]
async fn create_deploy(
    State(state): State<AppState>,
    _auth: Authenticated,
    body: JsonBody<RawDeployEvent>,
) -> Result<(StatusCode, axum::Extension<InboundOutcome>, Json<Value>), ApiError> {
    let event = DeployEvent::parse(&body.value)?;
    tracing::Span::current().record("service", event.service.as_str());
    let recorded = state
        .store
        .record_deploy("api", &body.raw, &event, state.default_channel, Utc::now())
        .await?;
    tracing::Span::current().record("deploy_id", recorded.deploy_id);
    tracing::info!(duplicate = !recorded.changed, "deploy event accepted");
    if recorded.changed {
        if recorded.channels.is_empty() {
            tracing::warn!(
                service = event.service.as_str(),
                environment = event.environment.as_str(),
                "deploy stored but not posted: no channel subscribes to it and LOOPBOT_DEFAULT_CHANNEL is unset"
            );
        }
        state.wakes.delivery.wake();
    }
    // Tells the metrics middleware a retry from one that changed something.
    let outcome = InboundOutcome(if recorded.changed {
        "accepted"
    } else {
        "duplicate"
    });
    Ok((
        StatusCode::ACCEPTED,
        axum::Extension(outcome),
        Json(json!({
            "deploy_id": recorded.deploy_id,
            "status": event.status.as_str(),
            "duplicate": !recorded.changed,
            "channels": recorded.channels.iter().map(|c| c.0.to_string()).collect::<Vec<_>>(),
        })),
    ))
}
