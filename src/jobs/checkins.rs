//! The check-in job: schedules, cancels, opens and closes post-release check-ins.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{until, Job, Next, Wake};
use crate::domain::checkin::CheckinSettings;
use crate::store::{CheckinRun, Store, StoreError};

pub struct CheckinJob {
    pub store: Store,
    pub settings: CheckinSettings,
    /// When this process started: a check-in due before it fell due while the bot was down.
    pub started_at: DateTime<Utc>,
    /// Wakes this job (`/checkin` queued one).
    pub wake: Wake,
    /// Wakes the delivery job when a run queued messages.
    pub delivery: Wake,
    /// Deploy status changes up to this id have been considered for scheduling (0: none yet, so
    /// the first run looks at every deploy still within the check-in horizon).
    pub considered_through: i64,
    /// Release health from Prometheus; None: check-ins are asked without it.
    pub health: Option<super::health::HealthCheck>,
}

impl CheckinJob {
    /// One unit of work as of `now` (see [`Store::run_checkins`]), after reading the release
    /// health of the check-ins now due; wakes the delivery worker when it queued messages.
    pub async fn run_due(&mut self, now: DateTime<Utc>) -> Result<CheckinRun, StoreError> {
        if let Some(health) = &self.health {
            health.read_due(&self.store, now).await?;
        }
        let run = self
            .store
            .run_checkins_after_health(
                &self.settings,
                now,
                self.started_at,
                self.considered_through,
                self.health.is_some(),
            )
            .await?;
        self.considered_through = run.considered_through;
        if run.queued_messages() {
            tracing::info!(
                opened = run.opened.len(),
                closed = run.closed.len(),
                cancelled = run.cancelled.len(),
                "check-ins queued"
            );
            self.delivery.wake();
        }
        Ok(run)
    }
}

impl Job for CheckinJob {
    const NAME: &'static str = "checkins";

    /// Runs again when the next check-in falls due, at the latest after the settings' tick.
    async fn run(&mut self, now: DateTime<Utc>) -> Next {
        let tick = self.settings.tick;
        let next = match self.run_due(now).await {
            Ok(_) => self.store.next_checkin_at().await,
            Err(error) => Err(error),
        };
        match next {
            Ok(next) => Next::After(next.map(until).unwrap_or(tick).min(tick)),
            Err(error) => {
                tracing::error!(job = Self::NAME, %error, "job failed; retrying in 1s");
                Next::After(Duration::from_secs(1))
            }
        }
    }

    fn wake(&self) -> Option<Wake> {
        Some(self.wake.clone())
    }
}
