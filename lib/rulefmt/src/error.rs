//! Rule-file errors: every error names the file, the 1-based line and column,
//! and says what is wrong in Prometheus' own words where it has some.
//!
//! A [`RuleError`] displays as `path:line:col: message`; [`RuleErrors`] (all
//! the errors of one file, in the order Prometheus reports them) displays one
//! error per line.

use crate::duration::DurationError;
use crate::types::Pos;

/// One problem in a rule file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}:{}:{}: {kind}", pos.line, pos.col)]
pub struct RuleError {
    /// The file's path, as given to the parser.
    pub path: String,
    /// Where in the file (1-based).
    pub pos: Pos,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl RuleError {
    /// The message without the `path:line:col: ` prefix.
    pub fn message(&self) -> String {
        self.kind.to_string()
    }
}

/// What is wrong, file-level or structural.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    /// The file could not be read.
    #[error("{0}")]
    Io(String),
    /// YAML syntax error.
    #[error("yaml: {0}")]
    Syntax(String),
    /// A key the format does not know (strict decoding).
    #[error("field {field} not found in type {ty}")]
    UnknownField {
        /// The unknown key.
        field: String,
        /// The Go type name Prometheus would print (`rulefmt.Rule`, ...).
        ty: &'static str,
    },
    /// A value of the wrong YAML type.
    #[error("cannot unmarshal {found} `{value}` into {expected}")]
    WrongType {
        /// The YAML type found (`!!seq`, `!!map`, `!!str`, ...).
        found: &'static str,
        /// A short rendering of the value.
        value: String,
        /// What was expected (`string`, `int`, `[]rulefmt.Rule`, ...).
        expected: &'static str,
    },
    /// The same key twice in one mapping.
    #[error("mapping key {key:?} already defined at line {first_line}")]
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// Where it was first defined.
        first_line: usize,
    },
    /// A group without a name.
    #[error("Groupname must not be empty")]
    EmptyGroupName,
    /// Two groups with the same name in one file.
    #[error("groupname: \"{0}\" is repeated in the same file")]
    DuplicateGroup(String),
    /// A bad group-level field (`interval`, `query_offset`, `labels`).
    #[error("group {group:?}: {problem}")]
    Group {
        /// The group name.
        group: String,
        /// What is wrong.
        problem: Problem,
    },
    /// A problem in one rule.
    #[error("group {group:?}, rule {index}, {name:?}: {problem}")]
    Rule {
        /// The group name.
        group: String,
        /// 1-based index of the rule within its group.
        index: usize,
        /// The rule's `record` or `alert` name (may be empty).
        name: String,
        /// What is wrong.
        problem: Problem,
    },
}

/// A semantic problem in a group or a rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// Both `record` and `alert`.
    #[error("only one of 'record' and 'alert' must be set")]
    BothRecordAndAlert,
    /// Neither `record` nor `alert`.
    #[error("one of 'record' or 'alert' must be set")]
    NoRecordOrAlert,
    /// No `expr`.
    #[error("field 'expr' must be set in rule")]
    MissingExpr,
    /// `expr` does not parse.
    #[error("could not parse expression: {0}")]
    BadExpr(String),
    /// `annotations` in a recording rule.
    #[error("invalid field 'annotations' in recording rule")]
    AnnotationsInRecording,
    /// `for` in a recording rule.
    #[error("invalid field 'for' in recording rule")]
    ForInRecording,
    /// `keep_firing_for` in a recording rule.
    #[error("invalid field 'keep_firing_for' in recording rule")]
    KeepFiringForInRecording,
    /// `record` is not a valid metric name.
    #[error("invalid recording rule name: {0}")]
    InvalidRecordName(String),
    /// `record` contains `{` or `}`.
    #[error("braces present in the recording rule name; should it be in expr?: {0}")]
    BracesInRecordName(String),
    /// Bad label name (or `__name__`).
    #[error("invalid label name: {0}")]
    InvalidLabelName(String),
    /// Bad annotation name.
    #[error("invalid annotation name: {0}")]
    InvalidAnnotationName(String),
    /// A label template that does not parse.
    #[error("label {name:?}: {error}")]
    LabelTemplate {
        /// The label name.
        name: String,
        /// The template parser's message.
        error: String,
    },
    /// An annotation template that does not parse.
    #[error("annotation {name:?}: {error}")]
    AnnotationTemplate {
        /// The annotation name.
        name: String,
        /// The template parser's message.
        error: String,
    },
    /// A bad duration (`for`, `keep_firing_for`, `interval`, `query_offset`).
    #[error("field {field}: {error}")]
    Duration {
        /// The field name.
        field: &'static str,
        /// Why it was rejected.
        error: DurationError,
    },
}

/// All errors of one rule file (never empty when returned as an `Err`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleErrors(pub Vec<RuleError>);

impl RuleErrors {
    /// The errors, in report order.
    pub fn errors(&self) -> &[RuleError] {
        &self.0
    }

    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no errors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleErrors {}

impl IntoIterator for RuleErrors {
    type Item = RuleError;
    type IntoIter = std::vec::IntoIter<RuleError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
