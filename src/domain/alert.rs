//! Alerts: what Alertmanager, Grafana and the generic alert API tell us, parsed once into
//! [`AlertNotification`]. Pure: no HTTP, SQL or Discord here.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::ValidationError;

/// Where a notification came from; the `alert_group.source` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertSource {
    Alertmanager,
    Grafana,
    Api,
}

impl AlertSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::Alertmanager => "alertmanager",
            AlertSource::Grafana => "grafana",
            AlertSource::Api => "api",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "firing" | "alerting" => Ok(AlertStatus::Firing),
            "resolved" | "ok" | "normal" => Ok(AlertStatus::Resolved),
            other => Err(ValidationError::new(
                field,
                format!("must be firing or resolved (got {other:?})"),
            )),
        }
    }
}

/// A severity as senders spell it, lowercased. Known names rank; unknown ones rank lowest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Severity(String);

impl Severity {
    pub fn new(raw: Option<&str>) -> Self {
        let s = raw
            .map(|s| s.trim().to_ascii_lowercase())
            .unwrap_or_default();
        Self(if s.is_empty() { "none".into() } else { s })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Higher is worse: critical 4, error 3, warning 2, info 1, anything else 0.
    pub fn rank(&self) -> u8 {
        match self.0.as_str() {
            "critical" | "crit" | "page" | "p1" | "fatal" | "emergency" => 4,
            "error" | "high" | "major" | "p2" => 3,
            "warning" | "warn" | "medium" | "minor" | "p3" => 2,
            "info" | "low" | "notice" | "p4" => 1,
            _ => 0,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One alert of a notification, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub fingerprint: String,
    pub name: String,
    pub status: AlertStatus,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub severity: Severity,
    pub instance: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub generator_url: Option<String>,
    pub runbook_url: Option<String>,
    pub dashboard_url: Option<String>,
    pub panel_url: Option<String>,
    pub silence_url: Option<String>,
    pub value_string: Option<String>,
    /// None when the sender did not say (the store then uses the time it heard of it).
    pub starts_at: Option<DateTime<Utc>>,
    /// None for Alertmanager's "0001-01-01T00:00:00Z" (no end) or when absent.
    pub ends_at: Option<DateTime<Utc>>,
}

/// One notification about one group of alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertNotification {
    pub source: AlertSource,
    pub group_key: String,
    pub receiver: Option<String>,
    pub title: Option<String>,
    pub message: Option<String>,
    pub group_labels: BTreeMap<String, String>,
    pub common_labels: BTreeMap<String, String>,
    pub common_annotations: BTreeMap<String, String>,
    pub external_url: Option<String>,
    pub truncated_alerts: i64,
    pub alerts: Vec<AlertEvent>,
}

impl AlertNotification {
    /// The service the group is about: the common labels first, else its first alert's.
    pub fn service(&self, service_labels: &[String]) -> Option<String> {
        label_of(&self.common_labels, service_labels)
            .or_else(|| self.alerts.iter().find_map(|a| a.service.clone()))
    }

    pub fn environment(&self) -> Option<String> {
        label_of(&self.common_labels, &env_labels())
            .or_else(|| self.alerts.iter().find_map(|a| a.environment.clone()))
    }
}

fn env_labels() -> Vec<String> {
    vec!["environment".into(), "env".into()]
}

fn label_of(labels: &BTreeMap<String, String>, names: &[String]) -> Option<String> {
    names
        .iter()
        .find_map(|n| labels.get(n))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// An Alertmanager webhook body (version 4). Grafana's contact point sends the same shape with
/// a few more fields. Unknown fields are accepted: newer versions add some.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawAlertmanagerPayload {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub group_key: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub receiver: Option<String>,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default, rename = "externalURL")]
    pub external_url: Option<String>,
    #[serde(default)]
    pub truncated_alerts: Option<i64>,
    pub alerts: Vec<RawAlert>,
    // Grafana only.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawAlert {
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
    // Grafana only.
    #[serde(default, rename = "silenceURL")]
    pub silence_url: Option<String>,
    #[serde(default, rename = "dashboardURL")]
    pub dashboard_url: Option<String>,
    #[serde(default, rename = "panelURL")]
    pub panel_url: Option<String>,
    #[serde(default)]
    pub value_string: Option<String>,
}

/// Largest number of alerts one notification may carry (Alertmanager's `max_alerts` keeps it lower).
pub const MAX_ALERTS: usize = 1000;

impl AlertNotification {
    /// `fingerprint` names a label set when the sender gave no fingerprint or group key (a hash
    /// the edge computes: hashing is no rule of loopbot's, and `domain` takes no hashing crate).
    pub fn from_alertmanager(
        source: AlertSource,
        raw: &RawAlertmanagerPayload,
        service_labels: &[String],
        fingerprint: &dyn Fn(&BTreeMap<String, String>) -> String,
    ) -> Result<Self, ValidationError> {
        if raw.alerts.is_empty() {
            return Err(ValidationError::new(
                "alerts",
                "must list at least one alert",
            ));
        }
        if raw.alerts.len() > MAX_ALERTS {
            return Err(ValidationError::new(
                "alerts",
                format!("at most {MAX_ALERTS} alerts per notification"),
            ));
        }
        let mut alerts = Vec::with_capacity(raw.alerts.len());
        for a in &raw.alerts {
            alerts.push(AlertEvent {
                fingerprint: a
                    .fingerprint
                    .clone()
                    .filter(|f| !f.trim().is_empty())
                    .unwrap_or_else(|| fingerprint(&a.labels)),
                name: a
                    .labels
                    .get("alertname")
                    .cloned()
                    .or_else(|| a.labels.get("__alert_rule_title__").cloned())
                    .unwrap_or_else(|| "alert".into()),
                status: AlertStatus::parse("alerts.status", &a.status)?,
                service: label_of(&a.labels, service_labels),
                environment: label_of(&a.labels, &env_labels()),
                severity: Severity::new(a.labels.get("severity").map(String::as_str)),
                instance: a.labels.get("instance").cloned(),
                summary: a.annotations.get("summary").cloned(),
                description: a.annotations.get("description").cloned(),
                generator_url: a.generator_url.clone().filter(|u| is_http(u)),
                runbook_url: a
                    .annotations
                    .get("runbook_url")
                    .cloned()
                    .filter(|u| is_http(u)),
                dashboard_url: a
                    .dashboard_url
                    .clone()
                    .or_else(|| a.annotations.get("dashboard_url").cloned())
                    .filter(|u| is_http(u)),
                panel_url: a.panel_url.clone().filter(|u| is_http(u)),
                silence_url: a.silence_url.clone().filter(|u| is_http(u)),
                value_string: a.value_string.clone().filter(|v| !v.trim().is_empty()),
                starts_at: parse_time("alerts.startsAt", a.starts_at.as_deref())?,
                ends_at: parse_time("alerts.endsAt", a.ends_at.as_deref())?,
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
            });
        }
        let group_key = raw
            .group_key
            .clone()
            .filter(|k| !k.trim().is_empty())
            .unwrap_or_else(|| {
                // No group key: the group labels name the group, as Alertmanager's own key does.
                let labels = if raw.group_labels.is_empty() {
                    &raw.common_labels
                } else {
                    &raw.group_labels
                };
                format!("{{}}:{}", fingerprint(labels))
            });
        Ok(Self {
            source,
            group_key,
            receiver: raw.receiver.clone(),
            title: raw
                .title
                .as_deref()
                .map(strip_state_prefix)
                .filter(|t| !t.is_empty()),
            message: raw.message.clone().filter(|t| !t.trim().is_empty()),
            group_labels: raw.group_labels.clone(),
            common_labels: raw.common_labels.clone(),
            common_annotations: raw.common_annotations.clone(),
            external_url: raw.external_url.clone().filter(|u| is_http(u)),
            truncated_alerts: raw.truncated_alerts.unwrap_or(0).max(0),
            alerts,
        })
    }
}

/// `POST /api/v1/alerts`: one alert from a tool that is neither Alertmanager nor Grafana.
#[derive(Debug, Clone, Deserialize)]
pub struct RawGenericAlert {
    pub service: Option<String>,
    pub name: Option<String>,
    pub severity: Option<String>,
    pub status: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub fingerprint: Option<String>,
    pub id: Option<String>,
    pub environment: Option<String>,
    pub instance: Option<String>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub url: Option<String>,
    pub runbook_url: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

const FIELD_MAX: usize = 200;

fn required(field: &'static str, value: &Option<String>) -> Result<String, ValidationError> {
    let v = value.as_deref().map(str::trim).unwrap_or("");
    if v.is_empty() {
        return Err(ValidationError::new(field, "is required"));
    }
    if v.chars().count() > FIELD_MAX || v.contains('\n') {
        return Err(ValidationError::new(
            field,
            format!("must be one line of at most {FIELD_MAX} characters"),
        ));
    }
    Ok(v.to_owned())
}

impl AlertNotification {
    pub fn from_generic(raw: &RawGenericAlert) -> Result<Self, ValidationError> {
        let service = required("service", &raw.service)?;
        let name = required("name", &raw.name)?;
        let status = AlertStatus::parse("status", raw.status.as_deref().unwrap_or(""))?;
        let fingerprint = match raw.fingerprint.as_ref().or(raw.id.as_ref()) {
            Some(_) => required(
                if raw.fingerprint.is_some() {
                    "fingerprint"
                } else {
                    "id"
                },
                &raw.fingerprint.clone().or(raw.id.clone()),
            )?,
            None => format!("{service}/{name}"),
        };
        if let Some(url) = raw.url.as_deref().or(raw.runbook_url.as_deref()) {
            if !is_http(url) {
                return Err(ValidationError::new("url", "must be an http(s) URL"));
            }
        }
        let mut labels = raw.labels.clone();
        labels.insert("alertname".into(), name.clone());
        labels.insert("service".into(), service.clone());
        if let Some(env) = &raw.environment {
            labels.insert("environment".into(), env.clone());
        }
        if let Some(sev) = &raw.severity {
            labels.insert("severity".into(), sev.clone());
        }
        let mut annotations = BTreeMap::new();
        if let Some(s) = &raw.summary {
            annotations.insert("summary".into(), s.clone());
        }
        if let Some(d) = &raw.description {
            annotations.insert("description".into(), d.clone());
        }
        let alert = AlertEvent {
            fingerprint: fingerprint.clone(),
            name,
            status,
            service: Some(service.clone()),
            environment: raw.environment.clone().filter(|e| !e.trim().is_empty()),
            severity: Severity::new(raw.severity.as_deref()),
            instance: raw.instance.clone(),
            summary: raw.summary.clone(),
            description: raw.description.clone(),
            labels: labels.clone(),
            annotations,
            generator_url: raw.url.clone(),
            runbook_url: raw.runbook_url.clone().filter(|u| is_http(u)),
            dashboard_url: None,
            panel_url: None,
            silence_url: None,
            value_string: None,
            starts_at: parse_time("starts_at", raw.starts_at.as_deref())?,
            ends_at: parse_time("ends_at", raw.ends_at.as_deref())?,
        };
        Ok(Self {
            source: AlertSource::Api,
            group_key: fingerprint,
            receiver: None,
            title: None,
            message: None,
            group_labels: BTreeMap::new(),
            common_labels: labels,
            common_annotations: BTreeMap::new(),
            external_url: None,
            truncated_alerts: 0,
            alerts: vec![alert],
        })
    }
}

/// RFC 3339; Go's zero time ("0001-01-01T00:00:00Z", Alertmanager's "no end") and empty mean none.
pub fn parse_time(
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<DateTime<Utc>>, ValidationError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let at = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| ValidationError::new(field, "must be an RFC 3339 time"))?
        .with_timezone(&Utc);
    // Anything before 1971 is a zero value, not a real time.
    if at.timestamp() < 365 * 24 * 3600 {
        return Ok(None);
    }
    Ok(Some(at))
}

/// Grafana's default title starts with the state ("[FIRING:2] CPUHigh", "[RESOLVED] CPUHigh");
/// the message shows the state itself, so the title keeps only the name.
fn strip_state_prefix(title: &str) -> String {
    let t = title.trim();
    let upper = t.to_ascii_uppercase();
    if (upper.starts_with("[FIRING") || upper.starts_with("[RESOLVED")) && t.contains(']') {
        t[t.find(']').map(|i| i + 1).unwrap_or(0)..]
            .trim()
            .to_owned()
    } else {
        t.to_owned()
    }
}

fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// Who an on-call mention pings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MentionTarget {
    Role(u64),
    User(u64),
}

impl MentionTarget {
    /// `role:ID`, `<@&ID>`, `user:ID`, `<@ID>`, or a bare ID (a role: on-call is usually a role).
    pub fn parse(raw: &str) -> Option<Self> {
        let t = raw.trim();
        let id = |s: &str| s.trim().parse::<u64>().ok().filter(|id| *id > 0);
        if let Some(rest) = t.strip_prefix("role:") {
            return id(rest).map(MentionTarget::Role);
        }
        if let Some(rest) = t.strip_prefix("user:") {
            return id(rest).map(MentionTarget::User);
        }
        if let Some(rest) = t.strip_prefix("<@&").and_then(|r| r.strip_suffix('>')) {
            return id(rest).map(MentionTarget::Role);
        }
        if let Some(rest) = t
            .strip_prefix("<@")
            .and_then(|r| r.strip_suffix('>'))
            .map(|r| r.trim_start_matches('!'))
        {
            return id(rest).map(MentionTarget::User);
        }
        id(t).map(MentionTarget::Role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: serde_json::Value) -> RawAlertmanagerPayload {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn zero_end_time_means_none_and_each_alert_keeps_its_own_status() {
        let payload = raw(serde_json::json!({
            "version": "4", "groupKey": "{}:{alertname=\"X\"}", "status": "firing",
            "unknownField": 1,
            "alerts": [
                {"status": "firing", "labels": {"alertname": "X", "job": "checkout", "severity": "Critical"},
                 "startsAt": "2026-11-24T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "a1"},
                {"status": "resolved", "labels": {"alertname": "X", "service": "cart"},
                 "startsAt": "2026-11-24T10:00:00Z", "endsAt": "2026-11-24T10:05:00Z"}
            ]
        }));
        let labels = vec!["service".to_string(), "app".into(), "job".into()];
        let by_labels = |l: &BTreeMap<String, String>| format!("labels:{}", l.len());
        let n = AlertNotification::from_alertmanager(
            AlertSource::Alertmanager,
            &payload,
            &labels,
            &by_labels,
        )
        .unwrap();
        assert_eq!(n.alerts[0].ends_at, None);
        assert_eq!(n.alerts[0].status, AlertStatus::Firing);
        assert_eq!(n.alerts[0].service.as_deref(), Some("checkout"));
        assert_eq!(n.alerts[0].severity.rank(), 4);
        assert_eq!(n.alerts[1].status, AlertStatus::Resolved);
        assert!(n.alerts[1].ends_at.is_some());
        assert_eq!(n.alerts[1].service.as_deref(), Some("cart"));
        assert_eq!(n.alerts[1].fingerprint, "labels:2", "derived from labels");

        let empty = raw(serde_json::json!({"version": "4", "alerts": []}));
        let err =
            AlertNotification::from_alertmanager(AlertSource::Grafana, &empty, &labels, &by_labels)
                .unwrap_err();
        assert_eq!(err.field, "alerts");
    }

    #[test]
    fn generic_alerts_name_the_failing_field() {
        let raw: RawGenericAlert =
            serde_json::from_value(serde_json::json!({"service": "a", "status": "firing"}))
                .unwrap();
        assert_eq!(
            AlertNotification::from_generic(&raw).unwrap_err().field,
            "name"
        );
        let raw: RawGenericAlert = serde_json::from_value(
            serde_json::json!({"service": "a", "name": "b", "status": "burning"}),
        )
        .unwrap();
        assert_eq!(
            AlertNotification::from_generic(&raw).unwrap_err().field,
            "status"
        );
    }

    #[test]
    fn grafana_titles_lose_their_state_prefix() {
        assert_eq!(
            strip_state_prefix("[FIRING:2] CPUHigh (search)"),
            "CPUHigh (search)"
        );
        assert_eq!(strip_state_prefix("[RESOLVED] CPUHigh"), "CPUHigh");
        assert_eq!(strip_state_prefix("[db] CPUHigh"), "[db] CPUHigh");
    }

    #[test]
    fn mention_targets_parse() {
        assert_eq!(
            MentionTarget::parse("<@&12>"),
            Some(MentionTarget::Role(12))
        );
        assert_eq!(MentionTarget::parse("user:7"), Some(MentionTarget::User(7)));
        assert_eq!(MentionTarget::parse("<@!7>"), Some(MentionTarget::User(7)));
        assert_eq!(MentionTarget::parse("99"), Some(MentionTarget::Role(99)));
        assert_eq!(MentionTarget::parse("@everyone"), None);
    }
}
