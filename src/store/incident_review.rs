//! Incidents with an end, the writes: timeline entries (each queued into the incident's thread
//! through the outbox once it exists), the thread once started, `/incident declare` and
//! `/incident resolve`, the retro, follow-ups added and closed. Reads are in `incident_views`.

use chrono::{DateTime, Utc};

use super::ids::{channel_to_db, from_db, time_from_db, time_to_db, to_db, Flag};
use super::outbox::Subject;
use super::visibility::Visible;
use super::{Result, Store};
use crate::domain::incident_review::{
    deploy_detail, may_close_followup, resolved_detail, CloseRefusal, EventKind, FollowupState,
    NewFollowup, Owner, Retro,
};
use crate::domain::visibility::Reader;
use crate::domain::ChannelId;

/// Who did something, as Discord names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: u64,
    pub name: String,
}

/// `/incident declare`'s values, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub title: String,
    pub severity: String,
    pub service: Option<String>,
}

/// What `/incident resolve` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveOutcome {
    Resolved {
        id: i64,
        title: String,
    },
    NotFound,
    /// An alert's incident resolves with its alert, not by command.
    FromAlert {
        id: i64,
    },
    AlreadyResolved {
        id: i64,
    },
}

/// What `/followup-done` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOutcome {
    Closed { what: String },
    NotFound,
    Refused(CloseRefusal),
}

/// An incident `/incident resolve` names: id, group, resolved_at, title, opened_at.
type ResolveRow = (i64, Option<i64>, Option<i64>, String, i64);

