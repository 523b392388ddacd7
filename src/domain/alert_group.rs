//! The rules of an alert group: which episode a notification belongs to, what it changes in each
//! alert, the group's derived state, and who hears about it. Pure: the store loads the values,
//! these functions decide, the store writes what they return.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};

use super::alert::{
    AlertEvent, AlertNotification, AlertSource, AlertStatus, MentionTarget, Severity,
};
use super::ChannelId;

/// What the alert rules need from the configuration; built once at startup.
#[derive(Debug, Clone)]
pub struct AlertPolicy {
    pub incident_severity: Severity,
    pub mention: Option<MentionTarget>,
    pub mention_severity: Severity,
    pub correlation_window: chrono::Duration,
    pub service_labels: Vec<String>,
    /// Silence 1h can be offered (Alertmanager's URL is configured).
    pub alertmanager_configured: bool,
}

/// One alert of a group episode, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub id: i64,
    pub fingerprint: String,
    pub name: String,
    pub status: AlertStatus,
    pub severity: Severity,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub summary: Option<String>,
}

/// Who acknowledged a group, and when (the first press).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub by: Option<u64>,
    pub at: DateTime<Utc>,
}

/// The latest episode of a group key, as stored, with its alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGroup {
    pub id: i64,
    pub status: AlertStatus,
    pub truncated_alerts: i64,
    pub common_labels: BTreeMap<String, String>,
    pub ack: Option<Ack>,
    pub alerts: Vec<StoredAlert>,
}

/// Which episode a notification belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Episode {
    /// The latest episode goes on (its row is updated, its message edited).
    Continue(i64),
    /// A new episode (a new row and a new message): the first notification of a group key, or one
    /// that fires again after the group fully resolved.
    Start,
}

/// What a notification does to one alert of the episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Not seen in this episode: a new row.
    New,
    /// Resolved, now firing again with a later start.
    Refire,
    Resolve,
    /// Same state; labels, annotations or summary changed.
    Details,
}

/// One row to write for an alert of the notification.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertWrite<'n> {
    /// The stored row to update; None for [`Transition::New`].
    pub id: Option<i64>,
    pub event: &'n AlertEvent,
    pub transition: Transition,
    pub status: AlertStatus,
    pub starts_at: DateTime<Utc>,
    /// When the alert resolved, if this notification says it did.
    pub resolved_at: Option<DateTime<Utc>>,
}

impl AlertWrite<'_> {
    /// The state changes to record, in order.
    pub fn state_changes(&self) -> Vec<(AlertStatus, DateTime<Utc>)> {
        let mut changes = Vec::new();
        if matches!(self.transition, Transition::New | Transition::Refire) {
            changes.push((AlertStatus::Firing, self.starts_at));
        }
        let resolves = match self.transition {
            Transition::New => self.status == AlertStatus::Resolved,
            Transition::Resolve => true,
            Transition::Refire | Transition::Details => false,
        };
        if resolves {
            changes.push((
                AlertStatus::Resolved,
                self.resolved_at.unwrap_or(self.starts_at),
            ));
        }
        changes
    }

    /// When the alert (re)started, if it did with this notification: the moment deploys are
    /// correlated with.
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        matches!(self.transition, Transition::New | Transition::Refire).then_some(self.starts_at)
    }
}

/// What a notification changes.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationPlan<'n> {
    pub episode: Episode,
    pub writes: Vec<AlertWrite<'n>>,
    /// False for a repeat that says nothing new: nothing is written, nothing is queued.
    pub changed: bool,
}

/// Times are stored to the millisecond; rules compare what will be stored.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(3)
}

fn summary_of(event: &AlertEvent) -> Option<String> {
    event.summary.clone().or(event.value_string.clone())
}

