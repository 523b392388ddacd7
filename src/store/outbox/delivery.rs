//! The delivery worker's side of the outbox: the next delivery due, and how it went.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::digests::{digest_sent, load_digest};
use super::subjects::{load_subject, DeliverySubject};
use crate::domain::ChannelId;
use crate::store::ids::{channel_from_db, from_db, time_from_db, time_to_db, to_db};
use crate::store::{Result, Store};

/// One unit of work for the delivery worker: bring one message up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The oldest pending outbox row of its channel (the one that became due).
    pub outbox_id: i64,
    /// Every pending row for the same message up to this id is satisfied by this delivery,
    /// because it renders the subject's state as of the moment it was claimed.
    pub covers_through: i64,
    /// The `message` row; it names the post's nonce, so a retried post cannot duplicate.
    pub message_row: i64,
    pub channel: ChannelId,
    /// The Discord message to edit, once it was posted.
    pub discord_message_id: Option<u64>,
    pub attempts: i64,
    /// The post's nonce: the row's id and creation time, so that a row id reused after the
    /// database lost its last commits (OS crash, restored backup) is not taken by Discord for the
    /// earlier post it already has under that id.
    pub nonce: String,
    pub subject: DeliverySubject,
    /// Set when the message is a digest: the delivery renders and settles all its members.
    pub digest: Option<i64>,
}

