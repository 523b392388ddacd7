//! Small shared handles that let the parts of a running bot signal each other without knowing
//! each other: the HTTP API wakes the delivery worker; the Discord adapter reports readiness.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// Wakes the delivery worker when new outbox rows were committed.
#[derive(Clone, Default, Debug)]
pub struct OutboxWake(Arc<Notify>);

impl OutboxWake {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub async fn woken(&self) {
        self.0.notified().await
    }
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
