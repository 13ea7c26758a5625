//! Where alerts leave the rule engine: one trait, [`AlertSink`], and its
//! implementations.
//!
//! - [`console::ConsoleSink`] prints one human-readable line per alert (the
//!   `watchfire up` experience).
//! - [`alertmanager::AlertmanagerClient`] posts batches to one or more
//!   Alertmanager v2 APIs (`POST /api/v2/alerts`), with timeouts, auth and
//!   retries with exponential backoff and jitter.
//! - [`queue::QueuedSink`] puts a bounded queue in front of any sink, like
//!   Prometheus's notifier: the engine never waits on the network, batches
//!   are capped, and the oldest alerts are dropped (and counted) when full.
//!
//! [`NotifyMetrics`] holds the metrics all of them report, registered into a
//! caller-provided `prometheus::Registry`.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

pub mod alertmanager;
pub mod console;
pub mod fanout;
mod metrics;
pub mod queue;

pub use metrics::NotifyMetrics;
pub use watchfire_promql::civil::format_rfc3339_millis;

/// An alert as the Alertmanager v2 API carries it (`postableAlert`).
/// Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: i64,
    /// Set for every sent alert (Prometheus sends a future `endsAt` while
    /// firing, and the resolve time once resolved).
    pub ends_at: Option<i64>,
    pub generator_url: String,
}

impl Alert {
    /// Whether the alert is resolved at `now_ms`: its `endsAt` is set and
    /// not in the future (Alertmanager's rule).
    pub fn is_resolved_at(&self, now_ms: i64) -> bool {
        self.ends_at.is_some_and(|e| e <= now_ms)
    }

    /// The `alertname` label, or "" when absent.
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// Errors sinks return.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("sending to {target}: {reason}")]
    Send { target: String, reason: String },
}

/// A boxed future, so the trait stays object safe.
pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;

/// The one way alerts leave the engine.
pub trait AlertSink: Send + Sync {
    /// Delivers a batch of alerts (firing and resolved).
    fn send<'a>(&'a self, alerts: &'a [Alert]) -> SinkFuture<'a>;
}

/// Errors building a sink.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("registering notifier metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("invalid Alertmanager URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("building HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
