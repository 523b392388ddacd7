//! The inbound HTTP API (axum): a router per feature, merged here, sharing one state.

mod alerts;
mod deploys;
pub mod error;
pub mod extract;
mod feedback;
mod health;
pub mod hooks;
mod metrics;
mod summary;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::Router;

use crate::domain::ChannelId;
use crate::metrics::Metrics;
use crate::runtime::{GatewayReady, OutboxWake};
use crate::store::Store;
use error::ApiError;
use extract::{ApiToken, BODY_LIMIT};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub api_token: ApiToken,
    pub default_channel: Option<ChannelId>,
    pub outbox: OutboxWake,
    pub gateway: GatewayReady,
    pub hooks: hooks::HookState,
    pub alerts: crate::config::AlertSettings,
    pub metrics: Metrics,
    pub summaries: crate::config::SummarySettings,
}

impl FromRef<AppState> for ApiToken {
    fn from_ref(state: &AppState) -> Self {
        state.api_token.clone()
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(deploys::router())
        .merge(alerts::router())
        .merge(feedback::router())
        .merge(hooks::router())
        .merge(summary::router())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::record,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(metrics::request_span))
        .with_state(state)
}
