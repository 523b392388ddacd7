//! Reading the per-day rollups (migration 20261203100000_summary_rollups.sql, which keeps them by
//! triggers): a range of instants is whole UTC days, summed from `rollup_deploy`, `rollup_feedback`
//! and `rollup_checkin`, plus or minus the rows of partial days at its edges (whichever part of
//! such a day is shorter), read with the same conditions the row-by-row figures use. Several
//! ranges (the 12 weeks of a trend, the days of a period) are read in one statement, numbered `k`.
//! Medians are never summed: their inputs come from the rows (`dora::lead_time`,
//! `restore_times`), through indexes on the ranges' instants.
//!
//! Every function here has a row-by-row twin in `summary_figures.rs` / `dora.rs`; the property
//! test in `rollups_tests.rs` holds them to the same answers.

use super::dora::{self, BindScope, AT};
use super::ids::time_to_db;
use super::spans::{split, Spans, DAY_MS};
use super::summary_figures::{scope_sql, CommentRow, Scope};
use super::visibility::Visible;
use super::{Result, Store};
use crate::domain::deploy::DeployStatus;
use crate::domain::period::Period;
use crate::domain::production::Environments;
use crate::domain::summary::{CheckinFigures, Comment, Counts, Figures, ProductionCounts};

/// What the scope and production conditions need to read deploys.
pub(super) struct Filter<'a> {
    /// The scope as a JSON argument, `None` when it is everything.
    pub scope: Option<&'a str>,
    pub production: &'a Environments,
    /// Whether the alert tables exist (no incident links without them).
    pub has_alerts: bool,
}

/// `alias.environment` is a production environment, as `dora::production_sql` says, for deploys
/// that count in `[start, end)` (Unix ms): the environments are matched once, among those of the
/// range's days in `rollup_deploy_env` (a deploy's environment is always there, under the day it
/// counts at), and each deploy is looked up in that short list instead of matching its
/// environment's patterns row by row (most of a lead-time scan's cost).
pub(super) fn production_in_range(
    alias: &str,
    production: &Environments,
    (start, end): (i64, i64),
) -> String {
    format!(
        "{alias}.environment in (
             select e.environment from rollup_deploy_env e
             where e.day >= {start} / {DAY_MS} and e.day <= ({end} - 1) / {DAY_MS} and {matches})",
        matches = dora::production_sql("e", production)
    )
}

/// The rollup table a reading sums and the service it reads from it: unscoped, the table's
/// per-environment twin (`<table>_env`, no service column); scoped, the table itself, whose
/// services the scope filters on.
fn rollup_of(table: &str, scope: Option<&str>) -> (String, &'static str) {
    match scope {
        Some(_) => (table.to_owned(), "r.service"),
        None => (format!("{table}_env"), "null"),
    }
}

/// Deploys of one (service, environment) by status.
pub(super) struct PairCounts {
    pub service: String,
    pub environment: String,
    pub counts: Counts,
}

