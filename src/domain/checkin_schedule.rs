//! The rules that move a check-in along, over values the store loaded: which check-ins a finished
//! deploy gets, which scheduled ones to cancel (and why), and how a due one opens. Pure.
//!
//! ```text
//! (deploy succeeded) -> schedule -> scheduled --due--> open --close_at--> closed
//!                                       \--rolled back / superseded--> cancelled
//! ```
//! Which rows are due (`due_at <= now`, `close_at <= now`) is the store's claim, one
//! `update ... returning`, so each check-in is asked and closed once however often the job runs.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::checkin::CheckinSettings;
use super::deploy::DeployStatus;
use super::subscription::{route, Facet, Kind, Subscription};
use super::ChannelId;

/// A deploy whose status became `succeeded`, with what scheduling needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedDeploy {
    pub deploy_id: i64,
    pub service: String,
    pub environment: String,
    /// Its status now (it may have been rolled back since it succeeded).
    pub status: DeployStatus,
    pub finished_at: Option<DateTime<Utc>>,
    /// Check-ins were already scheduled for it (an earlier run, or the same status seen twice).
    pub already_scheduled: bool,
    /// When the latest successful deploy of its service and environment finished.
    pub latest_success_at: Option<DateTime<Utc>>,
    /// The channels that announced it, in the order they did.
    pub announced_in: Vec<ChannelId>,
}

/// A check-in to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckin {
    pub deploy_id: i64,
    pub channel: ChannelId,
    /// Index into the configured delays.
    pub sequence: usize,
    pub due_at: DateTime<Utc>,
}

/// A later success of the same service and environment makes a deploy's questions moot.
pub fn superseded(
    finished_at: Option<DateTime<Utc>>,
    latest_success_at: Option<DateTime<Utc>>,
) -> bool {
    // A success without a finish time never supersedes, nor is superseded.
    matches!((finished_at, latest_success_at), (Some(own), Some(latest)) if latest > own)
}

/// The check-ins a finished deploy gets: one per delay in each channel that announced it and each
/// channel subscribed to its check-ins; none when it is not (or no longer) a success within the
/// horizon to an environment asked about, already has them, or was already superseded.
pub fn schedule(
    deploy: &FinishedDeploy,
    subscriptions: &[Subscription],
    settings: &CheckinSettings,
    now: DateTime<Utc>,
) -> Vec<NewCheckin> {
    let Some(finished_at) = deploy.finished_at else {
        return Vec::new();
    };
    let wanted = deploy.status == DeployStatus::Succeeded
        && now
            .checked_sub_signed(delta(settings.horizon()))
            .is_none_or(|oldest| finished_at >= oldest)
        && settings.asks_about(&deploy.environment)
        && !deploy.already_scheduled
        && !superseded(deploy.finished_at, deploy.latest_success_at);
    if !wanted {
        return Vec::new();
    }
    let mut channels = deploy.announced_in.clone();
    for channel in route(
        subscriptions,
        Kind::Checkins,
        &deploy.service,
        &deploy.environment,
        Facet::Plain,
        None,
    ) {
        if !channels.contains(&channel) {
            channels.push(channel);
        }
    }
    channels
        .into_iter()
        .flat_map(|channel| {
            settings
                .delays
                .iter()
                .enumerate()
                .map(move |(sequence, delay)| NewCheckin {
                    deploy_id: deploy.deploy_id,
                    channel,
                    sequence,
                    due_at: later(finished_at, *delay),
                })
        })
        .collect()
}

/// The latest successful deploy of a service and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestSuccess {
    pub version: String,
    pub finished_at: DateTime<Utc>,
}

/// A scheduled check-in, with the facts that may cancel it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub checkin_id: i64,
    pub deploy_status: DeployStatus,
    pub deploy_finished_at: Option<DateTime<Utc>>,
    pub latest_success: Option<LatestSuccess>,
}

/// Why a scheduled check-in will not be asked; its text is stored and shown in the thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelReason {
    /// The deploy did not stay a success (rolled back, failed).
    DeployWas(DeployStatus),
    /// A later release of the same service and environment succeeded.
    SupersededBy(String),
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelReason::DeployWas(status) => {
                write!(f, "the deploy was {}", status.as_str().replace('_', " "))
            }
            CancelReason::SupersededBy(version) => write!(f, "superseded by {version}"),
        }
    }
}

/// Whether to cancel a scheduled check-in: its deploy is no longer a success, or a later success
/// of the same service and environment superseded it.
pub fn cancellation(pending: &Pending) -> Option<CancelReason> {
    if pending.deploy_status != DeployStatus::Succeeded {
        return Some(CancelReason::DeployWas(pending.deploy_status));
    }
    let latest = pending.latest_success.as_ref()?;
    superseded(pending.deploy_finished_at, Some(latest.finished_at))
        .then(|| CancelReason::SupersededBy(latest.version.clone()))
}

/// How a claimed check-in opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    /// It fell due before this process started, while the bot was down.
    pub late: bool,
    /// When it closes and its message shows the tally.
    pub close_at: DateTime<Utc>,
}

/// Opens a check-in due at `due_at`, claimed at `now` by a process started at `started_at`.
pub fn opening(
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
    started_at: DateTime<Utc>,
    settings: &CheckinSettings,
) -> Opening {
    Opening {
        late: due_at < started_at,
        close_at: later(now, settings.close_after),
    }
}

/// The next moment the job has something to do: a check-in falls due or one closes.
pub fn next_wake(
    next_due: Option<DateTime<Utc>>,
    next_close: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    next_due.into_iter().chain(next_close).min()
}

/// Settings hold std durations; one too long for chrono means "never" in practice.
fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

fn later(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    at.checked_add_signed(delta(by))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
#[path = "checkin_schedule_tests.rs"]
mod tests;
