//! Aggregation operators (`sum`, `avg`, `count`, `min`, `max`, `stddev`,
//! `stdvar`, `quantile`, `group`, `topk`, `bottomk`, `limitk`,
//! `limit_ratio`, `count_values`) with `by` and `without`.

use std::hash::{Hash, Hasher};

use super::annotations as anno;
use super::engine::{exec_err, expr_type, unwrap_parens, Evaluator, Result};
use super::functions::quantile;
use super::types::{FxHashMap, FxHasher, Grouper, Matrix, Sample, Series};
use crate::ast::{AggOp, Expr, Grouping, Span, ValueType};
use crate::gofmt::format_float;
use crate::labels::{Labels, METRIC_NAME};

/// Kahan-Babuska summation step, as Prometheus' `kahansum.Inc`.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// The output labels of a group: `by` keeps the listed labels, `without`
/// drops them and the metric name.
pub(crate) fn grouping_labels(l: &Labels, names: &[String], without: bool) -> Labels {
    let mut b = l.builder();
    if without {
        b.retain(|x| x.name != METRIC_NAME && !names.iter().any(|n| n == &x.name));
    } else {
        b.retain(|x| names.iter().any(|n| n == &x.name));
    }
    b.build()
}

#[derive(Default, Clone)]
struct Group {
    seen: bool,
    f: f64,
    mean: f64,
    kahan_c: f64,
    count: f64,
    values: Vec<f64>,
    has_float: bool,
    has_hist: bool,
    incremental_mean: bool,
    drop_name: bool,
}

/// Parameter values per step plus summary statistics.
struct Params {
    vals: Vec<f64>,
    min: f64,
    max: f64,
    any_nan: bool,
}

