//! The alert tables' rows as SQLite returns them, and their conversion into domain values: a
//! value the code cannot read is [`StoreError::Corrupt`], never a default.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::ids::{from_db, time_from_db};
use super::{Result, StoreError};
use crate::domain::alert::{AlertStatus, MentionTarget, Severity};
use crate::domain::alert_group::{Ack, StoredAlert, StoredGroup};
use crate::domain::incident::{StoredIncident, StoredLink, Verdict};

pub(super) fn json_map(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}

pub(super) fn map_from_json(column: &str, raw: &str) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(raw)
        .map_err(|e| StoreError::Corrupt(format!("{column} is not a JSON object of strings: {e}")))
}

pub(super) fn status_from_db(column: &str, raw: &str) -> Result<AlertStatus> {
    match raw {
        "firing" => Ok(AlertStatus::Firing),
        "resolved" => Ok(AlertStatus::Resolved),
        other => Err(StoreError::Corrupt(format!("{column} = {other:?}"))),
    }
}

pub(super) fn verdict_from_db(raw: Option<&str>) -> Result<Option<Verdict>> {
    raw.map(|v| {
        Verdict::from_stored(v)
            .ok_or_else(|| StoreError::Corrupt(format!("alert_deploy_link.verdict = {v:?}")))
    })
    .transpose()
}

pub(super) fn mention_from_db(
    kind: Option<&str>,
    id: Option<i64>,
) -> Result<Option<MentionTarget>> {
    match (kind, id) {
        (Some("role"), Some(id)) => Ok(Some(MentionTarget::Role(from_db(id)))),
        (Some("user"), Some(id)) => Ok(Some(MentionTarget::User(from_db(id)))),
        (None, None) => Ok(None),
        (kind, id) => Err(StoreError::Corrupt(format!(
            "alert_group.mention_kind = {kind:?} with mention_id = {id:?}"
        ))),
    }
}

pub(super) fn opt_time(millis: Option<i64>) -> Option<DateTime<Utc>> {
    millis.map(time_from_db)
}

/// The columns of `alert` the rules read.
pub(super) const STORED_ALERT_COLUMNS: &str = "id, fingerprint, name, status, severity, service, \
     environment, starts_at, resolved_at, labels, annotations, summary";

#[derive(sqlx::FromRow)]
pub(super) struct StoredAlertRow {
    id: i64,
    fingerprint: String,
    name: String,
    status: String,
    severity: String,
    service: Option<String>,
    environment: Option<String>,
    starts_at: i64,
    resolved_at: Option<i64>,
    labels: String,
    annotations: String,
    summary: Option<String>,
}

impl TryFrom<StoredAlertRow> for StoredAlert {
    type Error = StoreError;
    fn try_from(r: StoredAlertRow) -> Result<Self> {
        Ok(StoredAlert {
            id: r.id,
            status: status_from_db("alert.status", &r.status)?,
            labels: map_from_json("alert.labels", &r.labels)?,
            annotations: map_from_json("alert.annotations", &r.annotations)?,
            fingerprint: r.fingerprint,
            name: r.name,
            severity: Severity::new(Some(&r.severity)),
            service: r.service,
            environment: r.environment,
            starts_at: time_from_db(r.starts_at),
            resolved_at: opt_time(r.resolved_at),
            summary: r.summary,
        })
    }
}

/// The columns of `alert_group` the rules read (its alerts are loaded apart).
pub(super) const STORED_GROUP_COLUMNS: &str =
    "id, status, truncated_alerts, common_labels, acked_by, acked_at";

#[derive(sqlx::FromRow)]
pub(super) struct StoredGroupRow {
    id: i64,
    status: String,
    truncated_alerts: i64,
    common_labels: String,
    acked_by: Option<i64>,
    acked_at: Option<i64>,
}

impl StoredGroupRow {
    pub(super) fn id(&self) -> i64 {
        self.id
    }

    pub(super) fn into_group(self, alerts: Vec<StoredAlert>) -> Result<StoredGroup> {
        Ok(StoredGroup {
            id: self.id,
            status: status_from_db("alert_group.status", &self.status)?,
            truncated_alerts: self.truncated_alerts,
            common_labels: map_from_json("alert_group.common_labels", &self.common_labels)?,
            ack: self.acked_at.map(|at| Ack {
                by: self.acked_by.map(from_db),
                at: time_from_db(at),
            }),
            alerts,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct StoredLinkRow {
    deploy_id: i64,
    delay_ms: i64,
    verdict: Option<String>,
}

impl TryFrom<StoredLinkRow> for StoredLink {
    type Error = StoreError;
    fn try_from(r: StoredLinkRow) -> Result<Self> {
        Ok(StoredLink {
            deploy_id: r.deploy_id,
            delay_ms: r.delay_ms,
            verdict: verdict_from_db(r.verdict.as_deref())?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct StoredIncidentRow {
    id: i64,
    deploy_id: Option<i64>,
}

impl From<StoredIncidentRow> for StoredIncident {
    fn from(r: StoredIncidentRow) -> Self {
        StoredIncident {
            id: r.id,
            deploy_id: r.deploy_id,
        }
    }
}
