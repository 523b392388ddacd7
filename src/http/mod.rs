//! The inbound HTTP API (axum): a router per feature, merged here, sharing one state.

mod alerts;
pub mod dashboard;
mod deploys;
mod edge;
pub mod error;
pub mod extract;
mod feedback;
mod health;
pub mod hooks;
pub mod incidents;
mod metrics;
#[cfg(test)]
mod routes_doc_test;
mod summary;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::Router;

use crate::config::HttpLimits;
use crate::services::Services;
pub use edge::serve;
use error::ApiError;
use extract::{ApiToken, BODY_LIMIT};

/// What every handler reads: the services the Discord adapter shares, plus what only the API
/// reads. axum clones the state for each request, so both are shared allocations.
#[derive(Clone)]
pub struct AppState {
    services: Arc<Services>,
    api: Arc<ApiSettings>,
}

/// What only the HTTP API reads.
pub struct ApiSettings {
    pub api_token: ApiToken,
    pub hooks: hooks::HookState,
    pub limits: HttpLimits,
}

impl AppState {
    pub fn new(services: Arc<Services>, api: ApiSettings) -> Self {
        Self {
            services,
            api: Arc::new(api),
        }
    }

    pub fn hooks(&self) -> &hooks::HookState {
        &self.api.hooks
    }

    pub fn limits(&self) -> HttpLimits {
        self.api.limits
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.services
    }
}

impl FromRef<AppState> for ApiToken {
    fn from_ref(state: &AppState) -> Self {
        state.api.api_token.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let guard = edge::Guard::new(&state.api.limits);
    Router::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(deploys::router())
        .merge(alerts::router())
        .merge(feedback::router())
        .merge(incidents::router())
        .merge(hooks::router())
        .merge(summary::router())
        .merge(dashboard::router())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Inside the metrics layer, so its 503s and 408s are counted like any answer.
        .layer(axum::middleware::from_fn_with_state(guard, edge::guard))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::record,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(metrics::request_span))
        .with_state(state)
}

/// How a route checks who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Open to anyone (probes).
    Public,
    /// `Authorization: Bearer <LOOPBOT_API_TOKEN>`.
    ApiToken,
    /// `X-Hub-Signature-256` keyed with `GITHUB_WEBHOOK_SECRET`.
    GithubSignature,
    /// `X-Gitlab-Token` equal to `GITLAB_WEBHOOK_TOKEN`.
    GitlabToken,
    /// Bearer `ALERTMANAGER_TOKEN` or Basic `ALERTMANAGER_BASIC_AUTH`.
    Alertmanager,
    /// Bearer `GRAFANA_TOKEN` or Basic `GRAFANA_BASIC_AUTH`, and/or the `GRAFANA_WEBHOOK_SECRET`
    /// signature.
    Grafana,
    /// A link from `/dashboard` signed for one server (its view), or the API token as a bearer
    /// (everything). Refusals are plain HTML pages: 401 without either, 403 for a changed or
    /// expired link.
    DashboardLink,
}

/// One route the router serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// The path as axum spells it (`{param}` for a segment).
    pub path: &'static str,
    pub auth: Auth,
}

/// Every route of [`router`], with how it authenticates. A test reads the `.route(...)` calls of
/// src/http and fails when one is missing here, and walks this table against the running router,
/// so a write route cannot be added without showing that it refuses anonymous requests.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/healthz",
        auth: Auth::Public,
    },
    Route {
        method: "GET",
        path: "/readyz",
        auth: Auth::Public,
    },
    Route {
        method: "POST",
        path: "/api/v1/deploys",
        auth: Auth::ApiToken,
    },
    Route {
        method: "GET",
        path: "/api/v1/deploys/latest",
        auth: Auth::ApiToken,
    },
    Route {
        method: "GET",
        path: "/api/v1/releases/{deploy_id}/feedback",
        auth: Auth::ApiToken,
    },
    Route {
        method: "GET",
        path: "/api/v1/incidents/{id}",
        auth: Auth::ApiToken,
    },
    Route {
        method: "POST",
        path: "/hooks/github",
        auth: Auth::GithubSignature,
    },
    Route {
        method: "POST",
        path: "/hooks/gitlab",
        auth: Auth::GitlabToken,
    },
    Route {
        method: "POST",
        path: "/hooks/alertmanager",
        auth: Auth::Alertmanager,
    },
    Route {
        method: "POST",
        path: "/hooks/grafana",
        auth: Auth::Grafana,
    },
    Route {
        method: "PUT",
        path: "/hooks/grafana",
        auth: Auth::Grafana,
    },
    Route {
        method: "POST",
        path: "/api/v1/alerts",
        auth: Auth::ApiToken,
    },
    Route {
        method: "GET",
        path: "/metrics",
        auth: Auth::Public,
    },
    Route {
        method: "GET",
        path: "/api/v1/summary",
        auth: Auth::ApiToken,
    },
    Route {
        method: "GET",
        path: "/dashboard",
        auth: Auth::DashboardLink,
    },
    Route {
        method: "GET",
        path: "/dashboard/releases/{deploy_id}",
        auth: Auth::DashboardLink,
    },
    Route {
        method: "GET",
        path: "/dashboard/incidents/{incident_id}",
        auth: Auth::DashboardLink,
    },
];

#[cfg(test)]
mod route_table_tests {
    use super::ROUTES;

    /// `(METHOD, path)` of every `.route("path", get(..).post(..))` call in the src/http sources.
    fn declared_routes() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
        let mut found = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            // A subject's submodules (src/http/dashboard/) hold templates, not routes.
            if file.is_dir() {
                continue;
            }
            let source = std::fs::read_to_string(&file).unwrap();
            for (start, _) in source.match_indices(".route(") {
                let call = &source[start + ".route(".len()..];
                // A real call: `.route(` then, after whitespace, a string literal path.
                let open = call.len() - call.trim_start().len();
                if !call[open..].starts_with("\"/") {
                    continue;
                }
                let Some(len) = call[open + 1..].find('"') else {
                    continue;
                };
                let path = &call[open + 1..open + 1 + len];
                // The method routers run to the `.route(` call's closing parenthesis.
                let mut depth = 1;
                let end = call
                    .char_indices()
                    .find(|&(_, c)| {
                        match c {
                            '(' => depth += 1,
                            ')' => depth -= 1,
                            _ => {}
                        }
                        depth == 0
                    })
                    .map(|(i, _)| i)
                    .unwrap_or(call.len());
                let methods = &call[open + 1 + len..end];
                for method in ["get", "post", "put", "patch", "delete", "any"] {
                    let mut rest = methods;
                    while let Some(i) = rest.find(&format!("{method}(")) {
                        let before = rest[..i].chars().last();
                        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                            found.push((method.to_uppercase(), path.to_owned()));
                        }
                        rest = &rest[i + method.len()..];
                    }
                }
            }
        }
        found.sort();
        found.dedup();
        found
    }

    #[test]
    fn every_declared_route_is_in_the_table_and_nothing_else() {
        let declared = declared_routes();
        assert!(
            declared.len() >= 6,
            "the scan found too few routes: {declared:?}"
        );
        let mut table: Vec<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        table.sort();
        assert_eq!(
            declared, table,
            "src/http declares routes (left) that http::ROUTES (right) does not list, or the reverse"
        );
    }
}