impl Evaluator<'_> {
    pub(crate) fn eval_aggregate(
        &mut self,
        op: AggOp,
        expr: &Expr,
        param: Option<&Expr>,
        grouping: &Grouping,
        span: Span,
    ) -> Result<Matrix> {
        let _ = span;
        let mut names = grouping.labels.clone();
        names.sort();
        let without = grouping.without;
        if op == AggOp::CountValues {
            let label = match param.map(unwrap_parens) {
                Some(Expr::String { val, .. }) => val.clone(),
                _ => return Err(exec_err("count_values requires a string parameter")),
            };
            if !super::functions::label::valid_label_name(&label) {
                return Err(exec_err(format!("invalid label name {label:?}")));
            }
            if !without {
                names.push(label.clone());
                names.sort();
            }
            let m = self.eval_matrix(expr)?;
            return self.range_eval(&[m], |_, v, _, _| {
                Ok(count_values(&v[0], &names, without, &label))
            });
        }
        let params = match param {
            Some(p) if expr_type(p) != ValueType::String => Some(self.eval_params(p)?),
            _ => None,
        };
        let input = self.eval_matrix(expr)?;
        let param_span = param.map(|p| p.span()).unwrap_or_default();
        self.range_eval_agg(op, input, &names, without, params, param_span, expr.span())
    }

    fn eval_params(&mut self, p: &Expr) -> Result<Params> {
        let m = self.eval_matrix(p)?;
        let n = self.num_steps();
        let mut vals = vec![f64::NAN; n];
        if let Some(s) = m.first() {
            for pt in &s.floats {
                let i = ((pt.t - self.start) / self.interval) as usize;
                if i < n {
                    vals[i] = pt.f;
                }
            }
        }
        let any_nan = vals.iter().any(|v| v.is_nan());
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in &vals {
            if v.is_nan() {
                continue;
            }
            min = min.min(v);
            max = max.max(v);
        }
        if any_nan {
            max = f64::NAN;
            min = f64::NAN;
        }
        Ok(Params {
            vals,
            min,
            max,
            any_nan,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn range_eval_agg(
        &mut self,
        op: AggOp,
        input: Matrix,
        names: &[String],
        without: bool,
        params: Option<Params>,
        param_span: Span,
        expr_span: Span,
    ) -> Result<Matrix> {
        let is_k = matches!(
            op,
            AggOp::Topk | AggOp::Bottomk | AggOp::Limitk | AggOp::LimitRatio
        );
        let mut grouper = Grouper::default();
        let mut series_group = Vec::with_capacity(input.len());
        let keep = |n: &str| {
            if without {
                n != METRIC_NAME && !names.iter().any(|x| x == n)
            } else {
                names.iter().any(|x| x == n)
            }
        };
        for s in &input {
            series_group.push(grouper.group(&s.labels, keep).0);
        }
        let ngroups = grouper.keys.len();
        let mut result: Matrix = if is_k {
            Vec::new()
        } else {
            grouper
                .keys
                .into_iter()
                .map(|k| Series::new(k, false))
                .collect()
        };
        let pv = |i: usize| {
            params
                .as_ref()
                .map_or(f64::NAN, |p| p.vals.get(i).copied().unwrap_or(f64::NAN))
        };
        if let Some(p) = &params {
            match op {
                AggOp::Topk | AggOp::Bottomk | AggOp::Limitk => {
                    if p.max < 1.0 {
                        return Ok(Vec::new());
                    }
                    if p.any_nan {
                        return Err(exec_err("Parameter value is NaN"));
                    }
                    if p.min <= -9.223_372_036_854_776e18 {
                        return Err(exec_err(format!(
                            "Scalar value {} underflows int64",
                            format_float(p.min, 'g', None)
                        )));
                    }
                    if p.max >= 9.223_372_036_854_775e18 {
                        return Err(exec_err(format!(
                            "Scalar value {} overflows int64",
                            format_float(p.max, 'g', None)
                        )));
                    }
                }
                AggOp::LimitRatio => {
                    if p.max == 0.0 && p.min == 0.0 {
                        return Ok(Vec::new());
                    }
                    if p.any_nan {
                        return Err(exec_err("Ratio value is NaN"));
                    }
                    if p.max > 1.0 {
                        self.annos.add(anno::invalid_ratio(p.max, 1.0, param_span));
                    }
                    if p.min < -1.0 {
                        self.annos.add(anno::invalid_ratio(p.min, -1.0, param_span));
                    }
                }
                AggOp::Quantile => {
                    if p.any_nan {
                        self.annos.add(anno::invalid_quantile(f64::NAN, param_span));
                    } else {
                        if p.max > 1.0 {
                            self.annos.add(anno::invalid_quantile(p.max, param_span));
                        }
                        if p.min < 0.0 {
                            self.annos.add(anno::invalid_quantile(p.min, param_span));
                        }
                    }
                }
                _ => {}
            }
        }
        let mut cursors = vec![(0usize, 0usize); input.len()];
        let mut groups = vec![Group::default(); ngroups];
        let instant = self.start == self.end;
        let mut kout: Matrix = Vec::new();
        let mut kidx: FxHashMap<Labels, usize> = FxHashMap::default();
        let mut kbuf: Vec<Vec<(f64, usize)>> = vec![Vec::new(); if is_k { ngroups } else { 0 }];
        let steps: Vec<i64> = self.steps().collect();
        for (step, &ts) in steps.iter().enumerate() {
            let q = pv(step);
            if is_k {
                for b in &mut kbuf {
                    b.clear();
                }
                let k = match op {
                    AggOp::LimitRatio => 0,
                    _ => {
                        if q.is_nan() {
                            0
                        } else {
                            (q as i64).min(input.len() as i64)
                        }
                    }
                };
                let r = q.clamp(-1.0, 1.0);
                for (si, s) in input.iter().enumerate() {
                    let Some((f, h)) = next_value(s, &mut cursors[si], ts) else {
                        continue;
                    };
                    if op != AggOp::LimitRatio && k < 1 {
                        continue;
                    }
                    let g = series_group[si];
                    match op {
                        AggOp::Topk | AggOp::Bottomk => {
                            if h.is_some() {
                                self.annos.add(anno::histogram_ignored_in_agg(
                                    if op == AggOp::Topk { "topk" } else { "bottomk" },
                                    expr_span,
                                ));
                                continue;
                            }
                            kbuf[g].push((f, si));
                        }
                        AggOp::Limitk => {
                            if (kbuf[g].len() as i64) < k {
                                kbuf[g].push((f, si));
                            }
                        }
                        _ => {
                            if r != 0.0 && ratio_accepts(r, &s.labels) {
                                kbuf[g].push((f, si));
                            }
                        }
                    }
                }
                for b in &mut kbuf {
                    match op {
                        AggOp::Topk => {
                            b.sort_by(|x, y| cmp_desc_nan_last(x.0, y.0));
                            b.truncate(k.max(0) as usize);
                        }
                        AggOp::Bottomk => {
                            b.sort_by(|x, y| cmp_asc_nan_last(x.0, y.0));
                            b.truncate(k.max(0) as usize);
                        }
                        _ => {}
                    }
                    for &(f, si) in b.iter() {
                        let src = &input[si];
                        let h = if src.hists.is_empty() {
                            None
                        } else {
                            let (_, hi) = cursors[si];
                            src.hists
                                .get(hi.wrapping_sub(1))
                                .filter(|p| p.t == ts)
                                .map(|p| p.h.clone())
                        };
                        if instant {
                            let mut ss = Series::new(src.labels.clone(), src.drop_name);
                            ss.push(ts, f, h);
                            kout.push(ss);
                        } else {
                            let i = match kidx.get(&src.labels) {
                                Some(&i) => i,
                                None => {
                                    kidx.insert(src.labels.clone(), kout.len());
                                    kout.push(Series::new(src.labels.clone(), src.drop_name));
                                    kout.len() - 1
                                }
                            };
                            kout[i].push(ts, f, h);
                        }
                    }
                }
                continue;
            }
            for g in &mut groups {
                g.seen = false;
            }
            for (si, s) in input.iter().enumerate() {
                let Some((f, h)) = next_value(s, &mut cursors[si], ts) else {
                    continue;
                };
                let g = &mut groups[series_group[si]];
                if !g.seen {
                    *g = Group {
                        seen: true,
                        f,
                        mean: f,
                        count: 1.0,
                        drop_name: s.drop_name,
                        ..Group::default()
                    };
                    match op {
                        AggOp::Sum | AggOp::Avg => {
                            if h.is_some() {
                                g.has_hist = true;
                            } else {
                                g.has_float = true;
                            }
                        }
                        AggOp::Stddev | AggOp::Stdvar => {
                            if h.is_some() {
                                g.seen = false;
                                self.annos
                                    .add(anno::histogram_ignored_in_agg(op.name(), expr_span));
                            } else if f.is_nan() || f.is_infinite() {
                                g.f = f64::NAN;
                            } else {
                                g.f = 0.0;
                            }
                        }
                        AggOp::Quantile => {
                            if h.is_some() {
                                g.seen = false;
                                self.annos
                                    .add(anno::histogram_ignored_in_agg("quantile", expr_span));
                            }
                            g.values = vec![f];
                        }
                        AggOp::Group => g.f = 1.0,
                        AggOp::Min | AggOp::Max if h.is_some() => {
                            g.seen = false;
                            self.annos
                                .add(anno::histogram_ignored_in_agg(op.name(), expr_span));
                        }
                        _ => {}
                    }
                    continue;
                }
                if s.drop_name {
                    g.drop_name = true;
                }
                match op {
                    AggOp::Sum => {
                        if h.is_some() {
                            g.has_hist = true;
                        } else {
                            g.has_float = true;
                            (g.f, g.kahan_c) = kahan_inc(f, g.f, g.kahan_c);
                        }
                    }
                    AggOp::Avg => {
                        g.count += 1.0;
                        if h.is_some() {
                            g.has_hist = true;
                        } else {
                            g.has_float = true;
                            let mut direct = false;
                            if !g.incremental_mean {
                                let (nv, nc) = kahan_inc(f, g.f, g.kahan_c);
                                if !nv.is_infinite() {
                                    g.f = nv;
                                    g.kahan_c = nc;
                                    direct = true;
                                } else {
                                    g.incremental_mean = true;
                                    g.mean = g.f / (g.count - 1.0);
                                    g.kahan_c /= g.count - 1.0;
                                }
                            }
                            if !direct {
                                let q = (g.count - 1.0) / g.count;
                                (g.mean, g.kahan_c) =
                                    kahan_inc(f / g.count, q * g.mean, q * g.kahan_c);
                            }
                        }
                    }
                    AggOp::Group => {}
                    AggOp::Max => {
                        if h.is_some() {
                            self.annos
                                .add(anno::histogram_ignored_in_agg("max", expr_span));
                            continue;
                        }
                        if g.f < f || g.f.is_nan() {
                            g.f = f;
                        }
                    }
                    AggOp::Min => {
                        if h.is_some() {
                            self.annos
                                .add(anno::histogram_ignored_in_agg("min", expr_span));
                            continue;
                        }
                        if g.f > f || g.f.is_nan() {
                            g.f = f;
                        }
                    }
                    AggOp::Count => g.count += 1.0,
                    AggOp::Stddev | AggOp::Stdvar => {
                        if h.is_none() {
                            g.count += 1.0;
                            let delta = f - g.mean;
                            g.mean += delta / g.count;
                            g.f += delta * (f - g.mean);
                        } else {
                            self.annos
                                .add(anno::histogram_ignored_in_agg(op.name(), expr_span));
                        }
                    }
                    AggOp::Quantile => {
                        if h.is_some() {
                            self.annos
                                .add(anno::histogram_ignored_in_agg("quantile", expr_span));
                            continue;
                        }
                        g.values.push(f);
                    }
                    _ => {}
                }
            }
            for (gi, g) in groups.iter_mut().enumerate() {
                if !g.seen {
                    continue;
                }
                let v = match op {
                    AggOp::Avg | AggOp::Sum => {
                        if g.has_float && g.has_hist {
                            self.annos.add(anno::mixed_floats_histograms_agg(expr_span));
                            continue;
                        }
                        if g.has_hist {
                            continue;
                        }
                        if op == AggOp::Sum {
                            g.f + g.kahan_c
                        } else if g.incremental_mean {
                            g.mean + g.kahan_c
                        } else {
                            g.f / g.count + g.kahan_c / g.count
                        }
                    }
                    AggOp::Count => g.count,
                    AggOp::Stdvar => g.f / g.count,
                    AggOp::Stddev => (g.f / g.count).sqrt(),
                    AggOp::Quantile => quantile(q, &mut g.values),
                    _ => g.f,
                };
                let ss = &mut result[gi];
                ss.push(ts, v, None);
                ss.drop_name = g.drop_name;
            }
        }
        if is_k {
            return Ok(kout);
        }
        result.retain(|s| !s.is_empty());
        Ok(result)
    }
}

/// Takes the point of `s` at `ts`, if any, advancing the cursor.
fn next_value(
    s: &Series,
    cur: &mut (usize, usize),
    ts: i64,
) -> Option<(f64, Option<std::sync::Arc<crate::storage::FloatHistogram>>)> {
    while cur.0 < s.floats.len() && s.floats[cur.0].t < ts {
        cur.0 += 1;
    }
    while cur.1 < s.hists.len() && s.hists[cur.1].t < ts {
        cur.1 += 1;
    }
    if cur.0 < s.floats.len() && s.floats[cur.0].t == ts {
        cur.0 += 1;
        return Some((s.floats[cur.0 - 1].f, None));
    }
    if cur.1 < s.hists.len() && s.hists[cur.1].t == ts {
        cur.1 += 1;
        return Some((0.0, Some(s.hists[cur.1 - 1].h.clone())));
    }
    None
}

fn cmp_desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => b.partial_cmp(&a).unwrap_or(Equal),
    }
}

