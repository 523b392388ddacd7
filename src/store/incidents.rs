//! Incidents, and what people do to an alert group from its message: acknowledge, silence,
//! answer "Caused by this deploy?". Each action records who and when, and queues an edit of every
//! message showing what it changed.

use chrono::{DateTime, Utc};

use super::alert_rows::{StoredIncidentRow, StoredLinkRow};
use super::ids::{from_db, time_from_db, time_to_db, to_db};
use super::incident_review::Person;
use super::outbox::Subject;
use super::{Result, Store};
use crate::domain::incident::{
    deploy_after_verdict, IncidentChange, StoredIncident, StoredLink, Verdict,
};
use crate::domain::incident_review::EventKind;

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
    /// The group resolved: there is nothing left to act on.
    Resolved,
}

impl Store {
    /// The group's incident, if one was opened.
    pub(super) async fn load_incident(
        tx: &mut sqlx::AnyConnection,
        group_id: i64,
    ) -> Result<Option<StoredIncident>> {
        Ok(sqlx::query_as::<_, StoredIncidentRow>(
            "select id, deploy_id from incident where group_id = $1",
        )
        .bind(group_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(StoredIncident::from))
    }

    /// The group's deploy links, closest first (ties in the order they were made).
    pub(super) async fn load_links(
        tx: &mut sqlx::AnyConnection,
        group_id: i64,
    ) -> Result<Vec<StoredLink>> {
        sqlx::query_as::<_, StoredLinkRow>(
            "select deploy_id, delay_ms, verdict from alert_deploy_link
             where group_id = $1 order by delay_ms, id",
        )
        .bind(group_id)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(StoredLink::try_from)
        .collect()
    }

    /// Writes what [`crate::domain::incident::decide`] decided for the group, with its timeline
    /// entries. Returns the id of an incident it opened.
    pub(super) async fn write_incident(
        tx: &mut sqlx::AnyConnection,
        group_id: i64,
        change: &IncidentChange,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let now_db = time_to_db(now);
        match change {
            IncidentChange::None => Ok(None),
            IncidentChange::Open(incident) => {
                let id: i64 = sqlx::query_scalar(
                    "insert into incident (group_id, alert_id, title, service, environment, severity,
                        opened_at, acknowledged_at, acknowledged_by, deploy_id, updated_at, created_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning id",
                )
                .bind(group_id)
                .bind(incident.alert_id)
                .bind(&incident.title)
                .bind(&incident.service)
                .bind(&incident.environment)
                .bind(&incident.severity)
                .bind(time_to_db(incident.opened_at))
                .bind(incident.ack.map(|a| time_to_db(a.at)))
                .bind(incident.ack.and_then(|a| a.by).map(to_db))
                .bind(incident.deploy_id)
                .bind(now_db)
                .bind(now_db)
                .fetch_one(&mut *tx)
                .await?;
                Self::incident_opened_events(tx, id, now).await?;
                if let Some(ack) = incident.ack {
                    let by = Self::acked_by(tx, group_id).await?;
                    Self::incident_event(
                        tx,
                        id,
                        EventKind::Acknowledged,
                        by.as_ref(),
                        None,
                        ack.at,
                        now,
                    )
                    .await?;
                }
                Ok(Some(id))
            }
            IncidentChange::Update {
                resolved_at,
                deploy_id,
            } => {
                let before: Option<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
                    "select id, resolved_at, deploy_id from incident where group_id = $1",
                )
                .bind(group_id)
                .fetch_optional(&mut *tx)
                .await?;
                sqlx::query(
                    "update incident set resolved_at = $1, deploy_id = $2, updated_at = $3
                     where group_id = $4",
                )
                .bind(resolved_at.map(time_to_db))
                .bind(deploy_id)
                .bind(now_db)
                .bind(group_id)
                .execute(&mut *tx)
                .await?;
                if let Some((id, resolved, deploy)) = before {
                    Self::incident_followed_events(tx, id, (resolved, deploy), now).await?;
                }
                Ok(None)
            }
        }
    }

    /// Who acknowledged the group, as its row says.
    async fn acked_by(tx: &mut sqlx::AnyConnection, group_id: i64) -> Result<Option<Person>> {
        let row: Option<(Option<i64>, Option<String>)> =
            sqlx::query_as("select acked_by, acked_by_name from alert_group where id = $1")
                .bind(group_id)
                .fetch_optional(&mut *tx)
                .await?;
        Ok(match row {
            Some((Some(id), name)) => Some(Person {
                id: from_db(id),
                name: name.unwrap_or_default(),
            }),
            _ => None,
        })
    }

