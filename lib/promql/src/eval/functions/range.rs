//! Range-vector functions: `rate`, `increase`, `delta`, `irate`,
//! `idelta`, `deriv`, `predict_linear`, `changes`, `resets`, the
//! `*_over_time` family and `double_exponential_smoothing`.

use std::sync::Arc;

use super::quantile;
use crate::ast::Span;
use crate::eval::aggregate::kahan_inc;
use crate::eval::annotations::{self as anno, Annotations};
use crate::eval::engine::{exec_err, Result};
use crate::eval::types::{FPoint, HPoint};
use crate::labels::Labels;
use crate::storage::FloatHistogram;

/// What a range function sees for one series at one step.
pub(crate) struct RangeCtx<'a> {
    pub floats: &'a [FPoint],
    pub hists: &'a [HPoint],
    pub labels: &'a Labels,
    /// The window is `(range_start, range_end]`.
    pub range_start: i64,
    pub range_end: i64,
    pub range: i64,
    /// The evaluation step.
    pub ts: i64,
    /// The scalar arguments (other than the range vector), in order.
    pub params: &'a [f64],
    pub param_spans: &'a [Span],
    /// The span of the range-vector argument.
    pub arg_span: Span,
}

pub(crate) type Out = Option<(f64, Option<Arc<FloatHistogram>>)>;

fn some(f: f64) -> Out {
    Some((f, None))
}

pub(crate) fn is_range_function(name: &str) -> bool {
    matches!(
        name,
        "rate"
            | "increase"
            | "delta"
            | "irate"
            | "idelta"
            | "deriv"
            | "predict_linear"
            | "changes"
            | "resets"
            | "avg_over_time"
            | "sum_over_time"
            | "count_over_time"
            | "min_over_time"
            | "max_over_time"
            | "quantile_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
            | "last_over_time"
            | "first_over_time"
            | "present_over_time"
            | "absent_over_time"
            | "mad_over_time"
            | "ts_of_first_over_time"
            | "ts_of_last_over_time"
            | "ts_of_max_over_time"
            | "ts_of_min_over_time"
            | "double_exponential_smoothing"
            | "holt_winters"
    )
}

