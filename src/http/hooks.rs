//! `POST /hooks/github` and `POST /hooks/gitlab`: the senders' own webhook formats, authenticated
//! their own way, mapped by `domain::webhook` into the same deploy event the generic API records.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::extract::secrets_equal;
use super::AppState;
use crate::config::{IntegrationsConfig, Secret};
use crate::domain::webhook::{self, WebhookDeploy, WebhookOutcome, WorkflowFilter};

/// What the hooks need beyond the shared state.
#[derive(Clone)]
pub struct HookState {
    pub github_secret: Option<Secret>,
    pub gitlab_token: Option<Secret>,
    pub workflows: WorkflowFilter,
    /// Whether GitHub deploys' commits are looked up (GITHUB_TOKEN is set).
    pub commit_lookups: bool,
    /// Whether GitLab deploys' commits are looked up (GITLAB_TOKEN is set).
    pub gitlab_lookups: bool,
}

impl HookState {
    pub fn new(config: &IntegrationsConfig) -> Self {
        Self {
            github_secret: config.github_webhook_secret.clone(),
            gitlab_token: config.gitlab_webhook_token.clone(),
            workflows: config.github_deploy_workflows.clone(),
            commit_lookups: config.github_token.is_some(),
            gitlab_lookups: config.gitlab_token.is_some(),
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hooks/github", post(github))
        .route("/hooks/gitlab", post(gitlab))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Checks `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>` over the exact bytes.
pub fn github_signature_valid(secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex_digest) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(presented) = hex::decode(hex_digest) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    // Lengths are public (always 32 for a well-formed header); the bytes compare in constant time.
    presented.len() == expected.len() && bool::from(presented.as_slice().ct_eq(expected.as_slice()))
}

/// The GitHub secret and the signature the request presents, read from the headers before the
/// body: a request without a signature is refused at once. The signature is over the body, so it
/// is verified once the body has arrived (within the request timeout and the body limit).
struct GithubSignature(Secret, String);

impl FromRequestParts<AppState> for GithubSignature {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(secret) = &state.hooks().github_secret else {
            return Err(ApiError::Unavailable(
                "the GitHub hook is disabled: set GITHUB_WEBHOOK_SECRET on the bot".into(),
            ));
        };
        let signature = header(&parts.headers, "x-hub-signature-256").ok_or(
            ApiError::Unauthorized("missing X-Hub-Signature-256 header (set the webhook's secret)"),
        )?;
        Ok(Self(secret.clone(), signature.to_owned()))
    }
}

/// Proof of GitLab's `X-Gitlab-Token`; checked before the body is read.
struct GitlabAuth;

impl FromRequestParts<AppState> for GitlabAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = &state.hooks().gitlab_token else {
            return Err(ApiError::Unavailable(
                "the GitLab hook is disabled: set GITLAB_WEBHOOK_TOKEN on the bot".into(),
            ));
        };
        let presented = header(&parts.headers, "x-gitlab-token").ok_or(ApiError::Unauthorized(
            "missing X-Gitlab-Token header (set the webhook's secret token)",
        ))?;
        if secrets_equal(presented, token.expose()) {
            Ok(Self)
        } else {
            Err(ApiError::Unauthorized("invalid X-Gitlab-Token"))
        }
    }
}

/// The body, or 413 as JSON like every other refusal (axum's own rejection is plain text).
fn within_limit(
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: super::extract::BODY_LIMIT,
            }
        } else {
            ApiError::MalformedJson(rejection.body_text())
        }
    })
}

fn body_text(body: &Bytes) -> Result<(String, Value), ApiError> {
    let raw = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::MalformedJson("body is not valid UTF-8".into()))?;
    let value: Value = serde_json::from_str(&super::extract::without_nul(&raw))
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok((raw, value))
}

