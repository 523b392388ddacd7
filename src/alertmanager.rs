//! Alertmanager's API, as far as loopbot calls it: creating a silence (Silence 1h).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum AlertmanagerError {
    #[error("Alertmanager could not be reached: {0}")]
    Unreachable(String),
    #[error("Alertmanager answered {status}: {body}")]
    Refused { status: u16, body: String },
}

/// The client for Alertmanager calls: short timeouts, since a person waits on the button.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap_or_default()
}

/// `POST /api/v2/silences` with one equality matcher per label; returns the silence id.
pub async fn create_silence(
    client: &reqwest::Client,
    base_url: &str,
    matchers: &BTreeMap<String, String>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    created_by: &str,
    comment: &str,
) -> Result<String, AlertmanagerError> {
    let body = json!({
        "matchers": matchers.iter().map(|(name, value)| json!({
            "name": name, "value": value, "isRegex": false, "isEqual": true,
        })).collect::<Vec<_>>(),
        "startsAt": starts_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "endsAt": ends_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "createdBy": created_by,
        "comment": comment,
    });
    let url = format!("{}/api/v2/silences", base_url.trim_end_matches('/'));
    let response = client
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| AlertmanagerError::Unreachable(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(AlertmanagerError::Refused {
            status,
            body: text.chars().take(200).collect(),
        });
    }
    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    parsed["silenceID"]
        .as_str()
        .map(str::to_owned)
        .ok_or(AlertmanagerError::Refused {
            status,
            body: "no silenceID in the answer".into(),
        })
}
