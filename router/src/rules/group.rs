//! The pure evaluation of one rule group at a time `t` (upstream's
//! `Group.Eval`), plus the state a group carries between evaluations:
//! each rule's alerts and the series it wrote last time (for stale
//! markers).
//!
//! [`Group::eval`] runs the rules in order. Each rule queries at
//! `ts - query_offset`, and its output (recorded series, or `ALERTS` and
//! `ALERTS_FOR_STATE`) is appended to the storage before the next rule
//! runs, stamped `ts - query_offset`. Series a rule wrote last time but not
//! this time get a stale marker. A failing rule writes nothing (and marks
//! nothing stale) for that evaluation. Alerts due for (re)sending are
//! returned in [`GroupEvalOutput::alerts`].
//!
//! Each group queries through its own engine (the shared one adapted to
//! the group interval, see [`super::QueryEngine::for_interval`]); each
//! alerting rule keeps its parsed templates ([`RuleTemplates`]), whose
//! `query` function reads the storage being evaluated at the evaluation
//! time `ts`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use watchfire_promql::storage::stale_nan;
use watchfire_promql::Labels;

use super::alerting::{
    AlertState, AlertingError, AlertingParams, AlertingRule, RestorePolicy, RuleAlert,
};
use super::recording::{record, RecordingError};
use super::resend::{generator_url, mark_sent, needs_sending};
use super::template::{RuleTemplates, StorageQuery};
use super::{
    labels_to_map, EvalOptions, GroupSpec, QueryEngine, QueryError, RuleSpec, RuleSpecKind,
    RuleStorage,
};
use crate::notify::Alert;

/// Why one rule failed in one evaluation.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RuleError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Recording(#[from] RecordingError),
    #[error(transparent)]
    Alerting(#[from] AlertingError),
}

/// What happened to one rule in one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleOutcome {
    pub name: String,
    pub error: Option<RuleError>,
    /// Samples the rule produced (stale markers not counted).
    pub samples: usize,
    pub duration: Duration,
}

/// The result of [`Group::eval`].
#[derive(Debug, Clone, PartialEq)]
pub struct GroupEvalOutput {
    /// The evaluation time.
    pub ts: i64,
    /// One entry per rule, in order.
    pub rules: Vec<RuleOutcome>,
    /// Samples appended (stale markers not counted).
    pub samples: usize,
    /// Alerts to hand to the sink (firing and resolved).
    pub alerts: Vec<Alert>,
}

/// An alert as tools and APIs list it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSnapshot {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    pub active_at: i64,
    pub value: f64,
}

/// The persisted state of a group: each alerting rule's alerts by rule
/// key, and the time of the last evaluation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupState {
    pub last_eval: Option<i64>,
    /// `(rule key, alerts)`; see [`Group::rule_key`].
    pub rules: Vec<(String, Vec<RuleAlert>)>,
}

#[derive(Debug, Clone)]
struct RuleSlot {
    spec: RuleSpec,
    key: String,
    alerting: Option<AlertingRule>,
    /// The alerting rule's parsed label and annotation templates.
    templates: RuleTemplates,
    prev_series: HashSet<Labels>,
    generator_url: String,
    last_error: Option<RuleError>,
}

/// A rule group and its evaluation state.
#[derive(Clone)]
pub struct Group {
    spec: GroupSpec,
    opts: Arc<EvalOptions>,
    /// The query engine for this group's interval.
    engine: Arc<dyn QueryEngine>,
    rules: Vec<RuleSlot>,
    /// Series of rules that went away on reload: marked stale next eval.
    stale_series: Vec<Labels>,
    last_eval: Option<i64>,
    restore: Option<(GroupState, RestorePolicy)>,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("spec", &self.spec)
            .field("opts", &self.opts)
            .field("rules", &self.rules)
            .field("stale_series", &self.stale_series)
            .field("last_eval", &self.last_eval)
            .field("restore", &self.restore)
            .finish_non_exhaustive()
    }
}

