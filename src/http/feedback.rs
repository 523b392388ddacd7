//! `GET /api/v1/releases/{deploy_id}/feedback`: what people said about a release.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::Authenticated;
use super::AppState;
use crate::domain::health::{HealthReading, Reading};
use crate::domain::visibility::Reader;
use crate::domain::ValidationError;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/releases/{deploy_id}/feedback",
        get(release_feedback),
    )
}

/// The release, its tally and every answer still standing (newest first), text whole.
async fn release_feedback(
    State(state): State<AppState>,
    _auth: Authenticated,
    Path(deploy_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let deploy_id: i64 = deploy_id.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::Invalid(ValidationError::new(
            "deploy_id",
            "must be a positive integer",
        ))
    })?;
    let deploy = state
        .store
        .deploy(deploy_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no deploy with id {deploy_id}")))?;
    let tally = state
        .store
        .release_tally(deploy_id, Reader::Operator)
        .await?;
    let feedback: Vec<Value> = state
        .store
        .feedback_for(deploy_id, Reader::Operator)
        .await?
        .into_iter()
        .map(|f| {
            json!({
                "id": f.id,
                "checkin_id": f.checkin_id,
                "source": f.source.as_str(),
                "sentiment": f.sentiment.map(|s| s.value()),
                "rating": f.sentiment.map(|s| s.as_str()),
                "text": f.body,
                "emoji": f.emoji,
                "user_id": f.user_id.to_string(),
                "user_name": f.user_name,
                "guild_id": f.guild_id.map(|id| id.to_string()),
                "channel_id": f.channel_id.map(|id| id.to_string()),
                "message_id": f.message_id.map(|id| id.to_string()),
                "given_at": f.given_at.to_rfc3339(),
            })
        })
        .collect();
    let health: Vec<Value> = state
        .store
        .release_health(deploy_id)
        .await?
        .into_iter()
        .map(|(checkin_id, r)| health_json(checkin_id, &r))
        .collect();
    Ok(Json(json!({
        "deploy_id": deploy.id,
        "service": deploy.service,
        "version": deploy.version,
        "environment": deploy.environment,
        "status": deploy.status.as_str(),
        "tally": tally,
        "feedback": feedback,
        "health": health,
    })))
}

/// One query's values for one check-in: the numbers as read, the line as the check-in shows it.
fn health_json(checkin_id: i64, r: &HealthReading) -> Value {
    let side = |value: Reading, at: chrono::DateTime<chrono::Utc>| {
        json!({
            "at": at.to_rfc3339(),
            "value": value.ok(),
            "shown": r.shown(value),
            "unavailable": value.err().map(|reason| reason.as_str()),
        })
    };
    json!({
        "checkin_id": checkin_id,
        "query": r.name,
        "label": r.label(),
        "higher_is_better": r.higher_is_better,
        "tolerance": r.tolerance,
        "before": side(r.before, r.before_at),
        "after": side(r.after, r.after_at),
        "verdict": r.verdict().map(|v| v.as_str()),
        "line": r.line(),
    })
}
