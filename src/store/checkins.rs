//! Check-ins and deployer links (migration 20261124000200_checkins.sql). The check-in job's run
//! loads facts, lets `domain::checkin_schedule` decide, and writes the outcome in small steps.

use chrono::{DateTime, Utc};

use super::deploys::{deploy_from_row, DEPLOY_COLUMNS};
use super::feedback::{tally, TallyOf};
use super::ids::{channel_from_db, checked_time_from_db, from_db, time_from_db, time_to_db, to_db};
use super::outbox::Subject;
use super::{Result, Store, StoreError};
use crate::domain::checkin::{Checkin, CheckinSettings, CheckinView};
use crate::domain::checkin_schedule::{
    self as rules, FinishedDeploy, LatestSuccess, NewCheckin, Pending,
};
use crate::domain::subscription::Kind;
use crate::domain::ChannelId;

/// Deploy status changes considered per transaction by the check-in job.
const SCHEDULE_CHUNK: usize = 256;

/// What one run of the check-in job changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckinRun {
    /// Check-in rows created for newly finished deploys.
    pub scheduled: usize,
    /// The last deploy status change this run looked at for scheduling: the next run starts after it.
    pub considered_through: i64,
    /// Check-ins cancelled because their deploy was rolled back or superseded before they were due.
    pub cancelled: Vec<i64>,
    /// Check-ins claimed and queued for posting.
    pub opened: Vec<i64>,
    /// Check-ins closed and queued for their tally edit.
    pub closed: Vec<i64>,
}

impl CheckinRun {
    pub fn queued_messages(&self) -> bool {
        !(self.cancelled.is_empty() && self.opened.is_empty() && self.closed.is_empty())
    }
}

/// A stored time read into a domain value: out of chrono's range is corruption, not a default.
fn stored_time(what: &str, millis: i64) -> Result<DateTime<Utc>> {
    checked_time_from_db(millis).ok_or_else(|| StoreError::Corrupt(format!("{what} {millis}")))
}

fn stored_status(what: &str, status: &str) -> Result<crate::domain::deploy::DeployStatus> {
    status
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

const CHECKIN_COLUMNS: &str = "id, deploy_id, channel_id, state, due_at, late, close_at, \
     mention_user_id, message_id, thread_id, cancel_reason";

#[derive(sqlx::FromRow)]
struct CheckinRow {
    id: i64,
    deploy_id: i64,
    channel_id: i64,
    state: String,
    due_at: i64,
    #[sqlx(try_from = "super::ids::Flag")]
    late: bool,
    close_at: Option<i64>,
    mention_user_id: Option<i64>,
    message_id: Option<i64>,
    thread_id: Option<i64>,
    cancel_reason: Option<String>,
}

impl TryFrom<CheckinRow> for Checkin {
    type Error = StoreError;
    fn try_from(row: CheckinRow) -> Result<Self> {
        let id = row.id;
        Ok(Checkin {
            id,
            deploy_id: row.deploy_id,
            channel_id: from_db(row.channel_id),
            state: row
                .state
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("checkin {id}: {e}")))?,
            due_at: stored_time(&format!("checkin {id} due_at"), row.due_at)?,
            late: row.late,
            close_at: row
                .close_at
                .map(|at| stored_time(&format!("checkin {id} close_at"), at))
                .transpose()?,
            mention_user_id: row.mention_user_id.map(from_db),
            message_id: row.message_id.map(from_db),
            thread_id: row.thread_id.map(from_db),
            cancel_reason: row.cancel_reason,
        })
    }
}

/// A deploy status change to `succeeded`, with the facts scheduling needs.
#[derive(sqlx::FromRow)]
struct StatusChangeRow {
    change_id: i64,
    deploy_id: i64,
    service: String,
    environment: String,
    status: String,
    finished_at: Option<i64>,
    #[sqlx(try_from = "super::ids::Flag")]
    already_scheduled: bool,
    latest_success_at: Option<i64>,
    /// JSON array of the channels that announced the deploy, in order.
    channels: String,
}

