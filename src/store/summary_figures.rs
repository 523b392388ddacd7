//! The summary computation: every figure of a summary in SQL over indexed tables, for a period
//! and a scope (the scheduled summaries' record is `summaries.rs`).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::dora::{self, BindScope, AT};
use super::ids::{from_db, time_to_db, try_time_from_db, Flag};
use super::visibility::Visible;
use super::{Backend, Result, Store, StoreError};
use crate::domain::deploy::DeployStatus;
use crate::domain::period::Period;
use crate::domain::production::Environments;
use crate::domain::subscription::Pattern;
use crate::domain::summary::{AlertFigures, CheckinFigures, Comment, Counts, Figures};
use crate::domain::visibility::Reader;

/// Which deploys a summary covers: any of these (service glob, environment glob) pairs, among
/// what `reader` may read (`domain::visibility`). Patterns are lowercase globs (`*`, `?`),
/// matched case-insensitively like subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub pairs: Vec<(String, String)>,
    pub reader: Reader,
}

impl Scope {
    pub fn all() -> Self {
        Self {
            pairs: vec![("*".into(), "*".into())],
            reader: Reader::Operator,
        }
    }

    pub fn of(service: &Pattern, environment: &Pattern) -> Self {
        Self {
            pairs: vec![(service.as_str().to_owned(), environment.as_str().to_owned())],
            reader: Reader::Operator,
        }
    }

    /// The same scope, as `reader` may read it.
    pub fn read_by(self, reader: Reader) -> Self {
        Self { reader, ..self }
    }

    pub fn is_all(&self) -> bool {
        self.pairs.iter().any(|(s, e)| s == "*" && e == "*")
    }

    /// `service/environment` for each pair, as the outputs show the scope.
    pub fn describe(&self) -> Vec<String> {
        self.pairs.iter().map(|(s, e)| format!("{s}/{e}")).collect()
    }

    pub(super) fn json(&self) -> String {
        json!(self
            .pairs
            .iter()
            .map(|(s, e)| [s.as_str(), e.as_str()])
            .collect::<Vec<_>>())
        .to_string()
    }
}

/// The row (alias `d`, `a`, ...) is in the scope bound as a JSON array of [service, environment]
/// globs; "true" (and nothing bound) when the scope is everything, the common case, which saves a
/// JSON scan per row. Nullable columns (alerts, incidents) match only `*` when unset.
pub(super) fn scope_sql(filtered: bool, alias: &str) -> String {
    if !filtered {
        return "true".to_owned();
    }
    format!(
        "exists (select 1 from json_each(?) scope_glob
         where glob(scope_glob.value ->> 0, lower(coalesce({alias}.service, '')))
           and glob(scope_glob.value ->> 1, lower(coalesce({alias}.environment, ''))))"
    )
}

/// A deploy status as the figures' queries return it; one loopbot does not know is corrupt.
fn status_of(raw: &str) -> Result<DeployStatus> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("deploy status {raw:?}")))
}
/// The index of the local day holding `expression` (a UTC ms instant known to be inside the
/// period), as a CASE over the day ends: DST-safe, as the ends come from the zone, and computed
/// without per-row JSON work. The values are integers this code made, not user input.
pub(super) fn day_case(
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

/// The median in seconds of a JSON array of integer milliseconds, each divided as SQLite's
/// `ms / 1000.0` does (the same IEEE division), so the figure equals the SQL median's.
fn median_of_millis(json: &str, what: &str) -> Result<Option<f64>> {
    let mut seconds: Vec<f64> = serde_json::from_str::<Vec<i64>>(json)
        .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))?
        .into_iter()
        .map(|ms| ms as f64 / 1000.0)
        .collect();
    Ok(crate::domain::incident_review::median(&mut seconds))
}

