//! The Watchfire router: remote_write ingest, the in-memory series store,
//! the rule engine, and the sinks alerts leave through.
//!
//! Pure cores (rule state machine, store) take data and an injected clock;
//! tokio and HTTP live in the `server`, `ingest` and `notify` edges.
#![forbid(unsafe_code)]

pub mod amapi;
pub mod config;
pub mod dispatch;
pub mod ingest;
pub mod metrics;
pub mod notify;
pub mod promtool;
pub mod query_api;
pub mod rules;
pub mod server;
pub mod state;
pub mod store;
