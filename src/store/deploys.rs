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

/// Starts the task that group-commits deploy events for one pool, on a thread of its own: a
/// batch is a few round trips to SQLite's thread, and on the shared runtime each reply would
/// wait behind the HTTP requests in the run queue while the writer connection sits idle.
pub(super) fn spawn_deploy_writer(gate: WriteGate) -> std::io::Result<mpsc::Sender<DeployJob>> {
    let (sender, receiver) = mpsc::channel(1024);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Ends when the last sender (the store) is dropped.
    std::thread::Builder::new()
        .name("deploy-writer".into())
        .spawn(move || runtime.block_on(deploy_writer(gate, receiver)))?;
    Ok(sender)
}

/// Takes whatever events are waiting (up to 256), records them in one transaction, and answers
/// each only after the commit. An event that fails is rolled back to its savepoint alone.
async fn deploy_writer(gate: WriteGate, mut receiver: mpsc::Receiver<DeployJob>) {
    let mut batch = Vec::new();
    while receiver.recv_many(&mut batch, 256).await > 0 {
        // Keep the writer connection while batches are waiting, up to WRITER_TURN: handing it
        // back and taking it again costs a trip through the runtime per batch. Other writers
        // (deliveries, check-ins, commands) get it at least every WRITER_TURN.
        let turn = std::time::Instant::now();
        let mut conn = match gate.acquire().await {
            Ok(conn) => Some(conn),
            Err(error) => {
                answer_all(&mut batch, &error);
                None
            }
        };
        while let Some(held) = conn.as_mut() {
            match commit_batch(held, &batch).await {
                Ok(results) => {
                    for (job, result) in batch.drain(..).zip(results) {
                        let _ = job.done.send(result);
                    }
                }
                Err(error) => {
                    answer_all(&mut batch, &error);
                    // A connection that failed (a full disk) goes back to the pool to be checked.
                    break;
                }
            }
            if turn.elapsed() >= WRITER_TURN
                || receiver.is_empty()
                || receiver.recv_many(&mut batch, 256).await == 0
            {
                break;
            }
        }
    }
}

/// How long the deploy writer keeps the writer connection while batches keep coming.
const WRITER_TURN: std::time::Duration = std::time::Duration::from_millis(25);

fn answer_all(batch: &mut Vec<DeployJob>, error: &StoreError) {
    let reason = error.to_string();
    for job in batch.drain(..) {
        let _ = job.done.send(Err(StoreError::Unavailable(reason.clone())));
    }
}

/// Records a batch: first all events in one go ([`record_batch`]); only if that fails is the batch
/// redone event by event ([`record_in`]) with a savepoint each, so a bad event costs the others nothing.
async fn commit_batch(
    conn: &mut sqlx::SqliteConnection,
    batch: &[DeployJob],
) -> Result<Vec<Result<DeployRecorded>>> {
    let mut tx = sqlx::Connection::begin_with(&mut *conn, "begin immediate").await?;
    let subscriptions = Store::subscriptions_of_kind(&mut tx, Kind::Deploys).await?;
    match record_batch(&mut tx, batch, &subscriptions).await {
        Ok(results) => {
            tx.commit().await?;
            Ok(results.into_iter().map(Ok).collect())
        }
        Err(_) => {
            tx.rollback().await?;
            commit_batch_one_by_one(conn, batch).await
        }
    }
}

/// A value in a row handed to SQLite as JSON (see [`json_rows`]).
#[derive(Debug, Clone, Copy)]
enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}

impl serde::Serialize for Arg<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match *self {
            Arg::Int(Some(v)) => s.serialize_i64(v),
            Arg::Text(Some(v)) => s.serialize_str(v),
            Arg::Int(None) | Arg::Text(None) => s.serialize_none(),
        }
    }
}

