//! Feedback people give about a release: sentiments, the emoji map, where an answer came from,
//! what a repeated answer does, and the tally. Pure.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

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

    /// What a second answer from the same person (or a redelivered event) does to the first.
    pub fn repeat(self) -> Repeat {
        match self {
            FeedbackSource::Button => Repeat::ReplaceVote,
            FeedbackSource::Reaction => Repeat::Reinstate,
            FeedbackSource::Reply | FeedbackSource::Thread => Repeat::Ignore,
            FeedbackSource::Modal | FeedbackSource::Command => Repeat::Add,
        }
    }
}

/// How an answer meets an earlier one it repeats (the store's unique keys say what "repeats" is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// One vote per person per check-in: a later click replaces the earlier vote.
    ReplaceVote,
    /// One row per message, person and emoji: a reaction re-added after removal counts again.
    Reinstate,
    /// The same gateway message seen twice is stored once.
    Ignore,
    /// Every form or command answer is a new comment.
    Add,
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

/// Votes and comments on a release (or one check-in).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub good: i64,
    pub meh: i64,
    pub bad: i64,
    pub comments: i64,
}

/// One standing answer as the tally sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    pub sentiment: Option<Sentiment>,
    /// It carries a comment.
    pub comment: bool,
}

impl Tally {
    /// Counts standing answers: each sentiment once, each comment once (an answer may be both).
    pub fn of(votes: impl IntoIterator<Item = Vote>) -> Self {
        votes.into_iter().fold(Tally::default(), |mut t, v| {
            match v.sentiment {
                Some(Sentiment::Good) => t.good += 1,
                Some(Sentiment::Meh) => t.meh += 1,
                Some(Sentiment::Bad) => t.bad += 1,
                None => {}
            }
            t.comments += i64::from(v.comment);
            t
        })
    }
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
    fn tally_reads_like_the_issue() {
        let t = Tally {
            good: 2,
            meh: 0,
            bad: 1,
            comments: 3,
        };
        assert_eq!(t.to_string(), "👍 2 · 😐 0 · 👎 1, comments 3");
    }

    #[test]
    fn the_tally_counts_each_sentiment_and_each_comment() {
        let vote = |sentiment, comment| Vote { sentiment, comment };
        for (votes, expect) in [
            (vec![], (0, 0, 0, 0)),
            (vec![vote(Some(Sentiment::Good), false)], (1, 0, 0, 0)),
            (
                vec![
                    vote(Some(Sentiment::Good), false),
                    vote(Some(Sentiment::Bad), true),
                    vote(None, true),
                    vote(Some(Sentiment::Meh), false),
                    vote(Some(Sentiment::Good), false),
                ],
                (2, 1, 1, 2),
            ),
            (vec![vote(None, false)], (0, 0, 0, 0)),
        ] {
            let t = Tally::of(votes.clone());
            assert_eq!((t.good, t.meh, t.bad, t.comments), expect, "{votes:?}");
        }
    }

    #[test]
    fn repeats_by_source() {
        use FeedbackSource::*;
        for (source, repeat) in [
            (Button, Repeat::ReplaceVote),
            (Reaction, Repeat::Reinstate),
            (Reply, Repeat::Ignore),
            (Thread, Repeat::Ignore),
            (Modal, Repeat::Add),
            (Command, Repeat::Add),
        ] {
            assert_eq!(source.repeat(), repeat, "{source:?}");
            assert_eq!(source.as_str().parse::<FeedbackSource>(), Ok(source));
        }
    }
}
