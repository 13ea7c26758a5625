//! Function calls: dispatch, the instant-vector functions, and the driver
//! that runs range-vector functions over each series and step.

pub(crate) mod histogram;
pub(crate) mod label;
pub(crate) mod range;
pub(crate) mod time;

use std::cmp::Ordering;

use self::range::{call_range, is_range_function, RangeCtx};
use super::annotations as anno;
use super::engine::{exec_err, expr_type, unwrap_parens, Evaluator, RangeInput, Result};
use super::types::{FPoint, FxHashSet, Matrix, Sample, Series, Vector};
use crate::ast::{Expr, Span, ValueType};
use crate::labels::{Labels, MatchOp, Matcher, METRIC_NAME};

/// The `q` quantile of `values` (sorted in place), as Prometheus'
/// `quantile`.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// The labels `absent()`/`absent_over_time()` report: the equality
/// matchers of a selector argument.
fn absent_labels(e: &Expr) -> Labels {
    let ms: &[Matcher] = match unwrap_parens(e) {
        Expr::VectorSelector(vs) => &vs.matchers,
        Expr::MatrixSelector { vs, .. } => &vs.matchers,
        _ => return Labels::empty(),
    };
    let mut b = Labels::empty().builder();
    let mut has: FxHashSet<&str> = FxHashSet::default();
    for m in ms {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.op == MatchOp::Equal && !has.contains(m.name.as_str()) {
            b.set(&m.name, &m.value);
            has.insert(&m.name);
        } else {
            b.del(&m.name);
        }
    }
    b.build()
}

