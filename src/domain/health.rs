//! Release health from Prometheus (issue 16): the queries (`LOOPBOT_HEALTH_QUERY_<NAME>`), how a
//! query names its release (`$service`, `$environment` as escaped PromQL string contents), how
//! Prometheus' answer reads as one number, whether a release made a number better or worse, and
//! how a value reads ("error rate 0.2% → 1.4% ⚠ worse"). Pure: the HTTP call is in
//! `integrations::prometheus`, the check-in job in `jobs::health`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Most queries one configuration may name: each check-in shows one line per query, and the
/// lines must fit one embed field.
pub const QUERIES_MAX: usize = 10;
/// Longest query name (the `<NAME>` part): a line names it.
pub const NAME_MAX: usize = 40;
/// `LOOPBOT_HEALTH_TOLERANCE`'s default: a change within 10% of the before value is no change.
pub const DEFAULT_TOLERANCE: f64 = 0.10;
/// What a log line or the API keeps of Prometheus' own words.
pub const DETAIL_MAX: usize = 300;

/// One `LOOPBOT_HEALTH_QUERY_<NAME>=<PromQL>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthQuery {
    /// `<NAME>`, as configured (upper case by convention), e.g. `ERROR_RATE`.
    pub name: String,
    pub promql: String,
    /// Named in `LOOPBOT_HEALTH_HIGHER_IS_BETTER`; otherwise lower is better.
    pub higher_is_better: bool,
}

/// Whether `name` may be a query's `<NAME>`: ASCII letters, digits and `_`, at most [`NAME_MAX`].
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `value` as the contents of a PromQL string literal, in double or single quotes: backslash and
/// both quotes escaped, control characters as `\n`, `\r`, `\t` or `\xNN` (PromQL reads Go's
/// escapes). A service named `a"} or vector(1) #` stays one label value.
pub fn escape_string_contents(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// The query for one release: each `$service` and `$environment` (not followed by a letter, digit
/// or `_`, so `$services` is left alone) replaced by the escaped value. Write them inside quotes:
/// `{service="$service"}`.
pub fn substitute(promql: &str, service: &str, environment: &str) -> String {
    let service = escape_string_contents(service);
    let environment = escape_string_contents(environment);
    let mut out = String::with_capacity(promql.len() + service.len());
    let mut rest = promql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let token = [("service", &service), ("environment", &environment)]
            .into_iter()
            .find(|(word, _)| {
                after.starts_with(word)
                    && !after[word.len()..]
                        .bytes()
                        .next()
                        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
        match token {
            Some((word, value)) => {
                out.push_str(value);
                rest = &after[word.len()..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// How a query's values read, from its name: `…_RATE` and `…_RATIO` are fractions shown as
/// percentages (0.014 → 1.4%), `…_SECONDS` durations (0.25 → 250 ms), anything else a plain
/// number. Call a per-second rate something else (`REQUESTS_PER_SECOND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Percent,
    Seconds,
    Number,
}

impl Unit {
    pub fn of(name: &str) -> Self {
        let name = name.to_ascii_uppercase();
        let last = name.rsplit('_').next().unwrap_or_default();
        match last {
            "RATE" | "RATIO" => Unit::Percent,
            "SECONDS" => Unit::Seconds,
            _ => Unit::Number,
        }
    }
}

/// A query's name as people read it: `ERROR_RATE` → "error rate".
pub fn label(name: &str) -> String {
    let words: Vec<String> = name
        .split('_')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let label = words.join(" ");
    label.chars().take(NAME_MAX).collect()
}

/// A number in at most about four significant digits, trailing zeros dropped; huge or tiny ones
/// in scientific notation, so no value is longer than a dozen characters.
fn number(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let a = x.abs();
    if a == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e9).contains(&a) {
        return format!("{x:.2e}");
    }
    let decimals = match a {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        a if a >= 0.1 => 3,
        a if a >= 0.01 => 4,
        _ => 5,
    };
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// A value in its unit: "1.4%", "250 ms", "1.5 s", "1234".
pub fn format_value(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Percent => format!("{}%", number(value * 100.0)),
        Unit::Seconds if value.abs() < 1.0 && value != 0.0 => {
            format!("{} ms", number(value * 1000.0))
        }
        Unit::Seconds => format!("{} s", number(value)),
        Unit::Number => number(value),
    }
}

/// `LOOPBOT_HEALTH_TOLERANCE`: a percentage (`10%`, or `10`), 0 to 1000; the answer a fraction.
pub fn parse_tolerance(raw: &str) -> Result<f64, String> {
    let raw = raw.trim();
    let number = raw.strip_suffix('%').unwrap_or(raw).trim();
    let percent: f64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a percentage"))?;
    if !percent.is_finite() || !(0.0..=1000.0).contains(&percent) {
        return Err(format!("{raw:?} is not between 0% and 1000%"));
    }
    Ok(percent / 100.0)
}

/// Whether the release made a number better or worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Better,
    Worse,
    /// Within the tolerance of the before value.
    Unchanged,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Unchanged => "unchanged",
        }
    }

    /// How a check-in line ends.
    pub fn marker(self) -> &'static str {
        match self {
            Verdict::Better => "✓ better",
            Verdict::Worse => "⚠ worse",
            Verdict::Unchanged => "= unchanged",
        }
    }
}

/// Compares after with before: a change of more than `tolerance` (a fraction) of the before value
/// is better or worse by the query's direction. From 0, any change counts (no fraction of 0 is
/// a tolerance).
pub fn compare(before: f64, after: f64, higher_is_better: bool, tolerance: f64) -> Verdict {
    if before == after {
        return Verdict::Unchanged;
    }
    if before != 0.0 && ((after - before) / before.abs()).abs() <= tolerance {
        return Verdict::Unchanged;
    }
    if (after > before) == higher_is_better {
        Verdict::Better
    } else {
        Verdict::Worse
    }
}

/// Why a value could not be read. Only these words reach Discord; Prometheus' own text goes to
/// the log (and the API's `detail`), cut to [`DETAIL_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unavailable {
    /// No connection (Prometheus down, a wrong URL).
    Unreachable,
    /// No answer within the timeout.
    Timeout,
    /// An HTTP error that is not Prometheus' JSON error (a proxy, a 404).
    Refused,
    /// Prometheus refused or failed the query (bad PromQL, too much data).
    QueryError,
    /// No series, or NaN/Inf (e.g. 0/0 without traffic).
    NoData,
    /// More than one series: the query should aggregate (`sum(...)`).
    SeveralSeries,
    /// An answer that is not Prometheus' JSON of an instant query.
    BadAnswer,
}