impl TryFrom<StatusChangeRow> for FinishedDeploy {
    type Error = StoreError;
    fn try_from(row: StatusChangeRow) -> Result<Self> {
        let id = row.deploy_id;
        let channels: Vec<i64> = serde_json::from_str(&row.channels)
            .map_err(|e| StoreError::Corrupt(format!("deploy {id} channels: {e}")))?;
        Ok(FinishedDeploy {
            deploy_id: id,
            status: stored_status(&format!("deploy {id}"), &row.status)?,
            finished_at: row
                .finished_at
                .map(|at| stored_time(&format!("deploy {id} finished_at"), at))
                .transpose()?,
            already_scheduled: row.already_scheduled,
            latest_success_at: row
                .latest_success_at
                .map(|at| stored_time("deploy_latest_success.finished_at", at))
                .transpose()?,
            announced_in: channels.into_iter().map(channel_from_db).collect(),
            service: row.service,
            environment: row.environment,
        })
    }
}

/// A scheduled check-in with its deploy's state and the latest success of its service.
#[derive(sqlx::FromRow)]
struct PendingRow {
    checkin_id: i64,
    deploy_status: String,
    deploy_finished_at: Option<i64>,
    latest_version: Option<String>,
    latest_finished_at: Option<i64>,
}

impl TryFrom<PendingRow> for Pending {
    type Error = StoreError;
    fn try_from(row: PendingRow) -> Result<Self> {
        let id = row.checkin_id;
        let latest_success = match (row.latest_version, row.latest_finished_at) {
            (Some(version), Some(at)) => Some(LatestSuccess {
                version,
                finished_at: stored_time("deploy_latest_success.finished_at", at)?,
            }),
            (None, None) => None,
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "checkin {id}: a latest success without its deploy"
                )))
            }
        };
        Ok(Pending {
            checkin_id: id,
            deploy_status: stored_status(&format!("deploy of checkin {id}"), &row.deploy_status)?,
            deploy_finished_at: row
                .deploy_finished_at
                .map(|at| stored_time(&format!("deploy of checkin {id} finished_at"), at))
                .transpose()?,
            latest_success,
        })
    }
}

