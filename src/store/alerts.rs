//! Alerts: recording a notification. One transaction per notification: load the group's latest
//! episode, let `domain` decide (episode, alert changes, group state, deploy links, incident, who
//! hears about it), write what it decided. The message about a group goes through the outbox.

use chrono::{DateTime, Utc};

use super::alert_rows::{
    json_map, StoredAlertRow, StoredGroupRow, STORED_ALERT_COLUMNS, STORED_GROUP_COLUMNS,
};
use super::ids::{time_from_db, time_to_db, to_db};
use super::outbox::Subject;
use super::{Result, Store};
use crate::domain::alert::{AlertNotification, AlertStatus, MentionTarget};
use crate::domain::alert_group::{
    self, AlertPolicy, AlertWrite, Episode, GroupState, StoredAlert, StoredGroup, Transition,
};
use crate::domain::correlation::{self, Candidate, Link, Query, Started};
use crate::domain::incident;
use crate::domain::subscription::{route, Facet, Kind};
use crate::domain::ChannelId;

pub(super) use super::alert_views::{load_alert_group, load_linked_alerts};
pub use super::alert_views::{
    AlertGroupView, AlertView, DeployLinkView, FiringAlert, LinkedAlert, SilenceTarget,
};
pub use super::alert_votes::VoteOutcome;
pub use super::incidents::ActionOutcome;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecorded {
    pub group_id: i64,
    /// False when the notification said nothing new (a repeat).
    pub changed: bool,
    pub channels: Vec<ChannelId>,
}

#[derive(sqlx::FromRow)]
struct CandidateRow {
    id: i64,
    environment: String,
    finished_at: i64,
}

impl From<CandidateRow> for Candidate {
    fn from(r: CandidateRow) -> Self {
        Candidate {
            deploy_id: r.id,
            environment: r.environment,
            finished_at: time_from_db(r.finished_at),
        }
    }
}

impl Store {
    /// Records one notification in one transaction: the raw body, the group episode, each
    /// alert's state, state changes, incident, deploy links, and outbox rows for every channel
    /// that should see the change. A repeat that changes nothing queues nothing.
    pub async fn record_alerts(
        &self,
        raw_body: &str,
        n: &AlertNotification,
        policy: &AlertPolicy,
        default_channel: Option<ChannelId>,
        now: DateTime<Utc>,
    ) -> Result<AlertRecorded> {
        let mut tx = self.begin_write().await?;
        let event_id = Self::insert_inbound_event(
            &mut tx,
            n.source.as_str(),
            Some(&n.group_key),
            raw_body,
            now,
        )
        .await?;

        let latest = Self::latest_episode(&mut tx, n).await?;
        let plan = alert_group::plan(latest.as_ref(), n, now);
        let (group_id, ack) = match (plan.episode, &latest) {
            (Episode::Continue(id), Some(group)) => (id, group.ack),
            _ => (Self::insert_group(&mut tx, n, now).await?, None),
        };
        if !plan.changed {
            tx.commit().await?;
            return Ok(AlertRecorded {
                group_id,
                changed: false,
                channels: Vec::new(),
            });
        }

        let mut started = Vec::new();
        for write in &plan.writes {
            let alert_id = Self::write_alert(&mut tx, group_id, n, write, now).await?;
            for (state, at) in write.state_changes() {
                Self::alert_state(&mut tx, group_id, alert_id, state, event_id, at, now).await?;
            }
            if let Some(starts_at) = write.started_at() {
                started.push(Started {
                    alert_id,
                    service: write.event.service.clone(),
                    environment: write.event.environment.clone(),
                    starts_at,
                });
            }
        }

        let members = Self::load_alerts(&mut tx, group_id).await?;
        let group = alert_group::group_state(n, &members, policy, now);
        Self::write_group(&mut tx, group_id, n, &group, now).await?;

        // Deploy correlation for alerts that (re)started now.
        let mut deploys_to_edit = Vec::new();
        for start in &started {
            let Some(query) = correlation::query(
                start,
                group.service.as_deref(),
                group.environment.as_deref(),
                policy.correlation_window,
            ) else {
                continue;
            };
            let candidates = Self::deploy_candidates(&mut tx, &query).await?;
            if let Some(link) = correlation::pick(&query, &candidates) {
                Self::write_link(&mut tx, group_id, &link, now).await?;
                if !deploys_to_edit.contains(&link.deploy_id) {
                    deploys_to_edit.push(link.deploy_id);
                }
            }
        }

        let existing = Self::load_incident(&mut tx, group_id).await?;
        let links = Self::load_links(&mut tx, group_id).await?;
        let change = incident::decide(existing, &members, &group, &links, ack, policy);
        let opened = Self::write_incident(&mut tx, group_id, &change, now).await?;

        let subscriptions = Self::subscriptions_of_kind(&mut tx, Kind::Alerts).await?;
        let routed = route(
            &subscriptions,
            Kind::Alerts,
            group.service.as_deref().unwrap_or(""),
            group.environment.as_deref().unwrap_or(""),
            Facet::Alert {
                severity: &group.severity,
            },
            default_channel,
        );
        let showing = Self::channels_showing(&mut tx, Subject::AlertGroup(group_id)).await?;
        let channels = alert_group::channels_to_queue(routed, showing);
        for channel in &channels {
            Self::enqueue(&mut tx, *channel, Subject::AlertGroup(group_id), now).await?;
        }
        // A new incident's thread starts on its alert message in the first channel, once that
        // message is posted (the channel's queue delivers in order).
        if let (Some(incident), Some(channel)) = (opened, channels.first()) {
            Self::enqueue(&mut tx, *channel, Subject::IncidentThread(incident), now).await?;
        }
        for deploy_id in deploys_to_edit {
            Self::requeue_shown(&mut tx, Subject::Deploy(deploy_id), now).await?;
        }
        tx.commit().await?;
        Ok(AlertRecorded {
            group_id,
            changed: true,
            channels,
        })
    }

