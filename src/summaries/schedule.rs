//! When scheduled summaries go out: a cron expression read in the configured time zone. It
//! lives outside `domain` because it is backed by the `cron` crate; the pure rule of which period
//! a firing covers is `Period::last_week` in `domain::period`.

use std::str::FromStr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;

pub const DEFAULT_CRON: &str = "0 9 * * MON";

/// When summaries go out: a cron expression read in the configured time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: cron::Schedule,
    source: String,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Schedule {
    /// Accepts standard 5-field cron (`min hour dom month dow`, 0 or 7 = Sunday) and the `cron`
    /// crate's 6/7-field form (`sec min hour dom month dow [year]`, 1 = Sunday).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let fields: Vec<&str> = raw.split_whitespace().collect();
        let expression = match fields.len() {
            5 => format!(
                "0 {} {} {} {} {}",
                fields[0],
                fields[1],
                fields[2],
                fields[3],
                standard_weekdays(fields[4])?
            ),
            6 | 7 => fields.join(" "),
            n => {
                return Err(format!(
                "has {n} fields; expected 5 (min hour dom month dow) or 6/7 (with seconds, year)"
            ))
            }
        };
        let cron = cron::Schedule::from_str(&expression)
            .map_err(|e| format!("is not a valid cron expression: {e}"))?;
        Ok(Self {
            cron,
            source: raw.trim().to_owned(),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The latest scheduled instant at or before `now`.
    pub fn latest_at_or_before(&self, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        // The iterator walks backwards from its start, exclusive. Cron has whole seconds: from
        // the next whole second, so `now` itself (and any instant within its second) counts.
        let whole = Utc.timestamp_opt(now.timestamp(), 0).single()?;
        let from = (whole + Duration::seconds(1)).with_timezone(&tz);
        self.cron
            .after(&from)
            .next_back()
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| *t <= now)
    }

    /// The next scheduled instant strictly after `now`.
    pub fn next_after(&self, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.cron
            .after(&now.with_timezone(&tz))
            .next()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// Rewrites a 5-field day-of-week (0/7 = Sunday) into names, which the `cron` crate reads the
/// same way (its numbers start at 1 = Sunday).
fn standard_weekdays(field: &str) -> Result<String, String> {
    const NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let name = |part: &str| -> Result<String, String> {
        match part.parse::<usize>() {
            Ok(n) if n < NAMES.len() => Ok(NAMES[n].to_owned()),
            Ok(n) => Err(format!("day of week {n} is out of range 0-7")),
            Err(_) => Ok(part.to_owned()),
        }
    };
    field
        .split(',')
        .map(|item| {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (item, None),
            };
            let range = match range.split_once('-') {
                Some((a, b)) => format!("{}-{}", name(a)?, name(b)?),
                None => name(range)?,
            };
            Ok(match step {
                Some(s) => format!("{range}/{s}"),
                None => range,
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map(|items| items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_default_schedule_fires_monday_at_nine_local_time() {
        let s = Schedule::parse(DEFAULT_CRON).unwrap();
        // Monday 2026-11-23 09:00 Berlin = 08:00 UTC.
        let fire = utc("2026-11-23T08:00:00Z");
        assert_eq!(s.latest_at_or_before(fire, Berlin), Some(fire));
        assert_eq!(
            s.latest_at_or_before(fire - Duration::seconds(1), Berlin),
            Some(fire - Duration::days(7))
        );
        assert_eq!(
            s.next_after(fire - Duration::seconds(1), Berlin),
            Some(fire)
        );
        assert_eq!(s.next_after(fire, Berlin), Some(fire + Duration::days(7)));
        // In summer (CEST) 09:00 is 07:00 UTC.
        assert_eq!(
            s.next_after(utc("2026-06-01T00:00:00Z"), Berlin),
            Some(utc("2026-06-01T07:00:00Z"))
        );
    }

    #[test]
    fn five_six_and_seven_field_forms_are_accepted() {
        let tz = Tz::UTC;
        let sunday_noon = Schedule::parse("0 12 * * 0").unwrap();
        assert_eq!(
            sunday_noon.next_after(utc("2026-11-24T00:00:00Z"), tz),
            Some(utc("2026-11-29T12:00:00Z"))
        );
        let seven = Schedule::parse("0 12 * * 7").unwrap();
        assert_eq!(
            seven.next_after(utc("2026-11-24T00:00:00Z"), tz),
            Some(utc("2026-11-29T12:00:00Z"))
        );
        let weekdays = Schedule::parse("30 8 * * 1-5").unwrap();
        assert_eq!(
            weekdays.next_after(utc("2026-11-28T00:00:00Z"), tz),
            Some(utc("2026-11-30T08:30:00Z"))
        );
        let six = Schedule::parse("15 0 9 * * Mon").unwrap();
        assert_eq!(
            six.next_after(utc("2026-11-24T00:00:00Z"), tz),
            Some(utc("2026-11-30T09:00:15Z"))
        );
        assert!(Schedule::parse("0 0 9 * * Mon 2027").is_ok());
        assert!(Schedule::parse("0 9 * *").unwrap_err().contains("4 fields"));
        assert!(Schedule::parse("0 9 * * 9").is_err());
        assert!(Schedule::parse("x 9 * * MON").is_err());
    }

    #[test]
    fn an_every_second_schedule_has_fired_within_the_last_second() {
        let s = Schedule::parse("* * * * * *").unwrap();
        let now =
            Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap() + Duration::milliseconds(300);
        let latest = s.latest_at_or_before(now, Tz::UTC).unwrap();
        assert_eq!(latest, Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap());
    }
}
