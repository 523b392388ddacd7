//! Check-ins, deployer links and feedback (migration 20261124000200_checkins.sql).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::deploys::{deploy_from_row, Subject, DEPLOY_COLUMNS};
use super::ids::{channel_from_db, from_db, time_from_db, time_to_db, to_db};
use super::{Result, Store};
use crate::domain::checkin::{
    Checkin, CheckinSettings, CheckinState, CheckinView, Feedback, FeedbackSource, ReleaseRef,
    Sentiment, Tally,
};
use crate::domain::deploy::Deploy;
use crate::domain::subscription::{route, Kind};
use crate::domain::ChannelId;

/// Deploys scheduled per transaction by the check-in job.
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

/// One answer to store. Which fields matter depends on `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFeedback {
    pub deploy_id: i64,
    pub checkin_id: Option<i64>,
    pub source: FeedbackSource,
    pub sentiment: Option<Sentiment>,
    pub body: Option<String>,
    pub emoji: Option<String>,
    pub user_id: u64,
    pub user_name: String,
    pub guild_id: Option<u64>,
    pub channel_id: Option<u64>,
    pub message_id: Option<u64>,
}

/// The release a bot message is about, and the check-in if it is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRelease {
    pub deploy_id: i64,
    pub checkin_id: Option<i64>,
}

const CHECKIN_COLUMNS: &str = "id, deploy_id, channel_id, state, due_at, late, close_at, \
     mention_user_id, message_id, thread_id, cancel_reason";

fn checkin_from_row(row: &sqlx::sqlite::SqliteRow) -> Checkin {
    let state: String = row.get("state");
    Checkin {
        id: row.get("id"),
        deploy_id: row.get("deploy_id"),
        channel_id: from_db(row.get("channel_id")),
        // The column's CHECK constraint lists exactly the domain's states.
        state: state.parse().unwrap_or(CheckinState::Scheduled),
        due_at: time_from_db(row.get("due_at")),
        late: row.get::<i64, _>("late") != 0,
        close_at: row.get::<Option<i64>, _>("close_at").map(time_from_db),
        mention_user_id: row.get::<Option<i64>, _>("mention_user_id").map(from_db),
        message_id: row.get::<Option<i64>, _>("message_id").map(from_db),
        thread_id: row.get::<Option<i64>, _>("thread_id").map(from_db),
        cancel_reason: row.get("cancel_reason"),
    }
}

fn feedback_from_row(row: &sqlx::sqlite::SqliteRow) -> Feedback {
    let source: String = row.get("source");
    Feedback {
        id: row.get("id"),
        deploy_id: row.get("deploy_id"),
        checkin_id: row.get("checkin_id"),
        source: source.parse().unwrap_or(FeedbackSource::Command),
        sentiment: row
            .get::<Option<i64>, _>("sentiment")
            .and_then(Sentiment::from_value),
        body: row.get("body"),
        emoji: row.get("emoji"),
        user_id: from_db(row.get("user_id")),
        user_name: row.get("user_name"),
        guild_id: row.get::<Option<i64>, _>("guild_id").map(from_db),
        channel_id: row.get::<Option<i64>, _>("channel_id").map(from_db),
        message_id: row.get::<Option<i64>, _>("message_id").map(from_db),
        given_at: time_from_db(row.get("given_at")),
    }
}

