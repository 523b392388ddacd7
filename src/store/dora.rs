//! The DORA definitions in SQL: which deploys are production (`domain::production`), the change
//! failure rate with its probable rate and the deploy failures beside it, and the failed
//! deployment recovery time. Each figure is its own function; `summary_figures` calls them inside
//! its read transaction. The formulas are documented in docs/summaries.md.

use super::Result;
use crate::domain::production::Environments;
use crate::domain::summary::ProductionCounts;

/// The instant a deploy counts at (matches the `deploy_counts_at` index expression).
pub(super) const AT: &str = "coalesce(d.finished_at, d.started_at)";
/// Binds the scope when `scope_sql` (summary_figures.rs) asked for it, at its place among the parameters.
pub(super) trait BindScope<'q> {
    fn bind_scope(self, scope: Option<&'q str>) -> Self;
}

type Args<'q> = sqlx::any::AnyArguments<'q>;

impl<'q, O> BindScope<'q> for sqlx::query::QueryAs<'q, sqlx::Any, O, Args<'q>> {
    fn bind_scope(self, scope: Option<&'q str>) -> Self {
        match scope {
            Some(json) => self.bind(json),
            None => self,
        }
    }
}

impl<'q, O> BindScope<'q> for sqlx::query::QueryScalar<'q, sqlx::Any, O, Args<'q>> {
    fn bind_scope(self, scope: Option<&'q str>) -> Self {
        match scope {
            Some(json) => self.bind(json),
            None => self,
        }
    }
}

/// A SQL condition true when `alias.environment` is one of `production` (the domain matcher,
/// `Environments::matches`, is the definition; `dora_tests.rs` holds this to it). The patterns
/// are inlined as string literals, quotes doubled: they come from the configuration, and a
/// literal keeps the positional parameters of the queries it joins unchanged.
pub fn production_sql(alias: &str, production: &Environments) -> String {
    let globs = production.sql_globs();
    if globs.is_empty() {
        return "false".to_owned();
    }
    let any: Vec<String> = globs
        .iter()
        .map(|g| {
            format!(
                "glob('{}', lower({alias}.environment))",
                g.replace('\'', "''")
            )
        })
        .collect();
    format!("({})", any.join(" or "))
}

/// The deploys a figure counts: finished (or started) in `[start, end)`, and `conditions` on
/// alias `d` (scope, visibility, production), whose only parameter is the scope, bound last.
pub(super) struct Deploys<'a> {
    pub start: i64,
    pub end: i64,
    pub scope: Option<&'a str>,
    pub conditions: String,
    /// Whether the alert tables exist (a database before their migration has no incidents).
    pub has_alerts: bool,
}

/// The deploy `d` is linked to an incident's alert group, the link's verdict matching `verdict`
/// (`= 'confirmed'` or `is null`); a rejected link never counts.
fn incident_link(verdict: &str) -> String {
    format!(
        "exists (select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                 where l.deploy_id = d.id and l.verdict {verdict})"
    )
}

impl Deploys<'_> {
    pub(super) fn confirmed(&self) -> String {
        if self.has_alerts {
            incident_link("= 'confirmed'")
        } else {
            "false".to_owned()
        }
    }

    pub(super) fn unanswered(&self) -> String {
        if self.has_alerts {
            incident_link("is null")
        } else {
            "false".to_owned()
        }
    }
}

pub(super) async fn production_counts(
    tx: &mut sqlx::AnyConnection,
    deploys: &Deploys<'_>,
) -> Result<ProductionCounts> {
    let (confirmed, unanswered) = (deploys.confirmed(), deploys.unanswered());
    let (deployed, change_failures, probable_change_failures, deploy_failures) =
        sqlx::query_as(&crate::store::numbered(&format!(
            "select
                coalesce(sum(d.status in ('succeeded', 'rolled_back')), 0),
                coalesce(sum(d.status = 'rolled_back' or (d.status = 'succeeded' and {confirmed})), 0),
                coalesce(sum(d.status = 'rolled_back'
                             or (d.status = 'succeeded' and ({confirmed} or {unanswered}))), 0),
                coalesce(sum(d.status = 'failed'), 0)
             from deploy d
             where {AT} >= ? and {AT} < ? and {conditions}",
            conditions = deploys.conditions
        )))
        .bind(deploys.start)
        .bind(deploys.end)
        .bind_scope(deploys.scope)
        .fetch_one(&mut *tx)
        .await?;
    Ok(ProductionCounts {
        deployed,
        change_failures,
        probable_change_failures,
        deploy_failures,
    })
}

/// How far before a period a rolled-back deploy may have finished for its rollback, recorded
/// later, to count as a failure of the period (the rollback's own time decides; this only bounds
/// the search, so it can use the `deploy_rolled_back` index).
const ROLLBACK_LOOKBACK_MS: i64 = 30 * 86_400_000;

