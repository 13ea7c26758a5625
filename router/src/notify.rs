//! Where alerts leave the rule engine: one trait, [`AlertSink`], with a
//! console sink and an Alertmanager v2 client. (Being written.)

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

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
