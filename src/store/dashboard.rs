//! What the web dashboard reads (`domain::dashboard`), as the reader may read it
//! (`visibility::Visible`), and the key that signs dashboard links.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::deploys::{deploy_from_row, DEPLOY_COLUMNS};
use super::feedback::{tally, TallyOf};
use super::health::health_of_deploys;
use super::ids::{from_db, time_to_db, try_time_from_db, Flag};
use super::visibility::Visible;
use super::{Result, Store, StoreError};
use crate::domain::dashboard::{
    CheckinLine, DeployLine, IncidentLine, IncidentPage, LinkedAlert, ReleasePage, TimelineEntry,
    LIST_MAX,
};
use crate::domain::feedback::{Sentiment, Tally, Vote};
use crate::domain::health::{HealthReading, Overall};
use crate::domain::visibility::Reader;

#[derive(sqlx::FromRow)]
struct LinkedAlertRow {
    deploy_id: i64,
    group_id: i64,
    name: String,
    severity: String,
    #[sqlx(try_from = "super::ids::Flag")]
    firing: bool,
    verdict: Option<String>,
    incident_id: Option<i64>,
}

impl From<LinkedAlertRow> for LinkedAlert {
    fn from(row: LinkedAlertRow) -> Self {
        LinkedAlert {
            group_id: row.group_id,
            name: row.name,
            severity: row.severity,
            firing: row.firing,
            verdict: row.verdict,
            incident_id: row.incident_id,
        }
    }
}

const INCIDENT_COLUMNS: &str = "i.id, i.title, i.service, i.environment, i.severity, i.opened_at, \
     i.acknowledged_at, i.resolved_at";

#[derive(sqlx::FromRow)]
struct IncidentRow {
    id: i64,
    title: String,
    service: Option<String>,
    environment: Option<String>,
    severity: String,
    opened_at: i64,
    acknowledged_at: Option<i64>,
    resolved_at: Option<i64>,
}

