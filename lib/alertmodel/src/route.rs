//! What routing decides for an alert, and the config-side types the
//! dispatch core consumes: [`RouteOpts`], the [`Routing`] and
//! [`TimeIntervalSet`] traits, and [`InhibitRule`].

use crate::labels::LabelSet;
use crate::matcher::Matcher;
use std::sync::Arc;

/// How a route groups alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// `group_by: ['...']`: every label, i.e. one group per alert.
    All,
    /// Group by these labels (may be empty: one group for the route).
    Labels(Vec<String>),
}

/// The options of a matched route: everything the dispatcher needs to
/// place an alert in an aggregation group and time its notifications.
/// Durations are milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOpts {
    /// Alertmanager's route key (`{}/{team="db"}/0`-style path). Part of
    /// every group key, so the same labels under two routes form two
    /// groups.
    pub route_key: String,
    /// The receiver's name.
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: i64,
    pub group_interval: i64,
    pub repeat_interval: i64,
    /// Names of time intervals during which notifications are muted.
    pub mute_time_intervals: Vec<String>,
    /// Names of time intervals outside which notifications are muted
    /// (empty: always active).
    pub active_time_intervals: Vec<String>,
    /// Watchfire's escalation policy attached to this route, if any.
    pub escalation_policy: Option<String>,
}

impl RouteOpts {
    /// The group labels of an alert under this route.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.as_str(), v)))
                .collect(),
        }
    }
}

/// A route tree: which routes an alert's labels match, in tree order
/// (Alertmanager's `Route.Match`, honouring `continue`). Never empty: the
/// root matches everything.
pub trait Routing: Send + Sync {
    fn route(&self, labels: &LabelSet) -> Vec<Arc<RouteOpts>>;

    /// [`Routing::route`] as a visit: calls `each` with every matched
    /// route, in order, borrowed (the ingest path clones no `Arc` per
    /// alert: a shared reference count is a cache line the cores would
    /// pass back and forth).
    fn route_each(&self, labels: &LabelSet, each: &mut dyn FnMut(&Arc<RouteOpts>)) {
        for r in self.route(labels) {
            each(&r);
        }
    }
}

/// Named time intervals, evaluated at a time in ms since the epoch.
pub trait TimeIntervalSet: Send + Sync {
    /// Whether `t` falls in the named interval; `None` when the name is
    /// unknown (config validation rejects unknown names, so the core may
    /// treat `None` as "not in the interval").
    fn contains(&self, name: &str, t: i64) -> Option<bool>;
}

/// An inhibition rule: a firing alert matching `source` mutes alerts
/// matching `target` that have equal values for every `equal` label (an
/// absent label counts as equal to an absent label, as in Alertmanager).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InhibitRule {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    pub equal: Vec<String>,
}
