//! `GET /metrics`, the middleware that times every request and counts inbound events, and the
//! request span that gives every log line of a request its `request_id`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use rand::Rng;

use super::error::ApiError;
use super::AppState;
use crate::metrics::{InboundOutcome, Metrics};

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Refreshes the gauges that describe the database, then renders every metric.
async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let outbox = state.store.outbox_stats().await?;
    let age = outbox
        .oldest_pending
        .and_then(|at| (Utc::now() - at).to_std().ok())
        .unwrap_or_default();
    state.metrics.set_outbox(outbox.pending, age);
    state
        .metrics
        .set_dead_letters(state.store.dead_letter_count().await?);
    state
        .metrics
        .set_database_size(state.store.database_size_bytes().await?);
    state.metrics.set_gateway_connected(state.gateway.get());
    let unreachable = state.store.unreachable_channels().await?.len();
    state
        .metrics
        .set_channels_unreachable(i64::try_from(unreachable).unwrap_or(i64::MAX));
    state
        .metrics
        .set_discord_token_rejected(state.discord_token.rejected_since().is_some());
    state
        .metrics
        .set_checkins_pending(state.store.checkins_pending().await?);
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
        .into_response())
}

/// Times the request by its route (the pattern, so ids do not explode the label set) and, for
/// POSTs to `/api/` and `/hooks/` routes, counts an inbound event with its outcome. Every label
/// is one the server defines: a client choosing paths and methods adds no series.
pub async fn record(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status();
    let route_label = route.as_deref().unwrap_or("unmatched");
    metrics.http_request(
        method_label(&method),
        route_label,
        status.as_u16(),
        started.elapsed(),
    );
    if let Some(source) = route.as_deref().and_then(inbound_source) {
        if method == axum::http::Method::POST {
            let outcome = match response.extensions().get::<InboundOutcome>() {
                Some(InboundOutcome(outcome)) => outcome,
                None if status.is_success() => "accepted",
                None if status.is_client_error() => "rejected",
                None => "failed",
            };
            metrics.inbound_event(source, outcome);
        }
    }
    response
}

/// The method as a label: one of the standard methods, or `other` (a client may send any token).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    const KNOWN: &[(Method, &str)] = &[
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("other", |(_, label)| label)
}

/// `/api/v1/deploys` → `deploys`; `/hooks/alertmanager` → `alertmanager`.
fn inbound_source(route: &str) -> Option<&str> {
    route
        .strip_prefix("/api/v1/")
        .or_else(|| route.strip_prefix("/hooks/"))
        .filter(|rest| !rest.is_empty())
}

/// The span every request's log lines carry: a fresh `request_id`, method and path.
pub fn request_span(request: &Request) -> tracing::Span {
    let id: u64 = rand::thread_rng().gen();
    tracing::info_span!(
        "request",
        request_id = %format!("{id:016x}"),
        method = %request.method(),
        path = %request.uri().path(),
    )
}

#[cfg(test)]
mod tests {
    use super::{inbound_source, method_label};
    use axum::http::Method;

    #[test]
    fn methods_outside_the_standard_set_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        assert_eq!(method_label(&Method::TRACE), "other");
        assert_eq!(method_label(&Method::from_bytes(b"FROB").unwrap()), "other");
        assert_eq!(method_label(&Method::from_bytes(b"get").unwrap()), "other");
    }

    #[test]
    fn inbound_sources_come_from_the_route() {
        assert_eq!(inbound_source("/api/v1/deploys"), Some("deploys"));
        assert_eq!(inbound_source("/hooks/alertmanager"), Some("alertmanager"));
        assert_eq!(inbound_source("/healthz"), None);
        assert_eq!(inbound_source("/api/v1/"), None);
    }
}
