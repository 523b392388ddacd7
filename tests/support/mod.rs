//! Test support: the application spawner (the local Discord is the fake-discord crate) and a real
//! browser.

pub mod app;
pub mod browser;