impl Store {
    /// Records a timeline entry and, when the incident's thread exists, queues its post there.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn incident_event(
        tx: &mut sqlx::AnyConnection,
        incident_id: i64,
        kind: EventKind,
        actor: Option<&Person>,
        detail: Option<&str>,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let event_id: i64 = sqlx::query_scalar(
            "insert into incident_event (incident_id, kind, actor_id, actor_name, detail, at, created_at)
             values ($1, $2, $3, $4, $5, $6, $7) returning id",
        )
        .bind(incident_id)
        .bind(kind.as_str())
        .bind(actor.map(|a| to_db(a.id)))
        .bind(actor.map(|a| a.name.as_str()))
        .bind(detail)
        .bind(time_to_db(at))
        .bind(time_to_db(now))
        .fetch_one(&mut *tx)
        .await?;
        if let Some(thread) = Self::incident_thread_of(tx, incident_id).await? {
            Self::enqueue(tx, thread, Subject::IncidentEvent(event_id), now).await?;
            if kind == EventKind::Resolved {
                Self::enqueue(tx, thread, Subject::IncidentPrompt(incident_id), now).await?;
            }
        }
        Ok(())
    }

    async fn incident_thread_of(
        tx: &mut sqlx::AnyConnection,
        incident_id: i64,
    ) -> Result<Option<ChannelId>> {
        let thread: Option<Option<i64>> =
            sqlx::query_scalar("select thread_id from incident where id = $1")
                .bind(incident_id)
                .fetch_optional(&mut *tx)
                .await?;
        Ok(thread.flatten().map(|t| ChannelId(from_db(t))))
    }

    /// The incident of an alert group, if one was opened.
    pub(super) async fn incident_of_group(
        tx: &mut sqlx::AnyConnection,
        group_id: i64,
    ) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("select id from incident where group_id = $1")
                .bind(group_id)
                .fetch_optional(&mut *tx)
                .await?,
        )
    }

    /// `#3 checkout v1.4.2 → production`, the deploy a timeline entry names.
    pub(super) async fn deploy_text(
        tx: &mut sqlx::AnyConnection,
        deploy_id: i64,
    ) -> Result<String> {
        let row: Option<(String, String, String)> =
            sqlx::query_as("select service, version, environment from deploy where id = $1")
                .bind(deploy_id)
                .fetch_optional(&mut *tx)
                .await?;
        Ok(match row {
            Some((service, version, environment)) => {
                deploy_detail(deploy_id, &service, &version, &environment)
            }
            None => format!("#{deploy_id}"),
        })
    }

    /// The timeline entries of a newly opened alert incident: fired, then an acknowledgement
    /// given before it opened and the deploy it was linked to at once, if any.
    pub(super) async fn incident_opened_events(
        tx: &mut sqlx::AnyConnection,
        incident_id: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (title, severity, opened_at, deploy_id): (String, String, i64, Option<i64>) =
            sqlx::query_as(
                "select title, severity, opened_at, deploy_id from incident where id = $1",
            )
            .bind(incident_id)
            .fetch_one(&mut *tx)
            .await?;
        let detail = format!("{title} ({severity})");
        let opened_at = time_from_db(opened_at);
        Self::incident_event(
            tx,
            incident_id,
            EventKind::Fired,
            None,
            Some(&detail),
            opened_at,
            now,
        )
        .await?;
        if let Some(deploy_id) = deploy_id {
            let text = Self::deploy_text(tx, deploy_id).await?;
            Self::incident_event(
                tx,
                incident_id,
                EventKind::DeployLinked,
                None,
                Some(&text),
                now,
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// An alert incident changed with its group: entries for a newly resolved incident and a
    /// newly blamed deploy. `before` is (resolved_at, deploy_id) as they were.
    pub(super) async fn incident_followed_events(
        tx: &mut sqlx::AnyConnection,
        incident_id: i64,
        before: (Option<i64>, Option<i64>),
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (opened_at, resolved_at, deploy_id): (i64, Option<i64>, Option<i64>) =
            sqlx::query_as("select opened_at, resolved_at, deploy_id from incident where id = $1")
                .bind(incident_id)
                .fetch_one(&mut *tx)
                .await?;
        if let Some(deploy) = deploy_id.filter(|d| before.1 != Some(*d)) {
            let text = Self::deploy_text(tx, deploy).await?;
            Self::incident_event(
                tx,
                incident_id,
                EventKind::DeployLinked,
                None,
                Some(&text),
                now,
                now,
            )
            .await?;
        }
        if let (None, Some(resolved)) = (before.0, resolved_at) {
            let (opened, resolved) = (time_from_db(opened_at), time_from_db(resolved));
            let detail = resolved_detail(opened, resolved);
            Self::incident_event(
                tx,
                incident_id,
                EventKind::Resolved,
                None,
                Some(&detail),
                resolved,
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// The incident's thread was started in Discord: remember it, and queue into it every entry
    /// recorded so far (and the retro prompt if it already resolved). Idempotent: a thread
    /// already known changes nothing. The thread belongs to its parent channel's server.
    pub async fn incident_thread_started(
        &self,
        incident_id: i64,
        parent: ChannelId,
        thread: ChannelId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "update incident set thread_id = $1, updated_at = $2 where id = $3 and thread_id is null",
        )
        .bind(channel_to_db(thread))
        .bind(time_to_db(now))
        .bind(incident_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(());
        }
        sqlx::query(
            "insert into discord_channel (channel_id, guild_id, updated_at, created_at)
             select $1, guild_id, $2, $3 from discord_channel where channel_id = $4
             on conflict (channel_id) do nothing",
        )
        .bind(channel_to_db(thread))
        .bind(time_to_db(now))
        .bind(time_to_db(now))
        .bind(channel_to_db(parent))
        .execute(&mut *tx)
        .await?;
        let (events, Flag(resolved)): (Vec<i64>, Flag) = (
            sqlx::query_scalar("select id from incident_event where incident_id = $1 order by id")
                .bind(incident_id)
                .fetch_all(&mut *tx)
                .await?,
            sqlx::query_scalar("select resolved_at is not null from incident where id = $1")
                .bind(incident_id)
                .fetch_one(&mut *tx)
                .await?,
        );
        for event in events {
            Self::enqueue(&mut tx, thread, Subject::IncidentEvent(event), now).await?;
        }
        if resolved {
            Self::enqueue(&mut tx, thread, Subject::IncidentPrompt(incident_id), now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A message showing an incident (its alert group's, or a declared incident's own) was posted
    /// in `channel` (again, after someone deleted it): if the incident's thread was to start
    /// there and has not, it is queued again, behind that post.
    pub async fn incident_message_posted(
        &self,
        subject: Subject,
        channel: ChannelId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let incident = match subject {
            Subject::AlertGroup(_) => "(select id from incident where group_id = ?)",
            Subject::Incident(_) => "(?)",
            _ => return Ok(()),
        };
        let mut tx = self.begin_write().await?;
        let owed: Option<i64> = sqlx::query_scalar(&crate::store::numbered(&format!(
            "select m.subject_id from message m join incident i on i.id = m.subject_id
             where m.subject_kind = 'incident_thread' and m.channel_id = ? and i.thread_id is null
               and i.id = {incident}
               and not exists (select 1 from outbox o where o.message_id = m.id and o.state = 'pending')"
        )))
        .bind(channel_to_db(channel))
        .bind(subject.id())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(incident) = owed {
            Self::enqueue(&mut tx, channel, Subject::IncidentThread(incident), now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// `/incident declare`: an incident no alert saw, its message in `channel` and its thread
    /// there. Returns its id.
    pub async fn declare_incident(
        &self,
        declared: &Declared,
        by: &Person,
        channel: ChannelId,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let now_db = time_to_db(now);
        let id: i64 = sqlx::query_scalar(
            "insert into incident (title, service, severity, opened_at, declared_by, declared_by_name,
                declared_channel, updated_at, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id",
        )
        .bind(&declared.title)
        .bind(&declared.service)
        .bind(&declared.severity)
        .bind(now_db)
        .bind(to_db(by.id))
        .bind(&by.name)
        .bind(channel_to_db(channel))
        .bind(now_db)
        .bind(now_db)
        .fetch_one(&mut *tx)
        .await?;
        let detail = format!("{} ({})", declared.title, declared.severity);
        Self::incident_event(
            &mut tx,
            id,
            EventKind::Declared,
            Some(by),
            Some(&detail),
            now,
            now,
        )
        .await?;
        Self::enqueue(&mut tx, channel, Subject::Incident(id), now).await?;
        Self::enqueue(&mut tx, channel, Subject::IncidentThread(id), now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// `/incident resolve`: closes a declared incident, named by `id`, else the one whose thread
    /// `channel` is, else the latest open one declared in `channel`.
    pub async fn resolve_declared(
        &self,
        id: Option<i64>,
        channel: ChannelId,
        by: &Person,
        now: DateTime<Utc>,
    ) -> Result<ResolveOutcome> {
        let mut tx = self.begin_write().await?;
        let channel_db = channel_to_db(channel);
        let found: Option<ResolveRow> = match id {
            Some(id) => sqlx::query_as(
                "select id, group_id, resolved_at, title, opened_at from incident where id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?,
            None => {
                sqlx::query_as(
                    "select id, group_id, resolved_at, title, opened_at from incident
                     where thread_id = $1
                        or (declared_channel = $1 and resolved_at is null and group_id is null)
                     order by (thread_id = $1) desc, id desc limit 1",
                )
                .bind(channel_db)
                .fetch_optional(&mut *tx)
                .await?
            }
        };
        let Some((id, group, resolved, title, opened_at)) = found else {
            return Ok(ResolveOutcome::NotFound);
        };
        if group.is_some() {
            return Ok(ResolveOutcome::FromAlert { id });
        }
        if resolved.is_some() {
            return Ok(ResolveOutcome::AlreadyResolved { id });
        }
        sqlx::query("update incident set resolved_at = $1, updated_at = $2 where id = $3")
            .bind(time_to_db(now))
            .bind(time_to_db(now))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let detail = resolved_detail(time_from_db(opened_at), now);
        Self::incident_event(
            &mut tx,
            id,
            EventKind::Resolved,
            Some(by),
            Some(&detail),
            now,
            now,
        )
        .await?;
        Self::requeue_shown(&mut tx, Subject::Incident(id), now).await?;
        tx.commit().await?;
        Ok(ResolveOutcome::Resolved { id, title })
    }

    /// "Write the retro" submitted: the author's answers (replacing their earlier ones) and a
    /// timeline entry. False when the incident is gone.
    pub async fn write_retro(
        &self,
        incident_id: i64,
        retro: &Retro,
        by: &Person,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        if !Self::incident_exists(&mut tx, incident_id).await? {
            return Ok(false);
        }
        sqlx::query(
            "insert into incident_retro (incident_id, author_id, author_name, what_happened,
                what_helped, sooner, at, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8)
             on conflict (incident_id, author_id) do update set author_name = excluded.author_name,
                what_happened = excluded.what_happened, what_helped = excluded.what_helped,
                sooner = excluded.sooner, at = excluded.at",
        )
        .bind(incident_id)
        .bind(to_db(by.id))
        .bind(&by.name)
        .bind(&retro.what_happened)
        .bind(&retro.what_helped)
        .bind(&retro.sooner)
        .bind(time_to_db(now))
        .bind(time_to_db(now))
        .execute(&mut *tx)
        .await?;
        Self::incident_event(
            &mut tx,
            incident_id,
            EventKind::Retro,
            Some(by),
            None,
            now,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn incident_exists(tx: &mut sqlx::AnyConnection, incident_id: i64) -> Result<bool> {
        Ok(
            sqlx::query_scalar::<_, i64>("select count(*) from incident where id = $1")
                .bind(incident_id)
                .fetch_one(&mut *tx)
                .await?
                > 0,
        )
    }

    /// "Add a follow-up" submitted: an open follow-up and a timeline entry. Its id, None when
    /// the incident is gone.
    pub async fn add_followup(
        &self,
        incident_id: i64,
        followup: &NewFollowup,
        by: &Person,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin_write().await?;
        if !Self::incident_exists(&mut tx, incident_id).await? {
            return Ok(None);
        }
        let (owner_id, owner_text) = match &followup.owner {
            Owner::User(id) => (Some(to_db(*id)), None),
            Owner::Text(text) => (None, Some(text.as_str())),
        };
        let now_db = time_to_db(now);
        let id: i64 = sqlx::query_scalar(
            "insert into followup (incident_id, what, owner_id, owner_text, due_date, state,
                opened_by, opened_by_name, opened_at, updated_at, created_at)
             values ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $10) returning id",
        )
        .bind(incident_id)
        .bind(&followup.what)
        .bind(owner_id)
        .bind(owner_text)
        .bind(followup.due.map(|d| d.to_string()))
        .bind(to_db(by.id))
        .bind(&by.name)
        .bind(now_db)
        .bind(now_db)
        .bind(now_db)
        .fetch_one(&mut *tx)
        .await?;
        let detail = format!("#{id} {} (owner {})", followup.what, followup.owner);
        Self::incident_event(
            &mut tx,
            incident_id,
            EventKind::Followup,
            Some(by),
            Some(&detail),
            now,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// `/followup-done`: closed when `may_close_followup` allows it (a responder, or its owner).
    /// A follow-up of an incident `reader` does not see is not found.
    pub async fn close_followup(
        &self,
        id: i64,
        by: &Person,
        is_responder: bool,
        reader: Reader,
        now: DateTime<Utc>,
    ) -> Result<CloseOutcome> {
        let mut tx = self.begin_write().await?;
        let row: Option<(i64, String, Option<i64>, String)> =
            sqlx::query_as(&crate::store::numbered(&format!(
                "select f.incident_id, f.what, f.owner_id, f.state from followup f
             join incident i on i.id = f.incident_id where f.id = ? and {}",
                Visible::of(reader).incident("i")
            )))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((incident_id, what, owner_id, state)) = row else {
            return Ok(CloseOutcome::NotFound);
        };
        let state = FollowupState::from_stored(&state)
            .ok_or_else(|| super::StoreError::Corrupt(format!("followup.state = {state:?}")))?;
        if let Err(refusal) = may_close_followup(is_responder, by.id, owner_id.map(from_db), state)
        {
            return Ok(CloseOutcome::Refused(refusal));
        }
        let now_db = time_to_db(now);
        sqlx::query(
            "update followup set state = 'done', closed_by = $1, closed_by_name = $2, closed_at = $3,
                updated_at = $4 where id = $5",
        )
        .bind(to_db(by.id))
        .bind(&by.name)
        .bind(now_db)
        .bind(now_db)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let detail = format!("#{id} {what}");
        Self::incident_event(
            &mut tx,
            incident_id,
            EventKind::FollowupDone,
            Some(by),
            Some(&detail),
            now,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(CloseOutcome::Closed { what })
    }
}

#[cfg(test)]
#[path = "incident_review_tests.rs"]
mod tests;
