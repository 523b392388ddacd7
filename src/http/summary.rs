//! `GET /api/v1/summary`: the summary as JSON, the same value the bot posts and the CLI prints.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::Authenticated;
use super::AppState;
use crate::domain::period::Period;
use crate::domain::subscription::Pattern;
use crate::domain::summary::Summary;
use crate::store::Scope;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/summary", get(summary))
}

#[derive(Debug, Deserialize)]
struct SummaryQuery {
    /// ISO week, e.g. 2026-W47.
    week: Option<String>,
    /// First and last day (both included), YYYY-MM-DD.
    from: Option<String>,
    to: Option<String>,
    /// Service name or glob.
    service: Option<String>,
    /// Environment name or glob.
    environment: Option<String>,
}

async fn summary(
    State(state): State<AppState>,
    _auth: Authenticated,
    query: Result<Query<SummaryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Summary>, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::Invalid(crate::domain::ValidationError::new("query", e.body_text()))
    })?;
    let now = Utc::now();
    let period = Period::select(
        query.week.as_deref(),
        query.from.as_deref(),
        query.to.as_deref(),
        state.summaries.timezone,
        now,
    )?;
    let scope = Scope::of(
        &Pattern::parse("service", query.service.as_deref())?,
        &Pattern::parse("environment", query.environment.as_deref())?,
    );
    let summary =
        crate::summaries::compute(&state.store, &state.summaries, &period, &scope, now).await?;
    Ok(Json(summary))
}
