//! Release health values (migration 20261203072000_checkin_health.sql): which check-ins wait for
//! them, storing them, and reading them back for the check-in message, the feedback API and
//! the dashboard.

use chrono::{DateTime, Utc};

use super::ids::{checked_time_from_db, time_to_db};
use super::{Result, Store, StoreError};
use crate::domain::health::{HealthDue, HealthReading, Reading};

const HEALTH_COLUMNS: &str = "h.checkin_id, h.name, h.higher_is_better, h.tolerance, \
     h.before_at, h.before_value, h.before_error, h.after_at, h.after_value, h.after_error";

#[derive(sqlx::FromRow)]
struct HealthRow {
    checkin_id: i64,
    name: String,
    #[sqlx(try_from = "super::ids::Flag")]
    higher_is_better: bool,
    tolerance: f64,
    before_at: i64,
    before_value: Option<f64>,
    before_error: Option<String>,
    after_at: i64,
    after_value: Option<f64>,
    after_error: Option<String>,
}

fn time(what: &str, millis: i64) -> Result<DateTime<Utc>> {
    checked_time_from_db(millis).ok_or_else(|| StoreError::Corrupt(format!("{what} {millis}")))
}

fn reading(what: &str, value: Option<f64>, error: Option<String>) -> Result<Reading> {
    match (value, error) {
        (Some(value), None) => Ok(Ok(value)),
        (None, Some(error)) => error
            .parse()
            .map(Err)
            .map_err(|e| StoreError::Corrupt(format!("{what}: {e}"))),
        _ => Err(StoreError::Corrupt(format!(
            "{what}: neither or both of a value and an error"
        ))),
    }
}

impl TryFrom<HealthRow> for (i64, HealthReading) {
    type Error = StoreError;
    fn try_from(row: HealthRow) -> Result<Self> {
        let what = format!("checkin_health {} {}", row.checkin_id, row.name);
        Ok((
            row.checkin_id,
            HealthReading {
                before_at: time(&what, row.before_at)?,
                before: reading(&what, row.before_value, row.before_error)?,
                after_at: time(&what, row.after_at)?,
                after: reading(&what, row.after_value, row.after_error)?,
                higher_is_better: row.higher_is_better,
                tolerance: row.tolerance,
                name: row.name,
            },
        ))
    }
}

#[derive(sqlx::FromRow)]
struct DueRow {
    checkin_id: i64,
    deploy_id: i64,
    service: String,
    environment: String,
    started_at: i64,
}

/// A check-in's values, in the order its lines show them.
pub(super) async fn health_of(
    conn: &mut sqlx::AnyConnection,
    checkin_id: i64,
) -> Result<Vec<HealthReading>> {
    let rows: Vec<HealthRow> = sqlx::query_as(&crate::store::numbered(&format!(
        "select {HEALTH_COLUMNS} from checkin_health h where h.checkin_id = ? order by h.name"
    )))
    .bind(checkin_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| <(i64, HealthReading)>::try_from(row).map(|(_, r)| r))
        .collect()
}

/// The values of the check-ins of `deploy_ids` (a JSON array) that `visible_checkin` (an SQL
/// condition on `c`) lets a reader see: (deploy id, check-in id, reading), by deploy, check-in, name.
pub(super) async fn health_of_deploys(
    conn: &mut sqlx::AnyConnection,
    deploy_ids: &str,
    visible_checkin: &str,
) -> Result<Vec<(i64, i64, HealthReading)>> {
    let rows: Vec<(i64, HealthRow)> = sqlx::query_as::<_, DeployHealthRow>(&crate::store::numbered(&format!(
        "select c.deploy_id, {HEALTH_COLUMNS} from checkin_health h join checkin c on c.id = h.checkin_id
         where c.deploy_id in (select cast(value as bigint) from json_each(?)) and {visible_checkin}
         order by c.deploy_id, h.checkin_id, h.name"
    )))
    .bind(deploy_ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.deploy_id, r.health))
    .collect();
    rows.into_iter()
        .map(|(deploy, row)| {
            let (checkin, reading) = <(i64, HealthReading)>::try_from(row)?;
            Ok((deploy, checkin, reading))
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct DeployHealthRow {
    deploy_id: i64,
    #[sqlx(flatten)]
    health: HealthRow,
}

impl Store {
    /// Check-ins due at `now`, still scheduled and not yet read, oldest due first, at most `limit`.
    pub async fn checkins_awaiting_health(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<HealthDue>> {
        let rows: Vec<DueRow> = sqlx::query_as(
            "select c.id as checkin_id, d.id as deploy_id, d.service, d.environment, d.started_at
             from checkin c join deploy d on d.id = c.deploy_id
             where c.state = 'scheduled' and c.due_at <= $1 and c.health_checked_at is null
             order by c.due_at, c.id limit $2",
        )
        .bind(time_to_db(now))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(HealthDue {
                    started_at: time(
                        &format!("deploy {} started_at", row.deploy_id),
                        row.started_at,
                    )?,
                    checkin_id: row.checkin_id,
                    deploy_id: row.deploy_id,
                    service: row.service,
                    environment: row.environment,
                })
            })
            .collect()
    }

    /// Stores the values read for these check-ins (the same for each: one release read once) and
    /// marks them read, so the check-in job may ask them. One transaction; reading again replaces.
    pub async fn record_health(
        &self,
        checkin_ids: &[i64],
        readings: &[HealthReading],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let split = |r: Reading| match r {
            Ok(value) => (Some(value), None),
            Err(reason) => (None, Some(reason.as_str())),
        };
        let mut tx = self.begin_write().await?;
        for &checkin in checkin_ids {
            for reading in readings {
                let (before_value, before_error) = split(reading.before);
                let (after_value, after_error) = split(reading.after);
                sqlx::query(
                    "insert into checkin_health (checkin_id, name, higher_is_better, tolerance,
                         before_at, before_value, before_error, after_at, after_value, after_error,
                         created_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     on conflict (checkin_id, name) do update set
                         higher_is_better = excluded.higher_is_better,
                         tolerance = excluded.tolerance,
                         before_at = excluded.before_at, before_value = excluded.before_value,
                         before_error = excluded.before_error, after_at = excluded.after_at,
                         after_value = excluded.after_value, after_error = excluded.after_error",
                )
                .bind(checkin)
                .bind(&reading.name)
                .bind(i64::from(reading.higher_is_better))
                .bind(reading.tolerance)
                .bind(time_to_db(reading.before_at))
                .bind(before_value)
                .bind(before_error)
                .bind(time_to_db(reading.after_at))
                .bind(after_value)
                .bind(after_error)
                .bind(time_to_db(now))
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("update checkin set health_checked_at = $1 where id = $2")
                .bind(time_to_db(now))
                .bind(checkin)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every value read for a release's check-ins: (check-in id, reading), oldest check-in first.
    pub async fn release_health(&self, deploy_id: i64) -> Result<Vec<(i64, HealthReading)>> {
        let rows: Vec<HealthRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select {HEALTH_COLUMNS} from checkin_health h join checkin c on c.id = h.checkin_id
             where c.deploy_id = ? order by h.checkin_id, h.name"
        )))
        .bind(deploy_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(TryFrom::try_from).collect()
    }
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