fn cmp_asc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => a.partial_cmp(&b).unwrap_or(Equal),
    }
}

/// limit_ratio's deterministic sampling by label hash.
fn ratio_accepts(r: f64, l: &Labels) -> bool {
    let mut h = FxHasher::default();
    l.hash(&mut h);
    let off = h.finish() as f64 / u64::MAX as f64;
    (r >= 0.0 && off < r) || (r < 0.0 && off >= 1.0 + r)
}

fn count_values(v: &[Sample], names: &[String], without: bool, label: &str) -> Vec<Sample> {
    let mut idx: FxHashMap<Labels, usize> = FxHashMap::default();
    let mut out: Vec<Sample> = Vec::new();
    for s in v {
        let val = match &s.h {
            None => format_float(s.f, 'f', None),
            Some(h) => format!(
                "{{count:{}, sum:{}}}",
                format_float(h.count, 'f', None),
                format_float(h.sum, 'f', None)
            ),
        };
        let mut b = s.labels.builder();
        b.set(label, &val);
        let key = grouping_labels(&b.build(), names, without);
        match idx.get(&key) {
            Some(&i) => out[i].f += 1.0,
            None => {
                idx.insert(key.clone(), out.len());
                out.push(Sample::float(key, 1.0, false));
            }
        }
    }
    out
}