/// The check-in with its deploy and tally, as its message shows it.
pub(super) async fn checkin_view(
    conn: &mut sqlx::AnyConnection,
    id: i64,
) -> Result<Option<CheckinView>> {
    let Some(row) = sqlx::query_as::<_, CheckinRow>(&crate::store::numbered(&format!(
        "select {CHECKIN_COLUMNS} from checkin where id = ?"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let checkin = Checkin::try_from(row)?;
    let Some(deploy) = sqlx::query(&crate::store::numbered(&format!(
        "select {DEPLOY_COLUMNS} from deploy where id = ?"
    )))
    .bind(checkin.deploy_id)
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| deploy_from_row(&r))
    .transpose()?
    else {
        return Ok(None);
    };
    let tally = tally(conn, TallyOf::Checkin(id)).await?;
    let health = super::health::health_of(conn, id).await?;
    Ok(Some(CheckinView {
        checkin,
        deploy,
        tally,
        health,
    }))
}

impl Store {
    /// One run of the check-in job as of `now`:
    /// 1. schedules check-ins for deploys that succeeded since the last run (`since`, a deploy
    ///    status change id), in chunks, each its own transaction; scheduling twice creates nothing;
    ///
    /// then, in one transaction:
    /// 2. cancels scheduled check-ins whose deploy was rolled back or superseded (noting it in the
    ///    thread of an earlier check-in of the same deploy, if there is one);
    /// 3. claims the check-ins due at `now` and queues their posts; one that fell due before
    ///    `started_at` (while the bot was down) is marked late. The claim is the state change
    ///    `scheduled -> open`, so a check-in is asked once, however often this runs;
    /// 4. closes open check-ins whose time is up and queues the tally edit.
    pub async fn run_checkins(
        &self,
        settings: &CheckinSettings,
        now: DateTime<Utc>,
        started_at: DateTime<Utc>,
        since: i64,
    ) -> Result<CheckinRun> {
        self.run_checkins_after_health(settings, now, started_at, since, false)
            .await
    }

    /// [`Store::run_checkins`]; with `await_health` (health queries configured), step 3 claims
    /// only check-ins whose release health was read (`record_health`): the job reads it first.
    pub async fn run_checkins_after_health(
        &self,
        settings: &CheckinSettings,
        now: DateTime<Utc>,
        started_at: DateTime<Utc>,
        since: i64,
        await_health: bool,
    ) -> Result<CheckinRun> {
        // Decide at the precision times are stored in.
        let now = time_from_db(time_to_db(now));
        let now_db = time_to_db(now);
        let mut run = CheckinRun::default();

        // 1. Schedule, a chunk of status changes per transaction: ingestion waits for the writer
        // connection, and a burst leaves thousands of deploys to schedule.
        let mut after = since;
        let mut upto = None;
        loop {
            let mut chunk = self.begin_write().await?;
            let upto = match upto {
                Some(upto) => upto,
                None => {
                    let max: i64 =
                        sqlx::query_scalar("select coalesce(max(id), 0) from deploy_status_change")
                            .fetch_one(&mut *chunk)
                            .await?;
                    *upto.insert(max)
                }
            };
            run.considered_through = upto;
            let (scheduled, last) =
                Self::schedule_checkins(&mut chunk, settings, now, after, upto).await?;
            chunk.commit().await?;
            run.scheduled += scheduled;
            match last {
                Some(id) => after = id,
                None => break,
            }
        }
        let mut tx = self.begin_write().await?;

        // 2. Cancel what no longer makes sense to ask.
        let pending: Vec<PendingRow> = sqlx::query_as(
            "select c.id as checkin_id, d.status as deploy_status,
                    d.finished_at as deploy_finished_at,
                    n.version as latest_version, l.finished_at as latest_finished_at
             from checkin c join deploy d on d.id = c.deploy_id
             left join deploy_latest_success l
               on l.service = d.service and l.environment = d.environment
             left join deploy n on n.id = l.deploy_id
             where c.state = 'scheduled'
               -- Narrowing only (the rule decides): a success that is itself the latest
               -- success can be neither undone nor superseded, so it is not loaded each run.
               and (d.status <> 'succeeded' or l.deploy_id is distinct from d.id)",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut cancel: Vec<(i64, String)> = Vec::new();
        for row in pending {
            let pending = Pending::try_from(row)?;
            if let Some(reason) = rules::cancellation(&pending) {
                cancel.push((pending.checkin_id, reason.to_string()));
            }
        }
        if !cancel.is_empty() {
            // Each cancelled check-in comes back with the thread of a check-in of the same deploy
            // already asked in its channel, if any (found by the update itself: a storm cancels
            // thousands, mostly threadless).
            let cancelled: Vec<(i64, Option<i64>)> = sqlx::query_as(
                "with r as materialized (
                     select cast(value ->> 0 as bigint) as id, value ->> 1 as reason from json_each($2))
                 update checkin set state = 'cancelled', cancelled_at = $1, updated_at = $1,
                     cancel_reason = r.reason
                 from r where checkin.id = r.id and checkin.state = 'scheduled'
                 returning checkin.id,
                     (select t.thread_id from checkin t
                      where t.deploy_id = checkin.deploy_id and t.channel_id = checkin.channel_id
                        and t.thread_id is not null order by t.id desc limit 1)",
            )
            .bind(now_db)
            .bind(serde_json::to_string(&cancel).unwrap_or_default())
            .fetch_all(&mut *tx)
            .await?;
            for (id, thread) in cancelled {
                run.cancelled.push(id);
                if let Some(thread) = thread {
                    Self::enqueue(
                        &mut tx,
                        channel_from_db(thread),
                        Subject::CheckinCancelled(id),
                        now,
                    )
                    .await?;
                }
            }
        }

        // 3. Claim what is due, then say how each opens.
        let opened: Vec<(i64, i64, i64)> = sqlx::query_as(
            "update checkin set state = 'open', opened_at = $1, updated_at = $1,
                 mention_user_id = (select l.user_id from deployer_link l join deploy d
                                    on l.ci_name = d.deployer where d.id = checkin.deploy_id)
             where state = 'scheduled' and due_at <= $1
               and ($2 = 0 or health_checked_at is not null)
             returning id, channel_id, due_at",
        )
        .bind(now_db)
        .bind(i64::from(await_health))
        .fetch_all(&mut *tx)
        .await?;
        if !opened.is_empty() {
            let mut openings = Vec::with_capacity(opened.len());
            for (id, _, due_at) in &opened {
                let due_at = stored_time(&format!("checkin {id} due_at"), *due_at)?;
                let opening = rules::opening(due_at, now, started_at, settings);
                openings.push((*id, i64::from(opening.late), time_to_db(opening.close_at)));
            }
            sqlx::query(
                "with r as materialized (
                     select cast(value ->> 0 as bigint) as id, cast(value ->> 1 as bigint) as late,
                            cast(value ->> 2 as bigint) as close_at
                     from json_each($1))
                 update checkin set late = r.late, close_at = r.close_at
                 from r where checkin.id = r.id",
            )
            .bind(serde_json::to_string(&openings).unwrap_or_default())
            .execute(&mut *tx)
            .await?;
        }
        for (id, channel, _) in opened {
            Self::enqueue(&mut tx, channel_from_db(channel), Subject::Checkin(id), now).await?;
            run.opened.push(id);
        }

        // 4. Close what has run its time.
        let closed: Vec<(i64, i64)> = sqlx::query_as(
            "update checkin set state = 'closed', closed_at = $1, updated_at = $1
             where state = 'open' and close_at <= $1
             returning id, channel_id",
        )
        .bind(now_db)
        .fetch_all(&mut *tx)
        .await?;
        for (id, channel) in closed {
            Self::enqueue(&mut tx, channel_from_db(channel), Subject::Checkin(id), now).await?;
            run.closed.push(id);
        }
        tx.commit().await?;
        Ok(run)
    }

    /// Schedules check-ins for the deploys of up to [`SCHEDULE_CHUNK`] status changes to
    /// `succeeded` with ids in `(after, upto]` (one select, one insert); returns how many were
    /// created and, if there may be more, the last change looked at.
    async fn schedule_checkins(
        tx: &mut sqlx::AnyConnection,
        settings: &CheckinSettings,
        now: DateTime<Utc>,
        after: i64,
        upto: i64,
    ) -> Result<(usize, Option<i64>)> {
        if settings.environments.is_empty() || settings.delays.is_empty() {
            return Ok((0, None));
        }
        let changes: Vec<StatusChangeRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select sc.id as change_id, d.id as deploy_id, d.service, d.environment, d.status,
                    d.finished_at,
                    exists (select 1 from checkin c
                            where c.deploy_id = d.id and c.origin = 'schedule') as already_scheduled,
                    (select l.finished_at from deploy_latest_success l
                     where l.service = d.service and l.environment = d.environment)
                      as latest_success_at,
                    (select json_group_array(channel_id) from (
                        select m.channel_id from message m
                        where m.subject_kind = 'deploy' and m.subject_id = d.id order by m.id) ch
                    ) as channels
             from deploy_status_change sc join deploy d on d.id = sc.deploy_id
             where sc.id > ? and sc.id <= ? and sc.status = 'succeeded'
             order by sc.id limit {SCHEDULE_CHUNK}"
        )))
        .bind(after)
        .bind(upto)
        .fetch_all(&mut *tx)
        .await?;
        let last = (changes.len() == SCHEDULE_CHUNK)
            .then(|| changes.last().map(|c| c.change_id))
            .flatten();
        let subscriptions = Self::subscriptions_of_kind(&mut *tx, Kind::Checkins).await?;
        let mut checkins: Vec<NewCheckin> = Vec::new();
        for change in changes {
            let deploy = FinishedDeploy::try_from(change)?;
            checkins.extend(rules::schedule(&deploy, &subscriptions, settings, now));
        }
        if checkins.is_empty() {
            return Ok((0, last));
        }
        // [deploy_id, channel_id, sequence, due_at] per check-in.
        let rows: Vec<[i64; 4]> = checkins
            .iter()
            .map(|c| {
                [
                    c.deploy_id,
                    to_db(c.channel.0),
                    c.sequence as i64,
                    time_to_db(c.due_at),
                ]
            })
            .collect();
        let inserted = sqlx::query(
            "insert into checkin (deploy_id, guild_id, channel_id, sequence, origin, due_at,
                 updated_at, created_at)
             select cast(r.value ->> 0 as bigint),
                    (select guild_id from subscription
                     where channel_id = cast(r.value ->> 1 as bigint)
                       and guild_id is not null limit 1),
                    cast(r.value ->> 1 as bigint), cast(r.value ->> 2 as bigint), 'schedule',
                    cast(r.value ->> 3 as bigint), $1, $1
             from json_each($2) r where true order by r.key
             on conflict (deploy_id, channel_id, sequence) do nothing",
        )
        .bind(time_to_db(now))
        .bind(serde_json::to_string(&rows).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        Ok((inserted.rows_affected() as usize, last))
    }

    /// The next moment a check-in falls due or closes, if any is waiting.
    pub async fn next_checkin_at(&self) -> Result<Option<DateTime<Utc>>> {
        let (due, close): (Option<i64>, Option<i64>) = sqlx::query_as(
            "select (select min(due_at) from checkin where state = 'scheduled'),
                    (select min(close_at) from checkin where state = 'open')",
        )
        .fetch_one(self.pool())
        .await?;
        let due = due
            .map(|at| stored_time("checkin.due_at", at))
            .transpose()?;
        let close = close
            .map(|at| stored_time("checkin.close_at", at))
            .transpose()?;
        Ok(rules::next_wake(due, close))
    }

    /// `/checkin`: a check-in of `deploy_id` in `channel`, due now (the job posts it), unless
    /// one of the same release was asked by hand in that channel within the last 10 minutes
    /// (then Err: when the next may be). Checked and written in one transaction.
    pub async fn request_checkin(
        &self,
        deploy_id: i64,
        guild: Option<u64>,
        channel: ChannelId,
        requested_by: u64,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<i64, DateTime<Utc>>> {
        let mut tx = self.begin_write().await?;
        let last: Option<i64> = sqlx::query_scalar(
            "select max(created_at) from checkin
             where origin = 'command' and deploy_id = $1 and channel_id = $2",
        )
        .bind(deploy_id)
        .bind(to_db(channel.0))
        .fetch_one(&mut *tx)
        .await?;
        let last = last
            .map(|at| stored_time("checkin.created_at", at))
            .transpose()?;
        if let Err(next) = crate::domain::checkin::manual_checkin_allowed(last, now) {
            return Ok(Err(next));
        }
        let now_db = time_to_db(now);
        let id = sqlx::query_scalar(
            "insert into checkin (deploy_id, guild_id, channel_id, sequence, origin, due_at, requested_by,
                 updated_at, created_at)
             values ($1, $2, $3, null, 'command', $4, $5, $6, $7) returning id",
        )
        .bind(deploy_id)
        .bind(guild.map(to_db))
        .bind(to_db(channel.0))
        .bind(now_db)
        .bind(to_db(requested_by))
        .bind(now_db)
        .bind(now_db)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(id))
    }

    /// The check-in message was posted (and its thread started, if it could be).
    pub async fn checkin_posted(
        &self,
        checkin_id: i64,
        message_id: u64,
        thread_id: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "update checkin set message_id = $1, thread_id = coalesce($2, thread_id), updated_at = $3
             where id = $4",
        )
        .bind(to_db(message_id))
        .bind(thread_id.map(to_db))
        .bind(time_to_db(now))
        .bind(checkin_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn checkin(&self, id: i64) -> Result<Option<Checkin>> {
        let row: Option<CheckinRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select {CHECKIN_COLUMNS} from checkin where id = ?"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(Checkin::try_from).transpose()
    }

    /// The check-in whose thread is `channel`, if it is one. On Discord a thread started from a
    /// message has the message's id, so this also holds before the thread's id was stored.
    pub async fn checkin_by_thread(&self, channel: u64) -> Result<Option<Checkin>> {
        let row: Option<CheckinRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select {CHECKIN_COLUMNS} from checkin where thread_id = ?1 or message_id = ?1
             order by id desc limit 1"
        )))
        .bind(to_db(channel))
        .fetch_optional(self.pool())
        .await?;
        row.map(Checkin::try_from).transpose()
    }

    /// Who holds the link of `ci_name` (matched case-insensitively), if anyone.
    pub async fn deployer_link_owner(&self, ci_name: &str) -> Result<Option<u64>> {
        let owner: Option<i64> =
            sqlx::query_scalar("select user_id from deployer_link where ci_name = $1")
                .bind(ci_name.trim())
                .fetch_optional(self.pool())
                .await?;
        Ok(owner.map(from_db))
    }

    /// The CI names linked to `user`, alphabetically.
    pub async fn deployer_links_of(&self, user: u64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "select ci_name from deployer_link where user_id = $1 order by ci_name collate nocase",
        )
        .bind(to_db(user))
        .fetch_all(self.pool())
        .await?)
    }

    /// `/unlink-deployer`: the link of `ci_name` is gone; false if there was none.
    pub async fn unlink_deployer(&self, ci_name: &str) -> Result<bool> {
        let removed = sqlx::query("delete from deployer_link where ci_name = $1")
            .bind(ci_name.trim())
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    /// `/link-deployer`: deploys by `ci_name` mention `user` from now on, unless someone else
    /// holds the name and `may_take` is false (checked and written in one transaction).
    pub async fn link_deployer(
        &self,
        ci_name: &str,
        user: u64,
        guild: Option<u64>,
        may_take: bool,
        now: DateTime<Utc>,
    ) -> Result<LinkOutcome> {
        let mut tx = self.begin_write().await?;
        let owner: Option<i64> =
            sqlx::query_scalar("select user_id from deployer_link where ci_name = $1")
                .bind(ci_name.trim())
                .fetch_optional(&mut *tx)
                .await?;
        let owner = owner.map(from_db);
        if let Some(other) = owner.filter(|o| *o != user) {
            if !may_take {
                return Ok(LinkOutcome::HeldBy(other));
            }
        }
        let now_db = time_to_db(now);
        sqlx::query(
            "insert into deployer_link (ci_name, user_id, guild_id, updated_at, created_at)
             values ($1, $2, $3, $4, $5)
             on conflict (ci_name) do update set user_id = excluded.user_id,
                 guild_id = excluded.guild_id, updated_at = excluded.updated_at",
        )
        .bind(ci_name.trim())
        .bind(to_db(user))
        .bind(guild.map(to_db))
        .bind(now_db)
        .bind(now_db)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(match owner {
            Some(other) if other != user => LinkOutcome::TakenFrom(other),
            _ => LinkOutcome::Linked,
        })
    }
}

/// What `/link-deployer` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Linked,
    /// The name was someone else's; a member with Manage Server took it.
    TakenFrom(u64),
    /// The name is someone else's and stays theirs.
    HeldBy(u64),
}

#[cfg(test)]
mod tests;