/// facette/natsort's `Compare`: whether `a` sorts before `b` naturally.
fn natsort_less(a: &str, b: &str) -> bool {
    fn chunks(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                if start < i {
                    out.push(&s[start..i]);
                }
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (i, x) in ca.iter().enumerate() {
        let Some(y) = cb.get(i) else { return false };
        let last_a = i == ca.len() - 1;
        let last_b = i == cb.len() - 1;
        if let (Ok(xi), Ok(yi)) = (x.parse::<i64>(), y.parse::<i64>()) {
            if xi == yi {
                if last_a {
                    return true;
                } else if last_b {
                    return false;
                }
                continue;
            }
            return xi < yi;
        }
        if x == y {
            if last_a {
                return true;
            } else if last_b {
                return false;
            }
            continue;
        }
        return x < y;
    }
    false
}

fn string_of(e: &Expr) -> Option<&str> {
    match unwrap_parens(e) {
        Expr::String { val, .. } => Some(val),
        _ => None,
    }
}

fn simple_math(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

impl Evaluator<'_> {
    pub(crate) fn eval_call(&mut self, func: &str, args: &[Expr], span: Span) -> Result<Matrix> {
        match func {
            "label_replace" => return self.label_replace(args),
            "label_join" => return self.label_join(args),
            "timestamp" => {
                if let Some(Expr::VectorSelector(vs)) = args.first().map(unwrap_parens) {
                    return self.vector_selector_impl(vs, true);
                }
            }
            _ => {}
        }
        let matrix_arg = args.iter().position(|a| {
            matches!(
                unwrap_parens(a),
                Expr::MatrixSelector { .. } | Expr::Subquery { .. }
            )
        });
        if let (Some(mi), true) = (matrix_arg, is_range_function(func)) {
            return self.eval_range_call(func, args, mi);
        }
        // Instant-vector function: evaluate the non-string arguments.
        let mut inputs: Vec<Matrix> = Vec::new();
        let mut arg_input: Vec<Option<usize>> = Vec::new();
        for a in args {
            if expr_type(a) == ValueType::String {
                arg_input.push(None);
            } else {
                arg_input.push(Some(inputs.len()));
                inputs.push(self.eval_matrix(a)?);
            }
        }
        self.range_eval(&inputs, |ev, vecs, _, ts| {
            let argv: Vec<Option<&Vector>> =
                arg_input.iter().map(|i| i.map(|i| &vecs[i])).collect();
            ev.call_instant(func, args, &argv, ts, span)
        })
    }

    fn eval_range_call(&mut self, func: &str, args: &[Expr], mi: usize) -> Result<Matrix> {
        // Scalar parameters, one value per step.
        let n = self.num_steps();
        let mut params: Vec<Vec<f64>> = Vec::new();
        let mut param_spans = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i == mi {
                continue;
            }
            let m = self.eval_matrix(a)?;
            let mut vals = vec![f64::NAN; n];
            if let Some(s) = m.first() {
                for p in &s.floats {
                    let k = ((p.t - self.start) / self.interval) as usize;
                    if k < n {
                        vals[k] = p.f;
                    }
                }
            }
            params.push(vals);
            param_spans.push(a.span());
        }
        let marg = unwrap_parens(&args[mi]);
        let input: RangeInput = match marg {
            Expr::MatrixSelector { vs, range, .. } => self.matrix_selector_input(vs, *range)?,
            _ => self.subquery_input(marg)?,
        };
        let arg_span = args[mi].span();
        let drop_name = func != "last_over_time" && func != "first_over_time";
        let steps: Vec<i64> = self.steps().collect();
        let mut out: Matrix = Vec::with_capacity(input.series.len());
        let mut pbuf = vec![0.0; params.len()];
        for s in &input.series {
            let mut ss = Series::new(s.labels.clone(), drop_name);
            for (k, &ts) in steps.iter().enumerate() {
                let (lo, hi) = input.window(ts);
                let f0 = s.floats.partition_point(|p| p.t <= lo);
                let f1 = s.floats.partition_point(|p| p.t <= hi);
                let h0 = s.hists.partition_point(|p| p.t <= lo);
                let h1 = s.hists.partition_point(|p| p.t <= hi);
                if f0 == f1 && h0 == h1 {
                    continue;
                }
                for (j, p) in params.iter().enumerate() {
                    pbuf[j] = p[k];
                }
                let ctx = RangeCtx {
                    floats: &s.floats[f0..f1],
                    hists: &s.hists[h0..h1],
                    labels: &s.labels,
                    range_start: lo,
                    range_end: hi,
                    range: input.range,
                    ts,
                    params: &pbuf,
                    param_spans: &param_spans,
                    arg_span,
                };
                if let Some((f, h)) = call_range(func, &ctx, &mut self.annos)? {
                    if ss.floats.capacity() == 0 && h.is_none() {
                        ss.floats.reserve_exact(steps.len() - k);
                    }
                    ss.push(ts, f, h);
                }
            }
            if (func == "rate" || func == "increase") && !ss.floats.is_empty() {
                let name = s.labels.metric_name();
                if !name.is_empty()
                    && !name.ends_with("_total")
                    && !name.ends_with("_sum")
                    && !name.ends_with("_count")
                    && !name.ends_with("_bucket")
                {
                    self.annos.add(anno::possible_non_counter(name, arg_span));
                }
            }
            if !ss.is_empty() {
                out.push(ss);
            }
        }
        if func == "absent_over_time" {
            let nsteps = steps.len();
            if out.iter().any(|s| s.floats.len() + s.hists.len() == nsteps) {
                return Ok(Vec::new());
            }
            let mut found = FxHashSet::default();
            for s in &out {
                found.extend(s.floats.iter().map(|p| p.t));
                found.extend(s.hists.iter().map(|p| p.t));
            }
            let mut res = Series::new(absent_labels(&args[0]), true);
            res.floats = steps
                .iter()
                .filter(|t| !found.contains(*t))
                .map(|&t| FPoint { t, f: 1.0 })
                .collect();
            return Ok(if res.floats.is_empty() {
                Vec::new()
            } else {
                vec![res]
            });
        }
        Ok(out)
    }

    /// Evaluates an instant-vector (or scalar) function for one step.
    fn call_instant(
        &mut self,
        func: &str,
        args: &[Expr],
        argv: &[Option<&Vector>],
        ts: i64,
        span: Span,
    ) -> Result<Vector> {
        let _ = span;
        let vec0 = argv.first().copied().flatten();
        let scalar = |i: usize| -> f64 {
            argv.get(i)
                .copied()
                .flatten()
                .and_then(|v| v.first())
                .map_or(f64::NAN, |s| s.f)
        };
        if let Some(f) = simple_math(func) {
            return Ok(map_floats(vec0, f));
        }
        if time::is_date_function(func) {
            return Ok(match vec0 {
                None => vec![Sample::float(
                    Labels::empty(),
                    time::date_value(func, ts.div_euclid(1000)),
                    false,
                )],
                Some(v) => v
                    .iter()
                    .filter(|s| s.h.is_none())
                    .map(|s| {
                        let secs = if s.f.is_finite() {
                            s.f as i64
                        } else {
                            i64::MIN
                        };
                        Sample::float(s.labels.clone(), time::date_value(func, secs), true)
                    })
                    .collect(),
            });
        }
        Ok(match func {
            "time" => vec![Sample::float(Labels::empty(), ts as f64 / 1000.0, false)],
            "pi" => vec![Sample::float(Labels::empty(), std::f64::consts::PI, false)],
            "step" => vec![Sample::float(
                Labels::empty(),
                self.query_step as f64 / 1000.0,
                false,
            )],
            "range" => vec![Sample::float(
                Labels::empty(),
                (self.query_end - self.query_start) as f64 / 1000.0,
                false,
            )],
            "start" => vec![Sample::float(
                Labels::empty(),
                self.query_start as f64 / 1000.0,
                false,
            )],
            "end" => vec![Sample::float(
                Labels::empty(),
                self.query_end as f64 / 1000.0,
                false,
            )],
            "min_of" => vec![Sample::float(
                Labels::empty(),
                go_min(scalar(0), scalar(1)),
                false,
            )],
            "max_of" => vec![Sample::float(
                Labels::empty(),
                go_max(scalar(0), scalar(1)),
                false,
            )],
            "vector" => vec![Sample::float(Labels::empty(), scalar(0), false)],
            "scalar" => {
                let mut val = f64::NAN;
                let mut found = false;
                for s in vec0.into_iter().flatten().filter(|s| s.h.is_none()) {
                    if found {
                        val = f64::NAN;
                        break;
                    }
                    found = true;
                    val = s.f;
                }
                vec![Sample::float(Labels::empty(), val, false)]
            }
            "round" => {
                let to = if argv.len() >= 2 { scalar(1) } else { 1.0 };
                let inv = 1.0 / to;
                map_floats_with(vec0, |v| (v * inv + 0.5).floor() / inv)
            }
            "clamp" | "clamp_min" | "clamp_max" => {
                let (lo, hi) = match func {
                    "clamp" => (scalar(1), scalar(2)),
                    "clamp_min" => (scalar(1), f64::INFINITY),
                    _ => (f64::NEG_INFINITY, scalar(1)),
                };
                if hi < lo {
                    return Ok(Vec::new());
                }
                map_floats_with(vec0, |v| go_max(lo, go_min(hi, v)))
            }
            "timestamp" => vec0
                .into_iter()
                .flatten()
                .map(|s| Sample::float(s.labels.clone(), s.t as f64 / 1000.0, true))
                .collect(),
            "absent" => {
                if vec0.is_some_and(|v| !v.is_empty()) {
                    Vec::new()
                } else {
                    vec![Sample::float(absent_labels(&args[0]), 1.0, false)]
                }
            }
            "sort" | "sort_desc" => {
                let mut v: Vector = vec0
                    .into_iter()
                    .flatten()
                    .filter(|s| s.h.is_none())
                    .cloned()
                    .collect();
                let desc = func == "sort_desc";
                v.sort_by(|a, b| match (a.f.is_nan(), b.f.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    _ => {
                        let o = a.f.partial_cmp(&b.f).unwrap_or(Ordering::Equal);
                        if desc {
                            o.reverse()
                        } else {
                            o
                        }
                    }
                });
                v
            }
            "sort_by_label" | "sort_by_label_desc" => {
                let names: Vec<&str> = args[1..].iter().filter_map(string_of).collect();
                let mut v: Vector = vec0.into_iter().flatten().cloned().collect();
                let desc = func == "sort_by_label_desc";
                v.sort_by(|a, b| {
                    for n in &names {
                        let (x, y) = (a.labels.get(n), b.labels.get(n));
                        if x == y {
                            continue;
                        }
                        let o = if natsort_less(x, y) {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        };
                        return if desc { o.reverse() } else { o };
                    }
                    let o = a.labels.cmp(&b.labels);
                    if desc {
                        o.reverse()
                    } else {
                        o
                    }
                });
                v
            }
            "histogram_quantile" => {
                let q = scalar(0);
                if q.is_nan() || !(0.0..=1.0).contains(&q) {
                    self.annos.add(anno::invalid_quantile(q, args[0].span()));
                }
                let v = argv
                    .get(1)
                    .copied()
                    .flatten()
                    .map(|v| v.as_slice())
                    .unwrap_or(&[]);
                self.histogram_quantile(&[q], None, v, args[1].span())
            }
            "histogram_quantiles" => {
                let label = args.get(1).and_then(string_of).unwrap_or("quantile");
                let mut qs = Vec::new();
                for (i, a) in args.iter().enumerate().skip(2) {
                    let q = scalar(i);
                    if q.is_nan() || !(0.0..=1.0).contains(&q) {
                        self.annos.add(anno::invalid_quantile(q, a.span()));
                    }
                    qs.push(q);
                }
                let v = vec0.map(|v| v.as_slice()).unwrap_or(&[]);
                self.histogram_quantile(&qs, Some(label), v, args[0].span())
            }
            "histogram_fraction" => {
                let v = argv
                    .get(2)
                    .copied()
                    .flatten()
                    .map(|v| v.as_slice())
                    .unwrap_or(&[]);
                self.histogram_fraction(scalar(0), scalar(1), v, args[2].span())
            }
            "histogram_count" | "histogram_sum" | "histogram_avg" => vec0
                .into_iter()
                .flatten()
                .filter_map(|s| {
                    let h = s.h.as_ref()?;
                    let f = match func {
                        "histogram_count" => h.count,
                        "histogram_sum" => h.sum,
                        _ => h.sum / h.count,
                    };
                    Some(Sample::float(s.labels.clone(), f, true))
                })
                .collect(),
            "histogram_stddev" | "histogram_stdvar" => Vec::new(),
            _ => {
                if is_range_function(func) {
                    return Err(exec_err(format!(
                        "function {func} needs a range vector argument"
                    )));
                }
                return Err(exec_err(format!("unknown function {func}")));
            }
        })
    }
}

