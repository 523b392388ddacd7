//! Which replica does the work that must happen once. Every replica serves HTTP; a job, the
//! outbox's delivery and each gateway shard run on the one replica holding its lease (a row in
//! the `lease` table). [`LeaseKeeper`] is the job that takes and renews this replica's leases
//! every quarter of `LOOPBOT_LEASE_TTL`; a replica that dies stops renewing and another takes its
//! leases once they expire. With one replica it holds every lease from its first tick.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::jobs::{Job, Next};
use crate::metrics::Metrics;
use crate::store::Store;

/// The outbox's delivery: one replica drains it, so a channel's order holds.
pub const OUTBOX: &str = "outbox";

/// The lease of a job (one runner across replicas).
pub fn job_lease(job: &str) -> String {
    format!("job:{job}")
}

/// The lease of gateway shard `shard` of `shards`.
pub fn shard_lease(shard: u32, shards: u32) -> String {
    format!("gateway:shard:{shard}/{shards}")
}

/// This replica's leases: which it wants and, for each, until when it may act on it.
#[derive(Clone, Debug)]
pub struct Leases(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    replica: String,
    ttl: Duration,
    /// Per lease: `Some(deadline)` while held. The deadline is a little before the stored expiry,
    /// measured on this replica's monotonic clock from before the renewal was sent, so a replica
    /// whose keeper stalls stops acting before another may take over.
    wanted: Mutex<BTreeMap<String, watch::Sender<Option<Instant>>>>,
}

/// One lease as a worker sees it.
#[derive(Clone, Debug)]
pub struct Lease {
    name: Arc<str>,
    held: watch::Receiver<Option<Instant>>,
}

impl Lease {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this replica may do the lease's work now.
    pub fn held(&self) -> bool {
        matches!(*self.held.borrow(), Some(until) if until > Instant::now())
    }

    /// Waits until this replica holds the lease.
    pub async fn until_held(&mut self) {
        while !self.held() {
            // The keeper says when it changes; the timeout also notices a lapsed deadline.
            let _ = tokio::time::timeout(Duration::from_secs(1), self.held.changed()).await;
        }
    }

    /// Waits until this replica no longer holds the lease.
    pub async fn until_lost(&mut self) {
        while self.held() {
            let _ = tokio::time::timeout(Duration::from_millis(500), self.held.changed()).await;
        }
    }
}

impl Leases {
    pub fn new(replica: String, ttl: Duration) -> Self {
        Self(Arc::new(Inner {
            replica,
            ttl,
            wanted: Mutex::new(BTreeMap::new()),
        }))
    }

    pub fn replica(&self) -> &str {
        &self.0.replica
    }

    pub fn ttl(&self) -> Duration {
        self.0.ttl
    }

    /// The lease `name`, which the keeper now takes and renews for this replica.
    pub fn lease(&self, name: &str) -> Lease {
        let mut wanted = self.0.wanted.lock().unwrap_or_else(|e| e.into_inner());
        let sender = wanted
            .entry(name.to_owned())
            .or_insert_with(|| watch::channel(None).0);
        Lease {
            name: name.into(),
            held: sender.subscribe(),
        }
    }

    /// The leases this replica holds now, by name (for `/readyz`).
    pub fn held(&self) -> Vec<String> {
        let now = Instant::now();
        self.entries()
            .into_iter()
            .filter(|(_, sender)| matches!(*sender.borrow(), Some(until) if until > now))
            .map(|(name, _)| name)
            .collect()
    }

    fn entries(&self) -> Vec<(String, watch::Sender<Option<Instant>>)> {
        let wanted = self.0.wanted.lock().unwrap_or_else(|e| e.into_inner());
        wanted
            .iter()
            .map(|(name, sender)| (name.clone(), sender.clone()))
            .collect()
    }

    /// Gives every held lease up (a clean stop), so another replica takes over at once.
    pub async fn release_all(&self, store: &Store, metrics: &Metrics) {
        for (name, sender) in self.entries() {
            if sender.borrow().is_none() {
                continue;
            }
            sender.send_replace(None);
            match store.release_lease(&name, &self.0.replica).await {
                Ok(()) => {
                    metrics.lease_changed(&name, "released");
                    tracing::info!(lease = %name, "lease released");
                }
                Err(error) => tracing::warn!(%error, lease = %name, "could not release a lease"),
            }
        }
    }
}

/// The job that takes and renews this replica's leases.
pub struct LeaseKeeper {
    pub leases: Leases,
    pub store: Store,
    pub metrics: Metrics,
}

impl LeaseKeeper {
    /// One round: try to take or renew each wanted lease as of `now`.
    pub async fn renew(&self, now: DateTime<Utc>) {
        let ttl = self.leases.ttl();
        let term = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(10));
        for (name, sender) in self.leases.entries() {
            let asked = Instant::now();
            let held = match self
                .store
                .take_lease(&name, self.leases.replica(), now, now + term)
                .await
            {
                // Act for at most 3/4 of the term from before the write: a margin for clocks
                // and a slow commit.
                Ok(true) => Some(asked + ttl.mul_f64(0.75)),
                Ok(false) => None,
                Err(error) => {
                    // Unknown: keep acting until the current deadline runs out, no longer.
                    tracing::warn!(%error, lease = %name, "could not renew a lease");
                    continue;
                }
            };
            let was = sender.borrow().is_some();
            sender.send_replace(held);
            match (was, held.is_some()) {
                (false, true) => {
                    self.metrics.lease_changed(&name, "acquired");
                    tracing::info!(lease = %name, replica = %self.leases.replica(), "lease acquired");
                }
                (true, false) => {
                    self.metrics.lease_changed(&name, "lost");
                    tracing::warn!(lease = %name, replica = %self.leases.replica(), "lease lost to another replica");
                }
                _ => {}
            }
        }
    }
}

impl Job for LeaseKeeper {
    const NAME: &'static str = "leases";

    async fn run(&mut self, now: DateTime<Utc>) -> Next {
        self.renew(now).await;
        Next::Backoff(self.leases.ttl() / 4)
    }
}
