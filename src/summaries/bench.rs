//! `loopbot bench summary`: one year of generated deploys for 200 services in a temporary
//! database, then, in the same run, each figure read through the per-day rollups and read from
//! every row (the reference): a weekly and a 30-day summary (each with its previous period; then
//! the whole answer, with its 12-week trend, whose target is the sum of both), the same week in
//! Europe/Berlin (partial days at the edges) and the 12-week trend alone, with the ratio and
//! whether both readings gave the same answer. Then the dashboard.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};

use crate::config::SummarySettings;
use crate::domain::period::Period;
use crate::store::{ReadFrom, Scope, Store, StoreError};

pub const SERVICES: i64 = 200;
pub const DEPLOYS: i64 = 50_000;
pub const ALERTS: i64 = 20_000;
pub const FEEDBACK: i64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot create a temporary directory: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Median and max of `times`.
fn median_max(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[times.len() - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub async fn run(runs: u32, keep: Option<std::path::PathBuf>) -> Result<String, BenchError> {
    if let Some(path) = keep {
        if path.exists() {
            return Err(BenchError::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} already exists", path.display()),
            )));
        }
        return run_in(&format!("sqlite://{}", path.display()), runs.max(1)).await;
    }
    let dir = std::env::temp_dir().join(format!("loopbot-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let result = run_in(&url, runs.max(1)).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// One figure timed `runs` times through each reading; the answer of each, serialised, compared.
struct Timed {
    rollups: Vec<Duration>,
    rows: Vec<Duration>,
    identical: bool,
}

impl Timed {
    fn line(self, name: &str, target_ms: Option<f64>) -> String {
        let (rollups, rollups_max) = median_max(self.rollups);
        let (rows, rows_max) = median_max(self.rows);
        let target = match target_ms {
            Some(t) => format!(
                " (target < {t} ms: {})",
                if ms(rollups_max) < t {
                    "met, max included"
                } else if ms(rollups) < t {
                    "median met, max not"
                } else {
                    "NOT MET"
                }
            ),
            None => String::new(),
        };
        format!(
            "{name}\n  rollups: median {:.1} ms, max {:.1} ms{target}\n  rows:    median {:.1} ms, max {:.1} ms\n  rows / rollups: {:.0}x (medians); identical answers: {}\n",
            ms(rollups),
            ms(rollups_max),
            ms(rows),
            ms(rows_max),
            ms(rows) / ms(rollups).max(1e-6),
            if self.identical { "yes" } else { "NO" },
        )
    }
}

/// Times `figure` through both readings, `runs` times each, and compares their answers.
async fn timed<F, Fut>(runs: u32, figure: F) -> Result<Timed, StoreError>
where
    F: Fn(ReadFrom) -> Fut,
    Fut: std::future::Future<Output = Result<String, StoreError>>,
{
    let mut out = Timed {
        rollups: Vec::new(),
        rows: Vec::new(),
        identical: true,
    };
    // Each reading's runs in a block, as it runs in service (interleaved, each would evict the
    // other's pages from SQLite's cache); every answer compared with the first of the other.
    let mut answers = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        answers.0.push(figure(ReadFrom::Rollups).await?);
        out.rollups.push(t.elapsed());
    }
    for _ in 0..runs {
        let t = Instant::now();
        answers.1.push(figure(ReadFrom::Rows).await?);
        out.rows.push(t.elapsed());
    }
    out.identical = answers
        .0
        .iter()
        .chain(&answers.1)
        .all(|a| *a == answers.1[0]);
    Ok(out)
}

async fn run_in(url: &str, runs: u32) -> Result<String, BenchError> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let end: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
    let start = end - chrono::Duration::days(365);
    let mut out = String::new();
    let t = Instant::now();
    store
        .generate_bench_deploys(SERVICES, DEPLOYS, start, end)
        .await?;
    out.push_str(&format!(
        "generated {DEPLOYS} deploys for {SERVICES} services over one year in {:.1} s (rollups kept by the triggers)\n",
        t.elapsed().as_secs_f64()
    ));
    let t = Instant::now();
    if store
        .generate_bench_alerts(SERVICES, ALERTS, start, end)
        .await?
    {
        out.push_str(&format!(
            "generated {ALERTS} alerts ({} incidents) in {:.1} s\n",
            ALERTS / 10,
            t.elapsed().as_secs_f64()
        ));
    }
    let t = Instant::now();
    if store.generate_bench_feedback(FEEDBACK).await? {
        out.push_str(&format!(
            "generated {FEEDBACK} feedback rows on one check-in per production deploy in {:.1} s\n",
            t.elapsed().as_secs_f64()
        ));
    }
    store.settle_bench_data().await?;
    for section in store.summary_unavailable_sections().await? {
        out.push_str(&format!(
            "not generated (schema not in this build): {section}\n"
        ));
    }
    out.push_str(&format!(
        "each figure {runs} times through the rollups, then {runs} times from the rows:\n"
    ));
    let settings = SummarySettings::default();
    let now = end;
    let week = Period::last_week(now, settings.timezone);
    let month = Period::last_30_days(now - chrono::Duration::days(1), settings.timezone);
    let berlin: chrono_tz::Tz = chrono_tz::Europe::Berlin;
    let berlin_week = Period::last_week(now, berlin);
    let berlin_settings = SummarySettings {
        timezone: berlin,
        ..SummarySettings::default()
    };
    let scope = Scope::all();
    for (name, period, settings, target) in [
        ("weekly summary", week, &settings, 10.0),
        ("30-day summary", month, &settings, 20.0),
        (
            "weekly summary in Europe/Berlin",
            berlin_week,
            &berlin_settings,
            10.0,
        ),
    ] {
        let deploys = super::compute(&store, settings, &period, &scope, now)
            .await?
            .deploys
            .total;
        let times = timed(runs, |reading| {
            let (store, scope) = (&store, &scope);
            async move {
                let summary =
                    super::period_from(reading, store, settings, &period, scope, now).await?;
                Ok(serde_json::to_string(&summary).unwrap_or_default())
            }
        })
        .await?;
        out.push_str(&times.line(
            &format!("{name} ({deploys} deploys in period; with its previous period):"),
            Some(target),
        ));
        let times = timed(runs, |reading| {
            let (store, scope) = (&store, &scope);
            async move {
                let summary =
                    super::compute_from(reading, store, settings, &period, scope, now).await?;
                Ok(serde_json::to_string(&summary).unwrap_or_default())
            }
        })
        .await?;
        out.push_str(&times.line(
            &format!("  the whole answer ({name} and its 12-week trend, as /summary computes it):"),
            Some(target + 50.0),
        ));
    }
    let weeks = crate::domain::trend::weeks_ending_with(&week, crate::domain::trend::SUMMARY_WEEKS);
    let deploys = super::trend(&store, &weeks, &scope, &settings.production, now)
        .await?
        .iter()
        .map(|w| w.production_deploys)
        .sum::<i64>();
    let times = timed(runs, |reading| {
        let (store, scope, weeks, settings) = (&store, &scope, &weeks, &settings);
        async move {
            let trend =
                super::trend_from(reading, store, weeks, scope, &settings.production, now).await?;
            Ok(serde_json::to_string(&trend).unwrap_or_default())
        }
    })
    .await?;
    out.push_str(&times.line(
        &format!("12-week trend alone ({deploys} production deploys):"),
        Some(50.0),
    ));
    out.push_str(&dashboard::measure(&store, &settings, now).await?);
    Ok(out)
}

mod dashboard;
