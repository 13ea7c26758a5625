//! The alert state machine of one alerting rule, as upstream's
//! `rules/alerting.go`.
//!
//! Each evaluation takes the query result (already computed) and:
//! - builds each alert's labels (result labels without `__name__`, plus the
//!   templated rule labels, plus `alertname`) and annotations (templated
//!   with the current `$value`/`$labels`);
//! - creates a pending alert for each new label set (a resolved alert with
//!   the same labels is replaced), updates value and annotations of known
//!   ones;
//! - turns pending into firing once active for `for`; keeps a firing alert
//!   firing for `keep_firing_for` after its series disappeared; otherwise
//!   resolves it (kept 15 min as resolved so it is re-sent) or drops a
//!   pending one;
//! - returns the `ALERTS` and `ALERTS_FOR_STATE` samples.
//!
//! Nothing here does I/O; templates are expanded through a callback that
//! gets the template text and the alert's template data (upstream's
//! `AlertTemplateData`, built once per result sample).

use std::collections::BTreeMap;

use watchfire_promql::eval::VectorSample;
use watchfire_promql::labels::METRIC_NAME;
use watchfire_promql::Labels;

use watchfire_template::{AlertTemplateData, Value as TemplateValue};

use super::{
    labels_to_map, ALERTNAME_LABEL, ALERTSTATE_LABEL, ALERTS_FOR_STATE_METRIC, ALERTS_METRIC,
};

/// How long a resolved alert is kept (and re-sent as resolved).
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The state of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    /// The `alertstate` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }

    /// Parses [`AlertState::as_str`] output.
    pub fn parse(s: &str) -> Option<AlertState> {
        match s {
            "inactive" => Some(AlertState::Inactive),
            "pending" => Some(AlertState::Pending),
            "firing" => Some(AlertState::Firing),
            _ => None,
        }
    }
}

/// One alert of a rule (upstream's `rules.Alert`). Times are ms.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleAlert {
    /// Identifying labels: no `__name__`, with `alertname`.
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    /// The expression value at the last evaluation.
    pub value: f64,
    pub state: AlertState,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub valid_until: Option<i64>,
    pub keep_firing_since: Option<i64>,
}

/// Errors of one alerting rule evaluation.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum AlertingError {
    #[error("vector contains metrics with the same labelset after applying alert labels")]
    DuplicateLabelset,
    #[error("exceeded limit of {limit} with {count} alerts")]
    Limit { limit: usize, count: usize },
}

/// The static part of an alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertingParams {
    pub name: String,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// How persisted state is brought back after a restart (upstream's
/// `--rules.alert.for-outage-tolerance` and `--rules.alert.for-grace-period`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestorePolicy {
    /// State older than this (since the last evaluation before the
    /// restart) is not restored. Default 1h.
    pub outage_tolerance_ms: i64,
    /// Minimum time between the restart and firing of a restored pending
    /// alert when evaluations were missed. Default 10m.
    pub for_grace_period_ms: i64,
}

impl Default for RestorePolicy {
    fn default() -> Self {
        RestorePolicy {
            outage_tolerance_ms: 60 * 60 * 1000,
            for_grace_period_ms: 10 * 60 * 1000,
        }
    }
}

/// A rule's alerts and their state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertingRule {
    pub params: AlertingParams,
    pub(crate) active: BTreeMap<Labels, RuleAlert>,
}

/// A template callback: `(text, data) -> expanded`, where `data` is an
/// [`AlertTemplateData`] value ([`TemplateValue::Nil`] when the rule has no
/// templates).
pub type Expand<'a> = dyn FnMut(&str, &TemplateValue) -> String + 'a;

impl AlertingRule {
    pub fn new(params: AlertingParams) -> Self {
        AlertingRule {
            params,
            active: BTreeMap::new(),
        }
    }

    /// All alerts the rule tracks (pending, firing and resolved-but-kept).
    pub fn alerts(&self) -> impl Iterator<Item = &RuleAlert> {
        self.active.values()
    }

    /// Mutable access for the sender (`last_sent_at`, `valid_until`).
    pub(crate) fn alerts_mut(&mut self) -> impl Iterator<Item = &mut RuleAlert> {
        self.active.values_mut()
    }

