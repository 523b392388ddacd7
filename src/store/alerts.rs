//! Alerts: groups, alerts by fingerprint, state changes, incidents and deploy links.
//! One transaction per notification; the message about a group goes through the outbox.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::deploys::Subject;
use super::ids::{from_db, time_from_db, time_to_db, to_db};
use super::{Result, Store};
use crate::domain::alert::{AlertNotification, AlertStatus, MentionTarget, Severity};
use crate::domain::subscription::{route, Kind};
use crate::domain::ChannelId;

/// What the store needs from the configuration to record a notification.
#[derive(Debug, Clone)]
pub struct AlertPolicy {
    pub incident_severity: Severity,
    pub mention: Option<MentionTarget>,
    pub mention_severity: Severity,
    pub correlation_window: chrono::Duration,
    pub service_labels: Vec<String>,
    /// Silence 1h can be offered (Alertmanager's URL is configured).
    pub alertmanager_configured: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecorded {
    pub group_id: i64,
    /// False when the notification said nothing new (a repeat).
    pub changed: bool,
    pub channels: Vec<ChannelId>,
}

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

/// What a button press did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    Done,
    /// Someone did it first: who and when.
    Already {
        by: Option<String>,
        at: Option<DateTime<Utc>>,
    },
    NotFound,
}

/// What Silence 1h needs: the group's labels to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceTarget {
    pub source: String,
    pub matchers: BTreeMap<String, String>,
    pub silenced_until: Option<DateTime<Utc>>,
}

fn json_map(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}

fn map_from_json(raw: &str) -> BTreeMap<String, String> {
    serde_json::from_str(raw).unwrap_or_default()
}

fn status_from_db(raw: &str) -> AlertStatus {
    if raw == "firing" {
        AlertStatus::Firing
    } else {
        AlertStatus::Resolved
    }
}

