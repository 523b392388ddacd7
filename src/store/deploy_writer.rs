//! The deploy writer: deploy events are group-committed on a thread of their own. A batch is
//! first recorded in a few multi-row statements ([`record_batch`]); only if that fails is it
//! redone event by event ([`record_in`]), each in a savepoint. Benchmark-tuned: see
//! docs on ingestion before changing a statement here.

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::deploys::{deploy_from_row, DeployRecorded, DeployRow, DEPLOY_COLUMNS};
use super::ids::{channel_to_db, time_from_db, time_to_db};
use super::outbox::{Subject, SubjectKind};
use super::Backend;
use super::{Result, Store, StoreError, WriteGate};
use crate::domain::deploy::{Deploy, DeployEvent};
use crate::domain::subscription::{route, Facet, Kind};
use crate::domain::ChannelId;

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
}

/// One event's share of a group commit; runs inside the batch's transaction.
async fn record_in(
    tx: &mut sqlx::AnyConnection,
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

    let existing = sqlx::query(&crate::store::numbered(&format!(
        "select {DEPLOY_COLUMNS} from deploy where source = ? and external_id = ?"
    )))
    .bind(source)
    .bind(event.external_id.as_str())
    .fetch_optional(&mut *tx)
    .await?
    .map(|row| deploy_from_row(&row))
    .transpose()?;

    // The sender's time when it gives one (docs/deploys.md), in the stored milliseconds.
    let at = time_from_db(time_to_db(event.happened_at(now)));
    let at_db = time_to_db(at);
    let existing_was_none = existing.is_none();
    let (deploy_id, changed, status_changed, status_now) = match existing {
        None => {
            let first = Deploy::first_seen(0, event, at);
            let id: i64 = sqlx::query_scalar(
                "insert into deploy (source, external_id, service, version, environment, status,
                        deployer, commit_sha, commit_at, url, changelog, started_at, finished_at,
                        updated_at, created_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) returning id",
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
            .bind(time_to_db(first.started_at))
            .bind(first.finished_at.map(time_to_db))
            .bind(now_db)
            .bind(now_db)
            .fetch_one(&mut *tx)
            .await?;
            (id, true, true, event.status)
        }
        Some(current) => {
            let (next, status_changes) = current.after(event, at);
            let changed = next != current;
            if changed {
                sqlx::query(
                    "update deploy set status = $1, version = $2, deployer = $3, commit_sha = $4,
                            commit_at = $5, url = $6, changelog = $7, started_at = $8, finished_at = $9,
                            updated_at = $10
                         where id = $11",
                )
                .bind(next.status.as_str())
                .bind(&next.version)
                .bind(&next.deployer)
                .bind(&next.commit_sha)
                .bind(next.commit_at.map(time_to_db))
                .bind(&next.url)
                .bind(&next.changelog)
                .bind(time_to_db(next.started_at))
                .bind(next.finished_at.map(time_to_db))
                .bind(now_db)
                .bind(current.id)
                .execute(&mut *tx)
                .await?;
            }
            (current.id, changed, status_changes, next.status)
        }
    };

    // The commits it shipped, whatever else the event changes (a later event may add some).
    if !event.commits.is_empty() {
        let rows = commit_rows(deploy_id, event, now_db);
        sqlx::query(&crate::store::numbered(INSERT_COMMITS))
            .bind(json_rows(4, &rows))
            .execute(&mut *tx)
            .await?;
    }

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
                 values ($1, $2, $3, $4, $5)",
        )
        .bind(deploy_id)
        .bind(event.status.as_str())
        .bind(event_id)
        .bind(at_db)
        .bind(now_db)
        .execute(&mut *tx)
        .await?;
    }

    let mut channels = route(
        subscriptions,
        Kind::Deploys,
        event.service.as_str(),
        event.environment.as_str(),
        Facet::Deploy {
            failed: status_now.is_failure(),
        },
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

/// The batch's write transaction: SQLite's write lock from the first statement, or PostgreSQL's
/// write lock (writers take turns across replicas, see `backend::POSTGRES_WRITE_LOCK`).
async fn begin(conn: &mut sqlx::AnyConnection) -> Result<sqlx::Transaction<'_, sqlx::Any>> {
    Ok(match super::backend::of(conn) {
        Backend::Sqlite => sqlx::Connection::begin_with(&mut *conn, "begin immediate").await?,
        Backend::Postgres => {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::query(super::backend::POSTGRES_WRITE_LOCK)
                .execute(&mut *tx)
                .await?;
            tx
        }
    })
}

