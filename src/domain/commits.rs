//! The commits a deploy shipped, for lead time per change (DORA: commit to running in production),
//! and the lead-time math over them. A commit's time is its committer date: when the change landed
//! on the branch that was deployed (a rebase or a merge moves it, an author date would not).

use chrono::{DateTime, Utc};

use super::deploy::{parse_timestamp, CommitSha};
use super::ValidationError;

/// Most commits one deploy event may list (the generic API refuses more; the compare look-ups
/// keep the newest this many).
pub const MAX_COMMITS: usize = 1000;

/// One commit a deploy shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippedCommit {
    pub sha: CommitSha,
    /// The committer date.
    pub committed_at: DateTime<Utc>,
}

/// A commit as a sender wrote it, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct RawCommit {
    pub sha: Option<String>,
    pub committed_at: Option<String>,
}

/// Validates a sender's commit list. Every error names the field `commits` and says which entry
/// and what is wrong. A sha listed twice is kept once (its first entry).
pub fn parse_commits(raw: &[RawCommit]) -> Result<Vec<ShippedCommit>, ValidationError> {
    if raw.len() > MAX_COMMITS {
        return Err(ValidationError::new(
            "commits",
            format!(
                "must list at most {MAX_COMMITS} commits (got {}); send the newest {MAX_COMMITS}",
                raw.len()
            ),
        ));
    }
    let mut out: Vec<ShippedCommit> = Vec::with_capacity(raw.len());
    for (i, commit) in raw.iter().enumerate() {
        let bad = |what: &str| ValidationError::new("commits", format!("commits[{i}].{what}"));
        let sha = commit
            .sha
            .as_deref()
            .ok_or_else(|| bad("sha is required"))
            .and_then(|s| {
                CommitSha::parse(s).map_err(|_| bad("sha must be 4 to 64 hexadecimal digits"))
            })?;
        let committed_at = commit
            .committed_at
            .as_deref()
            .ok_or_else(|| bad("committed_at is required"))
            .and_then(|t| {
                parse_timestamp("commits", t)
                    .map_err(|e| bad(&format!("committed_at {}", e.reason)))
            })?;
        if !out.iter().any(|c| c.sha == sha) {
            out.push(ShippedCommit { sha, committed_at });
        }
    }
    Ok(out)
}

/// Median and p90 of lead times (seconds) already sorted ascending: the median is the mean of the
/// middle two for an even count, the p90 the nearest rank (the ⌈0.9 n⌉-th value). `None` for none.
pub fn median_and_p90(sorted: &[f64]) -> (Option<f64>, Option<f64>) {
    let n = sorted.len();
    if n == 0 {
        return (None, None);
    }
    let median = (sorted[(n - 1) / 2] + sorted[n / 2]) / 2.0;
    let rank = (9 * n).div_ceil(10);
    (Some(median), Some(sorted[rank - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(sha: &str, at: &str) -> RawCommit {
        RawCommit {
            sha: Some(sha.into()),
            committed_at: Some(at.into()),
        }
    }

    #[test]
    fn a_list_parses_lowercased_and_deduplicated() {
        let commits = parse_commits(&[
            raw("ABCDEF1", "2026-11-24T10:00:00Z"),
            raw("abcdef1", "2026-11-25T10:00:00Z"),
            raw("1234567", "2026-11-24T12:00:00+02:00"),
        ])
        .unwrap();
        assert_eq!(commits.len(), 2);
        assert_eq!(commits[0].sha.as_str(), "abcdef1");
        assert_eq!(
            commits[0].committed_at.to_rfc3339(),
            "2026-11-24T10:00:00+00:00"
        );
        assert_eq!(
            commits[1].committed_at.to_rfc3339(),
            "2026-11-24T10:00:00+00:00"
        );
    }

    #[test]
    fn every_bad_entry_names_commits_and_says_which() {
        let ok = raw("abcdef1", "2026-11-24T10:00:00Z");
        for (list, says) in [
            (
                vec![ok.clone(), raw("xyz", "2026-11-24T10:00:00Z")],
                "commits[1].sha",
            ),
            (vec![raw("abcdef1", "yesterday")], "commits[0].committed_at"),
            (
                vec![RawCommit {
                    sha: None,
                    committed_at: Some("2026-11-24T10:00:00Z".into()),
                }],
                "commits[0].sha is required",
            ),
            (
                vec![RawCommit {
                    sha: Some("abcdef1".into()),
                    committed_at: None,
                }],
                "commits[0].committed_at is required",
            ),
            (vec![ok.clone(); MAX_COMMITS + 1], "at most 1000"),
        ] {
            let err = parse_commits(&list).unwrap_err();
            assert_eq!(err.field, "commits");
            assert!(err.reason.contains(says), "{says:?} in {}", err.reason);
        }
        assert_eq!(parse_commits(&vec![ok; MAX_COMMITS]).unwrap().len(), 1);
    }

    #[test]
    fn median_is_the_middle_and_p90_the_nearest_rank() {
        for (values, median, p90) in [
            (vec![], None, None),
            (vec![5.0], Some(5.0), Some(5.0)),
            (vec![1.0, 3.0], Some(2.0), Some(3.0)),
            (vec![1.0, 2.0, 10.0], Some(2.0), Some(10.0)),
            // Ten values: median between the 5th and 6th, p90 the 9th.
            ((1..=10).map(f64::from).collect(), Some(5.5), Some(9.0)),
            // Eleven: p90 is the ⌈9.9⌉ = 10th.
            ((1..=11).map(f64::from).collect(), Some(6.0), Some(10.0)),
        ] {
            assert_eq!(median_and_p90(&values), (median, p90), "{values:?}");
        }
    }
}