/// Calls range function `name`.
pub(crate) fn call_range(name: &str, c: &RangeCtx<'_>, an: &mut Annotations) -> Result<Out> {
    let metric = c.labels.metric_name();
    let mixed_info = |an: &mut Annotations| {
        if !c.hists.is_empty() {
            an.add(anno::histogram_ignored_in_mixed_range(metric, c.arg_span));
        }
    };
    Ok(match name {
        "rate" => extrapolated_rate(c, an, true, true),
        "increase" => extrapolated_rate(c, an, true, false),
        "delta" => extrapolated_rate(c, an, false, false),
        "irate" => instant_value(c, an, true),
        "idelta" => instant_value(c, an, false),
        "deriv" | "predict_linear" => {
            if c.floats.len() < 2 {
                if c.floats.len() == 1 {
                    mixed_info(an);
                }
                return Ok(None);
            }
            mixed_info(an);
            if name == "deriv" {
                let (slope, _) = linear_regression(c.floats, c.floats[0].t);
                some(slope)
            } else {
                let d = c.params.first().copied().unwrap_or(f64::NAN);
                let (slope, intercept) = linear_regression(c.floats, c.ts);
                some(slope * d + intercept)
            }
        }
        "changes" | "resets" => {
            let merged = merged_points(c);
            if merged.is_empty() {
                return Ok(None);
            }
            let mut n = 0.0;
            for w in merged.windows(2) {
                let hit = match (&w[0], &w[1]) {
                    (P::F(a), P::F(b)) => {
                        if name == "changes" {
                            a != b && !(a.is_nan() && b.is_nan())
                        } else {
                            b < a
                        }
                    }
                    (P::H(a), P::H(b)) => {
                        if name == "changes" {
                            a != b
                        } else {
                            b.count < a.count
                        }
                    }
                    _ => true,
                };
                if hit {
                    n += 1.0;
                }
            }
            some(n)
        }
        "avg_over_time" => {
            if !c.floats.is_empty() && !c.hists.is_empty() {
                an.add(anno::mixed_floats_histograms(metric, c.arg_span));
                return Ok(None);
            }
            if c.floats.is_empty() {
                return Ok(None);
            }
            some(avg(c.floats))
        }
        "sum_over_time" => {
            if !c.floats.is_empty() && !c.hists.is_empty() {
                an.add(anno::mixed_floats_histograms(metric, c.arg_span));
                return Ok(None);
            }
            if c.floats.is_empty() {
                return Ok(None);
            }
            let (mut sum, mut comp) = (0.0, 0.0);
            for p in c.floats {
                (sum, comp) = kahan_inc(p.f, sum, comp);
            }
            some(if sum.is_infinite() { sum } else { sum + comp })
        }
        "count_over_time" => some((c.floats.len() + c.hists.len()) as f64),
        "present_over_time" | "absent_over_time" => some(1.0),
        "last_over_time" | "first_over_time" => {
            let last = name == "last_over_time";
            let f = if last {
                c.floats.last()
            } else {
                c.floats.first()
            };
            let h = if last {
                c.hists.last()
            } else {
                c.hists.first()
            };
            match (f, h) {
                (None, None) => None,
                (Some(f), None) => some(f.f),
                (None, Some(h)) => Some((0.0, Some(h.h.clone()))),
                (Some(f), Some(h)) => {
                    let take_float = if last { h.t < f.t } else { f.t < h.t };
                    if take_float {
                        some(f.f)
                    } else {
                        Some((0.0, Some(h.h.clone())))
                    }
                }
            }
        }
        "ts_of_first_over_time" => {
            let tf = c.floats.first().map_or(i64::MAX, |p| p.t);
            let th = c.hists.first().map_or(i64::MAX, |p| p.t);
            some(tf.min(th) as f64 / 1000.0)
        }
        "ts_of_last_over_time" => {
            let tf = c.floats.last().map_or(0, |p| p.t);
            let th = c.hists.last().map_or(0, |p| p.t);
            some(tf.max(th) as f64 / 1000.0)
        }
        "max_over_time" | "min_over_time" | "ts_of_max_over_time" | "ts_of_min_over_time" => {
            if c.floats.is_empty() {
                return Ok(None);
            }
            mixed_info(an);
            let mut best = c.floats[0].f;
            let mut best_t = c.floats[0].t;
            for p in c.floats {
                let better = match name {
                    "max_over_time" => p.f > best || best.is_nan(),
                    "min_over_time" => p.f < best || best.is_nan(),
                    "ts_of_max_over_time" => p.f >= best || best.is_nan(),
                    _ => p.f <= best || best.is_nan(),
                };
                if better {
                    best = p.f;
                    best_t = p.t;
                }
            }
            if name.starts_with("ts_of") {
                some(best_t as f64 / 1000.0)
            } else {
                some(best)
            }
        }
        "quantile_over_time" => {
            let q = c.params.first().copied().unwrap_or(f64::NAN);
            if c.floats.is_empty() {
                return Ok(None);
            }
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                an.add(anno::invalid_quantile(
                    q,
                    c.param_spans.first().copied().unwrap_or(c.arg_span),
                ));
            }
            mixed_info(an);
            let mut vals: Vec<f64> = c.floats.iter().map(|p| p.f).collect();
            some(quantile(q, &mut vals))
        }
        "stddev_over_time" | "stdvar_over_time" => {
            if c.floats.is_empty() {
                return Ok(None);
            }
            mixed_info(an);
            let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for p in c.floats {
                count += 1.0;
                let delta = p.f - (mean + c_mean);
                (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
                (aux, c_aux) = kahan_inc(delta * (p.f - (mean + c_mean)), aux, c_aux);
            }
            let var = (aux + c_aux) / count;
            some(if name == "stddev_over_time" {
                var.sqrt()
            } else {
                var
            })
        }
        "mad_over_time" => {
            if c.floats.is_empty() {
                return Ok(None);
            }
            mixed_info(an);
            if c.floats.iter().any(|p| p.f.is_nan()) {
                return Ok(some(f64::NAN));
            }
            let mut vals: Vec<f64> = c.floats.iter().map(|p| p.f).collect();
            let median = quantile(0.5, &mut vals);
            let mut devs: Vec<f64> = c.floats.iter().map(|p| (p.f - median).abs()).collect();
            some(quantile(0.5, &mut devs))
        }
        "double_exponential_smoothing" | "holt_winters" => {
            let sf = c.params.first().copied().unwrap_or(f64::NAN);
            let tf = c.params.get(1).copied().unwrap_or(f64::NAN);
            if sf.is_nan() || sf <= 0.0 || sf >= 1.0 {
                return Err(exec_err(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                )));
            }
            if tf.is_nan() || tf <= 0.0 || tf >= 1.0 {
                return Err(exec_err(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                )));
            }
            let l = c.floats.len();
            if l < 2 {
                if l == 1 {
                    mixed_info(an);
                }
                return Ok(None);
            }
            let f = c.floats;
            let (mut s0, mut s1) = (0.0, f[0].f);
            let mut b = f[1].f - f[0].f;
            for (i, p) in f.iter().enumerate().skip(1) {
                let x = sf * p.f;
                b = if i == 1 {
                    b
                } else {
                    tf * (s1 - s0) + (1.0 - tf) * b
                };
                let y = (1.0 - sf) * (s1 + b);
                s0 = s1;
                s1 = x + y;
            }
            mixed_info(an);
            some(s1)
        }
        _ => return Err(exec_err(format!("unknown range function {name}"))),
    })
}

