//! Retention: what is older than the window goes, table by table, in short transactions.
//!
//! Each step below prunes one table with its own rule, in chunks of [`CHUNK`] rows, each chunk its
//! own write transaction on the writer connection, so ingestion waits at most one chunk behind it.
//! A step that fails is reported with its error and the next steps still run: one table that
//! cannot be pruned (a new reference, a locked database for a moment) never stops the others,
//! and never undoes what was already pruned. The steps run children before parents, so a parent's
//! delete finds nothing left to cascade to and no reference left to refuse it.
//!
//! The rules, one per table (docs/operations.md#retention says the same for operators):
//! - nothing newer than the cutoff, nothing still waiting for delivery (a pending outbox row), and
//!   nothing a kept row still points at is deleted;
//! - alert groups go only when resolved (an open incident is never pruned) and not voted on since
//!   the cutoff, with their alerts, state changes, votes, incident and deploy links; deploys only when no kept check-in, feedback,
//!   incident or alert link names them;
//! - an incident (its alert group with it, or a declared one on its own) is kept while a follow-up
//!   of it is open, or was opened or closed since the cutoff; its timeline, retro and follow-ups go
//!   with it.
//!
//! Summaries of periods inside the window read only rows that these rules keep: every row a
//! figure counts has its counting time (deploy finish, alert start, incident open/resolve, check-in
//! opened, feedback given, alert vote given) at or before the time its rule compares with the cutoff.

use chrono::{DateTime, Utc};

use super::ids::time_to_db;
use super::{Result, Store};
use crate::store::PRUNED_BODY;

/// Rows per transaction: small enough that the write lock is never held long.
pub const CHUNK: i64 = 500;

/// What one retention step did to its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePruned {
    /// The step's name: the table, or `inbound_event_body` for raw bodies blanked.
    pub table: &'static str,
    /// Rows deleted (or bodies blanked), including chunks committed before an error.
    pub rows: u64,
    /// Why the step stopped early; the other steps ran regardless.
    pub error: Option<String>,
}

/// What one retention pass did, step by step in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub tables: Vec<TablePruned>,
}

impl Pruned {
    /// Rows a step removed (0 for an unknown name).
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .filter(|t| t.table == table)
            .map(|t| t.rows)
            .sum()
    }

    /// Rows removed by every step.
    pub fn total(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// The steps that failed.
    pub fn failures(&self) -> impl Iterator<Item = &TablePruned> {
        self.tables.iter().filter(|t| t.error.is_some())
    }
}

/// No pending outbox row for the message about `$kind` `$id` (SQL text, `$id` a column).
macro_rules! nothing_pending {
    ($kinds:literal, $id:literal) => {
        concat!(
            "not exists (select 1 from message m join outbox o on o.message_id = m.id
                         where m.subject_kind in (",
            $kinds,
            ") and m.subject_id = ",
            $id,
            " and o.state = 'pending')"
        )
    };
}

/// An incident retention must keep, as `i`: a follow-up still open, or opened or closed since the
/// cutoff (the summaries inside the window count them), or anything about it (its message,
/// thread, timeline entries, retro prompt) waiting for delivery.
macro_rules! incident_kept {
    () => {
        "(exists (select 1 from followup f where f.incident_id = i.id
                  and (f.state = 'open' or f.opened_at >= ?1 or coalesce(f.closed_at, 0) >= ?1))
          or exists (select 1 from message m join outbox o on o.message_id = m.id
                     where o.state = 'pending'
                       and ((m.subject_kind in ('incident', 'incident_thread', 'incident_prompt')
                             and m.subject_id = i.id)
                            or (m.subject_kind = 'incident_event' and m.subject_id in
                                (select e.id from incident_event e where e.incident_id = i.id)))))"
    };
}

