//! The rule engine: recording and alerting rules evaluated like Prometheus's
//! `rules` package.
//!
//! # Layout
//! - [`alerting`]: the pure alert state machine of one alerting rule
//!   (inactive → pending → firing, `keep_firing_for`, 15 min resolved
//!   retention, `ALERTS`/`ALERTS_FOR_STATE` samples).
//! - [`recording`]: the pure recording rule.
//! - [`resend`]: when an alert is (re)sent and what `endsAt` it carries.
//! - [`group`]: the pure evaluation of one group at a time `t`
//!   ([`Group::eval`]): rules in order, each rule's output appended to the
//!   storage before the next rule runs, stale markers, alerts to send.
//! - [`load`]: turns parsed rule files (`watchfire_rulefmt`) into groups.
//! - [`template`]: alert label/annotation templates (parsed once per rule
//!   with `watchfire_template`; the `query` function runs on the group's
//!   engine and storage).
//! - [`manager`]: the tokio side: one task per group ticking at its
//!   interval, hot reload (SIGHUP and file polling), self-metrics, durable
//!   alert state (through [`crate::state`]).
//!
//! # Driving groups without the manager (`watchfire test-rules`)
//! ```ignore
//! use watchfire_router::rules::{EvalOptions, Group, GroupSpec, RuleStorage};
//! let opts = std::sync::Arc::new(EvalOptions::default()); // PromQL engine
//! let specs: Vec<GroupSpec> = rules::load::group_specs(&rule_file, default_interval_ms, 0);
//! let mut groups: Vec<Group> = specs.into_iter().map(|s| Group::new(s, opts.clone())).collect();
//! let mut storage = watchfire_promql::storage::MemStorage::default(); // implements RuleStorage
//! for ts in (0..=max_t).step_by(eval_interval as usize) {
//!     for g in &mut groups {
//!         let out = g.eval(&mut storage, ts); // appends recorded series, ALERTS, stale markers
//!         // out.alerts: what would be sent; out.rules[i].error: per-rule errors
//!     }
//!     // Firing alerts (labels + expanded annotations) as of this evaluation:
//!     let firing = groups.iter().flat_map(|g| g.firing_alerts(Some("MyAlert")));
//! }
//! ```
//! Times are milliseconds since the Unix epoch throughout.

use std::collections::BTreeMap;
use std::sync::Arc;

use watchfire_promql::eval::{Engine, EngineOptions, Value, VectorSample};
use watchfire_promql::{Expr, Labels, Storage};

pub mod alerting;
pub mod group;
pub mod load;
pub mod manager;
mod metrics;
pub mod recording;
pub mod resend;
pub mod template;

pub use alerting::{AlertState, RuleAlert};
pub use group::{AlertSnapshot, Group, GroupEvalOutput, RuleOutcome};
pub use manager::{Manager, ManagerConfig, ManagerError};
pub use template::{RuleTemplates, StorageQuery};

/// Name of the synthetic series with one sample per pending/firing alert.
pub const ALERTS_METRIC: &str = "ALERTS";
/// Name of the series holding each active alert's `ActiveAt` (seconds).
pub const ALERTS_FOR_STATE_METRIC: &str = "ALERTS_FOR_STATE";
/// The label holding the alert name.
pub const ALERTNAME_LABEL: &str = "alertname";
/// The label holding the alert state in `ALERTS`.
pub const ALERTSTATE_LABEL: &str = "alertstate";

/// Storage a group evaluates against and writes its results into.
///
/// Appends must be visible to later [`RuleStorage::storage`] reads, so a
/// later rule in a group sees what an earlier recording rule wrote.
pub trait RuleStorage {
    /// Read access for queries.
    fn storage(&self) -> &dyn Storage;
    /// Appends one float sample (stale markers included). Out-of-order or
    /// duplicate samples may be dropped silently, as upstream does.
    fn append(&mut self, labels: &Labels, t: i64, v: f64);
}

/// [`watchfire_promql::storage::MemStorage`] as a rule storage (for tests and
/// `test-rules`): appends keep each series sorted; a sample at an existing
/// timestamp replaces it.
impl RuleStorage for watchfire_promql::storage::MemStorage {
    fn storage(&self) -> &dyn Storage {
        self
    }

    fn append(&mut self, labels: &Labels, t: i64, v: f64) {
        let sample = watchfire_promql::Sample { t, v };
        let series = match self.series.iter_mut().position(|s| &s.labels == labels) {
            Some(i) => &mut self.series[i],
            None => {
                self.series.push(watchfire_promql::Series {
                    labels: labels.clone(),
                    samples: Vec::new(),
                    histograms: Vec::new(),
                });
                let last = self.series.len() - 1;
                &mut self.series[last]
            }
        };
        match series.samples.binary_search_by(|s| s.t.cmp(&t)) {
            Ok(i) => series.samples[i] = sample,
            Err(i) => series.samples.insert(i, sample),
        }
    }
}

/// A query failure, as rules and templates report it.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum QueryError {
    #[error("{0}")]
    Parse(String),
    #[error("{0}")]
    Eval(String),
    #[error("rule result is not a vector or scalar")]
    NotVector,
}