impl Group {
    pub fn new(spec: GroupSpec, opts: Arc<EvalOptions>) -> Group {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let rules = spec
            .rules
            .iter()
            .map(|r| {
                let id = r.identity();
                let n = seen.entry(id.clone()).or_insert(0);
                let key = format!("{id}#{n}");
                *n += 1;
                let templates = match &r.kind {
                    RuleSpecKind::Alerting {
                        alert, annotations, ..
                    } => RuleTemplates::new(
                        alert,
                        r.labels
                            .values()
                            .chain(annotations.values())
                            .map(String::as_str),
                    ),
                    RuleSpecKind::Recording { .. } => RuleTemplates::default(),
                };
                let alerting = match &r.kind {
                    RuleSpecKind::Alerting {
                        alert,
                        for_ms,
                        keep_firing_for_ms,
                        annotations,
                    } => Some(AlertingRule::new(AlertingParams {
                        name: alert.clone(),
                        for_ms: *for_ms,
                        keep_firing_for_ms: *keep_firing_for_ms,
                        labels: r.labels.clone(),
                        annotations: annotations.clone(),
                    })),
                    RuleSpecKind::Recording { .. } => None,
                };
                RuleSlot {
                    generator_url: generator_url(&opts.external_url, &r.expr_text),
                    spec: r.clone(),
                    key,
                    alerting,
                    templates,
                    prev_series: HashSet::new(),
                    last_error: None,
                }
            })
            .collect();
        let engine = opts
            .engine
            .for_interval(spec.interval_ms)
            .unwrap_or_else(|| opts.engine.clone());
        Group {
            spec,
            opts,
            engine,
            rules,
            stale_series: Vec::new(),
            last_eval: None,
            restore: None,
        }
    }

