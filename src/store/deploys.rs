//! Deploys and the inbound events that report them.

use super::ids::try_time_from_db;
use super::{Result, Store, StoreError};
use crate::domain::deploy::{Deploy, DeployStatus};
use crate::domain::ChannelId;

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
