//! The weekly summary's incidents section (issue 16 item 2): how many opened, the median time to
//! acknowledge and to restore, follow-ups opened and closed, and the open ones older than 7 days.
//! Pure values and their text; the store computes them (`store/incident_figures.rs`).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::duration::duration_text;

/// A follow-up still open that long after it was opened makes the summary's list.
pub const STALE_FOLLOWUP_DAYS: i64 = 7;
/// Stale follow-ups listed by name; the rest are counted.
pub const STALE_LISTED: usize = 10;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowupCounts {
    /// Added in the period.
    pub opened: i64,
    /// Closed in the period.
    pub closed: i64,
}

/// An open follow-up older than [`STALE_FOLLOWUP_DAYS`] at the end of the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleFollowup {
    pub id: i64,
    pub incident_id: i64,
    pub what: String,
    /// A mention (`<@id>`) for a person on Discord, else the free text given.
    pub owner: String,
    pub age_days: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentSection {
    /// Incidents opened in the period (by an alert or declared).
    pub count: i64,
    /// Seconds from opening to the first acknowledgement, median over the period's incidents
    /// that were acknowledged.
    pub time_to_acknowledge_median: Option<f64>,
    /// Seconds from opening to resolution, median over the incidents resolved in the period.
    pub time_to_restore_median: Option<f64>,
    pub followups: FollowupCounts,
    /// Oldest first, at most [`STALE_LISTED`]; `open_older_than_7_days_total` counts them all.
    pub open_older_than_7_days: Vec<StaleFollowup>,
    pub open_older_than_7_days_total: i64,
}

impl IncidentSection {
    /// Nothing to say: no incident, no follow-up activity, nothing stale.
    pub fn is_quiet(&self) -> bool {
        self.count == 0
            && self.time_to_restore_median.is_none()
            && self.followups == FollowupCounts::default()
            && self.open_older_than_7_days_total == 0
    }

    /// The section's lines (markdown: bold heading).
    pub fn render(&self, markdown: bool) -> String {
        let mut out = String::new();
        let heading = if markdown {
            "**Incidents:**"
        } else {
            "Incidents:"
        };
        let time = |v: Option<f64>| v.map(duration_text).unwrap_or_else(|| "n/a".into());
        let _ = writeln!(
            out,
            "{heading} {} opened; time to acknowledge (median) {}; time to restore (median) {}",
            self.count,
            time(self.time_to_acknowledge_median),
            time(self.time_to_restore_median)
        );
        let _ = writeln!(
            out,
            "• Follow-ups: {} opened, {} closed",
            self.followups.opened, self.followups.closed
        );
        if self.open_older_than_7_days_total > 0 {
            let _ = writeln!(
                out,
                "• Open for more than {STALE_FOLLOWUP_DAYS} days ({}):",
                self.open_older_than_7_days_total
            );
            for f in &self.open_older_than_7_days {
                let what: String = f.what.chars().take(120).collect();
                let _ = writeln!(
                    out,
                    "  – #{} {what} (owner {}, {} days, incident #{})",
                    f.id, f.owner, f.age_days, f.incident_id
                );
            }
            let more = self.open_older_than_7_days_total - self.open_older_than_7_days.len() as i64;
            if more > 0 {
                let _ = writeln!(out, "  – … and {more} more");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_reads_its_figures_and_lists_the_stale_followups() {
        let section = IncidentSection {
            count: 2,
            time_to_acknowledge_median: Some(90.0),
            time_to_restore_median: Some(1800.0),
            followups: FollowupCounts {
                opened: 3,
                closed: 1,
            },
            open_older_than_7_days: vec![StaleFollowup {
                id: 4,
                incident_id: 1,
                what: "add a canary".into(),
                owner: "team-db".into(),
                age_days: 9,
            }],
            open_older_than_7_days_total: 2,
        };
        let text = section.render(false);
        assert!(text.starts_with(
            "Incidents: 2 opened; time to acknowledge (median) 1m 30s; time to restore (median) 30m 0s"
        ), "{text}");
        assert!(text.contains("• Follow-ups: 3 opened, 1 closed"), "{text}");
        assert!(
            text.contains("#4 add a canary (owner team-db, 9 days, incident #1)"),
            "{text}"
        );
        assert!(text.contains("… and 1 more"), "{text}");
        assert!(!section.is_quiet());
        assert!(IncidentSection::default().is_quiet());
        assert!(section.render(true).starts_with("**Incidents:**"));
    }
}
