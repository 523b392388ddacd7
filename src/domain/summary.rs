//! The weekly summary and the four DORA keys as one value that the Discord message, the CLI
//! and the JSON API all render. The figures come from one SQL computation in
//! `store::summary_figures`; periods are in `domain::period`, the bands in `domain::bands`.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::alert_vote::{called_noise_line, noisy_text, NoisyAlert};
use super::bands::{Band, Bands};
use super::deploy::DeployStatus;
pub use super::duration::duration_text;
use super::period::{Period, PeriodInfo};
use super::trend::TrendWeek;

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
    pub fn add(&mut self, status: DeployStatus, n: i64) {
        self.total += n;
        match status {
            DeployStatus::Succeeded => self.succeeded += n,
            DeployStatus::Failed => self.failed += n,
            DeployStatus::RolledBack => self.rolled_back += n,
            DeployStatus::Started => self.started += n,
        }
    }
}

/// Production deploys of a period and how they went: deployment frequency and the change
/// failure rate are made of these (docs/summaries.md, "Formulas").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProductionCounts {
    /// Reached production: `succeeded`, or `rolled_back` afterwards.
    pub deployed: i64,
    /// Of those, change failures: rolled back, or linked to an incident a responder confirmed
    /// ("Caused by this deploy").
    pub change_failures: i64,
    /// Change failures plus the deploys linked to an incident nobody has answered for yet.
    pub probable_change_failures: i64,
    /// Deploy jobs that failed (`failed`): nothing reached production, so not change failures.
    pub deploy_failures: i64,
}

/// What the store computes for one period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// (service, environment, counts), sorted.
    pub by_service: Vec<(String, String, Counts)>,
    /// Production deploys and how they went.
    pub production: ProductionCounts,
    /// Failed deployment recovery time: median seconds over the change failures that began in the
    /// period and have recovered, and how many there were.
    pub recovery_time_median: Option<f64>,
    pub recoveries: i64,
    /// Lead time in seconds: median and p90 over the commits deployed to production in the
    /// period (each once, at the first production deploy that shipped it), how many commits, over
    /// how many deploys with commit information, and the deploys without any.
    pub lead_time_median: Option<f64>,
    pub lead_time_p90: Option<f64>,
    pub lead_time_count: i64,
    pub lead_time_deploys: i64,
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

impl Figures {
    /// Production deploys per day of `period` (per day begun by `now`).
    pub fn deployment_frequency(&self, period: &Period, now: DateTime<Utc>) -> f64 {
        self.production.deployed as f64 / period.elapsed_days(now) as f64
    }

