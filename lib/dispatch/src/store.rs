//! The alert store: what `POST /api/v2/alerts` does to an alert before
//! and while storing it (Alertmanager's `api/v2` post handler,
//! `types.Alert.Validate`, `provider/mem.Alerts.Put` and
//! `types.Alert.Merge`).
//!
//! - `startsAt` defaults to `now` (or to `endsAt` when only that is given);
//!   a missing `endsAt` becomes `now + resolve_timeout` with `timeout` set;
//!   `updatedAt` is `now`.
//! - Empty-valued labels are dropped, then the alert is validated; invalid
//!   alerts are reported with a reason while the valid ones are stored
//!   (Alertmanager stores the valid ones and answers 400).
//! - An update whose activity range overlaps the stored alert's is merged:
//!   earliest start wins, the later non-timeout end wins.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use watchfire_alertmodel::{Alert, LabelSet};

use crate::labels::{go_quote, valid_label_name};

/// An alert as posted to the API (times in ms; `None` when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostableAlert {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub generator_url: String,
}

/// Why an alert was refused (Alertmanager's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertValidationError {
    #[error("start time must be before end time")]
    EndsBeforeStarts,
    #[error("invalid label set: invalid name {}", go_quote(.0))]
    InvalidLabelName(String),
    #[error("at least one label pair required")]
    NoLabels,
    #[error("invalid annotations: invalid name {}", go_quote(.0))]
    InvalidAnnotationName(String),
}

/// One refused alert: its index in the request and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertError {
    pub index: usize,
    pub error: AlertValidationError,
}

/// The outcome of [`crate::Dispatcher::receive`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiveReport {
    /// How many alerts were stored.
    pub accepted: usize,
    /// The refused ones; non-empty means the API answers 400.
    pub errors: Vec<AlertError>,
}

impl ReceiveReport {
    /// Alertmanager's 400 body: the reasons joined with `"; "`.
    pub fn message(&self) -> String {
        let v: Vec<String> = self.errors.iter().map(|e| e.error.to_string()).collect();
        v.join("; ")
    }
}

/// Turns a posted alert into a stored one, or says why it is invalid.
pub fn prepare(
    p: PostableAlert,
    now: i64,
    resolve_timeout: i64,
) -> Result<Alert, AlertValidationError> {
    let mut labels = p.labels;
    labels.remove_empty_values();
    let ends = p.ends_at;
    let starts = match p.starts_at {
        Some(s) => s,
        None => ends.unwrap_or(now),
    };
    let (ends_at, timeout) = match ends {
        Some(e) => (e, false),
        None => (now + resolve_timeout, true),
    };
    if ends_at < starts {
        return Err(AlertValidationError::EndsBeforeStarts);
    }
    if let Some(n) = labels.keys().find(|n| !valid_label_name(n)) {
        return Err(AlertValidationError::InvalidLabelName(n.to_string()));
    }
    if labels.is_empty() {
        return Err(AlertValidationError::NoLabels);
    }
    if let Some(n) = p.annotations.keys().find(|n| !valid_label_name(n)) {
        return Err(AlertValidationError::InvalidAnnotationName(n.to_string()));
    }
    Ok(Alert {
        labels,
        annotations: p.annotations,
        starts_at: starts,
        ends_at,
        generator_url: p.generator_url,
        updated_at: now,
        timeout,
    })
}

/// `types.Alert.Merge`: `a` is the stored alert, `o` the incoming one.
pub fn merge(a: &Alert, o: &Alert, now: i64) -> Alert {
    if o.updated_at < a.updated_at {
        return merge(o, a, now);
    }
    let mut res = o.clone();
    if a.starts_at < o.starts_at {
        res.starts_at = a.starts_at;
    }
    if o.resolved_at(now) {
        if a.resolved_at(now) && a.ends_at > o.ends_at {
            res.ends_at = a.ends_at;
        }
    } else if a.ends_at > o.ends_at && !a.timeout {
        res.ends_at = a.ends_at;
    }
    res
}

/// The stored alerts, by fingerprint. Alerts are shared (`Arc`) with the
/// persistence records, so storing and persisting one copies no labels.
/// Each entry also counts the aggregation groups holding the alert (the
/// dispatcher deletes it when the last one lets it go): one table, so
/// ingesting an alert touches one entry.
#[derive(Debug, Default)]
pub struct AlertStore {
    alerts: crate::FpMap<Entry>,
}

#[derive(Debug)]
struct Entry {
    alert: Arc<Alert>,
    /// Groups holding the alert.
    groups: u32,
}

impl AlertStore {
    /// `provider/mem.Alerts.Put` for one alert, already fingerprinted
    /// (`fp`) and shared: merged when the activity ranges overlap (a new
    /// version), else stored as it is. Returns the stored alert.
    pub fn put_shared(&mut self, fp: u64, alert: Arc<Alert>, now: i64) -> Arc<Alert> {
        use std::collections::hash_map::Entry as Slot;
        match self.alerts.entry(fp) {
            Slot::Occupied(mut e) => {
                let old = &e.get().alert;
                let stored = if (alert.ends_at > old.starts_at && alert.ends_at < old.ends_at)
                    || (alert.starts_at > old.starts_at && alert.starts_at < old.ends_at)
                {
                    Arc::new(merge(old, &alert, now))
                } else {
                    alert
                };
                e.get_mut().alert = stored.clone();
                stored
            }
            Slot::Vacant(e) => {
                e.insert(Entry {
                    alert: alert.clone(),
                    groups: 0,
                });
                alert
            }
        }
    }

