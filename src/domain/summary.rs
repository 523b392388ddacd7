//! Weekly summaries and the four DORA keys: periods in the team's time zone, the schedule, the
//! bands, and the summary itself as one value that the Discord message, the CLI and the JSON API
//! all render. The figures come from one SQL computation in `store::summaries`.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::ValidationError;

// ---------------------------------------------------------------------------------------------
// Periods
// ---------------------------------------------------------------------------------------------

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
        at += Duration::minutes(1);
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
        Ok(Self::new(monday, monday + Duration::days(7), tz))
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
        let parse = |field: &'static str, raw: &str| {
            NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
                ValidationError::new(
                    field,
                    format!("must be a date like 2026-11-16 (got {raw:?})"),
                )
            })
        };
        let from = parse("from", from)?;
        let to = parse("to", to)?;
        if to < from {
            return Err(ValidationError::new("to", "must not be before from"));
        }
        if (to - from).num_days() > 366 {
            return Err(ValidationError::new(
                "to",
                "the period may span at most 366 days",
            ));
        }
        Ok(Self::new(from, to + Duration::days(1), tz))
    }

    /// The period of the same number of days just before this one.
    pub fn previous(&self) -> Self {
        let len = self.to - self.from;
        Self::new(self.from - len, self.from, self.tz)
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
                    local_midnight(d + Duration::days(1), self.tz),
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
            to: self.to - Duration::days(1),
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

// ---------------------------------------------------------------------------------------------
// Schedule
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// DORA bands
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Elite,
    High,
    Medium,
    Low,
}

impl Band {
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Elite => "elite",
            Band::High => "high",
            Band::Medium => "medium",
            Band::Low => "low",
        }
    }
}

/// The edges between elite|high, high|medium and medium|low for one key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edges {
    pub elite: f64,
    pub high: f64,
    pub medium: f64,
}

/// Band thresholds for the four keys. THE one table: defaults from the DORA 2023 Accelerate State
/// of DevOps report, overridable with `LOOPBOT_DORA_BANDS`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bands {
    /// Deploys per day; at or above an edge is that band (elite: at least daily, i.e. on demand).
    pub deployment_frequency: Edges,
    /// Seconds; below an edge is that band.
    pub lead_time: Edges,
    /// Percent; at or below an edge is that band.
    pub change_failure_rate: Edges,
    /// Seconds; below an edge is that band.
    pub time_to_restore: Edges,
}

const DAY: f64 = 86_400.0;

impl Default for Bands {
    fn default() -> Self {
        Self {
            // elite: on demand (≥ 1/day); high: ≥ weekly; medium: ≥ monthly; low: less often.
            deployment_frequency: Edges {
                elite: 1.0,
                high: 1.0 / 7.0,
                medium: 1.0 / 30.0,
            },
            // elite: < 1 day; high: < 1 week; medium: < 1 month; low: longer.
            lead_time: Edges {
                elite: DAY,
                high: 7.0 * DAY,
                medium: 30.0 * DAY,
            },
            // elite: ≤ 5 %; high: ≤ 10 %; medium: ≤ 15 %; low: more.
            change_failure_rate: Edges {
                elite: 5.0,
                high: 10.0,
                medium: 15.0,
            },
            // elite: < 1 hour; high: < 1 day; medium: < 1 week; low: longer.
            time_to_restore: Edges {
                elite: 3_600.0,
                high: DAY,
                medium: 7.0 * DAY,
            },
        }
    }
}