    /// A timeline entry for the group's incident, if it has one.
    async fn group_incident_event(
        tx: &mut sqlx::AnyConnection,
        group_id: i64,
        kind: EventKind,
        by: &Person,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if let Some(incident) = Self::incident_of_group(tx, group_id).await? {
            Self::incident_event(tx, incident, kind, Some(by), detail, now, now).await?;
        }
        Ok(())
    }

    async fn human_state(
        tx: &mut sqlx::AnyConnection,
        group_id: i64,
        state: &str,
        user: u64,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "insert into alert_state_change (group_id, state, actor_id, actor_name, at, created_at)
             values ($1, $2, $3, $4, $5, $6)",
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
    pub(super) async fn requeue_shown(
        tx: &mut sqlx::AnyConnection,
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
        let Some((by, at, status)) = sqlx::query_as::<_, (Option<String>, Option<i64>, String)>(
            "select acked_by_name, acked_at, status from alert_group where id = $1",
        )
        .bind(group_id)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(ActionOutcome::NotFound);
        };
        // A stale or forged press on a resolved group changes nothing.
        if status == "resolved" {
            return Ok(ActionOutcome::Resolved);
        }
        if let Some(at) = at {
            return Ok(ActionOutcome::Already {
                by,
                at: Some(time_from_db(at)),
            });
        }
        sqlx::query(
            "update alert_group set acked_by = $1, acked_by_name = $2, acked_at = $3, updated_at = $4 where id = $5",
        )
        .bind(to_db(user))
        .bind(name)
        .bind(now_db)
        .bind(now_db)
        .bind(group_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "update alert set acked_by = $1, acked_by_name = $2, acked_at = $3, updated_at = $4
             where group_id = $5 and status = 'firing' and acked_at is null",
        )
        .bind(to_db(user))
        .bind(name)
        .bind(now_db)
        .bind(now_db)
        .bind(group_id)
        .execute(&mut *tx)
        .await?;
        let first_ack = sqlx::query(
            "update incident set acknowledged_at = $1, acknowledged_by = $2, updated_at = $3
             where group_id = $4 and acknowledged_at is null",
        )
        .bind(now_db)
        .bind(to_db(user))
        .bind(now_db)
        .bind(group_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if first_ack {
            let by = Person {
                id: user,
                name: name.to_owned(),
            };
            Self::group_incident_event(&mut tx, group_id, EventKind::Acknowledged, &by, None, now)
                .await?;
        }
        Self::human_state(&mut tx, group_id, "acked", user, name, now).await?;
        Self::requeue_shown(&mut tx, Subject::AlertGroup(group_id), now).await?;
        tx.commit().await?;
        Ok(ActionOutcome::Done)
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
            "update alert_group set silence_id = $1, silenced_by = $2, silenced_by_name = $3, silenced_at = $4,
                silenced_until = $5, updated_at = $6 where id = $7",
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
        let by = Person {
            id: user,
            name: name.to_owned(),
        };
        let detail = format!("for 1 hour (until {} UTC)", until.format("%H:%M"));
        Self::group_incident_event(
            &mut tx,
            group_id,
            EventKind::Silenced,
            &by,
            Some(&detail),
            now,
        )
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
        let verdict = if confirmed {
            Verdict::Confirmed
        } else {
            Verdict::Rejected
        };
        let updated = sqlx::query(
            "update alert_deploy_link set verdict = $1, verdict_by = $2, verdict_by_name = $3, verdict_at = $4
             where group_id = $5 and deploy_id = $6",
        )
        .bind(verdict.as_str())
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
        if let Some(incident) = Self::load_incident(&mut tx, group_id).await? {
            let after = deploy_after_verdict(incident.deploy_id, deploy_id, verdict);
            // (A confirmation touches the incident even when it named that deploy already.)
            if after != incident.deploy_id || verdict == Verdict::Confirmed {
                sqlx::query("update incident set deploy_id = $1, updated_at = $2 where id = $3")
                    .bind(after)
                    .bind(now_db)
                    .bind(incident.id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let state = match verdict {
            Verdict::Confirmed => "cause_confirmed",
            Verdict::Rejected => "cause_rejected",
        };
        let by = Person {
            id: user,
            name: name.to_owned(),
        };
        let kind = match verdict {
            Verdict::Confirmed => EventKind::DeployLinked,
            Verdict::Rejected => EventKind::DeployUnlinked,
        };
        let text = Self::deploy_text(&mut tx, deploy_id).await?;
        Self::group_incident_event(&mut tx, group_id, kind, &by, Some(&text), now).await?;
        Self::human_state(&mut tx, group_id, state, user, name, now).await?;
        Self::requeue_shown(&mut tx, Subject::AlertGroup(group_id), now).await?;
        Self::requeue_shown(&mut tx, Subject::Deploy(deploy_id), now).await?;
        tx.commit().await?;
        Ok(ActionOutcome::Done)
    }
}
