//! Deploys and the inbound events that report them.

use chrono::{DateTime, Utc};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use super::ids::{channel_to_db, time_from_db, time_to_db};
use super::{Result, Store, StoreError, WriteGate};
use crate::domain::deploy::{Deploy, DeployEvent, DeployStatus};
use crate::domain::subscription::{route, Kind};
use crate::domain::ChannelId;

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
    /// Records a deploy event in one transaction: the raw body, the deploy's new state, its
    /// status history, and an outbox row for every channel that should hear of it. When this
    /// returns, the event is committed. Events are group-committed: concurrent calls share one
    /// transaction (each in its own savepoint), so ingestion does not queue on SQLite's write lock.
    pub async fn record_deploy(
        &self,
        source: &str,
        raw_body: &str,
        event: &DeployEvent,
        default_channel: Option<ChannelId>,
        now: DateTime<Utc>,
    ) -> Result<DeployRecorded> {
        let (done, recorded) = oneshot::channel();
        let job = DeployJob {
            source: source.to_owned(),
            raw_body: raw_body.to_owned(),
            event: event.clone(),
            default_channel,
            now,
            done,
        };
        let stopped = || StoreError::Unavailable("the deploy writer has stopped".into());
        self.deploy_writer.send(job).await.map_err(|_| stopped())?;
        recorded.await.map_err(|_| stopped())?
    }

    pub async fn deploy(&self, id: i64) -> Result<Option<Deploy>> {
        let row = sqlx::query(&format!("select {DEPLOY_COLUMNS} from deploy where id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| deploy_from_row(&r)))
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
        Ok(sqlx::query(
            "insert into inbound_event (source, idempotency_key, body, received_at, created_at)
             values (?, ?, ?, ?, ?) returning id",
        )
        .bind(source)
        .bind(idempotency_key)
        .bind(body)
        .bind(now_db)
        .bind(now_db)
        .fetch_one(&mut *tx)
        .await?
        .get(0))
    }

    pub(super) async fn channels_showing(
        tx: &mut sqlx::SqliteConnection,
        subject: Subject,
    ) -> Result<Vec<ChannelId>> {
        let rows = sqlx::query(
            "select channel_id from message where subject_kind = ? and subject_id = ? order by id",
        )
        .bind(subject.kind())
        .bind(subject.id())
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows
            .iter()
            .map(|r| super::ids::channel_from_db(r.get(0)))
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
        let message_id: i64 = sqlx::query(
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
        .await?
        .get(0);
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

/// One event's share of a group commit; runs inside the batch's transaction.
async fn record_in(
    tx: &mut sqlx::SqliteConnection,
    job: &DeployJob,
    subscriptions: &[crate::domain::subscription::Subscription],
) -> Result<DeployRecorded> {
    let DeployJob {
        source,
        raw_body,
        event,
        default_channel,
        now,
        ..
    } = job;
    let (source, raw_body, default_channel, now) =
        (source.as_str(), raw_body.as_str(), *default_channel, *now);
    let now_db = time_to_db(now);

    let event_id = Store::insert_inbound_event(
        &mut *tx,
        source,
        Some(event.external_id.as_str()),
        raw_body,
        now,
    )
    .await?;

    let existing = sqlx::query(&format!(
        "select {DEPLOY_COLUMNS} from deploy where source = ? and external_id = ?"
    ))
    .bind(source)
    .bind(event.external_id.as_str())
    .fetch_optional(&mut *tx)
    .await?
    .map(|row| deploy_from_row(&row));

    let finished_at = event.status.is_terminal().then_some(now_db);
    let existing_was_none = existing.is_none();
    let (deploy_id, changed, status_changed) = match existing {
        None => {
            let id: i64 = sqlx::query(
                "insert into deploy (source, external_id, service, version, environment, status,
                        deployer, commit_sha, commit_at, url, changelog, started_at, finished_at,
                        updated_at, created_at)
                     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id",
            )
            .bind(source)
            .bind(event.external_id.as_str())
            .bind(event.service.as_str())
            .bind(event.version.as_str())
            .bind(event.environment.as_str())
            .bind(event.status.as_str())
            .bind(event.deployer.as_ref().map(|d| d.as_str()))
            .bind(event.commit_sha.as_ref().map(|c| c.as_str()))
            .bind(event.commit_at.map(time_to_db))
            .bind(event.url.as_ref().map(|u| u.as_str()))
            .bind(event.changelog.as_deref())
            .bind(now_db)
            .bind(finished_at)
            .bind(now_db)
            .bind(now_db)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
            (id, true, true)
        }
        Some(current) => {
            let merged = merge(&current, event);
            let status_changes = current.status.accepts(event.status);
            let status = if status_changes {
                event.status
            } else {
                current.status
            };
            let changed = status_changes || merged != current;
            if changed {
                sqlx::query(
                        "update deploy set status = ?, version = ?, deployer = ?, commit_sha = ?,
                            commit_at = ?, url = ?, changelog = ?,
                            finished_at = case when ? then coalesce(?, finished_at) else finished_at end,
                            updated_at = ?
                         where id = ?",
                    )
                    .bind(status.as_str())
                    .bind(&merged.version)
                    .bind(&merged.deployer)
                    .bind(&merged.commit_sha)
                    .bind(merged.commit_at.map(time_to_db))
                    .bind(&merged.url)
                    .bind(&merged.changelog)
                    .bind(status_changes)
                    .bind(finished_at)
                    .bind(now_db)
                    .bind(current.id)
                    .execute(&mut *tx)
                    .await?;
            }
            (current.id, changed, status_changes)
        }
    };

    if !changed {
        return Ok(DeployRecorded {
            deploy_id,
            changed,
            channels: Vec::new(),
        });
    }

    if status_changed {
        sqlx::query(
            "insert into deploy_status_change (deploy_id, status, event_id, at, created_at)
                 values (?, ?, ?, ?, ?)",
        )
        .bind(deploy_id)
        .bind(event.status.as_str())
        .bind(event_id)
        .bind(now_db)
        .bind(now_db)
        .execute(&mut *tx)
        .await?;
    }

    let mut channels = route(
        subscriptions,
        Kind::Deploys,
        event.service.as_str(),
        event.environment.as_str(),
        default_channel,
    );
    // A channel that already shows this deploy keeps getting its edits, even if it unsubscribed since.
    // (A deploy inserted just now is shown nowhere yet.)
    if !existing_was_none {
        for channel in Store::channels_showing(&mut *tx, Subject::Deploy(deploy_id)).await? {
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
    }
    for channel in &channels {
        Store::enqueue(&mut *tx, *channel, Subject::Deploy(deploy_id), now).await?;
    }
    Ok(DeployRecorded {
        deploy_id,
        changed,
        channels,
    })
}

/// A deploy event waiting for the group commit, with where to send its result.
pub(super) struct DeployJob {
    source: String,
    raw_body: String,
    event: DeployEvent,
    default_channel: Option<ChannelId>,
    now: DateTime<Utc>,
    done: oneshot::Sender<Result<DeployRecorded>>,
}

/// Starts the task that group-commits deploy events for one pool.
pub(super) fn spawn_deploy_writer(
    pool: sqlx::SqlitePool,
    gate: WriteGate,
) -> mpsc::Sender<DeployJob> {
    let (sender, receiver) = mpsc::channel(1024);
    tokio::spawn(deploy_writer(pool, gate, receiver));
    sender
}

/// Takes whatever events are waiting (up to 256), records them in one transaction, and answers
/// each only after the commit. An event that fails is rolled back to its savepoint alone.
async fn deploy_writer(
    pool: sqlx::SqlitePool,
    gate: WriteGate,
    mut receiver: mpsc::Receiver<DeployJob>,
) {
    let mut batch = Vec::new();
    while receiver.recv_many(&mut batch, 256).await > 0 {
        match commit_batch(&pool, &gate, &batch).await {
            Ok(results) => {
                for (job, result) in batch.drain(..).zip(results) {
                    let _ = job.done.send(result);
                }
            }
            Err(error) => {
                let reason = error.to_string();
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(StoreError::Unavailable(reason.clone())));
                }
            }
        }
    }
}

/// Records a batch: first all events in one go; only if one of them fails is the batch redone with a
/// savepoint per event, so a bad event costs the others nothing and the common case no extra statements.
async fn commit_batch(
    pool: &sqlx::SqlitePool,
    gate: &WriteGate,
    batch: &[DeployJob],
) -> Result<Vec<Result<DeployRecorded>>> {
    let mut tx = gate.begin(pool).await?;
    let subscriptions = Store::subscriptions_of_kind(&mut tx, Kind::Deploys).await?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        match record_in(&mut tx, job, &subscriptions).await {
            Ok(recorded) => results.push(Ok(recorded)),
            Err(_) => {
                tx.rollback().await?;
                return commit_batch_one_by_one(pool, gate, batch).await;
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}

async fn commit_batch_one_by_one(
    pool: &sqlx::SqlitePool,
    gate: &WriteGate,
    batch: &[DeployJob],
) -> Result<Vec<Result<DeployRecorded>>> {
    let mut tx = gate.begin(pool).await?;
    let subscriptions = Store::subscriptions_of_kind(&mut tx, Kind::Deploys).await?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        sqlx::query("savepoint deploy_event")
            .execute(&mut *tx)
            .await?;
        let result = record_in(&mut tx, job, &subscriptions).await;
        if result.is_err() {
            sqlx::query("rollback to deploy_event")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("release deploy_event")
            .execute(&mut *tx)
            .await?;
        results.push(result);
    }
    tx.commit().await?;
    Ok(results)
}

pub(super) const DEPLOY_COLUMNS: &str =
    "id, service, version, environment, status, deployer, commit_sha, \
     commit_at, url, changelog, started_at, finished_at";

pub(super) fn deploy_from_row(row: &sqlx::sqlite::SqliteRow) -> Deploy {
    let status: String = row.get("status");
    Deploy {
        id: row.get("id"),
        service: row.get("service"),
        version: row.get("version"),
        environment: row.get("environment"),
        // The column has a CHECK constraint listing exactly the domain's statuses.
        status: status.parse().unwrap_or(DeployStatus::Started),
        deployer: row.get("deployer"),
        commit_sha: row.get("commit_sha"),
        commit_at: row.get::<Option<i64>, _>("commit_at").map(time_from_db),
        url: row.get("url"),
        changelog: row.get("changelog"),
        started_at: time_from_db(row.get("started_at")),
        finished_at: row.get::<Option<i64>, _>("finished_at").map(time_from_db),
    }
}

/// The deploy with the event's details laid over it: a later event may add what an earlier
/// one lacked (a URL, a changelog), but never erases a detail by leaving it out.
fn merge(current: &Deploy, event: &DeployEvent) -> Deploy {
    Deploy {
        version: event.version.as_str().to_owned(),
        deployer: event
            .deployer
            .as_ref()
            .map(|d| d.as_str().to_owned())
            .or_else(|| current.deployer.clone()),
        commit_sha: event
            .commit_sha
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .or_else(|| current.commit_sha.clone()),
        commit_at: event.commit_at.or(current.commit_at),
        url: event
            .url
            .as_ref()
            .map(|u| u.as_str().to_owned())
            .or_else(|| current.url.clone()),
        changelog: event
            .changelog
            .clone()
            .or_else(|| current.changelog.clone()),
        ..current.clone()
    }
}
