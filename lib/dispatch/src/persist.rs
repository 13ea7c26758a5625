//! Change tracking and restore.
//!
//! Every mutation marks a `(table, key)` dirty; [`Dispatcher::take_changes`]
//! turns the dirty keys into upserts (the record as it is now) or deletes
//! (the record is gone); alerts, marked by fingerprint, come out in
//! [`Changes::alerts`]. [`Dispatcher::restore`] rebuilds the core from the
//! stored records: alerts are routed again under the given config, groups
//! take back their persisted timers, escalations their deadlines, and the
//! outbox (notifications written but not confirmed delivered) is handed
//! out again by the first `due` — at-least-once, never lost. An
//! escalation step that was persisted as fired is never fired again.

use std::collections::HashMap;

use crate::dispatcher::Dispatcher;
use crate::group::DispatchConfig;
use crate::labels::fp_string;
use crate::records::{id_key, Changes, GroupRecord, Meta, Record, Table};
use crate::silence::SilenceError;

/// A persisted record that cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error("silence {id}: {source}")]
    Silence { id: String, source: SilenceError },
}

impl Dispatcher {
    /// The records changed since the last call.
    pub fn take_changes(&mut self) -> Changes {
        let mut ch = Changes {
            alerts: std::mem::take(&mut self.dirty_alerts),
            ..Changes::default()
        };
        for (table, key) in std::mem::take(&mut self.dirty) {
            match self.record(table, &key) {
                Some(r) => ch.upserts.push(r),
                None => ch.deletes.push((table, key)),
            }
        }
        ch
    }

    fn record(&self, table: Table, key: &str) -> Option<Record> {
        let num = || key.parse::<u64>().ok();
        match table {
            Table::Alert => {
                let fp = u64::from_str_radix(key, 16).ok()?;
                self.store.get_shared(fp).map(Record::Alert)
            }
            Table::Group => self.groups.get(key).map(|g| Record::Group(g.record())),
            Table::Nflog => self.nflog.get(key).cloned().map(Record::Nflog),
            Table::Escalation => self.escalations.get(key).cloned().map(Record::Escalation),
            Table::Silence => self.silences.record(key).cloned().map(Record::Silence),
            Table::Outbox => self.outbox.get(&num()?).cloned().map(Record::Outbox),
            Table::DeadLetter => self.dead.get(&num()?).cloned().map(Record::DeadLetter),
            Table::Meta => Some(Record::Meta(Meta {
                next_id: self.next_id,
            })),
        }
    }

    /// Every record of the current state (a full snapshot).
    pub fn records(&self) -> Vec<Record> {
        let mut keys: Vec<(Table, String)> = Vec::new();
        keys.extend(
            self.store
                .iter()
                .map(|(fp, _)| (Table::Alert, fp_string(*fp))),
        );
        keys.extend(self.groups.keys().map(|k| (Table::Group, k.clone())));
        keys.extend(self.nflog.keys().map(|k| (Table::Nflog, k.clone())));
        keys.extend(
            self.escalations
                .keys()
                .map(|k| (Table::Escalation, k.clone())),
        );
        keys.extend(self.silences.iter().map(|s| (Table::Silence, s.id.clone())));
        keys.extend(self.outbox.keys().map(|id| (Table::Outbox, id_key(*id))));
        keys.extend(self.dead.keys().map(|id| (Table::DeadLetter, id_key(*id))));
        keys.push((Table::Meta, "meta".to_string()));
        keys.sort();
        keys.iter()
            .filter_map(|(t, k)| self.record(*t, k))
            .collect()
    }

    /// Rebuilds the core from persisted records at `now`.
    pub fn restore(
        cfg: DispatchConfig,
        records: impl IntoIterator<Item = Record>,
        now: i64,
    ) -> Result<Dispatcher, RestoreError> {
        let mut d = Dispatcher::new(cfg);
        let mut saved: HashMap<String, GroupRecord> = HashMap::new();
        let mut next_id = 1;
        for r in records {
            match r {
                Record::Alert(a) => d.store.insert_raw(a),
                Record::Group(g) => {
                    saved.insert(g.key.clone(), g);
                }
                Record::Nflog(e) => {
                    let k = crate::nflog::nflog_key(&e.group_key, &e.receiver, e.integration);
                    d.nflog.insert(k, e);
                }
                Record::Escalation(e) => {
                    if let Some(t) = e.next_at {
                        d.esc_timers.insert((t, e.group_key.clone()));
                    }
                    d.escalations.insert(e.group_key.clone(), e);
                }
                Record::Silence(s) => {
                    let id = s.id.clone();
                    d.silences
                        .load(s)
                        .map_err(|source| RestoreError::Silence { id, source })?;
                }
                Record::Outbox(o) => {
                    next_id = next_id.max(o.id + 1);
                    d.outbox.insert(o.id, o);
                }
                Record::DeadLetter(x) => {
                    next_id = next_id.max(x.outgoing.id + 1);
                    d.dead.insert(x.outgoing.id, x);
                }
                Record::Meta(m) => next_id = next_id.max(m.next_id),
            }
        }
        d.next_id = next_id;
        d.rebuild_groups(now);
        for key in saved.keys() {
            d.dirty.insert((Table::Group, key.clone()));
        }
        let keys: Vec<String> = d.groups.keys().cloned().collect();
        for key in keys {
            d.dirty.insert((Table::Group, key.clone()));
            let (Some(g), Some(s)) = (d.groups.get_mut(&key), saved.get(&key)) else {
                continue;
            };
            d.flush_timers.remove(&(g.next_flush, key.clone()));
            g.next_flush = s.next_flush;
            g.has_flushed = s.has_flushed;
            g.in_flight = s.in_flight.clone().map(|mut f| {
                f.outstanding.retain(|id| d.outbox.contains_key(id));
                f
            });
            if g.in_flight
                .as_ref()
                .is_some_and(|f| f.outstanding.is_empty())
            {
                // Delivered or failed before the crash but not recorded as
                // complete: treat as failed (a retry at the next tick).
                g.in_flight = None;
            }
            d.flush_timers.insert((g.next_flush, key.clone()));
        }
        d.ready = d.outbox.keys().copied().collect();
        Ok(d)
    }
}
