//! `check-rules`: promtool's `check rules` command as a library function.
//!
//! Output and exit codes follow `cmd/promtool/main.go` (`CheckRules`,
//! `checkRules`, `checkRuleGroups`, `checkDuplicates`):
//!
//! ```text
//! Checking rules.yml            (stdout)
//!   SUCCESS: 10 rules found     (stdout)
//!                               (stdout, blank line)
//! Checking bad.yml              (stdout)
//!   FAILED:                     (stderr)
//! bad.yml:7:15: group "g", rule 1, "x": could not parse expression: ...
//! ```
//!
//! A file with errors gets no trailing blank line (upstream `continue`s).
//! The duplicate-rules lint reports rules with the same name and the same
//! label set (group labels overridden by rule labels) anywhere in one file.
//! Exit code: 1 when any file has errors, 3 when only lint problems were
//! found and `--lint-fatal` is set, 0 otherwise.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use crate::types::RuleFile;
use crate::{parse_rule_file_with, NameValidation, ParseOptions};

/// Exit code: everything valid (or only non-fatal lint problems).
pub const SUCCESS_EXIT_CODE: i32 = 0;
/// Exit code: at least one file has errors.
pub const FAILURE_EXIT_CODE: i32 = 1;
/// Exit code: lint problems and `--lint-fatal`.
pub const LINT_EXIT_CODE: i32 = 3;

/// Which lints to run (`--lint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LintMode {
    /// `--lint=none`
    None,
    /// `--lint=duplicate-rules` (the default)
    #[default]
    DuplicateRules,
    /// `--lint=all`
    All,
}

impl LintMode {
    /// Parses a `--lint` value: a comma-separated list of `all`,
    /// `duplicate-rules` and `none`. Unknown items are returned so the
    /// caller can print promtool's `WARNING: unknown lint option X`.
    pub fn parse(value: &str) -> (LintMode, Vec<String>) {
        let mut mode = LintMode::None;
        let mut unknown = Vec::new();
        for item in value.split(',') {
            match item {
                "all" => mode = LintMode::All,
                "duplicate-rules" if mode != LintMode::All => mode = LintMode::DuplicateRules,
                "duplicate-rules" | "none" => {}
                other => unknown.push(other.to_string()),
            }
        }
        (mode, unknown)
    }

    fn duplicate_rules(self) -> bool {
        matches!(self, LintMode::All | LintMode::DuplicateRules)
    }
}

/// Options of `check-rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckOptions {
    /// `--lint`
    pub lint: LintMode,
    /// `--lint-fatal`
    pub lint_fatal: bool,
    /// `--ignore-unknown-fields`
    pub ignore_unknown_fields: bool,
    /// Name validation scheme (promtool 3 uses UTF-8).
    pub names: NameValidation,
}

/// A rule that occurs more than once: its name and label set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duplicate {
    /// The `record` or `alert` name.
    pub metric: String,
    /// Group labels overridden by rule labels, sorted by name.
    pub labels: Vec<(String, String)>,
}

/// The duplicate rules of a file (each reported once, sorted by name then
/// labels), like promtool's `checkDuplicates`.
pub fn find_duplicates(file: &RuleFile) -> Vec<Duplicate> {
    let mut all: Vec<Duplicate> = file
        .groups
        .iter()
        .flat_map(|g| {
            g.rules.iter().map(|r| {
                let mut labels: BTreeMap<&String, &String> = g.labels.iter().collect();
                labels.extend(r.labels.iter());
                Duplicate {
                    metric: r.name().to_string(),
                    labels: labels
                        .into_iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                }
            })
        })
        .collect();
    all.sort();
    let mut dups: Vec<Duplicate> = Vec::new();
    for pair in all.windows(2) {
        if pair[0] == pair[1] && dups.last() != Some(&pair[1]) {
            dups.push(pair[1].clone());
        }
    }
    dups
}

