//! Target discovery.
//!
//! Every provider (one per `static_configs` list, `file_sd_configs` entry,
//! or Kubernetes namespace) owns its current list of [`TargetGroup`]s and
//! publishes the whole list through a [`GroupSink`] whenever it changes.
//! The scrape manager keeps the last list of every provider of a job and
//! reconciles the union into scrape loops. Providers keep their last good
//! state on errors, so a broken file or an API-server hiccup never stops
//! targets that are already known.

pub mod file_sd;
pub mod kubernetes;
pub mod static_sd;

use std::sync::Arc;

use tokio::sync::mpsc;
use watchfire_promql::Labels;

/// A set of targets sharing labels, as in Prometheus's `targetgroup.Group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroup {
    /// Unique within its provider, e.g. `pod/default/web-1` or `file.json:0`.
    pub source: String,
    /// One label set per target; each has at least `__address__`.
    pub targets: Vec<Labels>,
    /// Labels common to all targets (a target's own labels win).
    pub labels: Labels,
}

/// One provider's full, current list of groups.
#[derive(Debug, Clone)]
pub struct GroupUpdate {
    /// Index of the provider within its job.
    pub provider: usize,
    pub groups: Arc<Vec<TargetGroup>>,
}

/// Where a provider publishes its groups.
#[derive(Debug, Clone)]
pub struct GroupSink {
    provider: usize,
    tx: mpsc::Sender<GroupUpdate>,
}

impl GroupSink {
    pub fn new(provider: usize, tx: mpsc::Sender<GroupUpdate>) -> GroupSink {
        GroupSink { provider, tx }
    }

    /// Publishes `groups`; returns false once nobody listens any more
    /// (the provider should then stop).
    pub async fn publish(&self, groups: Vec<TargetGroup>) -> bool {
        self.tx
            .send(GroupUpdate {
                provider: self.provider,
                groups: Arc::new(groups),
            })
            .await
            .is_ok()
    }

    /// Whether the receiving side is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}
