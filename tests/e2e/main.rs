//! End-to-end tests: the real application (the builder `main` uses) against the local Discord
//! (crates/fake-discord), a real SQLite file per test, and real HTTP requests.

#[path = "../support/mod.rs"]
mod support;

mod alerts;
mod api;
mod architecture;
mod checkin_restarts;
mod checkins;
mod commits;
mod config;
mod correlation;
mod dashboard;
mod dashboard_browser;
mod dead_letters;
mod delivery;
mod deploys;
mod dora;
mod edge;
mod extreme_dates;
mod faults;
mod grafana;
mod health;
mod hostile;
mod incidents;
mod integrations;
mod limits;
mod mentions;
mod noise;
mod notify;
mod panics;
mod production;
mod production_definition;
mod refusals;
mod replicas;
mod retention;
mod rollbacks;
mod routes;
#[cfg(feature = "sandbox")]
mod sandbox;
#[cfg(feature = "sandbox")]
mod sandbox_browser;
mod scoped;
mod sender_clock;
mod storm;
mod subscriptions;
mod summaries;
mod trust;