    /// The latest episode of the notification's group key, with its alerts.
    async fn latest_episode(
        tx: &mut sqlx::AnyConnection,
        n: &AlertNotification,
    ) -> Result<Option<StoredGroup>> {
        let Some(row) = sqlx::query_as::<_, StoredGroupRow>(&crate::store::numbered(&format!(
            "select {STORED_GROUP_COLUMNS} from alert_group
             where source = ? and group_key = ? order by id desc limit 1"
        )))
        .bind(n.source.as_str())
        .bind(&n.group_key)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let alerts = Self::load_alerts(tx, row.id()).await?;
        row.into_group(alerts).map(Some)
    }

    /// A group's alerts, by fingerprint (the order the rules break ties in).
    async fn load_alerts(tx: &mut sqlx::AnyConnection, group_id: i64) -> Result<Vec<StoredAlert>> {
        sqlx::query_as::<_, StoredAlertRow>(&crate::store::numbered(&format!(
            "select {STORED_ALERT_COLUMNS} from alert where group_id = ? order by fingerprint"
        )))
        .bind(group_id)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(StoredAlert::try_from)
        .collect()
    }

    async fn insert_group(
        tx: &mut sqlx::AnyConnection,
        n: &AlertNotification,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let now_db = time_to_db(now);
        Ok(sqlx::query_scalar(
            "insert into alert_group (source, group_key, receiver, status, severity,
                first_fired_at, updated_at, created_at)
             values ($1, $2, $3, 'firing', 'none', $4, $5, $6) returning id",
        )
        .bind(n.source.as_str())
        .bind(&n.group_key)
        .bind(&n.receiver)
        .bind(now_db)
        .bind(now_db)
        .bind(now_db)
        .fetch_one(&mut *tx)
        .await?)
    }

    /// Writes one alert's row as planned; returns its id.
    async fn write_alert(
        tx: &mut sqlx::AnyConnection,
        group_id: i64,
        n: &AlertNotification,
        write: &AlertWrite<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let now_db = time_to_db(now);
        let a = write.event;
        let summary = a.summary.as_ref().or(a.value_string.as_ref());
        let Some(id) = write.id else {
            return Ok(sqlx::query_scalar(
                "insert into alert (group_id, source, fingerprint, name, service, environment,
                    severity, instance, status, summary, description, labels, annotations,
                    generator_url, runbook_url, dashboard_url, panel_url, silence_url,
                    value_string, starts_at, ends_at, resolved_at, updated_at, created_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)
                 returning id",
            )
            .bind(group_id)
            .bind(n.source.as_str())
            .bind(&a.fingerprint)
            .bind(&a.name)
            .bind(&a.service)
            .bind(&a.environment)
            .bind(a.severity.as_str())
            .bind(&a.instance)
            .bind(write.status.as_str())
            .bind(summary)
            .bind(&a.description)
            .bind(json_map(&a.labels))
            .bind(json_map(&a.annotations))
            .bind(&a.generator_url)
            .bind(&a.runbook_url)
            .bind(&a.dashboard_url)
            .bind(&a.panel_url)
            .bind(&a.silence_url)
            .bind(&a.value_string)
            .bind(time_to_db(write.starts_at))
            .bind(a.ends_at.map(time_to_db))
            .bind(write.resolved_at.map(time_to_db))
            .bind(now_db)
            .bind(now_db)
            .fetch_one(&mut *tx)
            .await?);
        };
        let refire = write.transition == Transition::Refire;
        let resolves = write.transition == Transition::Resolve;
        sqlx::query(
            "update alert set status = $1, summary = $2, description = $3, labels = $4,
                annotations = $5, generator_url = coalesce($6, generator_url),
                runbook_url = coalesce($7, runbook_url),
                dashboard_url = coalesce($8, dashboard_url),
                panel_url = coalesce($9, panel_url), silence_url = coalesce($10, silence_url),
                value_string = $11, starts_at = $12,
                ends_at = case when $13 then $14 when $15 then null else ends_at end,
                resolved_at = case when $16 then $17 when $18 then null else resolved_at end,
                acked_by = case when $19 then null else acked_by end,
                acked_by_name = case when $20 then null else acked_by_name end,
                acked_at = case when $21 then null else acked_at end,
                updated_at = $22
             where id = $23",
        )
        .bind(write.status.as_str())
        .bind(summary)
        .bind(&a.description)
        .bind(json_map(&a.labels))
        .bind(json_map(&a.annotations))
        .bind(&a.generator_url)
        .bind(&a.runbook_url)
        .bind(&a.dashboard_url)
        .bind(&a.panel_url)
        .bind(&a.silence_url)
        .bind(&a.value_string)
        .bind(time_to_db(write.starts_at))
        .bind(resolves)
        .bind(a.ends_at.map(time_to_db))
        .bind(refire)
        .bind(resolves)
        .bind(write.resolved_at.map(time_to_db))
        .bind(refire)
        .bind(refire)
        .bind(refire)
        .bind(refire)
        .bind(now_db)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    async fn alert_state(
        tx: &mut sqlx::AnyConnection,
        group_id: i64,
        alert_id: i64,
        state: AlertStatus,
        event_id: i64,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "insert into alert_state_change (group_id, alert_id, state, event_id, at, created_at)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(group_id)
        .bind(alert_id)
        .bind(state.as_str())
        .bind(event_id)
        .bind(time_to_db(at))
        .bind(time_to_db(now))
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn write_group(
        tx: &mut sqlx::AnyConnection,
        group_id: i64,
        n: &AlertNotification,
        group: &GroupState,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now_db = time_to_db(now);
        let (mention_kind, mention_id) = match group.mention {
            Some(MentionTarget::Role(id)) => (Some("role"), Some(to_db(id))),
            Some(MentionTarget::User(id)) => (Some("user"), Some(to_db(id))),
            None => (None, None),
        };
        sqlx::query(
            "update alert_group set status = $1, receiver = coalesce($2, receiver), title = $3, message = $4,
                group_labels = $5, common_labels = $6, common_annotations = $7, external_url = $8,
                truncated_alerts = $9, service = $10, environment = $11, severity = $12, first_fired_at = $13,
                resolved_at = $14, mention_kind = $15, mention_id = $16, silence_available = $17, updated_at = $18
             where id = $19",
        )
        .bind(group.status.as_str())
        .bind(&n.receiver)
        .bind(&n.title)
        .bind(&n.message)
        .bind(json_map(&n.group_labels))
        .bind(json_map(&n.common_labels))
        .bind(json_map(&n.common_annotations))
        .bind(&n.external_url)
        .bind(n.truncated_alerts)
        .bind(&group.service)
        .bind(&group.environment)
        .bind(group.severity.as_str())
        .bind(time_to_db(group.first_fired_at))
        .bind(group.resolved_at.map(time_to_db))
        .bind(mention_kind)
        .bind(mention_id)
        .bind(i64::from(group.silence_available))
        .bind(now_db)
        .bind(group_id)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// The finished deploys a correlation query names.
    async fn deploy_candidates(
        tx: &mut sqlx::AnyConnection,
        query: &Query,
    ) -> Result<Vec<Candidate>> {
        Ok(sqlx::query_as::<_, CandidateRow>(
            "select id, environment, finished_at from deploy
             where service = $1 and finished_at is not null and finished_at >= $2 and finished_at <= $3",
        )
        .bind(&query.service)
        .bind(time_to_db(query.from))
        .bind(time_to_db(query.to))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(Candidate::from)
        .collect())
    }

    async fn write_link(
        tx: &mut sqlx::AnyConnection,
        group_id: i64,
        link: &Link,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            // Not `on conflict do nothing`: the rollups' before-insert trigger would take the
            // deploy's figures out for a row that is then never inserted (nor added back).
            "insert into alert_deploy_link (alert_id, group_id, deploy_id, delay_ms, created_at)
             select $1, $2, $3, $4, $5
             where not exists (select 1 from alert_deploy_link where alert_id = $1 and deploy_id = $3)",
        )
        .bind(link.alert_id)
        .bind(group_id)
        .bind(link.deploy_id)
        .bind(link.delay_ms)
        .bind(time_to_db(now))
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "alerts_tests.rs"]
mod tests;