fn opt_time(row: &sqlx::sqlite::SqliteRow, column: &str) -> Option<DateTime<Utc>> {
    row.get::<Option<i64>, _>(column).map(time_from_db)
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
        let now_db = time_to_db(now);
        let source = n.source.as_str();

        let event_id =
            Self::insert_inbound_event(&mut tx, source, Some(&n.group_key), raw_body, now).await?;

        // The latest episode of this group; a new one starts when a resolved group fires again.
        let latest = sqlx::query(
            "select id, status from alert_group where source = ? and group_key = ? order by id desc limit 1",
        )
        .bind(source)
        .bind(&n.group_key)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| (r.get::<i64, _>("id"), r.get::<String, _>("status")));
        let mut any_new_firing = false;
        for a in n.alerts.iter().filter(|a| a.status == AlertStatus::Firing) {
            // A firing alert the latest episode already saw start (and end) is a late retry of an
            // old notification, not a new start.
            let seen = match (latest.as_ref(), a.starts_at) {
                (Some((id, _)), Some(start)) => sqlx::query_scalar::<_, i64>(
                    "select count(*) from alert where group_id = ? and fingerprint = ? and starts_at >= ?",
                )
                .bind(id)
                .bind(&a.fingerprint)
                .bind(time_to_db(start))
                .fetch_one(&mut *tx)
                .await?
                    > 0,
                _ => false,
            };
            any_new_firing |= !seen;
        }
        let mut changed = false;
        let group_id = match latest {
            Some((id, status)) if status == "firing" || !any_new_firing => id,
            _ => {
                changed = true;
                sqlx::query(
                    "insert into alert_group (source, group_key, receiver, status, severity,
                        first_fired_at, updated_at, created_at)
                     values (?, ?, ?, 'firing', 'none', ?, ?, ?) returning id",
                )
                .bind(source)
                .bind(&n.group_key)
                .bind(&n.receiver)
                .bind(now_db)
                .bind(now_db)
                .bind(now_db)
                .fetch_one(&mut *tx)
                .await?
                .get(0)
            }
        };

        let mut started_alerts: Vec<(i64, Option<String>, Option<String>, i64)> = Vec::new();
        for a in &n.alerts {
            let existing = sqlx::query(
                "select id, status, starts_at, labels, annotations, summary from alert
                 where group_id = ? and fingerprint = ?",
            )
            .bind(group_id)
            .bind(&a.fingerprint)
            .fetch_optional(&mut *tx)
            .await?;
            let starts_at = a.starts_at.map(time_to_db);
            let resolved_at = (a.status == AlertStatus::Resolved)
                .then(|| a.ends_at.map(time_to_db).unwrap_or(now_db));
            let labels = json_map(&a.labels);
            let annotations = json_map(&a.annotations);
            let (alert_id, became) = match existing {
                None => {
                    let id: i64 = sqlx::query(
                        "insert into alert (group_id, source, fingerprint, name, service, environment,
                            severity, instance, status, summary, description, labels, annotations,
                            generator_url, runbook_url, dashboard_url, panel_url, silence_url,
                            value_string, starts_at, ends_at, resolved_at, updated_at, created_at)
                         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                         returning id",
                    )
                    .bind(group_id)
                    .bind(source)
                    .bind(&a.fingerprint)
                    .bind(&a.name)
                    .bind(&a.service)
                    .bind(&a.environment)
                    .bind(a.severity.as_str())
                    .bind(&a.instance)
                    .bind(a.status.as_str())
                    .bind(a.summary.as_ref().or(a.value_string.as_ref()))
                    .bind(&a.description)
                    .bind(&labels)
                    .bind(&annotations)
                    .bind(&a.generator_url)
                    .bind(&a.runbook_url)
                    .bind(&a.dashboard_url)
                    .bind(&a.panel_url)
                    .bind(&a.silence_url)
                    .bind(&a.value_string)
                    .bind(starts_at.unwrap_or(now_db))
                    .bind(a.ends_at.map(time_to_db))
                    .bind(resolved_at)
                    .bind(now_db)
                    .bind(now_db)
                    .fetch_one(&mut *tx)
                    .await?
                    .get(0);
                    let start = starts_at.unwrap_or(now_db);
                    Self::alert_state(&mut tx, group_id, Some(id), "firing", event_id, start, now)
                        .await?;
                    started_alerts.push((id, a.service.clone(), a.environment.clone(), start));
                    (id, Some(a.status))
                }
                Some(row) => {
                    let id: i64 = row.get("id");
                    let old_status = status_from_db(&row.get::<String, _>("status"));
                    let old_start: i64 = row.get("starts_at");
                    let details_changed = row.get::<String, _>("labels") != labels
                        || row.get::<String, _>("annotations") != annotations
                        || row.get::<Option<String>, _>("summary")
                            != a.summary.clone().or(a.value_string.clone());
                    let refire = old_status == AlertStatus::Resolved
                        && a.status == AlertStatus::Firing
                        && starts_at.is_none_or(|s| s > old_start);
                    let resolves =
                        old_status == AlertStatus::Firing && a.status == AlertStatus::Resolved;
                    if !(refire || resolves || details_changed) {
                        continue;
                    }
                    // A notification about an alert already resolved never reopens it unless it
                    // started again; details may still be refreshed.
                    let new_status = if refire || resolves {
                        a.status
                    } else {
                        old_status
                    };
                    let new_start = if refire {
                        starts_at.unwrap_or(now_db)
                    } else {
                        old_start
                    };
                    sqlx::query(
                        "update alert set status = ?, summary = ?, description = ?, labels = ?,
                            annotations = ?, generator_url = coalesce(?, generator_url),
                            runbook_url = coalesce(?, runbook_url),
                            dashboard_url = coalesce(?, dashboard_url),
                            panel_url = coalesce(?, panel_url), silence_url = coalesce(?, silence_url),
                            value_string = ?, starts_at = ?,
                            ends_at = case when ? then ? when ? then null else ends_at end,
                            resolved_at = case when ? then ? when ? then null else resolved_at end,
                            acked_by = case when ? then null else acked_by end,
                            acked_by_name = case when ? then null else acked_by_name end,
                            acked_at = case when ? then null else acked_at end,
                            updated_at = ?
                         where id = ?",
                    )
                    .bind(new_status.as_str())
                    .bind(a.summary.as_ref().or(a.value_string.as_ref()))
                    .bind(&a.description)
                    .bind(&labels)
                    .bind(&annotations)
                    .bind(&a.generator_url)
                    .bind(&a.runbook_url)
                    .bind(&a.dashboard_url)
                    .bind(&a.panel_url)
                    .bind(&a.silence_url)
                    .bind(&a.value_string)
                    .bind(new_start)
                    .bind(resolves)
                    .bind(a.ends_at.map(time_to_db))
                    .bind(refire)
                    .bind(resolves)
                    .bind(resolved_at)
                    .bind(refire)
                    .bind(refire)
                    .bind(refire)
                    .bind(refire)
                    .bind(now_db)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    if refire {
                        Self::alert_state(
                            &mut tx,
                            group_id,
                            Some(id),
                            "firing",
                            event_id,
                            new_start,
                            now,
                        )
                        .await?;
                        started_alerts.push((
                            id,
                            a.service.clone(),
                            a.environment.clone(),
                            new_start,
                        ));
                    }
                    (id, (refire || resolves).then_some(new_status))
                }
            };
            changed = true;
            if became == Some(AlertStatus::Resolved) {
                Self::alert_state(
                    &mut tx,
                    group_id,
                    Some(alert_id),
                    "resolved",
                    event_id,
                    resolved_at.unwrap_or(now_db),
                    now,
                )
                .await?;
            }
        }

        // Group-level details a repeat may still change. (Grafana's title and message restate the
        // state, so they are refreshed with a change but are not one themselves.)
        let before =
            sqlx::query("select truncated_alerts, common_labels from alert_group where id = ?")
                .bind(group_id)
                .fetch_one(&mut *tx)
                .await?;
        if before.get::<i64, _>("truncated_alerts") != n.truncated_alerts
            || before.get::<String, _>("common_labels") != json_map(&n.common_labels)
        {
            changed = true;
        }

        if !changed {
            tx.commit().await?;
            return Ok(AlertRecorded {
                group_id,
                changed: false,
                channels: Vec::new(),
            });
        }

        // Derive the group's state from its members.
        let members = sqlx::query(
            "select id, status, severity, starts_at, resolved_at, name, service, environment
             from alert where group_id = ?",
        )
        .bind(group_id)
        .fetch_all(&mut *tx)
        .await?;
        let firing: Vec<_> = members
            .iter()
            .filter(|r| r.get::<String, _>("status") == "firing")
            .collect();
        let status = if firing.is_empty() {
            AlertStatus::Resolved
        } else {
            AlertStatus::Firing
        };
        let worst = |rows: &mut dyn Iterator<Item = &sqlx::sqlite::SqliteRow>| {
            rows.map(|r| Severity::new(Some(&r.get::<String, _>("severity"))))
                .max_by_key(|s| s.rank())
        };
        let severity = worst(&mut members.iter()).unwrap_or_else(|| Severity::new(None));
        let firing_severity = worst(&mut firing.iter().copied());
        let first_fired_at = members
            .iter()
            .map(|r| r.get::<i64, _>("starts_at"))
            .min()
            .unwrap_or(now_db);
        let resolved_at = (status == AlertStatus::Resolved).then(|| {
            members
                .iter()
                .filter_map(|r| r.get::<Option<i64>, _>("resolved_at"))
                .max()
                .unwrap_or(now_db)
        });
        let service = n.service(&policy.service_labels).or_else(|| {
            members
                .iter()
                .find_map(|r| r.get::<Option<String>, _>("service"))
        });
        let environment = n.environment();
        let mention = policy.mention.filter(|_| {
            firing_severity
                .as_ref()
                .is_some_and(|s| s.rank() >= policy.mention_severity.rank())
        });
        let (mention_kind, mention_id) = match mention {
            Some(MentionTarget::Role(id)) => (Some("role"), Some(to_db(id))),
            Some(MentionTarget::User(id)) => (Some("user"), Some(to_db(id))),
            None => (None, None),
        };
        sqlx::query(
            "update alert_group set status = ?, receiver = coalesce(?, receiver), title = ?, message = ?,
                group_labels = ?, common_labels = ?, common_annotations = ?, external_url = ?,
                truncated_alerts = ?, service = ?, environment = ?, severity = ?, first_fired_at = ?,
                resolved_at = ?, mention_kind = ?, mention_id = ?, silence_available = ?, updated_at = ?
             where id = ?",
        )
        .bind(status.as_str())
        .bind(&n.receiver)
        .bind(&n.title)
        .bind(&n.message)
        .bind(json_map(&n.group_labels))
        .bind(json_map(&n.common_labels))
        .bind(json_map(&n.common_annotations))
        .bind(&n.external_url)
        .bind(n.truncated_alerts)
        .bind(&service)
        .bind(&environment)
        .bind(severity.as_str())
        .bind(first_fired_at)
        .bind(resolved_at)
        .bind(mention_kind)
        .bind(mention_id)
        .bind(policy.alertmanager_configured && n.source.as_str() == "alertmanager")
        .bind(now_db)
        .bind(group_id)
        .execute(&mut *tx)
        .await?;

        // Deploy correlation for alerts that (re)started now.
        let mut deploys_to_edit = Vec::new();
        let window_ms = policy.correlation_window.num_milliseconds();
        for (alert_id, alert_service, alert_env, start) in &started_alerts {
            let Some(svc) = alert_service.clone().or_else(|| service.clone()) else {
                continue;
            };
            let env = alert_env.clone().or_else(|| environment.clone());
            let deploy = sqlx::query(
                "select id, finished_at from deploy
                 where service = ? and finished_at is not null and finished_at <= ? and finished_at >= ?
                 order by (environment = coalesce(?, environment)) desc, finished_at desc limit 1",
            )
            .bind(&svc)
            .bind(*start)
            .bind(*start - window_ms)
            .bind(&env)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(d) = deploy {
                let deploy_id: i64 = d.get("id");
                let finished: i64 = d.get("finished_at");
                sqlx::query(
                    "insert into alert_deploy_link (alert_id, group_id, deploy_id, delay_ms, created_at)
                     values (?, ?, ?, ?, ?) on conflict (alert_id, deploy_id) do nothing",
                )
                .bind(alert_id)
                .bind(group_id)
                .bind(deploy_id)
                .bind(*start - finished)
                .bind(now_db)
                .execute(&mut *tx)
                .await?;
                if !deploys_to_edit.contains(&deploy_id) {
                    deploys_to_edit.push(deploy_id);
                }
            }
        }

        // Incidents: opened by a firing alert at or above the threshold, closed on resolve.
        let has_incident: Option<i64> =
            sqlx::query_scalar("select id from incident where group_id = ?")
                .bind(group_id)
                .fetch_optional(&mut *tx)
                .await?;
        if has_incident.is_none() {
            let opener = firing
                .iter()
                .filter(|r| {
                    Severity::new(Some(&r.get::<String, _>("severity"))).rank()
                        >= policy.incident_severity.rank()
                })
                .min_by_key(|r| r.get::<i64, _>("starts_at"));
            if let Some(opener) = opener {
                let alert_id: i64 = opener.get("id");
                let deploy_id: Option<i64> = sqlx::query_scalar(
                    "select deploy_id from alert_deploy_link
                     where group_id = ? and coalesce(verdict, '') != 'rejected'
                     order by delay_ms limit 1",
                )
                .bind(group_id)
                .fetch_optional(&mut *tx)
                .await?;
                sqlx::query(
                    "insert into incident (group_id, alert_id, title, service, environment, severity,
                        opened_at, acknowledged_at, acknowledged_by, deploy_id, updated_at, created_at)
                     select ?, ?, ?, ?, ?, ?, ?, acked_at, acked_by, ?, ?, ? from alert_group where id = ?",
                )
                .bind(group_id)
                .bind(alert_id)
                .bind(opener.get::<String, _>("name"))
                .bind(opener.get::<Option<String>, _>("service").or(service.clone()))
                .bind(opener.get::<Option<String>, _>("environment").or(environment.clone()))
                .bind(opener.get::<String, _>("severity"))
                .bind(opener.get::<i64, _>("starts_at"))
                .bind(deploy_id)
                .bind(now_db)
                .bind(now_db)
                .bind(group_id)
                .execute(&mut *tx)
                .await?;
            }
        } else {
            sqlx::query(
                "update incident set resolved_at = ?,
                    deploy_id = coalesce(deploy_id, (select deploy_id from alert_deploy_link
                                                     where group_id = ? and coalesce(verdict, '') != 'rejected'
                                                     order by delay_ms limit 1)),
                    updated_at = ?
                 where group_id = ?",
            )
            .bind(resolved_at)
            .bind(group_id)
            .bind(now_db)
            .bind(group_id)
            .execute(&mut *tx)
            .await?;
        }

        let subscriptions = Self::subscriptions_of_kind(&mut tx, Kind::Alerts).await?;
        let mut channels = route(
            &subscriptions,
            Kind::Alerts,
            service.as_deref().unwrap_or(""),
            environment.as_deref().unwrap_or(""),
            default_channel,
        );
        for channel in Self::channels_showing(&mut tx, Subject::AlertGroup(group_id)).await? {
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
        for channel in &channels {
            Self::enqueue(&mut tx, *channel, Subject::AlertGroup(group_id), now).await?;
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

    async fn alert_state(
        tx: &mut sqlx::SqliteConnection,
        group_id: i64,
        alert_id: Option<i64>,
        state: &str,
        event_id: i64,
        at: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "insert into alert_state_change (group_id, alert_id, state, event_id, at, created_at)
             values (?, ?, ?, ?, ?, ?)",
        )
        .bind(group_id)
        .bind(alert_id)
        .bind(state)
        .bind(event_id)
        .bind(at)
        .bind(time_to_db(now))
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn human_state(
        tx: &mut sqlx::SqliteConnection,
        group_id: i64,
        state: &str,
        user: u64,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "insert into alert_state_change (group_id, state, actor_id, actor_name, at, created_at)
             values (?, ?, ?, ?, ?, ?)",
        )
        .bind(group_id)
        .bind(state)
        .bind(to_db(user))
        .bind(name)
        .bind(time_to_db(now))
        .bind(time_to_db(now))
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Queues an edit of every message already showing `subject`.
    async fn requeue_shown(
        tx: &mut sqlx::SqliteConnection,
        subject: Subject,
        now: DateTime<Utc>,
    ) -> Result<()> {
        for channel in Self::channels_showing(tx, subject).await? {
            Self::enqueue(tx, channel, subject, now).await?;
        }
        Ok(())
    }

    /// Acknowledge pressed: the group, its firing alerts and its incident record who and when,
    /// and the group's messages are queued for an edit. The first press wins.
    pub async fn ack_alert_group(
        &self,
        group_id: i64,
        user: u64,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<ActionOutcome> {
        let mut tx = self.begin_write().await?;
        let now_db = time_to_db(now);
        let Some(row) = sqlx::query("select acked_by_name, acked_at from alert_group where id = ?")
            .bind(group_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(ActionOutcome::NotFound);
        };
        if let Some(at) = opt_time(&row, "acked_at") {
            return Ok(ActionOutcome::Already {
                by: row.get("acked_by_name"),
                at: Some(at),
            });
        }
        sqlx::query(
            "update alert_group set acked_by = ?, acked_by_name = ?, acked_at = ?, updated_at = ? where id = ?",
        )
        .bind(to_db(user))
        .bind(name)
        .bind(now_db)
        .bind(now_db)
        .bind(group_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "update alert set acked_by = ?, acked_by_name = ?, acked_at = ?, updated_at = ?
             where group_id = ? and status = 'firing' and acked_at is null",
        )
        .bind(to_db(user))
        .bind(name)
        .bind(now_db)
        .bind(now_db)
        .bind(group_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "update incident set acknowledged_at = ?, acknowledged_by = ?, updated_at = ?
             where group_id = ? and acknowledged_at is null",
        )
        .bind(now_db)
        .bind(to_db(user))
        .bind(now_db)
        .bind(group_id)
        .execute(&mut *tx)
        .await?;
        Self::human_state(&mut tx, group_id, "acked", user, name, now).await?;
        Self::requeue_shown(&mut tx, Subject::AlertGroup(group_id), now).await?;
        tx.commit().await?;
        Ok(ActionOutcome::Done)
    }

    /// What a silence for the group must match, and whether one is already in place.
    pub async fn alert_silence_target(&self, group_id: i64) -> Result<Option<SilenceTarget>> {
        let row = sqlx::query(
            "select source, group_labels, common_labels, silenced_until from alert_group where id = ?",
        )
        .bind(group_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| {
            let group = map_from_json(&r.get::<String, _>("group_labels"));
            SilenceTarget {
                source: r.get("source"),
                // The group labels are what Alertmanager grouped by; without them, the common labels.
                matchers: if group.is_empty() {
                    map_from_json(&r.get::<String, _>("common_labels"))
                } else {
                    group
                },
                silenced_until: opt_time(&r, "silenced_until"),
            }
        }))
    }

    /// Records a silence Alertmanager created, and queues the edit that shows it.
    pub async fn alert_group_silenced(
        &self,
        group_id: i64,
        silence_id: &str,
        user: u64,
        name: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let now_db = time_to_db(now);
        sqlx::query(
            "update alert_group set silence_id = ?, silenced_by = ?, silenced_by_name = ?, silenced_at = ?,
                silenced_until = ?, updated_at = ? where id = ?",
        )
        .bind(silence_id)
        .bind(to_db(user))
        .bind(name)
        .bind(now_db)
        .bind(time_to_db(until))
        .bind(now_db)
        .bind(group_id)
        .execute(&mut *tx)
        .await?;
        Self::human_state(&mut tx, group_id, "silenced", user, name, now).await?;
        Self::requeue_shown(&mut tx, Subject::AlertGroup(group_id), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// "Caused by this deploy?" answered: stored on every link of the group to that deploy;
    /// the alert's messages and the deploy's announcements are queued for an edit.
    pub async fn answer_deploy_link(
        &self,
        group_id: i64,
        deploy_id: i64,
        confirmed: bool,
        user: u64,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<ActionOutcome> {
        let mut tx = self.begin_write().await?;
        let now_db = time_to_db(now);
        let verdict = if confirmed { "confirmed" } else { "rejected" };
        let updated = sqlx::query(
            "update alert_deploy_link set verdict = ?, verdict_by = ?, verdict_by_name = ?, verdict_at = ?
             where group_id = ? and deploy_id = ?",
        )
        .bind(verdict)
        .bind(to_db(user))
        .bind(name)
        .bind(now_db)
        .bind(group_id)
        .bind(deploy_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(ActionOutcome::NotFound);
        }
        if !confirmed {
            // A rejected link no longer names the incident's cause.
            sqlx::query(
                "update incident set deploy_id = null, updated_at = ? where group_id = ? and deploy_id = ?",
            )
            .bind(now_db)
            .bind(group_id)
            .bind(deploy_id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query("update incident set deploy_id = ?, updated_at = ? where group_id = ?")
                .bind(deploy_id)
                .bind(now_db)
                .bind(group_id)
                .execute(&mut *tx)
                .await?;
        }
        let state = if confirmed {
            "cause_confirmed"
        } else {
            "cause_rejected"
        };
        Self::human_state(&mut tx, group_id, state, user, name, now).await?;
        Self::requeue_shown(&mut tx, Subject::AlertGroup(group_id), now).await?;
        Self::requeue_shown(&mut tx, Subject::Deploy(deploy_id), now).await?;
        tx.commit().await?;
        Ok(ActionOutcome::Done)
    }

    /// Alerts firing now, oldest first.
    pub async fn firing_alerts(&self) -> Result<Vec<FiringAlert>> {
        let rows = sqlx::query(
            "select a.group_id, a.name, a.severity, coalesce(a.service, g.service) as service,
                    coalesce(a.environment, g.environment) as environment, a.instance, a.starts_at,
                    coalesce(a.acked_by_name, g.acked_by_name) as acked_by_name,
                    coalesce(a.acked_at, g.acked_at) as acked_at
             from alert a join alert_group g on g.id = a.group_id
             where a.status = 'firing' order by a.starts_at, a.id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| FiringAlert {
                group_id: r.get("group_id"),
                name: r.get("name"),
                severity: r.get("severity"),
                service: r.get("service"),
                environment: r.get("environment"),
                instance: r.get("instance"),
                starts_at: time_from_db(r.get("starts_at")),
                acked_by_name: r.get("acked_by_name"),
                acked_at: opt_time(r, "acked_at"),
            })
            .collect())
    }

    /// Which subscriptions a channel has for alerts (for `/alerts`).
    pub async fn alert_subscriptions(
        &self,
    ) -> Result<Vec<crate::domain::subscription::Subscription>> {
        let mut conn = self.pool().acquire().await?;
        Self::subscriptions_of_kind(&mut conn, Kind::Alerts).await
    }
}

/// Loads an alert group's message view (for the outbox).
pub(super) async fn load_alert_group(
    conn: &mut sqlx::SqliteConnection,
    id: i64,
) -> Result<Option<AlertGroupView>> {
    let Some(g) = sqlx::query(
        "select g.*, (select i.id from incident i where i.group_id = g.id) as incident_id
         from alert_group g where g.id = ?",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let alerts = sqlx::query(
        "select * from alert where group_id = ?
         order by case status when 'firing' then 0 else 1 end, starts_at, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| AlertView {
        id: r.get("id"),
        fingerprint: r.get("fingerprint"),
        name: r.get("name"),
        status: status_from_db(&r.get::<String, _>("status")),
        severity: r.get("severity"),
        service: r.get("service"),
        environment: r.get("environment"),
        instance: r.get("instance"),
        summary: r.get("summary"),
        description: r.get("description"),
        labels: map_from_json(&r.get::<String, _>("labels")),
        generator_url: r.get("generator_url"),
        runbook_url: r.get("runbook_url"),
        dashboard_url: r.get("dashboard_url"),
        panel_url: r.get("panel_url"),
        silence_url: r.get("silence_url"),
        value_string: r.get("value_string"),
        starts_at: time_from_db(r.get("starts_at")),
        resolved_at: opt_time(r, "resolved_at"),
    })
    .collect();
    let links = sqlx::query(
        "select l.deploy_id, min(l.delay_ms) as delay_ms, max(l.verdict) as verdict,
                max(l.verdict_by_name) as verdict_by_name, max(l.verdict_at) as verdict_at,
                d.service, d.version, d.environment, d.deployer
         from alert_deploy_link l join deploy d on d.id = l.deploy_id
         where l.group_id = ? group by l.deploy_id order by min(l.delay_ms)",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| DeployLinkView {
        deploy_id: r.get("deploy_id"),
        service: r.get("service"),
        version: r.get("version"),
        environment: r.get("environment"),
        deployer: r.get("deployer"),
        delay_ms: r.get("delay_ms"),
        verdict: r.get("verdict"),
        verdict_by_name: r.get("verdict_by_name"),
        verdict_at: opt_time(r, "verdict_at"),
    })
    .collect();
    let mention = match (
        g.get::<Option<String>, _>("mention_kind").as_deref(),
        g.get::<Option<i64>, _>("mention_id"),
    ) {
        (Some("role"), Some(id)) => Some(MentionTarget::Role(from_db(id))),
        (Some("user"), Some(id)) => Some(MentionTarget::User(from_db(id))),
        _ => None,
    };
    Ok(Some(AlertGroupView {
        id,
        source: g.get("source"),
        status: status_from_db(&g.get::<String, _>("status")),
        title: g.get("title"),
        message: g.get("message"),
        service: g.get("service"),
        environment: g.get("environment"),
        severity: g.get("severity"),
        common_labels: map_from_json(&g.get::<String, _>("common_labels")),
        external_url: g.get("external_url"),
        truncated_alerts: g.get("truncated_alerts"),
        first_fired_at: time_from_db(g.get("first_fired_at")),
        resolved_at: opt_time(&g, "resolved_at"),
        acked_by: g.get::<Option<i64>, _>("acked_by").map(from_db),
        acked_by_name: g.get("acked_by_name"),
        acked_at: opt_time(&g, "acked_at"),
        silenced_by_name: g.get("silenced_by_name"),
        silenced_at: opt_time(&g, "silenced_at"),
        silenced_until: opt_time(&g, "silenced_until"),
        mention,
        silence_available: g.get::<i64, _>("silence_available") != 0,
        incident_id: g.get("incident_id"),
        alerts,
        links,
    }))
}

/// The alert groups linked to a deploy (for its announcement).
pub(super) async fn load_linked_alerts(
    conn: &mut sqlx::SqliteConnection,
    deploy_id: i64,
) -> Result<Vec<LinkedAlert>> {
    let rows = sqlx::query(
        "select g.id as group_id, coalesce(g.title, min(a.name)) as name, g.severity, g.status,
                min(l.delay_ms) as delay_ms, max(l.verdict) as verdict
         from alert_deploy_link l
         join alert_group g on g.id = l.group_id
         join alert a on a.id = l.alert_id
         where l.deploy_id = ? group by g.id order by g.id",
    )
    .bind(deploy_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| LinkedAlert {
            group_id: r.get("group_id"),
            name: r.get("name"),
            severity: r.get("severity"),
            status: status_from_db(&r.get::<String, _>("status")),
            delay_ms: r.get("delay_ms"),
            verdict: r.get("verdict"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert::RawGenericAlert;

    fn policy() -> AlertPolicy {
        AlertPolicy {
            incident_severity: Severity::new(Some("critical")),
            mention: None,
            mention_severity: Severity::new(Some("critical")),
            correlation_window: chrono::Duration::hours(1),
            service_labels: vec!["service".into()],
            alertmanager_configured: false,
        }
    }

    fn alert(status: &str, starts_at: DateTime<Utc>) -> AlertNotification {
        let raw: RawGenericAlert = serde_json::from_value(serde_json::json!({
            "service": "checkout", "name": "Errors", "severity": "critical", "status": status,
            "id": "e-1", "starts_at": starts_at.to_rfc3339(),
        }))
        .unwrap();
        AlertNotification::from_generic(&raw).unwrap()
    }

    async fn scalar(store: &Store, sql: &str) -> Option<i64> {
        sqlx::query_scalar(sql)
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_rejected_link_stays_off_the_incident_and_out_of_the_change_failure_count() {
        let (store, _dir) = Store::temporary().await;
        let t0 = Utc::now() - chrono::Duration::hours(2);
        sqlx::query(
            "insert into deploy (source, external_id, service, version, environment, status,
                started_at, finished_at, updated_at, created_at)
             values ('api', 'd1', 'checkout', 'v1', 'production', 'succeeded', ?, ?, ?, ?)",
        )
        .bind(time_to_db(t0))
        .bind(time_to_db(t0))
        .bind(time_to_db(t0))
        .bind(time_to_db(t0))
        .execute(store.pool())
        .await
        .unwrap();
        let starts = t0 + chrono::Duration::minutes(10);
        let now = Utc::now();
        let r = store
            .record_alerts("{}", &alert("firing", starts), &policy(), None, now)
            .await
            .unwrap();
        assert_eq!(
            scalar(&store, "select deploy_id from incident").await,
            Some(1)
        );
        // A repeat changes nothing.
        let again = store
            .record_alerts("{}", &alert("firing", starts), &policy(), None, now)
            .await
            .unwrap();
        assert!(!again.changed);

        store
            .answer_deploy_link(r.group_id, 1, false, 7, "bob", now)
            .await
            .unwrap();
        store
            .record_alerts("{}", &alert("resolved", starts), &policy(), None, now)
            .await
            .unwrap();
        assert_eq!(scalar(&store, "select deploy_id from incident").await, None);
        assert!(scalar(&store, "select resolved_at from incident")
            .await
            .is_some());
        // Change failure rate's numerator: deploys linked to incidents, not rejected by a human.
        assert_eq!(
            scalar(
                &store,
                "select count(distinct deploy_id) from incident where deploy_id is not null"
            )
            .await,
            Some(0)
        );

        // The same alert firing again later is a new episode: a new group (and message).
        let later = store
            .record_alerts(
                "{}",
                &alert("firing", starts + chrono::Duration::minutes(30)),
                &policy(),
                None,
                now,
            )
            .await
            .unwrap();
        assert!(later.changed);
        assert_ne!(later.group_id, r.group_id);
    }
}