impl TryFrom<IncidentRow> for IncidentLine {
    type Error = StoreError;
    fn try_from(row: IncidentRow) -> Result<Self> {
        Ok(IncidentLine {
            id: row.id,
            title: row.title,
            service: row.service,
            environment: row.environment,
            severity: row.severity,
            opened_at: try_time_from_db(row.opened_at)?,
            acknowledged_at: row.acknowledged_at.map(try_time_from_db).transpose()?,
            resolved_at: row.resolved_at.map(try_time_from_db).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CheckinRow {
    id: i64,
    channel_id: i64,
    state: String,
    due_at: i64,
    opened_at: Option<i64>,
    closed_at: Option<i64>,
    cancel_reason: Option<String>,
    #[sqlx(try_from = "super::ids::Flag")]
    late: bool,
}

impl TryFrom<CheckinRow> for CheckinLine {
    type Error = StoreError;
    fn try_from(row: CheckinRow) -> Result<Self> {
        Ok(CheckinLine {
            id: row.id,
            channel_id: from_db(row.channel_id),
            state: row
                .state
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("checkin.state {:?}", row.state)))?,
            due_at: try_time_from_db(row.due_at)?,
            opened_at: row.opened_at.map(try_time_from_db).transpose()?,
            closed_at: row.closed_at.map(try_time_from_db).transpose()?,
            cancel_reason: row.cancel_reason,
            late: row.late,
        })
    }
}

impl Store {
    /// The key that signs dashboard links: the stored one, else `candidate`, stored now (the
    /// caller draws it at random; made once, then kept so links survive restarts).
    pub async fn dashboard_key(&self, candidate: [u8; 32], now: DateTime<Utc>) -> Result<[u8; 32]> {
        let stored: Option<Vec<u8>> =
            sqlx::query_scalar("select key from dashboard_key where id = 1")
                .fetch_optional(self.pool())
                .await?;
        let key = match stored {
            Some(key) => key,
            None => {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "insert into dashboard_key (id, key, created_at) values (1, $1, $2)
                     on conflict (id) do nothing",
                )
                .bind(&candidate[..])
                .bind(time_to_db(now))
                .execute(&mut *tx)
                .await?;
                let key: Vec<u8> = sqlx::query_scalar("select key from dashboard_key where id = 1")
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                key
            }
        };
        key.try_into()
            .map_err(|_| StoreError::Corrupt("dashboard_key.key is not 32 bytes".into()))
    }

    /// The deploys `reader` may read, most recent first (by outcome, else start).
    pub async fn recent_deploys(&self, reader: Reader, limit: i64) -> Result<Vec<DeployLine>> {
        let visible = Visible::of(reader);
        let mut conn = self.pool().acquire().await?;
        // Ordered by the `deploy_counts_at` index expression, so the newest come first without a sort.
        let rows = sqlx::query(&crate::store::numbered(&format!(
            "select {DEPLOY_COLUMNS} from deploy d where {}
             order by coalesce(d.finished_at, d.started_at) desc, d.id desc limit ?",
            visible.deploy("d")
        )))
        .bind(limit.clamp(0, LIST_MAX))
        .fetch_all(&mut *conn)
        .await?;
        let deploys = rows
            .iter()
            .map(deploy_from_row)
            .collect::<Result<Vec<_>>>()?;
        // Two queries for all the deploys, not two per deploy: the page is on every click.
        let ids = serde_json::json!(deploys.iter().map(|d| d.id).collect::<Vec<_>>()).to_string();
        let votes: Vec<(i64, Option<i64>, Flag)> = sqlx::query_as(&crate::store::numbered(&format!(
            "select f.deploy_id, f.sentiment, f.body is not null from feedback f
             where f.deploy_id in (select cast(value as bigint) from json_each(?)) and f.retracted_at is null
               and {}",
            visible.feedback("f")
        )))
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?;
        let mut alerts = linked_alerts(&mut conn, &ids, visible).await?;
        let health = health_of_deploys(&mut conn, &ids, &visible.checkin("c")).await?;
        let mut lines = Vec::with_capacity(deploys.len());
        for deploy in deploys {
            let mine = votes
                .iter()
                .filter(|(id, _, _)| *id == deploy.id)
                .map(|&(_, sentiment, comment)| {
                    Ok(Vote {
                        sentiment: sentiment
                            .map(|v| {
                                Sentiment::from_value(v).ok_or_else(|| {
                                    StoreError::Corrupt(format!("feedback.sentiment {v}"))
                                })
                            })
                            .transpose()?,
                        comment: comment.0,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            lines.push(DeployLine {
                id: deploy.id,
                service: deploy.service,
                version: deploy.version,
                environment: deploy.environment,
                status: deploy.status,
                deployer: deploy.deployer,
                started_at: deploy.started_at,
                finished_at: deploy.finished_at,
                tally: Tally::of(mine),
                alerts: alerts.remove(&deploy.id).unwrap_or_default(),
                health: latest_overall(&health, deploy.id),
            });
        }
        Ok(lines)
    }

    /// Incidents still open that `reader` may read, newest first.
    pub async fn open_incidents(&self, reader: Reader) -> Result<Vec<IncidentLine>> {
        let rows: Vec<IncidentRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select {INCIDENT_COLUMNS} from incident i
             where i.resolved_at is null and {}
             order by i.opened_at desc, i.id desc limit ?",
            Visible::of(reader).incident("i")
        )))
        .bind(LIST_MAX)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(IncidentLine::try_from).collect()
    }

    /// A release's page, if `reader` may read the deploy: its check-ins, the answers and tally
    /// `reader` may read, the alerts linked to it.
    pub async fn release_page(
        &self,
        deploy_id: i64,
        reader: Reader,
    ) -> Result<Option<ReleasePage>> {
        let visible = Visible::of(reader);
        let mut conn = self.pool().acquire().await?;
        let Some(row) = sqlx::query(&crate::store::numbered(&format!(
            "select {DEPLOY_COLUMNS} from deploy d where d.id = ? and {}",
            visible.deploy("d")
        )))
        .bind(deploy_id)
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(None);
        };
        let deploy = deploy_from_row(&row)?;
        let checkins: Vec<CheckinRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select c.id, c.channel_id, c.state, c.due_at, c.opened_at, c.closed_at,
                 c.cancel_reason, c.late <> 0 as late
             from checkin c where c.deploy_id = ? and {}
             order by c.due_at, c.id limit ?",
            visible.checkin("c")
        )))
        .bind(deploy_id)
        .bind(LIST_MAX)
        .fetch_all(&mut *conn)
        .await?;
        let tally = tally(&mut conn, TallyOf::Release(deploy_id, reader)).await?;
        let alerts = linked_alerts(&mut conn, &format!("[{deploy_id}]"), visible)
            .await?
            .remove(&deploy_id)
            .unwrap_or_default();
        let health = health_of_deploys(&mut conn, &format!("[{deploy_id}]"), &visible.checkin("c"))
            .await?
            .into_iter()
            .map(|(_, checkin, reading)| (checkin, reading))
            .collect();
        drop(conn);
        let mut feedback = self.feedback_for(deploy_id, reader).await?;
        feedback.truncate(LIST_MAX as usize);
        Ok(Some(ReleasePage {
            deploy,
            checkins: checkins
                .into_iter()
                .map(CheckinLine::try_from)
                .collect::<Result<_>>()?,
            feedback,
            tally,
            alerts,
            health,
        }))
    }

    /// An incident's page, if `reader` may read it: the linked deploy and its group's alert
    /// timeline (none for a declared incident; its own timeline is `Store::incident_detail`).
    pub async fn incident_page(&self, id: i64, reader: Reader) -> Result<Option<IncidentPage>> {
        let visible = Visible::of(reader);
        let mut conn = self.pool().acquire().await?;
        let Some((group_id, deploy_id)) =
            sqlx::query_as::<_, (Option<i64>, Option<i64>)>(&crate::store::numbered(&format!(
                "select i.group_id, i.deploy_id from incident i where i.id = ? and {}",
                visible.incident("i")
            )))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let row: IncidentRow = sqlx::query_as(&crate::store::numbered(&format!(
            "select {INCIDENT_COLUMNS} from incident i where i.id = ?"
        )))
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        let deploy: Option<(i64, String, String)> = match deploy_id {
            Some(deploy_id) => {
                sqlx::query_as("select id, service, version from deploy where id = $1")
                    .bind(deploy_id)
                    .fetch_optional(&mut *conn)
                    .await?
            }
            None => None,
        };
        let changes: Vec<(i64, String, Option<String>, Option<String>)> = sqlx::query_as(
            "select s.at, s.state, a.name, s.actor_name from alert_state_change s
             left join alert a on a.id = s.alert_id
             where s.group_id = $1 order by s.at, s.id limit $2",
        )
        .bind(group_id.unwrap_or(-1))
        .bind(LIST_MAX)
        .fetch_all(&mut *conn)
        .await?;
        Ok(Some(IncidentPage {
            incident: IncidentLine::try_from(row)?,
            deploy,
            timeline: changes
                .into_iter()
                .map(|(at, state, alert, by)| {
                    Ok(TimelineEntry {
                        at: try_time_from_db(at)?,
                        state,
                        alert,
                        by,
                    })
                })
                .collect::<Result<_>>()?,
        }))
    }
}

