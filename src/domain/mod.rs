//! The vocabulary of loopbot: deploys, subscriptions, channels. Knows nothing of Discord, HTTP or SQL.
//! Values are parsed once at the edge (`parse`), so nothing after it re-checks strings.

pub mod access;
pub mod alert;
pub mod alert_group;
pub mod alert_vote;
pub mod bands;
pub mod correlation;
pub mod dashboard;
pub mod deploy;
pub mod duration;
pub mod feedback;
pub mod glob;
pub mod health;
pub mod incident;
pub mod incident_review;
pub mod incident_summary;
pub mod lead_time;
pub mod period;
pub mod production;
pub mod refusal;
pub mod rollback;
pub mod subscription;
pub mod summary;
pub mod trend;
pub mod visibility;
pub mod webhook;

use std::fmt;

/// A chat channel, identified by its platform id (a Discord snowflake).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(pub u64);

/// A chat user, identified by its platform id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub u64);

/// A server (Discord guild), identified by its platform id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuildId(pub u64);

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A value failed validation: which field, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: &'static str,
    pub reason: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for ValidationError {}

impl ValidationError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}
pub mod checkin;
pub mod checkin_schedule;
