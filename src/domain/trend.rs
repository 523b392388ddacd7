//! The trend: each of the four keys week by week, so a team sees direction rather than one
//! week's noise. The weeks are 7 local days each, the last one ending where the summary's period
//! ends (for a weekly summary, the last week IS the period).

use std::fmt::Write as _;

use chrono::{Days, NaiveDate};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::duration::duration_text;
use super::period::Period;
use super::ValidationError;

/// Weeks the summary's trend shows.
pub const SUMMARY_WEEKS: u32 = 12;
/// The most weeks `/metrics weeks:<n>` shows: a year. One bar per week still fits a message line.
pub const MAX_WEEKS: u32 = 52;

/// `weeks` as someone asked for it, refused outside 1..=[`MAX_WEEKS`].
pub fn parse_weeks(weeks: i64) -> Result<u32, ValidationError> {
    if (1..=MAX_WEEKS as i64).contains(&weeks) {
        Ok(weeks as u32)
    } else {
        Err(ValidationError::new(
            "weeks",
            format!("must be between 1 and {MAX_WEEKS} (got {weeks})"),
        ))
    }
}

/// The `weeks` periods of 7 local days ending where `period` ends, oldest first. Weeks before
/// chrono's first date do not exist and are left out.
pub fn weeks_ending_with(period: &Period, weeks: u32) -> Vec<Period> {
    week_periods(period.to, period.tz, weeks)
}

/// The `weeks` periods of 7 local days ending before `end` (exclusive), oldest first.
pub fn week_periods(end: NaiveDate, tz: Tz, weeks: u32) -> Vec<Period> {
    (1..=weeks as u64)
        .rev()
        .filter_map(|k| {
            let from = end.checked_sub_days(Days::new(7 * k))?;
            let to = end.checked_sub_days(Days::new(7 * (k - 1)))?;
            Some(Period::new(from, to, tz))
        })
        .collect()
}

/// The four keys of one week of the trend (values only; the summary's keys carry bands).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendWeek {
    pub from: NaiveDate,
    /// Last day, included.
    pub to: NaiveDate,
    /// Production deploys per day (per day begun, for a week still running).
    pub deployment_frequency: f64,
    /// Seconds.
    pub lead_time_median: Option<f64>,
    pub lead_time_p90: Option<f64>,
    /// Percent.
    pub change_failure_rate: Option<f64>,
    /// Seconds.
    pub time_to_restore_median: Option<f64>,
    pub production_deploys: i64,
    pub production_failures: i64,
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character per week scaled between the series' own minimum and maximum; `·` for a week
/// without a value.
pub fn sparkline(values: &[Option<f64>]) -> String {
    let known = values.iter().flatten().copied();
    let (min, max) = known.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    values
        .iter()
        .map(|v| match v {
            None => '·',
            Some(_) if max - min < 1e-9 => BARS[3],
            Some(v) => BARS[(((v - min) / (max - min)) * 7.0).round().clamp(0.0, 7.0) as usize],
        })
        .collect()
}