/// Deploys of `range` (Unix ms) by status, per (service, environment), in their order (the
/// production figures are `deploy_totals`', read from the few rows of `rollup_deploy_env`). The
/// whole days: for each pair of `rollup_pair`, its short range of the `rollup_deploy_by_pair`
/// index (no sort of the period's rows by pair); the partial days at the edges from the rows. Each
/// part comes back as one JSON array (a few hundred rows cost more to hand over one by one than
/// to sum), each pair's counts in `STATUSES` order, null for a pair without deploys in the range.
pub(super) async fn deploys(
    tx: &mut sqlx::AnyConnection,
    range: (i64, i64),
    scope: Option<&str>,
) -> Result<Vec<PairCounts>> {
    const STATUSES: [DeployStatus; 4] = [
        DeployStatus::Started,
        DeployStatus::Succeeded,
        DeployStatus::Failed,
        DeployStatus::RolledBack,
    ];
    let backend = super::backend::of(tx);
    let split = split(range.0, range.1);
    let mut parts: Vec<String> = Vec::with_capacity(2);
    if let Some((first, last)) = split.days {
        parts.push(
            sqlx::query_scalar(&crate::store::numbered(&format!(
                // `counts` is referenced once (each reference would run the subquery again).
                "select coalesce(json_group_array({json_array}(service, environment, {json}(counts))),
                                 '[]')
                 from (
                     select p.service, p.environment,
                            (select case when count(*) > 0 then
                                 {json_array}(sum(r.started), sum(r.succeeded), sum(r.failed),
                                            sum(r.rolled_back)) end
                             from rollup_deploy r
                             where r.service = p.service and r.environment = p.environment
                               and r.day >= {first} and r.day < {last}) as counts
                     from rollup_pair p where {in_scope}) t",
                in_scope = scope_sql(scope.is_some(), "p"),
                json_array = backend.json_array(),
                json = backend.json(),
            )))
            .bind_scope(scope)
            .fetch_one(&mut *tx)
            .await?,
        );
    }
    if !split.edges.is_empty() {
        parts.push(
            sqlx::query_scalar(&crate::store::numbered(&format!(
                "with {ctes}
                 select coalesce(json_group_array({json_array}(service, environment,
                            {json_array}(started, succeeded, failed, rolled_back))), '[]')
                 from (
                     select d.service, d.environment,
                            sum(e.sign * (d.status = 'started')) as started,
                            sum(e.sign * (d.status = 'succeeded')) as succeeded,
                            sum(e.sign * (d.status = 'failed')) as failed,
                            sum(e.sign * (d.status = 'rolled_back')) as rolled_back
                     from edges e join deploy d on {AT} >= e.lo and {AT} < e.hi
                     where {in_scope}
                     group by d.service, d.environment) t",
                ctes = Spans::of(&[range]).ctes(),
                in_scope = scope_sql(scope.is_some(), "d"),
                json_array = backend.json_array(),
            )))
            .bind_scope(scope)
            .fetch_one(&mut *tx)
            .await?,
        );
    }
    let mut pairs: std::collections::BTreeMap<(String, String), Counts> = Default::default();
    for part in &parts {
        let rows: Vec<(String, String, Option<[i64; 4]>)> = serde_json::from_str(part)
            .map_err(|e| super::StoreError::Corrupt(format!("deploy counts: {e}")))?;
        for (service, environment, counts) in rows {
            let Some(counts) = counts else {
                continue;
            };
            let pair = pairs.entry((service, environment)).or_default();
            for (status, n) in STATUSES.into_iter().zip(counts) {
                pair.add(status, n);
            }
        }
    }
    // A BTreeMap's order of the texts is their bytes' order, as SQLite's binary collation.
    Ok(pairs
        .into_iter()
        .map(|((service, environment), counts)| PairCounts {
            service,
            environment,
            counts,
        })
        .collect())
}

