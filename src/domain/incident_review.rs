//! Incidents with an end (issue 16 item 2): the timeline entries an incident's thread receives,
//! the retro and follow-up forms (validated field by field), `/incident declare`'s values, and who
//! may close a follow-up. Pure: the store loads, these functions decide and phrase.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use super::duration::duration_text;
use super::ValidationError;

/// What a timeline entry records (the `incident_event.kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A responder declared it with `/incident declare`.
    Declared,
    /// An alert at the incident severity fired and opened it.
    Fired,
    Acknowledged,
    /// A deploy was correlated with it, or a responder confirmed one caused it.
    DeployLinked,
    /// A responder said a linked deploy did not cause it.
    DeployUnlinked,
    Silenced,
    Resolved,
    /// Someone wrote (or rewrote) the retro.
    Retro,
    /// A follow-up was added.
    Followup,
    /// A follow-up was closed.
    FollowupDone,
}

impl EventKind {
    pub const ALL: [EventKind; 10] = [
        EventKind::Declared,
        EventKind::Fired,
        EventKind::Acknowledged,
        EventKind::DeployLinked,
        EventKind::DeployUnlinked,
        EventKind::Silenced,
        EventKind::Resolved,
        EventKind::Retro,
        EventKind::Followup,
        EventKind::FollowupDone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Declared => "declared",
            EventKind::Fired => "fired",
            EventKind::Acknowledged => "acknowledged",
            EventKind::DeployLinked => "deploy_linked",
            EventKind::DeployUnlinked => "deploy_unlinked",
            EventKind::Silenced => "silenced",
            EventKind::Resolved => "resolved",
            EventKind::Retro => "retro",
            EventKind::Followup => "followup",
            EventKind::FollowupDone => "followup_done",
        }
    }

    /// As stored; None for a kind this version does not know.
    pub fn from_stored(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    fn emoji(self) -> &'static str {
        match self {
            EventKind::Declared => "📣",
            EventKind::Fired => "🔥",
            EventKind::Acknowledged => "👀",
            EventKind::DeployLinked => "🚀",
            EventKind::DeployUnlinked => "✖️",
            EventKind::Silenced => "🔕",
            EventKind::Resolved => "✅",
            EventKind::Retro => "📝",
            EventKind::Followup => "📌",
            EventKind::FollowupDone => "☑️",
        }
    }

    fn label(self) -> &'static str {
        match self {
            EventKind::Declared => "Declared",
            EventKind::Fired => "Fired",
            EventKind::Acknowledged => "Acknowledged",
            EventKind::DeployLinked => "Linked deploy",
            EventKind::DeployUnlinked => "Not caused by deploy",
            EventKind::Silenced => "Silenced",
            EventKind::Resolved => "Resolved",
            EventKind::Retro => "Retro written",
            EventKind::Followup => "Follow-up added",
            EventKind::FollowupDone => "Follow-up done",
        }
    }
}

/// One entry of an incident's timeline, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub id: i64,
    pub incident_id: i64,
    pub kind: EventKind,
    /// The person who did it (their name), None for what a sender said.
    pub actor: Option<String>,
    /// What it names: the alert, the deploy, the follow-up, how long it lasted.
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

impl TimelineEntry {
    /// The entry without its time: `👀 Acknowledged by Alice`, `🚀 Linked deploy: #3 checkout v1.4.2`.
    pub fn text(&self) -> String {
        let mut text = format!("{} {}", self.kind.emoji(), self.kind.label());
        if let Some(actor) = &self.actor {
            text.push_str(" by ");
            text.push_str(actor);
        }
        if let Some(detail) = self.detail.as_deref().filter(|d| !d.is_empty()) {
            text.push_str(": ");
            text.push_str(detail);
        }
        text
    }

    /// The entry with its time in UTC, as the dashboard and text summaries show it.
    pub fn line(&self) -> String {
        format!(
            "{} · {}",
            self.at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.text()
        )
    }
}

/// The detail of a `resolved` entry: how long the incident lasted.
pub fn resolved_detail(opened_at: DateTime<Utc>, resolved_at: DateTime<Utc>) -> String {
    let seconds = (resolved_at - opened_at).num_milliseconds() as f64 / 1000.0;
    format!("after {}", duration_text(seconds))
}

/// The detail of a `deploy_linked` entry.
pub fn deploy_detail(id: i64, service: &str, version: &str, environment: &str) -> String {
    format!("#{id} {service} {version} → {environment}")
}

// Form limits: what a person may type, short enough that every answer fits the messages,
// the API and the dashboard without cutting.
pub const TITLE_MAX: usize = 200;
pub const WHAT_HAPPENED_MAX: usize = 1500;
pub const WHAT_HELPED_MAX: usize = 1000;
pub const SOONER_MAX: usize = 1000;
pub const FOLLOWUP_WHAT_MAX: usize = 300;
pub const OWNER_MAX: usize = 100;
/// The due date field: `YYYY-MM-DD`.
pub const DUE_MAX: usize = 10;

