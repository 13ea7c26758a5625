//! Read-only views for the API (`/api/v2/alerts`, `/api/v2/alerts/groups`,
//! `/api/v2/silences`, Watchfire's escalations and dead letters).
//!
//! As in Alertmanager 0.25, an alert's status is computed when it is
//! listed: `suppressed` when an active silence or an inhibition applies,
//! else `active`; alerts whose `endsAt` is before `now` are not listed.
//! Alerts are listed in fingerprint order; groups by labels then
//! receiver, their alerts in Alertmanager's alert order; silences active
//! (by end), then pending (by start), then expired (latest end first).

use std::collections::HashMap;

use watchfire_alertmodel::{Alert, LabelSet, Silence, SilenceState};

use crate::dispatcher::Dispatcher;
use crate::escalation::Escalation;
use crate::labels::{alert_cmp, fp_string, labelset_cmp};
use crate::records::{DeadLetter, Outgoing};
use crate::silence::state;

/// An alert's status as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Unprocessed,
    Active,
    Suppressed,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Unprocessed => "unprocessed",
            AlertState::Active => "active",
            AlertState::Suppressed => "suppressed",
        }
    }
}

/// An alert with its status.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertView {
    pub alert: Alert,
    pub fingerprint: u64,
    pub state: AlertState,
    /// Ids of the active silences muting it, sorted.
    pub silenced_by: Vec<String>,
    /// Fingerprints (16 hex digits) of the alerts inhibiting it.
    pub inhibited_by: Vec<String>,
    /// Receivers of the routes it matches.
    pub receivers: Vec<String>,
}

/// An aggregation group as `/api/v2/alerts/groups` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupView {
    pub labels: LabelSet,
    pub receiver: String,
    pub group_key: String,
    pub alerts: Vec<AlertView>,
    pub escalation: Option<Escalation>,
}

/// What the state gauges report, counted without building views (the
/// metrics refresh runs under the core's lock every few seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Listed alerts (as in [`Dispatcher::alerts`]) not muted at `now`.
    pub active: usize,
    /// Listed alerts muted by a silence or an inhibition at `now`.
    pub suppressed: usize,
    /// Groups [`Dispatcher::alert_groups`] lists (with a listed alert).
    pub groups: usize,
    /// Outbox entries ([`Dispatcher::pending`]).
    pub pending: usize,
    /// Dead letters ([`Dispatcher::dead_letters`]).
    pub dead_letters: usize,
}

/// A silence with its state at the time of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceView {
    pub silence: Silence,
    pub state: SilenceState,
}

impl Dispatcher {
    fn view(&self, fp: u64, a: &Alert, receivers: Vec<String>, now: i64) -> AlertView {
        let silenced_by = self.silences.mutes(&a.labels, now);
        let inhibited_by: Vec<String> = self
            .inhibitor
            .mutes(&a.labels, now)
            .map(fp_string)
            .into_iter()
            .collect();
        let state = if silenced_by.is_empty() && inhibited_by.is_empty() {
            AlertState::Active
        } else {
            AlertState::Suppressed
        };
        AlertView {
            alert: a.clone(),
            fingerprint: fp,
            state,
            silenced_by,
            inhibited_by,
            receivers,
        }
    }

    /// `GET /api/v2/alerts` (before the request's own filters).
    pub fn alerts(&self, now: i64) -> Vec<AlertView> {
        let mut v: Vec<AlertView> = self
            .store
            .iter()
            .filter(|(_, a)| !(a.ends_at != 0 && a.ends_at < now))
            .map(|(fp, a)| {
                let receivers = self
                    .cfg
                    .routing
                    .route(&a.labels)
                    .iter()
                    .map(|r| r.receiver.clone())
                    .collect();
                self.view(*fp, a, receivers, now)
            })
            .collect();
        v.sort_by_key(|a| a.fingerprint);
        v
    }