/// Decides the episode and each alert's change for one notification, given the latest stored
/// episode of its group key (None: never seen).
pub fn plan<'n>(
    latest: Option<&StoredGroup>,
    n: &'n AlertNotification,
    now: DateTime<Utc>,
) -> NotificationPlan<'n> {
    let now = stored(now);
    let episode = episode(latest, n);
    let (existing, mut changed): (&[StoredAlert], bool) = match (episode, latest) {
        (Episode::Continue(_), Some(group)) => (
            &group.alerts,
            // Group-level details a repeat may still change. (Grafana's title and message restate
            // the state, so they are refreshed with a change but are not one themselves.)
            group.truncated_alerts != n.truncated_alerts || group.common_labels != n.common_labels,
        ),
        _ => (&[], true),
    };
    let mut writes = Vec::new();
    for event in &n.alerts {
        let start = event.starts_at.map(stored);
        let resolved_at = (event.status == AlertStatus::Resolved)
            .then(|| event.ends_at.map(stored).unwrap_or(now));
        let Some(old) = existing.iter().find(|a| a.fingerprint == event.fingerprint) else {
            writes.push(AlertWrite {
                id: None,
                event,
                transition: Transition::New,
                status: event.status,
                starts_at: start.unwrap_or(now),
                resolved_at,
            });
            continue;
        };
        let refire = old.status == AlertStatus::Resolved
            && event.status == AlertStatus::Firing
            && start.is_none_or(|s| s > old.starts_at);
        let resolves = old.status == AlertStatus::Firing && event.status == AlertStatus::Resolved;
        let details = old.labels != event.labels
            || old.annotations != event.annotations
            || old.summary != summary_of(event);
        // A notification about an alert already resolved never reopens it unless it started
        // again; details may still be refreshed.
        let (transition, status, starts_at) = if refire {
            (Transition::Refire, event.status, start.unwrap_or(now))
        } else if resolves {
            (Transition::Resolve, event.status, old.starts_at)
        } else if details {
            (Transition::Details, old.status, old.starts_at)
        } else {
            continue;
        };
        writes.push(AlertWrite {
            id: Some(old.id),
            event,
            transition,
            status,
            starts_at,
            resolved_at: resolved_at.filter(|_| transition == Transition::Resolve),
        });
    }
    changed |= !writes.is_empty();
    NotificationPlan {
        episode,
        writes,
        changed,
    }
}

/// The latest episode goes on while it fires, or while the notification brings no alert it has
/// not seen start; a group that fully resolved and fires again is a new episode. A firing alert
/// the latest episode already saw start (and end) is a late retry of an old notification.
pub fn episode(latest: Option<&StoredGroup>, n: &AlertNotification) -> Episode {
    let Some(group) = latest else {
        return Episode::Start;
    };
    let seen = |event: &AlertEvent| {
        event.starts_at.map(stored).is_some_and(|start| {
            group
                .alerts
                .iter()
                .any(|a| a.fingerprint == event.fingerprint && a.starts_at >= start)
        })
    };
    let any_new_firing = n
        .alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Firing)
        .any(|a| !seen(a));
    if group.status == AlertStatus::Firing || !any_new_firing {
        Episode::Continue(group.id)
    } else {
        Episode::Start
    }
}

/// A group's state, derived from its members after a change.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupState {
    /// Firing while any member fires.
    pub status: AlertStatus,
    pub service: Option<String>,
    pub environment: Option<String>,
    /// The worst severity among its alerts.
    pub severity: Severity,
    pub first_fired_at: DateTime<Utc>,
    /// When the last member resolved; None while firing.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who the message pings: the configured on-call while an alert at or above the mention
    /// severity fires.
    pub mention: Option<MentionTarget>,
    /// Silence 1h is offered.
    pub silence_available: bool,
}

/// The worst severity; among equals the last one (as `max_by_key` picks).
fn worst<'a>(severities: impl Iterator<Item = &'a Severity>) -> Option<&'a Severity> {
    severities.max_by_key(|s| s.rank())
}

/// Derives the group's state from its members (all of them, after this notification's writes).
pub fn group_state(
    n: &AlertNotification,
    members: &[StoredAlert],
    policy: &AlertPolicy,
    now: DateTime<Utc>,
) -> GroupState {
    let now = stored(now);
    let firing = || members.iter().filter(|a| a.status == AlertStatus::Firing);
    let status = if firing().next().is_some() {
        AlertStatus::Firing
    } else {
        AlertStatus::Resolved
    };
    let severity = worst(members.iter().map(|a| &a.severity))
        .cloned()
        .unwrap_or_else(|| Severity::new(None));
    let mention = policy.mention.filter(|_| {
        worst(firing().map(|a| &a.severity))
            .is_some_and(|s| s.rank() >= policy.mention_severity.rank())
    });
    GroupState {
        status,
        service: n
            .service(&policy.service_labels)
            .or_else(|| members.iter().find_map(|a| a.service.clone())),
        environment: n.environment(),
        severity,
        first_fired_at: members.iter().map(|a| a.starts_at).min().unwrap_or(now),
        resolved_at: (status == AlertStatus::Resolved).then(|| {
            members
                .iter()
                .filter_map(|a| a.resolved_at)
                .max()
                .unwrap_or(now)
        }),
        mention,
        silence_available: policy.alertmanager_configured && n.source == AlertSource::Alertmanager,
    }
}

/// The channels to queue the group's message for: those the subscriptions route it to, then
/// every channel already showing it (so its message there is edited), each once.
pub fn channels_to_queue(routed: Vec<ChannelId>, showing: Vec<ChannelId>) -> Vec<ChannelId> {
    let mut channels = routed;
    for channel in showing {
        if !channels.contains(&channel) {
            channels.push(channel);
        }
    }
    channels
}

#[cfg(test)]
#[path = "alert_group_tests.rs"]
mod tests;
