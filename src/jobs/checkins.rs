//! The check-in job: schedules, cancels, opens and closes post-release check-ins.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::{every, JobWake};
use crate::domain::checkin::CheckinSettings;
use crate::runtime::OutboxWake;
use crate::store::{CheckinRun, Store, StoreError};

pub struct CheckinJob {
    pub store: Store,
    pub settings: CheckinSettings,
    /// When this process started: a check-in due before it fell due while the bot was down.
    pub started_at: DateTime<Utc>,
    pub outbox: OutboxWake,
    /// Deploy status changes up to this id have been considered for scheduling (0: none yet, so
    /// the first run looks at every deploy still within the check-in horizon).
    pub considered_through: std::sync::atomic::AtomicI64,
}

impl CheckinJob {
    /// One unit of work as of `now` (see [`Store::run_checkins`]); wakes the delivery worker
    /// when it queued messages.
    pub async fn run(&self, now: DateTime<Utc>) -> Result<CheckinRun, StoreError> {
        let run = self
            .store
            .run_checkins(
                &self.settings,
                now,
                self.started_at,
                self.considered_through.load(Ordering::Relaxed),
            )
            .await?;
        self.considered_through
            .store(run.considered_through, Ordering::Relaxed);
        if run.queued_messages() {
            tracing::info!(
                opened = run.opened.len(),
                closed = run.closed.len(),
                cancelled = run.cancelled.len(),
                "check-ins queued"
            );
            self.outbox.wake();
        }
        Ok(run)
    }

    /// Runs forever (see [`every`]).
    pub async fn run_forever(self, wake: JobWake) {
        let tick = self.settings.tick;
        let job = &self;
        every("checkins", tick, wake, move |now| async move {
            job.run(now).await?;
            job.store.next_checkin_at().await
        })
        .await
    }
}