/// `args`, `width` per row, as one JSON array of rows: bound as a single argument and read back
/// with `json_each(?)`, so one statement text (prepared once) takes any number of rows.
fn json_rows(width: usize, args: &[Arg<'_>]) -> String {
    debug_assert!(
        width > 0 && args.len().is_multiple_of(width),
        "whole rows only"
    );
    serde_json::to_string(&args.chunks(width).collect::<Vec<_>>())
        .expect("integers and strings always serialise")
}

/// Every write of a batch, in one round trip to SQLite's thread: each statement reads its rows
/// from one JSON argument (`[]` when it has none). Parents first (foreign keys). Each row is taken
/// out of the array once (`materialized`): read straight off `json_each`, every `->>` would have
/// SQLite render that row as text and parse it again.
const WRITE_BATCH: &str = "
with r(v) as materialized (select value from json_each(?))
insert into inbound_event (id, source, idempotency_key, body, received_at, created_at)
    select v ->> 0, v ->> 1, v ->> 2, v ->> 3, v ->> 4, v ->> 5 from r;
with r(v) as materialized (select value from json_each(?))
insert into deploy (id, source, external_id, service, environment, started_at, created_at,
        status, version, deployer, commit_sha, commit_at, url, changelog, finished_at, updated_at)
    select v ->> 0, v ->> 1, v ->> 2, v ->> 3, v ->> 4, v ->> 5, v ->> 6, v ->> 7, v ->> 8, v ->> 9,
        v ->> 10, v ->> 11, v ->> 12, v ->> 13, v ->> 14, v ->> 15
    from r;
with r(v) as materialized (select value from json_each(?))
update deploy set status = r.v ->> 1, version = r.v ->> 2, deployer = r.v ->> 3,
        commit_sha = r.v ->> 4, commit_at = r.v ->> 5, url = r.v ->> 6, changelog = r.v ->> 7,
        finished_at = r.v ->> 8, updated_at = r.v ->> 9
    from r where deploy.id = r.v ->> 0;
with r(v) as materialized (select value from json_each(?))
insert into deploy_status_change (deploy_id, status, event_id, at, created_at)
    select v ->> 0, v ->> 1, v ->> 2, v ->> 3, v ->> 4 from r;
with r(v) as materialized (select value from json_each(?))
insert into message (id, channel_id, subject_kind, subject_id, updated_at, created_at)
    select v ->> 0, v ->> 1, v ->> 2, v ->> 3, v ->> 4, v ->> 5 from r;
with r(v) as materialized (select value from json_each(?))
update message set updated_at = r.v ->> 1 from r where message.id = r.v ->> 0;
with r(v) as materialized (select value from json_each(?))
insert into outbox (message_id, channel_id, due_at, created_at)
    select v ->> 0, v ->> 1, v ->> 2, v ->> 3 from r;
";

/// A deploy this batch touches, as it stands after the events recorded so far.
struct Known {
    source: String,
    external_id: String,
    deploy: Deploy,
    /// Stored before this batch (updated at the end) rather than created by it (inserted).
    stored: bool,
    dirty: bool,
    updated_at: i64,
    /// Messages showing it, oldest first: (channel, `message.id`).
    shown_in: Vec<(ChannelId, i64)>,
}

/// A `message` row this batch creates or touches.
struct MessageRow {
    id: i64,
    channel: ChannelId,
    deploy_id: i64,
    updated_at: i64,
    created_at: i64,
    new: bool,
}

/// The whole batch in a few multi-row statements, with the same outcome, row for row and id for
/// id, as [`record_in`] run for each event in order (a test holds the two to that). It works out
/// every event in memory, then writes. Row ids are assigned here: the writer holds SQLite's write
/// lock, so the next ids are max + 1, as SQLite itself would pick.
async fn record_batch(
    tx: &mut sqlx::SqliteConnection,
    batch: &[DeployJob],
    subscriptions: &[crate::domain::subscription::Subscription],
) -> Result<Vec<DeployRecorded>> {
    let deploy_kind = Subject::Deploy(0).kind();
    let row = sqlx::query(
        "select (select coalesce(max(id), 0) from inbound_event), (select coalesce(max(id), 0) from deploy),
                (select coalesce(max(id), 0) from message)",
    )
    .fetch_one(&mut *tx)
    .await?;
    let (mut last_event, mut last_deploy, mut last_message): (i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2));
    let first_new_message = last_message + 1;

    // The stored deploys the batch names, and the messages showing them.
    let keys: Vec<Arg> = batch
        .iter()
        .flat_map(|j| {
            [
                Arg::Text(Some(&j.source)),
                Arg::Text(Some(j.event.external_id.as_str())),
            ]
        })
        .collect();
    let stored = sqlx::query(&format!(
        "select {DEPLOY_COLUMNS}, source, external_id, updated_at from deploy
         where (source, external_id) in (select value ->> 0, value ->> 1 from json_each(?))"
    ))
    .bind(json_rows(2, &keys))
    .fetch_all(&mut *tx)
    .await?;
    let mut known: std::collections::HashMap<(String, String), Known> = stored
        .iter()
        .map(|r| {
            let key: (String, String) = (r.get("source"), r.get("external_id"));
            let known = Known {
                source: key.0.clone(),
                external_id: key.1.clone(),
                deploy: deploy_from_row(r),
                stored: true,
                dirty: false,
                updated_at: r.get("updated_at"),
                shown_in: Vec::new(),
            };
            (key, known)
        })
        .collect();
    let mut messages: Vec<MessageRow> = Vec::new();
    if !known.is_empty() {
        let ids: Vec<Arg> = known
            .values()
            .map(|k| Arg::Int(Some(k.deploy.id)))
            .collect();
        let shown = sqlx::query(
            "select id, channel_id, subject_id, updated_at from message
             where subject_kind = ? and subject_id in (select value ->> 0 from json_each(?))
             order by id",
        )
        .bind(deploy_kind)
        .bind(json_rows(1, &ids))
        .fetch_all(&mut *tx)
        .await?;
        let by_id: std::collections::HashMap<i64, (String, String)> = known
            .iter()
            .map(|(key, k)| (k.deploy.id, key.clone()))
            .collect();
        for r in &shown {
            let deploy_id: i64 = r.get("subject_id");
            let channel = super::ids::channel_from_db(r.get("channel_id"));
            if let Some(k) = by_id.get(&deploy_id).and_then(|key| known.get_mut(key)) {
                k.shown_in.push((channel, r.get("id")));
            }
        }
    }

    let mut events: Vec<Arg> = Vec::new();
    let mut status_changes: Vec<Arg> = Vec::new();
    let mut outbox: Vec<Arg> = Vec::new();
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let event = &job.event;
        let now_db = time_to_db(job.now);
        last_event += 1;
        let event_id = last_event;
        events.extend([
            Arg::Int(Some(event_id)),
            Arg::Text(Some(&job.source)),
            Arg::Text(Some(event.external_id.as_str())),
            Arg::Text(Some(&job.raw_body)),
            Arg::Int(Some(now_db)),
            Arg::Int(Some(now_db)),
        ]);
        let key = (job.source.clone(), event.external_id.as_str().to_owned());
        let existed = known.contains_key(&key);
        let (k, changed, status_changed) = match known.entry(key) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                last_deploy += 1;
                let mut deploy = Deploy::first_seen(last_deploy, event, time_from_db(now_db));
                // As stored: milliseconds.
                deploy.commit_at = deploy.commit_at.map(|t| time_from_db(time_to_db(t)));
                let (source, external_id) = slot.key().clone();
                let k = slot.insert(Known {
                    source,
                    external_id,
                    deploy,
                    stored: false,
                    dirty: false,
                    updated_at: now_db,
                    shown_in: Vec::new(),
                });
                (k, true, true)
            }
            std::collections::hash_map::Entry::Occupied(slot) => {
                let k = slot.into_mut();
                let current = &k.deploy;
                let mut merged = merge(current, event);
                let status_changes = current.status.accepts(event.status);
                // Compared before rounding to the stored milliseconds, as `record_in` compares.
                let changed = status_changes || merged != *current;
                merged.commit_at = merged.commit_at.map(|t| time_from_db(time_to_db(t)));
                if changed {
                    if status_changes {
                        let finished_at = event.status.is_terminal().then(|| time_from_db(now_db));
                        merged.status = event.status;
                        merged.finished_at = finished_at.or(current.finished_at);
                    }
                    k.deploy = merged;
                    k.updated_at = now_db;
                    k.dirty = true;
                }
                (k, changed, status_changes)
            }
        };
        let deploy_id = k.deploy.id;
        if !changed {
            results.push(DeployRecorded {
                deploy_id,
                changed,
                channels: Vec::new(),
            });
            continue;
        }
        if status_changed {
            status_changes.extend([
                Arg::Int(Some(deploy_id)),
                Arg::Text(Some(event.status.as_str())),
                Arg::Int(Some(event_id)),
                Arg::Int(Some(now_db)),
                Arg::Int(Some(now_db)),
            ]);
        }
        let mut channels = route(
            subscriptions,
            Kind::Deploys,
            event.service.as_str(),
            event.environment.as_str(),
            job.default_channel,
        );
        if existed {
            for (channel, _) in &k.shown_in {
                if !channels.contains(channel) {
                    channels.push(*channel);
                }
            }
        }
        for channel in &channels {
            let message_id = match k.shown_in.iter().find(|(c, _)| c == channel) {
                Some(&(_, id)) => id,
                None => {
                    last_message += 1;
                    k.shown_in.push((*channel, last_message));
                    last_message
                }
            };
            match messages.iter_mut().find(|m| m.id == message_id) {
                Some(m) => m.updated_at = now_db,
                None => messages.push(MessageRow {
                    id: message_id,
                    channel: *channel,
                    deploy_id,
                    updated_at: now_db,
                    created_at: now_db,
                    new: message_id >= first_new_message,
                }),
            }
            outbox.extend([
                Arg::Int(Some(message_id)),
                Arg::Int(Some(channel_to_db(*channel))),
                Arg::Int(Some(now_db)),
                Arg::Int(Some(now_db)),
            ]);
        }
        results.push(DeployRecorded {
            deploy_id,
            changed,
            channels,
        });
    }

    let mut touched: Vec<&Known> = known.values().filter(|k| !k.stored || k.dirty).collect();
    touched.sort_by_key(|k| k.deploy.id);
    let mut inserts = Vec::new();
    let mut updates = Vec::new();
    for k in touched {
        let d = &k.deploy;
        let details = [
            Arg::Text(Some(d.status.as_str())),
            Arg::Text(Some(&d.version)),
            Arg::Text(d.deployer.as_deref()),
            Arg::Text(d.commit_sha.as_deref()),
            Arg::Int(d.commit_at.map(time_to_db)),
            Arg::Text(d.url.as_deref()),
            Arg::Text(d.changelog.as_deref()),
            Arg::Int(d.finished_at.map(time_to_db)),
            Arg::Int(Some(k.updated_at)),
        ];
        if k.stored {
            updates.push(Arg::Int(Some(d.id)));
            updates.extend(details);
        } else {
            inserts.extend([
                Arg::Int(Some(d.id)),
                Arg::Text(Some(&k.source)),
                Arg::Text(Some(&k.external_id)),
                Arg::Text(Some(&d.service)),
                Arg::Text(Some(&d.environment)),
                Arg::Int(Some(time_to_db(d.started_at))),
                Arg::Int(Some(time_to_db(d.started_at))),
            ]);
            inserts.extend(details);
        }
    }
    let (mut new_messages, old_messages): (Vec<&MessageRow>, Vec<&MessageRow>) =
        messages.iter().partition(|m| m.new);
    new_messages.sort_by_key(|m| m.id);
    let message_inserts: Vec<Arg> = new_messages
        .iter()
        .flat_map(|m| {
            [
                Arg::Int(Some(m.id)),
                Arg::Int(Some(channel_to_db(m.channel))),
                Arg::Text(Some(deploy_kind)),
                Arg::Int(Some(m.deploy_id)),
                Arg::Int(Some(m.updated_at)),
                Arg::Int(Some(m.created_at)),
            ]
        })
        .collect();
    let message_updates: Vec<Arg> = old_messages
        .iter()
        .flat_map(|m| [Arg::Int(Some(m.id)), Arg::Int(Some(m.updated_at))])
        .collect();
    sqlx::query(WRITE_BATCH)
        .bind(json_rows(6, &events))
        .bind(json_rows(16, &inserts))
        .bind(json_rows(10, &updates))
        .bind(json_rows(5, &status_changes))
        .bind(json_rows(6, &message_inserts))
        .bind(json_rows(2, &message_updates))
        .bind(json_rows(4, &outbox))
        .execute(&mut *tx)
        .await?;
    Ok(results)
}

