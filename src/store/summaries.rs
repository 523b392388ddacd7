//! The summary computation: every figure of a summary in SQL over indexed tables, for a period
//! and a scope, plus the exactly-once record of scheduled summaries.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;

use super::ids::{channel_from_db, channel_to_db, time_to_db};
use super::{Result, Store, Subject};
use crate::domain::subscription::Pattern;
use crate::domain::summary::{Counts, Figures, Period};
use crate::domain::ChannelId;

/// Which deploys a summary covers: any of these (service glob, environment glob) pairs.
/// Patterns are lowercase globs (`*`, `?`), matched case-insensitively like subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub pairs: Vec<(String, String)>,
}

impl Scope {
    pub fn all() -> Self {
        Self {
            pairs: vec![("*".into(), "*".into())],
        }
    }

    pub fn of(service: &Pattern, environment: &Pattern) -> Self {
        Self {
            pairs: vec![(service.as_str().to_owned(), environment.as_str().to_owned())],
        }
    }

    /// `service/environment` for each pair, as the outputs show the scope.
    pub fn describe(&self) -> Vec<String> {
        self.pairs.iter().map(|(s, e)| format!("{s}/{e}")).collect()
    }

    fn json(&self) -> String {
        json!(self
            .pairs
            .iter()
            .map(|(s, e)| [s.as_str(), e.as_str()])
            .collect::<Vec<_>>())
        .to_string()
    }
}

/// The instant a deploy counts at (matches the `deploy_summary_at` index expression).
const AT: &str = "coalesce(d.finished_at, d.started_at)";
/// The deploy is in the scope bound as a JSON array of [service, environment] globs.
const IN_SCOPE: &str = "exists (select 1 from json_each(?) p
     where lower(d.service) glob (p.value ->> '$[0]') and lower(d.environment) glob (p.value ->> '$[1]'))";
/// Production: environments named prod* (production, prod, prod-eu, ...).
pub const PRODUCTION: &str = "lower(d.environment) glob 'prod*'";

impl Store {
    /// Every figure of `period` for `scope`, in one read transaction.
    pub async fn summary_figures(&self, period: &Period, scope: &Scope) -> Result<Figures> {
        let (start, end) = (time_to_db(period.start()), time_to_db(period.end()));
        let scope = scope.json();
        let mut tx = self.pool().begin().await?;
        let mut figures = Figures::default();

        let rows = sqlx::query(&format!(
            "select d.service, d.environment, d.status, count(*) as n from deploy d
             where {AT} >= ? and {AT} < ? and {IN_SCOPE}
             group by d.service, d.environment, d.status
             order by d.service, d.environment"
        ))
        .bind(start)
        .bind(end)
        .bind(&scope)
        .fetch_all(&mut *tx)
        .await?;
        for row in rows {
            let (service, environment): (String, String) = (row.get(0), row.get(1));
            let status: String = row.get(2);
            let n: i64 = row.get(3);
            match figures.by_service.last_mut() {
                Some((s, e, counts)) if *s == service && *e == environment => {
                    counts.add(&status, n)
                }
                _ => {
                    let mut counts = Counts::default();
                    counts.add(&status, n);
                    figures.by_service.push((service, environment, counts));
                }
            }
        }

        let row = sqlx::query(&format!(
            "select
                coalesce(sum(d.status in ('succeeded', 'rolled_back')), 0),
                coalesce(sum(d.status in ('succeeded', 'failed', 'rolled_back')), 0),
                coalesce(sum(d.status in ('failed', 'rolled_back')), 0),
                coalesce(sum(d.status in ('succeeded', 'rolled_back') and d.commit_at is null), 0)
             from deploy d
             where {AT} >= ? and {AT} < ? and {IN_SCOPE} and {PRODUCTION}"
        ))
        .bind(start)
        .bind(end)
        .bind(&scope)
        .fetch_one(&mut *tx)
        .await?;
        figures.production_deployed = row.get(0);
        figures.production_finished = row.get(1);
        figures.production_failures = row.get(2);
        figures.lacking_commit_time = row.get(3);

        // Median (mean of the middle two for an even count) and p90 (nearest rank, ceil(0.9 n)).
        let row = sqlx::query(&format!(
            "with lt as (
                 select max(0, d.finished_at - d.commit_at) / 1000.0 as v from deploy d
                 where {AT} >= ? and {AT} < ? and {IN_SCOPE} and {PRODUCTION}
                   and d.status in ('succeeded', 'rolled_back')
                   and d.commit_at is not null and d.finished_at is not null),
             ranked as (select v, row_number() over (order by v) as r, count(*) over () as n from lt)
             select (select avg(v) from ranked where r in ((n + 1) / 2, (n + 2) / 2)),
                    (select v from ranked where r = (9 * n + 9) / 10),
                    (select count(*) from lt)"
        ))
        .bind(start)
        .bind(end)
        .bind(&scope)
        .fetch_one(&mut *tx)
        .await?;
        figures.lead_time_median = row.get(0);
        figures.lead_time_p90 = row.get(1);
        figures.lead_time_count = row.get(2);

