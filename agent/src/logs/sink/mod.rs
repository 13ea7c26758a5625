//! Sinks: where redacted records go. A sink receives batches of JSON
//! lines in order and returns only once the batch is durable on its side
//! (for the file sink: written and fsync'd); the pipeline then counts the
//! batch as acknowledged by that sink. A failed send is retried with
//! backoff, never skipped, so a sink outage pauses reading instead of
//! losing records.
//!
//! - [`blackhole`]: acknowledges and drops everything (benchmarks, trials).
//! - [`file`]: appends JSON lines to a file.
//! - [`elasticsearch`]: Elasticsearch/OpenSearch `_bulk` (per-item results).
//! - [`loki`]: Loki push API.
//! - [`kafka`]: Kafka (librdkafka), acknowledged by delivery reports.
//! - [`http`]: what the HTTP sinks share (client, retries, drops).
//!
//! The HTTP sinks retry inside `send` (only what is not yet durable) and
//! resolve once every record is durable or deliberately dropped (refused
//! by the destination: counted, logged, optionally dead-lettered).

pub mod blackhole;
pub mod elasticsearch;
pub mod file;
pub mod http;
pub mod kafka;
pub mod loki;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A sink failure (the batch is retried).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

/// The future a [`Sink`] returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;

/// A destination of log records.
pub trait Sink: Send + 'static {
    /// A short name for metrics and logs (`file`, `kafka`, …).
    fn name(&self) -> &str;

    /// Delivers `lines` (each one JSON object, no newline); resolves once
    /// they are durable on the sink's side.
    fn send(&mut self, lines: Arc<[String]>) -> SendFuture<'_>;
}