/// A comment cut to fit a summary line, on one line, without markdown link brackets.
pub(super) fn cut_comment(text: &str) -> String {
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

/// A feedback comment as the summary's comment query selects it.
#[derive(sqlx::FromRow)]
pub(super) struct CommentRow {
    user_name: String,
    sentiment: Option<i64>,
    body: String,
    given_at: i64,
    guild_id: Option<i64>,
    channel_id: Option<i64>,
    message_id: Option<i64>,
}

impl TryFrom<CommentRow> for Comment {
    type Error = StoreError;

    fn try_from(row: CommentRow) -> Result<Self> {
        let sentiment = match row.sentiment {
            None => None,
            Some(s @ -1..=1) => Some(s as i8),
            Some(other) => return Err(StoreError::Corrupt(format!("feedback sentiment {other}"))),
        };
        let link = match (row.channel_id, row.message_id) {
            (Some(c), Some(m)) => Some(format!(
                "https://discord.com/channels/{}/{}/{}",
                row.guild_id
                    .map_or("@me".to_owned(), |g| from_db(g).to_string()),
                from_db(c),
                from_db(m)
            )),
            _ => None,
        };
        Ok(Comment {
            user: row.user_name,
            sentiment,
            text: cut_comment(&row.body),
            given_at: try_time_from_db(row.given_at)?,
            link,
        })
    }
}

/// Where a summary's figures are read from: the per-day rollups (`rollups.rs`, the default), or
/// every row of the period (the reference the rollups are held to, kept for the benchmark and the
/// property test). A server's reader always reads rows: what a server may read is decided per
/// deploy and per answer (`domain::visibility`), which no per-day sum can know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    Rollups,
    Rows,
}

impl Store {
    /// Every figure of `period` for `scope`, in one read transaction; the four keys count the
    /// deploys to `production`.
    /// Without `details` (the previous period, only compared against), the per-day counts, the
    /// comments and the alert section's parts a summary does not compare (counts by name, noise,
    /// still firing, incidents opened) are skipped.
    pub async fn summary_figures(
        &self,
        period: &Period,
        scope: &Scope,
        production: &Environments,
        details: bool,
    ) -> Result<Figures> {
        self.summary_figures_from(ReadFrom::Rollups, period, scope, production, details)
            .await
    }

    /// [`Store::summary_figures`], read as `reading` says.
    pub async fn summary_figures_from(
        &self,
        reading: ReadFrom,
        period: &Period,
        scope: &Scope,
        production: &Environments,
        details: bool,
    ) -> Result<Figures> {
        match (reading, scope.reader) {
            (ReadFrom::Rollups, Reader::Operator) => {
                self.summary_figures_rollups(period, scope, production, details)
                    .await
            }
            _ => {
                self.summary_figures_rows(period, scope, production, details)
                    .await
            }
        }
    }

