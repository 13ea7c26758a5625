//! Upstream's comparison rules for eval results (`promqltest/test.go`):
//!
//! - floats match with `almost.Equal` (relative epsilon 1e-6, NaN equals
//!   NaN, exact compare near zero);
//! - vector order only matters with `expect ordered`, matrices must be
//!   sorted by labels, labels must match exactly;
//! - range-vector points sit at `start + i*step`; `_` means no point;
//! - native histograms compare schema, count/sum/zero bucket and compacted
//!   buckets, plus the counter-reset hint only when written explicitly;
//! - annotations: every `expect warn|info` line must match some annotation
//!   of its kind and, once such lines exist, every annotation of that kind
//!   must match one of them; `no_warn`/`no_info` forbid the kind.
//!
//! Pure: everything here works on values, never on the engine.

use crate::notation::histogram::{compact, render, CUSTOM_BUCKETS_SCHEMA};
use crate::notation::SeriesValue;
use crate::script::{EvalCmd, EvalKind, ExpectKind, Expected, ExpectedSeries, TextMatch};
use watchfire_promql::eval::{Annotation, AnnotationKind, Value, VectorSample};
use watchfire_promql::labels::Labels;
use watchfire_promql::storage::{FloatHistogram, Series};

/// Relative error allowed for sample values.
pub const DEFAULT_EPSILON: f64 = 0.000001;

/// A result that does not match the expectation; the text says how.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

fn fail<T>(msg: impl Into<String>) -> Result<T, Mismatch> {
    Err(Mismatch(msg.into()))
}

/// Upstream `almost.Equal`.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let min_normal = f64::MIN_POSITIVE;
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < epsilon * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Compares a native histogram the way upstream's `compareNativeHistogram` does.
pub fn histograms_match(exp: &FloatHistogram, got: &FloatHistogram, hint_set: bool) -> bool {
    let (e, g) = (compact(exp), compact(got));
    let eq = |a: &[f64], b: &[f64]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| almost_equal(*x, *y, DEFAULT_EPSILON))
    };
    e.schema == g.schema
        && almost_equal(e.count, g.count, DEFAULT_EPSILON)
        && almost_equal(e.sum, g.sum, DEFAULT_EPSILON)
        && (e.schema != CUSTOM_BUCKETS_SCHEMA || e.custom_values == g.custom_values)
        && e.zero_threshold == g.zero_threshold
        && almost_equal(e.zero_count, g.zero_count, DEFAULT_EPSILON)
        && e.negative_spans == g.negative_spans
        && eq(&e.negative_buckets, &g.negative_buckets)
        && e.positive_spans == g.positive_spans
        && eq(&e.positive_buckets, &g.positive_buckets)
        && (!hint_set || e.counter_reset_hint == g.counter_reset_hint)
}

/// Where expected points of a matrix lie: `(start, end, step)`. A plain
/// instant query has no valid point time (upstream's zero `end`).
fn timing(cmd: &EvalCmd) -> (i64, i64, i64) {
    match (cmd.kind, cmd.range_vector) {
        (_, Some(rv)) => rv,
        (EvalKind::Range { start, end, step }, None) => (start, end, step),
        (EvalKind::Instant { t }, None) => (t, i64::MIN, 0),
    }
}

fn find<'a>(cmd: &'a EvalCmd, labels: &Labels) -> Option<&'a ExpectedSeries> {
    match &cmd.expected {
        Expected::Series(s) => s.iter().find(|s| &s.labels == labels),
        Expected::Scalar(_) => None,
    }
}

fn series_count(cmd: &EvalCmd) -> usize {
    match &cmd.expected {
        Expected::Series(s) => s.len(),
        Expected::Scalar(_) => 0,
    }
}

fn show_vector_value(s: &VectorSample) -> String {
    s.h.as_ref().map_or_else(|| s.v.to_string(), |h| render(h))
}

fn show_series(s: &Series) -> String {
    let f: Vec<String> = s
        .samples
        .iter()
        .map(|p| format!("{}@{}", p.v, p.t))
        .collect();
    let h: Vec<String> = s
        .histograms
        .iter()
        .map(|p| format!("{}@{}", render(&p.h), p.t))
        .collect();
    format!(
        "{} float points [{}] and {} histogram points [{}]",
        f.len(),
        f.join(" "),
        h.len(),
        h.join(" ")
    )
}

