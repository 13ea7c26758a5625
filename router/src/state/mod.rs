//! Durable alert state in a redb file, so pending and firing alerts (their
//! active-since, `for` and `keep_firing_for` progress, last send) survive a
//! restart — what Prometheus gets from `ALERTS_FOR_STATE` in its TSDB.
//!
//! Layout (two tables):
//! - `rule_alerts`: key `group_key \x1f rule_key \x1f alert labels`, value
//!   a JSON [`PersistedAlert`]; one row per alert.
//! - `rule_groups`: key `group_key`, value the timestamp (ms) of the
//!   group's last evaluation (the "down at" time restoration measures
//!   outages from).
//!
//! [`StateStore::save_group`] replaces a group's rows in one write
//! transaction after each evaluation; [`StateStore::load`] reads
//! everything back at startup. Restoration itself is pure and lives in
//! [`crate::rules::alerting::AlertingRule::restore`].

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use watchfire_promql::Labels;

use crate::rules::alerting::{AlertState, RuleAlert};
use crate::rules::group::GroupState;

const ALERTS: TableDefinition<&str, &[u8]> = TableDefinition::new("rule_alerts");
const GROUPS: TableDefinition<&str, i64> = TableDefinition::new("rule_groups");
const SEP: char = '\x1f';

/// State store failures.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("alert state database: {0}")]
    Db(Box<redb::Error>),
    #[error("creating the folder of {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
}

fn dbe<E: Into<redb::Error>>(e: E) -> StateError {
    StateError::Db(Box::new(e.into()))
}

/// One alert as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersistedAlert {
    pub labels: Vec<(String, String)>,
    pub annotations: BTreeMap<String, String>,
    /// `f64::to_bits` (JSON has no NaN).
    pub value_bits: u64,
    pub state: String,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub valid_until: Option<i64>,
    pub keep_firing_since: Option<i64>,
}

impl PersistedAlert {
    pub fn from_alert(a: &RuleAlert) -> Self {
        PersistedAlert {
            labels: a
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
            annotations: a.annotations.clone(),
            value_bits: a.value.to_bits(),
            state: a.state.as_str().to_string(),
            active_at: a.active_at,
            fired_at: a.fired_at,
            resolved_at: a.resolved_at,
            last_sent_at: a.last_sent_at,
            valid_until: a.valid_until,
            keep_firing_since: a.keep_firing_since,
        }
    }

