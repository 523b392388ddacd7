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

    /// A failed pass is tried again the next day, like a successful one.
    async fn run(&mut self, now: DateTime<Utc>) -> Next {
        let started = Instant::now();
        match production::prune(&self.store, now, self.retention_days).await {
            Ok(pruned) => {
                self.metrics.set_retention_run(now);
                tracing::info!(
                    ?pruned,
                    retention_days = self.retention_days,
                    "retention pass done"
                );
            }
            Err(error) => tracing::error!(%error, "retention pass failed; next try tomorrow"),
        }
        // A day from the start of this pass, as a daily interval would.
        Next::After(DAY.saturating_sub(started.elapsed()))
    }
}
