//! Deploys and the inbound events that report them.

use super::ids::{channel_to_db, time_to_db, try_time_from_db};
use super::{Result, Store, StoreError};
use crate::domain::deploy::{Deploy, DeployStatus};
use crate::domain::ChannelId;
use chrono::{DateTime, Utc};

/// What the bot's messages are about; the `message.subject_kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Deploy(i64),
    AlertGroup(i64),
    /// A post-release check-in (`checkin.id`).
    Checkin(i64),
    /// The note in a check-in's thread that a later check-in was cancelled (`checkin.id`).
    CheckinCancelled(i64),
    /// A `summary` row (weekly summary for one channel).
    Summary(i64),
}

impl Subject {
    pub(super) fn kind(self) -> &'static str {
        match self {
            Subject::Deploy(_) => "deploy",
            Subject::AlertGroup(_) => "alert_group",
            Subject::Checkin(_) => "checkin",
            Subject::CheckinCancelled(_) => "checkin_cancelled",
            Subject::Summary(_) => "summary",
        }
    }

    pub(super) fn id(self) -> i64 {
        match self {
            Subject::Deploy(id) => id,
            Subject::AlertGroup(id) => id,
            Subject::Checkin(id) | Subject::CheckinCancelled(id) => id,
            Subject::Summary(id) => id,
        }
    }
}

/// The result of recording a deploy event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRecorded {
    pub deploy_id: i64,
    /// False when the event said nothing new (a retry, or a late `started`).
    pub changed: bool,
    /// Channels whose message about this deploy was queued for posting or editing.
    pub channels: Vec<ChannelId>,
}

impl Store {
    pub async fn deploy(&self, id: i64) -> Result<Option<Deploy>> {
        let row: Option<DeployRow> =
            sqlx::query_as(&format!("select {DEPLOY_COLUMNS} from deploy where id = ?"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        row.map(Deploy::try_from).transpose()
    }

    /// Keeps a sender's raw body for audit and replay; returns its id.
    pub(super) async fn insert_inbound_event(
        tx: &mut sqlx::SqliteConnection,
        source: &str,
        idempotency_key: Option<&str>,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let now_db = time_to_db(now);
        Ok(sqlx::query_scalar(
            "insert into inbound_event (source, idempotency_key, body, received_at, created_at)
             values (?, ?, ?, ?, ?) returning id",
        )
        .bind(source)
        .bind(idempotency_key)
        .bind(body)
        .bind(now_db)
        .bind(now_db)
        .fetch_one(&mut *tx)
        .await?)
    }

    pub(super) async fn channels_showing(
        tx: &mut sqlx::SqliteConnection,
        subject: Subject,
    ) -> Result<Vec<ChannelId>> {
        let channels: Vec<i64> = sqlx::query_scalar(
            "select channel_id from message where subject_kind = ? and subject_id = ? order by id",
        )
        .bind(subject.kind())
        .bind(subject.id())
        .fetch_all(&mut *tx)
        .await?;
        Ok(channels
            .into_iter()
            .map(super::ids::channel_from_db)
            .collect())
    }

    /// Queues "show `subject`'s current state in `channel`": creates the message row on first use
    /// (its id is the post's nonce) and an outbox row for the worker.
    pub(super) async fn enqueue(
        tx: &mut sqlx::SqliteConnection,
        channel: ChannelId,
        subject: Subject,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now_db = time_to_db(now);
        let message_id: i64 = sqlx::query_scalar(
            "insert into message (channel_id, subject_kind, subject_id, updated_at, created_at)
             values (?, ?, ?, ?, ?)
             on conflict (channel_id, subject_kind, subject_id) do update set updated_at = excluded.updated_at
             returning id",
        )
        .bind(channel_to_db(channel))
        .bind(subject.kind())
        .bind(subject.id())
        .bind(now_db)
        .bind(now_db)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "insert into outbox (message_id, channel_id, due_at, created_at) values (?, ?, ?, ?)",
        )
        .bind(message_id)
        .bind(channel_to_db(channel))
        .bind(now_db)
        .bind(now_db)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

pub(super) const DEPLOY_COLUMNS: &str =
    "id, service, version, environment, status, deployer, commit_sha, \
     commit_at, url, changelog, started_at, finished_at";

/// A `deploy` row as [`DEPLOY_COLUMNS`] selects it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct DeployRow {
    id: i64,
    service: String,
    version: String,
    environment: String,
    status: String,
    deployer: Option<String>,
    commit_sha: Option<String>,
    commit_at: Option<i64>,
    url: Option<String>,
    changelog: Option<String>,
    started_at: i64,
    finished_at: Option<i64>,
}

impl TryFrom<DeployRow> for Deploy {
    type Error = StoreError;

    fn try_from(row: DeployRow) -> Result<Self> {
        let status: DeployStatus = row.status.parse().map_err(|_| {
            StoreError::Corrupt(format!(
                "deploy {}: unknown status {:?}",
                row.id, row.status
            ))
        })?;
        Ok(Deploy {
            id: row.id,
            service: row.service,
            version: row.version,
            environment: row.environment,
            status,
            deployer: row.deployer,
            commit_sha: row.commit_sha,
            commit_at: row.commit_at.map(try_time_from_db).transpose()?,
            url: row.url,
            changelog: row.changelog,
            started_at: try_time_from_db(row.started_at)?,
            finished_at: row.finished_at.map(try_time_from_db).transpose()?,
        })
    }
}

/// The deploy in a row selected with [`DEPLOY_COLUMNS`] (and possibly more columns).
pub(super) fn deploy_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Deploy> {
    Deploy::try_from(<DeployRow as sqlx::FromRow<_>>::from_row(row)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str, started_at: i64) -> DeployRow {
        DeployRow {
            id: 1,
            service: "checkout".into(),
            version: "v1".into(),
            environment: "production".into(),
            status: status.into(),
            deployer: None,
            commit_sha: None,
            commit_at: None,
            url: None,
            changelog: None,
            started_at,
            finished_at: None,
        }
    }

    #[test]
    fn a_stored_value_loopbot_does_not_know_is_an_error_not_a_default() {
        let ok = Deploy::try_from(row("rolled_back", 1_800_000_000_000)).unwrap();
        assert_eq!(ok.status, DeployStatus::RolledBack);
        for bad in [row("exploded", 0), row("started", i64::MAX)] {
            assert!(matches!(Deploy::try_from(bad), Err(StoreError::Corrupt(_))));
        }
    }
}