/// Per range: the production figures of the deploys in scope, in one statement for all the
/// ranges. Unscoped, the whole days come from `rollup_deploy_env` (a few rows per day); scoped,
/// from `rollup_deploy` (its services are what the scope filters on). The production condition is
/// a filter, evaluated once per rollup row, not once per summed column.
pub(super) async fn deploy_totals(
    tx: &mut sqlx::AnyConnection,
    spans: &Spans,
    filter: &Filter<'_>,
) -> Result<Vec<ProductionCounts>> {
    let rows_of = dora::Deploys {
        start: 0,
        end: 0,
        scope: None,
        conditions: String::new(),
        has_alerts: filter.has_alerts,
    };
    let (confirmed, unanswered) = (rows_of.confirmed(), rows_of.unanswered());
    let (rollup, service) = rollup_of("rollup_deploy", filter.scope);
    let rows: Vec<(i64, i64, i64, i64, i64, i64)> = sqlx::query_as(&crate::store::numbered(&format!(
        "with {ctes},
         src(k, service, environment, succeeded, failed, rolled_back, confirmed, probable) as (
             select s.k, {service}, r.environment, r.succeeded, r.failed, r.rolled_back,
                    r.confirmed, r.probable
             from days s join {rollup} r on r.day >= s.lo and r.day < s.hi
             union all
             select e.k, d.service, d.environment, e.sign * (d.status = 'succeeded'),
                    e.sign * (d.status = 'failed'), e.sign * (d.status = 'rolled_back'),
                    e.sign * (d.status = 'succeeded' and {confirmed}),
                    e.sign * (d.status = 'succeeded' and ({confirmed} or {unanswered}))
             from edges e join deploy d on {AT} >= e.lo and {AT} < e.hi)
         select k, cast(sum(succeeded) as bigint), cast(sum(failed) as bigint), cast(sum(rolled_back) as bigint), cast(sum(confirmed) as bigint), cast(sum(probable) as bigint)
         from src r where {production} and {in_scope}
         group by k",
        ctes = spans.ctes(),
        production = dora::production_sql("r", filter.production),
        in_scope = scope_sql(filter.scope.is_some(), "r"),
    )))
    .bind_scope(filter.scope)
    .fetch_all(&mut *tx)
    .await?;
    let mut out = vec![ProductionCounts::default(); spans.len()];
    for (k, succeeded, failed, rolled_back, confirmed, probable) in rows {
        if let Some(slot) = usize::try_from(k).ok().and_then(|k| out.get_mut(k)) {
            // The definitions of store/dora.rs's `production_counts`, from the sums.
            *slot = ProductionCounts {
                deployed: succeeded + rolled_back,
                change_failures: rolled_back + confirmed,
                probable_change_failures: rolled_back + probable,
                deploy_failures: failed,
            };
        }
    }
    Ok(out)
}

/// Per range (a period's local days): deploys succeeded, failed and rolled back, every
/// environment in scope; the last field (alerts) is 0 here, added by the alert figures. Unscoped, whole
/// UTC days come from `rollup_deploy_env`; scoped, from `rollup_deploy`.
pub(super) async fn daily(
    tx: &mut sqlx::AnyConnection,
    spans: &Spans,
    scope: Option<&str>,
) -> Result<Vec<(i64, i64, i64, i64)>> {
    let (rollup, service) = rollup_of("rollup_deploy", scope);
    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(&crate::store::numbered(&format!(
        "with {ctes},
         src(k, service, environment, succeeded, failed, rolled_back) as (
             select s.k, {service}, r.environment, r.succeeded, r.failed, r.rolled_back
             from days s join {rollup} r on r.day >= s.lo and r.day < s.hi
             union all
             select e.k, d.service, d.environment, e.sign * (d.status = 'succeeded'),
                    e.sign * (d.status = 'failed'), e.sign * (d.status = 'rolled_back')
             from edges e join deploy d on {AT} >= e.lo and {AT} < e.hi)
         select k, cast(sum(succeeded) as bigint), cast(sum(failed) as bigint), cast(sum(rolled_back) as bigint)
         from src r where {in_scope} group by k",
        ctes = spans.ctes(),
        in_scope = scope_sql(scope.is_some(), "r"),
    )))
    .bind_scope(scope)
    .fetch_all(&mut *tx)
    .await?;
    let mut out = vec![(0, 0, 0, 0); spans.len()];
    for (k, succeeded, failed, rolled_back) in rows {
        if let Some(slot) = usize::try_from(k).ok().and_then(|k| out.get_mut(k)) {
            *slot = (succeeded, failed, rolled_back, 0);
        }
    }
    Ok(out)
}

