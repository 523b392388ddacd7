//! Digests: one message standing for many subjects of a flooded channel (see the migration).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::subjects::{load_subject, DeliverySubject};
use crate::domain::ChannelId;
use crate::store::ids::{channel_to_db, from_db, time_to_db, to_db};
use crate::store::{Result, Store};

/// Subjects that may be folded into a digest: alert groups, the storm an on-call engineer needs
/// tamed. Check-ins are not (people answer them by button), nor deploy announcements (people
/// react to them as feedback on one release); those are only paced.
const DIGESTIBLE: &str = "('alert_group')";

/// A digest as a delivery sees it.
pub(super) struct DigestState {
    pub members: Vec<DeliverySubject>,
    pub covers_through: i64,
    pub discord_message_id: Option<u64>,
}

impl Store {
    /// Folds the first posts waiting in `channel` into digests if it is flooded. A channel is flooded when
    /// more than `threshold` subjects wait for their first post there; each digest takes at most
    /// `max_members`. Only subjects never attempted are folded, so no individual post can already
    /// exist on Discord. Returns how many digests were formed.
    pub async fn coalesce_floods(
        &self,
        channel: ChannelId,
        threshold: usize,
        max_members: usize,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let waiting = format!(
            "from outbox o join message m on m.id = o.message_id
             where o.state = 'pending' and m.discord_message_id is null and m.digest_id is null
               and m.subject_kind in {DIGESTIBLE}
               and not exists (select 1 from outbox t where t.message_id = m.id and t.attempts > 0)"
        );
        // Cheap read first: the common case is no flood at all.
        let flooded: Vec<i64> = sqlx::query(&crate::store::numbered(&format!(
            "select o.channel_id {waiting} and o.channel_id = ?
             group by o.channel_id having count(distinct m.id) > ?"
        )))
        .bind(channel_to_db(channel))
        .bind(threshold as i64)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
        if flooded.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut formed = 0;
        for channel in flooded {
            let members: Vec<i64> = sqlx::query(&crate::store::numbered(&format!(
                "select m.id {waiting} and o.channel_id = ? group by m.id order by min(o.id) limit ?"
            )))
            .bind(channel)
            .bind(max_members as i64)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
            // Re-checked inside the write transaction: another writer may have changed the queue.
            if members.len() <= threshold {
                continue;
            }
            let digest: i64 = sqlx::query(
                "insert into digest (channel_id, created_at) values ($1, $2) returning id",
            )
            .bind(channel)
            .bind(time_to_db(now))
            .fetch_one(&mut *tx)
            .await?
            .get(0);
            for member in &members {
                sqlx::query("update message set digest_id = $1 where id = $2")
                    .bind(digest)
                    .bind(member)
                    .execute(&mut *tx)
                    .await?;
            }
            tracing::info!(
                channel,
                digest,
                members = members.len(),
                "channel flooded: folding posts into a digest"
            );
            formed += 1;
        }
        tx.commit().await?;
        Ok(formed)
    }

    /// Every message row, channel and digest message id of the digests in `channel` (for tests
    /// and the `/metrics` view).
    pub async fn digests_in(&self, channel: ChannelId) -> Result<Vec<(i64, Option<u64>, i64)>> {
        let rows = sqlx::query(
            "select d.id, d.discord_message_id, (select count(*) from message m where m.digest_id = d.id)
             from digest d where d.channel_id = $1 order by d.id",
        )
        .bind(channel_to_db(channel))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<Option<i64>, _>(1).map(from_db), r.get(2)))
            .collect())
    }
}

/// Loads a digest's members in their current state, and the newest pending row any of them has.
pub(super) async fn load_digest(
    conn: &mut sqlx::AnyConnection,
    digest: i64,
) -> Result<DigestState> {
    let rows = sqlx::query(
        "select subject_kind, subject_id from message where digest_id = $1 order by id",
    )
    .bind(digest)
    .fetch_all(&mut *conn)
    .await?;
    let mut members = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = row.get(0);
        let id: i64 = row.get(1);
        if let Some(subject) = load_subject(&mut *conn, &kind, id).await? {
            members.push(subject);
        }
    }
    let covers_through: i64 = sqlx::query(
        "select coalesce(max(o.id), 0) from outbox o join message m on m.id = o.message_id
         where m.digest_id = $1 and o.state = 'pending'",
    )
    .bind(digest)
    .fetch_one(&mut *conn)
    .await?
    .get(0);
    let discord_message_id = sqlx::query("select discord_message_id from digest where id = $1")
        .bind(digest)
        .fetch_one(&mut *conn)
        .await?
        .get::<Option<i64>, _>(0)
        .map(from_db);
    Ok(DigestState {
        members,
        covers_through,
        discord_message_id,
    })
}

/// Discord confirmed the digest: it and every member now point at its message.
pub(super) async fn digest_sent(
    conn: &mut sqlx::AnyConnection,
    digest: i64,
    discord_message_id: u64,
    now: DateTime<Utc>,
) -> Result<()> {
    let now_db = time_to_db(now);
    sqlx::query(
        "update digest set discord_message_id = $1, posted_at = coalesce(posted_at, $2) where id = $3",
    )
    .bind(to_db(discord_message_id))
    .bind(now_db)
    .bind(digest)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update message set discord_message_id = $1, posted_at = coalesce(posted_at, $2), updated_at = $3
         where digest_id = $4",
    )
    .bind(to_db(discord_message_id))
    .bind(now_db)
    .bind(now_db)
    .bind(digest)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
