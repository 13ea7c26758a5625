//! The inhibitor (Alertmanager's `inhibit/inhibit.go`), indexed.
//!
//! A target alert is muted by a rule when the rule's target matchers match
//! it and some *firing* source alert (matching the source matchers) has
//! the same value for every `equal` label (absent counts as `""`). When the
//! target also matches the source matchers, sources that also match the
//! target matchers are ignored (so an alert never inhibits itself or its
//! peers).
//!
//! Alertmanager scans every cached source alert per target and rule; here
//! each rule indexes its source alerts by the tuple of their `equal` label
//! values, so a check costs one hash lookup per rule whose target matchers
//! match: linear in alerts × rules, not quadratic in alerts.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use watchfire_alertmodel::{Alert, InhibitRule, LabelSet, Matcher};

#[derive(Debug, Clone)]
struct Source {
    ends_at: i64,
    matches_target: bool,
    /// The source's values of the rule's `equal` labels (hash collisions
    /// are resolved by comparing them).
    values: Vec<String>,
}

#[derive(Debug)]
struct Rule {
    source: Vec<Matcher>,
    /// Index into `Inhibitor::targets` (identical target lists are shared
    /// and evaluated once per check).
    target: usize,
    /// Index into `Inhibitor::equals`.
    equal: usize,
    /// Hash of the `equal` values → sources with those values.
    sources: HashMap<u64, HashMap<u64, Source>>,
}

fn value<'a>(labels: &'a LabelSet, name: &str) -> &'a str {
    labels.get(name).unwrap_or("")
}

fn key_hash(equal: &[String], labels: &LabelSet) -> u64 {
    let mut h = DefaultHasher::new();
    for n in equal {
        value(labels, n).hash(&mut h);
    }
    h.finish()
}

fn all_match(ms: &[Matcher], ls: &LabelSet) -> bool {
    ms.iter().all(|m| m.matches_labels(ls))
}

/// The inhibition rules with their source-alert indexes.
#[derive(Debug, Default)]
pub struct Inhibitor {
    rules: Vec<Rule>,
    targets: Vec<Vec<Matcher>>,
    equals: Vec<Vec<String>>,
}

fn firing(ends_at: i64, now: i64) -> bool {
    ends_at == 0 || ends_at > now
}

fn intern<T: PartialEq>(v: &mut Vec<T>, x: T) -> usize {
    match v.iter().position(|y| *y == x) {
        Some(i) => i,
        None => {
            v.push(x);
            v.len() - 1
        }
    }
}

impl Inhibitor {
    pub fn new(rules: Vec<InhibitRule>) -> Inhibitor {
        let mut ih = Inhibitor::default();
        for r in rules {
            let target = intern(&mut ih.targets, r.target);
            let equal = intern(&mut ih.equals, r.equal);
            ih.rules.push(Rule {
                source: r.source,
                target,
                equal,
                sources: HashMap::new(),
            });
        }
        ih
    }

    /// Records (or refreshes) an alert as a potential source.
    pub fn upsert(&mut self, fp: u64, alert: &Alert) {
        for r in &mut self.rules {
            if !all_match(&r.source, &alert.labels) {
                continue;
            }
            let equal = &self.equals[r.equal];
            let src = Source {
                ends_at: alert.ends_at,
                matches_target: all_match(&self.targets[r.target], &alert.labels),
                values: equal
                    .iter()
                    .map(|n| value(&alert.labels, n).to_string())
                    .collect(),
            };
            let key = key_hash(equal, &alert.labels);
            r.sources.entry(key).or_default().insert(fp, src);
        }
    }

    /// Forgets an alert (deleted from the store).
    pub fn remove(&mut self, fp: u64, labels: &LabelSet) {
        for r in &mut self.rules {
            if !all_match(&r.source, labels) {
                continue;
            }
            let key = key_hash(&self.equals[r.equal], labels);
            if let Some(b) = r.sources.get_mut(&key) {
                b.remove(&fp);
                if b.is_empty() {
                    r.sources.remove(&key);
                }
            }
        }
    }

