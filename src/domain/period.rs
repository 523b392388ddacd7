//! Periods of whole local days in the team's time zone: a week, the last 30 days, a custom
//! range. Boundaries are local midnights, so a week across a DST change is 167 or 169 hours.

use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::ValidationError;

/// The first and last dates a period may name: four-digit years, as people write dates. Past them
/// chrono's own range (±262 143 years) is near, and a day after its last date does not exist.
pub const FIRST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1, 1, 1) {
    Some(d) => d,
    None => panic!("0001-01-01 exists"),
};
pub const LAST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(d) => d,
    None => panic!("9999-12-31 exists"),
};

/// The day after `date`; chrono's last date has none, so it stays (a period never reaches it:
/// the constructors refuse dates past [`LAST_DATE`]).
fn next_day(date: NaiveDate) -> NaiveDate {
    date.succ_opt().unwrap_or(date)
}

/// A date someone gave, refused with `field` unless it is a real day between [`FIRST_DATE`] and
/// [`LAST_DATE`].
fn parse_date(field: &'static str, raw: &str) -> Result<NaiveDate, ValidationError> {
    let date = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
        ValidationError::new(
            field,
            format!(
                "must be a date like 2026-11-16, between {FIRST_DATE} and {LAST_DATE} (got {raw:?})"
            ),
        )
    })?;
    within_range(field, date)
}

fn within_range(field: &'static str, date: NaiveDate) -> Result<NaiveDate, ValidationError> {
    if (FIRST_DATE..=LAST_DATE).contains(&date) {
        Ok(date)
    } else {
        Err(ValidationError::new(
            field,
            format!("must be between {FIRST_DATE} and {LAST_DATE} (got {date})"),
        ))
    }
}

/// A run of whole local days `[from, to)` in a time zone. A week across a DST change is 167 or
/// 169 hours long: boundaries are local midnights, converted to UTC one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    /// Exclusive.
    pub to: NaiveDate,
    pub tz: Tz,
}

/// The UTC instant of local midnight starting `date` (the first instant of the day when a DST
/// change skips midnight).
pub fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut at = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    // A zone may skip local midnight (e.g. DST at 00:00): take the first instant that exists.
    for _ in 0..180 {
        if let Some(t) = tz.from_local_datetime(&at).earliest() {
            return t.with_timezone(&Utc);
        }
        at = match at.checked_add_signed(Duration::minutes(1)) {
            Some(next) => next,
            None => break,
        };
    }
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

impl Period {
    pub fn new(from: NaiveDate, to_exclusive: NaiveDate, tz: Tz) -> Self {
        Self {
            from,
            to: to_exclusive,
            tz,
        }
    }

    /// The ISO week (`2026-W47`) in `tz`, Monday to Sunday.
    pub fn iso_week(raw: &str, tz: Tz) -> Result<Self, ValidationError> {
        let err = || ValidationError::new("week", format!("must look like 2026-W47 (got {raw:?})"));
        let (year, week) = raw.trim().split_once(['-', 'W', 'w']).ok_or_else(err)?;
        let week = week.trim_start_matches(['W', 'w']);
        let year: i32 = year.parse().map_err(|_| err())?;
        let week: u32 = week.parse().map_err(|_| err())?;
        let monday = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(err)?;
        let sunday = monday.checked_add_days(Days::new(6)).ok_or_else(err)?;
        within_range("week", monday)?;
        within_range("week", sunday)?;
        Ok(Self::new(monday, next_day(sunday), tz))
    }

    /// Monday of the week holding `date`.
    fn monday_of(date: NaiveDate) -> NaiveDate {
        date - Duration::days(date.weekday().num_days_from_monday() as i64)
    }

    /// The week (Monday 00:00 to Monday 00:00 local) holding `at`.
    pub fn week_of(at: DateTime<Utc>, tz: Tz) -> Self {
        let monday = Self::monday_of(at.with_timezone(&tz).date_naive());
        Self::new(monday, monday + Duration::days(7), tz)
    }

