//! Background jobs: delivery, check-ins, summaries, commit-time look-ups and retention. A job is a
//! unit of work given `now` (testable with a fixed clock; due rows are claimed in SQL) that says
//! when it wants to run next; [`Jobs::run`] is the one loop that sleeps, wakes and stops them.
//! To add one: implement [`Job`] beside its unit of work and `jobs.add(...)` it in
//! `startup::Application::build`.

pub mod checkins;
pub mod health;
pub mod retention;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::leases::Lease;

/// Wakes a job early, for example after a request or command queued work for it. A wake while
/// the job is busy is kept and ends its next sleep at once.
#[derive(Clone, Default, Debug)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub async fn woken(&self) {
        self.0.notified().await
    }
}

/// When a job wants to run again, as its run returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// At once: there may be more work.
    Now,
    /// After this long, or sooner when woken.
    After(Duration),
    /// After this long even if woken: the back-off after a failure.
    Backoff(Duration),
}

/// A background job: a name, a unit of work as of `now`, and the handle that wakes it.
pub trait Job: Send + 'static {
    /// For the logs.
    const NAME: &'static str;

    /// Does what is due at `now` and says when to run next. Failures are the job's to log and
    /// to answer with a [`Next::Backoff`] or a later run: nothing here panics.
    fn run(&mut self, now: DateTime<Utc>) -> impl Future<Output = Next> + Send;

    /// What ends this job's sleep early (none: it only runs when due).
    fn wake(&self) -> Option<Wake> {
        None
    }
}

type JobFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The jobs of one running application. They run while [`Jobs::run`] is polled and stop with it.
#[derive(Default)]
pub struct Jobs(Vec<(&'static str, JobFuture)>);

impl Jobs {
    /// A job every replica runs (the lease keeper).
    pub fn add<J: Job>(&mut self, job: J) {
        self.0.push((J::NAME, Box::pin(drive(job, None))));
    }

    /// A job that runs only while this replica holds `lease` (one runner across replicas).
    pub fn add_leased<J: Job>(&mut self, job: J, lease: Lease) {
        self.0.push((J::NAME, Box::pin(drive(job, Some(lease)))));
    }

    /// Runs every job until `stop` is cancelled, then stops them and waits until they have.
    /// Dropping this future stops them too: the tasks live in a `JoinSet`, so an application that
    /// is dropped leaves no job behind.
    pub async fn run(self, stop: CancellationToken) {
        let mut set = tokio::task::JoinSet::new();
        for (name, job) in self.0 {
            set.spawn(async move {
                job.await;
                tracing::warn!(job = name, "job stopped");
            });
        }
        let ended = async { while set.join_next().await.is_some() {} };
        tokio::select! {
            () = stop.cancelled() => {}
            // No jobs (or all ended, which they never do): wait for the stop all the same.
            () = ended => stop.cancelled().await,
        }
        set.shutdown().await;
    }
}

/// The loop around one job: wait for its lease if it has one, run it, then sleep as it asked, or
/// until woken.
async fn drive<J: Job>(mut job: J, mut lease: Option<Lease>) {
    let wake = job.wake();
    loop {
        if let Some(lease) = lease.as_mut() {
            if !lease.held() {
                tracing::debug!(job = J::NAME, lease = lease.name(), "waiting for the lease");
                lease.until_held().await;
                continue;
            }
        }
        match job.run(Utc::now()).await {
            Next::Now => {}
            Next::Backoff(wait) => tokio::time::sleep(wait).await,
            Next::After(wait) => match &wake {
                Some(wake) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = wake.woken() => {}
                    }
                }
                None => tokio::time::sleep(wait).await,
            },
        }
    }
}

/// How long until `at`, as of now (zero if it has passed).
pub fn until(at: DateTime<Utc>) -> Duration {
    (at - Utc::now()).to_std().unwrap_or(Duration::ZERO)
}
