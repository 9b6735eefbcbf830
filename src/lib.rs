//! sipprov: a provisioning server for SIP desk phones, with the management
//! REST API of the XSwitch PBX.

pub mod admin;
pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod confined;
pub mod domain;
pub mod error;
pub mod if_range;
pub mod jobs;
pub mod listener;
pub mod media;
pub mod metrics;
pub mod packs;
pub mod passwords;
pub mod provision;
pub mod push;
pub mod secrets;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tts;
pub mod ui;
pub mod workers;
