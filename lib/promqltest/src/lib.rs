//! The promqltest script format and the promtool series notation.
//!
//! - [`notation`]: the expanding series value notation (`1+2x3 _ stale`,
//!   native histograms `{{...}}`), shared with `watchfire test-rules`.
//! - [`duration`]: Prometheus duration strings (re-exported from `watchfire_promql`).
//! - [`script`]: parsing promqltest scripts into commands.
//! - [`compare`]: upstream's result/annotation/error comparison rules.
//! - [`runner`]: executing scripts against the Watchfire engine, with skip
//!   reasons and per-file reports.
//! - [`step_invariance`]: upstream's `@`-modifier re-runs of instant evals.
//! - [`floor`]: per-file pass floors used by the conformance test.
#![forbid(unsafe_code)]

pub mod compare;
pub use watchfire_promql::duration;
pub mod floor;
pub mod notation;
pub mod runner;
pub mod script;
pub mod step_invariance;

pub use notation::{
    parse_labels, parse_series_line, parse_values, to_series, NotationError, SeriesValue,
};
pub use runner::{run_script, CaseOutcome, FileReport, RunOptions};
pub use script::{parse_script, Script};
