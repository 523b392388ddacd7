//! The gateway client: serenity with the poise framework, pointed at `DISCORD_API_URL` when set.
//! [`Bot`] is all that `startup` sees of it.

use std::net::SocketAddr;
use std::sync::Arc;

use poise::serenity_prelude as serenity;

use super::commands::{command_list, learn_channel, on_error};
use super::context::Data;
use super::events::on_event;
use crate::config::{Config, Secret};

#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error("cannot start the Discord client: {0}")]
    Client(serenity::Error),
    /// serenity falls back to Discord's own gateway when `GET /gateway` fails; with a custom
    /// base URL that would leave the sandbox, so it is an error instead.
    #[error("DISCORD_API_URL {base} did not answer GET /api/v10/gateway with a gateway on the same host (got {got})")]
    GatewayElsewhere { base: String, got: String },
    #[error("{0}")]
    Gateway(serenity::Error),
    #[error("gateway task stopped: {0}")]
    Stopped(String),
}

/// Log directives that keep the Discord libraries' chatter out of the default log.
pub const QUIET_LOGS: &str = "serenity=warn,poise=warn";

/// The hosts a client pointed at a Discord-compatible server must never reach: if anything
/// slipped past the configured base URL it fails on a closed loopback port instead.
const DISCORD_HOSTS: [&str; 4] = [
    "discord.com",
    "gateway.discord.gg",
    "cdn.discordapp.com",
    "media.discordapp.net",
];

/// The HTTP client for Discord REST, shared by serenity and the delivery worker.
pub fn http_client(config: &Config) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(config.delivery.request_timeout)
        .connect_timeout(std::time::Duration::from_secs(5));
    if config.discord_api_url.is_some() {
        let nowhere = SocketAddr::from(([127, 0, 0, 1], 9));
        builder = builder.no_proxy();
        for host in DISCORD_HOSTS {
            builder = builder.resolve(host, nowhere);
        }
    }
    // Building only fails when the TLS backend cannot initialise; fall back to the default client.
    builder.build().unwrap_or_default()
}

/// The gateway client with the slash commands, built but not yet connected.
pub struct Bot {
    client: serenity::Client,
}

/// Closes the gateway connections of a running [`Bot`].
#[derive(Clone)]
pub struct BotShutdown(Arc<serenity::ShardManager>);

impl BotShutdown {
    pub async fn shutdown(&self) {
        self.0.shutdown_all().await;
    }
}

impl Bot {
    /// Builds the client with the poise framework, pointed at `DISCORD_API_URL` when set.
    pub async fn build(
        config: &Config,
        token: &Secret,
        http_client: reqwest::Client,
        data: Data,
    ) -> Result<Self, DiscordError> {
        let mut http = serenity::HttpBuilder::new(token.expose()).client(http_client);
        if let Some(base) = &config.discord_api_url {
            // serenity's ratelimiter builds its requests without the proxy base, so it must be off
            // here; the delivery worker honours 429s itself.
            http = http.proxy(base.as_str()).ratelimiter_disabled(true);
        }
        let guilds: Vec<serenity::GuildId> = config
            .guild_ids
            .iter()
            .map(|g| serenity::GuildId::new(g.0))
            .collect();
        if guilds.is_empty() {
            tracing::warn!(
                "LOOPBOT_GUILD_IDS is not set: loopbot serves every server it is added to; \
                 set it to the ids of your servers (and turn off Public Bot, see docs/security.md)"
            );
        }
        let gateway = data.gateway.clone();
        let framework = poise::Framework::builder()
            .options(poise::FrameworkOptions {
                commands: command_list(),
                allowed_mentions: Some(serenity::CreateAllowedMentions::new()),
                on_error: |error| Box::pin(on_error(error)),
                pre_command: |ctx| Box::pin(learn_channel(ctx)),
                // Who may use each command: decided before any command runs.
                command_check: Some(|ctx| Box::pin(super::access::command_check(ctx))),
                event_handler: |framework, event| Box::pin(on_event(framework, event)),
                ..Default::default()
            })
            .initialize_owners(false)
            .setup(move |ctx, ready, framework| {
                Box::pin(async move {
                    let commands = &framework.options().commands;
                    // In each served server (instant); globally only when every server is served.
                    for guild in &guilds {
                        poise::builtins::register_in_guild(ctx, commands, *guild).await?;
                    }
                    if guilds.is_empty() {
                        poise::builtins::register_globally(ctx, commands).await?;
                    }
                    tracing::info!(
                        user = %ready.user.name,
                        guilds = ready.guilds.len(),
                        scope = if guilds.is_empty() { "global" } else { "guild" },
                        "connected to Discord; slash commands registered"
                    );
                    gateway.set(true);
                    Ok(data)
                })
            })
            .build();
        let intents = serenity::GatewayIntents::GUILDS
            | serenity::GatewayIntents::GUILD_MESSAGES
            | serenity::GatewayIntents::GUILD_MESSAGE_REACTIONS
            // Privileged: must be enabled in the developer portal; check-ins read replies' text.
            | serenity::GatewayIntents::MESSAGE_CONTENT;
        let client = serenity::ClientBuilder::new_with_http(http.build(), intents)
            .framework(framework)
            .await
            .map_err(DiscordError::Client)?;
        if let Some(base) = &config.discord_api_url {
            let got = client.ws_url.lock().await.clone();
            let host = |url: &str| {
                reqwest::Url::parse(url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
            };
            if host(base).is_none() || host(base) != host(&got) {
                return Err(DiscordError::GatewayElsewhere {
                    base: base.clone(),
                    got,
                });
            }
        }
        Ok(Self { client })
    }

    /// A handle that closes the gateway, usable while [`Bot::start`] runs.
    pub fn shutdown_handle(&self) -> BotShutdown {
        BotShutdown(self.client.shard_manager.clone())
    }

    /// Connects shard `shard` of `shards` and runs until the gateway stops (or fails).
    pub async fn start_shard(&mut self, shard: u32, shards: u32) -> Result<(), DiscordError> {
        self.client
            .start_shard(shard, shards)
            .await
            .map_err(DiscordError::Gateway)
    }
}