    /// Stores an alert as it is (restore), held by no group yet.
    pub fn insert_raw(&mut self, alert: Arc<Alert>) {
        self.alerts
            .insert(alert.fingerprint(), Entry { alert, groups: 0 });
    }

    pub fn get(&self, fp: u64) -> Option<&Alert> {
        self.alerts.get(&fp).map(|e| &*e.alert)
    }

    /// The stored alert itself (shared, not copied).
    pub fn get_shared(&self, fp: u64) -> Option<Arc<Alert>> {
        self.alerts.get(&fp).map(|e| e.alert.clone())
    }

    pub fn remove(&mut self, fp: u64) -> Option<Arc<Alert>> {
        self.alerts.remove(&fp).map(|e| e.alert)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u64, &Alert)> {
        self.alerts.iter().map(|(fp, e)| (fp, &*e.alert))
    }

    pub fn iter_shared(&self) -> impl Iterator<Item = (&u64, &Arc<Alert>)> {
        self.alerts.iter().map(|(fp, e)| (fp, &e.alert))
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    /// One more group holds the alert.
    pub fn add_group(&mut self, fp: u64) {
        if let Some(e) = self.alerts.get_mut(&fp) {
            e.groups += 1;
        }
    }

    /// A group let the alert go (`removed`: it did hold it). True when no
    /// group holds it any more (or it is not stored): it can be deleted.
    pub fn release_group(&mut self, fp: u64, removed: bool) -> bool {
        match self.alerts.get_mut(&fp) {
            Some(e) => {
                if removed {
                    e.groups = e.groups.saturating_sub(1);
                }
                e.groups == 0
            }
            None => true,
        }
    }

    /// No group holds any alert (before the groups are rebuilt).
    pub fn clear_groups(&mut self) {
        for e in self.alerts.values_mut() {
            e.groups = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn post(labels: &[(&str, &str)], s: Option<i64>, e: Option<i64>) -> PostableAlert {
        PostableAlert {
            labels: ls(labels),
            starts_at: s,
            ends_at: e,
            ..Default::default()
        }
    }

    /// expect: Ok((starts, ends, timeout)) or Err(message)
    fn check(p: PostableAlert, expect: Result<(i64, i64, bool), &str>) {
        let got = prepare(p.clone(), 1000, 300).map(|a| (a.starts_at, a.ends_at, a.timeout));
        let got = got.map_err(|e| e.to_string());
        assert_eq!(got, expect.map_err(str::to_string), "{p:?}");
    }

    #[test]
    fn validation_and_defaults() {
        check(post(&[("a", "1")], None, None), Ok((1000, 1300, true)));
        check(post(&[("a", "1")], Some(10), None), Ok((10, 1300, true)));
        check(post(&[("a", "1")], None, Some(500)), Ok((500, 500, false)));
        check(
            post(&[("a", "1")], Some(600), Some(500)),
            Err("start time must be before end time"),
        );
        check(
            post(&[], None, None),
            Err("at least one label pair required"),
        );
        check(
            post(&[("a", "")], None, None),
            Err("at least one label pair required"),
        );
        check(
            post(&[("1a", "x")], None, None),
            Err("invalid label set: invalid name \"1a\""),
        );
        let mut p = post(&[("a", "1")], None, None);
        p.annotations = ls(&[("bad-name", "x")]);
        check(p, Err("invalid annotations: invalid name \"bad-name\""));
    }

    fn alert(s: i64, e: i64, u: i64, timeout: bool) -> Alert {
        Alert {
            labels: ls(&[("a", "1")]),
            annotations: LabelSet::new(),
            starts_at: s,
            ends_at: e,
            generator_url: String::new(),
            updated_at: u,
            timeout,
        }
    }

    fn check_put(old: Alert, new: Alert, now: i64, expect: (i64, i64)) {
        let mut st = AlertStore::default();
        let fp = old.fingerprint();
        st.put_shared(fp, Arc::new(old), now);
        st.put_shared(fp, Arc::new(new), now);
        let a = st.get(fp).unwrap();
        assert_eq!((a.starts_at, a.ends_at), expect);
    }

    #[test]
    fn merge_semantics() {
        // Overlap: earliest start kept, later explicit end kept.
        check_put(
            alert(100, 500, 1, false),
            alert(200, 400, 2, false),
            150,
            (100, 500),
        );
        // A timeout end does not win over a newer, earlier end.
        check_put(
            alert(100, 500, 1, true),
            alert(200, 400, 2, false),
            150,
            (100, 400),
        );
        // A resolve (end in the past) overlapping the stored range wins.
        check_put(
            alert(100, 500, 1, false),
            alert(100, 300, 2, false),
            350,
            (100, 300),
        );
        // No overlap: plain replacement (a new episode).
        check_put(
            alert(100, 200, 1, false),
            alert(300, 900, 2, false),
            350,
            (300, 900),
        );
    }

    /// The store keeps a new alert as given (no copy) but merges an
    /// overlapping update into a new version.
    #[test]
    fn shared_puts() {
        let a = Arc::new(prepare(post(&[("a", "1")], None, None), 1000, 300).unwrap());
        let fp = a.fingerprint();
        let mut st = AlertStore::default();
        let stored = st.put_shared(fp, a.clone(), 1000);
        assert!(Arc::ptr_eq(&stored, &a));
        let update = Arc::new(Alert {
            starts_at: 1100,
            updated_at: 1100,
            ..(*a).clone()
        });
        let merged = st.put_shared(fp, update.clone(), 1100);
        assert!(!Arc::ptr_eq(&merged, &update));
        assert_eq!(merged.starts_at, 1000);
        assert!(Arc::ptr_eq(&st.get_shared(fp).unwrap(), &merged));
    }
}
