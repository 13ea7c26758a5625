//! The Watchfire per-node agent.
//!
//! - [`scrape`]: targets, discovery (static, file_sd, Kubernetes pods on
//!   this node), relabelling and the scrape loop.
//! - [`host`]: the host collector, with node_exporter's metric names.
//! - [`ship`]: the remote_write sender with an on-disk buffer.
//! - [`pipeline`]: the hand-off between producers (scrapers, the host
//!   collector) and the shipper.
//!
//! - [`logs`]: log tailing, redaction and sinks, at least once end to
//!   end.
//!
//! - [`traces`]: OTLP receivers (gRPC and HTTP), redaction, sampling,
//!   forwarding and span metrics.
#![forbid(unsafe_code)]

pub mod config;
pub mod host;
pub mod logs;
pub mod pipeline;
pub mod run;
pub mod scrape;
pub mod server;
pub mod ship;
pub mod traces;
