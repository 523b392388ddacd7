//! What the HTTP API, the Discord adapter and the jobs share in a running bot: built once in
//! `startup`, held in an `Arc` by both `http::AppState` and poise's `discord::Data`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

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
    /// Whether Discord accepts the bot token (the delivery worker finds out).
    pub discord_token: TokenStatus,
    pub metrics: Metrics,
    /// Where events go that no channel subscribed to (none: stored, not posted).
    pub default_channel: Option<ChannelId>,
    pub alerts: AlertSettings,
    /// Built once from `alerts`.
    pub alert_policy: AlertPolicy,
    pub checkins: CheckinSettings,
    pub summaries: SummarySettings,
    /// Who may do what from Discord (`LOOPBOT_GUILD_IDS`, `LOOPBOT_RESPONDER_ROLES`).
    pub access: crate::domain::access::Policy,
    /// Signs the links `/dashboard` hands out and checks them on the web dashboard.
    pub dashboard: crate::signing::LinkSigner,
    /// The leases this replica wants and holds (jobs, outbox, gateway shards).
    pub leases: crate::leases::Leases,
    /// `LOOPBOT_SHARDS`.
    pub shards: u32,
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

/// Since when Discord has rejected the bot token (401), if it does: set by the delivery worker, which
/// then sends nothing until the token is accepted again; `/readyz` and `/metrics` read it.
#[derive(Clone, Default, Debug)]
pub struct TokenStatus(Arc<Mutex<Option<DateTime<Utc>>>>);

impl TokenStatus {
    pub fn rejected_since(&self) -> Option<DateTime<Utc>> {
        self.0.lock().map(|since| *since).unwrap_or(None)
    }

    /// `Some(now)` on a rejection (the first one's time is kept), `None` once accepted.
    pub fn set_rejected(&self, at: Option<DateTime<Utc>>) {
        if let Ok(mut since) = self.0.lock() {
            *since = at.map(|at| since.unwrap_or(at));
        }
    }
}
