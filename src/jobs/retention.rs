//! The retention job: prunes at start and then once a day (see [`Store::prune`]).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{Job, Next};
use crate::metrics::Metrics;
use crate::production;
use crate::store::Store;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

pub struct RetentionJob {
    pub store: Store,
    pub retention_days: u32,
    pub metrics: Metrics,
}

impl Job for RetentionJob {
    const NAME: &'static str = "retention";

    /// Every table is tried on every pass; one that failed is logged and counted
    /// (`loopbot_retention_failures_total`) and tried again the next day with the others.
    async fn run(&mut self, now: DateTime<Utc>) -> Next {
        let started = Instant::now();
        let pruned = production::prune(&self.store, now, self.retention_days).await;
        for table in &pruned.tables {
            self.metrics
                .retention_table(table.table, table.rows, table.error.is_some());
            if let Some(error) = &table.error {
                tracing::error!(
                    table = table.table,
                    rows = table.rows,
                    %error,
                    "retention could not prune this table; the others were pruned, next try tomorrow"
                );
            }
        }
        let failed = pruned.failures().count();
        self.metrics.set_retention_run(now);
        tracing::info!(
            rows = pruned.total(),
            failed_tables = failed,
            retention_days = self.retention_days,
            took_ms = started.elapsed().as_millis() as u64,
            "retention pass done"
        );
        // A day from the start of this pass, as a daily interval would.
        Next::After(DAY.saturating_sub(started.elapsed()))
    }
}