/// Per range: feedback that counts, by sentiment (+1, 0, −1).
pub(super) async fn sentiments(
    tx: &mut sqlx::AnyConnection,
    spans: &Spans,
    scope: Option<&str>,
) -> Result<Vec<(i64, i64, i64)>> {
    let (rollup, service) = rollup_of("rollup_feedback", scope);
    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(&crate::store::numbered(&format!(
        "with {ctes},
         src(k, service, environment, positive, neutral, negative) as (
             select s.k, {service}, r.environment, r.positive, r.neutral, r.negative
             from days s join {rollup} r on r.day >= s.lo and r.day < s.hi
             union all
             select e.k, d.service, d.environment, e.sign * (f.sentiment = 1),
                    e.sign * (f.sentiment = 0), e.sign * (f.sentiment = -1)
             from edges e join feedback f on f.given_at >= e.lo and f.given_at < e.hi
                  join deploy d on d.id = f.deploy_id
             where f.retracted_at is null)
         select k, coalesce(cast(sum(positive) as bigint), 0), coalesce(cast(sum(neutral) as bigint), 0), coalesce(cast(sum(negative) as bigint), 0)
         from src r where {in_scope} group by k",
        ctes = spans.ctes(),
        in_scope = scope_sql(scope.is_some(), "r"),
    )))
    .bind_scope(scope)
    .fetch_all(&mut *tx)
    .await?;
    let mut out = vec![(0, 0, 0); spans.len()];
    for (k, p, n, m) in rows {
        if let Some(slot) = out.get_mut(k as usize) {
            *slot = (p, n, m);
        }
    }
    Ok(out)
}

/// Per range: check-ins asked, and answered.
pub(super) async fn checkins(
    tx: &mut sqlx::AnyConnection,
    spans: &Spans,
    scope: Option<&str>,
) -> Result<Vec<(i64, i64)>> {
    let (rollup, service) = rollup_of("rollup_checkin", scope);
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(&crate::store::numbered(&format!(
        "with {ctes},
         src(k, service, environment, asked, answered) as (
             select s.k, {service}, r.environment, r.asked, r.answered
             from days s join {rollup} r on r.day >= s.lo and r.day < s.hi
             union all
             select e.k, d.service, d.environment, e.sign,
                    e.sign * exists (select 1 from feedback f
                                     where f.checkin_id = c.id and f.retracted_at is null)
             from edges e join checkin c on c.opened_at >= e.lo and c.opened_at < e.hi
                  join deploy d on d.id = c.deploy_id
             where c.state in ('open', 'closed'))
         select k, coalesce(cast(sum(asked) as bigint), 0), coalesce(cast(sum(answered) as bigint), 0)
         from src r where {in_scope} group by k",
        ctes = spans.ctes(),
        in_scope = scope_sql(scope.is_some(), "r"),
    )))
    .bind_scope(scope)
    .fetch_all(&mut *tx)
    .await?;
    let mut out = vec![(0, 0); spans.len()];
    for (k, asked, answered) in rows {
        if let Some(slot) = out.get_mut(k as usize) {
            *slot = (asked, answered);
        }
    }
    Ok(out)
}

/// Incident time to restore of each range: the median over incidents resolved in it.
pub(super) async fn restore_times(
    tx: &mut sqlx::AnyConnection,
    spans: &Spans,
    scope: Option<&str>,
) -> Result<Vec<Option<f64>>> {
    let rows: Vec<(i64, Option<f64>)> = sqlx::query_as(&crate::store::numbered(&format!(
        "with {rows},
         values_ as (
             select s.k, (i.resolved_at - i.opened_at) / 1000.0 as v
             from rows s join incident i on i.resolved_at >= s.lo and i.resolved_at < s.hi
             where {in_scope}),
         ranked as (select k, v, row_number() over (partition by k order by v) as r,
                           count(*) over (partition by k) as n from values_)
         select k, cast(avg(case when r in ((n + 1) / 2, (n + 2) / 2) then v end) as double precision)
         from ranked group by k",
        rows = spans.rows_cte(),
        in_scope = scope_sql(scope.is_some(), "i"),
    )))
    .bind_scope(scope)
    .fetch_all(&mut *tx)
    .await?;
    let mut out = vec![None; spans.len()];
    for (k, median) in rows {
        if let Some(slot) = out.get_mut(k as usize) {
            *slot = median;
        }
    }
    Ok(out)
}

