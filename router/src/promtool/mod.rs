//! `watchfire test-rules`: rule unit tests in promtool's format
//! (`promtool test rules`), with the same semantics, exit codes and a
//! similar output.
//!
//! For every test file: decode it strictly ([`file`]), resolve and glob its
//! `rule_files`, then run each test group ([`runner`]): load the input
//! series lazily into a [`storage::TestStorage`], evaluate every rule group
//! at each `evaluation_interval` step with the rule engine's pure
//! [`crate::rules::Group`] API, check `alert_rule_test` cases at their
//! evaluation step, and finally run `promql_expr_test` queries.
//!
//! Output (to the writer given) follows promtool:
//! ```text
//! Unit Testing:  tests/foo.yml
//!   FAILED:
//!     expr: "up", time: 0s,
//!         exp: {__name__="up"} 1E+00
//!         got: {__name__="up"} 0E+00
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

mod compare;
pub mod file;
pub mod format;
mod runner;
pub mod storage;

/// Options of `watchfire test-rules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOptions {
    /// `--run REGEX` (repeatable): only test groups whose `name` matches
    /// one of the regexes (unanchored, as Go's `MatchString`) run.
    pub run: Vec<String>,
    /// `--ignore-unknown-fields`: unknown keys in rule files are ignored.
    pub ignore_unknown_fields: bool,
    /// Allow the `@` modifier (on by default, as in current promtool).
    pub enable_at_modifier: bool,
    /// Allow negative offsets (on by default, as in current promtool).
    pub enable_negative_offset: bool,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            run: Vec::new(),
            ignore_unknown_fields: false,
            enable_at_modifier: true,
            enable_negative_offset: true,
        }
    }
}

/// Errors that stop a whole test file.
#[derive(Debug, thiserror::Error)]
pub enum PromtoolError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Yaml(String),
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    #[error("invalid --run regex: {0}")]
    BadRun(#[from] regex::Error),
    #[error("group name repeated in evaluation order: {0}")]
    RepeatedGroup(String),
}

/// The result of one test file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileOutcome {
    /// Warnings printed before the verdict (unmatched rule file globs).
    pub warnings: Vec<String>,
    /// Failure messages; empty means success.
    pub errors: Vec<String>,
}

/// Runs the unit tests in `files`, writing promtool-like output to `out`.
/// Returns the exit code: 0 when every test passed, 1 otherwise.
pub fn test_rules(files: &[PathBuf], opts: &TestOptions, out: &mut dyn Write) -> i32 {
    let run = match compile_run(&opts.run) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(out, "{e}");
            return 1;
        }
    };
    let mut failed = false;
    for f in files {
        let outcome = test_file(f, opts, run.as_ref());
        // Write errors are ignored: the exit code is what matters.
        let _ = write_outcome(out, f, &outcome);
        failed |= !outcome.errors.is_empty();
    }
    i32::from(failed)
}

fn write_outcome(out: &mut dyn Write, f: &Path, o: &FileOutcome) -> std::io::Result<()> {
    writeln!(out, "Unit Testing:  {}", f.display())?;
    for w in &o.warnings {
        writeln!(out, "{w}")?;
    }
    if o.errors.is_empty() {
        writeln!(out, "  SUCCESS")?;
    } else {
        writeln!(out, "  FAILED:")?;
        for e in &o.errors {
            writeln!(out, "{e}")?;
            writeln!(out)?;
        }
    }
    writeln!(out)
}

/// `--run` values joined with `|`, as promtool does; `None` runs all.
pub fn compile_run(run: &[String]) -> Result<Option<regex::Regex>, PromtoolError> {
    if run.is_empty() {
        return Ok(None);
    }
    Ok(Some(regex::Regex::new(&run.join("|"))?))
}

/// Runs one test file.
pub fn test_file(path: &Path, opts: &TestOptions, run: Option<&regex::Regex>) -> FileOutcome {
    let mut outcome = FileOutcome::default();
    if let Err(e) = runner::run_file(path, opts, run, &mut outcome) {
        outcome.errors.push(e.to_string());
    }
    outcome
}
