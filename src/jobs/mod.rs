//! Background jobs. A job is a unit of work given `now` (testable with a fixed clock, claims due
//! rows in SQL) plus this module's loop, which owns the sleeping. To add one: write the unit in
//! its own module here and `jobs.add(name, every(...))` it in `startup::Application::build`.

pub mod checkins;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::store::StoreError;

/// Wakes a job early (for example after a command queued work for it).
#[derive(Clone, Default, Debug)]
pub struct JobWake(Arc<Notify>);

impl JobWake {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub async fn woken(&self) {
        self.0.notified().await
    }
}

type JobFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The jobs of one running application. They run while [`Jobs::run`] is polled and stop with it.
#[derive(Default)]
pub struct Jobs(Vec<(&'static str, JobFuture)>);

impl Jobs {
    pub fn add(&mut self, name: &'static str, job: impl Future<Output = ()> + Send + 'static) {
        self.0.push((name, Box::pin(job)));
    }

    /// Runs every job until all end (they normally never do). Dropping this future stops them:
    /// the tasks live in a `JoinSet`, so an application that is stopped leaves no job behind.
    pub async fn run(self) {
        let mut set = tokio::task::JoinSet::new();
        for (name, job) in self.0 {
            set.spawn(async move {
                job.await;
                tracing::warn!(job = name, "job stopped");
            });
        }
        while set.join_next().await.is_some() {}
        // No jobs (or all ended): stay pending so the application is not stopped by it.
        std::future::pending::<()>().await
    }
}

/// The loop around a job's unit of work: runs `unit(now)`, then sleeps until the moment it
/// returned (its next due time), at most `max_sleep`, or until woken. A store error is logged
/// and retried after a second; nothing here panics.
pub async fn every<F, Fut>(name: &'static str, max_sleep: Duration, wake: JobWake, mut unit: F)
where
    F: FnMut(DateTime<Utc>) -> Fut + Send,
    Fut: Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send,
{
    loop {
        let wait = match unit(Utc::now()).await {
            Ok(next) => {
                let until = next
                    .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                    .unwrap_or(max_sleep);
                until.min(max_sleep)
            }
            Err(error) => {
                tracing::error!(job = name, %error, "job failed; retrying in 1s");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.woken() => {}
        }
    }
}