impl Bands {
    /// Parses overrides such as
    /// `deployment_frequency=1,0.15,0.03;lead_time=1d,7d,30d;change_failure_rate=5,10,15;time_to_restore=1h,1d,7d`.
    /// Keys left out keep the defaults. Durations take s, m, h or d.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut bands = Self::default();
        for item in raw.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, values) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not key=a,b,c"))?;
            let duration = matches!(key.trim(), "lead_time" | "time_to_restore");
            let numbers = values
                .split(',')
                .map(|v| parse_edge(v.trim(), duration))
                .collect::<Result<Vec<f64>, String>>()?;
            let [elite, high, medium] = numbers[..] else {
                return Err(format!("{key} needs three edges (elite,high,medium)"));
            };
            let edges = Edges {
                elite,
                high,
                medium,
            };
            match key.trim() {
                "deployment_frequency" => bands.deployment_frequency = edges,
                "lead_time" => bands.lead_time = edges,
                "change_failure_rate" => bands.change_failure_rate = edges,
                "time_to_restore" => bands.time_to_restore = edges,
                other => return Err(format!("unknown key {other:?}")),
            }
        }
        Ok(bands)
    }

    pub fn deployment_frequency(&self, per_day: f64) -> Band {
        let e = self.deployment_frequency;
        if per_day >= e.elite {
            Band::Elite
        } else if per_day >= e.high {
            Band::High
        } else if per_day >= e.medium {
            Band::Medium
        } else {
            Band::Low
        }
    }

    fn below(e: Edges, v: f64) -> Band {
        if v < e.elite {
            Band::Elite
        } else if v < e.high {
            Band::High
        } else if v < e.medium {
            Band::Medium
        } else {
            Band::Low
        }
    }

    pub fn lead_time(&self, seconds: f64) -> Band {
        Self::below(self.lead_time, seconds)
    }

    pub fn time_to_restore(&self, seconds: f64) -> Band {
        Self::below(self.time_to_restore, seconds)
    }

    pub fn change_failure_rate(&self, percent: f64) -> Band {
        let e = self.change_failure_rate;
        if percent <= e.elite {
            Band::Elite
        } else if percent <= e.high {
            Band::High
        } else if percent <= e.medium {
            Band::Medium
        } else {
            Band::Low
        }
    }
}

fn parse_edge(raw: &str, duration: bool) -> Result<f64, String> {
    if !duration {
        return raw
            .parse::<f64>()
            .map_err(|_| format!("{raw:?} is not a number"));
    }
    let (number, unit) = raw.split_at(raw.find(|c: char| c.is_alphabetic()).unwrap_or(raw.len()));
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 1d"))?;
    let scale = match unit {
        "s" | "" => 1.0,
        "m" => 60.0,
        "h" => 3_600.0,
        "d" => DAY,
        _ => return Err(format!("{raw:?}: unit must be s, m, h or d")),
    };
    Ok(n * scale)
}

// ---------------------------------------------------------------------------------------------
// Figures (what SQL computes) and the summary (what users see)
// ---------------------------------------------------------------------------------------------

/// Deploy counts by final status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub total: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub rolled_back: i64,
    /// Still running (no outcome yet).
    pub started: i64,
}

impl Counts {
    pub fn add(&mut self, status: &str, n: i64) {
        self.total += n;
        match status {
            "succeeded" => self.succeeded += n,
            "failed" => self.failed += n,
            "rolled_back" => self.rolled_back += n,
            _ => self.started += n,
        }
    }
}

