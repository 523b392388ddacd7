//! Test support: the application spawner (the local Discord is the fake-discord crate).

pub mod app;
