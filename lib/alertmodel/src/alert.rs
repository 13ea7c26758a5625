//! [`Alert`]: an alert as the dispatcher holds it.

use serde::{Deserialize, Serialize};

use crate::labels::{fingerprint, LabelSet};

/// An alert as Alertmanager holds it after `POST /api/v2/alerts`.
///
/// Times are milliseconds since the Unix epoch. `ends_at == 0` never occurs
/// once an alert is stored: as in Alertmanager, an alert posted without
/// `endsAt` gets `now + resolve_timeout` and [`Alert::timeout`] set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Identifying labels; never empty.
    pub labels: LabelSet,
    /// Informational annotations.
    pub annotations: LabelSet,
    /// When the alert started firing.
    pub starts_at: i64,
    /// When it resolves (or resolved).
    pub ends_at: i64,
    /// Link back to the alert's source.
    pub generator_url: String,
    /// When the dispatcher last received it.
    pub updated_at: i64,
    /// Whether `ends_at` was filled in from `resolve_timeout` rather than
    /// given by the client.
    pub timeout: bool,
}

/// Whether an alert is firing or resolved at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    /// `"firing"` or `"resolved"`, as Alertmanager's payloads spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl Alert {
    /// Alertmanager's fingerprint of the alert's labels.
    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }

    /// Whether the alert is resolved at `now`: its end is not in the
    /// future (Alertmanager's `Alert.ResolvedAt`).
    pub fn resolved_at(&self, now: i64) -> bool {
        self.ends_at != 0 && self.ends_at <= now
    }

    /// Firing or resolved at `now`.
    pub fn status_at(&self, now: i64) -> AlertStatus {
        if self.resolved_at(now) {
            AlertStatus::Resolved
        } else {
            AlertStatus::Firing
        }
    }

    /// The `alertname` label, or "" when absent.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").unwrap_or("")
    }
}
