//! The parsed, validated form of a Prometheus rule file.
//!
//! These types are what the rule engine runs: every field has already been
//! checked (names, durations, PromQL, templates) by [`crate::parse_rule_file`],
//! so a consumer never needs to re-validate. Durations are milliseconds,
//! positions are 1-based line/column pairs into the source file.

use std::collections::BTreeMap;

/// A 1-based position (line and column) inside a rule file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Pos {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column number (in characters).
    pub col: usize,
}

impl Pos {
    /// Builds a position from a 1-based line and column.
    pub fn new(line: usize, col: usize) -> Self {
        Self { line, col }
    }
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A whole rule file: its path (as given) and its groups, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    /// The path the file was loaded from (used in messages).
    pub path: String,
    /// The rule groups, in file order.
    pub groups: Vec<RuleGroup>,
}

/// One rule group.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGroup {
    /// The group name (non-empty, unique within the file).
    pub name: String,
    /// `interval`, if given; `None` means "use the global evaluation interval".
    pub interval_ms: Option<i64>,
    /// `query_offset`, if given; `None` means "use the global rule query offset".
    pub query_offset_ms: Option<i64>,
    /// `limit` (0 = no limit).
    pub limit: u64,
    /// Group-level `labels`, added to every rule's result (rule labels win).
    pub labels: BTreeMap<String, String>,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// Position of the group's mapping in the file.
    pub pos: Pos,
}

/// One recording or alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Recording or alerting, with the kind-specific fields.
    pub kind: RuleKind,
    /// The PromQL text as written in the file.
    pub expr_text: String,
    /// The parsed expression.
    pub expr: watchfire_promql::Expr,
    /// Rule `labels` (templates for alerting rules).
    pub labels: BTreeMap<String, String>,
    /// Position of the rule's mapping in the file.
    pub pos: Pos,
}

/// What kind of rule this is.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// A recording rule: `record: <metric name>`.
    Recording {
        /// The metric name the result is recorded under.
        record: String,
    },
    /// An alerting rule.
    Alerting {
        /// The alert name.
        alert: String,
        /// `for` in ms (0 when absent).
        for_ms: i64,
        /// `keep_firing_for` in ms (0 when absent).
        keep_firing_for_ms: i64,
        /// Annotation templates.
        annotations: BTreeMap<String, String>,
    },
}

impl RuleKind {
    /// The `record` metric name or the `alert` name.
    pub fn name(&self) -> &str {
        match self {
            RuleKind::Recording { record } => record,
            RuleKind::Alerting { alert, .. } => alert,
        }
    }
}

impl Rule {
    /// The rule's name: the `record` metric name or the `alert` name.
    pub fn name(&self) -> &str {
        self.kind.name()
    }

    /// True for alerting rules.
    pub fn is_alerting(&self) -> bool {
        matches!(self.kind, RuleKind::Alerting { .. })
    }
}