/// Checks an evaluation result against the eval's expected values.
pub fn compare_result(cmd: &EvalCmd, value: &Value) -> Result<(), Mismatch> {
    match value {
        Value::Matrix(m) => compare_matrix(cmd, m),
        Value::Vector(v) => compare_vector(cmd, v),
        Value::Scalar { v, .. } => match &cmd.expected {
            Expected::Scalar(e) if almost_equal(*e, *v, DEFAULT_EPSILON) => Ok(()),
            Expected::Scalar(e) => fail(format!("expected scalar {e} but got {v}")),
            Expected::Series(_) => fail(format!(
                "expected vector or matrix result, but got scalar {v}"
            )),
        },
        Value::String { v, .. } => {
            let want = cmd.expected_string.as_deref().unwrap_or("");
            if want == v {
                Ok(())
            } else {
                fail(format!("expected string {want:?} but got {v:?}"))
            }
        }
    }
}

fn compare_vector(cmd: &EvalCmd, vec: &[VectorSample]) -> Result<(), Mismatch> {
    if let Expected::Scalar(e) = cmd.expected {
        return fail(format!(
            "expected scalar {e}, but got vector of {} samples",
            vec.len()
        ));
    }
    let mut seen = 0usize;
    for (pos, s) in vec.iter().enumerate() {
        let Some(exp) = find(cmd, &s.labels) else {
            return fail(format!(
                "unexpected metric {} in result, has value {}",
                s.labels,
                show_vector_value(s)
            ));
        };
        if cmd.is_ordered() && exp.pos != pos + 1 {
            return fail(format!(
                "expected metric {} at position {} but was at {}",
                s.labels,
                exp.pos,
                pos + 1
            ));
        }
        let Some(e0) = exp.values.first() else {
            return fail(format!("no expected value given for {}", s.labels));
        };
        match (e0, &s.h) {
            (SeriesValue::Histogram { h, hint_set }, Some(got)) => {
                if !histograms_match(h, got, *hint_set) {
                    return fail(format!(
                        "expected {} for {} but got {}",
                        render(h),
                        s.labels,
                        render(got)
                    ));
                }
            }
            (SeriesValue::Histogram { h, .. }, None) => {
                return fail(format!(
                    "expected histogram {} for {} but got float value {}",
                    render(h),
                    s.labels,
                    s.v
                ));
            }
            (_, Some(got)) => {
                return fail(format!(
                    "expected float value for {} but got histogram {}",
                    s.labels,
                    render(got)
                ));
            }
            (e, None) => {
                let want = e.as_f64().unwrap_or(0.0);
                if !almost_equal(want, s.v, DEFAULT_EPSILON) {
                    return fail(format!("expected {want} for {} but got {}", s.labels, s.v));
                }
            }
        }
        seen += 1;
    }
    if seen < series_count(cmd) {
        if let Expected::Series(all) = &cmd.expected {
            for e in all {
                if !vec.iter().any(|s| s.labels == e.labels) {
                    return fail(format!("expected metric {} not found", e.labels));
                }
            }
        }
    }
    Ok(())
}