    /// Every figure from the rows of the period. Without `details`, the per-day counts and the
    /// comments get a constant false condition, which SQLite evaluates once instead of scanning.
    async fn summary_figures_rows(
        &self,
        period: &Period,
        scope: &Scope,
        production: &Environments,
        details: bool,
    ) -> Result<Figures> {
        let wanted = if details { "true" } else { "false" };
        let (start, end) = (time_to_db(period.start()), time_to_db(period.end()));
        let reader = scope.reader;
        let scope = (!scope.is_all()).then(|| scope.json());
        let scope = scope.as_deref();
        let in_scope_d = scope_sql(scope.is_some(), "d");
        let visible = Visible::of(reader);
        let seen_d = visible.deploy("d");
        let mut tx = self.pool().begin().await?;
        let mut figures = Figures::default();
        let (has_alerts, has_checkins) = self.optional_tables(&mut tx).await?;
        let production_d = dora::production_sql("d", production);
        let deploys = dora::Deploys {
            start,
            end,
            scope,
            conditions: format!("{in_scope_d} and {seen_d} and {production_d}"),
            has_alerts,
        };

        let rows: Vec<(String, String, String, i64)> =
            sqlx::query_as(&crate::store::numbered(&format!(
                "select d.service, d.environment, d.status, count(*) as n from deploy d
             where {AT} >= ? and {AT} < ? and {in_scope_d} and {seen_d}
             group by d.service, d.environment, d.status
             order by d.service, d.environment"
            )))
            .bind(start)
            .bind(end)
            .bind_scope(scope)
            .fetch_all(&mut *tx)
            .await?;
        for (service, environment, status, n) in rows {
            let status = status_of(&status)?;
            match figures.by_service.last_mut() {
                Some((s, e, counts)) if *s == service && *e == environment => counts.add(status, n),
                _ => {
                    let mut counts = Counts::default();
                    counts.add(status, n);
                    figures.by_service.push((service, environment, counts));
                }
            }
        }

        figures.production = dora::production_counts(&mut tx, &deploys).await?;
        (figures.recovery_time_median, figures.recoveries) =
            dora::recovery_time(&mut tx, &deploys).await?;
        let lead = dora::lead_time(&mut tx, &deploys, production).await?;
        (figures.lead_time_median, figures.lead_time_p90) =
            crate::domain::lead_time::median_and_p90(&lead.sorted);
        figures.lead_time_count = lead.sorted.len() as i64;
        figures.lead_time_deploys = lead.deploys_measured;
        figures.lacking_commit_time = lead.deploys_lacking;

        figures.daily = vec![(0, 0, 0, 0); period.days().len()];
        // One range scan over the period (indexed); each row finds its local day among the
        // period's day starts (DST-safe, as the days come from the zone).
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(&crate::store::numbered(&format!(
            "select {day_of} as day, d.status, count(*)
             from deploy d
             where {wanted} and {AT} >= ? and {AT} < ? and {in_scope_d} and {seen_d}
             group by day, d.status",
            day_of = day_case(&period.days(), AT)
        )))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_all(&mut *tx)
        .await?;
        for (i, status, n) in rows {
            let status = status_of(&status)?;
            if let Some(day) = figures.daily.get_mut(i as usize) {
                match status {
                    DeployStatus::Succeeded => day.0 += n,
                    DeployStatus::Failed => day.1 += n,
                    DeployStatus::RolledBack => day.2 += n,
                    DeployStatus::Started => {}
                }
            }
        }
        if has_alerts {
            Self::alert_figures(
                &mut tx,
                start,
                end,
                (scope, visible),
                &period.days(),
                details,
                &mut figures,
            )
            .await?;
        }
        if has_checkins {
            figures.checkins =
                Some(Self::checkin_figures(&mut tx, start, end, (scope, visible), wanted).await?);
        }
        tx.commit().await?;
        Ok(figures)
    }

    /// Whether the alert tables and the check-in tables exist in this database. Once both are
    /// seen, the answer is remembered (a later schema only adds tables).
    pub(super) async fn optional_tables(
        &self,
        conn: &mut sqlx::AnyConnection,
    ) -> Result<(bool, bool)> {
        use std::sync::atomic::Ordering;
        // PostgreSQL's schema is created whole by its one migration.
        if self.optional_tables_seen.load(Ordering::Relaxed) || self.backend == Backend::Postgres {
            return Ok((true, true));
        }
        let (alerts, checkins): (Flag, Flag) = sqlx::query_as(
            "select
                 (select count(*) from sqlite_master where type = 'table'
                  and name in ('alert_group', 'alert', 'incident', 'alert_deploy_link')) = 4,
                 (select count(*) from sqlite_master where type = 'table'
                  and name in ('checkin', 'feedback')) = 2",
        )
        .fetch_one(&mut *conn)
        .await?;
        let found = (alerts.0, checkins.0);
        if found == (true, true) {
            self.optional_tables_seen.store(true, Ordering::Relaxed);
        }
        Ok(found)
    }