/// promtool's duplicate-rules lint message (without the leading
/// `lint error `).
pub fn duplicates_message(dups: &[Duplicate]) -> String {
    let mut msg = format!("{} duplicate rule(s) found.\n", dups.len());
    for d in dups {
        msg.push_str(&format!("Metric: {}\nLabel(s):\n", d.metric));
        for (k, v) in &d.labels {
            msg.push_str(&format!("\t{k}: {v}\n"));
        }
    }
    msg.push_str("Might cause inconsistency while recording expressions");
    msg
}

/// Outcome of checking one input: (failed, has_errors) as in promtool.
fn check_one(
    name: &str,
    content: std::io::Result<String>,
    opts: &CheckOptions,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> std::io::Result<(bool, bool)> {
    writeln!(stdout, "Checking {name}")?;
    let text = match content {
        Ok(t) => t,
        Err(e) => {
            writeln!(stderr, "  FAILED:")?;
            writeln!(stderr, "{name}: {e}")?;
            return Ok((true, true));
        }
    };
    let popts = ParseOptions {
        ignore_unknown_fields: opts.ignore_unknown_fields,
        names: opts.names,
    };
    let file = match parse_rule_file_with(name, &text, &popts) {
        Ok(f) => f,
        Err(errs) => {
            writeln!(stderr, "  FAILED:")?;
            for e in errs.errors() {
                writeln!(stderr, "{e}")?;
            }
            return Ok((true, true));
        }
    };
    let mut failed = false;
    let dups = if opts.lint.duplicate_rules() {
        find_duplicates(&file)
    } else {
        Vec::new()
    };
    if dups.is_empty() {
        let n: usize = file.groups.iter().map(|g| g.rules.len()).sum();
        writeln!(stdout, "  SUCCESS: {n} rules found")?;
    } else {
        writeln!(stderr, "  FAILED:")?;
        writeln!(stderr, "lint error {}", duplicates_message(&dups))?;
        failed = true;
    }
    writeln!(stdout)?;
    Ok((failed, false))
}

fn exit_code(failed: bool, has_errors: bool, opts: &CheckOptions) -> i32 {
    if failed && has_errors {
        FAILURE_EXIT_CODE
    } else if failed && opts.lint_fatal {
        LINT_EXIT_CODE
    } else {
        SUCCESS_EXIT_CODE
    }
}

/// `check-rules` with explicit streams: reads `stdin` when `paths` is empty
/// ("Checking standard input"), writes promtool's stdout and stderr text to
/// the two writers, returns the exit code.
pub fn check_rules_with_io(
    paths: &[PathBuf],
    opts: &CheckOptions,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    let mut failed = false;
    let mut has_errors = false;
    let mut run = |name: &str, content: std::io::Result<String>| {
        match check_one(name, content, opts, stdout, stderr) {
            Ok((f, e)) => {
                failed |= f;
                has_errors |= e;
            }
            // The output stream itself failed: count it as an error.
            Err(_) => {
                failed = true;
                has_errors = true;
            }
        }
    };
    if paths.is_empty() {
        let mut text = String::new();
        let content = stdin.read_to_string(&mut text).map(|_| text);
        run("standard input", content);
    } else {
        for p in paths {
            let name = p.display().to_string();
            run(&name, std::fs::read_to_string(p));
        }
    }
    exit_code(failed, has_errors, opts)
}

/// `check-rules` as the CLI calls it: stdout and stderr text both go to
/// `out` (in order); reads the process's standard input when `paths` is
/// empty. Returns promtool's exit code (0, 1, or 3).
pub fn check_rules(paths: &[PathBuf], opts: &CheckOptions, out: &mut dyn Write) -> i32 {
    let cell = RefCell::new(out);
    let mut stdin = std::io::stdin().lock();
    check_rules_with_io(
        paths,
        opts,
        &mut stdin,
        &mut CellWriter(&cell),
        &mut CellWriter(&cell),
    )
}

/// Lets the two output streams share one writer.
struct CellWriter<'a, 'b>(&'a RefCell<&'b mut dyn Write>);

impl Write for CellWriter<'_, '_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(data)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.borrow_mut().flush()
    }
}
