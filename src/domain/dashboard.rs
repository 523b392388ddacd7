//! What the web dashboard shows, as plain values the store fills (`store::dashboard`) and the
//! HTTP adapter renders (`http::dashboard`). Who may see it is decided in `domain::access`
//! (`decide_web`); what a server reads, in `domain::visibility`.

use chrono::{DateTime, Utc};

use super::checkin::CheckinState;
use super::deploy::{Deploy, DeployStatus};
use super::feedback::{Feedback, Tally};
use super::health::{HealthReading, Overall};

/// How many recent deploys the main page lists.
pub const RECENT_DEPLOYS: i64 = 20;
/// Most rows any list of a page shows (open incidents, a release's answers, a timeline).
pub const LIST_MAX: i64 = 200;

/// A deploy as the main page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployLine {
    pub id: i64,
    pub service: String,
    pub version: String,
    pub environment: String,
    pub status: DeployStatus,
    pub deployer: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The answers the reader may read.
    pub tally: Tally,
    pub alerts: Vec<LinkedAlert>,
    /// The release health its latest check-in read, in a word (None: none read).
    pub health: Option<Overall>,
}

/// An alert group linked to a deploy (it started within the correlation window after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAlert {
    pub group_id: i64,
    pub name: String,
    pub severity: String,
    pub firing: bool,
    /// `confirmed` / `rejected` by a person; None: nobody answered.
    pub verdict: Option<String>,
    pub incident_id: Option<i64>,
}

/// An incident as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentLine {
    pub id: i64,
    pub title: String,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub severity: String,
    pub opened_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A check-in of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckinLine {
    pub id: i64,
    pub channel_id: u64,
    pub state: CheckinState,
    pub due_at: DateTime<Utc>,
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub late: bool,
}

/// The page of one release.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleasePage {
    pub deploy: Deploy,
    pub checkins: Vec<CheckinLine>,
    /// Newest first.
    pub feedback: Vec<Feedback>,
    pub tally: Tally,
    pub alerts: Vec<LinkedAlert>,
    /// The release health each check-in read: (check-in id, reading), oldest check-in first.
    pub health: Vec<(i64, HealthReading)>,
}

/// One thing that happened to an incident's alert group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// `firing`, `resolved`, `acked`, `silenced`, `cause_confirmed`, `cause_rejected`.
    pub state: String,
    /// The alert it is about (None: the whole group).
    pub alert: Option<String>,
    /// The person who did it (None: the sender).
    pub by: Option<String>,
}

impl TimelineEntry {
    /// The entry as a sentence.
    pub fn describe(&self) -> String {
        let what = match self.state.as_str() {
            "firing" => "fired",
            "resolved" => "resolved",
            "acked" => "acknowledged",
            "silenced" => "silenced",
            "cause_confirmed" => "deploy confirmed as the cause",
            "cause_rejected" => "deploy rejected as the cause",
            other => other,
        };
        let mut text = match &self.alert {
            Some(alert) => format!("{alert} {what}"),
            None => what[..1].to_uppercase() + &what[1..],
        };
        if let Some(by) = &self.by {
            text.push_str(" by ");
            text.push_str(by);
        }
        text
    }
}

/// The page of one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentPage {
    pub incident: IncidentLine,
    /// The deploy linked to it: (id, service, version).
    pub deploy: Option<(i64, String, String)>,
    /// Oldest first.
    pub timeline: Vec<TimelineEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timeline_entries_read_as_sentences() {
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
        let entry = |state: &str, alert: Option<&str>, by: Option<&str>| TimelineEntry {
            at,
            state: state.into(),
            alert: alert.map(Into::into),
            by: by.map(Into::into),
        };
        for (entry, expected) in [
            (
                entry("firing", Some("HighErrorRate"), None),
                "HighErrorRate fired",
            ),
            (entry("acked", None, Some("ana")), "Acknowledged by ana"),
            (
                entry("cause_confirmed", None, Some("bo")),
                "Deploy confirmed as the cause by bo",
            ),
        ] {
            assert_eq!(entry.describe(), expected);
        }
    }
}
