//! Canonical PromQL text for an [`Expr`], as Prometheus's `printer.go`
//! (`Expr.String()`) writes it: `sum by (job) (rate(foo[5m] offset 1m))`.
//! Parsing the printed text gives back an equal expression.

use std::fmt::{self, Display, Formatter, Write};

use super::lexer::quote_str;
use crate::ast::{AggOp, AtModifier, Cardinality, Expr, VectorSelector};
use crate::labels::{MatchOp, Matcher, METRIC_NAME};

pub use crate::duration::format_duration;

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`, which Prometheus uses for
/// number literals: the shortest exact decimal, never an exponent; `+Inf`,
/// `-Inf`, `NaN`.
pub fn format_number(v: f64) -> String {
    crate::gofmt::format_float(v, 'f', None)
}

/// A label name, quoted when it is not a legacy (`[a-zA-Z_][a-zA-Z0-9_]*`)
/// name.
fn label_name(name: &str) -> String {
    let legacy = !name.is_empty()
        && name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if legacy {
        name.to_string()
    } else {
        quote_str(name)
    }
}

fn join_labels(labels: &[String]) -> String {
    labels
        .iter()
        .map(|l| label_name(l))
        .collect::<Vec<_>>()
        .join(", ")
}

fn matcher_string(m: &Matcher) -> String {
    format!("{}{}{}", label_name(&m.name), m.op, quote_str(&m.value))
}

fn at_offset(vs_at: Option<AtModifier>, offset: i64) -> String {
    let mut s = String::new();
    match vs_at {
        Some(AtModifier::Timestamp(t)) => {
            let _ = write!(s, " @ {:.3}", t as f64 / 1000.0);
        }
        Some(AtModifier::Start) => s.push_str(" @ start()"),
        Some(AtModifier::End) => s.push_str(" @ end()"),
        None => {}
    }
    if offset > 0 {
        let _ = write!(s, " offset {}", format_duration(offset));
    } else if offset < 0 {
        let _ = write!(s, " offset -{}", format_duration(offset.saturating_neg()));
    }
    s
}

/// The selector without its `@`/offset modifiers.
fn selector_body(vs: &VectorSelector) -> String {
    let name = vs.name.as_deref().unwrap_or("");
    let mut parts: Vec<String> = vs
        .matchers
        .iter()
        .filter(|m| {
            !(m.name == METRIC_NAME
                && m.op == MatchOp::Equal
                && m.value == name
                && !m.value.is_empty())
        })
        .map(matcher_string)
        .collect();
    if parts.is_empty() {
        return name.to_string();
    }
    parts.sort();
    format!("{name}{{{}}}", parts.join(","))
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        super::with_stack(|| write_expr(self, f))
    }
}

fn write_expr(e: &Expr, f: &mut Formatter<'_>) -> fmt::Result {
    {
        match e {
            Expr::Number { val, .. } => f.write_str(&format_number(*val)),
            Expr::String { val, .. } => f.write_str(&quote_str(val)),
            Expr::VectorSelector(vs) => {
                write!(f, "{}{}", selector_body(vs), at_offset(vs.at, vs.offset))
            }
            Expr::MatrixSelector { vs, range, .. } => {
                write!(
                    f,
                    "{}[{}]{}",
                    selector_body(vs),
                    format_duration(*range),
                    at_offset(vs.at, vs.offset)
                )
            }
            Expr::Subquery {
                expr,
                range,
                step,
                offset,
                at,
                ..
            } => {
                let step = step.map(format_duration).unwrap_or_default();
                write!(
                    f,
                    "{expr}[{}:{step}]{}",
                    format_duration(*range),
                    at_offset(*at, *offset)
                )
            }
            Expr::Call { func, args, .. } => {
                write!(f, "{func}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Expr::Aggregate {
                op,
                expr,
                param,
                grouping,
                ..
            } => {
                f.write_str(op.name())?;
                if grouping.without {
                    write!(f, " without ({}) ", join_labels(&grouping.labels))?;
                } else if !grouping.labels.is_empty() {
                    write!(f, " by ({}) ", join_labels(&grouping.labels))?;
                }
                f.write_str("(")?;
                if let Some(p) = param
                    .as_deref()
                    .filter(|_| op.takes_param() || *op == AggOp::CountValues)
                {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{expr})")
            }
            Expr::Binary {
                op,
                lhs,
                rhs,
                matching,
                return_bool,
                ..
            } => {
                write!(f, "{lhs} {}", op.symbol())?;
                if *return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(m) = matching.as_ref().filter(|m| m.on || !m.labels.is_empty()) {
                    let tag = if m.on { "on" } else { "ignoring" };
                    write!(f, " {tag} ({})", join_labels(&m.labels))?;
                    match m.card {
                        Cardinality::ManyToOne => {
                            write!(f, " group_left ({})", join_labels(&m.include))?
                        }
                        Cardinality::OneToMany => {
                            write!(f, " group_right ({})", join_labels(&m.include))?
                        }
                        _ => {}
                    }
                }
                write!(f, " {rhs}")
            }
            Expr::Unary { neg, expr, .. } => write!(f, "{}{expr}", if *neg { "-" } else { "+" }),
            Expr::Paren { expr, .. } => write!(f, "({expr})"),
        }
    }
}