    pub(super) async fn alert_figures(
        tx: &mut sqlx::AnyConnection,
        start: i64,
        end: i64,
        (scope, visible): (Option<&str>, Visible),
        days: &[(chrono::NaiveDate, DateTime<Utc>, DateTime<Utc>)],
        details: bool,
        figures: &mut Figures,
    ) -> Result<()> {
        let alert_scope = scope_sql(scope.is_some(), "a");
        let incident_scope = scope_sql(scope.is_some(), "i");
        let group_scope = scope_sql(scope.is_some(), "g");
        let (seen_a, seen_i) = (
            visible.in_group("a.group_id"),
            visible.in_group("i.group_id"),
        );
        let seen_g = visible.alert_group("g");
        // Time to restore: incidents resolved in the period, opened → resolved; the values as one
        // JSON array of integer milliseconds, the median taken here (as for acknowledgements).
        let restored: String = sqlx::query_scalar(&crate::store::numbered(&format!(
            "select coalesce(json_group_array(i.resolved_at - i.opened_at), '[]') from incident i
             where i.resolved_at >= ? and i.resolved_at < ? and {incident_scope} and {seen_i}"
        )))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_one(&mut *tx)
        .await?;
        figures.time_to_restore_median = median_of_millis(&restored, "times to restore")?;
        let mut alerts = AlertFigures::default();
        if !details {
            // Compared against only: the count and the time to acknowledge are all that is read.
            alerts.count = sqlx::query_scalar(&crate::store::numbered(&format!(
                "select count(*) from alert a
                 where a.starts_at >= ? and a.starts_at < ? and {alert_scope} and {seen_a}"
            )))
            .bind(start)
            .bind(end)
            .bind_scope(scope)
            .fetch_one(&mut *tx)
            .await?;
            alerts.time_to_acknowledge_median =
                Self::acknowledge_median(tx, (start, end), (scope, visible)).await?;
            figures.alerts = Some(alerts);
            return Ok(());
        }
        let rows: Vec<(String, i64)> = sqlx::query_as(&crate::store::numbered(&format!(
            "select a.name, count(*) as n from alert a
             where a.starts_at >= ? and a.starts_at < ? and {alert_scope} and {seen_a}
             group by a.name order by n desc, a.name"
        )))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_all(&mut *tx)
        .await?;
        alerts.count = rows.iter().map(|(_, n)| n).sum();
        alerts.noisiest =
            Self::noisiest_alerts(&mut *tx, (start, end), (scope, visible), &rows).await?;
        alerts.time_to_acknowledge_median =
            Self::acknowledge_median(tx, (start, end), (scope, visible)).await?;
        alerts.still_firing = sqlx::query_scalar(&crate::store::numbered(&format!(
            "select count(*) from alert_group g
             where g.status = 'firing' and {group_scope} and {seen_g}"
        )))
        .bind_scope(scope)
        .fetch_one(&mut *tx)
        .await?;
        alerts.incidents_opened = sqlx::query_scalar(&crate::store::numbered(&format!(
            "select count(*) from incident i
             where i.opened_at >= ? and i.opened_at < ? and {incident_scope} and {seen_i}"
        )))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_one(&mut *tx)
        .await?;
        let rows: Vec<(i64, i64)> = sqlx::query_as(&crate::store::numbered(&format!(
            "select {day_of} as day, count(*)
             from alert a
             where a.starts_at >= ? and a.starts_at < ? and {alert_scope} and {seen_a}
             group by day",
            day_of = day_case(days, "a.starts_at")
        )))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_all(&mut *tx)
        .await?;
        for (i, n) in rows {
            if let Some(day) = figures.daily.get_mut(i as usize) {
                day.3 += n;
            }
        }
        figures.alerts = Some(alerts);
        Ok(())
    }

