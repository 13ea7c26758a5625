//! `promql_expr_test`: evaluating the expression and comparing samples
//! (exactly, or with `fuzzy_compare` within one ulp), plus the check that
//! rejects `@` and negative offsets when those features are disabled.

use watchfire_promql::ast::{AtModifier, Expr};
use watchfire_promql::eval::{Engine, EvalError, Value};
use watchfire_promql::gofmt::format_float;
use watchfire_promql::storage::FloatHistogram;
use watchfire_promql::Labels;
use watchfire_promqltest::notation::histogram::{compact, render};
use watchfire_promqltest::SeriesValue;

use super::file::PromqlTestCase;
use super::format::labels_string;
use super::storage::TestStorage;
use super::TestOptions;

/// A sample to compare: labels and a float or a histogram.
#[derive(Debug, Clone)]
struct Point {
    labels: Labels,
    value: f64,
    /// The histogram and whether its counter-reset hint is significant.
    hist: Option<(FloatHistogram, bool)>,
}

impl Point {
    fn render(&self) -> String {
        match &self.hist {
            Some((h, _)) => format!("{} {}", labels_string(&self.labels), render(h)),
            None => format!(
                "{} {}",
                labels_string(&self.labels),
                format_float(self.value, 'E', None)
            ),
        }
    }
}

fn render_all(ps: &[Point]) -> String {
    if ps.is_empty() {
        return "nil".into();
    }
    ps.iter().map(Point::render).collect::<Vec<_>>().join(", ")
}

/// Whether two floats are equal, or (fuzzy) one ulp apart.
pub fn float_eq(x: f64, y: f64, fuzzy: bool) -> bool {
    x == y
        || (fuzzy
            && x.is_finite()
            && (next_toward(x, f64::NEG_INFINITY) == y || next_toward(x, f64::INFINITY) == y))
}

/// Go's `math.Nextafter(x, dir)` for finite `x`.
fn next_toward(x: f64, dir: f64) -> f64 {
    if x == 0.0 {
        let tiny = f64::from_bits(1);
        return if dir > 0.0 { tiny } else { -tiny };
    }
    let bits = x.to_bits();
    let up = (dir > x) == (x > 0.0);
    f64::from_bits(if up { bits + 1 } else { bits - 1 })
}

fn points_eq(exp: &Point, got: &Point, fuzzy: bool) -> bool {
    if exp.labels != got.labels {
        return false;
    }
    match (&exp.hist, &got.hist) {
        (None, None) => float_eq(exp.value, got.value, fuzzy),
        (Some((e, hint_set)), Some((g, _))) => {
            let e = compact(e);
            let mut g = compact(g);
            if !hint_set {
                g.counter_reset_hint = e.counter_reset_hint;
            }
            e == g
        }
        _ => false,
    }
}

/// Runs one `promql_expr_test` case at absolute time `t`; returns the
/// failure message, if any. `rel_t` is the `eval_time` as written.
pub(super) fn check_promql(
    pt: &PromqlTestCase,
    t: i64,
    rel_t: i64,
    storage: &TestStorage,
    fuzzy: bool,
    opts: &TestOptions,
) -> Option<String> {
    let expr_text = pt.expr.as_deref().unwrap_or("");
    let time = watchfire_rulefmt::format_duration(rel_t);
    let fail = |err: String| Some(format!("    expr: {expr_text:?}, time: {time}, err: {err}"));
    let got = match query(expr_text, t, storage, opts) {
        Ok(v) => v,
        Err(e) => return fail(e.to_string()),
    };
    let mut exp = Vec::new();
    for s in pt.exp_samples.iter().flatten() {
        let text = s.labels.as_deref().unwrap_or("").trim();
        let labels = if text.is_empty() {
            Ok(Labels::empty())
        } else {
            watchfire_promqltest::parse_labels(text).map_err(|e| e.to_string())
        };
        let hist = match (&labels, s.histogram.as_deref().filter(|h| !h.is_empty())) {
            (Ok(_), Some(h)) => {
                match watchfire_promqltest::parse_values(h).map_err(|e| e.to_string()) {
                    Ok(mut v) if v.len() == 1 => match v.remove(0) {
                        SeriesValue::Histogram { h, hint_set } => Ok(Some((h, hint_set))),
                        other => Err(format!("expected histogram, got {other:?}")),
                    },
                    Ok(v) => Err(format!("expected 1 value, got {}", v.len())),
                    Err(e) => Err(e),
                }
            }
            _ => Ok(None),
        };
        match (labels, hist) {
            (Ok(labels), Ok(hist)) => exp.push(Point {
                labels,
                value: s.value.unwrap_or(0.0),
                hist,
            }),
            (Err(e), _) | (_, Err(e)) => return fail(format!("labels {text:?}: {e}")),
        }
    }
    let by_labels = |a: &Point, b: &Point| a.labels.cmp(&b.labels);
    exp.sort_by(by_labels);
    let mut got = got;
    got.sort_by(by_labels);
    let equal = exp.len() == got.len() && exp.iter().zip(&got).all(|(e, g)| points_eq(e, g, fuzzy));
    if equal {
        return None;
    }
    Some(format!(
        "    expr: {expr_text:?}, time: {time},\n        exp: {}\n        got: {}",
        render_all(&exp),
        render_all(&got)
    ))
}

