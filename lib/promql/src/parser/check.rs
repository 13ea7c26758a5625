//! The type checker: Prometheus's `checkAST`, with the same rules, order
//! and messages. It also normalises vector matching the way Prometheus
//! does (set operators become many-to-many; matching is dropped unless
//! both sides are instant vectors).

use super::lexer::{is_space, quote_str};
use super::ParseError;
use crate::ast::{AggOp, Cardinality, Expr, Span, ValueType, VectorSelector};
use crate::functions;
use crate::labels::METRIC_NAME;

/// The type an expression evaluates to.
pub fn expr_type(e: &Expr) -> ValueType {
    spine_type(e, leaf_type)
}

/// The type of `e` given the type of its non-operator nodes: walks the
/// left spine of operator chains iteratively (chains are left-deep trees,
/// thousands of levels high), recursing only into right operands.
pub(crate) fn spine_type(e: &Expr, leaf: impl Fn(&Expr) -> ValueType + Copy) -> ValueType {
    let mut e = e;
    let mut in_binary = false;
    loop {
        match e {
            Expr::Binary { lhs, rhs, .. } => {
                in_binary = true;
                if super::with_stack(|| spine_type(rhs, leaf)) != ValueType::Scalar {
                    return ValueType::Vector;
                }
                e = lhs;
            }
            Expr::Unary { expr, .. } | Expr::Paren { expr, .. } => e = expr,
            other => {
                let t = leaf(other);
                return match (in_binary, t) {
                    (false, t) => t,
                    (true, ValueType::Scalar) => ValueType::Scalar,
                    (true, _) => ValueType::Vector,
                };
            }
        }
    }
}

/// The type of a node that is not an operator or parentheses.
fn leaf_type(e: &Expr) -> ValueType {
    match e {
        Expr::Number { .. } => ValueType::Scalar,
        Expr::String { .. } => ValueType::String,
        Expr::VectorSelector(_) | Expr::Aggregate { .. } => ValueType::Vector,
        Expr::MatrixSelector { .. } | Expr::Subquery { .. } => ValueType::Matrix,
        Expr::Call { func, .. } => functions::lookup(func)
            .map(|f| f.return_type)
            .unwrap_or(ValueType::Vector),
        // Handled by `spine_type`.
        Expr::Binary { .. } | Expr::Unary { .. } | Expr::Paren { .. } => ValueType::Vector,
    }
}

/// Go's `ValueType.String()` (used by one message).
fn raw_type(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
        ValueType::Vector => "vector",
        ValueType::Matrix => "matrix",
    }
}

/// Type-checks `e`, appending errors; normalises vector matching in place.
pub(crate) fn check(input: &str, e: &mut Expr, errors: &mut Vec<ParseError>) {
    Checker { input, errors }.check(e, false);
}

struct Checker<'a> {
    input: &'a str,
    errors: &'a mut Vec<ParseError>,
}

