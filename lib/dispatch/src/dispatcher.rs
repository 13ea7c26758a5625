//! The [`Dispatcher`]: the state of the dispatch core and the calls that
//! feed it (alerts, silences, config). Flushing and delivery live in
//! `flush.rs`, persistence in `persist.rs`, API views in `view.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use smallvec::SmallVec;
use watchfire_alertmodel::{Alert, GroupBy, LabelSet};

use crate::escalation::{Escalation, EscalationPolicy};
use crate::group::{DispatchConfig, Group};
use crate::inhibit::Inhibitor;
use crate::labels::group_key_into;
use crate::nflog::NflogEntry;
use crate::prepare::{prepare_batch, PreparedBatch};
use crate::records::{id_key, DeadLetter, Outgoing, Table};
use crate::silence::{SilenceError, SilenceSpec, Silences};
use crate::store::{AlertStore, PostableAlert, ReceiveReport};

/// Errors of the dispatcher's calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    #[error("no outgoing notification with id {0}")]
    UnknownOutgoing(u64),
    #[error("no escalation for group {0}")]
    NoEscalation(String),
    #[error(transparent)]
    Silence(#[from] SilenceError),
}

/// The pure dispatch core. Every call takes `now` (ms since the epoch).
pub struct Dispatcher {
    pub(crate) cfg: DispatchConfig,
    pub(crate) policies: HashMap<String, EscalationPolicy>,
    pub(crate) store: AlertStore,
    pub(crate) inhibitor: Inhibitor,
    pub(crate) silences: Silences,
    /// Keyed with a seeded hash: group keys are made of posted labels.
    pub(crate) groups: HashMap<String, Group, foldhash::fast::RandomState>,
    /// Scratch space of `route_alert`, kept to reuse its allocation.
    key_scratch: String,
    pub(crate) flush_timers: BTreeSet<(i64, String)>,
    pub(crate) nflog: HashMap<String, NflogEntry>,
    pub(crate) escalations: HashMap<String, Escalation>,
    pub(crate) esc_timers: BTreeSet<(i64, String)>,
    pub(crate) outbox: BTreeMap<u64, Outgoing>,
    /// Outgoing ids made outside `due` (acks, restore) not yet returned.
    pub(crate) ready: Vec<u64>,
    pub(crate) dead: BTreeMap<u64, DeadLetter>,
    pub(crate) next_id: u64,
    pub(crate) dirty: BTreeSet<(Table, String)>,
    /// Alert versions stored (`Some`) or deleted (`None`) since the last
    /// `take_changes`, in order (kept apart from `dirty`: the ingest path
    /// records one per alert, without a string key or a second lookup).
    pub(crate) dirty_alerts: Vec<(u64, Option<Arc<Alert>>)>,
    pub(crate) next_gc: i64,
}

impl Dispatcher {
    /// An empty dispatcher.
    pub fn new(cfg: DispatchConfig) -> Dispatcher {
        let policies = cfg
            .policies
            .iter()
            .map(|p| (p.name.clone(), p.clone()))
            .collect();
        let inhibitor = Inhibitor::new(cfg.inhibit_rules.clone());
        Dispatcher {
            cfg,
            policies,
            store: AlertStore::default(),
            inhibitor,
            silences: Silences::default(),
            groups: HashMap::default(),
            key_scratch: String::new(),
            flush_timers: BTreeSet::new(),
            nflog: HashMap::new(),
            escalations: HashMap::new(),
            esc_timers: BTreeSet::new(),
            outbox: BTreeMap::new(),
            ready: Vec::new(),
            dead: BTreeMap::new(),
            next_id: 1,
            dirty: BTreeSet::new(),
            dirty_alerts: Vec::new(),
            next_gc: i64::MIN,
        }
    }

    /// `POST /api/v2/alerts`: stores the valid alerts (merging with stored
    /// ones) and places them in their groups; reports the invalid ones.
    pub fn receive(&mut self, now: i64, alerts: Vec<PostableAlert>) -> ReceiveReport {
        self.receive_prepared(prepare_batch(alerts, now, self.cfg.resolve_timeout))
    }

    /// [`Dispatcher::receive`] for alerts prepared beforehand
    /// ([`prepare_batch`], which needs no lock on the dispatcher): only
    /// the store, inhibition and group updates run here.
    pub fn receive_prepared(&mut self, batch: PreparedBatch) -> ReceiveReport {
        let PreparedBatch {
            now,
            alerts,
            errors,
        } = batch;
        let accepted = alerts.len();
        for (fp, alert) in alerts {
            let stored = self.store.put_shared(fp, alert, now);
            self.inhibitor.upsert(fp, &stored);
            self.route_alert(fp, &stored, now);
            // Moved, not cloned: a reference count is an atomic write.
            self.dirty_alerts.push((fp, Some(stored)));
        }
        ReceiveReport { accepted, errors }
    }

    /// `global.resolve_timeout` in ms, for [`prepare_batch`].
    pub fn resolve_timeout(&self) -> i64 {
        self.cfg.resolve_timeout
    }

