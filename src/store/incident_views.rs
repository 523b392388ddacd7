//! Incidents with an end, the reads: what the incident's messages show (its card, the thread to
//! start, a timeline entry, the retro prompt), the incident with its timeline, retro and
//! follow-ups (API, dashboard), and the open follow-ups a server sees (`/followups`).

use chrono::{DateTime, NaiveDate, Utc};

use super::alert_rows::opt_time;
use super::ids::{from_db, time_from_db};
use super::visibility::Visible;
use super::{Result, Store, StoreError};
use crate::domain::incident_review::{EventKind, FollowupState, Owner, TimelineEntry};
use crate::domain::visibility::Reader;

/// An incident as its messages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentCard {
    pub id: i64,
    pub title: String,
    pub severity: String,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<u64>,
    pub deploy_id: Option<i64>,
    /// None for an incident an alert opened.
    pub group_id: Option<i64>,
    pub declared_by: Option<u64>,
    pub declared_by_name: Option<String>,
    pub thread_id: Option<u64>,
}

pub(super) const CARD_COLUMNS: &str = "i.id, i.title, i.severity, i.service, i.environment, \
     i.opened_at, i.resolved_at, i.acknowledged_at, i.acknowledged_by, i.deploy_id, i.group_id, \
     i.declared_by, i.declared_by_name, i.thread_id";

#[derive(sqlx::FromRow)]
pub(super) struct CardRow {
    id: i64,
    title: String,
    severity: String,
    service: Option<String>,
    environment: Option<String>,
    opened_at: i64,
    resolved_at: Option<i64>,
    acknowledged_at: Option<i64>,
    acknowledged_by: Option<i64>,
    deploy_id: Option<i64>,
    group_id: Option<i64>,
    declared_by: Option<i64>,
    declared_by_name: Option<String>,
    thread_id: Option<i64>,
}

impl From<CardRow> for IncidentCard {
    fn from(r: CardRow) -> Self {
        IncidentCard {
            id: r.id,
            title: r.title,
            severity: r.severity,
            service: r.service,
            environment: r.environment,
            opened_at: time_from_db(r.opened_at),
            resolved_at: opt_time(r.resolved_at),
            acknowledged_at: opt_time(r.acknowledged_at),
            acknowledged_by: r.acknowledged_by.map(from_db),
            deploy_id: r.deploy_id,
            group_id: r.group_id,
            declared_by: r.declared_by.map(from_db),
            declared_by_name: r.declared_by_name,
            thread_id: r.thread_id.map(from_db),
        }
    }
}

/// Starting an incident's thread: on which Discord message, per channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadStart {
    pub incident_id: i64,
    pub title: String,
    /// Already started (a retried delivery after it was stored).
    pub thread_id: Option<u64>,
    /// (channel, Discord message) of each posted message showing the incident: its alert
    /// group's (or the digest standing for it), or a declared incident's own.
    pub messages: Vec<(u64, u64)>,
}

/// One retro, as its author last wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetroView {
    pub author_id: u64,
    pub author_name: String,
    pub what_happened: String,
    pub what_helped: String,
    pub sooner: String,
    pub at: DateTime<Utc>,
}

/// A follow-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowupView {
    pub id: i64,
    pub incident_id: i64,
    pub incident_title: String,
    pub what: String,
    pub owner: Owner,
    pub due: Option<NaiveDate>,
    pub state: FollowupState,
    pub opened_by_name: String,
    pub opened_at: DateTime<Utc>,
    pub closed_by_name: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// An incident with everything known about it (`GET /api/v1/incidents/{id}`, the dashboard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentDetail {
    pub card: IncidentCard,
    pub timeline: Vec<TimelineEntry>,
    pub retros: Vec<RetroView>,
    pub followups: Vec<FollowupView>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    incident_id: i64,
    kind: String,
    actor_name: Option<String>,
    detail: Option<String>,
    at: i64,
}

impl TryFrom<EventRow> for TimelineEntry {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self> {
        Ok(TimelineEntry {
            id: r.id,
            incident_id: r.incident_id,
            kind: EventKind::from_stored(&r.kind).ok_or_else(|| {
                StoreError::Corrupt(format!("incident_event.kind = {:?}", r.kind))
            })?,
            actor: r.actor_name,
            detail: r.detail,
            at: time_from_db(r.at),
        })
    }
}

const EVENT_COLUMNS: &str = "id, incident_id, kind, actor_name, detail, at";

#[derive(sqlx::FromRow)]
struct FollowupRow {
    id: i64,
    incident_id: i64,
    incident_title: String,
    what: String,
    owner_id: Option<i64>,
    owner_text: Option<String>,
    due_date: Option<String>,
    state: String,
    opened_by_name: String,
    opened_at: i64,
    closed_by_name: Option<String>,
    closed_at: Option<i64>,
}

const FOLLOWUP_COLUMNS: &str = "f.id, f.incident_id, i.title as incident_title, f.what, \
     f.owner_id, f.owner_text, f.due_date, f.state, f.opened_by_name, f.opened_at, \
     f.closed_by_name, f.closed_at";