    /// DORA's change failure rate of these figures (see [`change_failure_rate`]).
    pub fn change_failure_rate(&self) -> Option<f64> {
        change_failure_rate(&self.production)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFigures {
    /// Alerts that started in the period.
    pub count: i64,
    /// The noisiest alert names: fires and noise votes (`domain::alert_vote::noisiest`).
    pub noisiest: Vec<NoisyAlert>,
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
    pub noisiest: Vec<NoisyAlert>,
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
    /// Commits the median is over.
    #[serde(default)]
    pub commits_measured: i64,
    /// Production deploys with commit information (a commit list or a head commit time).
    pub deploys_measured: i64,
    pub deploys_lacking_commit_time: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FourKeys {
    /// Production deploys per day.
    pub deployment_frequency: Key,
    pub lead_time: LeadTime,
    /// Percent: change failures ÷ production deploys.
    pub change_failure_rate: Key,
    /// Percent: probable change failures (change failures and deploys linked to an incident
    /// nobody has answered for) ÷ production deploys.
    pub probable_change_failure_rate: Key,
    /// Seconds: failed deployment recovery time, median over the recoveries of the period.
    pub failed_deployment_recovery_time: Key,
    /// How many change failures of the period have recovered (what the median is over).
    pub recoveries: i64,
    /// Seconds: incident time to restore (opened → resolved), median; beside the DORA key.
    pub time_to_restore: Key,
    /// Production deploys that reached production: the rates' denominator.
    pub production_deploys: i64,
    pub change_failures: i64,
    pub probable_change_failures: i64,
    /// Production deploy jobs that failed: reported beside the rate, not in it.
    pub deploy_failures: i64,
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
    /// The four keys week by week, oldest first, the last week ending with the period
    /// (`domain::trend`); empty in summaries stored before the trend existed.
    #[serde(default)]
    pub trend: Vec<TrendWeek>,
    /// Incidents, follow-ups and the stale ones (`domain::incident_summary`); absent in summaries
    /// stored before it existed.
    #[serde(default)]
    pub incidents: Option<super::incident_summary::IncidentSection>,
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
        // Hundreds of pairs on a busy server: found by key, not by a scan per pair.
        let mut index: std::collections::HashMap<(String, String), usize> = services
            .iter()
            .enumerate()
            .map(|(i, l)| ((l.service.clone(), l.environment.clone()), i))
            .collect();
        for (s, e, c) in &previous.by_service {
            match index.get(&(s.clone(), e.clone())) {
                Some(&i) => services[i].previous = *c,
                None => {
                    index.insert((s.clone(), e.clone()), services.len());
                    services.push(ServiceLine {
                        service: s.clone(),
                        environment: e.clone(),
                        counts: Counts::default(),
                        previous: *c,
                    });
                }
            }
        }
        services.sort_by(|a, b| (&a.service, &a.environment).cmp(&(&b.service, &b.environment)));

        let prev_period = period.previous();
        let frequency = |f: &Figures, p: &Period| f.deployment_frequency(p, now);
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
                commits_measured: current.lead_time_count,
                deploys_measured: current.lead_time_deploys,
                deploys_lacking_commit_time: current.lacking_commit_time,
            },
            change_failure_rate: Key::new(
                change_failure_rate(&current.production),
                change_failure_rate(&previous.production),
                |v| bands.change_failure_rate(v),
            ),
            probable_change_failure_rate: Key::new(
                probable_change_failure_rate(&current.production),
                probable_change_failure_rate(&previous.production),
                |v| bands.change_failure_rate(v),
            ),
            failed_deployment_recovery_time: Key::new(
                current.recovery_time_median,
                previous.recovery_time_median,
                |v| bands.time_to_restore(v),
            ),
            recoveries: current.recoveries,
            time_to_restore: Key::new(
                current.time_to_restore_median,
                previous.time_to_restore_median,
                |v| bands.time_to_restore(v),
            ),
            production_deploys: current.production.deployed,
            change_failures: current.production.change_failures,
            probable_change_failures: current.production.probable_change_failures,
            deploy_failures: current.production.deploy_failures,
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
                && current.recovery_time_median.is_none()
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
            trend: Vec::new(),
            incidents: None,
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
        let trend_known = self.trend.iter().any(|w| w.production_deploys > 0);
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
            if trend_known {
                let _ = writeln!(out);
                out.push_str(&super::trend::render(&self.trend, markdown));
            }
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
                "; p90 {}; {} commits in {} deploys measured, {} lacking a commit time",
                k.lead_time
                    .p90
                    .map(duration_text)
                    .unwrap_or_else(|| "n/a".into()),
                k.lead_time.commits_measured,
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
                "; {} of {} production deploys rolled back or caused a confirmed incident; \
                 probable {} ({} of {}, counting incident links nobody answered); \
                 {} deploy failure(s) beside it",
                k.change_failures,
                k.production_deploys,
                k.probable_change_failure_rate
                    .value
                    .map(|v| format!("{v:.1}%"))
                    .unwrap_or_else(|| "n/a".into()),
                k.probable_change_failures,
                k.production_deploys,
                k.deploy_failures
            ),
        );
        key_line(
            &mut out,
            "Failed deployment recovery time (median)",
            &k.failed_deployment_recovery_time,
            &duration_text,
            format!("; {} recovered", k.recoveries),
        );
        key_line(
            &mut out,
            "Incident time to restore (median)",
            &k.time_to_restore,
            &duration_text,
            String::new(),
        );
        if !self.trend.is_empty() {
            let _ = writeln!(out);
            out.push_str(&super::trend::render(&self.trend, markdown));
        }
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
                let names: Vec<String> = a.noisiest.iter().map(noisy_text).collect();
                let _ = writeln!(out, "• Noisiest: {}", names.join(", "));
            }
            if let Some(line) = called_noise_line(&a.noisiest) {
                let _ = writeln!(out, "• {line}");
            }
        }
        if let Some(section) = self.incidents.as_ref().filter(|s| !s.is_quiet()) {
            let _ = writeln!(out);
            out.push_str(&section.render(markdown));
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

/// Change failure rate, percent: change failures ÷ production deploys; none without deploys.
pub fn change_failure_rate(p: &ProductionCounts) -> Option<f64> {
    percent(p.change_failures, p.deployed)
}

/// Probable change failure rate, percent: as if every incident link nobody answered were confirmed.
pub fn probable_change_failure_rate(p: &ProductionCounts) -> Option<f64> {
    percent(p.probable_change_failures, p.deployed)
}

fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

impl TrendWeek {
    /// The week's keys from its figures, computed as the summary computes its own keys.
    pub fn of(week: &super::period::Period, figures: &Figures, now: DateTime<Utc>) -> Self {
        let info = week.info();
        Self {
            from: info.from,
            to: info.to,
            deployment_frequency: figures.deployment_frequency(week, now),
            lead_time_median: figures.lead_time_median,
            lead_time_p90: figures.lead_time_p90,
            change_failure_rate: figures.change_failure_rate(),
            time_to_restore_median: figures.time_to_restore_median,
            production_deploys: figures.production.deployed,
            production_failures: figures.production.change_failures,
        }
    }
}