impl Unavailable {
    pub const ALL: [Unavailable; 7] = [
        Unavailable::Unreachable,
        Unavailable::Timeout,
        Unavailable::Refused,
        Unavailable::QueryError,
        Unavailable::NoData,
        Unavailable::SeveralSeries,
        Unavailable::BadAnswer,
    ];

    /// Stored, logged and the metric's `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Unavailable::Unreachable => "unreachable",
            Unavailable::Timeout => "timeout",
            Unavailable::Refused => "refused",
            Unavailable::QueryError => "query_error",
            Unavailable::NoData => "no_data",
            Unavailable::SeveralSeries => "several_series",
            Unavailable::BadAnswer => "bad_answer",
        }
    }

    /// What a check-in line says in parentheses.
    pub fn describe(self) -> &'static str {
        match self {
            Unavailable::Unreachable => "Prometheus unreachable",
            Unavailable::Timeout => "Prometheus timed out",
            Unavailable::Refused => "Prometheus refused the request",
            Unavailable::QueryError => "query error",
            Unavailable::NoData => "no data",
            Unavailable::SeveralSeries => "several series, expected one",
            Unavailable::BadAnswer => "unreadable answer",
        }
    }

    /// Whether Prometheus itself is out of reach: further queries in the same run would only
    /// wait for the same timeout.
    pub fn is_outage(self) -> bool {
        matches!(self, Unavailable::Unreachable | Unavailable::Timeout)
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Unavailable {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|u| u.as_str() == s)
            .ok_or_else(|| format!("unknown health failure {s:?}"))
    }
}

/// A value that could not be read: the reason, and Prometheus' words (cut) for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: Unavailable,
    pub detail: String,
}

impl Failure {
    pub fn new(reason: Unavailable, detail: impl AsRef<str>) -> Self {
        Self {
            reason,
            detail: detail.as_ref().chars().take(DETAIL_MAX).collect(),
        }
    }
}

