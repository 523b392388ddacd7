//! The gateway across replicas: each shard's session runs on the replica holding that shard's
//! lease. A replica that takes a lease over (its holder died) builds a fresh client and identifies;
//! one that loses its lease closes its session at once, so two replicas never answer the same
//! interaction for long.

use std::sync::{Arc, Mutex};

use super::bot::{Bot, BotShutdown, DiscordError};
use super::context::Data;
use crate::config::{Config, Secret};
use crate::leases::Lease;
use crate::services::GatewayReady;

/// What a new gateway client is built from.
#[derive(Clone)]
pub struct BotFactory {
    pub config: Config,
    pub token: Secret,
    pub http_client: reqwest::Client,
    pub data: Data,
}

impl BotFactory {
    pub async fn build(&self) -> Result<Bot, DiscordError> {
        Bot::build(
            &self.config,
            &self.token,
            self.http_client.clone(),
            self.data.clone(),
        )
        .await
    }
}

/// The running sessions' handles, to close them all at shutdown.
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<Vec<BotShutdown>>>);

impl Sessions {
    fn add(&self, handle: BotShutdown) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }

    pub async fn shutdown(&self) {
        let handles: Vec<BotShutdown> = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for handle in handles {
            handle.shutdown().await;
        }
    }
}

/// Runs shard `shard` of `shards` whenever this replica holds `lease`, until the session fails
/// for good (a rejected token, a refused intent). `first` is the client built at start.
pub async fn run_shard(
    factory: BotFactory,
    mut first: Option<Bot>,
    mut lease: Lease,
    shard: u32,
    shards: u32,
    sessions: Sessions,
    ready: GatewayReady,
) -> Result<(), DiscordError> {
    loop {
        lease.until_held().await;
        let mut bot = match first.take() {
            Some(bot) => bot,
            None => factory.build().await?,
        };
        let handle = bot.shutdown_handle();
        sessions.add(handle.clone());
        tracing::info!(shard, shards, "starting the gateway session of this shard");
        tokio::select! {
            ended = bot.start_shard(shard, shards) => return ended,
            () = lease.until_lost() => {
                tracing::warn!(shard, "shard lease lost: closing this replica's gateway session");
                handle.shutdown().await;
                ready.set(false);
            }
        }
    }
}
