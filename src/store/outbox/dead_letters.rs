//! Dead letters: deliveries Discord refused for good (state `failed`, its answer in
//! `last_error`), listed for `loopbot outbox failed`, counted for `/metrics`, and re-queued by
//! `loopbot outbox retry`.
//!
//! A message whose failed row was followed by a delivery that went through shows its current
//! state again, so that failure is no longer a dead letter: a dead letter is a message's newest
//! failed row with no row sent after it. Re-queuing it renders the subject's current state,
//! like any delivery.

use chrono::{DateTime, Utc};

use super::SubjectKind;
use crate::domain::ChannelId;
use crate::store::ids::{channel_from_db, time_to_db, try_time_from_db};
use crate::store::{Result, Store, StoreError};

/// One message Discord would not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The outbox row to name to `loopbot outbox retry`.
    pub id: i64,
    pub channel: ChannelId,
    /// What the message is about (`message.subject_kind`, kept as text: a kind this version does
    /// not know is still listed).
    pub subject_kind: String,
    pub subject_id: i64,
    /// When Discord refused it.
    pub failed_at: DateTime<Utc>,
    /// Discord's answer (or why there was nothing to send).
    pub reason: String,
    /// How many queued updates of the message were refused with it.
    pub rows: i64,
}

/// Which dead letters `retry` re-queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    One(i64),
    All,
}

/// The newest failed row of each message, unless a later row of it was sent. Walks the failed
/// rows through the `outbox_pending` index (state first); there are few.
const DEAD_LETTERS: &str = "
    select o.id, o.channel_id, m.subject_kind, m.subject_id, o.sent_at, o.created_at,
           coalesce(o.last_error, '') as reason,
           (select count(*) from outbox f
            where f.state = 'failed' and f.channel_id = o.channel_id and f.message_id = o.message_id
              and f.id > coalesce((select max(s.id) from outbox s
                                   where s.state = 'sent' and s.channel_id = o.channel_id
                                     and s.message_id = o.message_id), 0)) as rows
    from outbox o join message m on m.id = o.message_id
    where o.state = 'failed'
      and not exists (select 1 from outbox later
                      where later.channel_id = o.channel_id and later.message_id = o.message_id
                        and later.id > o.id and later.state in ('sent', 'failed'))";

#[derive(sqlx::FromRow)]
struct DeadLetterRow {
    id: i64,
    channel_id: i64,
    subject_kind: String,
    subject_id: i64,
    sent_at: Option<i64>,
    created_at: i64,
    reason: String,
    rows: i64,
}

impl TryFrom<DeadLetterRow> for DeadLetter {
    type Error = StoreError;

    fn try_from(row: DeadLetterRow) -> Result<Self> {
        Ok(DeadLetter {
            id: row.id,
            channel: channel_from_db(row.channel_id),
            subject_kind: row.subject_kind,
            subject_id: row.subject_id,
            failed_at: try_time_from_db(row.sent_at.unwrap_or(row.created_at))?,
            reason: row.reason,
            rows: row.rows,
        })
    }
}

impl DeadLetter {
    /// `deploy #12`, `alert_group #3`.
    pub fn subject(&self) -> String {
        format!("{} #{}", self.subject_kind, self.subject_id)
    }

    /// Whether this version knows the subject's kind (a retry of an unknown one fails again).
    pub fn known_kind(&self) -> bool {
        self.subject_kind.parse::<SubjectKind>().is_ok()
    }
}

impl Store {
    /// Every dead letter, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        let rows: Vec<DeadLetterRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "{DEAD_LETTERS} order by o.id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(DeadLetter::try_from).collect()
    }

    /// How many dead letters there are (the `loopbot_outbox_dead_letters` gauge).
    pub async fn dead_letter_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(&crate::store::numbered(&format!(
            "select count(*) from ({DEAD_LETTERS}) d"
        )))
        .fetch_one(self.pool())
        .await?)
    }

    /// Puts dead letters back in their channel's queue, due now with a fresh count of attempts;
    /// the delivery worker then renders each subject's current state. Returns the ids re-queued:
    /// none when `Retry::One` names a row that is not a dead letter.
    pub async fn retry_dead_letters(&self, which: Retry, now: DateTime<Utc>) -> Result<Vec<i64>> {
        let mut tx = self.begin_write().await?;
        let filter = match which {
            Retry::One(_) => " and o.id = ?",
            Retry::All => "",
        };
        let sql = format!(
            "update outbox set state = 'pending', due_at = ?, attempts = 0, sent_at = null
             where id in (select d.id from ({DEAD_LETTERS}{filter}) d)
             returning id"
        );
        let sql = crate::store::numbered(&sql);
        let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(time_to_db(now));
        if let Retry::One(id) = which {
            query = query.bind(id);
        }
        let mut ids = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        ids.sort_unstable();
        Ok(ids)
    }
}
