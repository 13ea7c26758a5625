//! Histogram helpers: `histogram_quantile`/`histogram_quantiles`/
//! `histogram_fraction` over classic `le` buckets (with Prometheus'
//! monotonicity fix), and the little native-histogram arithmetic the
//! evaluator needs to pass native histograms through.

use std::sync::Arc;

use crate::ast::Span;
use crate::eval::annotations as anno;
use crate::eval::engine::Evaluator;
use crate::eval::types::{FxHashMap, Sample};
use crate::gofmt::format_float;
use crate::labels::Labels;
use crate::storage::FloatHistogram;

/// Multiplies every count and the sum of a histogram by `f`.
pub(crate) fn scale(h: &FloatHistogram, f: f64) -> FloatHistogram {
    let mut h = h.clone();
    h.count *= f;
    h.sum *= f;
    h.zero_count *= f;
    for b in h
        .positive_buckets
        .iter_mut()
        .chain(h.negative_buckets.iter_mut())
    {
        *b *= f;
    }
    h
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    pub upper: f64,
    pub count: f64,
}

fn sort_and_coalesce(buckets: &mut Vec<Bucket>) {
    buckets.sort_by(|a, b| {
        a.upper
            .partial_cmp(&b.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match out.last_mut() {
            Some(l) if l.upper == b.upper => l.count += b.count,
            _ => out.push(*b),
        }
    }
    *buckets = out;
}

fn correct_precision_errors(buckets: &mut [Bucket], tolerance: f64) {
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        let delta = (curr - prev).abs();
        if delta == 0.0 {
            continue;
        }
        if delta / curr <= tolerance {
            b.count = prev;
        } else {
            prev = curr;
        }
    }
}

fn ensure_monotonic(buckets: &mut [Bucket]) -> bool {
    let mut forced = false;
    let mut max = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        if b.count > max {
            max = b.count;
        } else if b.count < max {
            b.count = max;
            forced = true;
        }
    }
    forced
}

/// The quantile `q` of classic buckets; also whether monotonicity had to be
/// forced.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    if buckets.is_empty() {
        return (f64::NAN, false);
    }
    sort_and_coalesce(buckets);
    if buckets.last().map(|b| b.upper) != Some(f64::INFINITY) {
        return (f64::NAN, false);
    }
    correct_precision_errors(buckets, 1e-12);
    let forced = ensure_monotonic(buckets);
    if buckets.len() < 2 {
        return (f64::NAN, false);
    }
    let n = buckets.len();
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return (f64::NAN, false);
    }
    let mut rank = q * observations;
    let b = buckets[..n - 1].partition_point(|x| x.count < rank);
    if b == n - 1 {
        return (buckets[n - 2].upper, forced);
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return (buckets[0].upper, forced);
    }
    let mut start = 0.0;
    let end = buckets[b].upper;
    let mut count = buckets[b].count;
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

