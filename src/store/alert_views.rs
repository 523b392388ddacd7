//! What the alert tables show: an alert group's message, the alerts linked to a deploy's
//! announcement, `/alerts`, and what Silence 1h must match. Reads only.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::alert_rows::{
    map_from_json, mention_from_db, opt_time, status_from_db, verdict_from_db,
};
use super::ids::{from_db, time_from_db};
use super::{Result, Store, StoreError};
use crate::domain::alert::{AlertStatus, MentionTarget};
use crate::domain::alert_vote::VoteCounts;
use crate::domain::subscription::Kind;

/// One alert as its message shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertView {
    pub id: i64,
    pub fingerprint: String,
    pub name: String,
    pub status: AlertStatus,
    pub severity: String,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub instance: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub generator_url: Option<String>,
    pub runbook_url: Option<String>,
    pub dashboard_url: Option<String>,
    pub panel_url: Option<String>,
    pub silence_url: Option<String>,
    pub value_string: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A deploy an alert group is linked to, and a human's answer about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployLinkView {
    pub deploy_id: i64,
    pub service: String,
    pub version: String,
    pub environment: String,
    pub deployer: Option<String>,
    pub delay_ms: i64,
    /// "confirmed" or "rejected"; None until answered.
    pub verdict: Option<String>,
    pub verdict_by_name: Option<String>,
    pub verdict_at: Option<DateTime<Utc>>,
}

/// An alert group's message, in its current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertGroupView {
    pub id: i64,
    pub source: String,
    pub status: AlertStatus,
    pub title: Option<String>,
    pub message: Option<String>,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub severity: String,
    pub common_labels: BTreeMap<String, String>,
    pub external_url: Option<String>,
    pub truncated_alerts: i64,
    pub first_fired_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub acked_by: Option<u64>,
    pub acked_by_name: Option<String>,
    pub acked_at: Option<DateTime<Utc>>,
    pub silenced_by_name: Option<String>,
    pub silenced_at: Option<DateTime<Utc>>,
    pub silenced_until: Option<DateTime<Utc>>,
    pub mention: Option<MentionTarget>,
    pub silence_available: bool,
    pub incident_id: Option<i64>,
    /// Useful / Noise votes on this episode, each person's latest.
    pub votes: VoteCounts,
    /// Firing first, then by start.
    pub alerts: Vec<AlertView>,
    pub links: Vec<DeployLinkView>,
}

/// An alert group linked to a deploy, as the deploy's announcement shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAlert {
    pub group_id: i64,
    pub name: String,
    pub severity: String,
    pub status: AlertStatus,
    pub delay_ms: i64,
    pub verdict: Option<String>,
}

/// A firing alert, for `/alerts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiringAlert {
    pub group_id: i64,
    pub name: String,
    pub severity: String,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub instance: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub acked_by_name: Option<String>,
    pub acked_at: Option<DateTime<Utc>>,
}

/// What Silence 1h needs: the group's labels to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceTarget {
    pub source: String,
    pub matchers: BTreeMap<String, String>,
    pub silenced_until: Option<DateTime<Utc>>,
    /// Every member resolved: a silence would outlive what it was for.
    pub resolved: bool,
}

fn verdict_text(raw: Option<String>) -> Result<Option<String>> {
    Ok(verdict_from_db(raw.as_deref())?.map(|v| v.as_str().to_owned()))
}

#[derive(sqlx::FromRow)]
struct AlertViewRow {
    id: i64,
    fingerprint: String,
    name: String,
    status: String,
    severity: String,
    service: Option<String>,
    environment: Option<String>,
    instance: Option<String>,
    summary: Option<String>,
    description: Option<String>,
    labels: String,
    generator_url: Option<String>,
    runbook_url: Option<String>,
    dashboard_url: Option<String>,
    panel_url: Option<String>,
    silence_url: Option<String>,
    value_string: Option<String>,
    starts_at: i64,
    resolved_at: Option<i64>,
}

