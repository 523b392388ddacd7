//! Feedback about releases (migration 20261124000200_checkins.sql): answers, retractions, tallies
//! (counted by `domain::feedback`), and the release a person or a bot message names.

use chrono::{DateTime, Utc};

use super::deploys::{deploy_from_row, DEPLOY_COLUMNS};
use super::ids::{checked_time_from_db, from_db, time_to_db, to_db};
use super::visibility::Visible;
use super::{Result, Store, StoreError};
use crate::domain::checkin::ReleaseRef;
use crate::domain::deploy::Deploy;
use crate::domain::feedback::{Feedback, FeedbackSource, Repeat, Sentiment, Tally, Vote};
use crate::domain::visibility::Reader;

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

#[derive(sqlx::FromRow)]
struct FeedbackRow {
    id: i64,
    deploy_id: i64,
    checkin_id: Option<i64>,
    source: String,
    sentiment: Option<i64>,
    body: Option<String>,
    emoji: Option<String>,
    user_id: i64,
    user_name: String,
    guild_id: Option<i64>,
    channel_id: Option<i64>,
    message_id: Option<i64>,
    given_at: i64,
}

const FEEDBACK_COLUMNS: &str = "id, deploy_id, checkin_id, source, sentiment, body, emoji, \
     user_id, user_name, guild_id, channel_id, message_id, given_at";

fn sentiment(value: Option<i64>) -> Result<Option<Sentiment>> {
    value
        .map(|v| {
            Sentiment::from_value(v)
                .ok_or_else(|| StoreError::Corrupt(format!("feedback.sentiment {v}")))
        })
        .transpose()
}

impl TryFrom<FeedbackRow> for Feedback {
    type Error = StoreError;
    fn try_from(row: FeedbackRow) -> Result<Self> {
        Ok(Feedback {
            id: row.id,
            deploy_id: row.deploy_id,
            checkin_id: row.checkin_id,
            source: row
                .source
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("feedback {}: {e}", row.id)))?,
            sentiment: sentiment(row.sentiment)?,
            body: row.body,
            emoji: row.emoji,
            user_id: from_db(row.user_id),
            user_name: row.user_name,
            guild_id: row.guild_id.map(from_db),
            channel_id: row.channel_id.map(from_db),
            message_id: row.message_id.map(from_db),
            given_at: checked_time_from_db(row.given_at).ok_or_else(|| {
                StoreError::Corrupt(format!("feedback {}: given_at {}", row.id, row.given_at))
            })?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct VoteRow {
    sentiment: Option<i64>,
    #[sqlx(try_from = "super::ids::Flag")]
    comment: bool,
}

impl TryFrom<VoteRow> for Vote {
    type Error = StoreError;
    fn try_from(row: VoteRow) -> Result<Self> {
        Ok(Vote {
            sentiment: sentiment(row.sentiment)?,
            comment: row.comment,
        })
    }
}

/// Whose answers a tally counts.
#[derive(Debug, Clone, Copy)]
pub(super) enum TallyOf {
    Checkin(i64),
    /// A release's answers, those a reader may read.
    Release(i64, Reader),
}

/// The tally of the answers still standing (a removed reaction no longer counts).
pub(super) async fn tally(conn: &mut sqlx::AnyConnection, of: TallyOf) -> Result<Tally> {
    let (sql, id) = match of {
        TallyOf::Checkin(id) => (
            "select sentiment, body is not null as comment from feedback
             where checkin_id = ? and retracted_at is null"
                .to_owned(),
            id,
        ),
        TallyOf::Release(id, reader) => (
            format!(
                "select f.sentiment, f.body is not null as comment from feedback f
                 where f.deploy_id = ? and f.retracted_at is null and {}",
                Visible::of(reader).feedback("f")
            ),
            id,
        ),
    };
    let rows: Vec<VoteRow> = sqlx::query_as(&crate::store::numbered(&sql))
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    let votes = rows
        .into_iter()
        .map(Vote::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok(Tally::of(votes))
}

impl Store {
    /// Stores an answer; what a repeated one does is the source's [`Repeat`] rule, enforced by the
    /// table's unique keys. Returns false when nothing new was stored.
    pub async fn record_feedback(&self, f: &NewFeedback, now: DateTime<Utc>) -> Result<bool> {
        let conflict = match f.source.repeat() {
            Repeat::ReplaceVote => {
                "on conflict (checkin_id, user_id) where source = 'button' do update set
                     sentiment = excluded.sentiment, user_name = excluded.user_name,
                     updated_at = excluded.updated_at"
            }
            Repeat::Reinstate => {
                "on conflict (message_id, user_id, emoji) where source = 'reaction' do update set
                     sentiment = excluded.sentiment, retracted_at = null, updated_at = excluded.updated_at"
            }
            Repeat::Ignore => {
                "on conflict (message_id) where source in ('reply', 'thread') do nothing"
            }
            Repeat::Add => "",
        };
        let now_db = time_to_db(now);
        // Through the writer: the rollup triggers count the answer (see `Store::begin_write`).
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(&crate::store::numbered(&format!(
            "insert into feedback (deploy_id, checkin_id, source, sentiment, body, emoji, user_id, user_name,
                 guild_id, channel_id, message_id, given_at, updated_at, created_at)
             values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {conflict}"
        )))
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
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
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
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "update feedback set retracted_at = $1, updated_at = $2
             where source = 'reaction' and message_id = $3 and user_id = $4 and emoji = $5
               and retracted_at is null",
        )
        .bind(time_to_db(now))
        .bind(time_to_db(now))
        .bind(to_db(message_id))
        .bind(to_db(user_id))
        .bind(emoji)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every answer about a release still standing that `reader` may read, newest first.
    pub async fn feedback_for(&self, deploy_id: i64, reader: Reader) -> Result<Vec<Feedback>> {
        let rows: Vec<FeedbackRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select {FEEDBACK_COLUMNS} from feedback f
             where f.deploy_id = ? and f.retracted_at is null and {visible}
             order by f.given_at desc, f.id desc",
            visible = Visible::of(reader).feedback("f")
        )))
        .bind(deploy_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(Feedback::try_from).collect()
    }