    /// The period a CLI or API caller asked for: `week` (2026-W47), or `from` and `to` (dates,
    /// both included), or by default last week.
    pub fn select(
        week: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Result<Self, ValidationError> {
        match (week, from, to) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(ValidationError::new(
                "week",
                "give either week or from/to, not both",
            )),
            (Some(week), None, None) => Self::iso_week(week, tz),
            (None, Some(from), Some(to)) => Self::custom(from, to, tz),
            (None, Some(_), None) => Err(ValidationError::new("to", "is required with from")),
            (None, None, Some(_)) => Err(ValidationError::new("from", "is required with to")),
            (None, None, None) => Ok(Self::last_week(now, tz)),
        }
    }

    /// The previous full week in `tz`, as seen at `at`.
    pub fn last_week(at: DateTime<Utc>, tz: Tz) -> Self {
        Self::week_of(at, tz).previous()
    }

    /// The 30 local days ending with today (today included).
    pub fn last_30_days(now: DateTime<Utc>, tz: Tz) -> Self {
        let today = now.with_timezone(&tz).date_naive();
        Self::new(today - Duration::days(29), today + Duration::days(1), tz)
    }

    /// `from` to `to`, both dates included.
    pub fn custom(from: &str, to: &str, tz: Tz) -> Result<Self, ValidationError> {
        let from = parse_date("from", from)?;
        let to = parse_date("to", to)?;
        if to < from {
            return Err(ValidationError::new("to", "must not be before from"));
        }
        if (to - from).num_days() > 366 {
            return Err(ValidationError::new(
                "to",
                "the period may span at most 366 days",
            ));
        }
        Ok(Self::new(from, next_day(to), tz))
    }

    /// The period of the same number of days just before this one (cut at chrono's first date,
    /// which a period from the constructors never comes near).
    pub fn previous(&self) -> Self {
        let len = self.to - self.from;
        let from = self.from.checked_sub_signed(len).unwrap_or(NaiveDate::MIN);
        Self::new(from, self.from, self.tz)
    }

    pub fn start(&self) -> DateTime<Utc> {
        local_midnight(self.from, self.tz)
    }

    pub fn end(&self) -> DateTime<Utc> {
        local_midnight(self.to, self.tz)
    }

    pub fn day_count(&self) -> i64 {
        (self.to - self.from).num_days()
    }

    /// Each local day with its UTC bounds.
    pub fn days(&self) -> Vec<(NaiveDate, DateTime<Utc>, DateTime<Utc>)> {
        self.from
            .iter_days()
            .take_while(|d| *d < self.to)
            .map(|d| {
                (
                    d,
                    local_midnight(d, self.tz),
                    local_midnight(next_day(d), self.tz),
                )
            })
            .collect()
    }

    /// Days of the period that have begun by `now` (at least 1): the divisor of "per day".
    pub fn elapsed_days(&self, now: DateTime<Utc>) -> i64 {
        self.days()
            .iter()
            .filter(|(_, start, _)| *start <= now)
            .count()
            .max(1) as i64
    }

    pub fn info(&self) -> PeriodInfo {
        PeriodInfo {
            from: self.from,
            to: self.to.pred_opt().unwrap_or(self.to),
            timezone: self.tz.name().to_owned(),
            start: self.start(),
            end: self.end(),
        }
    }
}

/// A period as the outputs show it (both dates included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodInfo {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub timezone: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