/// An alert group retention may remove, as `g`: resolved before the cutoff, unchanged since, its
/// incident (if any) resolved before the cutoff too and not kept (`incident_kept`), no noise vote
/// on it since the cutoff (the summaries inside the window count it by name), and nothing about it
/// waiting for delivery.
macro_rules! prunable_group {
    () => {
        concat!(
            "g.status = 'resolved' and g.updated_at < ?1 and coalesce(g.resolved_at, 0) < ?1
             and not exists (select 1 from incident i where i.group_id = g.id
                             and (i.resolved_at is null or i.resolved_at >= ?1 or i.updated_at >= ?1
                                  or ",
            incident_kept!(),
            "))
             and not exists (select 1 from alert_vote v where v.group_id = g.id and v.voted_at >= ?1)
             and ",
            nothing_pending!("'alert_group'", "g.id")
        )
    };
}

/// A deploy retention may remove, as `d`: not updated since the cutoff, nothing about it waiting
/// for delivery, and no kept check-in, feedback, incident or alert link naming it (those steps ran
/// before, so what still names it is kept).
macro_rules! prunable_deploy {
    () => {
        concat!(
            "d.updated_at < ?1 and ",
            nothing_pending!("'deploy'", "d.id"),
            " and not exists (select 1 from checkin c where c.deploy_id = d.id)
              and not exists (select 1 from feedback f where f.deploy_id = d.id)
              and not exists (select 1 from incident i where i.deploy_id = d.id)
              and not exists (select 1 from alert_deploy_link l where l.deploy_id = d.id)"
        )
    };
}

/// A check-in retention may remove, as `c`: closed or cancelled before the cutoff, unanswered
/// since (feedback ran before), and nothing about it waiting for delivery.
macro_rules! prunable_checkin {
    () => {
        concat!(
            "c.state in ('closed', 'cancelled') and c.updated_at < ?1
             and coalesce(c.opened_at, c.due_at) < ?1
             and not exists (select 1 from feedback f where f.checkin_id = c.id)
             and ",
            nothing_pending!("'checkin', 'checkin_cancelled'", "c.id")
        )
    };
}

/// One step: `select` names the rowids to act on (`?1` is the cutoff), `action` acts on a chunk
/// of them (`{ids}` is replaced by the limited select).
struct Step {
    table: &'static str,
    select: &'static str,
    action: &'static str,
}

const DELETE: &str = "delete from {table} where rowid in ({ids})";

/// In the order they run: raw events first (they hold what senders sent; every reference to
/// them lets go), then children before their parents.
const STEPS: &[Step] = &[
    Step {
        table: "inbound_event",
        select: "select rowid from inbound_event where received_at < ?1",
        action: DELETE,
    },
    // Whatever could not be deleted above (a reference some later table adds) still loses
    // its body.
    Step {
        table: "inbound_event_body",
        select: "select rowid from inbound_event where received_at < ?1 and body <> ?2",
        action: "update inbound_event set body = ?2 where rowid in ({ids})",
    },
    Step {
        table: "webhook_delivery",
        select: "select rowid from webhook_delivery where received_at < ?1",
        action: DELETE,
    },
    Step {
        table: "outbox",
        // `+state`: walk the table in id order (oldest first, so a chunk stops early) rather
        // than the pending index, which holds every sent row of a channel before the next channel's.
        select: "select rowid from outbox where +state in ('sent', 'failed') and created_at < ?1",
        action: DELETE,
    },
    Step {
        table: "feedback",
        select: "select rowid from feedback where given_at < ?1 and updated_at < ?1",
        action: DELETE,
    },
    // A check-in's health values go with it.
    Step {
        table: "checkin_health",
        select: concat!(
            "select h.rowid from checkin_health h join checkin c on c.id = h.checkin_id where ",
            prunable_checkin!()
        ),
        action: DELETE,
    },
    Step {
        table: "checkin",
        select: concat!("select c.rowid from checkin c where ", prunable_checkin!()),
        action: DELETE,
    },
    Step {
        table: "alert_vote",
        select: concat!(
            "select v.rowid from alert_vote v join alert_group g on g.id = v.group_id where ",
            prunable_group!()
        ),
        action: DELETE,
    },
    Step {
        table: "alert_state_change",
        select: concat!(
            "select s.rowid from alert_state_change s join alert_group g on g.id = s.group_id where ",
            prunable_group!()
        ),
        action: DELETE,
    },
    Step {
        table: "alert_deploy_link",
        select: concat!(
            "select l.rowid from alert_deploy_link l join alert_group g on g.id = l.group_id where ",
            prunable_group!()
        ),
        action: DELETE,
    },
    Step {
        table: "incident",
        select: concat!(
            "select i.rowid from incident i join alert_group g on g.id = i.group_id where ",
            prunable_group!()
        ),
        action: DELETE,
    },
    // A declared incident (no alert group): resolved and unchanged before the cutoff, and not
    // kept. Its timeline, retro and follow-ups go with it (on delete cascade).
    Step {
        table: "incident",
        select: concat!(
            "select i.rowid from incident i where i.group_id is null and i.resolved_at < ?1
             and i.updated_at < ?1 and i.opened_at < ?1 and not ",
            incident_kept!()
        ),
        action: DELETE,
    },
    Step {
        table: "alert",
        select: concat!(
            "select a.rowid from alert a join alert_group g on g.id = a.group_id where ",
            prunable_group!()
        ),
        action: DELETE,
    },
    Step {
        table: "alert_group",
        select: concat!("select g.rowid from alert_group g where ", prunable_group!()),
        action: DELETE,
    },
    Step {
        table: "summary",
        select: concat!(
            "select s.rowid from summary s where s.period_end < ?1 and s.created_at < ?1 and ",
            nothing_pending!("'summary'", "s.id")
        ),
        action: DELETE,
    },
    Step {
        table: "deploy_status_change",
        select: concat!(
            "select s.rowid from deploy_status_change s join deploy d on d.id = s.deploy_id where ",
            prunable_deploy!()
        ),
        action: DELETE,
    },
    // Its commits, its commit look-up and its place in deploy_latest_success go with it (on delete cascade).
    Step {
        table: "deploy",
        select: concat!("select d.rowid from deploy d where ", prunable_deploy!()),
        action: DELETE,
    },
    // Messages whose subject is gone and that nothing is queued for; kinds this version does not
    // know are kept.
    Step {
        table: "message",
        select: "select m.rowid from message m
                 where m.updated_at < ?1
                   and not exists (select 1 from outbox o where o.message_id = m.id)
                   and case m.subject_kind
                         when 'deploy' then not exists (select 1 from deploy d where d.id = m.subject_id)
                         when 'alert_group' then not exists (select 1 from alert_group g where g.id = m.subject_id)
                         when 'checkin' then not exists (select 1 from checkin c where c.id = m.subject_id)
                         when 'checkin_cancelled' then not exists (select 1 from checkin c where c.id = m.subject_id)
                         when 'summary' then not exists (select 1 from summary s where s.id = m.subject_id)
                         when 'incident' then not exists (select 1 from incident i where i.id = m.subject_id)
                         when 'incident_thread' then not exists (select 1 from incident i where i.id = m.subject_id)
                         when 'incident_prompt' then not exists (select 1 from incident i where i.id = m.subject_id)
                         when 'incident_event' then not exists (select 1 from incident_event e where e.id = m.subject_id)
                         else false end",
        action: DELETE,
    },
    Step {
        table: "digest",
        select: "select d.rowid from digest d where d.created_at < ?1
                 and not exists (select 1 from message m where m.digest_id = d.id)",
        action: DELETE,
    },
];

/// The names of the tables (and `inbound_event_body`) retention prunes, in the order it does.
pub fn pruned_tables() -> impl Iterator<Item = &'static str> {
    STEPS.iter().map(|s| s.table)
}

impl Store {
    /// Removes what is older than `cutoff`, table by table (see the module's rules). Never fails
    /// as a whole: each step's outcome, error included, is in the answer. The caller keeps
    /// `cutoff` outside the summaries' comparison window (see `config::MIN_RETENTION_DAYS`).
    pub async fn prune(&self, cutoff: DateTime<Utc>) -> Pruned {
        let cutoff = time_to_db(cutoff);
        let mut pruned = Pruned::default();
        for step in STEPS {
            let mut done = TablePruned {
                table: step.table,
                rows: 0,
                error: None,
            };
            loop {
                match self.prune_chunk(step, cutoff).await {
                    Ok(rows) => {
                        done.rows += rows;
                        if rows < CHUNK as u64 {
                            break;
                        }
                    }
                    Err(error) => {
                        done.error = Some(error.to_string());
                        break;
                    }
                }
            }
            pruned.tables.push(done);
        }
        pruned
    }

    /// One chunk of one step, in its own write transaction.
    async fn prune_chunk(&self, step: &Step, cutoff: i64) -> Result<u64> {
        let ids = format!("{} limit {CHUNK}", step.select);
        let mut sql = step
            .action
            .replace("{table}", step.table)
            .replace("{ids}", &ids);
        if self.backend == super::Backend::Postgres {
            // A row's own address is `ctid` there; SQLite's `+column` (keep off this index) is
            // SQLite's alone.
            sql = sql.replace("rowid", "ctid").replace("+state", "state");
        }
        let mut tx = self.begin_write().await?;
        let numbered = crate::store::numbered(&sql);
        let mut query = sqlx::query(&numbered).bind(cutoff);
        if sql.contains("?2") {
            query = query.bind(PRUNED_BODY);
        }
        let rows = query.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(rows)
    }
}

#[cfg(test)]
#[path = "retention_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "retention_migration_tests.rs"]
mod migration_tests;

#[cfg(test)]
#[path = "retention_incident_tests.rs"]
mod incident_tests;
