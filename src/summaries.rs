//! The summary job: when the schedule fires, record one summary per subscribed channel and
//! period (exactly once, stored before posting) and queue its post. Also the one entry point that
//! computes a summary for the commands, the CLI and the API.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::SummarySettings;
use crate::domain::period::Period;
use crate::domain::summary::Summary;
use crate::domain::trend::{self, TrendWeek};
use crate::jobs::{Job, Next, Wake};
use crate::store::{ReadFrom, Scope, Store, StoreError};

/// The summary of `period` for `scope`: the figures of the period and of the one before it,
/// from the store's single SQL computation, assembled with the configured bands.
pub async fn compute(
    store: &Store,
    settings: &SummarySettings,
    period: &Period,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Summary, StoreError> {
    compute_from(ReadFrom::Rollups, store, settings, period, scope, now).await
}

/// [`compute`], its figures read as `reading` says (the benchmark and the property test compare
/// the two readings).
pub async fn compute_from(
    reading: ReadFrom,
    store: &Store,
    settings: &SummarySettings,
    period: &Period,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Summary, StoreError> {
    // The period and the trend read on two pooled connections at once: independent reads, each
    // in its own transaction, as the period's current and previous figures already were.
    let weeks = trend::weeks_ending_with(period, trend::SUMMARY_WEEKS);
    let (mut summary, trend) = tokio::try_join!(
        period_from(reading, store, settings, period, scope, now),
        trend_from(reading, store, &weeks, scope, &settings.production, now),
    )?;
    summary.trend = trend;
    Ok(summary)
}

/// The summary of `period` without its trend (empty): the figures of the period and of the one
/// before it, and its incidents. The benchmark times it apart from the trend, as the issue's
/// targets are set (a weekly summary, a 30-day summary, a 12-week trend).
pub async fn period_from(
    reading: ReadFrom,
    store: &Store,
    settings: &SummarySettings,
    period: &Period,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Summary, StoreError> {
    // Independent reads (each figure set in its own read transaction), on pooled connections at
    // once: the summary waits for the longest, not for their sum.
    let previous_period = period.previous();
    let (current, previous, unavailable, incidents) = tokio::try_join!(
        store.summary_figures_from(reading, period, scope, &settings.production, true),
        store.summary_figures_from(
            reading,
            &previous_period,
            scope,
            &settings.production,
            false
        ),
        store.summary_unavailable_sections(),
        store.incident_section(period, scope, now),
    )?;
    let mut summary = Summary::build(
        period,
        &current,
        &previous,
        scope.describe(),
        &settings.bands,
        now,
        unavailable,
    );
    summary.incidents = Some(incidents);
    Ok(summary)
}

/// The four keys of each of `weeks` (consecutive periods, oldest first) for `scope`.
pub async fn trend(
    store: &Store,
    weeks: &[Period],
    scope: &Scope,
    production: &crate::domain::production::Environments,
    now: DateTime<Utc>,
) -> Result<Vec<TrendWeek>, StoreError> {
    trend_from(ReadFrom::Rollups, store, weeks, scope, production, now).await
}

/// [`trend`], its figures read as `reading` says.
pub async fn trend_from(
    reading: ReadFrom,
    store: &Store,
    weeks: &[Period],
    scope: &Scope,
    production: &crate::domain::production::Environments,
    now: DateTime<Utc>,
) -> Result<Vec<TrendWeek>, StoreError> {
    let figures = store
        .trend_figures_from(reading, weeks, scope, production)
        .await?;
    Ok(weeks
        .iter()
        .zip(&figures)
        .map(|(week, figures)| TrendWeek::of(week, figures, now))
        .collect())
}

pub struct SummaryJob {
    store: Store,
    settings: SummarySettings,
    /// Wakes the delivery job once a summary is queued.
    delivery: Wake,
    metrics: Option<crate::metrics::Metrics>,
}

impl SummaryJob {
    pub fn new(store: Store, settings: SummarySettings, delivery: Wake) -> Self {
        Self {
            store,
            settings,
            delivery,
            metrics: None,
        }
    }

    /// Reports each run that queued summaries as `loopbot_last_summary_timestamp_seconds`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Does what is due at `now`: the latest scheduled instant at or before `now` defines the
    /// period (the full week before it, in the configured zone); every channel subscribed to
    /// summaries that lacks that period's summary gets it. A run missed while the bot was down is
    /// therefore made once when it comes back; a second tick finds the rows and does nothing.
    /// Returns how many summaries were queued.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let tz = self.settings.timezone;
        let Some(fired) = self.settings.schedule.latest_at_or_before(now, tz) else {
            return Ok(0);
        };
        let period = Period::last_week(fired, tz);
        let mut queued = 0;
        for (channel, scope) in self.store.summary_channels().await? {
            if self.store.summary_exists(channel, &period).await? {
                continue;
            }
            let summary = compute(&self.store, &self.settings, &period, &scope, now).await?;
            let body = serde_json::to_string(&summary).unwrap_or_default();
            if self
                .store
                .record_summary(channel, &period, fired, &body, now)
                .await?
            {
                tracing::info!(channel = channel.0, from = %period.from, "weekly summary queued");
                queued += 1;
            }
        }
        if queued > 0 {
            self.delivery.wake();
            if let Some(metrics) = &self.metrics {
                metrics.set_last_summary(now);
            }
        }
        Ok(queued)
    }
}

impl Job for SummaryJob {
    const NAME: &'static str = "summaries";

    /// Ticks at every scheduled instant (and once at start, to catch up on a missed run).
    async fn run(&mut self, now: DateTime<Utc>) -> Next {
        if let Err(error) = self.tick(now).await {
            tracing::error!(%error, "summary job failed; retrying in 30s");
            return Next::Backoff(Duration::from_secs(30));
        }
        let next = self
            .settings
            .schedule
            .next_after(Utc::now(), self.settings.timezone);
        // Capped so a changed clock (suspend, NTP jump) is noticed within a minute.
        let wait = next
            .and_then(|t| (t - Utc::now()).to_std().ok())
            .unwrap_or(Duration::from_secs(60))
            .min(Duration::from_secs(60));
        Next::After(wait + Duration::from_millis(5))
    }
}

/// Why `loopbot summary` could not print a summary.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Invalid(#[from] crate::domain::ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `loopbot summary` prints, in the chosen format.
pub async fn cli_summary(
    store: &Store,
    settings: &SummarySettings,
    args: &crate::cli::SummaryArgs,
    now: DateTime<Utc>,
) -> Result<String, CliError> {
    use crate::cli::SummaryFormat;
    use crate::domain::subscription::Pattern;
    let period = Period::select(
        args.week.as_deref(),
        args.from.as_deref(),
        args.to.as_deref(),
        settings.timezone,
        now,
    )?;
    let scope = Scope::of(
        &Pattern::parse("service", args.service.as_deref())?,
        &Pattern::parse("environment", args.environment.as_deref())?,
    );
    let summary = compute(store, settings, &period, &scope, now).await?;
    Ok(match args.format {
        SummaryFormat::Text => summary.render(false),
        SummaryFormat::Markdown => format!("## {}\n\n{}", summary.title(), summary.render(true)),
        SummaryFormat::Json => {
            let mut json = serde_json::to_string_pretty(&summary).unwrap_or_default();
            json.push('\n');
            json
        }
    })
}

pub mod bench;
mod schedule;

pub use schedule::{Schedule, DEFAULT_CRON};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::subscription::{Kind, Pattern};
    use crate::domain::{ChannelId, GuildId, UserId};
    use chrono::TimeZone;

    fn job(store: &Store, tz: &str) -> SummaryJob {
        let settings = SummarySettings {
            timezone: tz.parse().unwrap(),
            ..SummarySettings::default()
        };
        SummaryJob::new(store.clone(), settings, Wake::default())
    }

    #[tokio::test]
    async fn the_schedule_fires_at_the_configured_time_once_per_channel_and_period() {
        let (store, _dir) = Store::temporary().await;
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
        for channel in [1, 2] {
            store
                .subscribe(
                    Some(GuildId(7)),
                    ChannelId(channel),
                    &[Kind::Summaries],
                    &Pattern::any(),
                    &Pattern::any(),
                    Default::default(),
                    UserId(9),
                    now,
                )
                .await
                .unwrap();
        }
        store
            .subscribe(
                Some(GuildId(7)),
                ChannelId(3),
                &[Kind::Deploys],
                &Pattern::any(),
                &Pattern::any(),
                Default::default(),
                UserId(9),
                now,
            )
            .await
            .unwrap();
        let job = job(&store, "Europe/Berlin");
        // Monday 2026-11-23 09:00 in Berlin is 08:00 UTC.
        let fire = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
        // Just before: only the week of the previous run (W46) is due, once.
        assert_eq!(
            job.tick(fire - chrono::Duration::seconds(1)).await.unwrap(),
            2
        );
        assert_eq!(
            job.tick(fire - chrono::Duration::seconds(1)).await.unwrap(),
            0
        );
        // At 09:00 local: W47 for both summary channels, not for the deploys channel.
        assert_eq!(job.tick(fire).await.unwrap(), 2);
        assert_eq!(
            job.tick(fire + chrono::Duration::minutes(1)).await.unwrap(),
            0
        );
        let rows = store.recorded_summaries().await.unwrap();
        let w47 = Period::iso_week("2026-W47", "Europe/Berlin".parse().unwrap()).unwrap();
        let w47_start = w47.start();
        assert_eq!(rows.iter().filter(|(_, s)| *s == w47_start).count(), 2);
        assert!(rows
            .iter()
            .all(|(c, _)| *c == ChannelId(1) || *c == ChannelId(2)));
        // Each summary is one outbox row, queued with it.
        let queued = store.queued_summary_posts().await.unwrap();
        assert_eq!(queued, 4);
    }

    #[tokio::test]
    async fn a_missed_run_is_caught_up_once_and_restarts_do_not_repeat_it() {
        let (store, _dir) = Store::temporary().await;
        let subscribed = Utc.with_ymd_and_hms(2026, 11, 10, 12, 0, 0).unwrap();
        store
            .subscribe(
                Some(GuildId(7)),
                ChannelId(1),
                &[Kind::Summaries],
                &Pattern::any(),
                &Pattern::any(),
                Default::default(),
                UserId(9),
                subscribed,
            )
            .await
            .unwrap();
        let fire = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(); // UTC
                                                                         // The bot ran before the run (W46 sent) and was down at 09:00.
        assert_eq!(
            job(&store, "UTC")
                .tick(fire - chrono::Duration::hours(2))
                .await
                .unwrap(),
            1
        );
        // It comes back at 11:30: the missed W47 summary is made once.
        let after = fire + chrono::Duration::minutes(150);
        assert_eq!(job(&store, "UTC").tick(after).await.unwrap(), 1);
        // Two restarts around that time (new job instances): nothing more.
        assert_eq!(
            job(&store, "UTC")
                .tick(after + chrono::Duration::seconds(5))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            job(&store, "UTC")
                .tick(after + chrono::Duration::seconds(30))
                .await
                .unwrap(),
            0
        );
        let w47 = Period::iso_week("2026-W47", chrono_tz::Tz::UTC).unwrap();
        let rows = store.recorded_summaries().await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1], (ChannelId(1), w47.start()));
    }
}