impl TryFrom<FollowupRow> for FollowupView {
    type Error = StoreError;
    fn try_from(r: FollowupRow) -> Result<Self> {
        let owner = match (r.owner_id, r.owner_text) {
            (Some(id), _) => Owner::User(from_db(id)),
            (None, Some(text)) => Owner::Text(text),
            (None, None) => {
                return Err(StoreError::Corrupt(format!(
                    "followup {} has neither owner_id nor owner_text",
                    r.id
                )))
            }
        };
        let due = r
            .due_date
            .map(|d| {
                NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .map_err(|_| StoreError::Corrupt(format!("followup.due_date = {d:?}")))
            })
            .transpose()?;
        Ok(FollowupView {
            id: r.id,
            incident_id: r.incident_id,
            incident_title: r.incident_title,
            what: r.what,
            owner,
            due,
            state: FollowupState::from_stored(&r.state)
                .ok_or_else(|| StoreError::Corrupt(format!("followup.state = {:?}", r.state)))?,
            opened_by_name: r.opened_by_name,
            opened_at: time_from_db(r.opened_at),
            closed_by_name: r.closed_by_name,
            closed_at: opt_time(r.closed_at),
        })
    }
}

/// A declared incident's message, or the retro prompt: the incident's card.
pub(super) async fn incident_card(
    conn: &mut sqlx::AnyConnection,
    id: i64,
) -> Result<Option<IncidentCard>> {
    Ok(
        sqlx::query_as::<_, CardRow>(&crate::store::numbered(&format!(
            "select {CARD_COLUMNS} from incident i where i.id = ?"
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .map(IncidentCard::from),
    )
}

/// What starting the incident's thread needs.
pub(super) async fn thread_start(
    conn: &mut sqlx::AnyConnection,
    id: i64,
) -> Result<Option<ThreadStart>> {
    let Some(card) = incident_card(conn, id).await? else {
        return Ok(None);
    };
    let messages: Vec<(i64, i64)> = sqlx::query_as(
        "select m.channel_id, coalesce(m.discord_message_id, d.discord_message_id) as shown
         from message m left join digest d on d.id = m.digest_id
         where ((m.subject_kind = 'alert_group' and m.subject_id = $1)
                or (m.subject_kind = 'incident' and m.subject_id = $2))
           and coalesce(m.discord_message_id, d.discord_message_id) is not null
         order by m.id",
    )
    .bind(card.group_id)
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(ThreadStart {
        incident_id: id,
        title: card.title,
        thread_id: card.thread_id,
        messages: messages
            .into_iter()
            .map(|(c, m)| (from_db(c), from_db(m)))
            .collect(),
    }))
}

/// One timeline entry, for its post in the thread.
pub(super) async fn incident_event_entry(
    conn: &mut sqlx::AnyConnection,
    id: i64,
) -> Result<Option<TimelineEntry>> {
    sqlx::query_as::<_, EventRow>(&crate::store::numbered(&format!(
        "select {EVENT_COLUMNS} from incident_event where id = ?"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .map(TimelineEntry::try_from)
    .transpose()
}

impl Store {
    /// An incident with its timeline, retros and follow-ups, if `reader` may read it.
    pub async fn incident_detail(&self, id: i64, reader: Reader) -> Result<Option<IncidentDetail>> {
        let visible = Visible::of(reader);
        let mut conn = self.pool().acquire().await?;
        let Some(card) = sqlx::query_as::<_, CardRow>(&crate::store::numbered(&format!(
            "select {CARD_COLUMNS} from incident i where i.id = ? and {}",
            visible.incident("i")
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .map(IncidentCard::from) else {
            return Ok(None);
        };
        let timeline = sqlx::query_as::<_, EventRow>(&crate::store::numbered(&format!(
            "select {EVENT_COLUMNS} from incident_event where incident_id = ? order by at, id"
        )))
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(TimelineEntry::try_from)
        .collect::<Result<Vec<_>>>()?;
        let retros = sqlx::query_as::<_, (i64, String, String, String, String, i64)>(
            "select author_id, author_name, what_happened, what_helped, sooner, at
             from incident_retro where incident_id = $1 order by at, id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(author, name, happened, helped, sooner, at)| RetroView {
            author_id: from_db(author),
            author_name: name,
            what_happened: happened,
            what_helped: helped,
            sooner,
            at: time_from_db(at),
        })
        .collect();
        let followups = sqlx::query_as::<_, FollowupRow>(&crate::store::numbered(&format!(
            "select {FOLLOWUP_COLUMNS} from followup f join incident i on i.id = f.incident_id
             where f.incident_id = ? order by f.id"
        )))
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(FollowupView::try_from)
        .collect::<Result<Vec<_>>>()?;
        Ok(Some(IncidentDetail {
            card,
            timeline,
            retros,
            followups,
        }))
    }

    /// The open follow-ups of the incidents `reader` sees, oldest first.
    pub async fn open_followups(&self, reader: Reader) -> Result<Vec<FollowupView>> {
        sqlx::query_as::<_, FollowupRow>(&crate::store::numbered(&format!(
            "select {FOLLOWUP_COLUMNS} from followup f join incident i on i.id = f.incident_id
             where f.state = 'open' and {} order by f.opened_at, f.id",
            Visible::of(reader).incident("i")
        )))
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(FollowupView::try_from)
        .collect()
    }

    /// The incident whose thread `channel` is, if any.
    pub async fn incident_of_thread(&self, channel: u64) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("select id from incident where thread_id = $1")
                .bind(super::ids::to_db(channel))
                .fetch_optional(self.pool())
                .await?,
        )
    }
}