    /// `GET /api/v2/alerts/groups` (before the request's own filters).
    pub fn alert_groups(&self, now: i64) -> Vec<GroupView> {
        let mut receivers: HashMap<u64, Vec<String>> = HashMap::new();
        let mut listed: Vec<(&crate::group::Group, Vec<(u64, &Alert)>)> = Vec::new();
        for g in self.groups.values() {
            let mut alerts: Vec<(u64, &Alert)> = g
                .alerts
                .iter()
                .filter_map(|fp| self.store.get(*fp).map(|a| (*fp, a)))
                .filter(|(_, a)| !(a.ends_at != 0 && a.ends_at < now))
                .collect();
            // The set is unordered; list in fingerprint order.
            alerts.sort_unstable_by_key(|(fp, _)| *fp);
            for (fp, _) in &alerts {
                receivers
                    .entry(*fp)
                    .or_default()
                    .push(g.route.receiver.clone());
            }
            if !alerts.is_empty() {
                listed.push((g, alerts));
            }
        }
        for r in receivers.values_mut() {
            r.sort();
        }
        let mut out: Vec<GroupView> = listed
            .into_iter()
            .map(|(g, alerts)| {
                let mut alerts: Vec<AlertView> = alerts
                    .into_iter()
                    .map(|(fp, a)| {
                        self.view(fp, a, receivers.get(&fp).cloned().unwrap_or_default(), now)
                    })
                    .collect();
                alerts.sort_by(|x, y| alert_cmp(&x.alert, &y.alert));
                GroupView {
                    labels: g.labels.clone(),
                    receiver: g.route.receiver.clone(),
                    group_key: g.key.to_string(),
                    alerts,
                    escalation: self.escalations.get(&*g.key).cloned(),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            labelset_cmp(&a.labels, &b.labels).then_with(|| a.receiver.cmp(&b.receiver))
        });
        out
    }

    /// `GET /api/v2/silences`, in Alertmanager's order.
    pub fn silences(&self, now: i64) -> Vec<SilenceView> {
        let mut v: Vec<SilenceView> = self
            .silences
            .iter()
            .map(|s| SilenceView {
                silence: s.clone(),
                state: state(s, now),
            })
            .collect();
        let rank = |s: SilenceState| match s {
            SilenceState::Active => 0,
            SilenceState::Pending => 1,
            SilenceState::Expired => 2,
        };
        v.sort_by(|a, b| {
            rank(a.state)
                .cmp(&rank(b.state))
                .then_with(|| match a.state {
                    SilenceState::Pending => a.silence.starts_at.cmp(&b.silence.starts_at),
                    SilenceState::Expired => b.silence.ends_at.cmp(&a.silence.ends_at),
                    SilenceState::Active => a.silence.ends_at.cmp(&b.silence.ends_at),
                })
        });
        v
    }

    /// `GET /api/v2/silence/{id}`.
    pub fn silence(&self, id: &str, now: i64) -> Option<SilenceView> {
        self.silences.get(id).map(|s| SilenceView {
            silence: s.clone(),
            state: state(s, now),
        })
    }

    /// Running, exhausted and acknowledged escalations, by group key.
    pub fn escalations(&self) -> Vec<Escalation> {
        let mut v: Vec<Escalation> = self.escalations.values().cloned().collect();
        v.sort_by(|a, b| a.group_key.cmp(&b.group_key));
        v
    }

    /// Notifications that failed for good.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead.values().cloned().collect()
    }

    /// Notifications written but not yet confirmed delivered or failed.
    pub fn pending(&self) -> Vec<Outgoing> {
        self.outbox.values().cloned().collect()
    }

    /// The gauges' counts at `now`; equal to counting the views.
    pub fn counts(&self, now: i64) -> StateCounts {
        let listed = |a: &Alert| !(a.ends_at != 0 && a.ends_at < now);
        let mut c = StateCounts {
            pending: self.outbox.len(),
            dead_letters: self.dead.len(),
            ..StateCounts::default()
        };
        for (_, a) in self.store.iter().filter(|(_, a)| listed(a)) {
            if self.is_muted(&a.labels, now) {
                c.suppressed += 1;
            } else {
                c.active += 1;
            }
        }
        c.groups = self
            .groups
            .values()
            .filter(|g| {
                g.alerts
                    .iter()
                    .any(|fp| self.store.get(*fp).is_some_and(listed))
            })
            .count();
        c
    }

    /// How many alerts are stored.
    pub fn alert_count(&self) -> usize {
        self.store.len()
    }
}
