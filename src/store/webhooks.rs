//! Webhook deliveries already handled, and commit lookups (GitHub, GitLab) still owed.

use super::ids::{time_to_db, try_time_from_db};
use super::{Result, Store};
use chrono::{DateTime, Utc};

/// A deploy whose commit time is still to be fetched (a `commit_lookup` row).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CommitLookup {
    pub deploy_id: i64,
    /// `github` or `gitlab`.
    pub forge: String,
    /// GitHub's `owner/name`, GitLab's project id.
    pub repo: String,
    pub sha: String,
    pub attempts: i64,
}

impl Store {
    /// Whether this sender's delivery was already acted on.
    pub async fn delivery_seen(&self, source: &str, delivery_id: &str) -> Result<bool> {
        let seen: Option<i64> = sqlx::query_scalar(
            "select id from webhook_delivery where source = $1 and delivery_id = $2",
        )
        .bind(source)
        .bind(delivery_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(seen.is_some())
    }

    /// Remembers a delivery once its effects are committed. Recording the deploy first and the
    /// delivery second is safe: a crash in between makes the redelivery a no-op duplicate anyway,
    /// because `record_deploy` is idempotent per (source, external_id).
    pub async fn remember_delivery(
        &self,
        source: &str,
        delivery_id: &str,
        deploy_id: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "insert into webhook_delivery (source, delivery_id, deploy_id, received_at, created_at)
             values ($1, $2, $3, $4, $5) on conflict (source, delivery_id) do nothing",
        )
        .bind(source)
        .bind(delivery_id)
        .bind(deploy_id)
        .bind(time_to_db(now))
        .bind(time_to_db(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Owes `deploy_id` the list of commits it shipped, from `forge` (`github`, `gitlab`) for
    /// `repo`'s commit `sha`, unless it already has one. Returns whether a lookup is now pending.
    pub async fn queue_commit_lookup(
        &self,
        deploy_id: i64,
        forge: &str,
        repo: &str,
        sha: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let queued = sqlx::query(
            "insert into commit_lookup (deploy_id, forge, repo, sha, next_attempt_at, created_at)
             select $1, $2, $3, $4, $5, $6 where exists (select 1 from deploy where id = $7)
                 and not exists (select 1 from deploy_commit where deploy_id = $8)
             on conflict (deploy_id) do nothing",
        )
        .bind(deploy_id)
        .bind(forge)
        .bind(repo)
        .bind(sha)
        .bind(time_to_db(now))
        .bind(time_to_db(now))
        .bind(deploy_id)
        .bind(deploy_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(queued > 0)
    }

    /// Lookups due at `now`, oldest first.
    pub async fn due_commit_lookups(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<CommitLookup>> {
        Ok(sqlx::query_as(
            "select deploy_id, forge, repo, sha, attempts from commit_lookup
             where next_attempt_at <= $1 order by next_attempt_at, deploy_id limit $2",
        )
        .bind(time_to_db(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// When the next lookup is due, if any is pending.
    pub async fn next_commit_lookup_at(&self) -> Result<Option<DateTime<Utc>>> {
        let at: Option<i64> = sqlx::query_scalar("select min(next_attempt_at) from commit_lookup")
            .fetch_one(&self.pool)
            .await?;
        at.map(try_time_from_db).transpose()
    }

    /// Stores the commits the deploy shipped (sha, committer date), fills in its commit time from
    /// `head` (never overwriting one a sender gave) and settles the lookup, in one transaction.
    pub async fn commit_lookup_succeeded(
        &self,
        deploy_id: i64,
        commits: &[(String, DateTime<Utc>)],
        head: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let rows = serde_json::to_string(
            &commits
                .iter()
                .map(|(sha, at)| (sha, time_to_db(*at)))
                .collect::<Vec<_>>(),
        )
        .map_err(|e| super::StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "insert into deploy_commit (deploy_id, sha, committed_at, created_at)
             select $1, value ->> 0, cast(value ->> 1 as bigint), $2 from json_each($3) where true
             on conflict (deploy_id, sha) do nothing",
        )
        .bind(deploy_id)
        .bind(time_to_db(now))
        .bind(rows)
        .execute(&mut *tx)
        .await?;
        if let Some(head) = head {
            sqlx::query(
                "update deploy set commit_at = $1, updated_at = $2 where id = $3 and commit_at is null",
            )
            .bind(time_to_db(head))
            .bind(time_to_db(now))
            .bind(deploy_id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("delete from commit_lookup where deploy_id = $1")
            .bind(deploy_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt; `retry_at = None` gives up (the deploy keeps no commit time).
    pub async fn commit_lookup_failed(
        &self,
        deploy_id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        match retry_at {
            Some(at) => {
                sqlx::query(
                    "update commit_lookup set attempts = attempts + 1, last_error = $1, next_attempt_at = $2
                     where deploy_id = $3",
                )
                .bind(error)
                .bind(time_to_db(at))
                .bind(deploy_id)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("delete from commit_lookup where deploy_id = $1")
                    .bind(deploy_id)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }
}