/// What the store computes for one period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// (service, environment, counts), sorted.
    pub by_service: Vec<(String, String, Counts)>,
    /// Production deploys that reached production (succeeded or later rolled back).
    pub production_deployed: i64,
    /// Production deploys with an outcome (succeeded, failed, rolled back).
    pub production_finished: i64,
    /// Of those: failed, rolled back, or linked to an incident not rejected by a human.
    pub production_failures: i64,
    /// Lead time in seconds: median and p90 over production deploys with a commit time.
    pub lead_time_median: Option<f64>,
    pub lead_time_p90: Option<f64>,
    pub lead_time_count: i64,
    pub lacking_commit_time: i64,
    /// Median incident open → resolved, seconds; `None` without incidents (or without the schema).
    pub time_to_restore_median: Option<f64>,
    /// Per local day: (succeeded, failed, rolled_back, alerts).
    pub daily: Vec<(i64, i64, i64, i64)>,
    /// `None` when this database has no alert tables.
    pub alerts: Option<AlertFigures>,
    /// `None` when this database has no check-in tables.
    pub checkins: Option<CheckinFigures>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFigures {
    /// Alerts that started in the period.
    pub count: i64,
    /// (alert name, how many), noisiest first, at most 5.
    pub noisiest: Vec<(String, i64)>,
    /// Median seconds from a group's first firing to its acknowledgement (groups fired in the period).
    pub time_to_acknowledge_median: Option<f64>,
    /// Groups firing now (whatever the period).
    pub still_firing: i64,
    pub incidents_opened: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckinFigures {
    /// Check-ins asked (opened) in the period.
    pub asked: i64,
    /// Of those, the ones with at least one answer that still counts.
    pub answered: i64,
    /// Feedback given in the period, by sentiment.
    pub positive: i64,
    pub neutral: i64,
    pub negative: i64,
    /// The most telling comments: negative first, then most recent.
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub user: String,
    pub sentiment: Option<i8>,
    /// Cut to fit a message.
    pub text: String,
    pub given_at: DateTime<Utc>,
    /// The Discord message it was given in, when known.
    pub link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSection {
    pub count: i64,
    pub previous_count: i64,
    pub trend: Trend,
    pub noisiest: Vec<(String, i64)>,
    /// Seconds.
    pub time_to_acknowledge_median: Option<f64>,
    pub previous_time_to_acknowledge_median: Option<f64>,
    pub still_firing: i64,
    pub incidents_opened: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckinSection {
    pub asked: i64,
    pub answered: i64,
    pub unanswered: i64,
    /// Percent of asked check-ins that got an answer.
    pub response_rate: Option<f64>,
    pub previous_response_rate: Option<f64>,
    pub trend: Trend,
    pub positive: i64,
    pub neutral: i64,
    pub negative: i64,
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    Up,
    Down,
    Same,
    /// One side has no value.
    Unknown,
}

impl Trend {
    fn of(current: Option<f64>, previous: Option<f64>) -> Self {
        match (current, previous) {
            (Some(c), Some(p)) if (c - p).abs() < 1e-9 => Trend::Same,
            (Some(c), Some(p)) if c > p => Trend::Up,
            (Some(_), Some(_)) => Trend::Down,
            _ => Trend::Unknown,
        }
    }

    pub fn marker(self) -> &'static str {
        match self {
            Trend::Up => "▲",
            Trend::Down => "▼",
            Trend::Same => "=",
            Trend::Unknown => "·",
        }
    }
}

/// One of the four keys with its previous value, trend and band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub value: Option<f64>,
    pub previous: Option<f64>,
    pub trend: Trend,
    pub band: Option<Band>,
}

impl Key {
    fn new(value: Option<f64>, previous: Option<f64>, band: impl Fn(f64) -> Band) -> Self {
        Self {
            value,
            previous,
            trend: Trend::of(value, previous),
            band: value.map(band),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadTime {
    /// Median, seconds.
    #[serde(flatten)]
    pub median: Key,
    pub p90: Option<f64>,
    pub previous_p90: Option<f64>,
    /// Production deploys the median is over.
    pub deploys_measured: i64,
    pub deploys_lacking_commit_time: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FourKeys {
    /// Production deploys per day.
    pub deployment_frequency: Key,
    pub lead_time: LeadTime,
    /// Percent.
    pub change_failure_rate: Key,
    /// Seconds.
    pub time_to_restore: Key,
    pub production_deploys: i64,
    pub production_failures: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLine {
    pub service: String,
    pub environment: String,
    pub counts: Counts,
    pub previous: Counts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayLine {
    pub date: NaiveDate,
    pub succeeded: i64,
    pub failed: i64,
    pub rolled_back: i64,
    pub alerts: i64,
}

/// The summary of one period for one scope: the single value every output renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub period: PeriodInfo,
    pub previous_period: PeriodInfo,
    /// `service/environment` globs the summary is limited to (`*/*`: everything).
    pub scope: Vec<String>,
    pub generated_at: DateTime<Utc>,
    pub empty: bool,
    pub deploys: Counts,
    pub previous_deploys: Counts,
    pub services: Vec<ServiceLine>,
    pub keys: FourKeys,
    pub daily: Vec<DayLine>,
    pub alerts: Option<AlertSection>,
    pub checkins: Option<CheckinSection>,
    /// Sections this database cannot provide yet (e.g. alerts before their schema exists).
    pub unavailable: Vec<String>,
}

impl Summary {
    /// Assembles the summary from the store's figures for the period and the one before it.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        period: &Period,
        current: &Figures,
        previous: &Figures,
        scope: Vec<String>,
        bands: &Bands,
        now: DateTime<Utc>,
        unavailable: Vec<String>,
    ) -> Self {
        let total = |f: &Figures| {
            let mut c = Counts::default();
            for (_, _, counts) in &f.by_service {
                c.total += counts.total;
                c.succeeded += counts.succeeded;
                c.failed += counts.failed;
                c.rolled_back += counts.rolled_back;
                c.started += counts.started;
            }
            c
        };
        let mut services: Vec<ServiceLine> = current
            .by_service
            .iter()
            .map(|(s, e, c)| ServiceLine {
                service: s.clone(),
                environment: e.clone(),
                counts: *c,
                previous: Counts::default(),
            })
            .collect();
        for (s, e, c) in &previous.by_service {
            match services
                .iter_mut()
                .find(|l| &l.service == s && &l.environment == e)
            {
                Some(line) => line.previous = *c,
                None => services.push(ServiceLine {
                    service: s.clone(),
                    environment: e.clone(),
                    counts: Counts::default(),
                    previous: *c,
                }),
            }
        }
        services.sort_by(|a, b| (&a.service, &a.environment).cmp(&(&b.service, &b.environment)));

        let prev_period = period.previous();
        let frequency =
            |f: &Figures, p: &Period| f.production_deployed as f64 / p.elapsed_days(now) as f64;
        let rate = |f: &Figures| {
            (f.production_finished > 0)
                .then(|| 100.0 * f.production_failures as f64 / f.production_finished as f64)
        };
        let keys = FourKeys {
            deployment_frequency: Key::new(
                Some(frequency(current, period)),
                Some(frequency(previous, &prev_period)),
                |v| bands.deployment_frequency(v),
            ),
            lead_time: LeadTime {
                median: Key::new(current.lead_time_median, previous.lead_time_median, |v| {
                    bands.lead_time(v)
                }),
                p90: current.lead_time_p90,
                previous_p90: previous.lead_time_p90,
                deploys_measured: current.lead_time_count,
                deploys_lacking_commit_time: current.lacking_commit_time,
            },
            change_failure_rate: Key::new(rate(current), rate(previous), |v| {
                bands.change_failure_rate(v)
            }),
            time_to_restore: Key::new(
                current.time_to_restore_median,
                previous.time_to_restore_median,
                |v| bands.time_to_restore(v),
            ),
            production_deploys: current.production_finished,
            production_failures: current.production_failures,
        };
        let daily = period
            .days()
            .iter()
            .zip(
                current
                    .daily
                    .iter()
                    .copied()
                    .chain(std::iter::repeat((0, 0, 0, 0))),
            )
            .map(
                |((date, _, _), (succeeded, failed, rolled_back, alerts))| DayLine {
                    date: *date,
                    succeeded,
                    failed,
                    rolled_back,
                    alerts,
                },
            )
            .collect();
        let deploys = total(current);
        let alerts = current.alerts.as_ref().map(|a| {
            let previous_count = previous.alerts.as_ref().map_or(0, |p| p.count);
            AlertSection {
                count: a.count,
                previous_count,
                trend: Trend::of(Some(a.count as f64), Some(previous_count as f64)),
                noisiest: a.noisiest.clone(),
                time_to_acknowledge_median: a.time_to_acknowledge_median,
                previous_time_to_acknowledge_median: previous
                    .alerts
                    .as_ref()
                    .and_then(|p| p.time_to_acknowledge_median),
                still_firing: a.still_firing,
                incidents_opened: a.incidents_opened,
            }
        });
        let response_rate =
            |c: &CheckinFigures| (c.asked > 0).then(|| 100.0 * c.answered as f64 / c.asked as f64);
        let checkins = current.checkins.as_ref().map(|c| {
            let previous_rate = previous.checkins.as_ref().and_then(response_rate);
            CheckinSection {
                asked: c.asked,
                answered: c.answered,
                unanswered: c.asked - c.answered,
                response_rate: response_rate(c),
                previous_response_rate: previous_rate,
                trend: Trend::of(response_rate(c), previous_rate),
                positive: c.positive,
                neutral: c.neutral,
                negative: c.negative,
                comments: c.comments.clone(),
            }
        });
        let quiet_alerts = alerts
            .as_ref()
            .is_none_or(|a| a.count == 0 && a.still_firing == 0);
        let quiet_checkins = checkins.as_ref().is_none_or(|c| {
            c.asked == 0 && c.positive + c.neutral + c.negative == 0 && c.comments.is_empty()
        });
        Self {
            period: period.info(),
            previous_period: prev_period.info(),
            scope,
            generated_at: now,
            empty: deploys.total == 0
                && current.time_to_restore_median.is_none()
                && quiet_alerts
                && quiet_checkins,
            deploys,
            previous_deploys: total(previous),
            services,
            keys,
            daily,
            alerts,
            checkins,
            unavailable,
        }
    }

    pub fn title(&self) -> String {
        format!(
            "Summary {} – {} ({})",
            self.period.from, self.period.to, self.period.timezone
        )
    }

    /// Plain text (`markdown = false`) or Discord/GitHub markdown.
    pub fn render(&self, markdown: bool) -> String {
        let b = |s: &str| {
            if markdown {
                format!("**{s}**")
            } else {
                s.to_owned()
            }
        };
        let mut out = String::new();
        if !markdown {
            let _ = writeln!(out, "{}", self.title());
        }
        if self.scope.iter().any(|s| s != "*/*") {
            let _ = writeln!(out, "Scope: {}", self.scope.join(", "));
        }
        if self.empty {
            let _ = writeln!(
                out,
                "Nothing happened in this period: no deploys, alerts or check-ins{}.",
                if self.previous_deploys.total > 0 {
                    format!(
                        " (previous period: {} deploys)",
                        self.previous_deploys.total
                    )
                } else {
                    String::new()
                }
            );
            return out;
        }
        let d = &self.deploys;
        let _ = writeln!(
            out,
            "{} {} {} (previous {}): {} succeeded, {} failed, {} rolled back{}",
            b("Deploys:"),
            d.total,
            Trend::of(
                Some(d.total as f64),
                Some(self.previous_deploys.total as f64)
            )
            .marker(),
            self.previous_deploys.total,
            d.succeeded,
            d.failed,
            d.rolled_back,
            if d.started > 0 {
                format!(", {} running", d.started)
            } else {
                String::new()
            }
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", b("Four keys"));
        let k = &self.keys;
        let key_line = |out: &mut String,
                        name: &str,
                        key: &Key,
                        fmt: &dyn Fn(f64) -> String,
                        extra: String| {
            let value = key.value.map(fmt).unwrap_or_else(|| "n/a".into());
            let previous = key.previous.map(fmt).unwrap_or_else(|| "n/a".into());
            let band = key
                .band
                .map(|b| format!(" [{}]", b.as_str()))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "• {name}: {value} {} (previous {previous}){band}{extra}",
                key.trend.marker()
            );
        };
        key_line(
            &mut out,
            "Deployment frequency",
            &k.deployment_frequency,
            &|v| format!("{v:.2}/day"),
            String::new(),
        );
        key_line(
            &mut out,
            "Lead time for changes (median)",
            &k.lead_time.median,
            &duration_text,
            format!(
                "; p90 {}; {} deploys measured, {} lacking a commit time",
                k.lead_time
                    .p90
                    .map(duration_text)
                    .unwrap_or_else(|| "n/a".into()),
                k.lead_time.deploys_measured,
                k.lead_time.deploys_lacking_commit_time
            ),
        );
        key_line(
            &mut out,
            "Change failure rate",
            &k.change_failure_rate,
            &|v| format!("{v:.1}%"),
            format!(
                "; {} of {} production deploys",
                k.production_failures, k.production_deploys
            ),
        );
        key_line(
            &mut out,
            "Time to restore (median)",
            &k.time_to_restore,
            &duration_text,
            String::new(),
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", b("By service"));
        for line in self.services.iter().take(25) {
            let _ = writeln!(
                out,
                "• {}/{}: {} {} (previous {}): {} ok, {} failed, {} rolled back",
                line.service,
                line.environment,
                line.counts.total,
                Trend::of(
                    Some(line.counts.total as f64),
                    Some(line.previous.total as f64)
                )
                .marker(),
                line.previous.total,
                line.counts.succeeded,
                line.counts.failed,
                line.counts.rolled_back
            );
        }
        if self.services.len() > 25 {
            let _ = writeln!(out, "• … and {} more", self.services.len() - 25);
        }
        if let Some(a) = &self.alerts {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "{} {} {} (previous {}); {} incident(s) opened; {} still firing",
                b("Alerts:"),
                a.count,
                a.trend.marker(),
                a.previous_count,
                a.incidents_opened,
                a.still_firing
            );
            let _ = writeln!(
                out,
                "• Time to acknowledge (median): {} (previous {})",
                a.time_to_acknowledge_median
                    .map(duration_text)
                    .unwrap_or_else(|| "n/a".into()),
                a.previous_time_to_acknowledge_median
                    .map(duration_text)
                    .unwrap_or_else(|| "n/a".into())
            );
            if !a.noisiest.is_empty() {
                let names: Vec<String> = a
                    .noisiest
                    .iter()
                    .map(|(n, c)| format!("{n} ×{c}"))
                    .collect();
                let _ = writeln!(out, "• Noisiest: {}", names.join(", "));
            }
        }
        if let Some(c) = &self.checkins {
            let _ = writeln!(out);
            let rate = |r: Option<f64>| {
                r.map(|v| format!("{v:.0}%"))
                    .unwrap_or_else(|| "n/a".into())
            };
            let _ = writeln!(
                out,
                "{} {} asked, {} answered, {} unanswered; response rate {} {} (previous {})",
                b("Check-ins:"),
                c.asked,
                c.answered,
                c.unanswered,
                rate(c.response_rate),
                c.trend.marker(),
                rate(c.previous_response_rate)
            );
            let _ = writeln!(
                out,
                "• Sentiment: +{} / 0 {} / −{}",
                c.positive, c.neutral, c.negative
            );
            for comment in &c.comments {
                let mood = match comment.sentiment {
                    Some(1) => "+",
                    Some(-1) => "−",
                    Some(_) => "0",
                    None => "·",
                };
                let text = match (&comment.link, markdown) {
                    (Some(link), true) => format!("[{}]({link})", comment.text),
                    (Some(link), false) => format!("{} <{link}>", comment.text),
                    (None, _) => comment.text.clone(),
                };
                let _ = writeln!(out, "• {mood} {}: {text}", comment.user);
            }
        }
        for section in &self.unavailable {
            let _ = writeln!(out, "({section}: not available in this database yet)");
        }
        out
    }
}

/// `1d 3h`, `2h 5m`, `4m 10s`.
pub fn duration_text(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as i64;
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
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
    fn bands_follow_the_table_and_can_be_overridden() {
        let b = Bands::default();
        assert_eq!(b.deployment_frequency(1.0), Band::Elite);
        assert_eq!(b.deployment_frequency(0.2), Band::High);
        assert_eq!(b.deployment_frequency(0.05), Band::Medium);
        assert_eq!(b.deployment_frequency(0.01), Band::Low);
        assert_eq!(b.lead_time(3_600.0), Band::Elite);
        assert_eq!(b.lead_time(2.0 * DAY), Band::High);
        assert_eq!(b.change_failure_rate(5.0), Band::Elite);
        assert_eq!(b.change_failure_rate(25.0), Band::Low);
        assert_eq!(b.time_to_restore(1_800.0), Band::Elite);
        let o = Bands::parse("lead_time=1h,1d,7d; change_failure_rate=1,2,3").unwrap();
        assert_eq!(o.lead_time(2.0 * 3_600.0), Band::High);
        assert_eq!(o.change_failure_rate(2.5), Band::Medium);
        assert_eq!(o.deployment_frequency, b.deployment_frequency);
        assert!(Bands::parse("lead_time=1h,1d").is_err());
        assert!(Bands::parse("speed=1,2,3").is_err());
        assert!(Bands::parse("lead_time=1w,2w,3w").is_err());
    }
}

#[cfg(test)]
mod every_second {
    use super::*;

    #[test]
    fn an_every_second_schedule_has_fired_within_the_last_second() {
        let s = Schedule::parse("* * * * * *").unwrap();
        let now =
            Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap() + Duration::milliseconds(300);
        let latest = s.latest_at_or_before(now, Tz::UTC).unwrap();
        assert_eq!(latest, Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap());
    }
}
