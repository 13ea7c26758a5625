//! The PromQL syntax tree.
//!
//! Times and durations are milliseconds (`i64`). Every node carries a
//! [`Span`] of byte offsets into the query text, so errors and annotations
//! can point at the expression they are about.

use crate::labels::Matcher;

/// Byte offsets `[start, end)` into the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// 1-based line and column (in characters) of `start` within `query`,
    /// the way Prometheus renders positions (`1:5`).
    pub fn line_col(&self, query: &str) -> (usize, usize) {
        line_col(query, self.start)
    }
}

/// 1-based line and column (in characters) of byte offset `pos` in `text`.
pub fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = &text[..floor_char_boundary(text, pos)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The type a PromQL expression evaluates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Scalar,
    String,
    Vector,
    Matrix,
}

impl std::fmt::Display for ValueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ValueType::Scalar => "scalar",
            ValueType::String => "string",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
        })
    }
}

/// The `@` modifier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AtModifier {
    /// `@ <unix seconds>`, stored in milliseconds.
    Timestamp(i64),
    /// `@ start()`
    Start,
    /// `@ end()`
    End,
}

/// `metric{label="value"} offset 5m @ 100`.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSelector {
    /// The metric name when written outside the braces.
    pub name: Option<String>,
    /// All matchers, including `__name__="..."` for a name written outside
    /// the braces.
    pub matchers: Vec<Matcher>,
    /// Offset in milliseconds (negative for a negative offset).
    pub offset: i64,
    pub at: Option<AtModifier>,
    pub span: Span,
}

/// Aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
    CountValues,
    Group,
    /// `limitk` (experimental; may be rejected by the parser).
    Limitk,
    /// `limit_ratio` (experimental; may be rejected by the parser).
    LimitRatio,
}

impl AggOp {
    pub fn name(&self) -> &'static str {
        match self {
            AggOp::Sum => "sum",
            AggOp::Avg => "avg",
            AggOp::Min => "min",
            AggOp::Max => "max",
            AggOp::Count => "count",
            AggOp::Stddev => "stddev",
            AggOp::Stdvar => "stdvar",
            AggOp::Topk => "topk",
            AggOp::Bottomk => "bottomk",
            AggOp::Quantile => "quantile",
            AggOp::CountValues => "count_values",
            AggOp::Group => "group",
            AggOp::Limitk => "limitk",
            AggOp::LimitRatio => "limit_ratio",
        }
    }

    /// Whether the operator takes a parameter before the vector.
    pub fn takes_param(&self) -> bool {
        matches!(
            self,
            AggOp::Topk
                | AggOp::Bottomk
                | AggOp::Quantile
                | AggOp::CountValues
                | AggOp::Limitk
                | AggOp::LimitRatio
        )
    }
}

/// `by (...)` / `without (...)` on an aggregation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grouping {
    /// true for `without`, false for `by` (and for no clause).
    pub without: bool,
    pub labels: Vec<String>,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Gtr,
    Lss,
    Gte,
    Lte,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub fn is_comparison(&self) -> bool {
        matches!(
            self,
            BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte
        )
    }

    pub fn is_set(&self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }

    pub fn symbol(&self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Atan2 => "atan2",
            BinOp::Eql => "==",
            BinOp::Neq => "!=",
            BinOp::Gtr => ">",
            BinOp::Lss => "<",
            BinOp::Gte => ">=",
            BinOp::Lte => "<=",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Unless => "unless",
        }
    }
}

/// Cardinality of vector matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    OneToOne,
    /// `group_left`
    ManyToOne,
    /// `group_right`
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// `on`/`ignoring` and `group_left`/`group_right` of a binary operation
/// between two vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    pub card: Cardinality,
    /// true for `on(...)`, false for `ignoring(...)` or no clause.
    pub on: bool,
    pub labels: Vec<String>,
    /// Extra labels named in `group_left(...)`/`group_right(...)`.
    pub include: Vec<String>,
}

/// A PromQL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number {
        val: f64,
        span: Span,
    },
    String {
        val: String,
        span: Span,
    },
    VectorSelector(VectorSelector),
    /// `sel[5m]`. `range` in milliseconds.
    MatrixSelector {
        vs: VectorSelector,
        range: i64,
        span: Span,
    },
    /// `expr[30m:1m] offset 5m @ 100`. `step` None means the default
    /// evaluation interval.
    Subquery {
        expr: Box<Expr>,
        range: i64,
        step: Option<i64>,
        offset: i64,
        at: Option<AtModifier>,
        span: Span,
    },
    /// A function call. `func` is the name as written (validated by the
    /// parser against its function table).
    Call {
        func: String,
        args: Vec<Expr>,
        span: Span,
    },
    Aggregate {
        op: AggOp,
        expr: Box<Expr>,
        param: Option<Box<Expr>>,
        grouping: Grouping,
        span: Span,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        /// Present when both sides are vectors.
        matching: Option<VectorMatching>,
        /// The `bool` modifier on a comparison.
        return_bool: bool,
        span: Span,
    },
    /// Unary minus (`neg` true) or plus.
    Unary {
        neg: bool,
        expr: Box<Expr>,
        span: Span,
    },
    Paren {
        expr: Box<Expr>,
        span: Span,
    },
}

impl Expr {
    /// How far back before the evaluation time this expression reads
    /// samples, in ms: ranges, offsets and the lookback delta, summed
    /// through nested subqueries. Selectors pinned with `@` read at an
    /// absolute time and add nothing. The store keeps at least this much.
    pub fn lookback_span(&self, lookback_delta: i64) -> i64 {
        let sel = |vs: &VectorSelector, extra: i64| -> i64 {
            if vs.at.is_some() {
                0
            } else {
                extra.saturating_add(vs.offset.max(0))
            }
        };
        match self {
            Expr::Number { .. } | Expr::String { .. } => 0,
            Expr::VectorSelector(vs) => sel(vs, lookback_delta),
            Expr::MatrixSelector { vs, range, .. } => sel(vs, *range),
            Expr::Subquery {
                expr,
                range,
                offset,
                at,
                ..
            } => {
                if at.is_some() {
                    0
                } else {
                    range
                        .saturating_add((*offset).max(0))
                        .saturating_add(expr.lookback_span(lookback_delta))
                }
            }
            Expr::Call { args, .. } => args
                .iter()
                .map(|a| a.lookback_span(lookback_delta))
                .max()
                .unwrap_or(0),
            Expr::Aggregate { expr, param, .. } => expr.lookback_span(lookback_delta).max(
                param
                    .as_ref()
                    .map_or(0, |p| p.lookback_span(lookback_delta)),
            ),
            Expr::Binary { lhs, rhs, .. } => lhs
                .lookback_span(lookback_delta)
                .max(rhs.lookback_span(lookback_delta)),
            Expr::Unary { expr, .. } | Expr::Paren { expr, .. } => {
                expr.lookback_span(lookback_delta)
            }
        }
    }

    pub fn span(&self) -> Span {
        match self {
            Expr::Number { span, .. }
            | Expr::String { span, .. }
            | Expr::MatrixSelector { span, .. }
            | Expr::Subquery { span, .. }
            | Expr::Call { span, .. }
            | Expr::Aggregate { span, .. }
            | Expr::Binary { span, .. }
            | Expr::Unary { span, .. }
            | Expr::Paren { span, .. } => *span,
            Expr::VectorSelector(vs) => vs.span,
        }
    }
}
