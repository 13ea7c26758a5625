//! The `@`-modifier step-invariance variants upstream's runner adds to
//! every instant eval (`atModifierTestCases` in `promqltest/test.go`):
//! every selector and subquery without an `@` gets `@ <eval time>`
//! (selectors inside a subquery are left alone), the expression is printed
//! back to text, and that query is evaluated again at several other times,
//! where it must give the same result. Expressions calling a function whose
//! result depends on the evaluation time itself are not varied.
//!
//! Pure AST rewriting; the runner does the evaluation.

use watchfire_promql::ast::{AtModifier, Expr};

/// Functions that make a query unsafe to pin with `@`: upstream
/// `promql.AtModifierUnsafeFunctions`, plus the query-context functions
/// `start()`, `end()`, `range()` and `step()` (their results follow the
/// evaluation time by definition; the upstream suite's expectations for
/// them only hold without the re-runs).
pub const AT_MODIFIER_UNSAFE_FUNCTIONS: &[&str] = &[
    "start",
    "end",
    "range",
    "step",
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

/// The query text with `@ t` pinned in, and the extra evaluation times
/// (ms) to run it at; `None` when the expression must not be varied.
pub fn at_modifier_variants(expr: &Expr, t: i64) -> Option<(String, Vec<i64>)> {
    let mut e = expr.clone();
    let mut unsafe_fn = false;
    pin(&mut e, t, &mut unsafe_fn);
    if unsafe_fn {
        return None;
    }
    let times = if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    Some((e.to_string(), times))
}

fn pin(e: &mut Expr, t: i64, unsafe_fn: &mut bool) {
    let at = || Some(AtModifier::Timestamp(t));
    match e {
        Expr::VectorSelector(vs) | Expr::MatrixSelector { vs, .. } => {
            if vs.at.is_none() {
                vs.at = at();
            }
        }
        Expr::Subquery { at: a, .. } => {
            // Upstream stops rewriting (and checking calls) below a
            // subquery once it carries an `@`, which it always does here.
            if a.is_none() {
                *a = at();
            }
        }
        Expr::Call { func, args, .. } => {
            *unsafe_fn |= AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&func.as_str());
            for a in args {
                pin(a, t, unsafe_fn);
            }
        }
        Expr::Aggregate { expr, param, .. } => {
            if let Some(p) = param {
                pin(p, t, unsafe_fn);
            }
            pin(expr, t, unsafe_fn);
        }
        Expr::Binary { lhs, rhs, .. } => {
            pin(lhs, t, unsafe_fn);
            pin(rhs, t, unsafe_fn);
        }
        Expr::Unary { expr, .. } | Expr::Paren { expr, .. } => pin(expr, t, unsafe_fn),
        Expr::Number { .. } | Expr::String { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expect` is (number of `@` in the printed query, times) or None.
    fn check(query: &str, t: i64, expect: Option<(usize, Vec<i64>)>) {
        let expr = watchfire_promql::parse(query).unwrap();
        let got = at_modifier_variants(&expr, t);
        match (got, expect) {
            (None, None) => {}
            (Some((q, times)), Some((ats, want_times))) => {
                assert_eq!(q.matches('@').count(), ats, "{query} -> {q}");
                assert_eq!(times, want_times, "{query}");
                // The printed query must parse back.
                watchfire_promql::parse(&q).unwrap();
            }
            (got, want) => panic!("{query}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn variants() {
        check("m", 0, Some((1, vec![-1000, 0, 1000])));
        check(
            "sum(rate(m[5m])) / on() n",
            60_000,
            Some((2, vec![-600_000, 0, 12_000, 60_000, 600_000])),
        );
        check(
            "m @ 100",
            60_000,
            Some((1, vec![-600_000, 0, 12_000, 60_000, 600_000])),
        );
        check(
            "max_over_time(rate(m[1m])[5m:1m])",
            1000,
            Some((1, vec![-10_000, 0, 200, 1000, 10_000])),
        );
        check("1 + 2", 5, Some((0, vec![-50, 0, 1, 5, 50])));
        check("time() - m", 1000, None);
        check("timestamp(m)", 1000, None);
        check("end() - start()", 1000, None);
        check(
            "label_replace(hour(), \"a\", \"b\", \"c\", \"d\")",
            1000,
            None,
        );
    }

    #[test]
    fn pinned_times_are_the_eval_time() {
        let expr = watchfire_promql::parse("m").unwrap();
        let (q, _) = at_modifier_variants(&expr, 60_000).unwrap();
        let Expr::VectorSelector(vs) = watchfire_promql::parse(&q).unwrap() else {
            panic!("{q}")
        };
        assert_eq!(vs.at, Some(AtModifier::Timestamp(60_000)));
    }
}
