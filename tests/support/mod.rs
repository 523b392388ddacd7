//! Test support: the application spawner (the local Discord is the fake-discord crate), a real
//! browser, and `loopbot sandbox` started in-process.

pub mod app;
pub mod browser;
pub mod postgres;
#[cfg(feature = "sandbox")]
pub mod sandbox;
