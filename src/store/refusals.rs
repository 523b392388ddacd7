//! What the delivery worker writes when Discord says no: a channel held (`channel_health`, see the
//! migration), a channel reachable again or given up on, and a deleted message to post anew.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::ids::{channel_from_db, channel_to_db, time_to_db, try_time_from_db};
use super::{Delivery, Result, Store, StoreError};
use crate::domain::refusal::Hold;
use crate::domain::ChannelId;

#[derive(sqlx::FromRow)]
struct HoldRow {
    channel_id: i64,
    since: i64,
    missing: Option<String>,
    reason: String,
    retry_ms: i64,
}

impl TryFrom<HoldRow> for (ChannelId, Hold) {
    type Error = StoreError;
    fn try_from(row: HoldRow) -> Result<Self> {
        let retry_ms = u64::try_from(row.retry_ms).map_err(|_| {
            StoreError::Corrupt(format!("channel_health.retry_ms {}", row.retry_ms))
        })?;
        Ok((
            channel_from_db(row.channel_id),
            Hold {
                since: try_time_from_db(row.since)?,
                reason: row.reason,
                missing: row.missing,
                retry_in: Duration::from_millis(retry_ms),
            },
        ))
    }
}

const HOLD_COLUMNS: &str = "channel_id, since, missing, reason, retry_ms";

impl Store {
    /// The channel's hold, if the bot cannot post there.
    pub async fn channel_hold(&self, channel: ChannelId) -> Result<Option<Hold>> {
        let row: Option<HoldRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select {HOLD_COLUMNS} from channel_health where channel_id = ?"
        )))
        .bind(channel_to_db(channel))
        .fetch_optional(self.pool())
        .await?;
        Ok(row
            .map(<(ChannelId, Hold)>::try_from)
            .transpose()?
            .map(|(_, hold)| hold))
    }

    /// Every channel the bot cannot post in, for `/metrics` and the logs.
    pub async fn unreachable_channels(&self) -> Result<Vec<(ChannelId, Hold)>> {
        let rows: Vec<HoldRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select {HOLD_COLUMNS} from channel_health order by channel_id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(TryFrom::try_from).collect()
    }

    /// Holds the delivery's channel: records the hold and moves the head of its queue to the next
    /// try, without counting an attempt. `error` is Discord's answer.
    pub async fn hold_channel(
        &self,
        delivery: &Delivery,
        hold: &Hold,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let retry_ms = hold.retry_in.as_millis().min(i64::MAX as u128) as i64;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "insert into channel_health (channel_id, since, missing, reason, retry_ms, last_error, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (channel_id) do update set since = excluded.since, missing = excluded.missing,
                 reason = excluded.reason, retry_ms = excluded.retry_ms,
                 last_error = excluded.last_error, updated_at = excluded.updated_at",
        )
        .bind(channel_to_db(delivery.channel))
        .bind(time_to_db(hold.since))
        .bind(hold.missing.as_deref())
        .bind(&hold.reason)
        .bind(retry_ms)
        .bind(error)
        .bind(time_to_db(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("update outbox set due_at = $1, last_error = $2 where id = $3")
            .bind(time_to_db(now) + retry_ms)
            .bind(error)
            .bind(delivery.outbox_id)
            .execute(&mut *tx)
            .await?;
        Ok(tx.commit().await?)
    }

    /// A post or edit in `channel` worked: it is no longer held. Returns the hold it had, if any.
    pub async fn channel_reachable(&self, channel: ChannelId) -> Result<Option<Hold>> {
        let Some(hold) = self.channel_hold(channel).await? else {
            return Ok(None);
        };
        let mut tx = self.begin_write().await?;
        sqlx::query("delete from channel_health where channel_id = $1")
            .bind(channel_to_db(channel))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(hold))
    }

    /// Dead-letters every pending row of `channel` with `error` (unreachable for too long). The hold
    /// stays, so the channel's warning does too. Returns how many rows were failed.
    pub async fn give_up_channel(
        &self,
        channel: ChannelId,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let failed = sqlx::query(
            "update outbox set state = 'failed', sent_at = $1, last_error = $2
             where channel_id = $3 and state = 'pending'",
        )
        .bind(time_to_db(now))
        .bind(error)
        .bind(channel_to_db(channel))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(failed)
    }

    /// Someone deleted the delivery's message: forget its Discord id so the next delivery posts the
    /// current state as a new message, under a new nonce (one more repost). Costs no attempt.
    pub async fn message_gone(&self, delivery: &Delivery) -> Result<()> {
        let mut tx = self.begin_write().await?;
        match delivery.digest {
            Some(digest) => {
                sqlx::query(
                    "update digest set discord_message_id = null, reposts = reposts + 1 where id = $1",
                )
                .bind(digest)
                .execute(&mut *tx)
                .await?;
                sqlx::query("update message set discord_message_id = null where digest_id = $1")
                    .bind(digest)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {
                sqlx::query(
                    "update message set discord_message_id = null, reposts = reposts + 1 where id = $1",
                )
                .bind(delivery.message_row)
                .execute(&mut *tx)
                .await?;
            }
        }
        Ok(tx.commit().await?)
    }
}