/// The alert groups linked to each of `deploy_ids` (a JSON array) that the reader may read, one
/// line per deploy and group.
async fn linked_alerts(
    conn: &mut sqlx::AnyConnection,
    deploy_ids: &str,
    visible: Visible,
) -> Result<HashMap<i64, Vec<LinkedAlert>>> {
    // One line per deploy and group: its first link's.
    let rows: Vec<LinkedAlertRow> = sqlx::query_as(&crate::store::numbered(&format!(
        "select l.deploy_id, l.group_id, coalesce(g.title, a.name) as name, g.severity,
             g.status = 'firing' as firing, l.verdict, l.id as first_link,
             (select i.id from incident i where i.group_id = l.group_id) as incident_id
         from alert_deploy_link l
         join alert_group g on g.id = l.group_id
         join alert a on a.id = l.alert_id
         where l.id in (select min(f.id) from alert_deploy_link f
                        where f.deploy_id in (select cast(value as bigint) from json_each(?))
                        group by f.deploy_id, f.group_id)
           and {}
         order by l.deploy_id, l.group_id limit ?",
        visible.alert_group("g")
    )))
    .bind(deploy_ids)
    .bind(LIST_MAX)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_deploy: HashMap<i64, Vec<LinkedAlert>> = HashMap::new();
    for row in rows {
        by_deploy.entry(row.deploy_id).or_default().push(row.into());
    }
    Ok(by_deploy)
}

/// A deploy's release health in a word, from the latest check-in that read it.
fn latest_overall(health: &[(i64, i64, HealthReading)], deploy: i64) -> Option<Overall> {
    let mine = health.iter().filter(|(d, _, _)| *d == deploy);
    let latest = mine.clone().map(|(_, c, _)| *c).max()?;
    let readings: Vec<HealthReading> = mine
        .filter(|(_, c, _)| *c == latest)
        .map(|(_, _, r)| r.clone())
        .collect();
    Overall::of(&readings)
}
