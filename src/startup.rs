//! The application builder that `main` and the tests both start.

use std::future::IntoFuture as _;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::config::{Config, ConfigError};
use crate::discord::delivery::DeliveryWorker;
use crate::discord::rest::DiscordRest;
use crate::discord::{self, Bot, Data, DiscordError};
use crate::http::extract::ApiToken;
use crate::http::hooks::HookState;
use crate::http::{self, AppState, Shared};
use crate::integrations::commit_times::CommitTimes;
use crate::jobs::checkins::CheckinJob;
use crate::jobs::{JobWake, Jobs};
use crate::metrics::Metrics;
use crate::production::{self, Production, ShutdownHandle};
use crate::runtime::{GatewayReady, OutboxWake};
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
    bot: Bot,
    worker: DeliveryWorker,
    jobs: Jobs,
    commit_times: CommitTimes,
    production: Production,
    summary_job: SummaryJob,
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

        let metrics = Metrics::new();
        let outbox = OutboxWake::default();
        let gateway = GatewayReady::default();
        let http_client = discord::http_client(&config);
        let checkin_wake = JobWake::default();
        let mut jobs = Jobs::default();
        jobs.add(
            "checkins",
            CheckinJob {
                store: store.clone(),
                settings: config.checkins.clone(),
                started_at: chrono::Utc::now(),
                outbox: outbox.clone(),
                considered_through: Default::default(),
            }
            .run_forever(checkin_wake.clone()),
        );
        let bot = Bot::build(
            &config,
            &token,
            http_client.clone(),
            Data {
                store: store.clone(),
                outbox: outbox.clone(),
                gateway: gateway.clone(),
                default_channel: config.default_channel,
                alerts: config.alerts.clone(),
                alerts_http: crate::alertmanager::http_client(),
                checkins: config.checkins.clone(),
                checkin_wake,
                summaries: config.summaries.clone(),
            },
        )
        .await?;
        let worker = DeliveryWorker::new(
            store.clone(),
            DiscordRest::new(http_client, config.discord_api_url.as_deref(), token)
                .with_metrics(metrics.clone())
                .with_global_limit(config.delivery.global_per_second),
            config.delivery.clone(),
            outbox.clone(),
        )
        .with_metrics(metrics.clone());
        jobs.add(
            "retention",
            production::run_retention(store.clone(), config.retention_days, metrics.clone()),
        );
        let commit_times = CommitTimes::new(store.clone(), &config.integrations);
        let summary_job = SummaryJob::new(store.clone(), config.summaries.clone(), outbox.clone())
            .with_metrics(metrics.clone());
        let state = AppState::new(Shared {
            hooks: HookState::new(&config.integrations, commit_times.clone()),
            store,
            api_token: ApiToken(config.api_token.clone()),
            default_channel: config.default_channel,
            outbox,
            gateway,
            alerts: config.alerts.clone(),
            alert_policy: config.alerts.policy(),
            metrics: metrics.clone(),
            summaries: config.summaries.clone(),
        });
        Ok(Self {
            listener,
            local_addr,
            state,
            bot,
            worker,
            jobs,
            commit_times,
            production: Production {
                shutdown: ShutdownHandle::default(),
                grace: config.shutdown_grace,
                retention_days: config.retention_days,
                metrics,
            },
            summary_job,
        })
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

    /// Runs the HTTP API, the Discord client and the delivery worker until one of them stops.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let Self {
            listener,
            local_addr,
            state,
            mut bot,
            worker,
            jobs,
            commit_times,
            production,
            summary_job,
        } = self;
        tracing::info!(addr = %local_addr, "HTTP API listening");
        let store = state.store.clone();
        let router = http::router(state);
        let gateway = bot.shutdown_handle();
        let stop = production.shutdown.token();
        // Its own task, so in-flight requests can finish after the select below ends.
        let mut server = tokio::spawn(
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .into_future(),
        );
        let drainer = worker.clone();
        let result = tokio::select! {
            served = &mut server => match served {
                Ok(served) => served.map_err(StartupError::Serve),
                Err(e) => Err(StartupError::Serve(std::io::Error::other(e))),
            },
            started = bot.start() => {
                started.map_err(|e| StartupError::Gateway(e.to_string()))
            }
            () = worker.run() => Ok(()),
            () = jobs.run() => Ok(()),
            () = commit_times.run() => Ok(()),
            () = stop.cancelled() => Ok(()),
            () = summary_job.run() => Ok(()),
        };
        // Stopping, asked to or not: take no new requests, finish what was accepted.
        stop.cancel();
        production::finish(server, &drainer, production.grace).await;
        gateway.shutdown().await;
        if let Err(error) = store.checkpoint_and_close().await {
            tracing::warn!(%error, "WAL checkpoint at shutdown failed");
        }
        tracing::info!("stopped");
        result
    }
}
