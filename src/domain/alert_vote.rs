//! Alert noise votes: **Useful** or **Noise** on an alert group episode, one per person (the
//! latest counts), and what the summary makes of them: the noisiest alerts, where an alert the
//! team voted noise is listed even if it fired once.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a person said about an alert group episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Vote {
    Useful,
    Noise,
}

impl Vote {
    /// As stored and as the button's `custom_id` carries it.
    pub fn as_str(self) -> &'static str {
        match self {
            Vote::Useful => "useful",
            Vote::Noise => "noise",
        }
    }
}

impl fmt::Display for Vote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Vote {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "useful" => Ok(Vote::Useful),
            "noise" => Ok(Vote::Noise),
            _ => Err(()),
        }
    }
}

/// The votes that count on one episode: each person's latest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VoteCounts {
    pub useful: i64,
    pub noise: i64,
}

impl VoteCounts {
    pub fn of(self, vote: Vote) -> i64 {
        match vote {
            Vote::Useful => self.useful,
            Vote::Noise => self.noise,
        }
    }
}

/// One line of the summary's noisiest alerts: an alert name, how often it fired in the period,
/// and the votes given on its episodes in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "NoisyAlertStored")]
pub struct NoisyAlert {
    pub name: String,
    pub fired: i64,
    pub noise_votes: i64,
    pub useful_votes: i64,
}

impl NoisyAlert {
    /// The team called it noise: more noise votes than useful ones.
    pub fn called_noise(&self) -> bool {
        self.noise_votes > self.useful_votes
    }
}

/// Summaries stored before the votes held `[name, fired]` pairs; they still read.
#[derive(Deserialize)]
#[serde(untagged)]
enum NoisyAlertStored {
    Entry {
        name: String,
        fired: i64,
        #[serde(default)]
        noise_votes: i64,
        #[serde(default)]
        useful_votes: i64,
    },
    Pair(String, i64),
}

impl From<NoisyAlertStored> for NoisyAlert {
    fn from(stored: NoisyAlertStored) -> Self {
        match stored {
            NoisyAlertStored::Entry {
                name,
                fired,
                noise_votes,
                useful_votes,
            } => NoisyAlert {
                name,
                fired,
                noise_votes,
                useful_votes,
            },
            NoisyAlertStored::Pair(name, fired) => NoisyAlert {
                name,
                fired,
                noise_votes: 0,
                useful_votes: 0,
            },
        }
    }
}

/// Entries the noisiest list holds when nobody voted noise.
pub const NOISIEST: usize = 5;
/// Most entries it holds: the names voted noise come first and may take up to this many.
pub const NOISIEST_MAX: usize = 10;

/// The noisiest alerts of a period, from the fires per name and the votes per name
/// `(name, noise, useful)`: every name voted noise (most noise votes first, up to
/// [`NOISIEST_MAX`]), then the most fired of the others, [`NOISIEST`] entries in all at least.
pub fn noisiest(fired: &[(String, i64)], votes: &[(String, i64, i64)]) -> Vec<NoisyAlert> {
    let mut by_name: BTreeMap<&str, NoisyAlert> = BTreeMap::new();
    let entry = |by_name: &mut BTreeMap<&str, NoisyAlert>, name: &str| -> NoisyAlert {
        by_name.get(name).cloned().unwrap_or(NoisyAlert {
            name: name.to_owned(),
            fired: 0,
            noise_votes: 0,
            useful_votes: 0,
        })
    };
    for (name, n) in fired {
        let mut e = entry(&mut by_name, name);
        e.fired += n;
        by_name.insert(name, e);
    }
    for (name, noise, useful) in votes {
        let mut e = entry(&mut by_name, name);
        e.noise_votes += noise;
        e.useful_votes += useful;
        by_name.insert(name, e);
    }
    let (mut voted, mut others): (Vec<NoisyAlert>, Vec<NoisyAlert>) =
        by_name.into_values().partition(|e| e.noise_votes > 0);
    voted.sort_by(|a, b| {
        (b.noise_votes, b.fired)
            .cmp(&(a.noise_votes, a.fired))
            .then_with(|| a.name.cmp(&b.name))
    });
    voted.truncate(NOISIEST_MAX);
    others.sort_by(|a, b| b.fired.cmp(&a.fired).then_with(|| a.name.cmp(&b.name)));
    let room = NOISIEST.saturating_sub(voted.len());
    voted.extend(others.into_iter().take(room));
    voted
}

/// How a noisiest entry reads in the text summary: `HighLatency ×3 (🔇 2 · 👍 1)`.
pub fn noisy_text(entry: &NoisyAlert) -> String {
    let mut text = format!("{} ×{}", entry.name, entry.fired);
    if entry.noise_votes > 0 || entry.useful_votes > 0 {
        text.push_str(&format!(
            " (🔇 {} · 👍 {})",
            entry.noise_votes, entry.useful_votes
        ));
    }
    text
}

