//! The evaluator. (Being written: the public types and signatures below are
//! the contract the runner and the rule engine code against.)

use crate::ast::{Expr, Span};
use crate::labels::Labels;
use crate::storage::{Series, Storage};

/// Engine options.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample, in ms (default 5m).
    pub lookback_delta: i64,
    /// Allow experimental functions (e.g. `sort_by_label`, `double_exponential_smoothing`).
    pub enable_experimental_functions: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { lookback_delta: 5 * 60 * 1000, enable_experimental_functions: true }
    }
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    pub labels: Labels,
    /// Milliseconds.
    pub t: i64,
    pub v: f64,
    /// Set when the sample is a native histogram (then `v` is unused).
    pub h: Option<std::sync::Arc<crate::storage::FloatHistogram>>,
}

/// The result of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vec<VectorSample>),
    /// Range query results, and instant queries of range selectors.
    Matrix(Vec<Series>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationKind {
    Warning,
    Info,
}

/// A warning or info annotation about part of the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub kind: AnnotationKind,
    /// The message without prefix or position, e.g.
    /// `quantile value should be between 0 and 1, got NaN`.
    pub msg: String,
    /// The expression it is about.
    pub span: Span,
}

impl Annotation {
    /// Renders as the API does: `PromQL warning: <msg> (line:col)`.
    pub fn render(&self, query: &str) -> String {
        let (l, c) = self.span.line_col(query);
        let kind = match self.kind {
            AnnotationKind::Warning => "PromQL warning",
            AnnotationKind::Info => "PromQL info",
        };
        format!("{kind}: {} ({l}:{c})", self.msg)
    }
}

/// A successful evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    pub annotations: Vec<Annotation>,
}

/// Evaluation failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Execution(String),
    #[error("evaluator not written yet")]
    Unimplemented,
}

/// The PromQL evaluator. Stateless apart from its options; cheap to share.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    /// Evaluates `expr` at time `t` (ms).
    pub fn instant(&self, _storage: &dyn Storage, _expr: &Expr, _t: i64) -> Result<QueryResult, EvalError> {
        Err(EvalError::Unimplemented)
    }

    /// Evaluates `expr` at every step from `start` to `end` inclusive (ms);
    /// the value is always a `Value::Matrix` sorted by labels.
    pub fn range(
        &self,
        _storage: &dyn Storage,
        _expr: &Expr,
        _start: i64,
        _end: i64,
        _step: i64,
    ) -> Result<QueryResult, EvalError> {
        Err(EvalError::Unimplemented)
    }
}
