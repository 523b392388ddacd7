//! `POST /api/v1/deploys`: the generic deploy event any CI can send; `GET /api/v1/deploys/latest`:
//! what runs in an environment (for `loopbot notify deploy`'s commit list).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{Authenticated, JsonBody};
use super::AppState;
use crate::domain::deploy::{DeployEvent, Name, RawDeployEvent};
use crate::domain::ValidationError;
use crate::metrics::InboundOutcome;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/deploys", post(create_deploy))
        .route("/api/v1/deploys/latest", get(latest_deploy))
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

/// `GET /api/v1/deploys/latest?service=&environment=`: what `loopbot notify deploy` asks before
/// listing the commits a deploy ships (`git log <sha>..HEAD`).
#[derive(Debug, serde::Deserialize)]
struct LatestQuery {
    service: Option<String>,
    environment: Option<String>,
}

/// The deploy running in an environment: of the service's deploys there that succeeded, the one
/// that finished last (a rolled-back deploy no longer runs). 404 when there is none.
async fn latest_deploy(
    State(state): State<AppState>,
    _auth: Authenticated,
    query: Result<Query<LatestQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::Invalid(ValidationError::new("query", e.body_text())))?;
    let required = |field: &'static str, value: &Option<String>| {
        Name::parse(field, value.as_deref().unwrap_or_default())
    };
    let service = required("service", &query.service)?;
    let environment = required("environment", &query.environment)?;
    let deploy = state
        .store
        .latest_success(service.as_str(), environment.as_str())
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no successful deploy of {service} to {environment}"
            ))
        })?;
    Ok(Json(json!({
        "id": deploy.id,
        "service": deploy.service,
        "environment": deploy.environment,
        "version": deploy.version,
        "status": deploy.status.as_str(),
        "sha": deploy.commit_sha,
        "finished_at": deploy.finished_at,
    })))
}