/// Go's `math.Max`/`math.Min` (NaN wins).
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn map_floats(v: Option<&Vector>, f: fn(f64) -> f64) -> Vector {
    map_floats_with(v, f)
}

fn map_floats_with(v: Option<&Vector>, f: impl Fn(f64) -> f64) -> Vector {
    v.into_iter()
        .flatten()
        .filter(|s| s.h.is_none())
        .map(|s| Sample::float(s.labels.clone(), f(s.f), true))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_sort() {
        let cases = [
            ("a2", "a10", true),
            ("a10", "a2", false),
            ("abc", "abd", true),
            ("x", "x", true),
            ("1", "01", true),
        ];
        for (a, b, want) in cases {
            assert_eq!(natsort_less(a, b), want, "{a} < {b}");
        }
    }

    #[test]
    fn quantiles() {
        let cases: &[(f64, &[f64], f64)] = &[
            (0.5, &[1.0, 3.0, 2.0], 2.0),
            (0.25, &[1.0, 2.0, 3.0, 4.0, 5.0], 2.0),
            (1.5, &[1.0], f64::INFINITY),
        ];
        for &(q, vals, want) in cases {
            let mut v = vals.to_vec();
            assert_eq!(quantile(q, &mut v), want, "q={q}");
        }
        assert!(quantile(0.5, &mut []).is_nan());
    }
}