/// The text summary's line naming what the team called noise, if anything.
pub fn called_noise_line(noisiest: &[NoisyAlert]) -> Option<String> {
    let names: Vec<String> = noisiest
        .iter()
        .filter(|e| e.called_noise())
        .map(|e| {
            let votes = if e.noise_votes == 1 { "vote" } else { "votes" };
            format!("{} ({} noise {votes})", e.name, e.noise_votes)
        })
        .collect();
    (!names.is_empty()).then(|| format!("Called noise by the team: {}", names.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, noise, useful) per name, as the store hands them over.
    type Votes = Vec<(String, i64, i64)>;

    fn e(name: &str, fired: i64, noise: i64, useful: i64) -> NoisyAlert {
        NoisyAlert {
            name: name.into(),
            fired,
            noise_votes: noise,
            useful_votes: useful,
        }
    }

    #[test]
    fn noise_voted_names_come_first_even_if_they_fired_once() {
        let fired: Vec<(String, i64)> =
            [("A", 9), ("B", 8), ("C", 7), ("D", 6), ("E", 5), ("F", 1)]
                .map(|(n, c)| (n.to_owned(), c))
                .to_vec();
        let cases: Vec<(Votes, Vec<NoisyAlert>)> = vec![
            // Nobody voted: the five most fired, as before.
            (
                vec![],
                vec![
                    e("A", 9, 0, 0),
                    e("B", 8, 0, 0),
                    e("C", 7, 0, 0),
                    e("D", 6, 0, 0),
                    e("E", 5, 0, 0),
                ],
            ),
            // F fired once, two people called it noise: first, the rest fill to five.
            (
                vec![("F".into(), 2, 0)],
                vec![
                    e("F", 1, 2, 0),
                    e("A", 9, 0, 0),
                    e("B", 8, 0, 0),
                    e("C", 7, 0, 0),
                    e("D", 6, 0, 0),
                ],
            ),
            // Useful votes alone do not lift a name; the counts still show.
            (
                vec![("E".into(), 0, 3), ("B".into(), 1, 1)],
                vec![
                    e("B", 8, 1, 1),
                    e("A", 9, 0, 0),
                    e("C", 7, 0, 0),
                    e("D", 6, 0, 0),
                    e("E", 5, 0, 3),
                ],
            ),
            // Voted on an episode that fired before the period: listed with fired 0.
            (
                vec![("Old".into(), 1, 0)],
                vec![
                    e("Old", 0, 1, 0),
                    e("A", 9, 0, 0),
                    e("B", 8, 0, 0),
                    e("C", 7, 0, 0),
                    e("D", 6, 0, 0),
                ],
            ),
        ];
        for (votes, expect) in cases {
            assert_eq!(noisiest(&fired, &votes), expect, "{votes:?}");
        }
    }

    #[test]
    fn many_names_voted_noise_are_all_listed_up_to_the_cap() {
        let votes: Vec<(String, i64, i64)> = (0..12)
            .map(|i| (format!("N{i:02}"), 1 + i % 3, 0))
            .collect();
        let list = noisiest(&[("A".into(), 50)], &votes);
        assert_eq!(list.len(), NOISIEST_MAX);
        assert!(list.iter().all(|e| e.noise_votes > 0), "{list:?}");
        assert_eq!(list[0].noise_votes, 3);
    }

    #[test]
    fn the_text_names_what_the_team_called_noise() {
        let list = [e("Disk", 1, 2, 0), e("Cpu", 4, 1, 1), e("Mem", 3, 0, 0)];
        assert_eq!(
            called_noise_line(&list).as_deref(),
            Some("Called noise by the team: Disk (2 noise votes)")
        );
        assert_eq!(noisy_text(&list[0]), "Disk ×1 (🔇 2 · 👍 0)");
        assert_eq!(noisy_text(&list[2]), "Mem ×3");
        assert_eq!(called_noise_line(&list[1..]), None);
    }

    #[test]
    fn summaries_stored_before_the_votes_still_read() {
        let old: Vec<NoisyAlert> = serde_json::from_str(r#"[["Disk", 3]]"#).unwrap();
        assert_eq!(old, vec![e("Disk", 3, 0, 0)]);
        let new = serde_json::to_value(e("Disk", 1, 2, 0)).unwrap();
        assert_eq!(
            new,
            serde_json::json!({"name": "Disk", "fired": 1, "noise_votes": 2, "useful_votes": 0})
        );
        let back: NoisyAlert = serde_json::from_value(new).unwrap();
        assert_eq!(back, e("Disk", 1, 2, 0));
    }

    #[test]
    fn votes_parse_as_the_buttons_carry_them() {
        assert_eq!("noise".parse(), Ok(Vote::Noise));
        assert_eq!("useful".parse(), Ok(Vote::Useful));
        assert!("Noise".parse::<Vote>().is_err());
        assert!("".parse::<Vote>().is_err());
        assert_eq!(Vote::Noise.as_str(), "noise");
    }
}
