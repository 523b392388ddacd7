//! Alert intake: `POST /hooks/alertmanager`, `POST|PUT /hooks/grafana`, `POST /api/v1/alerts`.
//! Each answers 202 only once the notification and its outbox rows are committed; 4xx for input
//! a retry cannot fix (Alertmanager never retries a 4xx), 5xx only when a retry can help.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::extract::{secrets_equal, Authenticated, JsonBody};
use super::AppState;
use crate::config::Secret;
use crate::domain::alert::{
    AlertNotification, AlertSource, RawAlertmanagerPayload, RawGenericAlert,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hooks/alertmanager", post(alertmanager))
        .route("/hooks/grafana", post(grafana).put(grafana))
        .route("/api/v1/alerts", post(generic))
}

/// A stable id for a label set when the sender gave none: the first 8 bytes of a SHA-256 over
/// the sorted labels, in hex. (Stored fingerprints and group keys depend on it: never change it.)
fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    for (k, v) in labels {
        hasher.update(k.as_bytes());
        hasher.update([0xff]);
        hasher.update(v.as_bytes());
        hasher.update([0xfe]);
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Bearer `token` or Basic `basic` (user:pass), compared in constant time.
fn check_auth(
    headers: &HeaderMap,
    token: Option<&Secret>,
    basic: Option<&Secret>,
) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthorized("missing Authorization header"))?;
    let ok = if let Some(bearer) = presented
        .strip_prefix("Bearer ")
        .or_else(|| presented.strip_prefix("bearer "))
    {
        token.is_some_and(|t| secrets_equal(bearer.trim(), t.expose()))
    } else if let Some(encoded) = presented
        .strip_prefix("Basic ")
        .or_else(|| presented.strip_prefix("basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        basic.is_some_and(|b| secrets_equal(&decoded, b.expose()))
    } else {
        false
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("invalid credentials"))
    }
}

/// Grafana's `X-Grafana-Alerting-Signature`: hex HMAC-SHA256 of the body, or of
/// "<timestamp>:<body>" when `X-Grafana-Alerting-Timestamp` is sent.
fn check_signature(headers: &HeaderMap, secret: &Secret, body: &str) -> Result<(), ApiError> {
    let signature = headers
        .get("x-grafana-alerting-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthorized(
            "missing X-Grafana-Alerting-Signature header",
        ))?;
    let expected = hex_decode(signature.trim().trim_start_matches("sha256="))
        .ok_or(ApiError::Unauthorized("invalid signature"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .map_err(|_| ApiError::Internal("HMAC key rejected".into()))?;
    if let Some(ts) = headers
        .get("x-grafana-alerting-timestamp")
        .and_then(|v| v.to_str().ok())
    {
        mac.update(ts.trim().as_bytes());
        mac.update(b":");
    }
    mac.update(body.as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| ApiError::Unauthorized("invalid signature"))
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn unconfigured(what: &str) -> ApiError {
    ApiError::Unavailable(format!(
        "{what} is disabled: set its credentials on the bot"
    ))
}

async fn record(
    state: &AppState,
    raw: &str,
    notification: AlertNotification,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let recorded = state
        .store
        .record_alerts(
            raw,
            &notification,
            &state.alert_policy,
            state.default_channel,
            Utc::now(),
        )
        .await?;
    if recorded.changed {
        state.wakes.delivery.wake();
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "group_id": recorded.group_id,
            "duplicate": !recorded.changed,
            "alerts": notification.alerts.len(),
            "channels": recorded.channels.iter().map(|c| c.0.to_string()).collect::<Vec<_>>(),
        })),
    ))
}

/// Proof of Alertmanager's credentials; checked before the body is read.
struct AlertmanagerAuth;

impl FromRequestParts<AppState> for AlertmanagerAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let settings = &state.alerts;
        if settings.alertmanager_token.is_none() && settings.alertmanager_basic_auth.is_none() {
            return Err(unconfigured("the Alertmanager hook (ALERTMANAGER_TOKEN)"));
        }
        check_auth(
            &parts.headers,
            settings.alertmanager_token.as_ref(),
            settings.alertmanager_basic_auth.as_ref(),
        )?;
        Ok(Self)
    }
}

/// Proof of Grafana's credentials and that a signature is presented (the signature, over the
/// body, is verified after).
struct GrafanaAuth;

