//! The summary computation: every figure of a summary in SQL over indexed tables, for a period
//! and a scope, plus the exactly-once record of scheduled summaries.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;

use super::ids::{channel_from_db, channel_to_db, time_to_db};
use super::{Result, Store, Subject};
use crate::domain::period::Period;
use crate::domain::subscription::Pattern;
use crate::domain::summary::{Counts, Figures};
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

    pub fn is_all(&self) -> bool {
        self.pairs.iter().any(|(s, e)| s == "*" && e == "*")
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
/// The row (alias `d`, `a`, ...) is in the scope bound as a JSON array of [service, environment]
/// globs; "1" (and nothing bound) when the scope is everything, the common case, which saves a
/// JSON scan per row. Nullable columns (alerts, incidents) match only `*` when unset.
fn scope_sql(filtered: bool, alias: &str) -> String {
    if !filtered {
        return "1".to_owned();
    }
    format!(
        "exists (select 1 from json_each(?) p
         where lower(coalesce({alias}.service, '')) glob (p.value ->> '$[0]')
           and lower(coalesce({alias}.environment, '')) glob (p.value ->> '$[1]'))"
    )
}

/// Binds the scope when `scope_sql` asked for it (the scope is always the last parameter).
trait BindScope<'q> {
    fn bind_scope(self, scope: Option<&'q str>) -> Self;
}

impl<'q> BindScope<'q> for sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    fn bind_scope(self, scope: Option<&'q str>) -> Self {
        match scope {
            Some(json) => self.bind(json),
            None => self,
        }
    }
}
/// The index of the local day holding `expression` (a UTC ms instant known to be inside the
/// period), as a CASE over the day ends: DST-safe, as the ends come from the zone, and computed
/// without per-row JSON work. The values are integers this code made, not user input.
fn day_case(
    days: &[(chrono::NaiveDate, DateTime<Utc>, DateTime<Utc>)],
    expression: &str,
) -> String {
    let mut sql = String::from("case");
    for (i, (_, _, end)) in days.iter().enumerate() {
        sql.push_str(&format!(
            " when {expression} < {} then {i}",
            time_to_db(*end)
        ));
    }
    sql.push_str(" end");
    sql
}

/// Median of the `v` column of CTE `values_` (mean of the middle two for an even count).
const MEDIAN: &str =
    "ranked as (select v, row_number() over (order by v) as r, count(*) over () as n from values_)
     select avg(case when r in ((n + 1) / 2, (n + 2) / 2) then v end) from ranked";

/// A comment cut to fit a summary line, on one line, without markdown link brackets.
fn cut_comment(text: &str) -> String {
    const MAX: usize = 200;
    let flat: String = text
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            '[' => '(',
            ']' => ')',
            c => c,
        })
        .collect();
    let flat = flat.trim();
    if flat.chars().count() <= MAX {
        flat.to_owned()
    } else {
        let mut out: String = flat.chars().take(MAX - 1).collect();
        out.push('…');
        out
    }
}

/// Production: environments named prod* (production, prod, prod-eu, ...).
pub const PRODUCTION: &str = "lower(d.environment) glob 'prod*'";

impl Store {
    /// Every figure of `period` for `scope`, in one read transaction.
    /// Without `details` (the previous period, only compared against), the per-day counts and
    /// the comments are skipped: their queries get a constant false condition, which SQLite
    /// evaluates once instead of scanning.
    pub async fn summary_figures(
        &self,
        period: &Period,
        scope: &Scope,
        details: bool,
    ) -> Result<Figures> {
        let wanted = if details { "1" } else { "0" };
        let (start, end) = (time_to_db(period.start()), time_to_db(period.end()));
        let scope = (!scope.is_all()).then(|| scope.json());
        let scope = scope.as_deref();
        let in_scope_d = scope_sql(scope.is_some(), "d");
        let mut tx = self.pool().begin().await?;
        let mut figures = Figures::default();
        let (has_alerts, has_checkins) = Self::optional_tables(&mut tx).await?;
        // A succeeded deploy counts as a failure when it is linked to an incident (the incident's
        // deploy, or a correlation link whose group had an incident) and no human rejected the link.
        // Incidents follow their deploy, so only those opened since the period began can blame
        // one of its deploys; the list is computed once per query, not per deploy.
        let linked = if has_alerts {
            format!(
                "d.status = 'succeeded' and d.id in (
                    select i.deploy_id from incident i
                    where i.opened_at >= {start} and i.deploy_id is not null
                      and not exists (select 1 from alert_deploy_link l
                                      where l.deploy_id = i.deploy_id and l.group_id = i.group_id
                                        and l.verdict = 'rejected')
                    union
                    select l.deploy_id from alert_deploy_link l join incident i on i.group_id = l.group_id
                    where i.opened_at >= {start} and (l.verdict is null or l.verdict = 'confirmed'))"
            )
        } else {
            "0".to_owned()
        };