        let days = json!(period
            .days()
            .iter()
            .map(|(_, s, e)| [time_to_db(*s), time_to_db(*e)])
            .collect::<Vec<_>>())
        .to_string();
        figures.daily = vec![(0, 0, 0, 0); period.days().len()];
        let rows = sqlx::query(&format!(
            "with days as (select cast(key as integer) as i, value ->> '$[0]' as s, value ->> '$[1]' as e
                           from json_each(?))
             select days.i, d.status, count(*) from days
             join deploy d on {AT} >= days.s and {AT} < days.e
             where {IN_SCOPE}
             group by days.i, d.status"
        ))
        .bind(&days)
        .bind(&scope)
        .fetch_all(&mut *tx)
        .await?;
        for row in rows {
            let i: i64 = row.get(0);
            let status: String = row.get(1);
            let n: i64 = row.get(2);
            if let Some(day) = figures.daily.get_mut(i as usize) {
                match status.as_str() {
                    "succeeded" => day.0 += n,
                    "failed" => day.1 += n,
                    "rolled_back" => day.2 += n,
                    _ => {}
                }
            }
        }
        tx.commit().await?;
        Ok(figures)
    }

    /// The sections this database cannot compute yet because their tables do not exist.
    pub async fn summary_unavailable_sections(&self) -> Result<Vec<String>> {
        let _ = self;
        // Alerts, incidents and check-ins arrive with their own migrations; until then the
        // summary says so instead of showing zeros.
        Ok(vec![
            "alerts and incidents (time to restore, incident-linked failures)".to_owned(),
            "check-ins".to_owned(),
        ])
    }

    /// The channels subscribed to summaries, each with the scope of its subscriptions.
    pub async fn summary_channels(&self) -> Result<Vec<(ChannelId, Scope)>> {
        let rows = sqlx::query(
            "select channel_id, service_pattern, environment_pattern from subscription
             where kind = 'summaries' order by channel_id, id",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out: Vec<(ChannelId, Scope)> = Vec::new();
        for row in rows {
            let channel = channel_from_db(row.get(0));
            let pair = (row.get::<String, _>(1), row.get::<String, _>(2));
            match out.last_mut() {
                Some((c, scope)) if *c == channel => scope.pairs.push(pair),
                _ => out.push((channel, Scope { pairs: vec![pair] })),
            }
        }
        Ok(out)
    }

    /// The scope of `channel`'s summaries subscriptions, if it has any.
    pub async fn summary_scope_of(&self, channel: ChannelId) -> Result<Option<Scope>> {
        Ok(self
            .summary_channels()
            .await?
            .into_iter()
            .find(|(c, _)| *c == channel)
            .map(|(_, scope)| scope))
    }

    pub async fn summary_exists(&self, channel: ChannelId, period: &Period) -> Result<bool> {
        Ok(sqlx::query(
            "select 1 from summary where channel_id = ? and period_start = ? and period_end = ?",
        )
        .bind(channel_to_db(channel))
        .bind(time_to_db(period.start()))
        .bind(time_to_db(period.end()))
        .fetch_optional(self.pool())
        .await?
        .is_some())
    }

    /// Records the summary of `period` for `channel` and queues its post, in one transaction.
    /// Returns false (and queues nothing) when that channel already has this period's summary.
    pub async fn record_summary(
        &self,
        channel: ChannelId,
        period: &Period,
        scheduled_for: DateTime<Utc>,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let id: Option<i64> = sqlx::query(
            "insert into summary (channel_id, period_start, period_end, scheduled_for, body, created_at)
             values (?, ?, ?, ?, ?, ?)
             on conflict (channel_id, period_start, period_end) do nothing
             returning id",
        )
        .bind(channel_to_db(channel))
        .bind(time_to_db(period.start()))
        .bind(time_to_db(period.end()))
        .bind(time_to_db(scheduled_for))
        .bind(body)
        .bind(time_to_db(now))
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.get(0));
        let Some(id) = id else {
            tx.commit().await?;
            return Ok(false);
        };
        Self::enqueue(&mut tx, channel, Subject::Summary(id), now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl Store {
    /// Benchmark data: `count` deploys spread evenly over `[start, end)` across `services`
    /// services (two thirds production), with commit times and a mix of outcomes.
    pub async fn generate_bench_deploys(
        &self,
        services: i64,
        count: i64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<()> {
        let (start, end) = (time_to_db(start), time_to_db(end));
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "with recursive seq(i) as (select 0 union all select i + 1 from seq where i + 1 < ?1),
                 t(i, at) as (select i, ?2 + i * ((?3 - ?2) / ?1) from seq)
             insert into deploy (source, external_id, service, version, environment, status, deployer,
                 commit_sha, commit_at, url, changelog, started_at, finished_at, updated_at, created_at)
             select 'bench', 'bench-' || i, 'service-' || (i % ?4), 'v' || i,
                    case when i % 3 = 0 then 'staging' else 'production' end,
                    case when i % 20 = 0 then 'failed' when i % 33 = 0 then 'rolled_back' else 'succeeded' end,
                    'bench', null,
                    case when i % 10 = 0 then null else at - 60000 * (30 + i % 2880) end,
                    null, null, at - 300000, at, at, at
             from t",
        )
        .bind(count)
        .bind(start)
        .bind(end)
        .bind(services)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SummarySettings;
    use crate::domain::summary::{Band, Trend};
    use chrono_tz::Tz;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    /// Inserts a deploy as the API would have left it.
    async fn deploy(
        store: &Store,
        service: &str,
        environment: &str,
        status: &str,
        commit_at: Option<&str>,
        finished_at: Option<&str>,
        started_at: &str,
    ) {
        static N: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        sqlx::query(
            "insert into deploy (source, external_id, service, version, environment, status, commit_at,
                 started_at, finished_at, updated_at, created_at)
             values ('api', ?, ?, 'v1', ?, ?, ?, ?, ?, 0, 0)",
        )
        .bind(format!("d{n}"))
        .bind(service)
        .bind(environment)
        .bind(status)
        .bind(commit_at.map(|c| time_to_db(at(c))))
        .bind(time_to_db(at(started_at)))
        .bind(finished_at.map(|f| time_to_db(at(f))))
        .execute(store.pool())
        .await
        .unwrap();
    }

    /// A deploy that finished at `finished`, started ten minutes earlier.
    async fn done(
        store: &Store,
        service: &str,
        env: &str,
        status: &str,
        commit: Option<&str>,
        finished: &str,
    ) {
        let started = (at(finished) - chrono::Duration::minutes(10)).to_rfc3339();
        deploy(
            store,
            service,
            env,
            status,
            commit,
            Some(finished),
            &started,
        )
        .await;
    }

    async fn known_week(store: &Store) {
        // Week 2026-W47 in UTC: Mon 2026-11-16 00:00 to Mon 2026-11-23 00:00.
        done(
            store,
            "checkout",
            "production",
            "succeeded",
            Some("2026-11-16T08:00:00Z"),
            "2026-11-16T10:00:00Z",
        )
        .await; // 2h
        done(
            store,
            "checkout",
            "production",
            "succeeded",
            Some("2026-11-17T09:00:00Z"),
            "2026-11-17T13:00:00Z",
        )
        .await; // 4h
        done(
            store,
            "checkout",
            "production",
            "failed",
            Some("2026-11-18T09:00:00Z"),
            "2026-11-18T12:00:00Z",
        )
        .await;
        done(
            store,
            "checkout",
            "production",
            "rolled_back",
            Some("2026-11-19T00:00:00Z"),
            "2026-11-19T06:00:00Z",
        )
        .await; // 6h
        done(
            store,
            "checkout",
            "production",
            "succeeded",
            None,
            "2026-11-20T10:00:00Z",
        )
        .await; // no commit time
        done(
            store,
            "checkout",
            "production",
            "succeeded",
            Some("2026-11-20T10:00:00Z"),
            "2026-11-21T10:00:00Z",
        )
        .await; // 24h
        done(
            store,
            "payments",
            "production",
            "succeeded",
            Some("2026-11-22T22:00:00Z"),
            "2026-11-22T23:00:00Z",
        )
        .await; // 1h
        done(
            store,
            "checkout",
            "staging",
            "succeeded",
            Some("2026-11-18T08:00:00Z"),
            "2026-11-18T09:00:00Z",
        )
        .await;
        deploy(
            store,
            "checkout",
            "production",
            "started",
            None,
            None,
            "2026-11-22T12:00:00Z",
        )
        .await;
        // Exactly at the start (included) and exactly at the end (next week).
        done(
            store,
            "payments",
            "staging",
            "succeeded",
            None,
            "2026-11-16T00:00:00Z",
        )
        .await;
        done(
            store,
            "payments",
            "staging",
            "succeeded",
            None,
            "2026-11-23T00:00:00Z",
        )
        .await;
        // The week before: two production deploys, lead times 1h and 3h.
        done(
            store,
            "checkout",
            "production",
            "succeeded",
            Some("2026-11-10T09:00:00Z"),
            "2026-11-10T10:00:00Z",
        )
        .await;
        done(
            store,
            "checkout",
            "production",
            "succeeded",
            Some("2026-11-12T09:00:00Z"),
            "2026-11-12T12:00:00Z",
        )
        .await;
    }

    #[tokio::test]
    async fn known_deploys_give_hand_computed_figures() {
        let (store, _dir) = store().await;
        known_week(&store).await;
        let settings = SummarySettings::default();
        let period = Period::iso_week("2026-W47", Tz::UTC).unwrap();
        let now = at("2026-11-23T09:00:00Z");
        let s = crate::summaries::compute(&store, &settings, &period, &Scope::all(), now)
            .await
            .unwrap();

        // 10 deploys in the week: 7 succeeded, 1 failed, 1 rolled back, 1 still running.
        assert_eq!(
            (s.deploys.total, s.deploys.succeeded, s.deploys.failed),
            (10, 7, 1)
        );
        assert_eq!((s.deploys.rolled_back, s.deploys.started), (1, 1));
        assert_eq!(s.previous_deploys.total, 2);
        let line = |svc: &str, env: &str| {
            s.services
                .iter()
                .find(|l| l.service == svc && l.environment == env)
                .unwrap()
                .clone()
        };
        let checkout = line("checkout", "production");
        assert_eq!(
            (
                checkout.counts.total,
                checkout.counts.succeeded,
                checkout.counts.failed
            ),
            (7, 4, 1)
        );
        assert_eq!(
            (
                checkout.counts.rolled_back,
                checkout.counts.started,
                checkout.previous.total
            ),
            (1, 1, 2)
        );
        assert_eq!(line("checkout", "staging").counts.total, 1);
        assert_eq!(line("payments", "production").counts.total, 1);
        assert_eq!(
            line("payments", "staging").counts.total,
            1,
            "start included, end excluded"
        );

        let k = &s.keys;
        // Deployment frequency: 6 production deploys reached production (5 succeeded + 1 rolled back) / 7 days.
        assert!((k.deployment_frequency.value.unwrap() - 6.0 / 7.0).abs() < 1e-9);
        assert!((k.deployment_frequency.previous.unwrap() - 2.0 / 7.0).abs() < 1e-9);
        assert_eq!(k.deployment_frequency.trend, Trend::Up);
        assert_eq!(k.deployment_frequency.band, Some(Band::High));
        // Lead time over 1h, 2h, 4h, 6h, 24h: median 4h, p90 (rank ceil(4.5) = 5) 24h; one lacks a commit.
        assert_eq!(k.lead_time.median.value, Some(14_400.0));
        assert_eq!(k.lead_time.p90, Some(86_400.0));
        assert_eq!(k.lead_time.deploys_measured, 5);
        assert_eq!(k.lead_time.deploys_lacking_commit_time, 1);
        assert_eq!(k.lead_time.median.band, Some(Band::Elite));
        // Previous: 1h and 3h, median is their mean (2h), p90 is rank 2 (3h).
        assert_eq!(k.lead_time.median.previous, Some(7_200.0));
        assert_eq!(k.lead_time.previous_p90, Some(10_800.0));
        assert_eq!(k.lead_time.median.trend, Trend::Up);
        // Change failure rate: (1 failed + 1 rolled back) / 7 finished production deploys.
        assert!((k.change_failure_rate.value.unwrap() - 200.0 / 7.0).abs() < 1e-9);
        assert_eq!(k.change_failure_rate.previous, Some(0.0));
        assert_eq!(k.change_failure_rate.band, Some(Band::Low));
        assert_eq!((k.production_failures, k.production_deploys), (2, 7));
        // No incident data in this database.
        assert_eq!(k.time_to_restore.value, None);

        let day = |i: usize| {
            let d = &s.daily[i];
            (d.succeeded, d.failed, d.rolled_back)
        };
        assert_eq!(s.daily.len(), 7);
        assert_eq!(s.daily[0].date.to_string(), "2026-11-16");
        assert_eq!(
            [day(0), day(1), day(2), day(3)],
            [(2, 0, 0), (1, 0, 0), (1, 1, 0), (0, 0, 1)]
        );
        assert_eq!([day(4), day(5), day(6)], [(1, 0, 0), (1, 0, 0), (1, 0, 0)]);
        assert!(!s.empty);

        // Scoped to one service: only its deploys.
        let scoped = crate::summaries::compute(
            &store,
            &settings,
            &period,
            &Scope::of(
                &Pattern::parse("service", Some("Checkout")).unwrap(),
                &Pattern::any(),
            ),
            now,
        )
        .await
        .unwrap();
        assert_eq!(scoped.deploys.total, 8);
        assert_eq!(scoped.keys.lead_time.deploys_measured, 4);
    }

    #[tokio::test]
    async fn events_at_the_edges_of_a_berlin_week_across_dst_land_in_the_right_week() {
        let (store, _dir) = store().await;
        // W43 in Berlin: 2026-10-18T22:00Z (Mon 00:00 CEST) to 2026-10-25T23:00Z (Mon 00:00 CET).
        for finished in [
            "2026-10-18T21:59:59.999Z", // Sunday 23:59:59 CEST: the week before
            "2026-10-18T22:00:00Z",     // Monday 00:00 CEST: first instant
            "2026-10-25T22:59:59.999Z", // Sunday 23:59:59 CET, after the change: last instant
            "2026-10-25T23:00:00Z",     // Monday 00:00 CET: the week after
        ] {
            done(
                &store,
                "checkout",
                "production",
                "succeeded",
                None,
                finished,
            )
            .await;
        }
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let settings = SummarySettings::default();
        let week = Period::iso_week("2026-W43", tz).unwrap();
        let s = crate::summaries::compute(
            &store,
            &settings,
            &week,
            &Scope::all(),
            at("2026-10-26T08:00:00Z"),
        )
        .await
        .unwrap();
        assert_eq!(s.deploys.total, 2);
        assert_eq!(s.previous_deploys.total, 1);
        assert_eq!(s.daily[0].succeeded, 1);
        assert_eq!(s.daily[6].succeeded, 1);
        assert_eq!(s.daily[6].date.to_string(), "2026-10-25");
        let next = Period::iso_week("2026-W44", tz).unwrap();
        let n = crate::summaries::compute(
            &store,
            &settings,
            &next,
            &Scope::all(),
            at("2026-11-02T08:00:00Z"),
        )
        .await
        .unwrap();
        assert_eq!(n.deploys.total, 1);
    }

    #[tokio::test]
    async fn an_empty_week_says_so() {
        let (store, _dir) = store().await;
        let period = Period::iso_week("2026-W47", Tz::UTC).unwrap();
        let s = crate::summaries::compute(
            &store,
            &SummarySettings::default(),
            &period,
            &Scope::all(),
            at("2026-11-23T09:00:00Z"),
        )
        .await
        .unwrap();
        assert!(s.empty);
        assert!(s.render(false).contains("Nothing happened in this period"));
        assert!(!s.render(false).contains("Four keys"));
    }
}
