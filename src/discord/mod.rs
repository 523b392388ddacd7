//! The Discord adapter: the only module that knows serenity and poise. It runs the gateway
//! client and the slash commands, renders messages, and delivers the outbox.
//!
//! Layers, each importing only those below it (no file imports one that imports it back):
//! - primitives: `message` (plain `Rendered`, limits, truncation, durations, the JSON bodies),
//!   `limits` (the one check of a whole message against Discord's limits, and its safety net),
//!   `context` (`Data`, `CommandError`), `rest` (the worker's REST client), `access` (who may
//!   do what: the actor of an interaction, asked of `domain::access` by every handler);
//! - one module per subject, each with its rendering, commands and components: `deploys`,
//!   `alerts` (+ `alert_buttons`), `checkins` (+ `checkin_buttons`), `deployer_links`,
//!   `summary`, `subscriptions`, `incidents` (+ `incident_forms`);
//! - above the subjects: `render` (a delivery's subject → `Rendered`, digests), `delivery` (the
//!   worker), `commands` (the registry), `events` (gateway events and interaction routing),
//!   `bot` (the client) and `shards` (each shard's session on the replica holding its lease).

mod access;
mod alert_buttons;
mod alert_votes;
mod alerts;
mod bot;
mod checkin_buttons;
mod checkins;
mod commands;
mod context;
mod dashboard;
pub mod delivery;
mod deployer_links;
mod deploys;
mod events;
mod incident_forms;
mod incidents;
pub mod limits;
pub mod message;
pub mod render;
pub mod rest;
pub mod shards;
mod subscriptions;
mod summary;

pub use bot::{http_client, Bot, BotShutdown, DiscordError, QUIET_LOGS};
pub use commands::{command_list, on_error, PANIC_REPLY};
pub use context::{CommandError, Context, Data};