    /// Median seconds from first firing to acknowledgement over the alert groups that first
    /// fired in `[start, end)` and were acknowledged.
    async fn acknowledge_median(
        tx: &mut sqlx::AnyConnection,
        (start, end): (i64, i64),
        (scope, visible): (Option<&str>, Visible),
    ) -> Result<Option<f64>> {
        let group_scope = scope_sql(scope.is_some(), "g");
        let seen_g = visible.alert_group("g");
        // The values as one JSON array of integer milliseconds, the median taken here: a period's
        // alert groups are many, and SQLite's window sort cost more than the rest of the figure.
        let acked: String = sqlx::query_scalar(&crate::store::numbered(&format!(
            "select coalesce(json_group_array(max(0, g.acked_at - g.first_fired_at)), '[]')
             from alert_group g
             where g.first_fired_at >= ? and g.first_fired_at < ? and g.acked_at is not null
               and {group_scope} and {seen_g}"
        )))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_one(&mut *tx)
        .await?;
        median_of_millis(&acked, "times to acknowledge")
    }

    async fn checkin_figures(
        tx: &mut sqlx::AnyConnection,
        start: i64,
        end: i64,
        (scope, visible): (Option<&str>, Visible),
        wanted: &str,
    ) -> Result<CheckinFigures> {
        let mut checkins = CheckinFigures::default();
        let in_scope_d = scope_sql(scope.is_some(), "d");
        let (seen_c, seen_f) = (visible.checkin("c"), visible.feedback("f"));
        // The deploy is needed only to test the scope.
        let join_deploy = if scope.is_some() {
            "join deploy d on d.id = f.deploy_id"
        } else {
            ""
        };
        // Asked: check-ins opened in the period about deploys in scope; answered: with at least
        // one answer that still counts.
        (checkins.asked, checkins.answered) = sqlx::query_as(&crate::store::numbered(&format!(
            "select count(*),
                    coalesce(sum(exists (select 1 from feedback f
                                         where f.checkin_id = c.id and f.retracted_at is null)), 0)
             from checkin c join deploy d on d.id = c.deploy_id
             where c.state in ('open', 'closed') and c.opened_at >= ? and c.opened_at < ?
               and {in_scope_d} and {seen_c}"
        )))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_one(&mut *tx)
        .await?;
        (checkins.positive, checkins.neutral, checkins.negative) =
            sqlx::query_as(&crate::store::numbered(&format!(
                "select coalesce(sum(f.sentiment = 1), 0), coalesce(sum(f.sentiment = 0), 0),
                    coalesce(sum(f.sentiment = -1), 0)
             from feedback f {join_deploy}
             where f.retracted_at is null and f.given_at >= ? and f.given_at < ? and {in_scope_d}
               and {seen_f}"
            )))
            .bind(start)
            .bind(end)
            .bind_scope(scope)
            .fetch_one(&mut *tx)
            .await?;
        let rows: Vec<CommentRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select f.user_name, f.sentiment, f.body, f.given_at, f.guild_id, f.channel_id, f.message_id
             from feedback f {join_deploy}
             where {wanted} and f.retracted_at is null and f.body is not null and trim(f.body) <> ''
               and f.given_at >= ? and f.given_at < ? and {in_scope_d} and {seen_f}
             order by coalesce(f.sentiment = -1, false) desc, f.given_at desc, f.id desc
             limit 5"
        )))
        .bind(start)
        .bind(end)
        .bind_scope(scope)
        .fetch_all(&mut *tx)
        .await?;
        checkins.comments = rows
            .into_iter()
            .map(Comment::try_from)
            .collect::<Result<_>>()?;
        Ok(checkins)
    }

    /// The sections this database cannot compute yet because their tables do not exist.
    pub async fn summary_unavailable_sections(&self) -> Result<Vec<String>> {
        // Alerts, incidents and check-ins come with their own migrations; a database without
        // them says so instead of showing zeros.
        let mut conn = self.pool().acquire().await?;
        let (alerts, checkins) = self.optional_tables(&mut conn).await?;
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
}

#[cfg(test)]
#[path = "summary_figures_tests.rs"]
mod tests;
