//! The application builder that `main` and the tests both start.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::{Config, ConfigError};
use crate::discord::delivery::DeliveryWorker;
use crate::discord::rest::DiscordRest;
use crate::discord::shards::{self, BotFactory, Sessions};
use crate::discord::{self, Bot, Data, DiscordError};
use crate::http::extract::ApiToken;
use crate::http::hooks::HookState;
use crate::http::{self, ApiSettings, AppState};
use crate::integrations::commit_times::CommitTimes;
use crate::jobs::checkins::CheckinJob;
use crate::jobs::health::HealthCheck;
use crate::jobs::retention::RetentionJob;
use crate::jobs::{Job, Jobs};
use crate::leases::{job_lease, shard_lease, LeaseKeeper, Leases, OUTBOX};
use crate::metrics::Metrics;
use crate::production::{self, Production, ShutdownHandle};
use crate::services::{GatewayReady, Services, TokenStatus, Wakes};
use crate::store::{Store, StoreError};
use crate::summaries::SummaryJob;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Discord(#[from] DiscordError),
    #[error("HTTP server stopped: {0}")]
    Serve(std::io::Error),
    #[error("Discord client stopped: {0}")]
    Gateway(String),
}

/// A built, not yet running, loopbot: database migrated, port bound, Discord client ready to connect.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
    /// The first gateway client (built here so a bad DISCORD_API_URL fails the start), and what
    /// builds another when this replica takes a shard over.
    bot: Bot,
    factory: BotFactory,
    /// The delivery job's worker, kept to drain the outbox at shutdown.
    worker: DeliveryWorker,
    jobs: Jobs,
    production: Production,
    /// Routes served beside the API on the same address (the sandbox's page); `serve` adds none.
    extra_routes: Option<axum::Router>,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let token = config.require_discord_token()?.clone();
        if config.api_token.is_none() {
            tracing::warn!(
                "LOOPBOT_API_TOKEN is not set: the write API will answer 503 until it is"
            );
        }
        if config.default_channel.is_none() {
            tracing::warn!(
                "LOOPBOT_DEFAULT_CHANNEL is not set: events no channel subscribed to are stored, not posted"
            );
        }
        let store = Store::connect(&config.database_url).await?;
        store.migrate().await?;
        let listener = TcpListener::bind(config.http_addr)
            .await
            .map_err(|source| StartupError::Listen {
                addr: config.http_addr,
                source,
            })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartupError::Listen {
                addr: config.http_addr,
                source,
            })?;

        // Made once (a random key on first start), then read back: links outlive restarts.
        let dashboard_key = store
            .dashboard_key(rand::random(), chrono::Utc::now())
            .await?;
        let metrics = Metrics::new();
        let wakes = Wakes::default();
        let leases = Leases::new(config.replicas.id.clone(), config.replicas.lease_ttl);
        let services = Arc::new(Services {
            store: store.clone(),
            wakes: wakes.clone(),
            gateway: GatewayReady::default(),
            discord_token: TokenStatus::default(),
            metrics: metrics.clone(),
            default_channel: config.default_channel,
            alerts: config.alerts.clone(),
            alert_policy: config.alerts.policy(),
            checkins: config.checkins.clone(),
            summaries: config.summaries.clone(),
            access: config.access_policy(),
            dashboard: crate::signing::LinkSigner::new(
                dashboard_key,
                &config.web.base_url(local_addr),
            ),
            leases: leases.clone(),
            shards: config.replicas.shards,
        });
        let http_client = discord::http_client(&config);
        let factory = BotFactory {
            config: config.clone(),
            token: token.clone(),
            http_client: http_client.clone(),
            data: Data {
                services: services.clone(),
                alerts_http: crate::alertmanager::http_client(),
            },
        };
        let bot = factory.build().await?;
        let worker = DeliveryWorker::new(
            store.clone(),
            DiscordRest::new(http_client, config.discord_api_url.as_deref(), token)
                .with_metrics(metrics.clone())
                .with_global_limit(config.delivery.global_per_second),
            config.delivery.clone(),
            wakes.delivery.clone(),
        )
        .with_metrics(metrics.clone())
        .with_token_status(services.discord_token.clone());

        // Work that must happen once runs on the replica holding its lease; the keeper runs everywhere.
        let mut jobs = Jobs::default();
        jobs.add(LeaseKeeper {
            leases: leases.clone(),
            store: store.clone(),
            metrics: metrics.clone(),
        });
        jobs.add_leased(worker.clone(), leases.lease(OUTBOX));
        jobs.add_leased(
            CheckinJob {
                store: store.clone(),
                settings: config.checkins.clone(),
                started_at: chrono::Utc::now(),
                wake: wakes.checkins.clone(),
                delivery: wakes.delivery.clone(),
                considered_through: 0,
                health: HealthCheck::new(&config.health, metrics.clone()),
            },
            leases.lease(&job_lease(CheckinJob::NAME)),
        );
        jobs.add_leased(
            SummaryJob::new(
                store.clone(),
                config.summaries.clone(),
                wakes.delivery.clone(),
            )
            .with_metrics(metrics.clone()),
            leases.lease(&job_lease(SummaryJob::NAME)),
        );
        if let Some(commit_times) = CommitTimes::new(
            store.clone(),
            &config.integrations,
            wakes.commit_lookups.clone(),
        ) {
            jobs.add_leased(commit_times, leases.lease(&job_lease(CommitTimes::NAME)));
        }
        jobs.add_leased(
            RetentionJob {
                store,
                retention_days: config.retention_days,
                metrics: metrics.clone(),
            },
            leases.lease(&job_lease(RetentionJob::NAME)),
        );

        let state = AppState::new(
            services,
            ApiSettings {
                api_token: ApiToken(config.api_token.clone()),
                hooks: HookState::new(&config.integrations),
                limits: config.http,
            },
        );
        Ok(Self {
            listener,
            local_addr,
            state,
            bot,
            factory,
            worker,
            jobs,
            production: Production {
                shutdown: ShutdownHandle::default(),
                grace: config.shutdown_grace,
                retention_days: config.retention_days,
                metrics,
            },
            extra_routes: None,
        })
    }

    /// Serves `routes` beside the API, outside its limits (a page's event stream stays open).
    pub fn with_routes(mut self, routes: axum::Router) -> Self {
        self.extra_routes = Some(match self.extra_routes.take() {
            Some(existing) => existing.merge(routes),
            None => routes,
        });
        self
    }

    /// The address the HTTP API listens on (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Triggering it makes [`Application::run_until_stopped`] stop cleanly: no new HTTP
    /// requests, in-flight ones finish, the outbox drains for up to `LOOPBOT_SHUTDOWN_GRACE`,
    /// the gateway closes and the WAL is checkpointed.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.production.shutdown.clone()
    }

    /// Runs the HTTP API, the Discord client and the jobs (delivery among them) until one of them
    /// stops.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let Self {
            listener,
            local_addr,
            state,
            bot,
            factory,
            worker,
            jobs,
            production,
            extra_routes,
        } = self;
        let leases = state.leases.clone();
        let metrics = production.metrics.clone();
        let sessions = Sessions::default();
        let gateway = run_gateway(
            bot,
            factory,
            leases.clone(),
            state.shards,
            sessions.clone(),
            state.gateway.clone(),
        );
        tokio::pin!(gateway);
        tracing::info!(addr = %local_addr, "HTTP API listening");
        let store = state.store.clone();
        let limits = state.limits();
        let mut router = http::router(state);
        if let Some(extra) = extra_routes {
            router = router.merge(extra);
        }
        let stop = production.shutdown.token();
        // Its own task, so in-flight requests can finish after the select below ends.
        let mut server = tokio::spawn(http::serve(listener, router, limits, stop.clone()));
        let jobs = jobs.run(stop.clone());
        tokio::pin!(jobs);
        let mut jobs_stopped = false;
        let result = tokio::select! {
            served = &mut server => match served {
                Ok(served) => served.map_err(StartupError::Serve),
                Err(e) => Err(StartupError::Serve(std::io::Error::other(e))),
            },
            started = &mut gateway => {
                started.map_err(|e| StartupError::Gateway(e.to_string()))
            }
            () = &mut jobs => {
                jobs_stopped = true;
                Ok(())
            }
            () = stop.cancelled() => Ok(()),
        };
        // Stopping, asked to or not: take no new requests, stop the jobs, finish what was accepted.
        stop.cancel();
        if !jobs_stopped {
            jobs.await;
        }
        let outbox_held = leases.lease(OUTBOX).held();
        production::finish(server, outbox_held.then_some(&worker), production.grace).await;
        sessions.shutdown().await;
        // Another replica takes over at once instead of waiting for these to expire.
        leases.release_all(&store, &metrics).await;
        if let Err(error) = store.checkpoint_and_close().await {
            tracing::warn!(%error, "WAL checkpoint at shutdown failed");
        }
        tracing::info!("stopped");
        result
    }
}

/// Every shard's session, each run while this replica holds that shard's lease; ends when one
/// fails for good.
async fn run_gateway(
    first: Bot,
    factory: BotFactory,
    leases: Leases,
    shard_count: u32,
    sessions: Sessions,
    ready: crate::services::GatewayReady,
) -> Result<(), DiscordError> {
    let mut first = Some(first);
    // A JoinSet: dropping this future (the application stopping) stops every shard's task.
    let mut runs = tokio::task::JoinSet::new();
    for shard in 0..shard_count {
        runs.spawn(shards::run_shard(
            factory.clone(),
            first.take(),
            leases.lease(&shard_lease(shard, shard_count)),
            shard,
            shard_count,
            sessions.clone(),
            ready.clone(),
        ));
    }
    match runs.join_next().await {
        Some(Ok(ended)) => ended,
        Some(Err(panicked)) => Err(DiscordError::Stopped(panicked.to_string())),
        None => Ok(()),
    }
}