/// The trend as lines of text: per key, a sparkline (oldest week first) and the first and last
/// known values.
pub fn render(weeks: &[TrendWeek], markdown: bool) -> String {
    let mut out = String::new();
    let (Some(first), Some(last)) = (weeks.first(), weeks.last()) else {
        return out;
    };
    let title = format!(
        "Trend, {} weeks ({} – {}; oldest first)",
        weeks.len(),
        first.from,
        last.to
    );
    let _ = writeln!(
        out,
        "{}",
        if markdown {
            format!("**{title}**")
        } else {
            title
        }
    );
    let line =
        |out: &mut String, name: &str, values: Vec<Option<f64>>, fmt: &dyn Fn(f64) -> String| {
            let ends = match (
                values.iter().flatten().next(),
                values.iter().rev().flatten().next(),
            ) {
                (Some(a), Some(b)) => format!("{} → {}", fmt(*a), fmt(*b)),
                _ => "n/a".to_owned(),
            };
            let spark = sparkline(&values);
            let spark = if markdown {
                format!("`{spark}`")
            } else {
                spark
            };
            let _ = writeln!(out, "• {name}: {spark} {ends}");
        };
    line(
        &mut out,
        "Deployment frequency",
        weeks.iter().map(|w| Some(w.deployment_frequency)).collect(),
        &|v| format!("{v:.2}/day"),
    );
    line(
        &mut out,
        "Lead time (median)",
        weeks.iter().map(|w| w.lead_time_median).collect(),
        &duration_text,
    );
    line(
        &mut out,
        "Change failure rate",
        weeks.iter().map(|w| w.change_failure_rate).collect(),
        &|v| format!("{v:.1}%"),
    );
    line(
        &mut out,
        "Time to restore (median)",
        weeks.iter().map(|w| w.time_to_restore_median).collect(),
        &duration_text,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_weeks_end_with_the_period_oldest_first() {
        let period = Period::iso_week("2026-W47", Tz::UTC).unwrap();
        let weeks = weeks_ending_with(&period, 12);
        assert_eq!(weeks.len(), 12);
        assert_eq!(weeks[11], period);
        assert_eq!(weeks[0], Period::iso_week("2026-W36", Tz::UTC).unwrap());
        assert!(weeks.windows(2).all(|w| w[0].to == w[1].from));
        // Near chrono's first date, weeks that would not exist are left out.
        let early = Period::new(
            NaiveDate::MIN + Days::new(10),
            NaiveDate::MIN + Days::new(17),
            Tz::UTC,
        );
        assert_eq!(weeks_ending_with(&early, 12).len(), 2);
    }

    #[test]
    fn weeks_are_bounded() {
        assert_eq!(parse_weeks(1).unwrap(), 1);
        assert_eq!(parse_weeks(52).unwrap(), 52);
        for bad in [0, -3, 53, 10_000] {
            let error = parse_weeks(bad).unwrap_err();
            assert_eq!(error.field, "weeks");
            assert!(error.to_string().contains("between 1 and 52"), "{error}");
        }
    }

    #[test]
    fn the_sparkline_scales_between_the_series_extremes_and_marks_gaps() {
        assert_eq!(sparkline(&[Some(0.0), Some(7.0), None, Some(3.5)]), "▁█·▅");
        assert_eq!(sparkline(&[Some(2.0), Some(2.0)]), "▄▄");
        assert_eq!(sparkline(&[None, None]), "··");
    }

    #[test]
    fn the_text_shows_each_key_from_the_first_to_the_last_known_week() {
        let week = |from: &str, frequency: f64, lead: Option<f64>, rate: Option<f64>| TrendWeek {
            from: from.parse().unwrap(),
            to: from.parse::<NaiveDate>().unwrap() + Days::new(6),
            deployment_frequency: frequency,
            lead_time_median: lead,
            lead_time_p90: lead,
            change_failure_rate: rate,
            time_to_restore_median: None,
            production_deploys: 0,
            production_failures: 0,
        };
        let text = render(
            &[
                week("2026-11-02", 1.0, None, Some(50.0)),
                week("2026-11-09", 2.0, Some(3_600.0), None),
                week("2026-11-16", 3.0, Some(7_200.0), Some(10.0)),
            ],
            false,
        );
        assert!(
            text.starts_with("Trend, 3 weeks (2026-11-02 – 2026-11-22; oldest first)"),
            "{text}"
        );
        assert!(
            text.contains("• Deployment frequency: ▁▅█ 1.00/day → 3.00/day"),
            "{text}"
        );
        assert!(
            text.contains("• Lead time (median): ·▁█ 1h 0m → 2h 0m"),
            "{text}"
        );
        assert!(
            text.contains("• Change failure rate: █·▁ 50.0% → 10.0%"),
            "{text}"
        );
        assert!(
            text.contains("• Time to restore (median): ··· n/a"),
            "{text}"
        );
    }
}