/// The summary's five most telling comments (negative first, then newest; the order of
/// `summary_figures_rows`): the newest negative ones, walked from the period's end in the partial
/// index of negative comments, then the newest of the others if fewer than five.
async fn comments(
    tx: &mut sqlx::AnyConnection,
    (start, end): (i64, i64),
    scope: Option<&str>,
) -> Result<Vec<Comment>> {
    const MOST: usize = 5;
    let join_deploy = if scope.is_some() {
        "join deploy d on d.id = f.deploy_id"
    } else {
        ""
    };
    let mut rows: Vec<CommentRow> = Vec::with_capacity(MOST);
    for negative in ["f.sentiment = -1", "not coalesce(f.sentiment = -1, false)"] {
        let wanted = MOST - rows.len();
        if wanted == 0 {
            break;
        }
        let more: Vec<CommentRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select f.user_name, f.sentiment, f.body, f.given_at, f.guild_id, f.channel_id, f.message_id
             from feedback f {join_deploy}
             where f.retracted_at is null and f.body is not null and {negative}
               and f.given_at >= ? and f.given_at < ? and trim(f.body) <> '' and {in_scope}
             order by f.given_at desc, f.id desc
             limit {wanted}",
            in_scope = scope_sql(scope.is_some(), "d"),
        )))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_all(&mut *tx)
        .await?;
        rows.extend(more);
    }
    rows.into_iter().map(Comment::try_from).collect()
}

impl Store {
    /// `summary_figures` read from the rollups (the operator's reading; see `ReadFrom`): the counts
    /// from whole days plus the edges' rows, the medians and the alert section from rows.
    pub(super) async fn summary_figures_rollups(
        &self,
        period: &Period,
        scope: &Scope,
        production: &Environments,
        details: bool,
    ) -> Result<Figures> {
        let (start, end) = (time_to_db(period.start()), time_to_db(period.end()));
        let visible = Visible::of(scope.reader);
        let scope = (!scope.is_all()).then(|| scope.json());
        let scope = scope.as_deref();
        let mut tx = self.pool().begin().await?;
        let (has_alerts, has_checkins) = self.optional_tables(&mut tx).await?;
        let filter = Filter {
            scope,
            production,
            has_alerts,
        };
        let whole = Spans::of(&[(start, end)]);
        let mut figures = Figures::default();
        for pair in deploys(&mut tx, (start, end), scope).await? {
            if pair.counts.total != 0 {
                figures
                    .by_service
                    .push((pair.service, pair.environment, pair.counts));
            }
        }
        figures.production = deploy_totals(&mut tx, &whole, &filter).await?[0];
        let deploys_of = dora::Deploys {
            start,
            end,
            scope,
            conditions: format!(
                "{} and {} and {}",
                scope_sql(scope.is_some(), "d"),
                visible.deploy("d"),
                dora::production_sql("d", production)
            ),
            has_alerts,
        };
        (figures.recovery_time_median, figures.recoveries) =
            dora::recovery_time(&mut tx, &deploys_of).await?;
        // Lead time per change reads the commits' rows (`dora::lead_time`, as the rows' reading).
        let lead = dora::lead_time(
            &mut tx,
            &dora::Deploys {
                conditions: format!(
                    "{} and {} and {}",
                    scope_sql(scope.is_some(), "d"),
                    visible.deploy("d"),
                    production_in_range("d", production, (start, end))
                ),
                ..deploys_of
            },
            production,
        )
        .await?;
        (figures.lead_time_median, figures.lead_time_p90) =
            crate::domain::lead_time::median_and_p90(&lead.sorted);
        figures.lead_time_count = lead.sorted.len() as i64;
        figures.lead_time_deploys = lead.deploys_measured;
        figures.lacking_commit_time = lead.deploys_lacking;

        let days = period.days();
        figures.daily = vec![(0, 0, 0, 0); days.len()];
        if details {
            let ranges: Vec<(i64, i64)> = days
                .iter()
                .map(|(_, from, to)| (time_to_db(*from), time_to_db(*to)))
                .collect();
            for (day, sums) in figures
                .daily
                .iter_mut()
                .zip(daily(&mut tx, &Spans::of(&ranges), scope).await?)
            {
                *day = sums;
            }
        }
        if has_alerts {
            Self::alert_figures(
                &mut tx,
                start,
                end,
                (scope, visible),
                &days,
                details,
                &mut figures,
            )
            .await?;
        }
        if has_checkins {
            let (asked, answered) = checkins(&mut tx, &whole, scope).await?[0];
            let (positive, neutral, negative) = sentiments(&mut tx, &whole, scope).await?[0];
            figures.checkins = Some(CheckinFigures {
                asked,
                answered,
                positive,
                neutral,
                negative,
                comments: if details {
                    comments(&mut tx, (start, end), scope).await?
                } else {
                    Vec::new()
                },
            });
        }
        tx.commit().await?;
        Ok(figures)
    }

