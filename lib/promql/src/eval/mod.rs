//! The evaluator: evaluates a parsed PromQL expression against a
//! [`Storage`] at an instant or over a range of steps, like Prometheus 3's
//! engine (with delayed `__name__` removal) for floats and classic
//! histograms; native histograms pass through selectors.
//!
//! Layout:
//! - this file: the public contract (`Engine`, `Value`, annotations, errors);
//! - [`engine`](self::engine): the evaluator walk, selectors, lookback,
//!   `offset`/`@`, subqueries and the step loop;
//! - `binary`: operators and vector matching; `aggregate`: aggregations;
//! - `functions`: function calls (range functions, math, dates, labels,
//!   histograms); `annotations`: warning/info texts; `types`: internal values.

mod aggregate;
mod annotations;
mod binary;
mod engine;
mod functions;
mod types;

use crate::ast::{Expr, Span, ValueType};
use crate::labels::Labels;
use crate::storage::{Sample, Series, Storage};

/// Engine options.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample, in ms (default 5m).
    pub lookback_delta: i64,
    /// Allow experimental functions (e.g. `sort_by_label`, `double_exponential_smoothing`).
    pub enable_experimental_functions: bool,
    /// The step of a subquery written without one (`x[5m:]`), in ms
    /// (Prometheus uses the rule group's evaluation interval; the test suite 1m).
    pub default_subquery_step: i64,
    /// Most samples a query may load (Prometheus's `query.max-samples`,
    /// default 50,000,000): samples selected from storage and the points
    /// subqueries produce, summed over the query.
    pub max_samples: usize,
    /// Most steps of one evaluation: a range query, or a subquery at each
    /// of its parent's steps (default 1,000,000). Guards against
    /// `x[1y:1ms]`-style queries that would run for hours.
    pub max_steps: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: 5 * 60 * 1000,
            enable_experimental_functions: true,
            default_subquery_step: 60 * 1000,
            max_samples: 50_000_000,
            max_steps: 1_000_000,
        }
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
    Scalar {
        t: i64,
        v: f64,
    },
    String {
        t: i64,
        v: String,
    },
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
    pub fn instant(
        &self,
        storage: &dyn Storage,
        expr: &Expr,
        t: i64,
    ) -> Result<QueryResult, EvalError> {
        let mut ev = engine::Evaluator::new(storage, &self.opts, t, t, 1);
        let val = ev.eval(expr)?;
        let value = match val {
            types::Val::String(s) => Value::String { t, v: s },
            types::Val::Matrix(m) => {
                let m = engine::cleanup_names(m)?;
                match engine::expr_type(expr) {
                    ValueType::Scalar => {
                        let v = m
                            .first()
                            .and_then(|s| s.floats.first())
                            .map_or(f64::NAN, |p| p.f);
                        Value::Scalar { t, v }
                    }
                    ValueType::Matrix => Value::Matrix(to_public_matrix(m)),
                    _ => Value::Vector(
                        m.into_iter()
                            .filter_map(|s| {
                                if let Some(h) = s.hists.into_iter().next() {
                                    Some(VectorSample {
                                        labels: s.labels,
                                        t,
                                        v: 0.0,
                                        h: Some(h.h),
                                    })
                                } else {
                                    let p = s.floats.first()?;
                                    Some(VectorSample {
                                        labels: s.labels,
                                        t,
                                        v: p.f,
                                        h: None,
                                    })
                                }
                            })
                            .collect(),
                    ),
                }
            }
        };
        Ok(QueryResult {
            value,
            annotations: ev.annos.list,
        })
    }

    /// Evaluates `expr` at every step from `start` to `end` inclusive (ms);
    /// the value is always a `Value::Matrix` sorted by labels.
    pub fn range(
        &self,
        storage: &dyn Storage,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, EvalError> {
        if step <= 0 {
            return Err(EvalError::Execution(
                "zero or negative query resolution step widths are not accepted".into(),
            ));
        }
        engine::check_steps(start, end, step, self.opts.max_steps)?;
        let mut ev = engine::Evaluator::new(storage, &self.opts, start, end, step);
        warn_sorts(expr, &mut ev.annos);
        let m = match ev.eval(expr)? {
            types::Val::Matrix(m) => engine::cleanup_names(m)?,
            types::Val::String(_) => {
                return Err(EvalError::Execution(
                    "string expressions cannot be range queries".into(),
                ))
            }
        };
        Ok(QueryResult {
            value: Value::Matrix(to_public_matrix(m)),
            annotations: ev.annos.list,
        })
    }
}

/// Converts to the public form, sorted by labels.
fn to_public_matrix(m: types::Matrix) -> Vec<Series> {
    let mut out: Vec<Series> = m
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| Series {
            labels: s.labels,
            samples: s
                .floats
                .into_iter()
                .map(|p| Sample { t: p.t, v: p.f })
                .collect(),
            histograms: s
                .hists
                .into_iter()
                .map(|p| crate::storage::HistogramSample { t: p.t, h: p.h })
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

/// Range queries warn about `sort*` calls, whose order is lost.
fn warn_sorts(e: &Expr, annos: &mut annotations::Annotations) {
    crate::parser::with_stack(|| warn_sorts_node(e, annos))
}

fn warn_sorts_node(e: &Expr, annos: &mut annotations::Annotations) {
    match e {
        Expr::Call { func, args, span } => {
            if matches!(
                func.as_str(),
                "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"
            ) {
                annos.add(annotations::sort_ineffective(*span));
            }
            for a in args {
                warn_sorts(a, annos);
            }
        }
        Expr::Aggregate { expr, param, .. } => {
            warn_sorts(expr, annos);
            if let Some(p) = param {
                warn_sorts(p, annos);
            }
        }
        Expr::Binary { lhs, rhs, .. } => {
            warn_sorts(lhs, annos);
            warn_sorts(rhs, annos);
        }
        Expr::Unary { expr, .. } | Expr::Paren { expr, .. } | Expr::Subquery { expr, .. } => {
            warn_sorts(expr, annos)
        }
        _ => {}
    }
}