/// Failed deployment recovery time: median seconds and how many recoveries, over the change
/// failures that began in `[start, end)` and have recovered since. A failure begins when the
/// rollback was recorded (its first `rolled_back` status change; the deploy's finish when none is
/// stored) or when the first incident a responder confirmed it caused opened, whichever is
/// earlier; it is recovered at the next successful deploy of the same service to the same
/// environment after that, or when that incident resolved, whichever comes first.
pub(super) async fn recovery_time(
    tx: &mut sqlx::AnyConnection,
    deploys: &Deploys<'_>,
) -> Result<(Option<f64>, i64)> {
    let confirmed = deploys.confirmed();
    // The failure's incident: the earliest confirmed one.
    let incident = |column: &str| {
        if deploys.has_alerts {
            format!(
                "(select i.{column} from alert_deploy_link l join incident i on i.group_id = l.group_id
                  where l.deploy_id = d.id and l.verdict = 'confirmed'
                  order by i.opened_at, i.id limit 1)"
            )
        } else {
            "null".to_owned()
        }
    };
    // Candidates: rollbacks that may have been recorded in the period, and deploys a confirmed
    // incident opened in the period blames; the failure's exact start is checked below.
    let confirmed_in_period = if deploys.has_alerts {
        "union select l.deploy_id from incident i join alert_deploy_link l on l.group_id = i.group_id
         where i.opened_at >= ?2 and i.opened_at < ?3 and l.verdict = 'confirmed'"
    } else {
        ""
    };
    let at_n = AT.replace("d.", "n.");
    let (median, count): (Option<f64>, i64) = sqlx::query_as(&crate::store::numbered(&format!(
        "with candidate as (
             select d.id from deploy d
             where d.status = 'rolled_back' and {AT} >= ?2 - {ROLLBACK_LOOKBACK_MS} and {AT} < ?3
             {confirmed_in_period}),
         failure as materialized (
             select d.service, d.environment,
                    case when d.status = 'rolled_back' then
                        coalesce((select min(sc.at) from deploy_status_change sc
                                  where sc.deploy_id = d.id and sc.status = 'rolled_back'),
                                 d.finished_at, d.started_at)
                    end as rolled_back_at,
                    {opened} as incident_at,
                    {resolved} as resolved_at
             from candidate c join deploy d on d.id = c.id
             where (d.status = 'rolled_back' or (d.status = 'succeeded' and {confirmed}))
               and {conditions}),
         started as materialized (
             select f.*, coalesce(min(rolled_back_at, incident_at), rolled_back_at, incident_at) as at
             from failure f),
         ended as materialized (
             select s.at,
                    (select {at_n} from deploy n
                     where {at_n} > s.at and n.service = s.service and n.environment = s.environment
                       and n.status = 'succeeded'
                     order by {at_n} limit 1) as next_success,
                    case when s.resolved_at >= s.at then s.resolved_at end as resolved
             from started s where s.at >= ?2 and s.at < ?3),
         values_ as (
             select (coalesce(min(next_success, resolved), next_success, resolved) - at) / 1000.0 as v
             from ended where coalesce(next_success, resolved) is not null),
         ranked as (select v, row_number() over (order by v) as r, count(*) over () as n from values_)
         select cast(avg(case when r in ((n + 1) / 2, (n + 2) / 2) then v end) as double precision),
                count(*) from ranked",
        opened = incident("opened_at"),
        resolved = incident("resolved_at"),
        conditions = deploys.conditions.replace('?', "?1"),
    )))
    .bind(deploys.scope.unwrap_or(""))
    .bind(deploys.start)
    .bind(deploys.end)
    .fetch_one(&mut *tx)
    .await?;
    Ok((median, count))
}

/// Lead time for changes over the commits deployed to production in the period.
pub(super) struct LeadTimes {
    /// Seconds from each commit's committer date to the finish of the first production deploy
    /// that shipped it, ascending.
    pub sorted: Vec<f64>,
    /// Production deploys of the period with commit information (a list, or a head commit time).
    pub deploys_measured: i64,
    /// Production deploys of the period without any.
    pub deploys_lacking: i64,
}

/// Lead time per change. A deploy's commits are its `deploy_commit` rows, or, without any, its
/// head commit (`commit_sha`, `commit_at`); a deploy with neither lacks a commit time. A commit is
/// counted once, at the first production deploy of its service that shipped it (finished first,
/// ties to the lower id): a sha that an earlier production deploy of the service listed, or had as
/// its head, adds nothing again. That earlier deploy may be outside the period, the scope or what
/// the reader sees: which deploy shipped a change first is a fact, not a view.
pub(super) async fn lead_time(
    tx: &mut sqlx::AnyConnection,
    deploys: &Deploys<'_>,
    production: &Environments,
) -> Result<LeadTimes> {
    let mut one = lead_times(tx, &[(deploys.start, deploys.end)], deploys, production).await?;
    Ok(one.remove(0))
}

