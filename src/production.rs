//! Running in production: the stop signal and what a clean stop does, and one retention pass
//! (the daily job is `jobs::retention`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::discord::delivery::DeliveryWorker;
use crate::metrics::Metrics;
use crate::store::{Pruned, Store};

/// Asks a running application to stop cleanly (what SIGTERM/SIGINT do in `main`).
#[derive(Clone, Debug, Default)]
pub struct ShutdownHandle(CancellationToken);

impl ShutdownHandle {
    pub fn trigger(&self) {
        self.0.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }

    pub async fn triggered(&self) {
        self.0.cancelled().await
    }

    pub fn token(&self) -> CancellationToken {
        self.0.clone()
    }
}

/// The production settings and handles the application carries.
#[derive(Clone, Debug)]
pub struct Production {
    pub shutdown: ShutdownHandle,
    pub grace: Duration,
    pub retention_days: u32,
    pub metrics: Metrics,
}

/// The oldest moment retention keeps, as of `now`.
pub fn retention_cutoff(now: DateTime<Utc>, retention_days: u32) -> DateTime<Utc> {
    now - chrono::Duration::days(i64::from(retention_days))
}

/// One retention pass as of `now`; each table's outcome (and error) is in the answer.
pub async fn prune(store: &Store, now: DateTime<Utc>, retention_days: u32) -> Pruned {
    store.prune(retention_cutoff(now, retention_days)).await
}

/// The clean stop, once the HTTP server was told to stop accepting: let in-flight requests
/// finish, let the outbox drain for up to `grace`, then (the caller) closes the gateway.
pub async fn finish(
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    worker: Option<&DeliveryWorker>,
    grace: Duration,
) {
    let started = tokio::time::Instant::now();
    if !server.is_finished() {
        match tokio::time::timeout(grace, server).await {
            Ok(_) => tracing::info!("HTTP server stopped; in-flight requests finished"),
            Err(_) => {
                tracing::warn!("in-flight HTTP requests did not finish within the grace period")
            }
        }
    }
    // Only the replica holding the outbox's lease drains it; another's rows are its holder's.
    let Some(worker) = worker else {
        return;
    };
    let left = grace.saturating_sub(started.elapsed());
    let pending = worker.drain(left).await;
    if pending == 0 {
        tracing::info!("outbox drained");
    } else {
        tracing::warn!(
            pending,
            "outbox not empty at the end of the grace period; it resumes on the next start"
        );
    }
}