/// Reads the answer of `GET /api/v1/query` (HTTP `status`, `body`) as one number.
pub fn read_answer(status: u16, body: &str) -> Result<f64, Failure> {
    let Ok(json) = serde_json::from_str::<Value>(body) else {
        return Err(if (200..300).contains(&status) {
            Failure::new(Unavailable::BadAnswer, "the answer is not JSON")
        } else {
            Failure::new(Unavailable::Refused, format!("HTTP {status}"))
        });
    };
    if json["status"] == "error" {
        let detail = format!(
            "{}: {}",
            json["errorType"].as_str().unwrap_or("error"),
            json["error"].as_str().unwrap_or("")
        );
        return Err(Failure::new(Unavailable::QueryError, detail));
    }
    if !(200..300).contains(&status) || json["status"] != "success" {
        return Err(Failure::new(Unavailable::Refused, format!("HTTP {status}")));
    }
    let data = &json["data"];
    let sample = match data["resultType"].as_str() {
        Some("scalar") => &data["result"],
        Some("vector") => {
            let series = data["result"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            match series {
                [] => return Err(Failure::new(Unavailable::NoData, "no series")),
                [one] => &one["value"],
                more => {
                    return Err(Failure::new(
                        Unavailable::SeveralSeries,
                        format!("{} series; aggregate them, e.g. sum(...)", more.len()),
                    ))
                }
            }
        }
        other => {
            return Err(Failure::new(
                Unavailable::BadAnswer,
                format!("result type {other:?}, expected an instant vector or scalar"),
            ))
        }
    };
    let text = sample[1]
        .as_str()
        .ok_or_else(|| Failure::new(Unavailable::BadAnswer, "a sample without a value"))?;
    let value: f64 = text
        .parse()
        .map_err(|_| Failure::new(Unavailable::BadAnswer, format!("value {text:?}")))?;
    if !value.is_finite() {
        return Err(Failure::new(Unavailable::NoData, format!("value {text}")));
    }
    Ok(value)
}

/// One value read (or why not), and when it was read for.
pub type Reading = Result<f64, Unavailable>;

/// One query's values for one check-in, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReading {
    pub name: String,
    pub higher_is_better: bool,
    /// The tolerance in force when it was read (a fraction).
    pub tolerance: f64,
    /// At the deploy's start.
    pub before_at: DateTime<Utc>,
    pub before: Reading,
    /// When the check-in was asked.
    pub after_at: DateTime<Utc>,
    pub after: Reading,
}

// Values are finite (NaN and Inf are read as no data), so equality is an equivalence.
impl Eq for HealthReading {}

impl HealthReading {
    pub fn label(&self) -> String {
        label(&self.name)
    }

    pub fn unit(&self) -> Unit {
        Unit::of(&self.name)
    }

    /// Better, worse or unchanged; None when a value is unavailable.
    pub fn verdict(&self) -> Option<Verdict> {
        match (self.before, self.after) {
            (Ok(b), Ok(a)) => Some(compare(b, a, self.higher_is_better, self.tolerance)),
            _ => None,
        }
    }

    /// One value as shown: the number in its unit, or "unavailable".
    pub fn shown(&self, reading: Reading) -> String {
        match reading {
            Ok(value) => format_value(value, self.unit()),
            Err(_) => "unavailable".into(),
        }
    }

    /// The check-in's line: "error rate 0.2% → 1.4% ⚠ worse", "error rate unavailable
    /// (Prometheus unreachable)", "error rate 0.2% → unavailable (Prometheus timed out)".
    pub fn line(&self) -> String {
        let label = self.label();
        match (self.before, self.after, self.verdict()) {
            (_, _, Some(verdict)) => format!(
                "{label} {} → {} {}",
                self.shown(self.before),
                self.shown(self.after),
                verdict.marker()
            ),
            (Err(b), Err(a), None) if a == b => {
                format!("{label} unavailable ({})", a.describe())
            }
            (before, after, None) => {
                let reason = after.err().or(before.err()).map(Unavailable::describe);
                format!(
                    "{label} {} → {} ({})",
                    self.shown(before),
                    self.shown(after),
                    reason.unwrap_or("unavailable")
                )
            }
        }
    }
}

/// A release's health in a word, for a list of deploys: worse if any query got worse, else
/// unavailable if none could be compared, else fine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overall {
    /// The labels of the queries that got worse.
    Worse(Vec<String>),
    Unavailable,
    Fine,
}

impl Overall {
    /// None when nothing was read (no query configured, or no check-in asked yet).
    pub fn of(readings: &[HealthReading]) -> Option<Self> {
        if readings.is_empty() {
            return None;
        }
        let worse: Vec<String> = readings
            .iter()
            .filter(|r| r.verdict() == Some(Verdict::Worse))
            .map(HealthReading::label)
            .collect();
        Some(if !worse.is_empty() {
            Overall::Worse(worse)
        } else if readings.iter().all(|r| r.verdict().is_none()) {
            Overall::Unavailable
        } else {
            Overall::Fine
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Overall::Worse(labels) => format!("⚠ worse: {}", labels.join(", ")),
            Overall::Unavailable => "unavailable".into(),
            Overall::Fine => "✓ no worse".into(),
        }
    }
}

/// A check-in due to be asked whose health has not been read yet, with its release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthDue {
    pub checkin_id: i64,
    pub deploy_id: i64,
    pub service: String,
    pub environment: String,
    /// The deploy's start: the "before" time.
    pub started_at: DateTime<Utc>,
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
