//! The outbox: every post or edit to Discord is a row here before it is a request.
//!
//! This file is what the rest of the store writes through, inside its own transactions:
//! [`Subject`] (what a message is about), `enqueue`, `channels_showing` and the raw inbound
//! event. Below it, and importing nothing from each other in a circle: `subjects` loads what a
//! message shows, `digests` folds a flooded channel's posts into one message, `delivery` hands
//! the worker its next delivery and settles it, and `dead_letters` lists and re-queues what
//! Discord refused for good.

mod dead_letters;
mod delivery;
mod digests;
mod subjects;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::ids::{channel_from_db, channel_to_db, time_to_db};
use super::{Result, Store};
use crate::domain::ChannelId;

pub use dead_letters::{DeadLetter, Retry};
pub use delivery::Delivery;
pub use subjects::DeliverySubject;

/// What kind of thing a message is about; the `message.subject_kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectKind {
    Deploy,
    AlertGroup,
    /// A post-release check-in.
    Checkin,
    /// The note in a check-in's thread that a later check-in was cancelled.
    CheckinCancelled,
    /// A weekly summary for one channel.
    Summary,
    /// A declared incident's own message (an alert's incident is shown by its alert message).
    Incident,
    /// Starting the incident's thread on its message (not a post: see `discord::incidents`).
    IncidentThread,
    /// One timeline entry, posted in the incident's thread.
    IncidentEvent,
    /// The retro prompt in the incident's thread, once it resolved.
    IncidentPrompt,
}

impl SubjectKind {
    pub const ALL: [SubjectKind; 9] = [
        SubjectKind::Deploy,
        SubjectKind::AlertGroup,
        SubjectKind::Checkin,
        SubjectKind::CheckinCancelled,
        SubjectKind::Summary,
        SubjectKind::Incident,
        SubjectKind::IncidentThread,
        SubjectKind::IncidentEvent,
        SubjectKind::IncidentPrompt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Deploy => "deploy",
            SubjectKind::AlertGroup => "alert_group",
            SubjectKind::Checkin => "checkin",
            SubjectKind::CheckinCancelled => "checkin_cancelled",
            SubjectKind::Summary => "summary",
            SubjectKind::Incident => "incident",
            SubjectKind::IncidentThread => "incident_thread",
            SubjectKind::IncidentEvent => "incident_event",
            SubjectKind::IncidentPrompt => "incident_prompt",
        }
    }
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `subject_kind` this version does not know (written by a newer one, or by hand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown message subject kind {0:?}")]
pub struct UnknownSubjectKind(pub String);

impl FromStr for SubjectKind {
    type Err = UnknownSubjectKind;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        SubjectKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownSubjectKind(s.to_owned()))
    }
}

/// What a message is about: a kind and the id of its row (`deploy.id`, `alert_group.id`,
/// `checkin.id` for both check-in kinds, `summary.id`, `incident.id` for the incident's message,
/// thread and prompt, `incident_event.id` for a timeline entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Deploy(i64),
    AlertGroup(i64),
    Checkin(i64),
    CheckinCancelled(i64),
    Summary(i64),
    Incident(i64),
    IncidentThread(i64),
    IncidentEvent(i64),
    IncidentPrompt(i64),
}

impl Subject {
    pub fn kind(self) -> SubjectKind {
        match self {
            Subject::Deploy(_) => SubjectKind::Deploy,
            Subject::AlertGroup(_) => SubjectKind::AlertGroup,
            Subject::Checkin(_) => SubjectKind::Checkin,
            Subject::CheckinCancelled(_) => SubjectKind::CheckinCancelled,
            Subject::Summary(_) => SubjectKind::Summary,
            Subject::Incident(_) => SubjectKind::Incident,
            Subject::IncidentThread(_) => SubjectKind::IncidentThread,
            Subject::IncidentEvent(_) => SubjectKind::IncidentEvent,
            Subject::IncidentPrompt(_) => SubjectKind::IncidentPrompt,
        }
    }

    pub fn id(self) -> i64 {
        match self {
            Subject::Deploy(id)
            | Subject::AlertGroup(id)
            | Subject::Checkin(id)
            | Subject::CheckinCancelled(id)
            | Subject::Summary(id)
            | Subject::Incident(id)
            | Subject::IncidentThread(id)
            | Subject::IncidentEvent(id)
            | Subject::IncidentPrompt(id) => id,
        }
    }
}

impl Store {
    /// Keeps a sender's raw body for audit and replay; returns its id.
    pub(in crate::store) async fn insert_inbound_event(
        tx: &mut sqlx::AnyConnection,
        source: &str,
        idempotency_key: Option<&str>,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let now_db = time_to_db(now);
        Ok(sqlx::query(
            "insert into inbound_event (source, idempotency_key, body, received_at, created_at)
             values ($1, $2, $3, $4, $5) returning id",
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

    /// The channels that have a message about `subject`, oldest first.
    pub(in crate::store) async fn channels_showing(
        tx: &mut sqlx::AnyConnection,
        subject: Subject,
    ) -> Result<Vec<ChannelId>> {
        let rows = sqlx::query(
            "select channel_id from message where subject_kind = $1 and subject_id = $2 order by id",
        )
        .bind(subject.kind().as_str())
        .bind(subject.id())
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows.iter().map(|r| channel_from_db(r.get(0))).collect())
    }

    /// Queues "show `subject`'s current state in `channel`": creates the message row on first use
    /// (its id is the post's nonce) and an outbox row for the worker.
    pub(in crate::store) async fn enqueue(
        tx: &mut sqlx::AnyConnection,
        channel: ChannelId,
        subject: Subject,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now_db = time_to_db(now);
        let message_id: i64 = sqlx::query(
            "insert into message (channel_id, subject_kind, subject_id, updated_at, created_at)
             values ($1, $2, $3, $4, $5)
             on conflict (channel_id, subject_kind, subject_id) do update set updated_at = excluded.updated_at
             returning id",
        )
        .bind(channel_to_db(channel))
        .bind(subject.kind().as_str())
        .bind(subject.id())
        .bind(now_db)
        .bind(now_db)
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        sqlx::query(
            "insert into outbox (message_id, channel_id, due_at, created_at) values ($1, $2, $3, $4)",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_kinds_read_back_as_written() {
        for kind in SubjectKind::ALL {
            assert_eq!(kind.as_str().parse(), Ok(kind));
        }
        assert_eq!(
            "page".parse::<SubjectKind>(),
            Err(UnknownSubjectKind("page".into()))
        );
        assert_eq!(
            Subject::CheckinCancelled(7).kind().as_str(),
            "checkin_cancelled"
        );
        assert_eq!(Subject::CheckinCancelled(7).id(), 7);
    }
}
