//! Test support: the local Discord and the application spawner.

#![allow(dead_code)]

pub mod app;
pub mod discord;