async fn commit_batch_one_by_one(
    conn: &mut sqlx::SqliteConnection,
    batch: &[DeployJob],
) -> Result<Vec<Result<DeployRecorded>>> {
    let mut tx = sqlx::Connection::begin_with(&mut *conn, "begin immediate").await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::deploy::RawDeployEvent;
    use proptest::prelude::*;

    /// One generated event: (key, service, production?, status, deployer, url, changelog, commit_at).
    type Spec = (
        u8,
        u8,
        bool,
        u8,
        Option<u8>,
        Option<u8>,
        Option<String>,
        Option<u32>,
    );

    fn job(spec: &Spec, n: usize) -> DeployJob {
        let (key, service, production, status, deployer, url, changelog, commit_at) = spec;
        let raw = RawDeployEvent {
            id: Some(format!("k{key}")),
            service: Some(format!("svc-{service}")),
            version: Some(format!("v{n}")),
            environment: Some(if *production { "production" } else { "staging" }.into()),
            status: Some(
                ["started", "succeeded", "failed", "rolled_back"][*status as usize % 4].into(),
            ),
            deployer: deployer.map(|d| format!("dev{d}")),
            url: url.map(|u| format!("https://ci.example.com/{u}")),
            changelog: changelog.clone(),
            // Sub-millisecond precision: the store keeps milliseconds.
            commit_at: commit_at.map(|s| format!("2026-11-01T00:00:{:02}.{:06}Z", s % 60, s)),
            ..Default::default()
        };
        let event = DeployEvent::parse(&raw).expect("generated events are valid");
        DeployJob {
            source: "api".into(),
            raw_body: format!("{{\"n\":{n}}}"),
            event,
            default_channel: (!n.is_multiple_of(3)).then_some(ChannelId(7)),
            now: DateTime::from_timestamp_millis(1_800_000_000_000 + (n as i64 / 2) * 1000)
                .unwrap(),
            done: oneshot::channel().0,
        }
    }

    async fn fresh() -> (sqlx::SqlitePool, tempfile::TempDir) {
        let (store, dir) = Store::temporary().await;
        // A channel subscribed to one service's deploys, another to production.
        sqlx::query(
            "insert into subscription (channel_id, kind, service_pattern, environment_pattern, created_at)
             values (11, 'deploys', 'svc-1', '*', 0), (12, 'deploys', '*', 'production', 0)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        (store.pool().clone(), dir)
    }

    async fn one_by_one(pool: &sqlx::SqlitePool, jobs: &[DeployJob]) -> Vec<DeployRecorded> {
        let mut tx = pool.begin().await.unwrap();
        let subscriptions = Store::subscriptions_of_kind(&mut tx, Kind::Deploys)
            .await
            .unwrap();
        let mut out = Vec::new();
        for job in jobs {
            out.push(record_in(&mut tx, job, &subscriptions).await.unwrap());
        }
        tx.commit().await.unwrap();
        out
    }

    async fn dump(pool: &sqlx::SqlitePool) -> Vec<String> {
        let mut out = Vec::new();
        for table in [
            "inbound_event",
            "deploy",
            "deploy_status_change",
            "deploy_latest_success",
            "message",
            "outbox",
        ] {
            let columns: Vec<String> = sqlx::query_scalar("select name from pragma_table_info(?)")
                .bind(table)
                .fetch_all(pool)
                .await
                .unwrap();
            let rows: Vec<String> = sqlx::query_scalar(&format!(
                "select json_array({}) from {table} order by 1",
                columns.join(", ")
            ))
            .fetch_all(pool)
            .await
            .unwrap();
            assert!(!columns.is_empty());
            out.push(format!("{table}: {}", rows.join("\n")));
        }
        out
    }

    /// The batch hands text to SQLite inside JSON; what comes back must be the text that went in,
    /// control characters and all.
    #[tokio::test]
    async fn text_passed_through_json_comes_back_byte_for_byte() {
        let changelog = "nul \0 quote \" backslash \\ bell \u{7} é 😀 \u{2028}";
        let mut job = job(&(1, 1, true, 1, None, None, None, None), 0);
        job.event.changelog = Some(changelog.to_owned());
        job.raw_body = format!("{{\"changelog\": {changelog:?}}}");
        let (pool, _dir) = fresh().await;
        let mut tx = pool.begin().await.unwrap();
        let subscriptions = Store::subscriptions_of_kind(&mut tx, Kind::Deploys)
            .await
            .unwrap();
        let recorded = record_batch(&mut tx, std::slice::from_ref(&job), &subscriptions)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let (stored, body): (String, String) = sqlx::query_as(
            "select d.changelog, e.body from deploy d, inbound_event e where d.id = ? and e.id = 1",
        )
        .bind(recorded[0].deploy_id)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(stored, changelog);
        assert_eq!(body, job.raw_body);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// The batch path is an optimisation only: after some events recorded one by one, the rest
        /// recorded as one batch leave every table exactly as recording them one by one does.
        #[test]
        fn a_batch_records_exactly_what_one_by_one_records(
            specs in proptest::collection::vec(
                (0u8..4, 0u8..3, any::<bool>(), 0u8..4, proptest::option::of(0u8..3),
                 proptest::option::of(0u8..3), proptest::option::of("(\\PC|[\\x00-\\x1f\"\\\\]){0,8}"),
                 proptest::option::of(0u32..100_000)),
                1..40),
            split in 0usize..40,
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let jobs: Vec<DeployJob> = specs.iter().enumerate().map(|(n, s)| job(s, n)).collect();
                let split = split.min(jobs.len());
                let (reference, _a) = fresh().await;
                let expected = one_by_one(&reference, &jobs).await;

                let (batched, _b) = fresh().await;
                one_by_one(&batched, &jobs[..split]).await;
                let mut tx = batched.begin().await.unwrap();
                let subscriptions = Store::subscriptions_of_kind(&mut tx, Kind::Deploys).await.unwrap();
                let got = record_batch(&mut tx, &jobs[split..], &subscriptions).await.unwrap();
                tx.commit().await.unwrap();

                assert_eq!(got, expected[split..].to_vec());
                assert_eq!(dump(&batched).await, dump(&reference).await);
            });
        }
    }
}