impl FromRequestParts<AppState> for GrafanaAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let settings = &state.alerts;
        let has_credentials =
            settings.grafana_token.is_some() || settings.grafana_basic_auth.is_some();
        if !has_credentials && settings.grafana_webhook_secret.is_none() {
            return Err(unconfigured(
                "the Grafana hook (GRAFANA_TOKEN, GRAFANA_BASIC_AUTH or GRAFANA_WEBHOOK_SECRET)",
            ));
        }
        if has_credentials {
            check_auth(
                &parts.headers,
                settings.grafana_token.as_ref(),
                settings.grafana_basic_auth.as_ref(),
            )?;
        }
        // The signature is over the body and verified once it has arrived; without one there
        // is nothing to wait for.
        if settings.grafana_webhook_secret.is_some()
            && !parts.headers.contains_key("x-grafana-alerting-signature")
        {
            return Err(ApiError::Unauthorized(
                "missing X-Grafana-Alerting-Signature header",
            ));
        }
        Ok(Self)
    }
}

#[tracing::instrument(skip_all)]
async fn alertmanager(
    State(state): State<AppState>,
    _auth: AlertmanagerAuth,
    body: JsonBody<RawAlertmanagerPayload>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let settings = &state.alerts;
    if let Some(version) = body.value.version.as_deref() {
        if version != "4" {
            return Err(ApiError::Invalid(crate::domain::ValidationError::new(
                "version",
                format!("only webhook version 4 is understood (got {version:?})"),
            )));
        }
    }
    let n = AlertNotification::from_alertmanager(
        AlertSource::Alertmanager,
        &body.value,
        &settings.service_labels,
        &label_fingerprint,
    )?;
    record(&state, &body.raw, n).await
}

#[tracing::instrument(skip_all)]
async fn grafana(
    State(state): State<AppState>,
    _auth: GrafanaAuth,
    request: axum::extract::Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let settings = &state.alerts;
    // The signature is checked over the raw bytes before the body is parsed, so an unsigned
    // request learns nothing about the payload format (401, not 422).
    let (parts, body) = request.into_parts();
    let limit = super::extract::BODY_LIMIT;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })?;
    if let Some(secret) = &settings.grafana_webhook_secret {
        check_signature(&parts.headers, secret, &String::from_utf8_lossy(&bytes))?;
    }
    let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
    let body =
        <JsonBody<RawAlertmanagerPayload> as axum::extract::FromRequest<AppState>>::from_request(
            request, &state,
        )
        .await?;
    let n = AlertNotification::from_alertmanager(
        AlertSource::Grafana,
        &body.value,
        &settings.service_labels,
        &label_fingerprint,
    )?;
    record(&state, &body.raw, n).await
}

#[tracing::instrument(skip_all)]
async fn generic(
    State(state): State<AppState>,
    _auth: Authenticated,
    body: JsonBody<RawGenericAlert>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let n = AlertNotification::from_generic(&body.value)?;
    record(&state, &body.raw, n).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_set_without_fingerprint_gets_a_stable_16_hex_digit_one() {
        let labels: BTreeMap<String, String> = [("alertname", "X"), ("service", "cart")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let fingerprint = label_fingerprint(&labels);
        assert_eq!(fingerprint.len(), 16, "derived from labels");
        assert_eq!(
            fingerprint, "3c3d80b0b9e3085e",
            "pinned: stored group keys use it"
        );
    }

    #[test]
    fn grafana_signatures_are_checked_with_and_without_timestamp() {
        let secret = Secret::new("s3cret");
        let body = r#"{"alerts":[]}"#;
        let sign = |msg: &str| {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
            mac.update(msg.as_bytes());
            mac.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-grafana-alerting-signature", sign(body).parse().unwrap());
        assert!(check_signature(&headers, &secret, body).is_ok());
        assert!(check_signature(&headers, &secret, "{}").is_err());
        headers.insert(
            "x-grafana-alerting-timestamp",
            "1700000000".parse().unwrap(),
        );
        assert!(check_signature(&headers, &secret, body).is_err());
        headers.insert(
            "x-grafana-alerting-signature",
            sign(&format!("1700000000:{body}")).parse().unwrap(),
        );
        assert!(check_signature(&headers, &secret, body).is_ok());
    }
}
