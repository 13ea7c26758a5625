//! Time-driven work: group flushes through Alertmanager's pipeline
//! (time intervals → inhibition → silences → dedup against the
//! notification log), escalation steps, acknowledgements, and the
//! delivery outcome that closes a flush.
//!
//! The I/O loop drives it like this:
//!
//! 1. `due(now)` returns the notifications to send; `take_changes()` and
//!    persist them (the outbox entry and the advanced timers) *before*
//!    sending;
//! 2. send each; on success `delivered(id, now)`, on final failure
//!    `failed(id, now, reason)` (dead letter); persist `take_changes()`;
//! 3. sleep until `next_wakeup()` or the next API call.
//!
//! A flush with undelivered notifications holds its group's next flush
//! until every one is delivered or failed (Alertmanager's group loop is
//! blocked while it notifies). Resolved alerts leave the group only
//! after a fully successful flush; the notification log is written only
//! on delivery, so a failed flush is retried at the next tick.

use std::collections::BTreeSet;

use watchfire_alertmodel::{Alert, LabelSet, Notification, NotifyKind};

use crate::dispatcher::{DispatchError, Dispatcher};
use crate::escalation::Escalation;
use crate::group::{snapshot, time_muted, GC_INTERVAL};
use crate::nflog::{needs_update, nflog_key, NflogEntry};
use crate::records::{id_key, DeadLetter, Flight, Origin, Outgoing, Table};

struct NewOutgoing<'a> {
    integration: Option<u32>,
    receiver: &'a str,
    group_key: &'a str,
    group_labels: &'a LabelSet,
    alerts: Vec<Alert>,
    kind: NotifyKind,
    origin: Origin,
    escalation: Option<(String, u32, u32)>,
}

impl Dispatcher {
    /// Runs every flush and escalation step due at `now` and returns the
    /// notifications to send (plus any made since the last call by
    /// `ack` or `restore`).
    pub fn due(&mut self, now: i64) -> Vec<Outgoing> {
        self.maybe_gc(now);
        let mut out = std::mem::take(&mut self.ready);
        while let Some((t, key)) = self.flush_timers.first().cloned() {
            if t > now {
                break;
            }
            self.flush_timers.remove(&(t, key.clone()));
            self.flush(&key, now, &mut out);
        }
        while let Some((t, key)) = self.esc_timers.first().cloned() {
            if t > now {
                break;
            }
            self.esc_timers.remove(&(t, key.clone()));
            self.step(&key, now, &mut out);
        }
        out.iter()
            .filter_map(|id| self.outbox.get(id).cloned())
            .collect()
    }