/// How rules run queries. [`PromqlEngine`] is the real one; tests may
/// script results.
pub trait QueryEngine: Send + Sync {
    /// Evaluates a rule's parsed expression at `t`; scalars become a
    /// one-element vector with no labels (as upstream's `EngineQueryFunc`).
    fn query(
        &self,
        storage: &dyn Storage,
        expr: &Expr,
        text: &str,
        t: i64,
    ) -> Result<Vec<VectorSample>, QueryError>;

    /// Parses and evaluates query text (the `query` template function).
    fn query_text(
        &self,
        storage: &dyn Storage,
        text: &str,
        t: i64,
    ) -> Result<Vec<VectorSample>, QueryError>;

    /// The engine a group evaluating every `interval_ms` should use, when it
    /// differs from this one: PromQL's default subquery step (`x[5m:]`) is
    /// the evaluation interval. `None` means "use this engine as is".
    fn for_interval(&self, interval_ms: i64) -> Option<Arc<dyn QueryEngine>> {
        let _ = interval_ms;
        None
    }
}

/// The PromQL engine from `watchfire_promql`.
#[derive(Debug, Clone, Default)]
pub struct PromqlEngine {
    pub engine: Engine,
}

impl QueryEngine for PromqlEngine {
    fn query(
        &self,
        storage: &dyn Storage,
        expr: &Expr,
        _text: &str,
        t: i64,
    ) -> Result<Vec<VectorSample>, QueryError> {
        let res = self
            .engine
            .instant(storage, expr, t)
            .map_err(|e| QueryError::Eval(e.to_string()))?;
        match res.value {
            Value::Vector(v) => Ok(v),
            Value::Scalar { t, v } => Ok(vec![VectorSample {
                labels: Labels::empty(),
                t,
                v,
                h: None,
            }]),
            _ => Err(QueryError::NotVector),
        }
    }

    fn query_text(
        &self,
        storage: &dyn Storage,
        text: &str,
        t: i64,
    ) -> Result<Vec<VectorSample>, QueryError> {
        let expr = watchfire_promql::parse(text).map_err(|e| QueryError::Parse(e.to_string()))?;
        self.query(storage, &expr, text, t)
    }

    fn for_interval(&self, interval_ms: i64) -> Option<Arc<dyn QueryEngine>> {
        if interval_ms <= 0 || interval_ms == self.engine.opts.default_subquery_step {
            return None;
        }
        Some(Arc::new(PromqlEngine {
            engine: Engine::new(EngineOptions {
                default_subquery_step: interval_ms,
                ..self.engine.opts.clone()
            }),
        }))
    }
}

/// One rule as the engine runs it. Group labels are already merged into
/// `labels` (rule labels win), as upstream does at load time.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub kind: RuleSpecKind,
    pub expr: Arc<Expr>,
    /// The expression text (used for `generatorURL` and identity).
    pub expr_text: String,
    pub labels: BTreeMap<String, String>,
}

/// Recording or alerting, with the kind-specific fields: the rule file
/// type itself.
pub use watchfire_rulefmt::RuleKind as RuleSpecKind;

impl RuleSpec {
    /// The `record` metric name or the `alert` name.
    pub fn name(&self) -> &str {
        self.kind.name()
    }

    /// Identity across reloads (upstream's `nameAndLabels`): name plus the
    /// rule's labels.
    pub fn identity(&self) -> String {
        let labels = Labels::new(self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        format!("{}{}", self.name(), labels)
    }
}

/// One group as the engine runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// The file the group came from ("" for groups built in code).
    pub file: String,
    pub name: String,
    /// Evaluation interval in ms (> 0).
    pub interval_ms: i64,
    /// Queries run at `ts - query_offset_ms`, and results are written there.
    pub query_offset_ms: i64,
    /// Maximum series a recording rule / alerts an alerting rule may
    /// produce; 0 = no limit.
    pub limit: usize,
    pub rules: Vec<RuleSpec>,
}

impl GroupSpec {
    /// `file;name`, the group label value used by metrics and state.
    pub fn key(&self) -> String {
        format!("{};{}", self.file, self.name)
    }
}

/// What every group in a process shares: the query engine (each group
/// derives its own through [`QueryEngine::for_interval`]) and the
/// alert-related settings.
#[derive(Clone)]
pub struct EvalOptions {
    pub engine: Arc<dyn QueryEngine>,
    /// Available to templates as `$externalLabels`.
    pub external_labels: BTreeMap<String, String>,
    /// Used in `generatorURL` and as `$externalURL`.
    pub external_url: String,
    /// Minimum time between resends of an unchanged alert (default 1m).
    pub resend_delay_ms: i64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            engine: Arc::new(PromqlEngine::default()),
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            resend_delay_ms: 60_000,
        }
    }
}

impl std::fmt::Debug for EvalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalOptions")
            .field("external_labels", &self.external_labels)
            .field("external_url", &self.external_url)
            .field("resend_delay_ms", &self.resend_delay_ms)
            .finish_non_exhaustive()
    }
}

/// Converts labels to the map form alerts and templates use.
pub(crate) fn labels_to_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}