    /// `None` when the stored state name is unknown.
    pub fn to_alert(&self) -> Option<RuleAlert> {
        Some(RuleAlert {
            labels: Labels::new(self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            annotations: self.annotations.clone(),
            value: f64::from_bits(self.value_bits),
            state: AlertState::parse(&self.state)?,
            active_at: self.active_at,
            fired_at: self.fired_at,
            resolved_at: self.resolved_at,
            last_sent_at: self.last_sent_at,
            valid_until: self.valid_until,
            keep_firing_since: self.keep_firing_since,
        })
    }
}

/// The redb-backed alert state store.
#[derive(Debug)]
pub struct StateStore {
    db: Database,
}

impl StateStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<StateStore, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Dir {
                path: path.display().to_string(),
                source,
            })?;
        }
        let db = Database::create(path).map_err(dbe)?;
        let tx = db.begin_write().map_err(dbe)?;
        tx.open_table(ALERTS).map_err(dbe)?;
        tx.open_table(GROUPS).map_err(dbe)?;
        tx.commit().map_err(dbe)?;
        Ok(StateStore { db })
    }

    /// Replaces the stored state of group `group_key` in one transaction.
    pub fn save_group(&self, group_key: &str, state: &GroupState) -> Result<(), StateError> {
        let tx = self.db.begin_write().map_err(dbe)?;
        {
            let mut alerts = tx.open_table(ALERTS).map_err(dbe)?;
            remove_prefix(&mut alerts, &format!("{group_key}{SEP}"))?;
            for (rule, list) in &state.rules {
                for a in list {
                    let key = format!("{group_key}{SEP}{rule}{SEP}{}", a.labels);
                    let value =
                        serde_json::to_vec(&PersistedAlert::from_alert(a)).unwrap_or_default();
                    alerts.insert(key.as_str(), value.as_slice()).map_err(dbe)?;
                }
            }
            let mut groups = tx.open_table(GROUPS).map_err(dbe)?;
            match state.last_eval {
                Some(t) => {
                    groups.insert(group_key, t).map_err(dbe)?;
                }
                None => {
                    groups.remove(group_key).map_err(dbe)?;
                }
            }
        }
        tx.commit().map_err(dbe)
    }

    /// Forgets a group (it was removed from the rule files).
    pub fn remove_group(&self, group_key: &str) -> Result<(), StateError> {
        self.save_group(group_key, &GroupState::default())
    }

    /// Everything stored, by group key. Undecodable rows are skipped.
    pub fn load(&self) -> Result<HashMap<String, GroupState>, StateError> {
        let tx = self.db.begin_read().map_err(dbe)?;
        let mut out: HashMap<String, GroupState> = HashMap::new();
        let groups = tx.open_table(GROUPS).map_err(dbe)?;
        for row in groups.iter().map_err(dbe)? {
            let (k, v) = row.map_err(dbe)?;
            out.entry(k.value().to_string()).or_default().last_eval = Some(v.value());
        }
        let alerts = tx.open_table(ALERTS).map_err(dbe)?;
        let mut by_rule: HashMap<(String, String), Vec<RuleAlert>> = HashMap::new();
        for row in alerts.iter().map_err(dbe)? {
            let (k, v) = row.map_err(dbe)?;
            let mut parts = k.value().splitn(3, SEP);
            let (Some(g), Some(r)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Some(a) = serde_json::from_slice::<PersistedAlert>(v.value())
                .ok()
                .and_then(|p| p.to_alert())
            else {
                tracing::warn!(key = k.value(), "skipping undecodable alert state");
                continue;
            };
            by_rule
                .entry((g.to_string(), r.to_string()))
                .or_default()
                .push(a);
        }
        for ((g, r), list) in by_rule {
            out.entry(g).or_default().rules.push((r, list));
        }
        Ok(out)
    }
}

fn remove_prefix(t: &mut redb::Table<&str, &[u8]>, prefix: &str) -> Result<(), StateError> {
    let keys: Vec<String> = t
        .range(prefix..)
        .map_err(dbe)?
        .map(|r| r.map(|(k, _)| k.value().to_string()))
        .take_while(|r| r.as_ref().map(|k| k.starts_with(prefix)).unwrap_or(true))
        .collect::<Result<_, _>>()
        .map_err(dbe)?;
    for k in keys {
        t.remove(k.as_str()).map_err(dbe)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_group_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.redb");
        let alert = RuleAlert {
            labels: Labels::new([("alertname", "A"), ("job", "x")]),
            annotations: BTreeMap::from([("s".to_string(), "t".to_string())]),
            value: f64::NAN,
            state: AlertState::Firing,
            active_at: 1000,
            fired_at: Some(2000),
            resolved_at: None,
            last_sent_at: Some(2000),
            valid_until: Some(5000),
            keep_firing_since: None,
        };
        let st = GroupState {
            last_eval: Some(9000),
            rules: vec![("A{}#0".into(), vec![alert.clone()])],
        };
        {
            let s = StateStore::open(&path).unwrap();
            s.save_group("f;g", &st).unwrap();
            s.save_group("f;g2", &st).unwrap();
            s.remove_group("f;g2").unwrap();
        }
        let s = StateStore::open(&path).unwrap();
        let got = s.load().unwrap();
        assert_eq!(got.len(), 1);
        let g = &got["f;g"];
        assert_eq!(g.last_eval, Some(9000));
        assert_eq!(g.rules.len(), 1);
        let back = &g.rules[0].1[0];
        assert!(back.value.is_nan());
        assert_eq!(
            RuleAlert {
                value: f64::NAN,
                ..back.clone()
            }
            .labels,
            alert.labels
        );
        assert_eq!(back.fired_at, Some(2000));
        assert_eq!(back.state, AlertState::Firing);
    }
}
