//! Post-release check-ins and the feedback people give: sentiments, the emoji map, tallies,
//! and how a person names a release (`checkout` or `checkout@v1.4.2`). Pure.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::deploy::Deploy;
use super::ValidationError;

/// How a release is going, in one of three words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sentiment {
    Good,
    Meh,
    Bad,
}

impl Sentiment {
    pub const ALL: [Sentiment; 3] = [Sentiment::Good, Sentiment::Meh, Sentiment::Bad];

    /// The stored value: +1, 0, -1.
    pub fn value(self) -> i64 {
        match self {
            Sentiment::Good => 1,
            Sentiment::Meh => 0,
            Sentiment::Bad => -1,
        }
    }

    pub fn from_value(value: i64) -> Option<Self> {
        match value {
            1 => Some(Sentiment::Good),
            0 => Some(Sentiment::Meh),
            -1 => Some(Sentiment::Bad),
            _ => None,
        }
    }

    /// The word used in custom ids and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Sentiment::Good => "good",
            Sentiment::Meh => "meh",
            Sentiment::Bad => "bad",
        }
    }

    /// The label of the check-in button that casts this vote.
    pub fn button_label(self) -> &'static str {
        match self {
            Sentiment::Good => "Looks good",
            Sentiment::Meh => "Something's off",
            Sentiment::Bad => "Rolled back",
        }
    }

    pub fn emoji(self) -> &'static str {
        match self {
            Sentiment::Good => "👍",
            Sentiment::Meh => "😐",
            Sentiment::Bad => "👎",
        }
    }
}

impl FromStr for Sentiment {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sentiment::ALL
            .into_iter()
            .find(|x| x.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| ValidationError::new("rating", "must be good, meh or bad"))
    }
}

/// Where a piece of feedback came from; the `feedback.source` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackSource {
    Button,
    Reaction,
    Reply,
    Thread,
    Modal,
    Command,
}

impl FeedbackSource {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackSource::Button => "button",
            FeedbackSource::Reaction => "reaction",
            FeedbackSource::Reply => "reply",
            FeedbackSource::Thread => "thread",
            FeedbackSource::Modal => "modal",
            FeedbackSource::Command => "command",
        }
    }
}

impl FromStr for FeedbackSource {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use FeedbackSource::*;
        [Button, Reaction, Reply, Thread, Modal, Command]
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| ValidationError::new("source", format!("unknown source {s:?}")))
    }
}

/// Which reaction emoji mean what. Emoji not in the map are not feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmojiMap(Vec<(String, Sentiment)>);

impl Default for EmojiMap {
    fn default() -> Self {
        let pairs: [(&str, Sentiment); 9] = [
            ("👍", Sentiment::Good),
            ("✅", Sentiment::Good),
            ("🎉", Sentiment::Good),
            ("🚀", Sentiment::Good),
            ("👀", Sentiment::Meh),
            ("🤔", Sentiment::Meh),
            ("👎", Sentiment::Bad),
            ("❌", Sentiment::Bad),
            ("🔥", Sentiment::Bad),
        ];
        let mut map: Vec<(String, Sentiment)> =
            pairs.iter().map(|(e, s)| ((*e).to_owned(), *s)).collect();
        map.push(("🐛".to_owned(), Sentiment::Bad));
        EmojiMap(map)
    }
}

impl EmojiMap {
    /// Parses `👍=+1,👀=0,👎=-1` (values +1, 1, 0, -1, or good/meh/bad). Replaces the defaults.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let mut map = Vec::new();
        for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (emoji, value) = pair.rsplit_once('=').ok_or_else(|| {
                ValidationError::new("emoji", format!("{pair:?} is not EMOJI=VALUE"))
            })?;
            let sentiment = match value.trim() {
                "+1" | "1" => Sentiment::Good,
                "0" => Sentiment::Meh,
                "-1" => Sentiment::Bad,
                other => other.parse().map_err(|_| {
                    ValidationError::new("emoji", format!("{pair:?}: value must be +1, 0 or -1"))
                })?,
            };
            let emoji = emoji.trim();
            if emoji.is_empty() {
                return Err(ValidationError::new(
                    "emoji",
                    format!("{pair:?} has no emoji"),
                ));
            }
            map.push((emoji.to_owned(), sentiment));
        }
        if map.is_empty() {
            return Err(ValidationError::new("emoji", "the map is empty"));
        }
        Ok(EmojiMap(map))
    }

    /// The sentiment of a reaction, comparing without emoji variation selectors (👍 vs 👍️).
    pub fn sentiment(&self, emoji: &str) -> Option<Sentiment> {
        let bare = |s: &str| s.replace('\u{fe0f}', "");
        let emoji = bare(emoji);
        self.0
            .iter()
            .find(|(e, _)| bare(e) == emoji)
            .map(|(_, s)| *s)
    }
}