/// [`lead_time`] of each of `ranges` (Unix ms, `[start, end)`; `deploys.start` and `end` are not
/// read). One statement, the same text for every range (prepared once), each run one scan of the
/// `deploy_counts_at` index with no sort and no temporary table: the aggregates come back as one
/// row per range (the head commits' lead times as a JSON array of integer milliseconds, those of
/// listed commits as comma-separated integers), not one row per commit.
/// Both subqueries end in `limit -1 offset 0` (`limit all` in PostgreSQL), which keeps SQLite from flattening them into the
/// query above: flattened, each reference to `listed` or `head` ran its probe again (seven
/// `deploy_commit` look-ups per deploy instead of one; the scan took half as long again).
pub(super) async fn lead_times(
    tx: &mut sqlx::AnyConnection,
    ranges: &[(i64, i64)],
    deploys: &Deploys<'_>,
    production: &Environments,
) -> Result<Vec<LeadTimes>> {
    let production_p = production_sql("p", production);
    // An earlier production deploy of the service shipped `sha` (listed, or as its head) before
    // the deploy `x` did.
    let shipped_before = |sha: &str| {
        let earlier = format!(
            "p.service = x.service and p.id <> x.id and {production_p}
             and p.status in ('succeeded', 'rolled_back') and p.finished_at is not null
             and (p.finished_at < x.finished_at or (p.finished_at = x.finished_at and p.id < x.id))"
        );
        format!(
            "(exists (select 1 from deploy_commit e join deploy p on p.id = e.deploy_id
                      where e.sha = {sha} and {earlier})
              or exists (select 1 from deploy p where p.commit_sha = {sha} and {earlier}))"
        )
    };
    let sql = format!(
        "select coalesce(json_group_array(max(0, finished_at - commit_at))
                             filter (where head and head_shipped_before = 0), '[]'),
                coalesce(string_agg(listed_values, ',') filter (where listed_values <> ''), ''),
                count(*) filter (where finished_at is not null and (listed or commit_at is not null)),
                count(*) filter (where not listed and commit_at is null)
         from (
             select x.finished_at, x.commit_at, x.listed,
                    not x.listed and x.finished_at is not null and x.commit_at is not null as head,
                    case when not x.listed and x.finished_at is not null and x.commit_at is not null
                              and x.commit_sha is not null
                         then (case when {head_before} then 1 else 0 end) else 0 end
                    as head_shipped_before,
                    case when x.listed and x.finished_at is not null then
                        (select string_agg(cast(max(0, x.finished_at - c.committed_at) as text), ',')
                         from deploy_commit c where c.deploy_id = x.id and not {listed_before})
                    end as listed_values
             from (
                 select d.id, d.service, d.finished_at, d.commit_sha, d.commit_at,
                        exists (select 1 from deploy_commit c where c.deploy_id = d.id) as listed
                 from deploy d
                 where {AT} >= ?2 and {AT} < ?3 and {conditions}
                   and d.status in ('succeeded', 'rolled_back')
                 {limit_all} offset 0) x
             {limit_all} offset 0) y",
        limit_all = super::backend::of(tx).limit_all(),
        head_before = shipped_before("x.commit_sha"),
        listed_before = shipped_before("c.sha"),
        conditions = deploys.conditions.replace('?', "?1"),
    );
    let mut out = Vec::with_capacity(ranges.len());
    for &(start, end) in ranges {
        let (heads, listed, measured, lacking): (String, String, i64, i64) =
            sqlx::query_as(&crate::store::numbered(&sql))
                .bind(deploys.scope.unwrap_or(""))
                .bind(start)
                .bind(end)
                .fetch_one(&mut *tx)
                .await?;
        let corrupt = |e: String| super::StoreError::Corrupt(format!("lead times: {e}"));
        let mut millis: Vec<i64> =
            serde_json::from_str(&heads).map_err(|e| corrupt(e.to_string()))?;
        for value in listed.split(',').filter(|v| !v.is_empty()) {
            millis.push(value.parse().map_err(|_| corrupt(value.to_owned()))?);
        }
        // As SQLite's `ms / 1000.0`: the same IEEE division, so both readings agree to the bit.
        let mut sorted: Vec<f64> = millis.into_iter().map(|ms| ms as f64 / 1000.0).collect();
        sorted.sort_by(f64::total_cmp);
        out.push(LeadTimes {
            sorted,
            deploys_measured: measured,
            deploys_lacking: lacking,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[path = "dora_tests.rs"]
mod tests;