impl TryFrom<AlertViewRow> for AlertView {
    type Error = StoreError;
    fn try_from(r: AlertViewRow) -> Result<Self> {
        Ok(AlertView {
            id: r.id,
            status: status_from_db("alert.status", &r.status)?,
            labels: map_from_json("alert.labels", &r.labels)?,
            fingerprint: r.fingerprint,
            name: r.name,
            severity: r.severity,
            service: r.service,
            environment: r.environment,
            instance: r.instance,
            summary: r.summary,
            description: r.description,
            generator_url: r.generator_url,
            runbook_url: r.runbook_url,
            dashboard_url: r.dashboard_url,
            panel_url: r.panel_url,
            silence_url: r.silence_url,
            value_string: r.value_string,
            starts_at: time_from_db(r.starts_at),
            resolved_at: opt_time(r.resolved_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct DeployLinkRow {
    deploy_id: i64,
    service: String,
    version: String,
    environment: String,
    deployer: Option<String>,
    delay_ms: i64,
    verdict: Option<String>,
    verdict_by_name: Option<String>,
    verdict_at: Option<i64>,
}

impl TryFrom<DeployLinkRow> for DeployLinkView {
    type Error = StoreError;
    fn try_from(r: DeployLinkRow) -> Result<Self> {
        Ok(DeployLinkView {
            deploy_id: r.deploy_id,
            service: r.service,
            version: r.version,
            environment: r.environment,
            deployer: r.deployer,
            delay_ms: r.delay_ms,
            verdict: verdict_text(r.verdict)?,
            verdict_by_name: r.verdict_by_name,
            verdict_at: opt_time(r.verdict_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct GroupViewRow {
    source: String,
    status: String,
    title: Option<String>,
    message: Option<String>,
    service: Option<String>,
    environment: Option<String>,
    severity: String,
    common_labels: String,
    external_url: Option<String>,
    truncated_alerts: i64,
    first_fired_at: i64,
    resolved_at: Option<i64>,
    acked_by: Option<i64>,
    acked_by_name: Option<String>,
    acked_at: Option<i64>,
    silenced_by_name: Option<String>,
    silenced_at: Option<i64>,
    silenced_until: Option<i64>,
    mention_kind: Option<String>,
    mention_id: Option<i64>,
    #[sqlx(try_from = "super::ids::Flag")]
    silence_available: bool,
    incident_id: Option<i64>,
}

impl GroupViewRow {
    fn into_view(
        self,
        id: i64,
        alerts: Vec<AlertView>,
        links: Vec<DeployLinkView>,
        votes: VoteCounts,
    ) -> Result<AlertGroupView> {
        Ok(AlertGroupView {
            id,
            status: status_from_db("alert_group.status", &self.status)?,
            common_labels: map_from_json("alert_group.common_labels", &self.common_labels)?,
            mention: mention_from_db(self.mention_kind.as_deref(), self.mention_id)?,
            source: self.source,
            title: self.title,
            message: self.message,
            service: self.service,
            environment: self.environment,
            severity: self.severity,
            external_url: self.external_url,
            truncated_alerts: self.truncated_alerts,
            first_fired_at: time_from_db(self.first_fired_at),
            resolved_at: opt_time(self.resolved_at),
            acked_by: self.acked_by.map(from_db),
            acked_by_name: self.acked_by_name,
            acked_at: opt_time(self.acked_at),
            silenced_by_name: self.silenced_by_name,
            silenced_at: opt_time(self.silenced_at),
            silenced_until: opt_time(self.silenced_until),
            silence_available: self.silence_available,
            incident_id: self.incident_id,
            votes,
            alerts,
            links,
        })
    }
}

/// Loads an alert group's message view (for the outbox).
pub(super) async fn load_alert_group(
    conn: &mut sqlx::AnyConnection,
    id: i64,
) -> Result<Option<AlertGroupView>> {
    let Some(group) = sqlx::query_as::<_, GroupViewRow>(
        "select g.source, g.status, g.title, g.message, g.service, g.environment, g.severity,
                g.common_labels, g.external_url, g.truncated_alerts, g.first_fired_at, g.resolved_at,
                g.acked_by, g.acked_by_name, g.acked_at, g.silenced_by_name, g.silenced_at,
                g.silenced_until, g.mention_kind, g.mention_id, g.silence_available,
                (select i.id from incident i where i.group_id = g.id) as incident_id
         from alert_group g where g.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let alerts = sqlx::query_as::<_, AlertViewRow>(
        "select id, fingerprint, name, status, severity, service, environment, instance, summary,
                description, labels, generator_url, runbook_url, dashboard_url, panel_url,
                silence_url, value_string, starts_at, resolved_at
         from alert where group_id = $1
         order by case status when 'firing' then 0 else 1 end, starts_at, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(AlertView::try_from)
    .collect::<Result<_>>()?;
    let links = sqlx::query_as::<_, DeployLinkRow>(
        "select l.deploy_id, min(l.delay_ms) as delay_ms, max(l.verdict) as verdict,
                max(l.verdict_by_name) as verdict_by_name, max(l.verdict_at) as verdict_at,
                d.service, d.version, d.environment, d.deployer
         from alert_deploy_link l join deploy d on d.id = l.deploy_id
         where l.group_id = $1 group by l.deploy_id, d.id order by min(l.delay_ms)",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(DeployLinkView::try_from)
    .collect::<Result<_>>()?;
    let votes = super::alert_votes::vote_counts(&mut *conn, id).await?;
    group.into_view(id, alerts, links, votes).map(Some)
}

#[derive(sqlx::FromRow)]
struct LinkedAlertRow {
    group_id: i64,
    name: String,
    severity: String,
    status: String,
    delay_ms: i64,
    verdict: Option<String>,
}

impl TryFrom<LinkedAlertRow> for LinkedAlert {
    type Error = StoreError;
    fn try_from(r: LinkedAlertRow) -> Result<Self> {
        Ok(LinkedAlert {
            group_id: r.group_id,
            name: r.name,
            severity: r.severity,
            status: status_from_db("alert_group.status", &r.status)?,
            delay_ms: r.delay_ms,
            verdict: verdict_text(r.verdict)?,
        })
    }
}

/// The alert groups linked to a deploy (for its announcement).
pub(super) async fn load_linked_alerts(
    conn: &mut sqlx::AnyConnection,
    deploy_id: i64,
) -> Result<Vec<LinkedAlert>> {
    sqlx::query_as::<_, LinkedAlertRow>(
        "select g.id as group_id, coalesce(g.title, min(a.name)) as name, g.severity, g.status,
                min(l.delay_ms) as delay_ms, max(l.verdict) as verdict
         from alert_deploy_link l
         join alert_group g on g.id = l.group_id
         join alert a on a.id = l.alert_id
         where l.deploy_id = $1 group by g.id order by g.id",
    )
    .bind(deploy_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(LinkedAlert::try_from)
    .collect()
}

#[derive(sqlx::FromRow)]
struct FiringAlertRow {
    group_id: i64,
    name: String,
    severity: String,
    service: Option<String>,
    environment: Option<String>,
    instance: Option<String>,
    starts_at: i64,
    acked_by_name: Option<String>,
    acked_at: Option<i64>,
}

impl From<FiringAlertRow> for FiringAlert {
    fn from(r: FiringAlertRow) -> Self {
        FiringAlert {
            group_id: r.group_id,
            name: r.name,
            severity: r.severity,
            service: r.service,
            environment: r.environment,
            instance: r.instance,
            starts_at: time_from_db(r.starts_at),
            acked_by_name: r.acked_by_name,
            acked_at: opt_time(r.acked_at),
        }
    }
}

#[derive(sqlx::FromRow)]
struct SilenceTargetRow {
    source: String,
    group_labels: String,
    common_labels: String,
    silenced_until: Option<i64>,
    status: String,
}

impl TryFrom<SilenceTargetRow> for SilenceTarget {
    type Error = StoreError;
    fn try_from(r: SilenceTargetRow) -> Result<Self> {
        let group = map_from_json("alert_group.group_labels", &r.group_labels)?;
        Ok(SilenceTarget {
            source: r.source,
            // The group labels are what Alertmanager grouped by; without them, the common labels.
            matchers: if group.is_empty() {
                map_from_json("alert_group.common_labels", &r.common_labels)?
            } else {
                group
            },
            silenced_until: opt_time(r.silenced_until),
            resolved: r.status == "resolved",
        })
    }
}

impl Store {
    /// Alerts firing now, oldest first.
    pub async fn firing_alerts(&self) -> Result<Vec<FiringAlert>> {
        let rows = sqlx::query_as::<_, FiringAlertRow>(
            "select a.group_id, a.name, a.severity, coalesce(a.service, g.service) as service,
                    coalesce(a.environment, g.environment) as environment, a.instance, a.starts_at,
                    coalesce(a.acked_by_name, g.acked_by_name) as acked_by_name,
                    coalesce(a.acked_at, g.acked_at) as acked_at
             from alert a join alert_group g on g.id = a.group_id
             where a.status = 'firing' order by a.starts_at, a.id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(FiringAlert::from).collect())
    }

    /// Which subscriptions a channel has for alerts (for `/alerts`).
    pub async fn alert_subscriptions(
        &self,
    ) -> Result<Vec<crate::domain::subscription::Subscription>> {
        let mut conn = self.pool().acquire().await?;
        Self::subscriptions_of_kind(&mut conn, Kind::Alerts).await
    }

    /// What a silence for the group must match, and whether one is already in place.
    pub async fn alert_silence_target(&self, group_id: i64) -> Result<Option<SilenceTarget>> {
        sqlx::query_as::<_, SilenceTargetRow>(
            "select source, group_labels, common_labels, silenced_until, status from alert_group where id = $1",
        )
        .bind(group_id)
        .fetch_optional(self.pool())
        .await?
        .map(SilenceTarget::try_from)
        .transpose()
    }
}
