//! [`Silence`]: a time-bounded set of matchers that mutes alerts.

use crate::labels::LabelSet;
use crate::matcher::Matcher;

/// A silence, as the Alertmanager v2 API models it. Times in ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    /// A UUID string.
    pub id: String,
    /// All must match for the silence to apply.
    pub matchers: Vec<Matcher>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub updated_at: i64,
    pub created_by: String,
    pub comment: String,
}

/// The state of a silence at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    /// Pending before `starts_at`, expired from `ends_at` on.
    pub fn state_at(&self, now: i64) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now >= self.ends_at {
            SilenceState::Expired
        } else {
            SilenceState::Active
        }
    }

    /// Whether the silence's matchers all match the labels (regardless of
    /// its state).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matchers.iter().all(|m| m.matches_labels(labels))
    }
}