impl Checker<'_> {
    fn err(&mut self, span: Span, msg: impl Into<String>) {
        self.errors.push(ParseError::new(self.input, span, msg));
    }

    fn expect_type(&mut self, e: &mut Expr, want: ValueType, context: &str) {
        let t = self.check(e, false);
        if t != want {
            self.err(
                e.span(),
                format!("expected type {want} in {context}, got {t}"),
            );
        }
    }

    /// The span of a binary operator: between the operands, trimmed.
    fn op_span(&self, lhs: Span, rhs: Span) -> Span {
        let b = self.input.as_bytes();
        let mut start = lhs.end;
        while start < b.len() && is_space(b[start] as char) {
            start += 1;
        }
        let mut end = rhs.start.saturating_sub(1);
        while end > start && end < b.len() && is_space(b[end] as char) {
            end -= 1;
        }
        Span::new(start, (end + 1).max(start))
    }

    /// `bypass_empty`: the `info()` label-selector argument may be empty.
    fn check(&mut self, e: &mut Expr, bypass_empty: bool) -> ValueType {
        super::with_stack(|| self.check_node(e, bypass_empty))
    }

    fn check_node(&mut self, e: &mut Expr, bypass_empty: bool) -> ValueType {
        // A binary expression's type comes from its operands' (computed
        // below): asking `expr_type` at every level of a long chain would
        // cost quadratic time.
        let mut typ = match e {
            Expr::Binary { .. } => ValueType::Vector,
            _ => expr_type(e),
        };
        let span = e.span();
        match e {
            Expr::Aggregate {
                op, expr, param, ..
            } => {
                self.expect_type(expr, ValueType::Vector, "aggregation expression");
                let want = match op {
                    AggOp::Topk
                    | AggOp::Bottomk
                    | AggOp::Quantile
                    | AggOp::Limitk
                    | AggOp::LimitRatio => Some(ValueType::Scalar),
                    AggOp::CountValues => Some(ValueType::String),
                    _ => None,
                };
                if let (Some(want), Some(p)) = (want, param) {
                    self.expect_type(p, want, "aggregation parameter");
                }
            }
            Expr::Binary {
                op,
                lhs,
                rhs,
                matching,
                return_bool,
                ..
            } => {
                let lt = self.check(lhs, false);
                let rt = self.check(rhs, false);
                if lt == ValueType::Scalar && rt == ValueType::Scalar {
                    typ = ValueType::Scalar;
                }
                let op_span = self.op_span(lhs.span(), rhs.span());
                if *return_bool && !op.is_comparison() {
                    self.err(
                        op_span,
                        "bool modifier can only be used on comparison operators",
                    );
                }
                if op.is_comparison()
                    && !*return_bool
                    && lt == ValueType::Scalar
                    && rt == ValueType::Scalar
                {
                    self.err(
                        op_span,
                        "comparisons between scalars must use BOOL modifier",
                    );
                }
                if let Some(m) = matching.as_mut() {
                    if op.is_set() && m.card == Cardinality::OneToOne {
                        m.card = Cardinality::ManyToMany;
                    }
                    if m.on {
                        for l in m.labels.iter().filter(|l| m.include.contains(l)) {
                            let msg = format!(
                                "label {} must not occur in ON and GROUP clause at once",
                                quote_str(l)
                            );
                            self.errors.push(ParseError::new(self.input, op_span, msg));
                        }
                    }
                }
                let ok = |t: ValueType| matches!(t, ValueType::Scalar | ValueType::Vector);
                if !ok(lt) {
                    self.err(
                        lhs.span(),
                        "binary expression must contain only scalar and instant vector types",
                    );
                }
                if !ok(rt) {
                    self.err(
                        rhs.span(),
                        "binary expression must contain only scalar and instant vector types",
                    );
                }
                let both_vectors = lt == ValueType::Vector && rt == ValueType::Vector;
                if !both_vectors {
                    if matching.as_ref().is_some_and(|m| !m.labels.is_empty()) {
                        self.err(span, "vector matching only allowed between instant vectors");
                    }
                    *matching = None;
                } else if op.is_set() {
                    if let Some(m) = matching.as_ref() {
                        if matches!(m.card, Cardinality::OneToMany | Cardinality::ManyToOne) {
                            self.err(
                                span,
                                format!(
                                    "no grouping allowed for {} operation",
                                    quote_str(op.symbol())
                                ),
                            );
                        }
                        if m.card != Cardinality::ManyToMany {
                            self.err(span, "set operations must always be many-to-many");
                        }
                    }
                }
                if (lt == ValueType::Scalar || rt == ValueType::Scalar) && op.is_set() {
                    let msg = format!(
                        "set operator {} not allowed in binary scalar expression",
                        quote_str(op.symbol())
                    );
                    self.err(span, msg);
                }
            }
            Expr::Call { func, args, .. } => self.check_call(func, args, span),
            Expr::Paren { expr, .. } => {
                self.check(expr, false);
            }
            Expr::Unary { expr, .. } => {
                let t = self.check(expr, false);
                if !matches!(t, ValueType::Scalar | ValueType::Vector) {
                    self.err(
                        span,
                        format!(
                            "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                            quote_str(&t.to_string())
                        ),
                    );
                }
            }
            Expr::Subquery { expr, .. } => {
                let t = self.check(expr, false);
                if t != ValueType::Vector {
                    self.err(
                        span,
                        format!(
                            "subquery is only allowed on instant vector, got {} instead",
                            raw_type(t)
                        ),
                    );
                }
            }
            Expr::MatrixSelector { vs, .. } => self.check_selector(vs, false),
            Expr::VectorSelector(vs) => self.check_selector(vs, bypass_empty),
            Expr::Number { .. } | Expr::String { .. } => {}
        }
        typ
    }

    fn check_call(&mut self, func: &str, args: &mut [Expr], span: Span) {
        let Some(f) = functions::lookup(func) else {
            return;
        };
        let nargs = f.arg_types.len();
        let name = quote_str(f.name);
        if f.variadic == 0 {
            if nargs != args.len() {
                self.err(
                    span,
                    format!(
                        "expected {nargs} argument(s) in call to {name}, got {}",
                        args.len()
                    ),
                );
            }
        } else {
            let na = nargs.saturating_sub(1);
            if na > args.len() {
                self.err(
                    span,
                    format!(
                        "expected at least {na} argument(s) in call to {name}, got {}",
                        args.len()
                    ),
                );
            } else if let Some(max) = f.max_args().filter(|m| *m < args.len()) {
                self.err(
                    span,
                    format!(
                        "expected at most {max} argument(s) in call to {name}, got {}",
                        args.len()
                    ),
                );
            }
        }
        let mut bypass_second = false;
        if f.name == "info" && args.len() > 1 {
            let t = expr_type(&args[1]);
            if t != ValueType::Vector {
                self.err(
                    span,
                    format!("expected type instant vector in call to function {name}, got {t}"),
                );
            }
            match &args[1] {
                Expr::VectorSelector(VectorSelector {
                    name: Some(_),
                    span: s,
                    ..
                }) => self.err(
                    *s,
                    "expected label selectors only, got vector selector instead",
                ),
                Expr::VectorSelector(_) => bypass_second = true,
                other => self.err(other.span(), "expected label selectors only"),
            }
        }
        for (i, arg) in args.iter_mut().enumerate() {
            let Some(want) = f.arg_type(i) else { break };
            let t = self.check(arg, i == 1 && bypass_second);
            if t != want {
                self.err(
                    arg.span(),
                    format!("expected type {want} in call to function {name}, got {t}"),
                );
            }
        }
    }

    fn check_selector(&mut self, vs: &VectorSelector, bypass_empty: bool) {
        if let Some(name) = &vs.name {
            let n = vs.matchers.len().saturating_sub(1);
            for m in vs.matchers[..n].iter().filter(|m| m.name == METRIC_NAME) {
                let msg = format!(
                    "metric name must not be set twice: {} or {}",
                    quote_str(name),
                    quote_str(&m.value)
                );
                self.errors.push(ParseError::new(self.input, vs.span, msg));
            }
            return;
        }
        if !bypass_empty && !vs.matchers.iter().any(|m| !m.matches("")) {
            self.err(
                vs.span,
                "vector selector must contain at least one non-empty matcher",
            );
        }
    }
}
