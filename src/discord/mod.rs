//! The Discord adapter: the only module that knows serenity and poise. It runs the gateway
//! client and the slash commands, renders messages, and delivers the outbox.

mod alerts;
mod checkins;
mod commands;
mod components;
pub mod delivery;
pub mod render;
pub mod rest;
mod summary;

use std::net::SocketAddr;

use poise::serenity_prelude as serenity;

use crate::config::{Config, Secret};
use crate::domain::ChannelId;
use crate::runtime::{GatewayReady, OutboxWake};
use crate::store::{Store, StoreError};

pub use commands::command_list;

/// Everything a command or event handler can reach; built once.
pub struct Data {
    pub store: Store,
    pub outbox: OutboxWake,
    pub gateway: GatewayReady,
    pub default_channel: Option<ChannelId>,
    pub alerts: crate::config::AlertSettings,
    /// For Alertmanager's API (Silence 1h).
    pub alerts_http: reqwest::Client,
    /// Check-in settings (the emoji map for reactions).
    pub checkins: crate::domain::checkin::CheckinSettings,
    /// Wakes the check-in job (after `/checkin`).
    pub checkin_wake: crate::jobs::JobWake,
    pub summaries: crate::config::SummarySettings,
}

/// The error type of command and event handlers; rendered as an ephemeral reply.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Shown to the user as is.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Invalid(#[from] crate::domain::ValidationError),
    #[error("the bot's database is unavailable right now, please try again: {0}")]
    Store(#[from] StoreError),
    /// Boxed: serenity's error is large, and this type travels through every handler.
    #[error("Discord error: {0}")]
    Discord(Box<serenity::Error>),
}

impl From<serenity::Error> for CommandError {
    fn from(error: serenity::Error) -> Self {
        CommandError::Discord(Box::new(error))
    }
}

pub type Context<'a> = poise::Context<'a, Data, CommandError>;

#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error("cannot start the Discord client: {0}")]
    Client(serenity::Error),
    /// serenity falls back to Discord's own gateway when `GET /gateway` fails; with a custom
    /// base URL that would leave the sandbox, so it is an error instead.
    #[error("DISCORD_API_URL {base} did not answer GET /api/v10/gateway with a gateway on the same host (got {got})")]
    GatewayElsewhere { base: String, got: String },
}

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

/// Builds the serenity client with the poise framework, pointed at `DISCORD_API_URL` when set.
pub async fn client(
    config: &Config,
    token: &Secret,
    http_client: reqwest::Client,
    data: Data,
) -> Result<serenity::Client, DiscordError> {
    let mut http = serenity::HttpBuilder::new(token.expose()).client(http_client);
    if let Some(base) = &config.discord_api_url {
        // serenity's ratelimiter builds its requests without the proxy base, so it must be off
        // here; the delivery worker honours 429s itself.
        http = http.proxy(base.as_str()).ratelimiter_disabled(true);
    }
    let guild = config.guild_id.map(|g| serenity::GuildId::new(g.0));
    let gateway = data.gateway.clone();
    let framework = poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands: command_list(),
            allowed_mentions: Some(serenity::CreateAllowedMentions::new()),
            on_error: |error| Box::pin(commands::on_error(error)),
            event_handler: |framework, event| Box::pin(on_event(framework, event)),
            ..Default::default()
        })
        .initialize_owners(false)
        .setup(move |ctx, ready, framework| {
            Box::pin(async move {
                let commands = &framework.options().commands;
                match guild {
                    Some(guild) => poise::builtins::register_in_guild(ctx, commands, guild).await?,
                    None => poise::builtins::register_globally(ctx, commands).await?,
                }
                tracing::info!(
                    user = %ready.user.name,
                    guilds = ready.guilds.len(),
                    scope = if guild.is_some() { "guild" } else { "global" },
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
    Ok(client)
}

async fn on_event(
    framework: poise::FrameworkContext<'_, Data, CommandError>,
    event: &serenity::FullEvent,
) -> Result<(), CommandError> {
    let data = framework.user_data;
    let ctx = framework.serenity_context;
    let handled = match event {
        serenity::FullEvent::Ready { .. } | serenity::FullEvent::Resume { .. } => {
            data.gateway.set(true);
            Ok(())
        }
        serenity::FullEvent::ShardStageUpdate { event } => {
            data.gateway
                .set(event.new == serenity::ConnectionStage::Connected);
            Ok(())
        }
        serenity::FullEvent::InteractionCreate {
            interaction: serenity::Interaction::Component(component),
        } => components::on_component(ctx, data, component).await,
        serenity::FullEvent::InteractionCreate {
            interaction: serenity::Interaction::Modal(modal),
        } => components::on_modal(ctx, data, modal).await,
        serenity::FullEvent::ReactionAdd { add_reaction } => {
            checkins::on_reaction(ctx, data, add_reaction, true).await
        }
        serenity::FullEvent::ReactionRemove { removed_reaction } => {
            checkins::on_reaction(ctx, data, removed_reaction, false).await
        }
        serenity::FullEvent::Message { new_message } => {
            checkins::on_message(ctx, data, new_message).await
        }
        _ => Ok(()),
    };
    // Handlers answer their own interactions; an error here is logged, never a crash.
    if let Err(error) = handled {
        tracing::error!(%error, "event handler failed");
    }
    Ok(())
}
