//! [`Notification`]: what the dispatch core hands to a receiver.

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, AlertStatus};
use crate::labels::LabelSet;

/// Why a notification is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotifyKind {
    /// The group's alerts, firing and/or resolved (Alertmanager's only
    /// kind). PagerDuty maps it to `trigger`, or `resolve` when every alert
    /// is resolved.
    Alerts,
    /// Someone acknowledged the group (PagerDuty `acknowledge`, Slack
    /// message update).
    Acknowledged { by: String },
}

/// One notification for one receiver about one aggregation group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The receiver's name (its integrations all get the notification).
    pub receiver: String,
    /// Alertmanager's group key, e.g. `{}/{team="db"}:{alertname="X"}`.
    /// Stable for the group's life: PagerDuty's `dedup_key` and Slack's
    /// message identity derive from it.
    pub group_key: String,
    /// The labels the group is keyed on.
    pub group_labels: LabelSet,
    /// The group's alerts at `now`, firing and resolved, in fingerprint
    /// order.
    pub alerts: Vec<Alert>,
    /// The time the notification was made; statuses are taken at it.
    pub now: i64,
    /// The router's external URL (links in messages).
    pub external_url: String,
    pub kind: NotifyKind,
    /// The escalation step being notified (0-based) and the repeat round,
    /// when the group runs an escalation policy.
    pub escalation: Option<(String, u32, u32)>,
}

impl Notification {
    /// `firing` when any alert fires at `now`, else `resolved`.
    pub fn status(&self) -> AlertStatus {
        if self.alerts.iter().any(|a| !a.resolved_at(self.now)) {
            AlertStatus::Firing
        } else {
            AlertStatus::Resolved
        }
    }

    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(move |a| !a.resolved_at(self.now))
    }

    pub fn resolved(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(move |a| a.resolved_at(self.now))
    }

    /// Labels every alert shares (Alertmanager's `CommonLabels`).
    pub fn common_labels(&self) -> LabelSet {
        common(self.alerts.iter().map(|a| &a.labels))
    }

    /// Annotations every alert shares (`CommonAnnotations`).
    pub fn common_annotations(&self) -> LabelSet {
        common(self.alerts.iter().map(|a| &a.annotations))
    }
}

fn common<'a>(mut sets: impl Iterator<Item = &'a LabelSet>) -> LabelSet {
    let Some(first) = sets.next() else {
        return LabelSet::new();
    };
    let mut out = first.clone();
    for s in sets {
        out.retain(|k, v| s.get(k) == Some(v));
    }
    out
}