fn compare_matrix(cmd: &EvalCmd, m: &[Series]) -> Result<(), Mismatch> {
    if cmd.is_ordered() {
        return fail("expected ordered result, but query returned a matrix");
    }
    if let Expected::Scalar(e) = cmd.expected {
        return fail(format!(
            "expected scalar result {e}, but got matrix of {} series",
            m.len()
        ));
    }
    for (i, w) in m.windows(2).enumerate() {
        if w[0].labels > w[1].labels {
            return fail(format!(
                "matrix results should always be sorted by labels, but series at index {} ({}) sorts before series at index {i} ({})",
                i + 1,
                w[1].labels,
                w[0].labels
            ));
        }
    }
    let (start, end, step) = timing(cmd);
    for s in m {
        let Some(exp) = find(cmd, &s.labels) else {
            return fail(format!(
                "unexpected metric {} in result, has {}",
                s.labels,
                show_series(s)
            ));
        };
        let mut floats = Vec::new();
        let mut hists = Vec::new();
        for (i, v) in exp.values.iter().enumerate() {
            let t = start + i as i64 * step;
            if t > end {
                return fail(format!(
                    "expected {} points for {}, but query time range cannot return this many points",
                    exp.values.len(),
                    s.labels
                ));
            }
            match v {
                SeriesValue::Histogram { h, hint_set } => hists.push((t, h, *hint_set)),
                SeriesValue::Missing => {}
                other => floats.push((t, other.as_f64().unwrap_or(0.0))),
            }
        }
        if floats.len() != s.samples.len() || hists.len() != s.histograms.len() {
            return fail(format!(
                "expected {} float points and {} histogram points for {}, but got {}",
                floats.len(),
                hists.len(),
                s.labels,
                show_series(s)
            ));
        }
        for (i, ((t, v), got)) in floats.iter().zip(&s.samples).enumerate() {
            if *t != got.t {
                return fail(format!(
                    "expected float value at index {i} for {} to have timestamp {t}, but it had timestamp {} (result has {})",
                    s.labels,
                    got.t,
                    show_series(s)
                ));
            }
            if !almost_equal(got.v, *v, DEFAULT_EPSILON) {
                return fail(format!(
                    "expected float value at index {i} (t={t}) for {} to be {v}, but got {} (result has {})",
                    s.labels,
                    got.v,
                    show_series(s)
                ));
            }
        }
        for (i, ((t, h, hint_set), got)) in hists.iter().zip(&s.histograms).enumerate() {
            if *t != got.t || !histograms_match(h, &got.h, *hint_set) {
                return fail(format!(
                    "expected histogram value at index {i} for {} to be {} @{t}, but got {} @{}",
                    s.labels,
                    render(h),
                    render(&got.h),
                    got.t
                ));
            }
        }
    }
    if let Expected::Series(all) = &cmd.expected {
        for e in all {
            if !m.iter().any(|s| s.labels == e.labels) {
                return fail(format!("expected metric {} not found", e.labels));
            }
        }
    }
    Ok(())
}

fn check_kind(kind: &str, expected: &[&TextMatch], actual: &[String]) -> Result<(), Mismatch> {
    if expected.is_empty() {
        return Ok(());
    }
    if actual.is_empty() {
        return fail(format!("expected {kind} annotations but none were found"));
    }
    for e in expected {
        if !actual.iter().any(|a| e.matches(a)) {
            return fail(format!("expected {kind} annotation matching {e} but no matching annotation was found, found: {actual:?}"));
        }
    }
    for a in actual {
        if !expected.iter().any(|e| e.matches(a)) {
            return fail(format!("unexpected {kind} annotation {a:?} found"));
        }
    }
    Ok(())
}

/// Checks annotations (rendered against `query`) against the expect lines.
pub fn check_annotations(
    cmd: &EvalCmd,
    annotations: &[Annotation],
    query: &str,
) -> Result<(), Mismatch> {
    let render_kind = |k: AnnotationKind| -> Vec<String> {
        annotations
            .iter()
            .filter(|a| a.kind == k)
            .map(|a| a.render(query))
            .collect()
    };
    let (warnings, infos) = (
        render_kind(AnnotationKind::Warning),
        render_kind(AnnotationKind::Info),
    );
    if cmd.warn && warnings.is_empty() {
        return fail("expected warnings but got none");
    }
    if cmd.info && infos.is_empty() {
        return fail("expected info annotations but got none");
    }
    check_kind(
        "warn",
        &cmd.expects_of(ExpectKind::Warn).collect::<Vec<_>>(),
        &warnings,
    )?;
    check_kind(
        "info",
        &cmd.expects_of(ExpectKind::Info).collect::<Vec<_>>(),
        &infos,
    )?;
    if cmd.expects_of(ExpectKind::NoWarn).next().is_some() && !warnings.is_empty() {
        return fail(format!("unexpected warning annotations: {warnings:?}"));
    }
    if cmd.expects_of(ExpectKind::NoInfo).next().is_some() && !infos.is_empty() {
        return fail(format!("unexpected info annotations: {infos:?}"));
    }
    Ok(())
}

/// Checks a query error against `expect fail` / `expected_fail_*`. Call
/// only when the eval expects failure.
pub fn check_expected_failure(cmd: &EvalCmd, err: &str) -> Result<(), Mismatch> {
    if let Some(m) = &cmd.expected_fail_message {
        if m != err {
            return fail(format!("expected error {m:?}, but got: {err}"));
        }
    }
    if let Some(r) = &cmd.expected_fail_regexp {
        if !r.is_match(err) {
            return fail(format!(
                "expected error matching pattern {:?}, but got: {err}",
                r.as_str()
            ));
        }
    }
    if let Some(m) = cmd.expects_of(ExpectKind::Fail).next() {
        if !m.matches(err) {
            return fail(format!("expected error matching {m}, but got: {err}"));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;
