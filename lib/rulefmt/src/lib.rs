//! Prometheus rule files: parsing, validation and `check-rules`.
//!
//! - [`parse_rule_file`] turns the text of a rule file into a validated
//!   [`RuleFile`] or *all* of its errors ([`RuleErrors`]), each with
//!   `path:line:col`. It is pure (no I/O), so the rule engine's hot reload
//!   and `check-rules` share it.
//! - [`check_rules`] is `promtool check rules`: same output, same exit codes,
//!   same `--lint` / `--lint-fatal` / `--ignore-unknown-fields` options.
//!
//! Behaviour follows Prometheus 3's `model/rulefmt` (strict YAML, UTF-8 name
//! validation by default, templates parsed for alerting rules only).
//!
//! Layout: [`yaml`] (positioned YAML tree; the choice of YAML library is
//! explained there), `decode` (strict typed decoding), `validate` (semantic
//! checks), [`duration`] (Prometheus durations), [`error`], [`check`].
#![forbid(unsafe_code)]

pub mod check;
mod decode;
pub mod duration;
pub mod error;
mod templates;
pub mod types;
mod validate;
pub mod yaml;

pub use check::{
    check_rules, check_rules_with_io, find_duplicates, CheckOptions, Duplicate, LintMode,
};
pub use duration::{format_duration, parse_duration, DurationError};
pub use error::{ErrorKind, Problem, RuleError, RuleErrors};
pub use types::{Pos, Rule, RuleFile, RuleGroup, RuleKind};

/// Which names are valid metric and label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameValidation {
    /// Prometheus 3's default: any non-empty UTF-8 string.
    #[default]
    Utf8,
    /// The classic charset: `[a-zA-Z_:][a-zA-Z0-9_:]*` for metric names,
    /// `[a-zA-Z_][a-zA-Z0-9_]*` for label names.
    Legacy,
}

/// Options for [`parse_rule_file_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParseOptions {
    /// Accept (and drop) unknown keys instead of reporting them.
    pub ignore_unknown_fields: bool,
    /// Name validation scheme.
    pub names: NameValidation,
}

/// Parses and validates a rule file with default options (strict fields,
/// UTF-8 names). `path` is only used in error messages.
pub fn parse_rule_file(path: &str, text: &str) -> Result<RuleFile, RuleErrors> {
    parse_rule_file_with(path, text, &ParseOptions::default())
}

/// Parses and validates a rule file. On failure, returns every error found,
/// in the order Prometheus reports them (decoding errors first).
pub fn parse_rule_file_with(
    path: &str,
    text: &str,
    opts: &ParseOptions,
) -> Result<RuleFile, RuleErrors> {
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let mut errors = vec![RuleError {
                path: path.to_string(),
                pos: e.pos,
                kind: ErrorKind::Syntax(e.msg),
            }];
            clamp_positions(text, &mut errors);
            return Err(RuleErrors(errors));
        }
    };
    let mut dec = decode::Decoder::new(path, !opts.ignore_unknown_fields);
    let raw = dec.groups(root.as_ref());
    let mut val = validate::Validator {
        path,
        text,
        opts,
        errors: Vec::new(),
    };
    let groups = val.groups(&raw);
    let mut errors = dec.errors;
    errors.append(&mut val.errors);
    clamp_positions(text, &mut errors);
    if errors.is_empty() {
        Ok(RuleFile {
            path: path.to_string(),
            groups,
        })
    } else {
        Err(RuleErrors(errors))
    }
}

/// Keeps every error position inside the file: the YAML scanner reports
/// some end-of-input problems one line past the last one.
fn clamp_positions(text: &str, errors: &mut [RuleError]) {
    let last_line = text.split('\n').count();
    for e in errors {
        e.pos.line = e.pos.line.max(1);
        e.pos.col = e.pos.col.max(1);
        if e.pos.line > last_line {
            let last = text.rsplit('\n').next().unwrap_or("");
            e.pos = Pos {
                line: last_line,
                col: last.chars().count() + 1,
            };
        }
    }
}
