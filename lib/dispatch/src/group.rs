//! Aggregation groups (Alertmanager's `dispatch.aggrGroup`) and the
//! configuration the dispatcher runs with.
//!
//! A group is keyed by `route_key:{group labels}`. It is created with its
//! first flush due `group_wait` later; an alert inserted before the first
//! flush whose `startsAt + group_wait` is already past makes the flush due
//! at once. Each flush schedules the next one `group_interval` later. The
//! group holds fingerprints; the alert data lives in the store.

use std::collections::BTreeMap;
use std::sync::Arc;

use watchfire_alertmodel::{Alert, InhibitRule, LabelSet, RouteOpts, Routing, TimeIntervalSet};

use crate::escalation::EscalationPolicy;
use crate::labels::alert_cmp;
use crate::records::{Flight, GroupRecord};

/// Five minutes: Alertmanager's default `resolve_timeout`.
pub const DEFAULT_RESOLVE_TIMEOUT: i64 = 5 * 60 * 1000;
/// 120 hours: Alertmanager's default `--data.retention` (notification
/// log entries and expired silences).
pub const DEFAULT_RETENTION: i64 = 120 * 3600 * 1000;
/// 15 minutes: Alertmanager's maintenance interval (garbage collection).
pub const GC_INTERVAL: i64 = 15 * 60 * 1000;

/// Everything the dispatcher takes from configuration.
#[derive(Clone)]
pub struct DispatchConfig {
    pub routing: Arc<dyn Routing>,
    pub intervals: Arc<dyn TimeIntervalSet>,
    pub inhibit_rules: Vec<InhibitRule>,
    pub policies: Vec<EscalationPolicy>,
    /// Per receiver name, the `send_resolved` flag of each of its
    /// integrations in config order. A receiver absent here (or with no
    /// integrations) gets no Alertmanager-style notification; escalation
    /// steps, acks and resolves still name it.
    pub receivers: BTreeMap<String, Vec<bool>>,
    /// `global.resolve_timeout` in ms.
    pub resolve_timeout: i64,
    /// How long notification-log entries and expired silences are kept.
    pub retention: i64,
    /// Copied into every notification.
    pub external_url: String,
}

impl DispatchConfig {
    /// A config with Alertmanager's defaults and no rules, policies or
    /// receivers.
    pub fn new(routing: Arc<dyn Routing>, intervals: Arc<dyn TimeIntervalSet>) -> DispatchConfig {
        DispatchConfig {
            routing,
            intervals,
            inhibit_rules: Vec::new(),
            policies: Vec::new(),
            receivers: BTreeMap::new(),
            resolve_timeout: DEFAULT_RESOLVE_TIMEOUT,
            retention: DEFAULT_RETENTION,
            external_url: String::new(),
        }
    }
}

/// One aggregation group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Shared with the per-alert index of the groups holding each alert.
    pub key: Arc<str>,
    pub route: Arc<RouteOpts>,
    pub labels: LabelSet,
    pub alerts: crate::FpSet,
    pub next_flush: i64,
    pub has_flushed: bool,
    pub in_flight: Option<Flight>,
}

impl Group {
    pub fn new(key: Arc<str>, route: Arc<RouteOpts>, labels: LabelSet, now: i64) -> Group {
        let next_flush = now + route.group_wait;
        Group {
            key,
            route,
            labels,
            alerts: crate::FpSet::default(),
            next_flush,
            has_flushed: false,
            in_flight: None,
        }
    }

    /// `aggrGroup.insert`: adds the alert and, before the first flush,
    /// flushes at once when the alert is older than `group_wait`. Returns
    /// whether the alert is new to the group.
    pub fn insert(&mut self, fp: u64, alert: &Alert, now: i64) -> bool {
        let new = self.alerts.insert(fp);
        if !self.has_flushed && alert.starts_at + self.route.group_wait < now {
            self.next_flush = self.next_flush.min(now);
        }
        new
    }

    pub fn record(&self) -> GroupRecord {
        GroupRecord {
            key: self.key.to_string(),
            labels: self.labels.clone(),
            receiver: self.route.receiver.clone(),
            next_flush: self.next_flush,
            has_flushed: self.has_flushed,
            in_flight: self.in_flight.clone(),
        }
    }
}

/// The group's alerts as a flush sees them at `now`: in Alertmanager's
/// order, with `endsAt` cleared on firing alerts ("alerts don't resolve
/// as time moves forward").
pub fn snapshot<'a>(alerts: impl Iterator<Item = &'a Alert>, now: i64) -> Vec<Alert> {
    let mut v: Vec<Alert> = alerts
        .map(|a| {
            let mut a = a.clone();
            if !a.resolved_at(now) {
                a.ends_at = 0;
            }
            a
        })
        .collect();
    v.sort_by(alert_cmp);
    v
}

/// Whether the route's notifications are muted at `now` by its active or
/// mute time intervals (`TimeActiveStage`, `TimeMuteStage`). An unknown
/// interval name counts as "not in the interval".
pub fn time_muted(route: &RouteOpts, intervals: &dyn TimeIntervalSet, now: i64) -> bool {
    let inside = |names: &[String]| {
        names
            .iter()
            .any(|n| intervals.contains(n, now).unwrap_or(false))
    };
    if !route.active_time_intervals.is_empty() && !inside(&route.active_time_intervals) {
        return true;
    }
    inside(&route.mute_time_intervals)
}