/// `lb<kind><id>.<created ms>` in base 36: within Discord's 25 characters for any real row id.
/// A message posted again after someone deleted it adds `.<reposts>`: a new nonce, so Discord does
/// not answer with the deleted post, and stable while that post is retried.
fn nonce(kind: char, id: i64, created_at: i64, reposts: i64) -> String {
    fn base36(mut n: u64) -> String {
        let mut digits = Vec::new();
        loop {
            digits.push(std::char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
            n /= 36;
            if n == 0 {
                break;
            }
        }
        digits.iter().rev().collect()
    }
    let first = format!(
        "lb{kind}{}.{}",
        base36(id.unsigned_abs()),
        base36(created_at.unsigned_abs())
    );
    match reposts {
        0 => first,
        n => format!("{first}.{}", base36(n.unsigned_abs())),
    }
}

/// `heads(id)`: the first pending outbox row of each channel. Walks the `outbox_pending` index one
/// channel at a time (a loose index scan), so it costs a few lookups per channel however long the
/// queues are: a burst leaves thousands of rows pending behind Discord's per-channel limit, and the
/// worker asks this on every wake-up.
const QUEUE_HEADS: &str = "
    with recursive channels(channel_id) as (
        select (select min(channel_id) from outbox where state = 'pending')
        union all
        select (select min(p.channel_id) from outbox p
                where p.state = 'pending' and p.channel_id > channels.channel_id)
        from channels where channels.channel_id is not null
    ),
    heads(id) as (
        select (select min(p.id) from outbox p
                where p.state = 'pending' and p.channel_id = channels.channel_id)
        from channels where channels.channel_id is not null
    )";

impl Store {
    /// The next delivery that is due at `now`, if any. Rows of one channel go out in id order
    /// (an edit never overtakes its post); a channel waiting on a retry does not hold up others.
    pub async fn next_delivery(&self, now: DateTime<Utc>) -> Result<Option<Delivery>> {
        // One read transaction: the subject's state and `covers_through` come from the same snapshot.
        let mut tx = self.pool().begin().await?;
        let Some(head) = sqlx::query(&crate::store::numbered(&format!(
            "{QUEUE_HEADS}
             select o.id, o.message_id, o.channel_id, o.attempts from heads join outbox o on o.id = heads.id
             where o.due_at <= ?
             order by o.due_at, o.id limit 1"
        )))
        .bind(time_to_db(now))
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let outbox_id: i64 = head.get("id");
        let message_row: i64 = head.get("message_id");

        let message = sqlx::query(
            "select subject_kind, subject_id, discord_message_id, digest_id, created_at, reposts from message where id = $1",
        )
        .bind(message_row)
        .fetch_one(&mut *tx)
        .await?;
        let digest: Option<i64> = message.get("digest_id");
        if let Some(digest) = digest {
            let state = load_digest(&mut tx, digest).await?;
            let (created_at, reposts): (i64, i64) =
                sqlx::query_as("select created_at, reposts from digest where id = $1")
                    .bind(digest)
                    .fetch_one(&mut *tx)
                    .await?;
            tx.commit().await?;
            return Ok(Some(Delivery {
                outbox_id,
                covers_through: state.covers_through,
                message_row,
                channel: channel_from_db(head.get("channel_id")),
                discord_message_id: state.discord_message_id,
                attempts: head.get("attempts"),
                nonce: nonce('d', digest, created_at, reposts),
                subject: DeliverySubject::Digest(state.members),
                digest: Some(digest),
            }));
        }
        let covers_through: i64 =
            sqlx::query("select max(id) from outbox where message_id = $1 and state = 'pending'")
                .bind(message_row)
                .fetch_one(&mut *tx)
                .await?
                .get(0);
        let kind: String = message.get("subject_kind");
        let subject_id: i64 = message.get("subject_id");
        let subject =
            load_subject(&mut tx, &kind, subject_id)
                .await?
                .unwrap_or(DeliverySubject::Missing {
                    kind,
                    id: subject_id,
                });
        tx.commit().await?;

        Ok(Some(Delivery {
            outbox_id,
            covers_through,
            message_row,
            channel: channel_from_db(head.get("channel_id")),
            discord_message_id: message
                .get::<Option<i64>, _>("discord_message_id")
                .map(from_db),
            attempts: head.get("attempts"),
            nonce: nonce(
                'm',
                message_row,
                message.get("created_at"),
                message.get("reposts"),
            ),
            subject,
            digest: None,
        }))
    }

    /// When the next pending delivery falls due, if any is pending.
    pub async fn next_delivery_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        // Only the head of each channel's queue can be delivered next.
        let due: Option<i64> = sqlx::query(&crate::store::numbered(&format!(
            "{QUEUE_HEADS} select min(o.due_at) from heads join outbox o on o.id = heads.id"
        )))
        .fetch_one(self.pool())
        .await?
        .get(0);
        Ok(due.map(time_from_db))
    }

    /// Discord confirmed the delivery: remember the message id and close the rows it covered.
    pub async fn delivery_sent(
        &self,
        delivery: &Delivery,
        discord_message_id: u64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if let Some(digest) = delivery.digest {
            digest_sent(&mut tx, digest, discord_message_id, now).await?;
            Self::close_rows(&mut tx, delivery, "sent", None, now).await?;
            tx.commit().await?;
            return Ok(());
        }
        let now_db = time_to_db(now);
        sqlx::query(
            "update message set discord_message_id = $1, posted_at = coalesce(posted_at, $2), updated_at = $3
             where id = $4",
        )
        .bind(to_db(discord_message_id))
        .bind(now_db)
        .bind(now_db)
        .bind(delivery.message_row)
        .execute(&mut *tx)
        .await?;
        Self::close_rows(&mut tx, delivery, "sent", None, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The delivery failed in a way a retry can fix: try again at `due_at`.
    pub async fn delivery_retry(
        &self,
        delivery: &Delivery,
        due_at: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "update outbox set attempts = attempts + 1, due_at = $1, last_error = $2 where id = $3",
        )
        .bind(time_to_db(due_at))
        .bind(error)
        .bind(delivery.outbox_id)
        .execute(&mut *tx)
        .await?;
        Ok(tx.commit().await?)
    }

    /// The channel is at Discord's rate limit: the delivery waits until `due_at`, costing no attempt.
    pub async fn delivery_deferred(
        &self,
        delivery: &Delivery,
        due_at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("update outbox set due_at = $1 where id = $2")
            .bind(time_to_db(due_at))
            .bind(delivery.outbox_id)
            .execute(&mut *tx)
            .await?;
        Ok(tx.commit().await?)
    }

    /// Discord refused the delivery for good (or there is nothing to show): stop retrying it.
    pub async fn delivery_failed(
        &self,
        delivery: &Delivery,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        Self::close_rows(&mut tx, delivery, "failed", Some(error), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The delivery has nothing left to do and posted nothing (an incident's thread whose message
    /// was deleted before it could start: it is queued again once that message is posted anew).
    pub async fn delivery_skipped(&self, delivery: &Delivery, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        Self::close_rows(&mut tx, delivery, "sent", None, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn close_rows(
        tx: &mut sqlx::AnyConnection,
        delivery: &Delivery,
        state: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        // A digest's delivery covers the pending rows of every member message.
        let (messages, key) = match delivery.digest {
            Some(digest) => ("(select id from message where digest_id = ?)", digest),
            None => ("(?)", delivery.message_row),
        };
        sqlx::query(&crate::store::numbered(&format!(
            "update outbox set state = ?, sent_at = ?, last_error = coalesce(?, last_error),
                 attempts = attempts + 1
             where message_id in {messages} and state = 'pending' and id <= ?"
        )))
        .bind(state)
        .bind(time_to_db(now))
        .bind(error)
        .bind(key)
        .bind(delivery.covers_through)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// How many outbox rows are still waiting for Discord.
    pub async fn pending_deliveries(&self) -> Result<i64> {
        Ok(
            sqlx::query("select count(*) from outbox where state = 'pending'")
                .fetch_one(self.pool())
                .await?
                .get(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::nonce;

    #[test]
    fn nonces_fit_discord_and_differ_when_a_row_id_is_reused() {
        // A trillion rows, created in the year 2100, deleted and posted again 46 655 times.
        let longest = nonce('m', 1_000_000_000_000, 4_102_444_800_000, 46_655);
        assert!(longest.len() <= 25, "{longest}");
        assert_eq!(
            nonce('m', 7, 1_764_000_000_000, 0),
            nonce('m', 7, 1_764_000_000_000, 0)
        );
        assert_ne!(
            nonce('m', 7, 1_764_000_000_000, 0),
            nonce('m', 7, 1_764_000_000_001, 0)
        );
        assert_ne!(nonce('m', 7, 1, 0), nonce('d', 7, 1, 0));
        // Posted again after a deletion: a nonce of its own, the same on every retry.
        assert_ne!(nonce('m', 7, 1, 0), nonce('m', 7, 1, 1));
        assert_eq!(nonce('m', 7, 1, 2), nonce('m', 7, 1, 2));
    }
}