    /// Places a stored alert in the groups of every route it matches.
    ///
    /// The hot path of `POST /api/v2/alerts`: the routes are visited
    /// borrowed, the group key is written into a reused buffer and the
    /// group is looked up borrowed; the group's label set and owned key are
    /// made only when the group is new. How many groups hold the alert is
    /// counted in its store entry.
    pub(crate) fn route_alert(&mut self, fp: u64, alert: &Alert, now: i64) {
        let mut key = std::mem::take(&mut self.key_scratch);
        let Dispatcher {
            cfg,
            store,
            groups,
            flush_timers,
            dirty,
            ..
        } = self;
        cfg.routing.route_each(&alert.labels, &mut |route| {
            let mut pairs: SmallVec<[(&str, &str); 8]> = SmallVec::new();
            match &route.group_by {
                GroupBy::All => pairs.extend(alert.labels.iter()),
                GroupBy::Labels(names) => {
                    pairs.extend(
                        names
                            .iter()
                            .filter_map(|n| alert.labels.get(n).map(|v| (n.as_str(), v))),
                    );
                    pairs.sort_unstable();
                    pairs.dedup_by(|a, b| a.0 == b.0);
                }
            }
            group_key_into(&mut key, &route.route_key, pairs.iter().copied());
            // A group's record holds its timers, not its alerts: it is
            // written when the group is made or its next flush moves.
            let (before, after, new_alert, new_group) = match groups.get_mut(key.as_str()) {
                Some(g) => {
                    let before = g.next_flush;
                    let new_alert = g.insert(fp, alert, now);
                    (before, g.next_flush, new_alert, false)
                }
                None => {
                    let labels: LabelSet = pairs.iter().copied().collect();
                    let mut g = Group::new(Arc::from(key.as_str()), route.clone(), labels, now);
                    g.insert(fp, alert, now);
                    let after = g.next_flush;
                    flush_timers.insert((after, key.clone()));
                    groups.insert(key.clone(), g);
                    (after, after, true, true)
                }
            };
            if before != after {
                flush_timers.remove(&(before, key.clone()));
                flush_timers.insert((after, key.clone()));
            }
            if new_alert {
                store.add_group(fp);
            }
            if new_group || before != after {
                dirty.insert((Table::Group, key.clone()));
            }
        });
        self.key_scratch = key;
    }

    /// Removes an alert from a group; deletes it from the store when no
    /// group holds it any more.
    pub(crate) fn drop_from_group(&mut self, fp: u64, key: &str) {
        let removed = self
            .groups
            .get_mut(key)
            .is_some_and(|g| g.alerts.remove(&fp));
        if self.store.release_group(fp, removed) {
            self.delete_alert(fp);
        }
    }

    pub(crate) fn delete_alert(&mut self, fp: u64) {
        if let Some(a) = self.store.remove(fp) {
            self.inhibitor.remove(fp, &a.labels);
            self.dirty_alerts.push((fp, None));
        }
    }

    pub(crate) fn remove_group(&mut self, key: &str) {
        if let Some(g) = self.groups.remove(key) {
            self.flush_timers.remove(&(g.next_flush, key.to_string()));
            self.dirty.insert((Table::Group, key.to_string()));
        }
    }

    /// Whether an alert is silenced or inhibited at `now`.
    pub(crate) fn is_muted(&self, labels: &LabelSet, now: i64) -> bool {
        self.inhibitor.mutes(labels, now).is_some() || !self.silences.mutes(labels, now).is_empty()
    }

    /// Creates or updates a silence (`POST /api/v2/silences`); `new_id`
    /// supplies the UUID of a new silence. Returns the silence's id.
    pub fn set_silence(
        &mut self,
        spec: SilenceSpec,
        new_id: &mut dyn FnMut() -> String,
        now: i64,
    ) -> Result<String, DispatchError> {
        let (id, changed) = self.silences.set(spec, new_id, now)?;
        for c in changed {
            self.dirty.insert((Table::Silence, c));
        }
        Ok(id)
    }

    /// Expires a silence (`DELETE /api/v2/silence/{id}`).
    pub fn expire_silence(&mut self, id: &str, now: i64) -> Result<(), DispatchError> {
        self.silences.expire(id, now)?;
        self.dirty.insert((Table::Silence, id.to_string()));
        Ok(())
    }

    /// Applies a new configuration. Alerts, silences, the notification
    /// log, escalations and the outbox are kept; groups are rebuilt from
    /// the stored alerts with fresh timers, as Alertmanager does on reload.
    /// Escalations whose group no longer exists are dropped.
    pub fn reconfigure(&mut self, cfg: DispatchConfig, now: i64) {
        self.policies = cfg
            .policies
            .iter()
            .map(|p| (p.name.clone(), p.clone()))
            .collect();
        self.inhibitor = Inhibitor::new(cfg.inhibit_rules.clone());
        self.cfg = cfg;
        for key in self.groups.keys() {
            self.dirty.insert((Table::Group, key.clone()));
        }
        self.groups.clear();
        self.store.clear_groups();
        self.flush_timers.clear();
        self.rebuild_groups(now);
        let orphans: Vec<String> = self
            .escalations
            .keys()
            .filter(|k| !self.groups.contains_key(*k))
            .cloned()
            .collect();
        for k in orphans {
            if let Some(e) = self.escalations.remove(&k) {
                if let Some(t) = e.next_at {
                    self.esc_timers.remove(&(t, k.clone()));
                }
            }
            self.dirty.insert((Table::Escalation, k));
        }
    }

    /// Indexes and routes every stored alert.
    pub(crate) fn rebuild_groups(&mut self, now: i64) {
        let mut alerts: Vec<(u64, Arc<Alert>)> = self
            .store
            .iter_shared()
            .map(|(f, a)| (*f, a.clone()))
            .collect();
        alerts.sort_by_key(|(f, _)| *f);
        for (fp, a) in alerts {
            self.inhibitor.upsert(fp, &a);
            self.route_alert(fp, &a, now);
        }
    }

    pub(crate) fn mark_outbox(&mut self, id: u64) {
        self.dirty.insert((Table::Outbox, id_key(id)));
    }
}