    /// The highest state over all alerts.
    pub fn state(&self) -> AlertState {
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    /// Brings back persisted alerts (see [`RestorePolicy`]). `down_at` is
    /// the time of the last evaluation before the restart, `ts` the first
    /// evaluation after it and `interval_ms` the group interval.
    ///
    /// Like upstream's `RestoreForState`, with the outage measured from the
    /// evaluation that was due after `down_at`: a restart that misses no
    /// evaluation is invisible (the alert fires when it would have), while
    /// a real outage shifts a pending alert's `active_at` by its length,
    /// and no restored alert fires before `for_grace_period` has passed.
    pub fn restore(
        &mut self,
        saved: Vec<RuleAlert>,
        down_at: i64,
        ts: i64,
        interval_ms: i64,
        policy: &RestorePolicy,
    ) {
        if ts - down_at > policy.outage_tolerance_ms {
            return;
        }
        let outage = (ts - down_at - interval_ms).max(0);
        let hold = self.params.for_ms;
        for mut a in saved {
            if outage > 0 && a.state == AlertState::Pending {
                if hold < policy.for_grace_period_ms {
                    continue;
                }
                let remaining = hold - (down_at - a.active_at);
                if remaining <= 0 {
                    // Was due to fire: fires at the next evaluation.
                } else if remaining < policy.for_grace_period_ms {
                    a.active_at = ts + policy.for_grace_period_ms - hold;
                } else {
                    a.active_at += outage;
                }
            }
            self.active.insert(a.labels.clone(), a);
        }
    }

    /// One evaluation at `ts` over the query result `res`. Returns the
    /// `ALERTS`/`ALERTS_FOR_STATE` samples (the caller stamps them).
    pub fn eval(
        &mut self,
        res: Vec<VectorSample>,
        ts: i64,
        limit: usize,
        expand: &mut Expand<'_>,
        external: (&BTreeMap<String, String>, &str),
    ) -> Result<Vec<(Labels, f64)>, AlertingError> {
        let p = &self.params;
        let templated = p
            .labels
            .values()
            .chain(p.annotations.values())
            .any(|t| t.contains("{{"));
        let mut fresh: BTreeMap<Labels, RuleAlert> = BTreeMap::new();
        for s in res {
            let data = if templated {
                AlertTemplateData {
                    labels: labels_to_map(&s.labels),
                    external_labels: external.0.clone(),
                    external_url: external.1.to_string(),
                    value: s.v,
                }
                .to_value()
            } else {
                TemplateValue::Nil
            };
            let mut lb = s.labels.builder();
            lb.del(METRIC_NAME);
            for (k, v) in &p.labels {
                let val = expand(v, &data);
                lb.set(k, &val);
            }
            lb.set(ALERTNAME_LABEL, &p.name);
            let annotations: BTreeMap<String, String> = p
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), expand(v, &data)))
                .collect();
            let labels = lb.build();
            if fresh.contains_key(&labels) {
                return Err(AlertingError::DuplicateLabelset);
            }
            fresh.insert(
                labels.clone(),
                RuleAlert {
                    labels,
                    annotations,
                    value: s.v,
                    state: AlertState::Pending,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: None,
                    keep_firing_since: None,
                },
            );
        }

        let present: std::collections::BTreeSet<Labels> = fresh.keys().cloned().collect();
        for (h, a) in fresh {
            match self.active.get_mut(&h) {
                Some(old) if old.state != AlertState::Inactive => {
                    old.value = a.value;
                    old.annotations = a.annotations;
                }
                _ => {
                    self.active.insert(h, a);
                }
            }
        }

        let hold = p.for_ms;
        let keep_for = p.keep_firing_for_ms;
        let mut out = Vec::new();
        let mut num_active = 0usize;
        let mut remove = Vec::new();
        for (h, a) in self.active.iter_mut() {
            if !present.contains(h) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep_for > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < keep_for;
                }
                if a.state == AlertState::Pending
                    || a.resolved_at
                        .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
                {
                    remove.push(h.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            num_active += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= hold {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            let mut lb = a.labels.builder();
            lb.set(METRIC_NAME, ALERTS_METRIC);
            lb.set(ALERTNAME_LABEL, &p.name);
            lb.set(ALERTSTATE_LABEL, a.state.as_str());
            out.push((lb.build(), 1.0));
            let mut lb = a.labels.builder();
            lb.set(METRIC_NAME, ALERTS_FOR_STATE_METRIC);
            lb.set(ALERTNAME_LABEL, &p.name);
            out.push((lb.build(), (a.active_at.div_euclid(1000)) as f64));
        }
        for h in remove {
            self.active.remove(&h);
        }
        if limit > 0 && num_active > limit {
            self.active.clear();
            return Err(AlertingError::Limit {
                limit,
                count: num_active,
            });
        }
        Ok(out)
    }
}