/// Records a batch: first all events in one go ([`record_batch`]); only if that fails is the batch
/// redone event by event ([`record_in`]) with a savepoint each, so a bad event costs the others nothing.
async fn commit_batch(
    conn: &mut sqlx::AnyConnection,
    batch: &[DeployJob],
) -> Result<Vec<Result<DeployRecorded>>> {
    let mut tx = begin(conn).await?;
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

/// A deploy's commits, from one JSON argument of `[deploy_id, sha, committed_at, created_at]` rows
/// (see [`json_rows`]); a sha already recorded for the deploy keeps its first row.
const INSERT_COMMITS: &str = "
with r(v) as materialized (select value from json_each(?))
insert into deploy_commit (deploy_id, sha, committed_at, created_at)
    select cast(v ->> 0 as bigint), v ->> 1, cast(v ->> 2 as bigint), cast(v ->> 3 as bigint)
    from r where true
    on conflict (deploy_id, sha) do nothing";

/// The `deploy_commit` rows of `event`'s commits, for [`INSERT_COMMITS`].
fn commit_rows(deploy_id: i64, event: &DeployEvent, now_db: i64) -> Vec<Arg<'_>> {
    event
        .commits
        .iter()
        .flat_map(|c| {
            [
                Arg::Int(Some(deploy_id)),
                Arg::Text(Some(c.sha.as_str())),
                Arg::Int(Some(time_to_db(c.committed_at))),
                Arg::Int(Some(now_db)),
            ]
        })
        .collect()
}

/// Every write of a batch, in one round trip to SQLite's thread: each statement reads its rows
/// from one JSON argument (`[]` when it has none). Parents first (foreign keys). Each row is taken
/// out of the array once (`materialized`): read straight off `json_each`, every `->>` would have
/// SQLite render that row as text and parse it again.
const WRITE_BATCH: &str = "
with r(v) as materialized (select value from json_each(?))
insert into inbound_event (id, source, idempotency_key, body, received_at, created_at)
    select cast(v ->> 0 as bigint), v ->> 1, v ->> 2, v ->> 3, cast(v ->> 4 as bigint),
        cast(v ->> 5 as bigint) from r;
with r(v) as materialized (select value from json_each(?))
insert into deploy (id, source, external_id, service, environment, started_at, created_at,
        status, version, deployer, commit_sha, commit_at, url, changelog, finished_at, updated_at)
    select cast(v ->> 0 as bigint), v ->> 1, v ->> 2, v ->> 3, v ->> 4, cast(v ->> 5 as bigint),
        cast(v ->> 6 as bigint), v ->> 7, v ->> 8, v ->> 9, v ->> 10, cast(v ->> 11 as bigint),
        v ->> 12, v ->> 13, cast(v ->> 14 as bigint), cast(v ->> 15 as bigint)
    from r;
with r(v) as materialized (select value from json_each(?))
update deploy set status = r.v ->> 1, version = r.v ->> 2, deployer = r.v ->> 3,
        commit_sha = r.v ->> 4, commit_at = cast(r.v ->> 5 as bigint), url = r.v ->> 6,
        changelog = r.v ->> 7, finished_at = cast(r.v ->> 8 as bigint),
        updated_at = cast(r.v ->> 9 as bigint), started_at = cast(r.v ->> 10 as bigint)
    from r where deploy.id = cast(r.v ->> 0 as bigint);
with r(v) as materialized (select value from json_each(?))
insert into deploy_commit (deploy_id, sha, committed_at, created_at)
    select cast(v ->> 0 as bigint), v ->> 1, cast(v ->> 2 as bigint), cast(v ->> 3 as bigint)
    from r where true
    on conflict (deploy_id, sha) do nothing;
