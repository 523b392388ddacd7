//! Alert noise votes (migration 20261203071000_alert_votes.sql): a person's **Useful** or
//! **Noise** on an alert group episode, the counts its message shows, and the summary's noisiest
//! alerts, fires and votes by alert name.

use chrono::{DateTime, Utc};

use super::dora::BindScope;
use super::ids::{time_to_db, to_db};
use super::outbox::Subject;
use super::summary_figures::scope_sql;
use super::visibility::Visible;
use super::{Result, Store, StoreError};
use crate::domain::alert_vote::{noisiest, NoisyAlert, Vote, VoteCounts};

/// What a vote did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteOutcome {
    /// Stored; `previous` is the person's vote it replaced. The episode's messages are queued
    /// for an edit showing `counts`.
    Recorded {
        previous: Option<Vote>,
        counts: VoteCounts,
    },
    /// The same vote again: nothing changed.
    Unchanged { counts: VoteCounts },
    /// No such alert group (pruned, or a forged id).
    NotFound,
}

impl Store {
    /// `user` votes `vote` on alert group episode `group_id`: one vote per person per episode,
    /// the latest replaces the earlier one. A change queues an edit of every message showing the
    /// group (digests included), in the same transaction.
    pub async fn vote_alert_group(
        &self,
        group_id: i64,
        user: u64,
        name: &str,
        vote: Vote,
        now: DateTime<Utc>,
    ) -> Result<VoteOutcome> {
        let mut tx = self.begin_write().await?;
        let exists: Option<i64> = sqlx::query_scalar("select id from alert_group where id = $1")
            .bind(group_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(VoteOutcome::NotFound);
        }
        let previous: Option<String> =
            sqlx::query_scalar("select vote from alert_vote where group_id = $1 and user_id = $2")
                .bind(group_id)
                .bind(to_db(user))
                .fetch_optional(&mut *tx)
                .await?;
        let previous = previous.as_deref().map(vote_from_db).transpose()?;
        if previous == Some(vote) {
            let counts = vote_counts(&mut tx, group_id).await?;
            return Ok(VoteOutcome::Unchanged { counts });
        }
        let now_db = time_to_db(now);
        sqlx::query(
            "insert into alert_vote (group_id, user_id, user_name, vote, voted_at, updated_at, created_at)
             values ($1, $2, $3, $4, $5, $5, $5)
             on conflict (group_id, user_id) do update set
                 user_name = excluded.user_name, vote = excluded.vote,
                 voted_at = excluded.voted_at, updated_at = excluded.updated_at",
        )
        .bind(group_id)
        .bind(to_db(user))
        .bind(name)
        .bind(vote.as_str())
        .bind(now_db)
        .execute(&mut *tx)
        .await?;
        let counts = vote_counts(&mut tx, group_id).await?;
        Self::requeue_shown(&mut tx, Subject::AlertGroup(group_id), now).await?;
        tx.commit().await?;
        Ok(VoteOutcome::Recorded { previous, counts })
    }

    /// Whether the bot's message `discord_message_id` in `channel` shows alert group `group_id`,
    /// alone or as a line of a digest (every member of a digest points at the digest's message).
    pub async fn message_shows_alert_group(
        &self,
        discord_message_id: u64,
        channel: u64,
        group_id: i64,
    ) -> Result<bool> {
        Ok(sqlx::query_scalar::<_, i64>(
            "select count(*) from message
             where discord_message_id = $1 and channel_id = $2
               and subject_kind = 'alert_group' and subject_id = $3",
        )
        .bind(to_db(discord_message_id))
        .bind(to_db(channel))
        .bind(group_id)
        .fetch_one(self.pool())
        .await?
            > 0)
    }

    /// The summary's noisiest alerts of `[start, end)`: `fired` is the alerts started in the
    /// period per name (the caller's rows, which also count the alerts); the votes are those
    /// given in the period, each counted for every distinct alert name of its group, in the
    /// scope and as the reader may read them. `domain::alert_vote::noisiest` decides the list.
    pub(super) async fn noisiest_alerts(
        tx: &mut sqlx::AnyConnection,
        (start, end): (i64, i64),
        (scope, visible): (Option<&str>, Visible),
        fired: &[(String, i64)],
    ) -> Result<Vec<NoisyAlert>> {
        let alert_scope = scope_sql(scope.is_some(), "a");
        let seen_a = visible.in_group("a.group_id");
        let votes: Vec<(String, i64, i64)> = sqlx::query_as(&crate::store::numbered(&format!(
            "with voted as (select v.group_id, v.vote from alert_vote v
                            where v.voted_at >= ? and v.voted_at < ?),
                  named as (select distinct a.group_id, a.name from alert a
                            where a.group_id in (select group_id from voted)
                              and {alert_scope} and {seen_a})
             select n.name, sum(v.vote = 'noise'), sum(v.vote = 'useful')
             from named n join voted v on v.group_id = n.group_id
             group by n.name"
        )))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_all(&mut *tx)
        .await?;
        Ok(noisiest(fired, &votes))
    }
}

/// The counts an episode's message shows: each person's latest vote.
pub(super) async fn vote_counts(
    conn: &mut sqlx::AnyConnection,
    group_id: i64,
) -> Result<VoteCounts> {
    let (useful, noise): (i64, i64) = sqlx::query_as(
        "select coalesce(sum(vote = 'useful'), 0), coalesce(sum(vote = 'noise'), 0)
         from alert_vote where group_id = $1",
    )
    .bind(group_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(VoteCounts { useful, noise })
}

fn vote_from_db(raw: &str) -> Result<Vote> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("alert_vote.vote {raw:?}")))
}

#[cfg(test)]
#[path = "alert_votes_tests.rs"]
mod tests;