pub fn parse_timezone(raw: &str) -> Result<Tz, String> {
    Tz::from_str(raw.trim()).map_err(|_| format!("{raw:?} is not an IANA time zone"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_week_across_the_end_of_dst_is_169_hours_in_berlin() {
        // 2026-10-25 03:00 CEST → 02:00 CET: the week of Monday 2026-10-19 is one hour longer.
        let week = Period::iso_week("2026-W43", Berlin).unwrap();
        assert_eq!(week.start(), utc("2026-10-18T22:00:00Z"));
        assert_eq!(week.end(), utc("2026-10-25T23:00:00Z"));
        assert_eq!((week.end() - week.start()).num_hours(), 169);
        // The first and last instants land inside; the instants just outside do not.
        let at = |s| Period::week_of(utc(s), Berlin);
        assert_eq!(at("2026-10-18T22:00:00Z"), week);
        assert_eq!(at("2026-10-25T22:59:59Z"), week);
        assert_ne!(at("2026-10-18T21:59:59Z"), week);
        assert_ne!(at("2026-10-25T23:00:00Z"), week);
    }

    #[test]
    fn a_week_across_the_start_of_dst_is_167_hours() {
        let week = Period::iso_week("2026-W13", Berlin).unwrap(); // 2026-03-29 02:00 → 03:00
        assert_eq!(week.start(), utc("2026-03-22T23:00:00Z"));
        assert_eq!(week.end(), utc("2026-03-29T22:00:00Z"));
        assert_eq!(week.days().len(), 7);
        assert_eq!(week.days()[6].1, utc("2026-03-28T23:00:00Z"));
    }

    #[test]
    fn last_week_is_the_previous_full_week_in_the_zone() {
        // Monday 2026-11-23 00:30 in Berlin is still Sunday in UTC.
        let now = utc("2026-11-22T23:30:00Z");
        let week = Period::last_week(now, Berlin);
        assert_eq!(week.from, NaiveDate::from_ymd_opt(2026, 11, 16).unwrap());
        assert_eq!(week, Period::iso_week("2026-W47", Berlin).unwrap());
        let utc_week = Period::last_week(now, Tz::UTC);
        assert_eq!(utc_week.from, NaiveDate::from_ymd_opt(2026, 11, 9).unwrap());
    }

    #[test]
    fn bad_periods_are_refused_with_the_field() {
        assert_eq!(
            Period::iso_week("2026-47", Tz::UTC)
                .unwrap()
                .from
                .to_string(),
            "2026-11-16"
        );
        assert_eq!(Period::iso_week("nope", Tz::UTC).unwrap_err().field, "week");
        assert_eq!(
            Period::custom("2026-11-10", "2026-11-01", Tz::UTC)
                .unwrap_err()
                .field,
            "to"
        );
        assert_eq!(
            Period::custom("x", "2026-11-01", Tz::UTC)
                .unwrap_err()
                .field,
            "from"
        );
        let p = Period::custom("2026-11-01", "2026-11-30", Tz::UTC).unwrap();
        assert_eq!(p.day_count(), 30);
        assert_eq!(p.previous().from.to_string(), "2026-10-02");
    }

    #[test]
    fn dates_past_the_year_9999_are_refused_not_overflowed() {
        // chrono's last date: the day after it does not exist.
        let err = Period::custom("+262142-12-25", "+262142-12-31", Tz::UTC).unwrap_err();
        assert_eq!(err.field, "from");
        assert!(err.to_string().contains("9999-12-31"), "{err}");
        let err = Period::custom("2026-01-01", "+262142-12-31", Tz::UTC).unwrap_err();
        assert_eq!(err.field, "to");
        let err = Period::custom("10000-01-01", "10000-01-02", Tz::UTC).unwrap_err();
        assert_eq!(err.field, "from");
        assert_eq!(
            Period::custom("-0001-01-01", "0001-01-01", Tz::UTC)
                .unwrap_err()
                .field,
            "from"
        );
        assert_eq!(
            Period::iso_week("262142-W52", Tz::UTC).unwrap_err().field,
            "week"
        );
        assert_eq!(
            Period::iso_week("10000-W01", Tz::UTC).unwrap_err().field,
            "week"
        );
        // The edges themselves are whole periods with a previous one.
        let last = Period::custom("9999-12-25", "9999-12-31", Berlin).unwrap();
        assert_eq!(last.info().to, LAST_DATE);
        assert_eq!(last.days().len(), 7);
        assert!(last.start() < last.end());
        assert_eq!(last.previous().day_count(), 7);
        let first = Period::custom("0001-01-01", "0001-12-31", Tz::UTC).unwrap();
        assert_eq!(first.previous().day_count(), 365);
        assert_eq!(
            Period::iso_week("9999-W51", Tz::UTC).unwrap().day_count(),
            7
        );
        // Its last ISO week ends in the year 10000.
        assert_eq!(
            Period::iso_week("9999-W52", Tz::UTC).unwrap_err().field,
            "week"
        );
    }
}
