//! `loopbot bench summary`: one year of generated deploys for 200 services in a temporary
//! database, then the time of a weekly and of a 30-day summary (each with its previous period).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};

use crate::config::SummarySettings;
use crate::domain::period::Period;
use crate::store::{Scope, Store, StoreError};

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

fn stats(mut times: Vec<Duration>) -> String {
    times.sort();
    let median = times[times.len() / 2];
    let max = times[times.len() - 1];
    format!(
        "median {:.1} ms, max {:.1} ms over {} runs",
        median.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        times.len()
    )
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
        "generated {DEPLOYS} deploys for {SERVICES} services over one year in {:.1} s\n",
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
    for section in store.summary_unavailable_sections().await? {
        out.push_str(&format!(
            "not generated (schema not in this build): {section}\n"
        ));
    }
    let settings = SummarySettings::default();
    let now = end;
    let week = Period::last_week(now, settings.timezone);
    let month = Period::last_30_days(now - chrono::Duration::days(1), settings.timezone);
    for (name, period) in [("weekly", week), ("30-day", month)] {
        let mut times = Vec::new();
        let mut deploys = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let summary = super::compute(&store, &settings, &period, &Scope::all(), now).await?;
            times.push(t.elapsed());
            deploys = summary.deploys.total;
        }
        out.push_str(&format!(
            "{name} summary ({deploys} deploys in period, with previous period and 12-week trend): {}\n",
            stats(times)
        ));
    }
    let weeks = crate::domain::trend::weeks_ending_with(&week, crate::domain::trend::SUMMARY_WEEKS);
    let mut times = Vec::new();
    let mut deploys = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let trend = super::trend(&store, &weeks, &Scope::all(), &settings.production, now).await?;
        times.push(t.elapsed());
        deploys = trend.iter().map(|w| w.production_deploys).sum::<i64>();
    }
    out.push_str(&format!(
        "12-week trend alone ({deploys} production deploys): {}\n",
        stats(times)
    ));
    out.push_str(&dashboard::measure(&store, &settings, now).await?);
    Ok(out)
}

mod dashboard;