fn millis(d: std::time::Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// The check-in with its deploy and tally, as its message shows it.
pub(super) async fn checkin_view(
    conn: &mut sqlx::SqliteConnection,
    id: i64,
) -> Result<Option<CheckinView>> {
    let Some(row) = sqlx::query(&format!(
        "select {CHECKIN_COLUMNS} from checkin where id = ?"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let checkin = checkin_from_row(&row);
    let Some(deploy) = sqlx::query(&format!("select {DEPLOY_COLUMNS} from deploy where id = ?"))
        .bind(checkin.deploy_id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| deploy_from_row(&r))
    else {
        return Ok(None);
    };
    let tally = tally_where(conn, "checkin_id = ?", id).await?;
    Ok(Some(CheckinView {
        checkin,
        deploy,
        tally,
    }))
}

async fn tally_where(conn: &mut sqlx::SqliteConnection, filter: &str, id: i64) -> Result<Tally> {
    let row = sqlx::query(&format!(
        "select coalesce(sum(sentiment = 1), 0) as good, coalesce(sum(sentiment = 0), 0) as meh,
                coalesce(sum(sentiment = -1), 0) as bad, coalesce(sum(body is not null), 0) as comments
         from feedback where retracted_at is null and {filter}"
    ))
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Tally {
        good: row.get("good"),
        meh: row.get("meh"),
        bad: row.get("bad"),
        comments: row.get("comments"),
    })
}

impl Store {
    /// One run of the check-in job as of `now`:
    /// 1. schedules check-ins for successful deploys to the configured environments that have none
    ///    (in chunks, each its own transaction; scheduling twice creates nothing);
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
        let now_db = time_to_db(now);
        let mut run = CheckinRun::default();

        // 1. Schedule, a chunk of deploys per transaction: ingestion waits for the writer
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
                Self::schedule_checkins(&mut chunk, settings, now_db, after, upto).await?;
            chunk.commit().await?;
            run.scheduled += scheduled;
            match last {
                Some(id) => after = id,
                None => break,
            }
        }
        let mut tx = self.begin_write().await?;

        // 2. Cancel what no longer makes sense to ask.
        let rolled_back = sqlx::query(
            "update checkin set state = 'cancelled', cancelled_at = ?1, updated_at = ?1,
                 cancel_reason = 'the deploy was ' ||
                     replace((select status from deploy d where d.id = checkin.deploy_id), '_', ' ')
             where state = 'scheduled'
               and (select status from deploy d where d.id = checkin.deploy_id) <> 'succeeded'
             returning id, (select t.thread_id from checkin t
                            where t.deploy_id = checkin.deploy_id and t.channel_id = checkin.channel_id
                              and t.thread_id is not null order by t.id desc limit 1) as thread",
        )
        .bind(now_db)
        .fetch_all(&mut *tx)
        .await?;
        let superseded = sqlx::query(
            "update checkin set state = 'cancelled', cancelled_at = ?1, updated_at = ?1,
                 cancel_reason = 'superseded by ' || (
                     select n.version from deploy d
                     join deploy_latest_success l
                       on l.service = d.service and l.environment = d.environment
                     join deploy n on n.id = l.deploy_id
                     where d.id = checkin.deploy_id and l.finished_at > d.finished_at)
             where state = 'scheduled' and exists (
                     select 1 from deploy d
                     join deploy_latest_success l
                       on l.service = d.service and l.environment = d.environment
                     where d.id = checkin.deploy_id and l.finished_at > d.finished_at)
             returning id, (select t.thread_id from checkin t
                            where t.deploy_id = checkin.deploy_id and t.channel_id = checkin.channel_id
                              and t.thread_id is not null order by t.id desc limit 1) as thread",
        )
        .bind(now_db)
        .fetch_all(&mut *tx)
        .await?;
        for row in rolled_back.iter().chain(superseded.iter()) {
            let id: i64 = row.get("id");
            run.cancelled.push(id);
            // Say so in the thread of a check-in of the same deploy already asked in that channel
            // (`thread`, found by the update itself: a storm cancels thousands, mostly threadless).
            if let Some(thread) = row.get::<Option<i64>, _>("thread") {
                Self::enqueue(
                    &mut tx,
                    channel_from_db(thread),
                    Subject::CheckinCancelled(id),
                    now,
                )
                .await?;
            }
        }

        // 3. Claim what is due.
        let opened = sqlx::query(
            "update checkin set state = 'open', opened_at = ?1, updated_at = ?1,
                 late = (due_at < ?2), close_at = ?1 + ?3,
                 mention_user_id = (select l.user_id from deployer_link l join deploy d
                                    on l.ci_name = d.deployer where d.id = checkin.deploy_id)
             where state = 'scheduled' and due_at <= ?1
             returning id, channel_id",
        )
        .bind(now_db)
        .bind(time_to_db(started_at))
        .bind(millis(settings.close_after))
        .fetch_all(&mut *tx)
        .await?;
        for row in &opened {
            let id: i64 = row.get("id");
            Self::enqueue(
                &mut tx,
                channel_from_db(row.get("channel_id")),
                Subject::Checkin(id),
                now,
            )
            .await?;
            run.opened.push(id);
        }

        // 4. Close what has run its time.
        let closed = sqlx::query(
            "update checkin set state = 'closed', closed_at = ?1, updated_at = ?1
             where state = 'open' and close_at <= ?1
             returning id, channel_id",
        )
        .bind(now_db)
        .fetch_all(&mut *tx)
        .await?;
        for row in &closed {
            let id: i64 = row.get("id");
            Self::enqueue(
                &mut tx,
                channel_from_db(row.get("channel_id")),
                Subject::Checkin(id),
                now,
            )
            .await?;
            run.closed.push(id);
        }
        tx.commit().await?;
        Ok(run)
    }

    /// Schedules check-ins for up to [`SCHEDULE_CHUNK`] deploys with ids above `after` (one select,
    /// one insert); returns how many were created and, if there may be more, the last id looked at.
    async fn schedule_checkins(
        tx: &mut sqlx::SqliteConnection,
        settings: &CheckinSettings,
        now_db: i64,
        after: i64,
        upto: i64,
    ) -> Result<(usize, Option<i64>)> {
        let mut scheduled = 0;
        let mut last = None;
        if !settings.environments.is_empty() && !settings.delays.is_empty() {
            let placeholders = vec!["?"; settings.environments.len()].join(", ");
            let sql = format!(
                "select sc.id as change_id, d.id, d.service, d.environment, d.finished_at,
                        (select json_group_array(channel_id) from (
                            select m.channel_id from message m
                            where m.subject_kind = 'deploy' and m.subject_id = d.id order by m.id)
                        ) as channels,
                        d.status = 'succeeded' and d.finished_at >= ?
                          and lower(d.environment) in ({placeholders})
                          and not exists (select 1 from checkin c
                                          where c.deploy_id = d.id and c.origin = 'schedule')
                          and not exists (select 1 from deploy_latest_success l
                                          where l.service = d.service and l.environment = d.environment
                                            and l.finished_at > d.finished_at)
                          as wanted
                 from deploy_status_change sc join deploy d on d.id = sc.deploy_id
                 where sc.id > ? and sc.id <= ? and sc.status = 'succeeded'
                 order by sc.id limit {SCHEDULE_CHUNK}"
            );
            let mut query = sqlx::query(&sql).bind(now_db - millis(settings.horizon()));
            for env in &settings.environments {
                query = query.bind(env.to_lowercase());
            }
            let changes = query.bind(after).bind(upto).fetch_all(&mut *tx).await?;
            if changes.len() == SCHEDULE_CHUNK {
                last = changes.last().map(|d| d.get("change_id"));
            }
            let deploys = changes.into_iter().filter(|d| d.get::<bool, _>("wanted"));
            let subscriptions = Self::subscriptions_of_kind(&mut *tx, Kind::Checkins).await?;
            // [deploy_id, channel_id, sequence, due_at] per check-in to create.
            let mut rows: Vec<[i64; 4]> = Vec::new();
            for deploy in deploys {
                let deploy_id: i64 = deploy.get("id");
                let service: String = deploy.get("service");
                let environment: String = deploy.get("environment");
                let finished_at: i64 = deploy.get("finished_at");
                // The channels that announced the deploy, plus those subscribed to its check-ins.
                let mut channels: Vec<i64> =
                    serde_json::from_str(deploy.get::<&str, _>("channels")).unwrap_or_default();
                for channel in route(&subscriptions, Kind::Checkins, &service, &environment, None) {
                    let channel = to_db(channel.0);
                    if !channels.contains(&channel) {
                        channels.push(channel);
                    }
                }
                for channel in channels {
                    for (sequence, delay) in settings.delays.iter().enumerate() {
                        rows.push([
                            deploy_id,
                            channel,
                            sequence as i64,
                            finished_at + millis(*delay),
                        ]);
                    }
                }
            }
            if !rows.is_empty() {
                let inserted = sqlx::query(
                    "insert into checkin (deploy_id, guild_id, channel_id, sequence, origin, due_at,
                         updated_at, created_at)
                     select r.value ->> 0,
                            (select guild_id from subscription where channel_id = r.value ->> 1
                               and guild_id is not null limit 1),
                            r.value ->> 1, r.value ->> 2, 'schedule', r.value ->> 3, ?1, ?1
                     from json_each(?2) r where true order by r.key
                     on conflict (deploy_id, channel_id, sequence) do nothing",
                )
                .bind(now_db)
                .bind(serde_json::to_string(&rows).unwrap_or_default())
                .execute(&mut *tx)
                .await?;
                scheduled += inserted.rows_affected() as usize;
            }
        }

        Ok((scheduled, last))
    }

    /// The next moment a check-in falls due or closes, if any is waiting.
    pub async fn next_checkin_at(&self) -> Result<Option<DateTime<Utc>>> {
        let next: Option<i64> = sqlx::query_scalar(
            "select min(at) from (
                 select min(due_at) as at from checkin where state = 'scheduled'
                 union all select min(close_at) from checkin where state = 'open')",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(next.map(time_from_db))
    }

    /// `/checkin`: a check-in of `deploy_id` in `channel`, due now. The job posts it.
    pub async fn request_checkin(
        &self,
        deploy_id: i64,
        guild: Option<u64>,
        channel: ChannelId,
        requested_by: u64,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let now_db = time_to_db(now);
        Ok(sqlx::query_scalar(
            "insert into checkin (deploy_id, guild_id, channel_id, sequence, origin, due_at, requested_by,
                 updated_at, created_at)
             values (?, ?, ?, null, 'command', ?, ?, ?, ?) returning id",
        )
        .bind(deploy_id)
        .bind(guild.map(to_db))
        .bind(to_db(channel.0))
        .bind(now_db)
        .bind(to_db(requested_by))
        .bind(now_db)
        .bind(now_db)
        .fetch_one(self.pool())
        .await?)
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
            "update checkin set message_id = ?, thread_id = coalesce(?, thread_id), updated_at = ?
             where id = ?",
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
        let row = sqlx::query(&format!(
            "select {CHECKIN_COLUMNS} from checkin where id = ?"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| checkin_from_row(&r)))
    }

    /// The check-in whose thread is `channel`, if it is one. On Discord a thread started from a
    /// message has the message's id, so this also holds before the thread's id was stored.
    pub async fn checkin_by_thread(&self, channel: u64) -> Result<Option<Checkin>> {
        let row = sqlx::query(&format!(
            "select {CHECKIN_COLUMNS} from checkin where thread_id = ?1 or message_id = ?1
             order by id desc limit 1"
        ))
        .bind(to_db(channel))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| checkin_from_row(&r)))
    }

    /// The release a message of the bot's is about: a deploy announcement or a check-in.
    pub async fn release_of_message(
        &self,
        discord_message_id: u64,
    ) -> Result<Option<MessageRelease>> {
        // checkin.message_id is stored right after the post, before the delivery is settled.
        let row = sqlx::query(
            "select subject_kind, subject_id, deploy_id from (
                 select m.id as ord, m.subject_kind, m.subject_id, c.deploy_id from message m
                 left join checkin c on m.subject_kind = 'checkin' and c.id = m.subject_id
                 where m.discord_message_id = ?1 and m.subject_kind in ('deploy', 'checkin')
                 union all
                 select 0, 'checkin', c.id, c.deploy_id from checkin c where c.message_id = ?1)
             order by ord limit 1",
        )
        .bind(to_db(discord_message_id))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|row| {
            let kind: String = row.get("subject_kind");
            let id: i64 = row.get("subject_id");
            match kind.as_str() {
                "deploy" => Some(MessageRelease {
                    deploy_id: id,
                    checkin_id: None,
                }),
                _ => row
                    .get::<Option<i64>, _>("deploy_id")
                    .map(|deploy_id| MessageRelease {
                        deploy_id,
                        checkin_id: Some(id),
                    }),
            }
        }))
    }

    /// Stores an answer. A button vote replaces the person's earlier vote on the check-in; a
    /// reaction re-added after removal counts again; a gateway event seen twice is stored once.
    /// Returns false when nothing new was stored.
    pub async fn record_feedback(&self, f: &NewFeedback, now: DateTime<Utc>) -> Result<bool> {
        let conflict = match f.source {
            FeedbackSource::Button => {
                "on conflict (checkin_id, user_id) where source = 'button' do update set
                     sentiment = excluded.sentiment, user_name = excluded.user_name,
                     updated_at = excluded.updated_at"
            }
            FeedbackSource::Reaction => {
                "on conflict (message_id, user_id, emoji) where source = 'reaction' do update set
                     sentiment = excluded.sentiment, retracted_at = null, updated_at = excluded.updated_at"
            }
            FeedbackSource::Reply | FeedbackSource::Thread => {
                "on conflict (message_id) where source in ('reply', 'thread') do nothing"
            }
            FeedbackSource::Modal | FeedbackSource::Command => "",
        };
        let now_db = time_to_db(now);
        let done = sqlx::query(&format!(
            "insert into feedback (deploy_id, checkin_id, source, sentiment, body, emoji, user_id, user_name,
                 guild_id, channel_id, message_id, given_at, updated_at, created_at)
             values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {conflict}"
        ))
        .bind(f.deploy_id)
        .bind(f.checkin_id)
        .bind(f.source.as_str())
        .bind(f.sentiment.map(Sentiment::value))
        .bind(f.body.as_deref())
        .bind(f.emoji.as_deref())
        .bind(to_db(f.user_id))
        .bind(&f.user_name)
        .bind(f.guild_id.map(to_db))
        .bind(f.channel_id.map(to_db))
        .bind(f.message_id.map(to_db))
        .bind(now_db)
        .bind(now_db)
        .bind(now_db)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A reaction was removed: it no longer counts. Returns whether one was retracted.
    pub async fn retract_reaction(
        &self,
        message_id: u64,
        user_id: u64,
        emoji: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "update feedback set retracted_at = ?, updated_at = ?
             where source = 'reaction' and message_id = ? and user_id = ? and emoji = ?
               and retracted_at is null",
        )
        .bind(time_to_db(now))
        .bind(time_to_db(now))
        .bind(to_db(message_id))
        .bind(to_db(user_id))
        .bind(emoji)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every answer about a release still standing, newest first.
    pub async fn feedback_for(&self, deploy_id: i64) -> Result<Vec<Feedback>> {
        let rows = sqlx::query(
            "select * from feedback where deploy_id = ? and retracted_at is null
             order by given_at desc, id desc",
        )
        .bind(deploy_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(feedback_from_row).collect())
    }

    pub async fn release_tally(&self, deploy_id: i64) -> Result<Tally> {
        let mut conn = self.pool().acquire().await?;
        tally_where(&mut conn, "deploy_id = ?", deploy_id).await
    }

    /// The deploy a person means by `release`: that version's latest deploy, preferring a
    /// successful one; without a version, the service's latest successful deploy (else latest).
    pub async fn find_release(&self, release: &ReleaseRef) -> Result<Option<Deploy>> {
        let row = sqlx::query(&format!(
            "select {DEPLOY_COLUMNS} from deploy
             where service = ? collate nocase and (?2 is null or version = ?2)
             order by status = 'succeeded' desc, coalesce(finished_at, started_at) desc, id desc
             limit 1"
        ))
        .bind(&release.service)
        .bind(release.version.as_deref())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| deploy_from_row(&r)))
    }

    /// Autocomplete: recent `service@version` names containing `typed`.
    pub async fn release_suggestions(&self, typed: &str, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "select service || '@' || version as name from deploy
             where instr(lower(service || '@' || version), lower(?)) > 0
             group by name order by max(id) desc limit ?",
        )
        .bind(typed.trim())
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// `/link-deployer`: deploys by `ci_name` mention `user` from now on.
    pub async fn link_deployer(
        &self,
        ci_name: &str,
        user: u64,
        guild: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now_db = time_to_db(now);
        sqlx::query(
            "insert into deployer_link (ci_name, user_id, guild_id, updated_at, created_at)
             values (?, ?, ?, ?, ?)
             on conflict (ci_name) do update set user_id = excluded.user_id,
                 guild_id = excluded.guild_id, updated_at = excluded.updated_at",
        )
        .bind(ci_name.trim())
        .bind(to_db(user))
        .bind(guild.map(to_db))
        .bind(now_db)
        .bind(now_db)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::domain::deploy::{DeployEvent, RawDeployEvent};

    const CHANNEL: ChannelId = ChannelId(300);

    fn settings() -> CheckinSettings {
        CheckinSettings {
            delays: vec![Duration::from_secs(3600), Duration::from_secs(24 * 3600)],
            ..Default::default()
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap()
    }

    fn at(offset: Duration) -> DateTime<Utc> {
        t0() + chrono::Duration::from_std(offset).unwrap()
    }

    async fn deploy(
        store: &Store,
        version: &str,
        env: &str,
        status: &str,
        now: DateTime<Utc>,
    ) -> i64 {
        let raw = RawDeployEvent {
            service: Some("checkout".into()),
            version: Some(version.into()),
            environment: Some(env.into()),
            status: Some(status.into()),
            ..Default::default()
        };
        let event = DeployEvent::parse(&raw).unwrap();
        store
            .record_deploy("api", "{}", &event, Some(CHANNEL), now)
            .await
            .unwrap()
            .deploy_id
    }

    async fn states(store: &Store) -> Vec<(String, i64, Option<String>)> {
        sqlx::query("select state, late, cancel_reason from checkin order by id")
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }

    #[tokio::test]
    async fn a_checkin_opens_when_due_and_only_once() {
        let (store, _dir) = Store::temporary().await;
        let started = t0() - chrono::Duration::hours(1);
        deploy(&store, "v1", "production", "succeeded", t0()).await;

        let run = store
            .run_checkins(&settings(), at(Duration::from_secs(1)), started, 0)
            .await
            .unwrap();
        assert_eq!(run.scheduled, 2, "one per delay");
        assert!(run.opened.is_empty());

        let just_before = at(Duration::from_secs(3600)) - chrono::Duration::milliseconds(1);
        let run = store
            .run_checkins(&settings(), just_before, started, 0)
            .await
            .unwrap();
        assert!(run.opened.is_empty(), "not due yet");
        assert_eq!(run.scheduled, 0, "scheduling is idempotent");

        let run = store
            .run_checkins(&settings(), at(Duration::from_secs(3600)), started, 0)
            .await
            .unwrap();
        assert_eq!(run.opened.len(), 1);
        let again = store
            .run_checkins(&settings(), at(Duration::from_secs(3600)), started, 0)
            .await
            .unwrap();
        assert!(
            again.opened.is_empty(),
            "a claimed check-in is never claimed twice"
        );

        let queued: i64 = sqlx::query_scalar(
            "select count(*) from outbox o join message m on m.id = o.message_id
             where m.subject_kind = 'checkin' and m.channel_id = ?",
        )
        .bind(to_db(CHANNEL.0))
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(
            queued, 1,
            "the post is queued in the announcement's channel"
        );
        assert_eq!(
            states(&store).await,
            vec![("open".into(), 0, None), ("scheduled".into(), 0, None)]
        );
        assert_eq!(
            store.next_checkin_at().await.unwrap(),
            Some(at(Duration::from_secs(24 * 3600))),
            "the next event is the second check-in (due before the first one closes)"
        );
    }

    #[tokio::test]
    async fn a_checkin_due_while_down_opens_late() {
        let (store, _dir) = Store::temporary().await;
        deploy(&store, "v1", "production", "succeeded", t0()).await;
        let restarted = at(Duration::from_secs(2 * 3600));
        let run = store
            .run_checkins(&settings(), restarted, restarted, 0)
            .await
            .unwrap();
        assert_eq!(run.opened.len(), 1, "only the one that fell due");
        assert_eq!(states(&store).await[0], ("open".into(), 1, None));
    }

    #[tokio::test]
    async fn rollback_and_supersession_cancel_scheduled_checkins() {
        let (store, _dir) = Store::temporary().await;
        let started = t0() - chrono::Duration::hours(1);
        deploy(&store, "v1", "production", "succeeded", t0()).await;
        store
            .run_checkins(&settings(), at(Duration::from_secs(1)), started, 0)
            .await
            .unwrap();
        deploy(
            &store,
            "v1",
            "production",
            "rolled_back",
            at(Duration::from_secs(600)),
        )
        .await;
        let run = store
            .run_checkins(&settings(), at(Duration::from_secs(7200)), started, 0)
            .await
            .unwrap();
        assert_eq!(run.cancelled.len(), 2);
        assert!(run.opened.is_empty(), "a cancelled check-in is never asked");
        assert_eq!(
            states(&store).await,
            vec![
                (
                    "cancelled".into(),
                    0,
                    Some("the deploy was rolled back".into())
                );
                2
            ]
        );

        deploy(
            &store,
            "v2",
            "production",
            "succeeded",
            at(Duration::from_secs(8000)),
        )
        .await;
        store
            .run_checkins(&settings(), at(Duration::from_secs(8001)), started, 0)
            .await
            .unwrap();
        deploy(
            &store,
            "v3",
            "production",
            "succeeded",
            at(Duration::from_secs(9000)),
        )
        .await;
        let run = store
            .run_checkins(&settings(), at(Duration::from_secs(9001)), started, 0)
            .await
            .unwrap();
        assert_eq!(
            run.cancelled.len(),
            2,
            "v2's check-ins were superseded by v3"
        );
        let reasons = states(&store).await;
        assert_eq!(reasons[2].2.as_deref(), Some("superseded by v3"));
        assert_eq!(reasons[4].0, "scheduled", "v3's own check-ins stand");
    }

    #[tokio::test]
    async fn a_rolled_back_success_supersedes_nothing_and_the_one_before_it_counts_again() {
        let (store, _dir) = Store::temporary().await;
        let started = t0() - chrono::Duration::hours(1);
        // v2 goes bad before the job sees any: v1 is the latest success again, and v0 stays
        // superseded by it.
        for (version, status, second) in [
            ("v0", "succeeded", 0),
            ("v1", "succeeded", 3),
            ("v2", "succeeded", 5),
            ("v2", "rolled_back", 8),
        ] {
            deploy(
                &store,
                version,
                "production",
                status,
                at(Duration::from_secs(second)),
            )
            .await;
        }
        let run = store
            .run_checkins(&settings(), at(Duration::from_secs(10)), started, 0)
            .await
            .unwrap();
        assert_eq!(run.scheduled, 2, "v1 is asked about; v0 and v2 are not");
        let versions: Vec<String> = sqlx::query_scalar(
            "select distinct d.version from checkin c join deploy d on d.id = c.deploy_id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(versions, vec!["v1".to_owned()]);

        // v3 succeeds: v1's check-ins are superseded by v3, not by the rolled-back v2.
        deploy(
            &store,
            "v3",
            "production",
            "succeeded",
            at(Duration::from_secs(20)),
        )
        .await;
        let run = store
            .run_checkins(
                &settings(),
                at(Duration::from_secs(30)),
                started,
                run.considered_through,
            )
            .await
            .unwrap();
        assert_eq!(run.cancelled.len(), 2);
        let reasons = states(&store).await;
        assert_eq!(reasons[0].2.as_deref(), Some("superseded by v3"));
    }

    /// Deploys recorded before `deploy_latest_success` existed still supersede: the migration
    /// fills the table from them.
    #[tokio::test]
    async fn the_latest_success_table_is_filled_from_deploys_stored_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let older = dir.path().join("older");
        std::fs::create_dir(&older).unwrap();
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap()
        {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if name.ends_with(".sql") && name.as_str() < "20261124001000" {
                std::fs::copy(&path, older.join(name)).unwrap();
            }
        }
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.unwrap();
        sqlx::migrate::Migrator::new(older.as_path())
            .await
            .unwrap()
            .run(store.pool())
            .await
            .unwrap();
        for (version, status, second) in [
            ("v1", "succeeded", 0),
            ("v2", "succeeded", 5),
            ("v3", "succeeded", 9),
            ("v3", "rolled_back", 10),
        ] {
            deploy(
                &store,
                version,
                "production",
                status,
                at(Duration::from_secs(second)),
            )
            .await;
        }
        store.migrate().await.unwrap();

        let latest: Vec<(String, i64)> = sqlx::query_as(
            "select d.version, l.finished_at from deploy_latest_success l
             join deploy d on d.id = l.deploy_id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(
            latest,
            vec![("v2".to_owned(), time_to_db(at(Duration::from_secs(5))))]
        );
    }

    #[tokio::test]
    async fn other_environments_and_failures_get_no_checkin() {
        let (store, _dir) = Store::temporary().await;
        deploy(&store, "v1", "staging", "succeeded", t0()).await;
        deploy(&store, "v2", "production", "failed", t0()).await;
        deploy(&store, "v3", "production", "started", t0()).await;
        let run = store
            .run_checkins(&settings(), at(Duration::from_secs(90_000)), t0(), 0)
            .await
            .unwrap();
        assert_eq!(
            run,
            CheckinRun {
                considered_through: run.considered_through,
                ..CheckinRun::default()
            }
        );
    }

    #[tokio::test]
    async fn a_deploy_superseded_before_scheduling_gets_none_and_later_successes_are_found() {
        let (store, _dir) = Store::temporary().await;
        let started = t0() - chrono::Duration::hours(1);
        deploy(&store, "v1", "production", "succeeded", t0()).await;
        deploy(
            &store,
            "v2",
            "production",
            "succeeded",
            at(Duration::from_secs(5)),
        )
        .await;
        deploy(
            &store,
            "v3",
            "production",
            "started",
            at(Duration::from_secs(6)),
        )
        .await;
        let first = store
            .run_checkins(&settings(), at(Duration::from_secs(10)), started, 0)
            .await
            .unwrap();
        assert_eq!(first.scheduled, 2, "only v2, the latest, is asked about");
        assert!(first.cancelled.is_empty());

        // v3 succeeds after the run: the next run, starting where the first stopped, finds it.
        deploy(
            &store,
            "v3",
            "production",
            "succeeded",
            at(Duration::from_secs(20)),
        )
        .await;
        let second = store
            .run_checkins(
                &settings(),
                at(Duration::from_secs(30)),
                started,
                first.considered_through,
            )
            .await
            .unwrap();
        assert_eq!(second.scheduled, 2, "v3's check-ins");
        assert_eq!(second.cancelled.len(), 2, "v2's, superseded by v3");
        assert!(second.considered_through > first.considered_through);
    }

    #[tokio::test]
    async fn an_open_checkin_closes_after_its_time() {
        let (store, _dir) = Store::temporary().await;
        let started = t0() - chrono::Duration::hours(1);
        let settings = CheckinSettings {
            delays: vec![Duration::from_secs(60)],
            close_after: Duration::from_secs(600),
            ..Default::default()
        };
        deploy(&store, "v1", "production", "succeeded", t0()).await;
        let run = store
            .run_checkins(&settings, at(Duration::from_secs(60)), started, 0)
            .await
            .unwrap();
        assert_eq!(run.opened.len(), 1);
        let run = store
            .run_checkins(&settings, at(Duration::from_secs(659)), started, 0)
            .await
            .unwrap();
        assert!(run.closed.is_empty());
        let run = store
            .run_checkins(&settings, at(Duration::from_secs(660)), started, 0)
            .await
            .unwrap();
        assert_eq!(run.closed, run_ids(&store).await);
        assert_eq!(states(&store).await[0].0, "closed");
    }

    async fn run_ids(store: &Store) -> Vec<i64> {
        sqlx::query_scalar("select id from checkin order by id")
            .fetch_all(store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn votes_replace_and_reactions_retract() {
        let (store, _dir) = Store::temporary().await;
        let deploy_id = deploy(&store, "v1", "production", "succeeded", t0()).await;
        let checkin = store
            .request_checkin(deploy_id, None, CHANNEL, 1, t0())
            .await
            .unwrap();
        let vote = |user: u64, sentiment| NewFeedback {
            deploy_id,
            checkin_id: Some(checkin),
            source: FeedbackSource::Button,
            sentiment: Some(sentiment),
            body: None,
            emoji: None,
            user_id: user,
            user_name: format!("u{user}"),
            guild_id: None,
            channel_id: Some(CHANNEL.0),
            message_id: Some(9),
        };
        store
            .record_feedback(&vote(1, Sentiment::Good), t0())
            .await
            .unwrap();
        store
            .record_feedback(&vote(1, Sentiment::Bad), t0())
            .await
            .unwrap();
        store
            .record_feedback(&vote(2, Sentiment::Good), t0())
            .await
            .unwrap();
        let tally = store.release_tally(deploy_id).await.unwrap();
        assert_eq!((tally.good, tally.bad), (1, 1));

        let reaction = NewFeedback {
            source: FeedbackSource::Reaction,
            emoji: Some("🔥".into()),
            checkin_id: None,
            ..vote(3, Sentiment::Bad)
        };
        store.record_feedback(&reaction, t0()).await.unwrap();
        assert_eq!(store.release_tally(deploy_id).await.unwrap().bad, 2);
        assert!(store.retract_reaction(9, 3, "🔥", t0()).await.unwrap());
        assert_eq!(store.release_tally(deploy_id).await.unwrap().bad, 1);
        store.record_feedback(&reaction, t0()).await.unwrap();
        assert_eq!(
            store.release_tally(deploy_id).await.unwrap().bad,
            2,
            "re-added counts again"
        );
    }
}
