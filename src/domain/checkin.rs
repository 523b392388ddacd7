//! Post-release check-ins: what they are, when they are asked, and how a person names a release
//! (`checkout` or `checkout@v1.4.2`). The rules that move a check-in along are in
//! [`super::checkin_schedule`]; feedback and its tally in [`super::feedback`]. Pure.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::deploy::Deploy;
use super::production::Environments;
use super::ValidationError;

// Feedback types were first defined here; callers still name them through this module.
pub use super::feedback::{EmojiMap, Feedback, FeedbackSource, Sentiment, Tally};

/// When to ask, where, and for how long: `LOOPBOT_CHECKIN_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckinSettings {
    /// After a successful deploy, ask once per delay.
    pub delays: Vec<Duration>,
    /// Environments whose deploys get check-ins: `LOOPBOT_CHECKIN_ENVIRONMENTS`, or when unset
    /// the production definition (`LOOPBOT_PRODUCTION_ENVIRONMENTS`).
    pub environments: Environments,
    /// How long a check-in stays open before its message shows the tally.
    pub close_after: Duration,
    pub emoji: EmojiMap,
    /// Longest the check-in job sleeps between runs (not an env var: tests shorten it).
    pub tick: Duration,
}

impl Default for CheckinSettings {
    fn default() -> Self {
        Self {
            delays: vec![Duration::from_secs(3600), Duration::from_secs(24 * 3600)],
            environments: Environments::default(),
            close_after: Duration::from_secs(24 * 3600),
            emoji: EmojiMap::default(),
            tick: Duration::from_secs(1),
        }
    }
}

impl CheckinSettings {
    /// How far back the job looks for deploys that still need check-ins scheduled: a deploy
    /// older than its last check-in plus the time it stays open is history, not a question.
    pub fn horizon(&self) -> Duration {
        self.delays
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .saturating_add(self.close_after)
    }

    /// Whether deploys to `environment` get check-ins.
    pub fn asks_about(&self, environment: &str) -> bool {
        self.environments.matches(environment)
    }
}

/// What a check-in is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckinState {
    Scheduled,
    Open,
    Closed,
    Cancelled,
}

impl CheckinState {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckinState::Scheduled => "scheduled",
            CheckinState::Open => "open",
            CheckinState::Closed => "closed",
            CheckinState::Cancelled => "cancelled",
        }
    }
}

impl FromStr for CheckinState {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use CheckinState::*;
        [Scheduled, Open, Closed, Cancelled]
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| ValidationError::new("state", format!("unknown state {s:?}")))
    }
}

/// One check-in as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkin {
    pub id: i64,
    pub deploy_id: i64,
    pub channel_id: u64,
    pub state: CheckinState,
    pub due_at: DateTime<Utc>,
    pub late: bool,
    pub close_at: Option<DateTime<Utc>>,
    pub mention_user_id: Option<u64>,
    pub message_id: Option<u64>,
    pub thread_id: Option<u64>,
    pub cancel_reason: Option<String>,
}

/// A check-in with what its message shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckinView {
    pub checkin: Checkin,
    pub deploy: Deploy,
    pub tally: Tally,
    /// Release health read before it was asked (empty: none configured, or not read yet).
    pub health: Vec<super::health::HealthReading>,
}

/// How a person names a release: `checkout` (its latest deploy) or `checkout@v1.4.2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRef {
    pub service: String,
    pub version: Option<String>,
}

impl ReleaseRef {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        let (service, version) = match raw.split_once('@') {
            Some((s, v)) => (s.trim(), Some(v.trim())),
            None => (raw, None),
        };
        if service.is_empty() || service.len() > 200 {
            return Err(ValidationError::new(
                "release",
                "must be a service name or service@version, e.g. checkout@v1.4.2",
            ));
        }
        if version.is_some_and(str::is_empty) {
            return Err(ValidationError::new(
                "release",
                "the version after @ is empty",
            ));
        }
        Ok(Self {
            service: service.to_owned(),
            version: version.map(str::to_owned),
        })
    }
}

/// A manual `/checkin` of one release in one channel at most this often: it pings the deployer.
pub const MANUAL_CHECKIN_EVERY: chrono::Duration = chrono::Duration::minutes(10);

/// Whether a manual check-in may be asked now, given when the last one of the same release in
/// the same channel was asked; Err carries when the next one may be.
pub fn manual_checkin_allowed(
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), DateTime<Utc>> {
    match last.map(|at| at + MANUAL_CHECKIN_EVERY) {
        Some(next) if next > now => Err(next),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_manual_checkin_waits_ten_minutes_per_release_and_channel() {
        use super::manual_checkin_allowed;
        use chrono::{Duration, TimeZone, Utc};
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
        assert_eq!(manual_checkin_allowed(None, now), Ok(()));
        let recent = now - Duration::minutes(3);
        assert_eq!(
            manual_checkin_allowed(Some(recent), now),
            Err(recent + Duration::minutes(10))
        );
        assert_eq!(
            manual_checkin_allowed(Some(now - Duration::minutes(10)), now),
            Ok(())
        );
    }

    use super::*;

    #[test]
    fn release_refs() {
        assert_eq!(
            ReleaseRef::parse("checkout@v1.4.2").unwrap(),
            ReleaseRef {
                service: "checkout".into(),
                version: Some("v1.4.2".into())
            }
        );
        assert_eq!(ReleaseRef::parse(" checkout ").unwrap().version, None);
        assert!(ReleaseRef::parse("@v1").is_err());
        assert!(ReleaseRef::parse("checkout@").is_err());
    }

    #[test]
    fn environments_are_globs_compared_without_case() {
        let settings = CheckinSettings {
            environments: Environments::parse("production,eu-prod").unwrap(),
            ..Default::default()
        };
        for (environment, asked) in [
            ("production", true),
            ("Production", true),
            ("EU-PROD", true),
            ("staging", false),
            ("production-2", false),
        ] {
            assert_eq!(settings.asks_about(environment), asked, "{environment}");
        }
        // The default follows the production definition, prod*.
        let default = CheckinSettings::default();
        assert!(default.asks_about("prod-eu") && default.asks_about("production"));
        assert!(!default.asks_about("staging"));
    }
}