with r(v) as materialized (select value from json_each(?))
insert into deploy_status_change (deploy_id, status, event_id, at, created_at)
    select cast(v ->> 0 as bigint), v ->> 1, cast(v ->> 2 as bigint), cast(v ->> 3 as bigint),
        cast(v ->> 4 as bigint) from r;
with r(v) as materialized (select value from json_each(?))
insert into message (id, channel_id, subject_kind, subject_id, updated_at, created_at)
    select cast(v ->> 0 as bigint), cast(v ->> 1 as bigint), v ->> 2, cast(v ->> 3 as bigint),
        cast(v ->> 4 as bigint), cast(v ->> 5 as bigint) from r;
with r(v) as materialized (select value from json_each(?))
update message set updated_at = cast(r.v ->> 1 as bigint) from r
    where message.id = cast(r.v ->> 0 as bigint);
with r(v) as materialized (select value from json_each(?))
insert into outbox (message_id, channel_id, due_at, created_at)
    select cast(v ->> 0 as bigint), cast(v ->> 1 as bigint), cast(v ->> 2 as bigint),
        cast(v ->> 3 as bigint) from r;
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
    /// When the batch created it (arrival time; `started_at` may be the sender's earlier time).
    created_at: i64,
    /// Messages showing it, oldest first: (channel, `message.id`).
    shown_in: Vec<(ChannelId, i64)>,
}

/// A stored deploy the batch names, with the columns the batch needs besides the deploy.
#[derive(sqlx::FromRow)]
struct StoredDeployRow {
    #[sqlx(flatten)]
    deploy: DeployRow,
    source: String,
    external_id: String,
    updated_at: i64,
}