/// The fraction of observations between `lower` and `upper`.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    if buckets.is_empty() {
        return f64::NAN;
    }
    sort_and_coalesce(buckets);
    if buckets.last().map(|b| b.upper) != Some(f64::INFINITY) {
        return f64::NAN;
    }
    ensure_monotonic(buckets);
    let count = buckets[buckets.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for (i, b) in buckets.iter().enumerate() {
        let lb = if i > 0 {
            buckets[i - 1].upper
        } else if b.upper > 0.0 {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let ub = b.upper;
        // Infinite-width buckets are not interpolated: a value inside one
        // sits at its finite end.
        let interp = |v: f64| {
            if ub.is_infinite() {
                rank
            } else if lb.is_infinite() {
                b.count
            } else {
                rank + (b.count - rank) * (v - lb) / (ub - lb)
            }
        };
        if !lower_set && lb >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lb >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lb < lower && ub > lower {
            lower_rank = interp(lower);
            lower_set = true;
        }
        if !upper_set && lb < upper && ub > upper {
            upper_rank = interp(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// A classic histogram assembled from `le` series.
pub(crate) struct ClassicGroup {
    pub metric: Labels,
    pub buckets: Vec<Bucket>,
}

/// Splits a vector into classic histogram groups (by labels without `le`)
/// and native histogram samples, like Prometheus' `resetHistograms`.
pub(crate) fn split_histograms(
    ev: &mut Evaluator<'_>,
    v: &[Sample],
    span: Span,
) -> (Vec<ClassicGroup>, Vec<(Labels, Arc<FloatHistogram>)>) {
    let mut groups: Vec<ClassicGroup> = Vec::new();
    let mut idx: FxHashMap<Labels, usize> = FxHashMap::default();
    let mut natives = Vec::new();
    for s in v {
        if let Some(h) = &s.h {
            natives.push((s.labels.clone(), h.clone()));
            continue;
        }
        let le = s.labels.get("le");
        let Some(upper) = parse_go_float(le) else {
            ev.annos
                .add(anno::bad_bucket_label(s.labels.metric_name(), le, span));
            continue;
        };
        let mut b = s.labels.builder();
        b.del("le");
        let key = b.build();
        let i = match idx.get(&key) {
            Some(&i) => i,
            None => {
                let metric = key.without_metric_name();
                idx.insert(key, groups.len());
                groups.push(ClassicGroup {
                    metric,
                    buckets: Vec::new(),
                });
                groups.len() - 1
            }
        };
        groups[i].buckets.push(Bucket { upper, count: s.f });
    }
    let mut keep_natives = Vec::new();
    for (l, h) in natives {
        if let Some(&i) = idx.get(&l) {
            if !groups[i].buckets.is_empty() {
                ev.annos
                    .add(anno::mixed_classic_native(l.metric_name(), span));
                groups[i].buckets.clear();
                continue;
            }
        }
        keep_natives.push((l, h));
    }
    (groups, keep_natives)
}

/// Parses a float the way Go's `strconv.ParseFloat` accepts it.
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let t = s.to_ascii_lowercase();
    match t.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            return Some(if t.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if t.contains("inf") || t.contains("nan") {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Formats a float like `labels.FormatOpenMetricsFloat`.
pub(crate) fn format_openmetrics_float(f: f64) -> String {
    if f.is_finite() && f == f.trunc() && f.abs() < 1e15 {
        return format!("{f:.1}");
    }
    format_float(f, 'g', None)
}

/// The quantile of a native histogram (custom or exponential buckets),
/// using linear interpolation within buckets.
pub(crate) fn native_quantile(q: f64, h: &FloatHistogram) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if h.count == 0.0 || q.is_nan() {
        return f64::NAN;
    }
    let buckets = native_buckets(h);
    let rank = q * h.count;
    let mut count = 0.0;
    let mut chosen: Option<(f64, f64, f64)> = None;
    for &(lo, hi, c) in &buckets {
        count += c;
        chosen = Some((lo, hi, c));
        if count >= rank {
            break;
        }
    }
    let Some((mut lo, hi, c)) = chosen else {
        return f64::NAN;
    };
    if lo.is_infinite() && hi > 0.0 {
        lo = 0.0;
    }
    if count < rank {
        return hi;
    }
    let r = rank - (count - c);
    if hi.is_infinite() {
        return lo;
    }
    lo + (hi - lo) * (r / c)
}

/// (lower, upper, count) of every bucket, in ascending order.
pub(crate) fn native_buckets(h: &FloatHistogram) -> Vec<(f64, f64, f64)> {
    let mut out = Vec::new();
    let custom = h.schema == -53;
    let bound = |idx: i32| -> (f64, f64) {
        if custom {
            let cv = &h.custom_values;
            let i = idx as usize;
            let lo = if i == 0 {
                f64::NEG_INFINITY
            } else {
                cv.get(i - 1).copied().unwrap_or(f64::INFINITY)
            };
            let hi = cv.get(i).copied().unwrap_or(f64::INFINITY);
            (lo, hi)
        } else {
            let base = 2f64.powf(2f64.powi(-h.schema));
            (base.powi(idx - 1), base.powi(idx))
        }
    };
    let mut neg = Vec::new();
    if !custom {
        let mut idx = 0i32;
        let mut bi = 0usize;
        for &(off, len) in &h.negative_spans {
            idx += off;
            for _ in 0..len {
                let (lo, hi) = bound(idx);
                if let Some(&c) = h.negative_buckets.get(bi) {
                    neg.push((-hi, -lo, c));
                }
                bi += 1;
                idx += 1;
            }
        }
        neg.reverse();
        out.extend(neg);
        if h.zero_count > 0.0 {
            out.push((-h.zero_threshold, h.zero_threshold, h.zero_count));
        }
    }
    let mut idx = 0i32;
    let mut bi = 0usize;
    for &(off, len) in &h.positive_spans {
        idx += off;
        for _ in 0..len {
            let (lo, hi) = bound(idx);
            if let Some(&c) = h.positive_buckets.get(bi) {
                out.push((lo, hi, c));
            }
            bi += 1;
            idx += 1;
        }
    }
    out
}

impl Evaluator<'_> {
    /// `histogram_quantile(q, v)` for one step.
    pub(crate) fn histogram_quantile(
        &mut self,
        qs: &[f64],
        label: Option<&str>,
        v: &[Sample],
        vspan: Span,
    ) -> Vec<Sample> {
        let (mut groups, natives) = split_histograms(self, v, vspan);
        let mut out = Vec::new();
        for &q in qs {
            let with_q = |l: &Labels| -> Labels {
                match label {
                    Some(name) => {
                        let mut b = l.builder();
                        b.set(name, &format_openmetrics_float(q));
                        b.build()
                    }
                    None => l.clone(),
                }
            };
            for (l, h) in &natives {
                out.push(Sample::float(with_q(l), native_quantile(q, h), true));
            }
            for g in &mut groups {
                if g.buckets.is_empty() {
                    continue;
                }
                let mut b = g.buckets.clone();
                let (val, forced) = bucket_quantile(q, &mut b);
                if forced {
                    self.annos.add(anno::forced_monotonicity("", 0, "", vspan));
                }
                out.push(Sample::float(with_q(&g.metric), val, true));
            }
        }
        out
    }

    /// `histogram_fraction(lower, upper, v)` for one step.
    pub(crate) fn histogram_fraction(
        &mut self,
        lower: f64,
        upper: f64,
        v: &[Sample],
        vspan: Span,
    ) -> Vec<Sample> {
        let (mut groups, natives) = split_histograms(self, v, vspan);
        let mut out = Vec::new();
        for (l, h) in &natives {
            out.push(Sample::float(
                l.clone(),
                native_fraction(lower, upper, h),
                true,
            ));
        }
        for g in &mut groups {
            if g.buckets.is_empty() {
                continue;
            }
            let f = bucket_fraction(lower, upper, &mut g.buckets);
            out.push(Sample::float(g.metric.clone(), f, true));
        }
        out
    }
}

/// The fraction of observations of a native histogram between two values.
pub(crate) fn native_fraction(lower: f64, upper: f64, h: &FloatHistogram) -> f64 {
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lr, mut ur) = (0.0, 0.0, 0.0);
    let (mut ls, mut us) = (false, false);
    for (mut lo, hi, c) in native_buckets(h) {
        if lo.is_infinite() && hi > 0.0 {
            lo = 0.0;
        }
        if !ls && lo >= lower {
            lr = rank;
            ls = true;
        }
        if !us && lo >= upper {
            ur = rank;
            us = true;
        }
        if ls && us {
            break;
        }
        if !ls && lo < lower && hi > lower {
            lr = native_interp(lower, lo, hi, rank, c);
            ls = true;
        }
        if !us && lo < upper && hi > upper {
            ur = native_interp(upper, lo, hi, rank, c);
            us = true;
        }
        if ls && us {
            break;
        }
        rank += c;
    }
    if !ls || lr > h.count {
        lr = h.count;
    }
    if !us || ur > h.count {
        ur = h.count;
    }
    (ur - lr) / h.count
}

/// The rank of `v` inside bucket `(lo, hi]` starting at `rank` with `c`
/// observations; infinite-width buckets are not interpolated.
fn native_interp(v: f64, lo: f64, hi: f64, rank: f64, c: f64) -> f64 {
    if hi.is_infinite() {
        rank
    } else if lo.is_infinite() {
        rank + c
    } else {
        rank + c * (v - lo) / (hi - lo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(b: &[(f64, f64)]) -> Vec<Bucket> {
        b.iter()
            .map(|&(upper, count)| Bucket { upper, count })
            .collect()
    }

    fn check_q(q: f64, b: &[(f64, f64)], expect: f64, forced: bool) {
        let (v, f) = bucket_quantile(q, &mut buckets(b));
        assert!(
            v == expect || (v.is_nan() && expect.is_nan()),
            "q={q}: got {v}, want {expect}"
        );
        assert_eq!(f, forced, "q={q}");
    }

    #[test]
    fn classic_quantiles() {
        let b = [(1.0, 10.0), (2.0, 30.0), (f64::INFINITY, 40.0)];
        check_q(0.5, &b, 1.5, false);
        check_q(0.25, &b, 1.0, false);
        check_q(0.99, &b, 2.0, false);
        check_q(-1.0, &b, f64::NEG_INFINITY, false);
        check_q(f64::NAN, &b, f64::NAN, false);
        check_q(
            0.5,
            &[(1.0, 10.0), (2.0, 5.0), (f64::INFINITY, 20.0)],
            1.0,
            true,
        );
        check_q(0.5, &[(1.0, 10.0), (2.0, 20.0)], f64::NAN, false);
    }

    #[test]
    fn classic_fractions() {
        type Case<'a> = (f64, f64, &'a [(f64, f64)], f64);
        let cases: &[Case<'_>] = &[
            (
                0.0,
                1.5,
                &[(1.0, 1.0), (2.0, 3.0), (3.0, 6.0), (f64::INFINITY, 100.0)],
                0.02,
            ),
            (
                -4.0,
                -2.0,
                &[
                    (-3.0, 10.0),
                    (-2.0, 12.0),
                    (-1.0, 15.0),
                    (f64::INFINITY, 100.0),
                ],
                0.02,
            ),
            (
                400.0,
                f64::INFINITY,
                &[(1.0, 1.0), (3.0, 6.0), (f64::INFINITY, 100.0)],
                0.94,
            ),
            (
                4.0,
                5.0,
                &[(1.0, 1.0), (3.0, 6.0), (f64::INFINITY, 100.0)],
                0.0,
            ),
        ];
        for &(lo, hi, b, expect) in cases {
            let got = bucket_fraction(lo, hi, &mut buckets(b));
            assert!(
                (got - expect).abs() < 1e-12,
                "({lo}, {hi}): got {got}, want {expect}"
            );
        }
    }

    #[test]
    fn go_floats() {
        for (s, v) in [
            ("+Inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("0.5", 0.5),
            ("1e3", 1000.0),
        ] {
            assert_eq!(parse_go_float(s), Some(v), "{s}");
        }
        assert_eq!(parse_go_float(""), None);
        assert_eq!(parse_go_float("Hello World"), None);
        assert_eq!(format_openmetrics_float(1.0), "1.0");
        assert_eq!(format_openmetrics_float(0.25), "0.25");
    }
}
