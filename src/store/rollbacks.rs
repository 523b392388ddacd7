//! A responder marking a deploy rolled back from Discord (issue 16): the deploy's status becomes
//! `rolled_back`, the status change records who did it (migration 20261202175300), and every
//! channel that shows or routes the deploy gets its announcement edited (or posted), in one
//! transaction. The check-in job then cancels the deploy's scheduled check-ins, as it does for a
//! rollback a sender reports; the summary counts it as a change failure from the stored status.

use chrono::{DateTime, Utc};

use super::deploys::{deploy_from_row, DEPLOY_COLUMNS};
use super::ids::{time_to_db, to_db};
use super::outbox::Subject;
use super::{Result, Store};
use crate::domain::deploy::{Deploy, DeployStatus};
use crate::domain::rollback::{self, NotRolledBack};
use crate::domain::subscription::{route, Facet, Kind};
use crate::domain::ChannelId;

/// What marking a deploy rolled back did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackOutcome {
    /// Recorded; the channels whose announcement was queued for an edit or post.
    Marked {
        deploy: Deploy,
        channels: Vec<ChannelId>,
    },
    /// Nothing changed, and why (already rolled back, not deployed).
    Refused(Deploy, NotRolledBack),
    /// No such deploy (pruned).
    Missing,
}

/// The person who marked a deploy rolled back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledBackBy {
    pub user_id: u64,
    pub name: String,
}

impl Store {
    /// Marks deploy `deploy_id` rolled back by `by` at `now`: load → `domain::rollback::decide`
    /// → write, in one transaction.
    pub async fn mark_rolled_back(
        &self,
        deploy_id: i64,
        by: &RolledBackBy,
        now: DateTime<Utc>,
    ) -> Result<RollbackOutcome> {
        let now_db = time_to_db(now);
        let mut tx = self.begin_write().await?;
        let Some(mut deploy) = sqlx::query(&crate::store::numbered(&format!(
            "select {DEPLOY_COLUMNS} from deploy where id = ?"
        )))
        .bind(deploy_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| deploy_from_row(&row))
        .transpose()?
        else {
            return Ok(RollbackOutcome::Missing);
        };
        if let Err(refusal) = rollback::decide(deploy.status) {
            return Ok(RollbackOutcome::Refused(deploy, refusal));
        }
        // finished_at stays: the rollout finished when it did; when it was undone is the status
        // change's `at`.
        sqlx::query("update deploy set status = $1, updated_at = $2 where id = $3")
            .bind(DeployStatus::RolledBack.as_str())
            .bind(now_db)
            .bind(deploy.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "insert into deploy_status_change
                 (deploy_id, status, event_id, at, created_at, by_user_id, by_name)
             values ($1, $2, null, $3, $4, $5, $6)",
        )
        .bind(deploy.id)
        .bind(DeployStatus::RolledBack.as_str())
        .bind(now_db)
        .bind(now_db)
        .bind(to_db(by.user_id))
        .bind(&by.name)
        .execute(&mut *tx)
        .await?;
        deploy.status = DeployStatus::RolledBack;

        // The same channels a reported status change reaches (deploy_writer.rs): those routed by
        // subscription, and those already showing the deploy.
        let subscriptions = Store::subscriptions_of_kind(&mut tx, Kind::Deploys).await?;
        let mut channels = route(
            &subscriptions,
            Kind::Deploys,
            &deploy.service,
            &deploy.environment,
            Facet::Deploy { failed: true },
            None,
        );
        for channel in Store::channels_showing(&mut tx, Subject::Deploy(deploy.id)).await? {
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
        for channel in &channels {
            Store::enqueue(&mut tx, *channel, Subject::Deploy(deploy.id), now).await?;
        }
        tx.commit().await?;
        Ok(RollbackOutcome::Marked { deploy, channels })
    }
}

/// Who marked deploy `deploy_id` rolled back, when a person did (its latest such change).
pub(super) async fn rolled_back_by(
    conn: &mut sqlx::AnyConnection,
    deploy_id: i64,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "select by_name from deploy_status_change
         where deploy_id = $1 and status = 'rolled_back' and by_name is not null
         order by id desc limit 1",
    )
    .bind(deploy_id)
    .fetch_optional(&mut *conn)
    .await?)
}
