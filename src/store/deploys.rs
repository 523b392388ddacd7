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
        let row: Option<DeployRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select {DEPLOY_COLUMNS} from deploy where id = ?"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(Deploy::try_from).transpose()
    }

    /// The deploy running in `environment` for `service`: its succeeded deploy that finished last
    /// (`deploy_latest_success`), if any.
    pub async fn latest_success(&self, service: &str, environment: &str) -> Result<Option<Deploy>> {
        let row: Option<DeployRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select {DEPLOY_COLUMNS} from deploy where id =
                 (select deploy_id from deploy_latest_success where service = ? and environment = ?)"
        )))
        .bind(service)
        .bind(environment)
        .fetch_optional(self.pool())
        .await?;
        row.map(Deploy::try_from).transpose()
    }

    /// The deploy that ran in `deploy`'s environment before it: of the service's other succeeded
    /// deploys there, the one that finished last before `deploy` finished (or started, while it
    /// runs); ties to the lower id. What a compare look-up starts from.
    pub async fn previous_success(&self, deploy_id: i64) -> Result<Option<Deploy>> {
        let columns = DEPLOY_COLUMNS
            .split(", ")
            .map(|c| format!("p.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let row: Option<DeployRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select {columns} from deploy d join deploy p
                 on p.service = d.service and p.environment = d.environment
             where d.id = ? and p.id <> d.id and p.status = 'succeeded' and p.finished_at is not null
               and (p.finished_at, p.id) < (coalesce(d.finished_at, d.started_at), d.id)
             order by p.finished_at desc, p.id desc limit 1"
        )))
        .bind(deploy_id)
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
pub(super) fn deploy_from_row(row: &sqlx::any::AnyRow) -> Result<Deploy> {
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