    /// The fingerprint of a firing alert that inhibits `labels` at `now`,
    /// if any (`Inhibitor.Mutes`).
    pub fn mutes(&self, labels: &LabelSet, now: i64) -> Option<u64> {
        let mut target_ok: Vec<Option<bool>> = vec![None; self.targets.len()];
        let mut hashes: Vec<Option<u64>> = vec![None; self.equals.len()];
        for r in &self.rules {
            if r.sources.is_empty() {
                continue;
            }
            let t = *target_ok[r.target]
                .get_or_insert_with(|| all_match(&self.targets[r.target], labels));
            if !t {
                continue;
            }
            let equal = &self.equals[r.equal];
            let h = *hashes[r.equal].get_or_insert_with(|| key_hash(equal, labels));
            let Some(bucket) = r.sources.get(&h) else {
                continue;
            };
            let two_sided = all_match(&r.source, labels);
            let hit = bucket.iter().find(|(_, s)| {
                firing(s.ends_at, now)
                    && !(two_sided && s.matches_target)
                    && s.values
                        .iter()
                        .zip(equal)
                        .all(|(v, n)| v == value(labels, n))
            });
            if let Some((fp, _)) = hit {
                return Some(*fp);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchfire_alertmodel::MatchType;

    fn ls(s: &str) -> LabelSet {
        s.split(',')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn eq(n: &str, v: &str) -> Matcher {
        Matcher::new(MatchType::Equal, n, v).unwrap()
    }

    fn alert(labels: &str, ends_at: i64) -> Alert {
        Alert {
            labels: ls(labels),
            annotations: LabelSet::new(),
            starts_at: 0,
            ends_at,
            generator_url: String::new(),
            updated_at: 0,
            timeout: false,
        }
    }

    /// Sources are inserted, then `target` is checked at t=100.
    fn check(rule: InhibitRule, sources: &[(&str, i64)], target: &str, expect: bool) {
        let mut ih = Inhibitor::new(vec![rule]);
        for (l, e) in sources {
            let a = alert(l, *e);
            ih.upsert(a.fingerprint(), &a);
        }
        assert_eq!(
            ih.mutes(&ls(target), 100).is_some(),
            expect,
            "{sources:?} -> {target}"
        );
    }

    fn rule(equal: &[&str]) -> InhibitRule {
        InhibitRule {
            source: vec![eq("severity", "critical")],
            target: vec![eq("severity", "warning")],
            equal: equal.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn inhibition_table() {
        let src = "alertname=A,severity=critical,cluster=c1";
        check(
            rule(&["cluster"]),
            &[(src, 200)],
            "alertname=B,severity=warning,cluster=c1",
            true,
        );
        check(
            rule(&["cluster"]),
            &[(src, 200)],
            "alertname=B,severity=warning,cluster=c2",
            false,
        );
        // Resolved source does not inhibit.
        check(
            rule(&["cluster"]),
            &[(src, 50)],
            "alertname=B,severity=warning,cluster=c1",
            false,
        );
        // Absent on both sides counts as equal.
        check(
            rule(&["zone"]),
            &[(src, 200)],
            "alertname=B,severity=warning",
            true,
        );
        // Absent on one side only: not equal.
        check(
            rule(&["zone"]),
            &[(src, 200)],
            "alertname=B,severity=warning,zone=z",
            false,
        );
        // Target matchers must match.
        check(rule(&[]), &[(src, 200)], "alertname=B,severity=info", false);
        // An alert matching both sides does not inhibit itself ...
        let both = InhibitRule {
            source: vec![eq("team", "x")],
            target: vec![eq("team", "x")],
            equal: vec![],
        };
        check(
            both.clone(),
            &[("alertname=A,team=x", 200)],
            "alertname=A,team=x",
            false,
        );
        // ... but a source that does not match the target side does.
        let mixed = InhibitRule {
            source: vec![eq("team", "x")],
            target: vec![eq("kind", "t")],
            equal: vec![],
        };
        check(
            mixed,
            &[("alertname=S,team=x", 200)],
            "alertname=T,team=x,kind=t",
            true,
        );
    }

    #[test]
    fn removal_forgets_sources() {
        let mut ih = Inhibitor::new(vec![rule(&["cluster"])]);
        let a = alert("alertname=A,severity=critical,cluster=c1", 200);
        ih.upsert(a.fingerprint(), &a);
        let t = ls("alertname=B,severity=warning,cluster=c1");
        assert_eq!(ih.mutes(&t, 100), Some(a.fingerprint()));
        ih.remove(a.fingerprint(), &a.labels);
        assert_eq!(ih.mutes(&t, 100), None);
    }
}