    /// The earliest time `due` has work, if any (possibly in the past).
    pub fn next_wakeup(&self) -> Option<i64> {
        let ready = (!self.ready.is_empty()).then_some(i64::MIN);
        [
            ready,
            self.flush_timers.first().map(|(t, _)| *t),
            self.esc_timers.first().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn maybe_gc(&mut self, now: i64) {
        if now < self.next_gc {
            return;
        }
        self.next_gc = now + GC_INTERVAL;
        for id in self.silences.gc(now, self.cfg.retention) {
            self.dirty.insert((Table::Silence, id));
        }
        let expired: Vec<String> = self
            .nflog
            .iter()
            .filter(|(_, e)| e.expires_at < now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            self.nflog.remove(&k);
            self.dirty.insert((Table::Nflog, k));
        }
    }

    fn push(&mut self, n: NewOutgoing<'_>, now: i64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.dirty.insert((Table::Meta, "meta".to_string()));
        let notification = Notification {
            receiver: n.receiver.to_string(),
            group_key: n.group_key.to_string(),
            group_labels: n.group_labels.clone(),
            alerts: n.alerts,
            now,
            external_url: self.cfg.external_url.clone(),
            kind: n.kind,
            escalation: n.escalation,
        };
        self.outbox.insert(
            id,
            Outgoing {
                id,
                integration: n.integration,
                notification,
                origin: n.origin,
                created_at: now,
            },
        );
        self.mark_outbox(id);
        id
    }

    /// The group's alerts at `now` and those not muted (time, inhibition,
    /// silences).
    fn group_view(&self, key: &str, now: i64) -> Option<(Vec<Alert>, Vec<Alert>)> {
        let g = self.groups.get(key)?;
        let all = snapshot(g.alerts.iter().filter_map(|fp| self.store.get(*fp)), now);
        let unmuted = if time_muted(&g.route, self.cfg.intervals.as_ref(), now) {
            Vec::new()
        } else {
            all.iter()
                .filter(|a| !self.is_muted(&a.labels, now))
                .cloned()
                .collect()
        };
        Some((all, unmuted))
    }

    fn flush(&mut self, key: &str, now: i64, out: &mut Vec<u64>) {
        let Some(g) = self.groups.get_mut(key) else {
            return;
        };
        if g.in_flight.is_some() {
            // Held until the previous flush completes (see module docs).
            return;
        }
        g.has_flushed = true;
        g.next_flush = now + g.route.group_interval.max(1);
        self.flush_timers.insert((g.next_flush, key.to_string()));
        self.dirty.insert((Table::Group, key.to_string()));
        if g.alerts.is_empty() {
            self.remove_group(key);
            return;
        }
        let route = g.route.clone();
        let labels = g.labels.clone();
        let Some((all, unmuted)) = self.group_view(key, now) else {
            return;
        };
        let resolved_now: Vec<(u64, i64)> = all
            .iter()
            .filter(|a| a.resolved_at(now))
            .map(|a| (a.fingerprint(), a.updated_at))
            .collect();
        if resolved_now.len() == all.len() && self.escalations.contains_key(key) {
            self.resolve_escalation(key, &labels, &all, now, out);
        }
        let firing: BTreeSet<u64> = unmuted
            .iter()
            .filter(|a| !a.resolved_at(now))
            .map(Alert::fingerprint)
            .collect();
        let resolved: BTreeSet<u64> = unmuted
            .iter()
            .filter(|a| a.resolved_at(now))
            .map(Alert::fingerprint)
            .collect();
        if let Some(pname) = &route.escalation_policy {
            if !firing.is_empty() && !self.escalations.contains_key(key) {
                if let Some(p) = self.policies.get(pname) {
                    let e = Escalation::start(key, p, now);
                    if let Some(t) = e.next_at {
                        self.esc_timers.insert((t, key.to_string()));
                    }
                    self.escalations.insert(key.to_string(), e);
                    self.dirty.insert((Table::Escalation, key.to_string()));
                }
            }
        }
        let mut flight = Flight {
            resolved: resolved_now,
            ..Flight::default()
        };
        let integrations = self
            .cfg
            .receivers
            .get(&route.receiver)
            .cloned()
            .unwrap_or_default();
        for (idx, send_resolved) in integrations.into_iter().enumerate() {
            if unmuted.is_empty() {
                break;
            }
            let idx = idx as u32;
            let nk = nflog_key(key, &route.receiver, idx);
            if !needs_update(
                self.nflog.get(&nk),
                &firing,
                &resolved,
                send_resolved,
                route.repeat_interval,
                now,
            ) {
                continue;
            }
            if !send_resolved && firing.is_empty() {
                // Alertmanager's RetryStage reports success without sending
                // and the log records the all-resolved state.
                self.log(key, &route.receiver, idx, &firing, &resolved, now);
                continue;
            }
            let alerts: Vec<Alert> = if send_resolved {
                unmuted.clone()
            } else {
                unmuted
                    .iter()
                    .filter(|a| !a.resolved_at(now))
                    .cloned()
                    .collect()
            };
            let id = self.push(
                NewOutgoing {
                    integration: Some(idx),
                    receiver: &route.receiver,
                    group_key: key,
                    group_labels: &labels,
                    alerts,
                    kind: NotifyKind::Alerts,
                    origin: Origin::Flush {
                        firing: firing.clone(),
                        resolved: resolved.clone(),
                    },
                    escalation: None,
                },
                now,
            );
            flight.outstanding.insert(id);
            out.push(id);
        }
        if flight.outstanding.is_empty() {
            self.complete_flush(key, &flight.resolved);
        } else if let Some(g) = self.groups.get_mut(key) {
            g.in_flight = Some(flight);
        }
    }

    fn log(
        &mut self,
        key: &str,
        receiver: &str,
        idx: u32,
        firing: &BTreeSet<u64>,
        resolved: &BTreeSet<u64>,
        now: i64,
    ) {
        let nk = nflog_key(key, receiver, idx);
        self.nflog.insert(
            nk.clone(),
            NflogEntry {
                group_key: key.to_string(),
                receiver: receiver.to_string(),
                integration: idx,
                firing: firing.clone(),
                resolved: resolved.clone(),
                timestamp: now,
                expires_at: now.saturating_add(self.cfg.retention),
            },
        );
        self.dirty.insert((Table::Nflog, nk));
    }

    /// After a successful flush: drop alerts resolved at flush time and
    /// not updated since; drop the group when empty.
    fn complete_flush(&mut self, key: &str, resolved: &[(u64, i64)]) {
        for (fp, updated_at) in resolved {
            if self
                .store
                .get(*fp)
                .is_some_and(|a| a.updated_at == *updated_at)
            {
                self.drop_from_group(*fp, key);
            }
        }
        if self.groups.get(key).is_some_and(|g| g.alerts.is_empty()) {
            self.remove_group(key);
        }
        self.dirty.insert((Table::Group, key.to_string()));
    }

    fn resolve_escalation(
        &mut self,
        key: &str,
        labels: &LabelSet,
        alerts: &[Alert],
        now: i64,
        out: &mut Vec<u64>,
    ) {
        let Some(e) = self.escalations.remove(key) else {
            return;
        };
        if let Some(t) = e.next_at {
            self.esc_timers.remove(&(t, key.to_string()));
        }
        self.dirty.insert((Table::Escalation, key.to_string()));
        let pos = e.fired.last().map(|f| (e.policy.clone(), f.step, f.round));
        for r in &e.paged {
            let id = self.push(
                NewOutgoing {
                    integration: None,
                    receiver: r,
                    group_key: key,
                    group_labels: labels,
                    alerts: alerts.to_vec(),
                    kind: NotifyKind::Alerts,
                    origin: Origin::Resolve,
                    escalation: pos.clone(),
                },
                now,
            );
            out.push(id);
        }
    }

    fn step(&mut self, key: &str, now: i64, out: &mut Vec<u64>) {
        let Some(e) = self.escalations.get(key) else {
            return;
        };
        if e.next_at.is_none_or(|t| t > now) {
            return;
        }
        let Some((all, unmuted)) = self.group_view(key, now) else {
            // The group is gone: nothing left to escalate.
            self.escalations.remove(key);
            self.dirty.insert((Table::Escalation, key.to_string()));
            return;
        };
        let labels = self
            .groups
            .get(key)
            .map(|g| g.labels.clone())
            .unwrap_or_default();
        if all.iter().all(|a| a.resolved_at(now)) {
            self.resolve_escalation(key, &labels, &all, now, out);
            return;
        }
        let policy = self.policies.get(&e.policy).cloned();
        let Some((step, round)) = e.next else { return };
        let receivers = policy
            .as_ref()
            .and_then(|p| p.steps.get(step as usize))
            .map(|s| s.receivers.clone())
            .unwrap_or_default();
        let notify = unmuted.iter().any(|a| !a.resolved_at(now));
        let pname = e.policy.clone();
        if notify {
            for r in &receivers {
                let id = self.push(
                    NewOutgoing {
                        integration: None,
                        receiver: r,
                        group_key: key,
                        group_labels: &labels,
                        alerts: unmuted.clone(),
                        kind: NotifyKind::Alerts,
                        origin: Origin::Step { step, round },
                        escalation: Some((pname.clone(), step, round)),
                    },
                    now,
                );
                out.push(id);
            }
        }
        if let Some(e) = self.escalations.get_mut(key) {
            if notify {
                e.paged.extend(receivers);
            }
            e.advance(policy.as_ref(), now, !notify);
            if let Some(t) = e.next_at {
                self.esc_timers.insert((t, key.to_string()));
            }
        }
        self.dirty.insert((Table::Escalation, key.to_string()));
    }

    /// Acknowledges a group's escalation: no further steps; every paged
    /// receiver gets a [`NotifyKind::Acknowledged`] notification (returned
    /// by the next `due`). `Ok(false)` when it was already acknowledged.
    pub fn ack(&mut self, group_key: &str, by: &str, now: i64) -> Result<bool, DispatchError> {
        let e = self
            .escalations
            .get_mut(group_key)
            .ok_or_else(|| DispatchError::NoEscalation(group_key.to_string()))?;
        if e.acked.is_some() {
            return Ok(false);
        }
        if let Some(t) = e.next_at {
            self.esc_timers.remove(&(t, group_key.to_string()));
        }
        e.ack(by, now);
        let paged = e.paged.clone();
        let pos = e.fired.last().map(|f| (e.policy.clone(), f.step, f.round));
        self.dirty
            .insert((Table::Escalation, group_key.to_string()));
        let (labels, alerts) = match (self.groups.get(group_key), self.group_view(group_key, now)) {
            (Some(g), Some((all, _))) => (g.labels.clone(), all),
            _ => (LabelSet::new(), Vec::new()),
        };
        for r in &paged {
            let id = self.push(
                NewOutgoing {
                    integration: None,
                    receiver: r,
                    group_key,
                    group_labels: &labels,
                    alerts: alerts.clone(),
                    kind: NotifyKind::Acknowledged { by: by.to_string() },
                    origin: Origin::Ack,
                    escalation: pos.clone(),
                },
                now,
            );
            self.ready.push(id);
        }
        Ok(true)
    }

    /// The notification was delivered (2xx): log it and, when its flush
    /// is complete, let the group move on.
    pub fn delivered(&mut self, id: u64, now: i64) -> Result<(), DispatchError> {
        let o = self
            .outbox
            .remove(&id)
            .ok_or(DispatchError::UnknownOutgoing(id))?;
        self.mark_outbox(id);
        if let (Origin::Flush { firing, resolved }, Some(idx)) = (&o.origin, o.integration) {
            let n = &o.notification;
            self.log(&n.group_key, &n.receiver, idx, firing, resolved, now);
        }
        self.land(&o.notification.group_key, id, false);
        Ok(())
    }

    /// The notification failed for good: it becomes a dead letter, and
    /// its flush (if any) does not count as successful.
    pub fn failed(&mut self, id: u64, now: i64, reason: &str) -> Result<(), DispatchError> {
        let o = self
            .outbox
            .remove(&id)
            .ok_or(DispatchError::UnknownOutgoing(id))?;
        self.mark_outbox(id);
        let key = o.notification.group_key.clone();
        self.dead.insert(
            id,
            DeadLetter {
                outgoing: o,
                failed_at: now,
                reason: reason.to_string(),
            },
        );
        self.dirty.insert((Table::DeadLetter, id_key(id)));
        self.land(&key, id, true);
        Ok(())
    }

    fn land(&mut self, key: &str, id: u64, failed: bool) {
        let Some(g) = self.groups.get_mut(key) else {
            return;
        };
        let Some(f) = g.in_flight.as_mut() else {
            return;
        };
        if !f.outstanding.remove(&id) {
            return;
        }
        f.failed |= failed;
        self.dirty.insert((Table::Group, key.to_string()));
        if !f.outstanding.is_empty() {
            return;
        }
        let done = g.in_flight.take().unwrap_or_default();
        self.flush_timers.insert((g.next_flush, key.to_string()));
        if !done.failed {
            self.complete_flush(key, &done.resolved);
        }
    }

    /// Deletes a dead letter (after an operator handled it).
    pub fn drop_dead_letter(&mut self, id: u64) -> bool {
        let found = self.dead.remove(&id).is_some();
        if found {
            self.dirty.insert((Table::DeadLetter, id_key(id)));
        }
        found
    }
}