        let rows = sqlx::query(&format!(
            "select d.service, d.environment, d.status, count(*) as n from deploy d
             where {AT} >= ? and {AT} < ? and {in_scope_d}
             group by d.service, d.environment, d.status
             order by d.service, d.environment"
        ))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
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
                coalesce(sum(d.status in ('failed', 'rolled_back') or ({linked})), 0),
                coalesce(sum(d.status in ('succeeded', 'rolled_back') and d.commit_at is null), 0)
             from deploy d
             where {AT} >= ? and {AT} < ? and {in_scope_d} and {PRODUCTION}"
        ))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
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
                 where {AT} >= ? and {AT} < ? and {in_scope_d} and {PRODUCTION}
                   and d.status in ('succeeded', 'rolled_back')
                   and d.commit_at is not null and d.finished_at is not null),
             ranked as (select v, row_number() over (order by v) as r, count(*) over () as n from lt)
             select avg(case when r in ((n + 1) / 2, (n + 2) / 2) then v end),
                    max(case when r = (9 * n + 9) / 10 then v end),
                    count(*)
             from ranked"
        ))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_one(&mut *tx)
        .await?;
        figures.lead_time_median = row.get(0);
        figures.lead_time_p90 = row.get(1);
        figures.lead_time_count = row.get(2);

        figures.daily = vec![(0, 0, 0, 0); period.days().len()];
        // One range scan over the period (indexed); each row finds its local day among the
        // period's day starts (DST-safe, as the days come from the zone).
        let rows = sqlx::query(&format!(
            "select {day_of} as day, d.status, count(*)
             from deploy d
             where {wanted} and {AT} >= ? and {AT} < ? and {in_scope_d}
             group by day, d.status",
            day_of = day_case(&period.days(), AT)
        ))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
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
        if has_alerts {
            Self::alert_figures(
                &mut tx,
                start,
                end,
                scope,
                &period.days(),
                wanted,
                &mut figures,
            )
            .await?;
        }
        if has_checkins {
            figures.checkins =
                Some(Self::checkin_figures(&mut tx, start, end, scope, wanted).await?);
        }
        tx.commit().await?;
        Ok(figures)
    }

    /// Whether the alert tables and the check-in tables exist in this database.
    async fn optional_tables(conn: &mut sqlx::SqliteConnection) -> Result<(bool, bool)> {
        let row = sqlx::query(
            "select
                 (select count(*) from sqlite_master where type = 'table'
                  and name in ('alert_group', 'alert', 'incident', 'alert_deploy_link')) = 4,
                 (select count(*) from sqlite_master where type = 'table'
                  and name in ('checkin', 'feedback')) = 2",
        )
        .fetch_one(&mut *conn)
        .await?;
        Ok((row.get(0), row.get(1)))
    }

    async fn alert_figures(
        tx: &mut sqlx::SqliteConnection,
        start: i64,
        end: i64,
        scope: Option<&str>,
        days: &[(chrono::NaiveDate, DateTime<Utc>, DateTime<Utc>)],
        wanted: &str,
        figures: &mut Figures,
    ) -> Result<()> {
        let alert_scope = scope_sql(scope.is_some(), "a");
        let incident_scope = scope_sql(scope.is_some(), "i");
        let group_scope = scope_sql(scope.is_some(), "g");
        // Time to restore: incidents resolved in the period, opened → resolved.
        figures.time_to_restore_median = sqlx::query(&format!(
            "with values_ as (select (i.resolved_at - i.opened_at) / 1000.0 as v from incident i
                 where i.resolved_at >= ? and i.resolved_at < ? and {incident_scope}),
             {MEDIAN}"
        ))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        let mut alerts = crate::domain::summary::AlertFigures::default();
        let rows = sqlx::query(&format!(
            "select a.name, count(*) as n from alert a
             where a.starts_at >= ? and a.starts_at < ? and {alert_scope}
             group by a.name order by n desc, a.name"
        ))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_all(&mut *tx)
        .await?;
        for (i, row) in rows.iter().enumerate() {
            let n: i64 = row.get(1);
            alerts.count += n;
            if i < 5 {
                alerts.noisiest.push((row.get(0), n));
            }
        }
        alerts.time_to_acknowledge_median = sqlx::query(&format!(
            "with values_ as (select max(0, g.acked_at - g.first_fired_at) / 1000.0 as v from alert_group g
                 where g.first_fired_at >= ? and g.first_fired_at < ? and g.acked_at is not null
                   and {group_scope}),
             {MEDIAN}"
        ))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        alerts.still_firing = sqlx::query(&format!(
            "select count(*) from alert_group g where g.status = 'firing' and {group_scope}"
        ))
        .bind_scope(scope)
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        alerts.incidents_opened = sqlx::query(&format!(
            "select count(*) from incident i where i.opened_at >= ? and i.opened_at < ? and {incident_scope}"
        ))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        let rows = sqlx::query(&format!(
            "select {day_of} as day, count(*)
             from alert a
             where {wanted} and a.starts_at >= ? and a.starts_at < ? and {alert_scope}
             group by day",
            day_of = day_case(days, "a.starts_at")
        ))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_all(&mut *tx)
        .await?;
        for row in rows {
            let i: i64 = row.get(0);
            if let Some(day) = figures.daily.get_mut(i as usize) {
                day.3 += row.get::<i64, _>(1);
            }
        }
        figures.alerts = Some(alerts);
        Ok(())
    }

    async fn checkin_figures(
        tx: &mut sqlx::SqliteConnection,
        start: i64,
        end: i64,
        scope: Option<&str>,
        wanted: &str,
    ) -> Result<crate::domain::summary::CheckinFigures> {
        let mut checkins = crate::domain::summary::CheckinFigures::default();
        let in_scope_d = scope_sql(scope.is_some(), "d");
        // The deploy is needed only to test the scope.
        let join_deploy = if scope.is_some() {
            "join deploy d on d.id = f.deploy_id"
        } else {
            ""
        };
        // Asked: check-ins opened in the period about deploys in scope; answered: with at least
        // one answer that still counts.
        let row = sqlx::query(&format!(
            "select count(*),
                    coalesce(sum(exists (select 1 from feedback f
                                         where f.checkin_id = c.id and f.retracted_at is null)), 0)
             from checkin c join deploy d on d.id = c.deploy_id
             where c.state in ('open', 'closed') and c.opened_at >= ? and c.opened_at < ? and {in_scope_d}"
        ))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_one(&mut *tx)
        .await?;
        checkins.asked = row.get(0);
        checkins.answered = row.get(1);
        let row = sqlx::query(&format!(
            "select coalesce(sum(f.sentiment = 1), 0), coalesce(sum(f.sentiment = 0), 0),
                    coalesce(sum(f.sentiment = -1), 0)
             from feedback f {join_deploy}
             where f.retracted_at is null and f.given_at >= ? and f.given_at < ? and {in_scope_d}"
        ))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_one(&mut *tx)
        .await?;
        checkins.positive = row.get(0);
        checkins.neutral = row.get(1);
        checkins.negative = row.get(2);
        let rows = sqlx::query(&format!(
            "select f.user_name, f.sentiment, f.body, f.given_at, f.guild_id, f.channel_id, f.message_id
             from feedback f {join_deploy}
             where {wanted} and f.retracted_at is null and f.body is not null and trim(f.body) <> ''
               and f.given_at >= ? and f.given_at < ? and {in_scope_d}
             order by coalesce(f.sentiment = -1, 0) desc, f.given_at desc, f.id desc
             limit 5"
        ))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_all(&mut *tx)
        .await?;
        for row in rows {
            let guild: Option<i64> = row.get(4);
            let channel: Option<i64> = row.get(5);
            let message: Option<i64> = row.get(6);
            let link = match (channel, message) {
                (Some(c), Some(m)) => Some(format!(
                    "https://discord.com/channels/{}/{}/{}",
                    guild.map_or("@me".to_owned(), |g| super::ids::from_db(g).to_string()),
                    super::ids::from_db(c),
                    super::ids::from_db(m)
                )),
                _ => None,
            };
            checkins.comments.push(crate::domain::summary::Comment {
                user: row.get(0),
                sentiment: row.get::<Option<i64>, _>(1).map(|s| s.clamp(-1, 1) as i8),
                text: cut_comment(&row.get::<String, _>(2)),
                given_at: super::ids::time_from_db(row.get(3)),
                link,
            });
        }
        Ok(checkins)
    }

    /// The sections this database cannot compute yet because their tables do not exist.
    pub async fn summary_unavailable_sections(&self) -> Result<Vec<String>> {
        // Alerts, incidents and check-ins come with their own migrations; a database without
        // them says so instead of showing zeros.
        let mut conn = self.pool().acquire().await?;
        let (alerts, checkins) = Self::optional_tables(&mut conn).await?;
        let mut missing = Vec::new();
        if !alerts {
            missing.push(
                "alerts and incidents (time to restore, incident-linked failures)".to_owned(),
            );
        }
        if !checkins {
            missing.push("check-ins".to_owned());
        }
        Ok(missing)
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

#[cfg(test)]
impl Store {
    /// Every recorded summary as (channel, period start), oldest first: for the job's tests.
    pub(crate) async fn recorded_summaries(&self) -> Result<Vec<(ChannelId, DateTime<Utc>)>> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("select channel_id, period_start from summary order by id")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(|(channel, start)| (channel_from_db(channel), super::ids::time_from_db(start)))
            .collect())
    }

    /// How many outbox rows post a summary: for the job's tests.
    pub(crate) async fn queued_summary_posts(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "select count(*) from outbox o join message m on m.id = o.message_id
             where m.subject_kind = 'summary'",
        )
        .fetch_one(self.pool())
        .await?)
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

    /// Benchmark data for the alert tables: `count` alert groups of one alert each, spread over
    /// `[start, end)` across `services` services, one in ten opening an incident of 30 minutes.
    /// Returns false when this database has no alert tables.
    pub async fn generate_bench_alerts(
        &self,
        services: i64,
        count: i64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        if !Self::optional_tables(&mut tx).await?.0 {
            return Ok(false);
        }
        let (start, end) = (time_to_db(start), time_to_db(end));
        let seq =
            "with recursive seq(i) as (select 0 union all select i + 1 from seq where i + 1 < ?1),
                   t(i, at) as (select i, ?2 + i * ((?3 - ?2) / ?1) from seq)";
        for statement in [
            "insert into alert_group (id, source, group_key, status, service, environment, severity,
                 first_fired_at, acked_at, resolved_at, updated_at, created_at)
             select 1000000 + i, 'api', 'bench-' || i, case when i % 500 = 0 then 'firing' else 'resolved' end,
                    'service-' || (i % ?4), 'production', case when i % 10 = 0 then 'critical' else 'warning' end,
                    at, case when i % 3 = 0 then null else at + 60000 * (1 + i % 30) end,
                    case when i % 500 = 0 then null else at + 1800000 end, at, at
             from t",
            "insert into alert (id, group_id, source, fingerprint, name, service, environment, severity, status,
                 starts_at, updated_at, created_at)
             select 1000000 + i, 1000000 + i, 'api', 'bench-' || i, 'Alert' || (i % 37), 'service-' || (i % ?4),
                    'production', 'warning', 'resolved', at, at, at
             from t",
            "insert into incident (group_id, alert_id, title, service, environment, severity, opened_at,
                 resolved_at, updated_at, created_at)
             select 1000000 + i, 1000000 + i, 'Alert' || (i % 37), 'service-' || (i % ?4), 'production',
                    'critical', at, case when i % 500 = 0 then null else at + 1800000 end, at, at
             from t where i % 10 = 0",
        ] {
            sqlx::query(&format!("{seq} {statement}"))
                .bind(count)
                .bind(start)
                .bind(end)
                .bind(services)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Benchmark data for check-ins: one check-in per production bench deploy (asked 30 minutes
    /// after it finished) and `feedback` rows spread over those deploys. Returns false when this
    /// database has no check-in tables.
    pub async fn generate_bench_feedback(&self, feedback: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        if !Self::optional_tables(&mut tx).await?.1 {
            return Ok(false);
        }
        sqlx::query(
            "insert into checkin (deploy_id, channel_id, sequence, origin, state, due_at, opened_at,
                 updated_at, created_at)
             select id, 1, 0, 'schedule', 'closed', finished_at + 1800000, finished_at + 1800000,
                    finished_at, finished_at
             from deploy where source = 'bench' and environment = 'production'",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "with recursive seq(i) as (select 0 union all select i + 1 from seq where i + 1 < ?1),
                  c(n) as (select count(*) from checkin)
             insert into feedback (deploy_id, checkin_id, source, sentiment, body, user_id, user_name,
                 guild_id, channel_id, message_id, given_at, updated_at, created_at)
             select k.deploy_id, k.id, case when i % 7 = 0 then 'reply' else 'command' end,
                    (i % 3) - 1, case when i % 7 = 0 then 'comment ' || i end, i % 5000, 'user' || (i % 5000),
                    1, 1, case when i % 7 = 0 then i end,
                    k.opened_at + 60000 * (i % 600), k.opened_at, k.opened_at
             from seq join checkin k on k.id = 1 + (seq.i % (select n from c))",
        )
        .bind(feedback)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SummarySettings;
    use crate::domain::bands::Band;
    use crate::domain::summary::Trend;
    use chrono_tz::Tz;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
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
        let (store, _dir) = Store::temporary().await;
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

    async fn exec(store: &Store, sql: &str) {
        sqlx::query(sql).execute(store.pool()).await.unwrap();
    }

    fn ms(s: &str) -> i64 {
        time_to_db(at(s))
    }

    /// Alerts, incidents and check-ins in W47, inserted as the alerts and check-ins features store them.
    async fn known_alerts_and_checkins(store: &Store) {
        let g = |id: i64,
                 status: &str,
                 service: &str,
                 first: &str,
                 acked: Option<&str>,
                 resolved: Option<&str>| {
            format!(
                "insert into alert_group (id, source, group_key, status, service, environment, severity,
                     first_fired_at, acked_at, resolved_at, updated_at, created_at)
                 values ({id}, 'api', 'g{id}', '{status}', '{service}', 'production', 'critical', {}, {}, {}, 0, 0)",
                ms(first),
                acked.map_or("null".into(), |a| ms(a).to_string()),
                resolved.map_or("null".into(), |r| ms(r).to_string()),
            )
        };
        exec(
            store,
            &g(
                1,
                "resolved",
                "checkout",
                "2026-11-19T07:00:00Z",
                Some("2026-11-19T07:10:00Z"),
                Some("2026-11-19T08:00:00Z"),
            ),
        )
        .await;
        exec(
            store,
            &g(
                2,
                "firing",
                "checkout",
                "2026-11-20T03:00:00Z",
                Some("2026-11-20T03:30:00Z"),
                None,
            ),
        )
        .await;
        exec(
            store,
            &g(
                3,
                "resolved",
                "payments",
                "2026-11-22T10:00:00Z",
                None,
                Some("2026-11-22T12:00:00Z"),
            ),
        )
        .await;
        let a = |id: i64, group: i64, name: &str, service: &str, starts: &str| {
            format!(
                "insert into alert (id, group_id, source, fingerprint, name, service, environment, severity, status,
                     starts_at, updated_at, created_at)
                 values ({id}, {group}, 'api', 'f{id}', '{name}', '{service}', 'production', 'critical', 'firing', {}, 0, 0)",
                ms(starts)
            )
        };
        exec(
            store,
            &a(1, 1, "HighErrorRate", "checkout", "2026-11-19T07:00:00Z"),
        )
        .await;
        exec(
            store,
            &a(2, 1, "HighErrorRate", "checkout", "2026-11-19T07:05:00Z"),
        )
        .await;
        exec(
            store,
            &a(3, 2, "HighLatency", "checkout", "2026-11-20T03:00:00Z"),
        )
        .await;
        exec(
            store,
            &a(4, 3, "DiskFull", "payments", "2026-11-22T10:00:00Z"),
        )
        .await;
        // Incident 1 (1h) blames checkout deploy 2; incident 2 (2h) blamed payments deploy 7, but a
        // human rejected that link.
        exec(store, &format!(
            "insert into incident (group_id, alert_id, title, service, environment, severity, opened_at,
                 resolved_at, deploy_id, updated_at, created_at)
             values (1, 1, 'HighErrorRate', 'checkout', 'production', 'critical', {}, {}, 2, 0, 0),
                    (3, 4, 'DiskFull', 'payments', 'production', 'critical', {}, {}, 7, 0, 0)",
            ms("2026-11-19T07:00:00Z"), ms("2026-11-19T08:00:00Z"),
            ms("2026-11-22T10:00:00Z"), ms("2026-11-22T12:00:00Z"),
        )).await;
        exec(store, "insert into alert_deploy_link (alert_id, group_id, deploy_id, delay_ms, verdict, created_at)
                     values (4, 3, 7, 0, 'rejected', 0)").await;

        let c = |id: i64, deploy: i64, state: &str, opened: &str| {
            format!(
                "insert into checkin (id, deploy_id, channel_id, sequence, origin, state, due_at, opened_at,
                     updated_at, created_at)
                 values ({id}, {deploy}, 300000000000000003, 0, 'schedule', '{state}', {t}, {t}, 0, 0)",
                t = ms(opened)
            )
        };
        exec(store, &c(1, 1, "closed", "2026-11-16T11:00:00Z")).await;
        exec(store, &c(2, 2, "closed", "2026-11-17T14:00:00Z")).await; // never answered
        exec(store, &c(3, 6, "open", "2026-11-21T11:00:00Z")).await;
        exec(store, &c(4, 7, "open", "2026-11-22T23:30:00Z")).await;
        exec(store, "insert into checkin (id, deploy_id, channel_id, sequence, origin, state, due_at, updated_at, created_at)
                     values (5, 5, 1, 0, 'schedule', 'scheduled', 0, 0, 0)").await; // not asked yet
        let f = |deploy: i64,
                 checkin: i64,
                 source: &str,
                 sentiment: &str,
                 body: &str,
                 user: &str,
                 message: &str,
                 given: &str,
                 retracted: &str| {
            format!(
                "insert into feedback (deploy_id, checkin_id, source, sentiment, body, emoji, user_id, user_name,
                     guild_id, channel_id, message_id, given_at, updated_at, retracted_at, created_at)
                 values ({deploy}, {checkin}, '{source}', {sentiment}, {body}, {emoji}, {uid}, '{user}',
                     100000000000000001, 300000000000000003, {message}, {t}, {t}, {retracted}, 0)",
                emoji = if source == "reaction" { "'👎'" } else { "null" },
                uid = user.len(),
                t = ms(given),
            )
        };
        exec(
            store,
            &f(
                1,
                1,
                "button",
                "1",
                "null",
                "u1",
                "null",
                "2026-11-16T11:05:00Z",
                "null",
            ),
        )
        .await;
        exec(
            store,
            &f(
                1,
                1,
                "reply",
                "-1",
                "'checkout is slow\nagain'",
                "user2",
                "555",
                "2026-11-16T12:00:00Z",
                "null",
            ),
        )
        .await;
        exec(
            store,
            &f(
                6,
                3,
                "button",
                "0",
                "null",
                "u3",
                "null",
                "2026-11-21T11:30:00Z",
                "null",
            ),
        )
        .await;
        exec(
            store,
            &f(
                6,
                3,
                "reaction",
                "-1",
                "null",
                "u3x",
                "777",
                "2026-11-21T11:31:00Z",
                "1",
            ),
        )
        .await; // retracted
        exec(
            store,
            &f(
                6,
                3,
                "modal",
                "1",
                "'great'",
                "u4",
                "null",
                "2026-11-21T09:00:00Z",
                "null",
            ),
        )
        .await;
        exec(
            store,
            &f(
                7,
                4,
                "command",
                "null",
                "'looks fine'",
                "u5",
                "null",
                "2026-11-22T23:40:00Z",
                "null",
            ),
        )
        .await;
    }

    #[tokio::test]
    async fn known_alerts_incidents_and_checkins_give_hand_computed_figures() {
        let (store, _dir) = Store::temporary().await;
        known_week(&store).await;
        known_alerts_and_checkins(&store).await;
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
        assert!(s.unavailable.is_empty(), "{:?}", s.unavailable);
        let k = &s.keys;
        // (1 failed + 1 rolled back + deploy 2 linked to incident 1) / 7; deploy 7's link was rejected.
        assert!((k.change_failure_rate.value.unwrap() - 300.0 / 7.0).abs() < 1e-9);
        assert_eq!(k.production_failures, 3);
        // Time to restore: incidents of 1h and 2h → median 1h30m, "high".
        assert_eq!(k.time_to_restore.value, Some(5_400.0));
        assert_eq!(k.time_to_restore.band, Some(Band::High));
        assert_eq!(k.time_to_restore.previous, None);

        let a = s.alerts.as_ref().unwrap();
        assert_eq!(a.count, 4);
        assert_eq!(
            a.noisiest,
            vec![
                ("HighErrorRate".to_owned(), 2),
                ("DiskFull".to_owned(), 1),
                ("HighLatency".to_owned(), 1)
            ]
        );
        // Acknowledged after 10 and 30 minutes → median 20 minutes.
        assert_eq!(a.time_to_acknowledge_median, Some(1_200.0));
        assert_eq!(
            (a.still_firing, a.incidents_opened, a.previous_count),
            (1, 2, 0)
        );
        let alerts_per_day: Vec<i64> = s.daily.iter().map(|d| d.alerts).collect();
        assert_eq!(alerts_per_day, vec![0, 0, 0, 2, 1, 0, 1]);

        let c = s.checkins.as_ref().unwrap();
        assert_eq!((c.asked, c.answered, c.unanswered), (4, 3, 1));
        assert_eq!(c.response_rate, Some(75.0));
        assert_eq!(c.previous_response_rate, None);
        assert_eq!(
            (c.positive, c.neutral, c.negative),
            (2, 1, 1),
            "the retracted reaction does not count"
        );
        let texts: Vec<&str> = c.comments.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            vec!["checkout is slow again", "looks fine", "great"],
            "negative first, then newest"
        );
        assert_eq!(
            c.comments[0].link.as_deref(),
            Some("https://discord.com/channels/100000000000000001/300000000000000003/555")
        );
        assert_eq!(c.comments[1].link, None);
        let text = s.render(true);
        assert!(
            text.contains("**Check-ins:** 4 asked, 3 answered, 1 unanswered; response rate 75%"),
            "{text}"
        );
        assert!(text.contains("Sentiment: +2 / 0 1 / −1"), "{text}");
        assert!(
            text.contains("[checkout is slow again](https://discord.com/channels/"),
            "{text}"
        );
        assert!(
            text.contains("Noisiest: HighErrorRate ×2, DiskFull ×1, HighLatency ×1"),
            "{text}"
        );

        // Scoped to payments: its alert, incident and comment only.
        let p = crate::summaries::compute(
            &store,
            &SummarySettings::default(),
            &period,
            &Scope::of(
                &Pattern::parse("service", Some("payments")).unwrap(),
                &Pattern::any(),
            ),
            at("2026-11-23T09:00:00Z"),
        )
        .await
        .unwrap();
        assert_eq!(p.alerts.as_ref().unwrap().count, 1);
        assert_eq!(p.keys.time_to_restore.value, Some(7_200.0));
        assert_eq!(p.checkins.as_ref().unwrap().asked, 1);
        assert_eq!(p.keys.change_failure_rate.value, Some(0.0));
    }

    #[tokio::test]
    async fn events_at_the_edges_of_a_berlin_week_across_dst_land_in_the_right_week() {
        let (store, _dir) = Store::temporary().await;
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
        let (store, _dir) = Store::temporary().await;
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
