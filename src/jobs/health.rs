//! Release health for the check-in job (issue 16): before a due check-in is asked, every health
//! query is read at its deploy's start (before) and now (after), and the values are stored; the
//! check-in is then asked with them. Prometheus down or a query failing never holds a check-in
//! back: the value is stored as unavailable, with a log line and a metric saying why.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::config::HealthSettings;
use crate::domain::health::{
    substitute, Failure, HealthDue, HealthQuery, HealthReading, Reading, Unavailable,
};
use crate::integrations::prometheus::Prometheus;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Check-ins read per run of the job; the rest are read by the next run, which comes at once.
const PER_RUN: i64 = 32;

pub struct HealthCheck {
    prometheus: Prometheus,
    queries: Vec<HealthQuery>,
    tolerance: f64,
    metrics: Metrics,
}

impl HealthCheck {
    /// None when no Prometheus or no query is configured: check-ins are asked without health.
    pub fn new(settings: &HealthSettings, metrics: Metrics) -> Option<Self> {
        if !settings.enabled() {
            return None;
        }
        let prometheus = Prometheus::new(settings.prometheus_url.as_deref()?, settings.timeout)?;
        Some(Self {
            prometheus,
            queries: settings.queries.clone(),
            tolerance: settings.tolerance,
            metrics,
        })
    }

    /// Reads and stores the health of the check-ins due at `now` that have none yet; returns how
    /// many. Only the store can fail it: what Prometheus does is stored as values or reasons.
    pub async fn read_due(&self, store: &Store, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let due = store.checkins_awaiting_health(now, PER_RUN).await?;
        let count = due.len();
        // One release read once, however many channels ask about it at the same time.
        let mut releases: BTreeMap<i64, (HealthDue, Vec<i64>)> = BTreeMap::new();
        for due in due {
            let checkin = due.checkin_id;
            releases
                .entry(due.deploy_id)
                .or_insert_with(|| (due, Vec::new()))
                .1
                .push(checkin);
        }
        // Once Prometheus proved out of reach, the rest of this run does not wait for it again.
        let mut outage: Option<Unavailable> = None;
        for (release, checkins) in releases.into_values() {
            let readings = self.read(&release, now, outage).await;
            let all_out = readings.iter().all(|r| {
                [r.before, r.after]
                    .iter()
                    .all(|v| v.is_err_and(Unavailable::is_outage))
            });
            if all_out {
                outage = readings.first().and_then(|r| r.after.err());
            }
            store.record_health(&checkins, &readings, now).await?;
        }
        Ok(count)
    }

    /// Every query of one release, before and after, all at once (each bounded by the timeout).
    async fn read(
        &self,
        release: &HealthDue,
        now: DateTime<Utc>,
        outage: Option<Unavailable>,
    ) -> Vec<HealthReading> {
        let mut asks = tokio::task::JoinSet::new();
        for (index, query) in self.queries.iter().enumerate() {
            let promql = substitute(&query.promql, &release.service, &release.environment);
            for (after, at) in [(false, release.started_at), (true, now)] {
                let prometheus = self.prometheus.clone();
                let promql = promql.clone();
                asks.spawn(async move {
                    let value = match outage {
                        Some(reason) => Err(Failure::new(
                            reason,
                            "not asked: Prometheus was out of reach earlier in this run",
                        )),
                        None => prometheus.query(&promql, at).await,
                    };
                    (index, after, value)
                });
            }
        }
        let mut values: BTreeMap<(usize, bool), Reading> = BTreeMap::new();
        while let Some(done) = asks.join_next().await {
            let (index, after, value) = done.unwrap_or_else(|e| {
                // A panicked request task: say so rather than lose the check-in.
                (
                    usize::MAX,
                    false,
                    Err(Failure::new(Unavailable::BadAnswer, e.to_string())),
                )
            });
            let Some(query) = self.queries.get(index) else {
                continue;
            };
            values.insert(
                (index, after),
                value.map_err(|failure| {
                    self.report(
                        release,
                        query,
                        if after { "after" } else { "before" },
                        &failure,
                    );
                    failure.reason
                }),
            );
        }
        self.queries
            .iter()
            .enumerate()
            .map(|(index, query)| {
                let value = |after| {
                    values
                        .get(&(index, after))
                        .copied()
                        .unwrap_or(Err(Unavailable::BadAnswer))
                };
                HealthReading {
                    name: query.name.clone(),
                    higher_is_better: query.higher_is_better,
                    tolerance: self.tolerance,
                    before_at: release.started_at,
                    before: value(false),
                    after_at: now,
                    after: value(true),
                }
            })
            .collect()
    }

    fn report(&self, release: &HealthDue, query: &HealthQuery, when: &str, failure: &Failure) {
        self.metrics
            .health_query_failed(&query.name, failure.reason.as_str());
        tracing::warn!(
            deploy_id = release.deploy_id,
            service = %release.service,
            query = %query.name,
            when,
            reason = failure.reason.as_str(),
            detail = %failure.detail,
            "release health unavailable"
        );
    }
}
