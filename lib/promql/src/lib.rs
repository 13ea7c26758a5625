//! A PromQL parser and evaluator.
//!
//! This crate is pure: it parses query text into an [`ast::Expr`] and
//! evaluates it against anything that implements [`storage::Storage`] at an
//! evaluation time given by the caller. It does no I/O, reads no clock and
//! spawns nothing, so the rule engine, the promqltest runner and the
//! benchmarks all drive it the same way.
//!
//! Layout:
//! - [`ast`]: the syntax tree, shared by the parser and the evaluator.
//! - [`labels`]: label sets and label matchers.
//! - [`storage`]: the trait the evaluator reads samples through.
//! - [`parser`]: lexer, parser and type checker (errors carry positions).
//! - [`eval`]: the evaluator, functions and aggregations.
//! - [`duration`], [`gofmt`], [`civil`]: Prometheus durations, Go's float
//!   formatting and UTC calendar/RFC 3339 conversions, shared with the
//!   other Watchfire crates so there is one implementation of each.
#![forbid(unsafe_code)]

pub mod ast;
pub mod civil;
pub mod duration;
pub mod eval;
pub mod functions;
pub mod gofmt;
pub mod labels;
pub mod parser;
pub mod storage;

pub use ast::Expr;
pub use labels::{Label, Labels, MatchOp, Matcher};
pub use parser::{parse, ParseError};
pub use storage::{FloatHistogram, HistogramSample, Sample, Series, Storage};

/// The upstream promqltest files (`promql/promqltest/testdata/<name>.test`)
/// this engine is expected to pass: the parser tests parse every query in
/// them and the conformance runner enforces pass floors for them.
pub const IN_SCOPE_TEST_FILES: &[&str] = &[
    "aggregators",
    "at_modifier",
    "collision",
    "functions",
    "histograms",
    "literals",
    "operators",
    "range_queries",
    "selectors",
    "staleness",
    "subquery",
    "trig_functions",
];