/// A message already showing one of the batch's deploys.
#[derive(sqlx::FromRow)]
struct ShownRow {
    id: i64,
    channel_id: i64,
    subject_id: i64,
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
/// every event in memory, then writes. Row ids are assigned here: the writer holds the write lock
/// (SQLite's, or PostgreSQL's advisory one every writer takes), so the next ids are max + 1, as
/// SQLite itself would pick.
async fn record_batch(
    tx: &mut sqlx::AnyConnection,
    batch: &[DeployJob],
    subscriptions: &[crate::domain::subscription::Subscription],
) -> Result<Vec<DeployRecorded>> {
    let deploy_kind = SubjectKind::Deploy.as_str();
    let (mut last_event, mut last_deploy, mut last_message): (i64, i64, i64) = sqlx::query_as(
        "select (select coalesce(max(id), 0) from inbound_event), (select coalesce(max(id), 0) from deploy),
                (select coalesce(max(id), 0) from message)",
    )
    .fetch_one(&mut *tx)
    .await?;
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
    let stored: Vec<StoredDeployRow> = sqlx::query_as(&crate::store::numbered(&format!(
        "select {DEPLOY_COLUMNS}, source, external_id, updated_at from deploy
         where (source, external_id) in (select value ->> 0, value ->> 1 from json_each(?))"
    )))
    .bind(json_rows(2, &keys))
    .fetch_all(&mut *tx)
    .await?;
    let mut known: std::collections::HashMap<(String, String), Known> = stored
        .into_iter()
        .map(|r| {
            let key = (r.source, r.external_id);
            let known = Known {
                source: key.0.clone(),
                external_id: key.1.clone(),
                deploy: Deploy::try_from(r.deploy)?,
                stored: true,
                dirty: false,
                updated_at: r.updated_at,
                created_at: r.updated_at,
                shown_in: Vec::new(),
            };
            Ok((key, known))
        })
        .collect::<Result<_>>()?;
    let mut messages: Vec<MessageRow> = Vec::new();
    if !known.is_empty() {
        let ids: Vec<Arg> = known
            .values()
            .map(|k| Arg::Int(Some(k.deploy.id)))
            .collect();
        let shown: Vec<ShownRow> = sqlx::query_as(
            "select id, channel_id, subject_id, updated_at from message
             where subject_kind = $1
               and subject_id in (select cast(value ->> 0 as bigint) from json_each($2))
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
            let channel = super::ids::channel_from_db(r.channel_id);
            if let Some(k) = by_id.get(&r.subject_id).and_then(|key| known.get_mut(key)) {
                k.shown_in.push((channel, r.id));
            }
        }
    }

    let mut events: Vec<Arg> = Vec::new();
    let mut status_changes: Vec<Arg> = Vec::new();
    let mut commits: Vec<Arg> = Vec::new();
    let mut outbox: Vec<Arg> = Vec::new();
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let event = &job.event;
        let now_db = time_to_db(job.now);
        let at = time_from_db(time_to_db(event.happened_at(job.now)));
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
                let mut deploy = Deploy::first_seen(last_deploy, event, at);
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
                    created_at: now_db,
                    shown_in: Vec::new(),
                });
                (k, true, true)
            }
            std::collections::hash_map::Entry::Occupied(slot) => {
                let k = slot.into_mut();
                let (mut next, status_changes) = k.deploy.after(event, at);
                // Compared before rounding to the stored milliseconds, as `record_in` compares.
                let changed = next != k.deploy;
                next.commit_at = next.commit_at.map(|t| time_from_db(time_to_db(t)));
                if changed {
                    k.deploy = next;
                    k.updated_at = now_db;
                    k.dirty = true;
                }
                (k, changed, status_changes)
            }
        };
        let deploy_id = k.deploy.id;
        commits.extend(commit_rows(deploy_id, event, now_db));
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
                Arg::Int(Some(time_to_db(at))),
                Arg::Int(Some(now_db)),
            ]);
        }
        let mut channels = route(
            subscriptions,
            Kind::Deploys,
            event.service.as_str(),
            event.environment.as_str(),
            Facet::Deploy {
                failed: k.deploy.status.is_failure(),
            },
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
            updates.push(Arg::Int(Some(time_to_db(d.started_at))));
        } else {
            inserts.extend([
                Arg::Int(Some(d.id)),
                Arg::Text(Some(&k.source)),
                Arg::Text(Some(&k.external_id)),
                Arg::Text(Some(&d.service)),
                Arg::Text(Some(&d.environment)),
                Arg::Int(Some(time_to_db(d.started_at))),
                Arg::Int(Some(k.created_at)),
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
    let rows = [
        json_rows(6, &events),
        json_rows(16, &inserts),
        json_rows(11, &updates),
        json_rows(4, &commits),
        json_rows(5, &status_changes),
        json_rows(6, &message_inserts),
        json_rows(2, &message_updates),
        json_rows(4, &outbox),
    ];
    match super::backend::of(tx) {
        // One round trip to SQLite's thread for the whole batch.
        Backend::Sqlite => {
            let sql = crate::store::numbered(WRITE_BATCH);
            let mut query = sqlx::query(&sql);
            for part in &rows {
                query = query.bind(part);
            }
            query.execute(&mut *tx).await?;
        }
        // PostgreSQL prepares one statement at a time; the ids above were max + 1 under the
        // write lock, so the tables' sequences are moved past them for writers that let the
        // database pick.
        Backend::Postgres => {
            let statements = WRITE_BATCH.split(';').filter(|s| !s.trim().is_empty());
            for (statement, part) in statements.zip(&rows) {
                sqlx::query(&crate::store::numbered(statement))
                    .bind(part)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "select setval(pg_get_serial_sequence('inbound_event', 'id'),
                               (select coalesce(max(id), 0) + 1 from inbound_event), false),
                        setval(pg_get_serial_sequence('deploy', 'id'),
                               (select coalesce(max(id), 0) + 1 from deploy), false),
                        setval(pg_get_serial_sequence('message', 'id'),
                               (select coalesce(max(id), 0) + 1 from message), false)",
            )
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(results)
}

async fn commit_batch_one_by_one(
    conn: &mut sqlx::AnyConnection,
    batch: &[DeployJob],
) -> Result<Vec<Result<DeployRecorded>>> {
    let mut tx = begin(conn).await?;
    let subscriptions = Store::subscriptions_of_kind(&mut tx, Kind::Deploys).await?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        sqlx::query("savepoint deploy_event")
            .execute(&mut *tx)
            .await?;
        let result = record_in(&mut tx, job, &subscriptions).await;
        if result.is_err() {
            sqlx::query("rollback to savepoint deploy_event")
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

#[cfg(test)]
#[path = "deploy_writer_tests.rs"]
mod tests;