#[tracing::instrument(skip_all, fields(event, delivery))]
async fn github(
    State(state): State<AppState>,
    GithubSignature(secret, signature): GithubSignature,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = within_limit(body)?;
    if !github_signature_valid(secret.expose(), &body, &signature) {
        return Err(ApiError::Unauthorized("invalid X-Hub-Signature-256"));
    }
    if header(&headers, "content-type")
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
    {
        return Err(ApiError::UnsupportedMediaType(
            "set the GitHub webhook's content type to application/json",
        ));
    }
    let event = header(&headers, "x-github-event").ok_or_else(|| {
        ApiError::Invalid(crate::domain::ValidationError::new(
            "X-GitHub-Event",
            "header is required",
        ))
    })?;
    let delivery = header(&headers, "x-github-delivery");
    tracing::Span::current().record("event", event);
    tracing::Span::current().record("delivery", delivery);
    let (raw, value) = body_text(&body)?;
    let outcome = webhook::github(event, &value, &state.hooks().workflows)?;
    handle("github", delivery, &raw, outcome, &state).await
}

#[tracing::instrument(skip_all, fields(event, delivery))]
async fn gitlab(
    State(state): State<AppState>,
    _auth: GitlabAuth,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = within_limit(body)?;
    let event = header(&headers, "x-gitlab-event").unwrap_or_default();
    // Idempotency-Key is the same across retries of one event; the webhook UUID identifies the hook.
    let delivery =
        header(&headers, "idempotency-key").or_else(|| header(&headers, "x-gitlab-event-uuid"));
    tracing::Span::current().record("event", event);
    tracing::Span::current().record("delivery", delivery);
    let (raw, value) = body_text(&body)?;
    let outcome = webhook::gitlab(event, &value)?;
    handle("gitlab", delivery, &raw, outcome, &state).await
}

/// Deduplicates on the delivery id, then records the deploy exactly like `/api/v1/deploys`.
async fn handle(
    source: &'static str,
    delivery: Option<&str>,
    raw: &str,
    outcome: WebhookOutcome,
    state: &AppState,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if let Some(id) = delivery {
        if state.store.delivery_seen(source, id).await? {
            return Ok((StatusCode::OK, Json(json!({"duplicate": true}))));
        }
    }
    let now = Utc::now();
    let deploy = match outcome {
        WebhookOutcome::Ping => return Ok((StatusCode::OK, Json(json!({"pong": true})))),
        WebhookOutcome::Ignored(reason) => {
            tracing::debug!(%reason, "webhook ignored");
            if let Some(id) = delivery {
                state.store.remember_delivery(source, id, None, now).await?;
            }
            return Ok((StatusCode::OK, Json(json!({"ignored": reason}))));
        }
        WebhookOutcome::Deploy(deploy) => deploy,
    };
    let WebhookDeploy {
        event, repository, ..
    } = *deploy;
    let recorded = state
        .store
        .record_deploy(source, raw, &event, state.default_channel, now)
        .await?;
    if let Some(id) = delivery {
        state
            .store
            .remember_delivery(source, id, Some(recorded.deploy_id), now)
            .await?;
    }
    if recorded.changed {
        state.wakes.delivery.wake();
    }
    // The commits it shipped, from the forge's compare API (integrations::commit_times).
    let lookups = match source {
        "github" => state.hooks().commit_lookups,
        _ => state.hooks().gitlab_lookups,
    };
    if let (true, Some(repo), Some(sha)) = (lookups, repository, event.commit_sha.as_ref()) {
        if state
            .store
            .queue_commit_lookup(recorded.deploy_id, source, &repo, sha.as_str(), now)
            .await?
        {
            state.wakes.commit_lookups.wake();
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "deploy_id": recorded.deploy_id,
            "status": event.status.as_str(),
            "duplicate": !recorded.changed,
        })),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn githubs_documented_test_vector_verifies() {
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(github_signature_valid(
            "It's a Secret to Everybody",
            b"Hello, World!",
            sig
        ));
        assert!(!github_signature_valid(
            "It's a Secret to Everybody",
            b"Hello, World?",
            sig
        ));
        assert!(!github_signature_valid(
            "another secret",
            b"Hello, World!",
            sig
        ));
        assert!(!github_signature_valid(
            "It's a Secret to Everybody",
            b"Hello, World!",
            &sig[..20]
        ));
        assert!(!github_signature_valid(
            "It's a Secret to Everybody",
            b"Hello, World!",
            "sha1=abc"
        ));
    }
}
