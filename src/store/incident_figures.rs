//! The summary's incidents section in SQL: incidents opened in the period (alert-opened and
//! declared), their times to acknowledge and to restore, follow-ups opened and closed, and those
//! still open more than 7 days before the period's end. Scoped like every figure (services and
//! environments, and what the reader's server sees).

use chrono::{DateTime, Utc};

use super::ids::time_to_db;
use super::summary_figures::Scope;
use super::visibility::Visible;
use super::{Result, Store};
use crate::domain::incident_review::median;
use crate::domain::incident_summary::{
    FollowupCounts, IncidentSection, StaleFollowup, STALE_FOLLOWUP_DAYS, STALE_LISTED,
};
use crate::domain::period::Period;

const DAY_MS: i64 = 86_400_000;

/// A stale follow-up: id, incident, what, owner id, owner text, opened at.
type StaleRow = (i64, i64, String, Option<i64>, Option<String>, i64);

/// The incident `i` is in the scope's services and environments (`?1`: the scope as JSON pairs;
/// an unset service or environment matches only `*`).
const IN_SCOPE: &str = "exists (select 1 from json_each(?1) p
     where glob(p.value ->> 0, lower(coalesce(i.service, '')))
       and glob(p.value ->> 1, lower(coalesce(i.environment, ''))))";

impl Store {
    /// The incidents section of `period` for `scope`; the stale list is as of the period's end
    /// (or `now`, if that is earlier).
    pub async fn incident_section(
        &self,
        period: &Period,
        scope: &Scope,
        now: DateTime<Utc>,
    ) -> Result<IncidentSection> {
        let (start, end) = (time_to_db(period.start()), time_to_db(period.end()));
        let as_of = end.min(time_to_db(now));
        let pairs = serde_json::json!(scope
            .pairs
            .iter()
            .map(|(s, e)| [s.as_str(), e.as_str()])
            .collect::<Vec<_>>())
        .to_string();
        // Every service and environment: no per-row JSON work (`?1` still bound, and always set).
        let in_scope = if scope.is_all() {
            "?1 is not null"
        } else {
            IN_SCOPE
        };
        let seen = format!("{in_scope} and {}", Visible::of(scope.reader).incident("i"));
        let mut tx = self.pool().begin().await?;
        // Counted and measured in SQL, the values handed over as one JSON array each (integer
        // milliseconds): a row per incident cost more than finding it.
        let (count, to_ack, to_restore): (i64, String, String) = sqlx::query_as(&crate::store::numbered(&format!(
            "select (select count(*) from incident i
                     where i.opened_at >= ?2 and i.opened_at < ?3 and {seen}),
                    (select coalesce(json_group_array(max(0, i.acknowledged_at - i.opened_at)), '[]')
                     from incident i
                     where i.opened_at >= ?2 and i.opened_at < ?3 and i.acknowledged_at is not null
                       and {seen}),
                    (select coalesce(json_group_array(max(0, i.resolved_at - i.opened_at)), '[]')
                     from incident i
                     where i.resolved_at >= ?2 and i.resolved_at < ?3 and {seen})"
        )))
        .bind(&pairs)
        .bind(start)
        .bind(end)
        .fetch_one(&mut *tx)
        .await?;
        let seconds = |json: &str| -> Result<Vec<f64>> {
            let millis: Vec<i64> = serde_json::from_str(json)
                .map_err(|e| super::StoreError::Corrupt(format!("incident times: {e}")))?;
            Ok(millis.into_iter().map(|ms| ms as f64 / 1000.0).collect())
        };
        let (mut to_ack, mut to_restore) = (seconds(&to_ack)?, seconds(&to_restore)?);
        let (opened_followups, closed_followups): (i64, i64) =
            sqlx::query_as(&crate::store::numbered(&format!(
                "select coalesce(sum(f.opened_at >= ?2 and f.opened_at < ?3), 0),
                    coalesce(sum(f.closed_at >= ?2 and f.closed_at < ?3), 0)
             from followup f join incident i on i.id = f.incident_id where {seen}"
            )))
            .bind(&pairs)
            .bind(start)
            .bind(end)
            .fetch_one(&mut *tx)
            .await?;
        // Open at `as_of` (still open, or closed after it) and opened 7 days before it.
        let stale: Vec<StaleRow> = sqlx::query_as(&crate::store::numbered(&format!(
            "select f.id, f.incident_id, f.what, f.owner_id, f.owner_text, f.opened_at
                 from followup f join incident i on i.id = f.incident_id
                 where f.opened_at < ?2 - ?3 and (f.state = 'open' or f.closed_at > ?2) and {seen}
                 order by f.opened_at, f.id"
        )))
        .bind(&pairs)
        .bind(as_of)
        .bind(STALE_FOLLOWUP_DAYS * DAY_MS)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let total = stale.len() as i64;
        Ok(IncidentSection {
            count,
            time_to_acknowledge_median: median(&mut to_ack),
            time_to_restore_median: median(&mut to_restore),
            followups: FollowupCounts {
                opened: opened_followups,
                closed: closed_followups,
            },
            open_older_than_7_days: stale
                .into_iter()
                .take(STALE_LISTED)
                .map(
                    |(id, incident_id, what, owner_id, owner_text, opened_at)| StaleFollowup {
                        id,
                        incident_id,
                        what,
                        owner: match owner_id {
                            Some(id) => format!("<@{}>", super::ids::from_db(id)),
                            None => owner_text.unwrap_or_default(),
                        },
                        age_days: (as_of - opened_at) / DAY_MS,
                    },
                )
                .collect(),
            open_older_than_7_days_total: total,
        })
    }
}