fn text_field(field: &'static str, raw: &str, max: usize) -> Result<String, ValidationError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ValidationError {
            field,
            reason: "must not be empty".into(),
        });
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(ValidationError {
            field,
            reason: format!("at most {max} characters (got {chars})"),
        });
    }
    Ok(text.to_owned())
}

/// The three answers of "Write the retro", validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retro {
    pub what_happened: String,
    pub what_helped: String,
    /// What would have caught it sooner.
    pub sooner: String,
}

impl Retro {
    pub fn parse(
        what_happened: &str,
        what_helped: &str,
        sooner: &str,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            what_happened: text_field("what happened", what_happened, WHAT_HAPPENED_MAX)?,
            what_helped: text_field("what helped", what_helped, WHAT_HELPED_MAX)?,
            sooner: text_field("what would have caught it sooner", sooner, SOONER_MAX)?,
        })
    }
}

/// Who owns a follow-up: a person on Discord (a mention or a user id in the form), or free text
/// (a team, a name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    User(u64),
    Text(String),
}

impl Owner {
    /// `<@123>`, `<@!123>` or a bare user id is a person; anything else is kept as text.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let text = text_field("owner", raw, OWNER_MAX)?;
        let inner = text
            .strip_prefix("<@")
            .and_then(|t| t.strip_suffix('>'))
            .map(|t| t.strip_prefix('!').unwrap_or(t));
        let digits = inner.unwrap_or(&text);
        let is_id = (15..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        match digits.parse::<u64>() {
            Ok(id) if is_id && id > 0 => Ok(Owner::User(id)),
            _ => Ok(Owner::Text(text)),
        }
    }

    /// How the owner reads where a mention would ping nobody anyway (API, dashboard).
    pub fn display(&self, name_of_user: Option<&str>) -> String {
        match (self, name_of_user) {
            (Owner::User(_), Some(name)) => name.to_owned(),
            (Owner::User(id), None) => format!("<@{id}>"),
            (Owner::Text(text), _) => text.clone(),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display(None))
    }
}

/// "Add a follow-up", validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFollowup {
    pub what: String,
    pub owner: Owner,
    pub due: Option<NaiveDate>,
}

impl NewFollowup {
    /// `due` is optional (`YYYY-MM-DD`, not before `today`).
    pub fn parse(
        what: &str,
        owner: &str,
        due: &str,
        today: NaiveDate,
    ) -> Result<Self, ValidationError> {
        let what = text_field("what", what, FOLLOWUP_WHAT_MAX)?;
        let owner = Owner::parse(owner)?;
        let due = match due.trim() {
            "" => None,
            raw => {
                let date =
                    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| ValidationError {
                        field: "due date",
                        reason: format!("expected YYYY-MM-DD, got {:?}", truncate_chars(raw, 20)),
                    })?;
                if date < today {
                    return Err(ValidationError {
                        field: "due date",
                        reason: format!("{date} is in the past"),
                    });
                }
                Some(date)
            }
        };
        Ok(Self { what, owner, due })
    }
}

fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A follow-up's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowupState {
    Open,
    Done,
}

impl FollowupState {
    pub fn as_str(self) -> &'static str {
        match self {
            FollowupState::Open => "open",
            FollowupState::Done => "done",
        }
    }

    pub fn from_stored(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(FollowupState::Open),
            "done" => Some(FollowupState::Done),
            _ => None,
        }
    }
}

/// Why `/followup-done` refused, as the person reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseRefusal {
    NotOwner,
    AlreadyDone,
}

impl fmt::Display for CloseRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseRefusal::NotOwner => {
                "Only its owner or a responder can close this follow-up: nothing was done."
            }
            CloseRefusal::AlreadyDone => "This follow-up is already done: nothing was changed.",
        })
    }
}

/// Who may close a follow-up: a responder, or the person it names as owner (a follow-up owned by
/// free text has no person, so only responders close it). A done one stays done.
pub fn may_close_followup(
    is_responder: bool,
    user: u64,
    owner_id: Option<u64>,
    state: FollowupState,
) -> Result<(), CloseRefusal> {
    if state == FollowupState::Done {
        return Err(CloseRefusal::AlreadyDone);
    }
    if is_responder || owner_id == Some(user) {
        Ok(())
    } else {
        Err(CloseRefusal::NotOwner)
    }
}

/// The title of `/incident declare`, validated.
pub fn declared_title(raw: &str) -> Result<String, ValidationError> {
    text_field("title", raw, TITLE_MAX)
}

/// How long ago, in whole days (a follow-up's age).
pub fn age_days(since: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - since).num_days().max(0)
}

/// The median of `values` (the mean of the two middle ones for an even count); None when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

#[cfg(test)]
#[path = "incident_review_tests.rs"]
mod tests;
