//! `GET /api/v1/incidents/{id}`: an incident with its timeline, retro answers and follow-ups.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::Authenticated;
use super::AppState;
use crate::domain::incident_review::Owner;
use crate::domain::visibility::Reader;
use crate::domain::ValidationError;
use crate::store::IncidentDetail;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/incidents/{id}", get(incident))
}

async fn incident(
    State(state): State<AppState>,
    _auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::Invalid(ValidationError::new("id", "must be a positive integer"))
    })?;
    let detail = state
        .store
        .incident_detail(id, Reader::Operator)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no incident with id {id}")))?;
    Ok(Json(incident_json(&detail)))
}

fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339()
}

/// The owner as text (a person as their mention) and, for a person, their id.
fn owner_json(owner: &Owner) -> (String, Option<String>) {
    match owner {
        Owner::User(id) => (format!("<@{id}>"), Some(id.to_string())),
        Owner::Text(text) => (text.clone(), None),
    }
}

/// The incident as the API shows it; Discord ids are strings, times RFC 3339.
pub fn incident_json(d: &IncidentDetail) -> Value {
    let c = &d.card;
    let ms = |to: Option<chrono::DateTime<chrono::Utc>>| {
        to.map(|to| (to - c.opened_at).num_milliseconds())
    };
    json!({
        "id": c.id,
        "title": c.title,
        "severity": c.severity,
        "service": c.service,
        "environment": c.environment,
        "state": if c.resolved_at.is_some() { "resolved" } else { "open" },
        "origin": if c.group_id.is_some() { "alert" } else { "declared" },
        "alert_group_id": c.group_id,
        "declared_by": c.declared_by_name,
        "opened_at": time(c.opened_at),
        "acknowledged_at": c.acknowledged_at.map(time),
        "resolved_at": c.resolved_at.map(time),
        "time_to_acknowledge_ms": ms(c.acknowledged_at),
        "time_to_restore_ms": ms(c.resolved_at),
        "deploy_id": c.deploy_id,
        "thread_id": c.thread_id.map(|t| t.to_string()),
        "timeline": d.timeline.iter().map(|e| json!({
            "kind": e.kind.as_str(),
            "at": time(e.at),
            "actor": e.actor,
            "detail": e.detail,
            "text": e.text(),
        })).collect::<Vec<_>>(),
        "retro": d.retros.iter().map(|r| json!({
            "author": r.author_name,
            "author_id": r.author_id.to_string(),
            "what_happened": r.what_happened,
            "what_helped": r.what_helped,
            "what_would_have_caught_it_sooner": r.sooner,
            "at": time(r.at),
        })).collect::<Vec<_>>(),
        "followups": d.followups.iter().map(|f| {
            let (owner, owner_id) = owner_json(&f.owner);
            json!({
                "id": f.id,
                "what": f.what,
                "owner": owner,
                "owner_id": owner_id,
                "due": f.due.map(|d| d.to_string()),
                "state": f.state.as_str(),
                "opened_by": f.opened_by_name,
                "opened_at": time(f.opened_at),
                "closed_by": f.closed_by_name,
                "closed_at": f.closed_at.map(time),
            })
        }).collect::<Vec<_>>(),
    })
}
