//! loopbot: a Discord bot that closes a team's DevOps feedback loop. See ARCHITECTURE.md.

pub mod alertmanager;
pub mod chart;
pub mod cli;
pub mod config;
pub mod dead_letters;
pub mod discord;
pub mod domain;
pub mod http;
pub mod integrations;
pub mod jobs;
pub mod leases;
pub mod metrics;
pub mod production;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod services;
pub mod signing;
pub mod startup;
pub mod store;
pub mod summaries;
pub mod telemetry;
