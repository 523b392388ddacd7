//! Incidents: one per group episode at most, opened by a firing alert at or above the incident
//! severity, closed when the group resolves; the deploy it is blamed on, and what a human's
//! verdict on a link does to it. Pure: the store loads, these functions decide.

use chrono::{DateTime, Utc};

use super::alert::AlertStatus;
use super::alert_group::{Ack, AlertPolicy, GroupState, StoredAlert};

/// A human's answer to "Caused by this deploy?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Confirmed,
    Rejected,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::Rejected => "rejected",
        }
    }

    /// As stored; None for anything else.
    pub fn from_stored(raw: &str) -> Option<Self> {
        match raw {
            "confirmed" => Some(Verdict::Confirmed),
            "rejected" => Some(Verdict::Rejected),
            _ => None,
        }
    }
}

/// A link between an alert of the group and a deploy, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLink {
    pub deploy_id: i64,
    pub delay_ms: i64,
    pub verdict: Option<Verdict>,
}

/// The group's incident, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredIncident {
    pub id: i64,
    pub deploy_id: Option<i64>,
}

/// An incident to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIncident {
    /// The alert that opened it.
    pub alert_id: i64,
    pub title: String,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub severity: String,
    pub opened_at: DateTime<Utc>,
    /// An acknowledgement given before the incident opened still counts.
    pub ack: Option<Ack>,
    pub deploy_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentChange {
    None,
    Open(NewIncident),
    /// The incident follows the group: resolved with it (reopened if it fires again), and blamed
    /// on a deploy once one is linked.
    Update {
        resolved_at: Option<DateTime<Utc>>,
        deploy_id: Option<i64>,
    },
}

/// The deploy an incident is blamed on: the closest link a human did not reject.
pub fn blamed_deploy(links: &[StoredLink]) -> Option<i64> {
    links
        .iter()
        .filter(|l| l.verdict != Some(Verdict::Rejected))
        .min_by_key(|l| l.delay_ms)
        .map(|l| l.deploy_id)
}

/// What a change of the group does to its incident. `members` are the group's alerts after the
/// change, `links` its deploy links (this change's included), `ack` the group's acknowledgement.
pub fn decide(
    existing: Option<StoredIncident>,
    members: &[StoredAlert],
    group: &GroupState,
    links: &[StoredLink],
    ack: Option<Ack>,
    policy: &AlertPolicy,
) -> IncidentChange {
    if let Some(incident) = existing {
        return IncidentChange::Update {
            resolved_at: group.resolved_at,
            deploy_id: incident.deploy_id.or_else(|| blamed_deploy(links)),
        };
    }
    // The earliest firing alert at or above the threshold opens it.
    let opener = members
        .iter()
        .filter(|a| {
            a.status == AlertStatus::Firing && a.severity.rank() >= policy.incident_severity.rank()
        })
        .min_by_key(|a| a.starts_at);
    match opener {
        None => IncidentChange::None,
        Some(a) => IncidentChange::Open(NewIncident {
            alert_id: a.id,
            title: a.name.clone(),
            service: a.service.clone().or_else(|| group.service.clone()),
            environment: a.environment.clone().or_else(|| group.environment.clone()),
            severity: a.severity.as_str().to_owned(),
            opened_at: a.starts_at,
            ack,
            deploy_id: blamed_deploy(links),
        }),
    }
}

/// The incident's deploy after a verdict on its link to `deploy_id`: a confirmed link names the
/// cause; a rejected one no longer does.
pub fn deploy_after_verdict(current: Option<i64>, deploy_id: i64, verdict: Verdict) -> Option<i64> {
    match verdict {
        Verdict::Confirmed => Some(deploy_id),
        Verdict::Rejected if current == Some(deploy_id) => None,
        Verdict::Rejected => current,
    }
}

#[cfg(test)]
#[path = "incident_tests.rs"]
mod tests;
