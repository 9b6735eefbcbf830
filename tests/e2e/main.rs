//! End-to-end tests: each starts sipprov on 127.0.0.1:0 and talks to it over
//! real sockets, on SQLite and, when configured, PostgreSQL.

mod clients;
mod harness;

mod authorization;
mod callcenter;
mod cli;
mod conformance;
mod console;
mod contacts;
mod device_provisions;
mod dicts;
mod extensions;
mod freshness;
mod hardening;
mod keys;
mod logs;
mod media;
mod operations;
mod provisioning;
mod push;
mod sessions;
mod sweep;
mod tftp;
mod timeline;
mod tts;