/// Why a `promql_expr_test` expression gave no samples to compare.
#[derive(Debug, thiserror::Error)]
enum QueryError {
    /// The expression does not parse; `line:col` of the error first.
    #[error("{line}:{col}: parse error: {source}")]
    Parse {
        line: usize,
        col: usize,
        source: watchfire_promql::ParseError,
    },
    /// It uses a disabled feature.
    #[error(transparent)]
    Feature(#[from] FeatureError),
    /// Evaluation failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// A string or range vector.
    #[error("rule result is not a vector or scalar")]
    NotVectorOrScalar,
}

fn query(
    text: &str,
    t: i64,
    storage: &TestStorage,
    opts: &TestOptions,
) -> Result<Vec<Point>, QueryError> {
    let expr = watchfire_promql::parse(text).map_err(|source| {
        let (line, col) = source.span.line_col(text);
        QueryError::Parse { line, col, source }
    })?;
    walk_features(&expr, opts)?;
    let res = Engine::default().instant(storage, &expr, t)?;
    match res.value {
        Value::Vector(v) => Ok(v
            .into_iter()
            .map(|s| Point {
                labels: s.labels,
                value: s.v,
                hist: s.h.map(|h| ((*h).clone(), true)),
            })
            .collect()),
        Value::Scalar { v, .. } => Ok(vec![Point {
            labels: Labels::empty(),
            value: v,
            hist: None,
        }]),
        _ => Err(QueryError::NotVectorOrScalar),
    }
}

/// A PromQL feature that is turned off, with Prometheus's parser message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum FeatureError {
    /// The `@` modifier.
    #[error("@ modifier is disabled, use --enable-feature=promql-at-modifier to enable it")]
    AtModifier,
    /// A negative offset.
    #[error(
        "negative offset is disabled, use --enable-feature=promql-negative-offset to enable it"
    )]
    NegativeOffset,
}

/// Rejects the `@` modifier and negative offsets when disabled.
pub(super) fn walk_features(e: &Expr, opts: &TestOptions) -> Result<(), FeatureError> {
    let check = |offset: i64, at: &Option<AtModifier>| {
        if at.is_some() && !opts.enable_at_modifier {
            return Err(FeatureError::AtModifier);
        }
        if offset < 0 && !opts.enable_negative_offset {
            return Err(FeatureError::NegativeOffset);
        }
        Ok(())
    };
    match e {
        Expr::Number { .. } | Expr::String { .. } => Ok(()),
        Expr::VectorSelector(vs) | Expr::MatrixSelector { vs, .. } => check(vs.offset, &vs.at),
        Expr::Subquery {
            expr, offset, at, ..
        } => {
            check(*offset, at)?;
            walk_features(expr, opts)
        }
        Expr::Call { args, .. } => args.iter().try_for_each(|a| walk_features(a, opts)),
        Expr::Aggregate { expr, param, .. } => {
            if let Some(p) = param {
                walk_features(p, opts)?;
            }
            walk_features(expr, opts)
        }
        Expr::Binary { lhs, rhs, .. } => {
            walk_features(lhs, opts)?;
            walk_features(rhs, opts)
        }
        Expr::Unary { expr, .. } | Expr::Paren { expr, .. } => walk_features(expr, opts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_floats() {
        let cases = [
            (3.0, 3.0, false, true),
            (3.0, 2.9999999999999996, false, false),
            (3.0, 2.9999999999999996, true, true),
            (3.0, 3.0000000000000004, true, true),
            (3.0, 2.9999999999999987, true, false),
            (3.0, 3.0000000000000013, true, false),
            (0.0, f64::from_bits(1), true, true),
            (f64::NAN, f64::NAN, true, false),
        ];
        for (x, y, fuzzy, want) in cases {
            assert_eq!(float_eq(x, y, fuzzy), want, "{x} {y} fuzzy={fuzzy}");
        }
    }
}