    /// The trend's figures read from the rollups: for each week, only what `TrendWeek` reads
    /// (production counts, lead time, incident time to restore), each in one statement for all
    /// the weeks.
    pub(super) async fn trend_figures_rollups(
        &self,
        weeks: &[Period],
        scope: &Scope,
        production: &Environments,
    ) -> Result<Vec<Figures>> {
        let scope = (!scope.is_all()).then(|| scope.json());
        let scope = scope.as_deref();
        let mut tx = self.pool().begin().await?;
        let (has_alerts, _) = self.optional_tables(&mut tx).await?;
        let filter = Filter {
            scope,
            production,
            has_alerts,
        };
        let ranges: Vec<(i64, i64)> = weeks
            .iter()
            .map(|w| (time_to_db(w.start()), time_to_db(w.end())))
            .collect();
        let spans = Spans::of(&ranges);
        let totals = deploy_totals(&mut tx, &spans, &filter).await?;
        // Lead time per change from the commits' rows, all the weeks in one scan.
        let leads = dora::lead_times(
            &mut tx,
            &ranges,
            &dora::Deploys {
                start: 0,
                end: 0,
                scope,
                conditions: format!(
                    "{} and {}",
                    scope_sql(scope.is_some(), "d"),
                    production_in_range("d", production, whole_range(&ranges))
                ),
                has_alerts,
            },
            production,
        )
        .await?;
        let restores = if has_alerts {
            restore_times(&mut tx, &spans, scope).await?
        } else {
            vec![None; spans.len()]
        };
        tx.commit().await?;
        Ok(totals
            .iter()
            .zip(leads)
            .zip(restores)
            .map(|((total, lead), restore)| Figures {
                production: *total,
                lacking_commit_time: lead.deploys_lacking,
                lead_time_median: crate::domain::lead_time::median_and_p90(&lead.sorted).0,
                lead_time_p90: crate::domain::lead_time::median_and_p90(&lead.sorted).1,
                lead_time_count: lead.sorted.len() as i64,
                lead_time_deploys: lead.deploys_measured,
                time_to_restore_median: restore,
                ..Figures::default()
            })
            .collect())
    }
}

/// From the first range's start to the last one's end.
fn whole_range(ranges: &[(i64, i64)]) -> (i64, i64) {
    (
        ranges.iter().map(|r| r.0).min().unwrap_or(0),
        ranges.iter().map(|r| r.1).max().unwrap_or(0),
    )
}

#[cfg(test)]
#[path = "rollups_tests.rs"]
mod tests;