/// When to ask, where, and for how long: `LOOPBOT_CHECKIN_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckinSettings {
    /// After a successful deploy, ask once per delay.
    pub delays: Vec<Duration>,
    /// Environments whose deploys get check-ins (exact names, case-insensitive).
    pub environments: Vec<String>,
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
            environments: vec!["production".to_owned()],
            close_after: Duration::from_secs(24 * 3600),
            emoji: EmojiMap::default(),
            tick: Duration::from_secs(1),
        }
    }
}

impl CheckinSettings {
    /// Parses a humantime list such as `1h,24h` or `300ms, 2s`.
    pub fn parse_delays(raw: &str) -> Result<Vec<Duration>, ValidationError> {
        raw.split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| {
                humantime::parse_duration(d)
                    .map_err(|e| ValidationError::new("delays", format!("{d:?}: {e}")))
            })
            .collect()
    }

    /// How far back the job looks for deploys that still need check-ins scheduled: a deploy
    /// older than its last check-in plus the time it stays open is history, not a question.
    pub fn horizon(&self) -> Duration {
        self.delays.iter().max().copied().unwrap_or_default() + self.close_after
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

/// Votes and comments on a release (or one check-in).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub good: i64,
    pub meh: i64,
    pub bad: i64,
    pub comments: i64,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "👍 {} · 😐 {} · 👎 {}, comments {}",
            self.good, self.meh, self.bad, self.comments
        )
    }
}

/// A check-in with what its message shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckinView {
    pub checkin: Checkin,
    pub deploy: Deploy,
    pub tally: Tally,
}

/// One stored answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    pub id: i64,
    pub deploy_id: i64,
    pub checkin_id: Option<i64>,
    pub source: FeedbackSource,
    pub sentiment: Option<Sentiment>,
    pub body: Option<String>,
    pub emoji: Option<String>,
    pub user_id: u64,
    pub user_name: String,
    pub guild_id: Option<u64>,
    pub channel_id: Option<u64>,
    pub message_id: Option<u64>,
    pub given_at: DateTime<Utc>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_emoji_map_follows_the_issue() {
        let map = EmojiMap::default();
        for e in ["👍", "✅", "🎉", "🚀"] {
            assert_eq!(map.sentiment(e), Some(Sentiment::Good), "{e}");
        }
        for e in ["👀", "🤔"] {
            assert_eq!(map.sentiment(e), Some(Sentiment::Meh), "{e}");
        }
        for e in ["👎", "❌", "🔥", "🐛"] {
            assert_eq!(map.sentiment(e), Some(Sentiment::Bad), "{e}");
        }
        assert_eq!(map.sentiment("🍕"), None);
        assert_eq!(map.sentiment("👍\u{fe0f}"), Some(Sentiment::Good));
    }

    #[test]
    fn emoji_map_parses_and_refuses() {
        let map = EmojiMap::parse("🍕=+1, 🙃=0,💀=-1").unwrap();
        assert_eq!(map.sentiment("🍕"), Some(Sentiment::Good));
        assert_eq!(map.sentiment("💀"), Some(Sentiment::Bad));
        assert_eq!(map.sentiment("👍"), None);
        assert!(EmojiMap::parse("🍕=2").is_err());
        assert!(EmojiMap::parse("🍕").is_err());
    }

    #[test]
    fn delays_are_a_humantime_list() {
        assert_eq!(
            CheckinSettings::parse_delays("1h, 24h").unwrap(),
            vec![Duration::from_secs(3600), Duration::from_secs(86400)]
        );
        assert_eq!(
            CheckinSettings::parse_delays("300ms").unwrap(),
            vec![Duration::from_millis(300)]
        );
        assert!(CheckinSettings::parse_delays("soon").is_err());
    }

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
    fn tally_reads_like_the_issue() {
        let t = Tally {
            good: 2,
            meh: 0,
            bad: 1,
            comments: 3,
        };
        assert_eq!(t.to_string(), "👍 2 · 😐 0 · 👎 1, comments 3");
    }
}