    /// The tally of a release's answers that `reader` may read.
    pub async fn release_tally(&self, deploy_id: i64, reader: Reader) -> Result<Tally> {
        let mut conn = self.pool().acquire().await?;
        tally(&mut conn, TallyOf::Release(deploy_id, reader)).await
    }

    /// The release a message of the bot's is about: a deploy announcement or a check-in.
    pub async fn release_of_message(
        &self,
        discord_message_id: u64,
    ) -> Result<Option<MessageRelease>> {
        // checkin.message_id is stored right after the post, before the delivery is settled.
        let row: Option<(String, i64, Option<i64>)> = sqlx::query_as(
            "select subject_kind, subject_id, deploy_id from (
                 select m.id as ord, m.subject_kind, m.subject_id, c.deploy_id from message m
                 left join checkin c on m.subject_kind = 'checkin' and c.id = m.subject_id
                 where m.discord_message_id = $1 and m.subject_kind in ('deploy', 'checkin')
                 union all
                 select 0, 'checkin', c.id, c.deploy_id from checkin c where c.message_id = $1) u
             order by ord limit 1",
        )
        .bind(to_db(discord_message_id))
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            None => None,
            Some((kind, id, _)) if kind == "deploy" => Some(MessageRelease {
                deploy_id: id,
                checkin_id: None,
            }),
            // A check-in message whose check-in is gone is about nothing any more.
            Some((_, id, deploy_id)) => deploy_id.map(|deploy_id| MessageRelease {
                deploy_id,
                checkin_id: Some(id),
            }),
        })
    }

    /// The deploy a person means by `release`: that version's latest deploy, preferring a
    /// successful one; without a version, the service's latest successful deploy (else latest).
    /// Only among the deploys `reader` may read: another server's releases are unknown here.
    pub async fn find_release(
        &self,
        release: &ReleaseRef,
        reader: Reader,
    ) -> Result<Option<Deploy>> {
        let row = sqlx::query(&crate::store::numbered(&format!(
            "select {DEPLOY_COLUMNS} from deploy d
             where d.service = ?1 collate nocase and (?2 is null or d.version = ?2) and {visible}
             order by d.status = 'succeeded' desc, coalesce(d.finished_at, d.started_at) desc,
                 d.id desc
             limit 1",
            visible = Visible::of(reader).deploy("d")
        )))
        .bind(&release.service)
        .bind(release.version.as_deref())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| deploy_from_row(&r)).transpose()
    }

    /// Autocomplete: recent `service@version` names containing `typed`, among the deploys
    /// `reader` may read.
    pub async fn release_suggestions(
        &self,
        typed: &str,
        limit: i64,
        reader: Reader,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(&crate::store::numbered(&format!(
            "select d.service || '@' || d.version as name from deploy d
             where instr(lower(d.service || '@' || d.version), lower(?)) > 0 and {visible}
             group by name order by max(d.id) desc limit ?",
            visible = Visible::of(reader).deploy("d")
        )))
        .bind(typed.trim())
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