enum P {
    F(f64),
    H(Arc<FloatHistogram>),
}

fn merged_points(c: &RangeCtx<'_>) -> Vec<P> {
    let mut out = Vec::with_capacity(c.floats.len() + c.hists.len());
    let (mut i, mut j) = (0, 0);
    while i < c.floats.len() || j < c.hists.len() {
        if j >= c.hists.len() || (i < c.floats.len() && c.floats[i].t < c.hists[j].t) {
            out.push(P::F(c.floats[i].f));
            i += 1;
        } else {
            out.push(P::H(c.hists[j].h.clone()));
            j += 1;
        }
    }
    out
}

fn avg(f: &[FPoint]) -> f64 {
    let (mut sum, mut count) = (f[0].f, 1.0);
    let (mut mean, mut kc) = (0.0, 0.0);
    let mut incremental = false;
    for (i, p) in f.iter().enumerate().skip(1) {
        count = (i + 1) as f64;
        if !incremental {
            let (ns, nc) = kahan_inc(p.f, sum, kc);
            if !ns.is_infinite() {
                sum = ns;
                kc = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            kc /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, kc) = kahan_inc(p.f / count, q * mean, q * kc);
    }
    if incremental {
        mean + kc
    } else {
        sum / count + kc / count
    }
}

/// Least-squares slope and intercept (at `intercept_time`).
pub(crate) fn linear_regression(samples: &[FPoint], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut cx, mut sum_y, mut cy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut cxy, mut sum_x2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = samples[0].f;
    let mut const_y = true;
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.f != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_time) as f64 / 1e3;
        (sum_x, cx) = kahan_inc(x, sum_x, cx);
        (sum_y, cy) = kahan_inc(s.f, sum_y, cy);
        (sum_xy, cxy) = kahan_inc(x * s.f, sum_xy, cxy);
        (sum_x2, cx2) = kahan_inc(x * x, sum_x2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += cx;
    sum_y += cy;
    sum_xy += cxy;
    sum_x2 += cx2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

fn extrapolated_rate(
    c: &RangeCtx<'_>,
    an: &mut Annotations,
    is_counter: bool,
    is_rate: bool,
) -> Out {
    let f = c.floats;
    if !c.hists.is_empty() {
        if !f.is_empty() {
            an.add(anno::mixed_floats_histograms(
                c.labels.metric_name(),
                c.arg_span,
            ));
        }
        return None;
    }
    if f.len() < 2 {
        return None;
    }
    let n1 = f.len() - 1;
    let (first_t, last_t) = (f[0].t, f[n1].t);
    let mut result = f[n1].f - f[0].f;
    if is_counter {
        for w in f.windows(2) {
            if w[1].f < w[0].f {
                result += w[0].f;
            }
        }
    }
    let mut dur_start = (first_t - c.range_start) as f64 / 1000.0;
    let mut dur_end = (c.range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_dur = sampled / n1 as f64;
    let threshold = avg_dur * 1.1;
    if dur_start >= threshold {
        dur_start = avg_dur / 2.0;
    }
    if is_counter {
        let mut dur_zero = dur_start;
        if result > 0.0 && f[0].f >= 0.0 {
            dur_zero = sampled * (f[0].f / result);
        }
        if dur_zero < dur_start {
            dur_start = dur_zero;
        }
    }
    if dur_end >= threshold {
        dur_end = avg_dur / 2.0;
    }
    let mut factor = (sampled + dur_start + dur_end) / sampled;
    if is_rate {
        factor /= c.range as f64 / 1000.0;
    }
    some(result * factor)
}

fn instant_value(c: &RangeCtx<'_>, an: &mut Annotations, is_rate: bool) -> Out {
    if c.floats.len() + c.hists.len() < 2 {
        return None;
    }
    // The last two samples of either kind.
    let mut cand: Vec<(i64, Option<f64>)> = Vec::with_capacity(4);
    for p in &c.floats[c.floats.len().saturating_sub(2)..] {
        cand.push((p.t, Some(p.f)));
    }
    for p in &c.hists[c.hists.len().saturating_sub(2)..] {
        cand.push((p.t, None));
    }
    cand.sort_by_key(|x| x.0);
    let (a, b) = (cand[cand.len() - 2], cand[cand.len() - 1]);
    let interval = b.0 - a.0;
    if interval == 0 {
        return None;
    }
    match (a.1, b.1) {
        (Some(x), Some(y)) => {
            let mut r = if is_rate && y < x { y } else { y - x };
            if is_rate {
                r /= interval as f64 / 1000.0;
            }
            some(r)
        }
        (None, None) => None,
        _ => {
            an.add(anno::mixed_floats_histograms(
                c.labels.metric_name(),
                c.arg_span,
            ));
            None
        }
    }
}
