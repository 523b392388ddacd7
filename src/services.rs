//! What the HTTP API, the Discord adapter and the jobs share in a running bot: built once in
//! `startup`, held in an `Arc` by both `http::AppState` and poise's `discord::Data`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::config::{AlertSettings, SummarySettings};
use crate::domain::alert_group::AlertPolicy;
use crate::domain::checkin::CheckinSettings;
use crate::domain::ChannelId;
use crate::jobs::Wake;
use crate::metrics::Metrics;
use crate::store::Store;

pub struct Services {
    pub store: Store,
    pub wakes: Wakes,
    pub gateway: GatewayReady,
    pub metrics: Metrics,
    /// Where events go that no channel subscribed to (none: stored, not posted).
    pub default_channel: Option<ChannelId>,
    pub alerts: AlertSettings,
    /// Built once from `alerts`.
    pub alert_policy: AlertPolicy,
    pub checkins: CheckinSettings,
    pub summaries: SummarySettings,
}

/// The handles that wake each job that others queue work for.
#[derive(Clone, Default, Debug)]
pub struct Wakes {
    /// New outbox rows were committed.
    pub delivery: Wake,
    /// A check-in was scheduled by hand (`/checkin`).
    pub checkins: Wake,
    /// A commit-time look-up was queued.
    pub commit_lookups: Wake,
}

/// Whether the Discord gateway session is ready (identified or resumed and not since lost).
#[derive(Clone, Default, Debug)]
pub struct GatewayReady(Arc<AtomicBool>);

impl GatewayReady {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