    pub fn spec(&self) -> &GroupSpec {
        &self.spec
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn file(&self) -> &str {
        &self.spec.file
    }

    /// `file;name`.
    pub fn key(&self) -> String {
        self.spec.key()
    }

    pub fn interval_ms(&self) -> i64 {
        self.spec.interval_ms
    }

    /// The time of the last evaluation.
    pub fn last_eval(&self) -> Option<i64> {
        self.last_eval
    }

    /// The key rule `i`'s state is persisted under: its name and labels,
    /// plus its rank among rules with the same name and labels.
    pub fn rule_key(&self, i: usize) -> Option<&str> {
        self.rules.get(i).map(|r| r.key.as_str())
    }

    /// The last error of each rule (`None` when its last evaluation worked).
    pub fn rule_errors(&self) -> Vec<(&str, Option<&RuleError>)> {
        self.rules
            .iter()
            .map(|r| (r.spec.name(), r.last_error.as_ref()))
            .collect()
    }

    /// Every pending or firing alert, optionally of one `alertname`.
    pub fn active_alerts(&self, alertname: Option<&str>) -> Vec<AlertSnapshot> {
        self.snapshots(alertname, |s| s != AlertState::Inactive)
    }

    /// Every firing alert, optionally of one `alertname`: what promtool's
    /// `alert_rule_test` compares against.
    pub fn firing_alerts(&self, alertname: Option<&str>) -> Vec<AlertSnapshot> {
        self.snapshots(alertname, |s| s == AlertState::Firing)
    }

    fn snapshots(
        &self,
        alertname: Option<&str>,
        keep: impl Fn(AlertState) -> bool,
    ) -> Vec<AlertSnapshot> {
        self.rules
            .iter()
            .filter_map(|r| r.alerting.as_ref())
            .filter(|ar| alertname.is_none_or(|n| n == ar.params.name))
            .flat_map(|ar| ar.alerts())
            .filter(|a| keep(a.state))
            .map(|a| AlertSnapshot {
                labels: labels_to_map(&a.labels),
                annotations: a.annotations.clone(),
                state: a.state,
                active_at: a.active_at,
                value: a.value,
            })
            .collect()
    }

    /// The state to persist after an evaluation.
    pub fn state(&self) -> GroupState {
        GroupState {
            last_eval: self.last_eval,
            rules: self
                .rules
                .iter()
                .filter_map(|r| {
                    let ar = r.alerting.as_ref()?;
                    Some((r.key.clone(), ar.alerts().cloned().collect()))
                })
                .collect(),
        }
    }

    /// Schedules persisted state to be restored at the next evaluation
    /// (see [`AlertingRule::restore`]). Rules are matched by key.
    pub fn restore_state(&mut self, state: GroupState, policy: RestorePolicy) {
        self.restore = Some((state, policy));
    }

    /// Takes over the state of the group this one replaces on reload
    /// (upstream's `CopyState`): rules are matched by name and labels;
    /// series of rules that no longer exist are marked stale at the next
    /// evaluation.
    pub fn copy_state_from(&mut self, old: Group) {
        self.last_eval = old.last_eval;
        self.stale_series = old.stale_series;
        if self.restore.is_none() {
            self.restore = old.restore;
        }
        let mut by_key: HashMap<String, RuleSlot> =
            old.rules.into_iter().map(|r| (r.key.clone(), r)).collect();
        for r in &mut self.rules {
            let Some(o) = by_key.remove(&r.key) else {
                continue;
            };
            r.prev_series = o.prev_series;
            if let (Some(ar), Some(oar)) = (r.alerting.as_mut(), o.alerting) {
                ar.active = oar.active;
            }
        }
        for (_, o) in by_key {
            self.stale_series.extend(o.prev_series);
        }
    }

    /// Series this group wrote at its last evaluation (for marking them
    /// stale when the group is removed).
    pub fn written_series(&self) -> Vec<Labels> {
        let mut v: Vec<Labels> = self
            .rules
            .iter()
            .flat_map(|r| r.prev_series.iter().cloned())
            .collect();
        v.extend(self.stale_series.iter().cloned());
        v
    }

    /// Evaluates every rule at `ts`, appending results to `storage`.
    pub fn eval(&mut self, storage: &mut dyn RuleStorage, ts: i64) -> GroupEvalOutput {
        let opts = self.opts.clone();
        let engine = self.engine.clone();
        let t = ts - self.spec.query_offset_ms;
        let limit = self.spec.limit;
        let interval = self.spec.interval_ms;
        let mut restore = self.restore.take().map(|(s, p)| {
            let by_key: HashMap<String, Vec<RuleAlert>> = s.rules.into_iter().collect();
            (by_key, s.last_eval, p)
        });
        let mut out = GroupEvalOutput {
            ts,
            rules: Vec::with_capacity(self.rules.len()),
            samples: 0,
            alerts: Vec::new(),
        };
        for slot in &mut self.rules {
            let started = Instant::now();
            if let (Some(ar), Some((by_key, Some(down_at), policy))) =
                (slot.alerting.as_mut(), restore.as_mut())
            {
                if let Some(saved) = by_key.remove(&slot.key) {
                    ar.restore(saved, *down_at, ts, interval, policy);
                }
            }
            let result = eval_rule(slot, storage, &*engine, &opts, ts, t, limit);
            let (samples, error) = match result {
                Ok(samples) => (samples, None),
                Err(e) => {
                    tracing::warn!(group = %self.spec.name, rule = slot.spec.name(), error = %e, "evaluating rule failed");
                    (Vec::new(), Some(e))
                }
            };
            if error.is_none() {
                let mut returned = HashSet::with_capacity(samples.len());
                for (l, v) in &samples {
                    storage.append(l, t, *v);
                    returned.insert(l.clone());
                }
                for l in slot.prev_series.iter().filter(|l| !returned.contains(*l)) {
                    storage.append(l, t, stale_nan());
                }
                slot.prev_series = returned;
                if let Some(ar) = slot.alerting.as_mut() {
                    for a in ar.alerts_mut() {
                        if needs_sending(a, ts, opts.resend_delay_ms) {
                            out.alerts.push(mark_sent(
                                a,
                                ts,
                                opts.resend_delay_ms,
                                interval,
                                &slot.generator_url,
                                &opts.external_labels,
                            ));
                        }
                    }
                }
            }
            out.samples += samples.len();
            slot.last_error = error.clone();
            out.rules.push(RuleOutcome {
                name: slot.spec.name().to_string(),
                error,
                samples: samples.len(),
                duration: started.elapsed(),
            });
        }
        for l in std::mem::take(&mut self.stale_series) {
            storage.append(&l, t, stale_nan());
        }
        self.last_eval = Some(ts);
        out
    }
}

/// Evaluates one rule; returns the samples to write.
fn eval_rule(
    slot: &mut RuleSlot,
    storage: &mut dyn RuleStorage,
    engine: &dyn QueryEngine,
    opts: &EvalOptions,
    ts: i64,
    t: i64,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, RuleError> {
    let read = storage.storage();
    let res = engine.query(read, &slot.spec.expr, &slot.spec.expr_text, t)?;
    match (&slot.spec.kind, slot.alerting.as_mut()) {
        (RuleSpecKind::Recording { record: name }, _) => {
            Ok(record(name, &slot.spec.labels, res, limit)?)
        }
        (RuleSpecKind::Alerting { .. }, Some(ar)) => {
            // Templates query at the evaluation time, not `ts - offset`
            // (as upstream).
            let query = StorageQuery {
                engine,
                storage: read,
            };
            let ctx = watchfire_template::ExecContext {
                ts_ms: ts,
                external_url: &opts.external_url,
                query: Some(&query),
            };
            let templates = &slot.templates;
            let mut expand =
                |text: &str, data: &watchfire_template::Value| templates.expand(text, data, &ctx);
            let samples = ar.eval(
                res,
                ts,
                limit,
                &mut expand,
                (&opts.external_labels, &opts.external_url),
            )?;
            Ok(samples)
        }
        (RuleSpecKind::Alerting { .. }, None) => Ok(Vec::new()),
    }
}
