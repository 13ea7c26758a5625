//! The evaluator walk: stepping, selectors with lookback and staleness,
//! offsets, `@`, subqueries, and the step loop (`range_eval`) that the
//! operators and functions run in.
//!
//! Limits: every evaluation (the query and each subquery) may have at most
//! [`EngineOptions::max_steps`] steps, and the samples a query loads
//! (selected from storage, produced by subqueries) are counted against
//! [`EngineOptions::max_samples`]. Time arithmetic saturates, so extreme
//! `@` and `offset` values give empty results, never an overflow.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use super::annotations::Annotations;
use super::types::{FPoint, FxHashMap, HPoint, Matrix, Sample, Series, Val, Vector};
use super::{EngineOptions, EvalError};
use crate::ast::{AtModifier, Expr, ValueType, VectorSelector};
use crate::labels::{Labels, METRIC_NAME};
use crate::storage::{
    is_stale_nan, FloatHistogram, HistogramSample, Sample as StoreSample, Storage,
};

pub(crate) type Result<T> = std::result::Result<T, EvalError>;

pub(crate) fn exec_err(msg: impl Into<String>) -> EvalError {
    EvalError::Execution(msg.into())
}

/// Prometheus's `query.max-samples` error.
pub(crate) const TOO_MANY_SAMPLES: &str =
    "query processing would load too many samples into memory in query execution";

/// The number of steps from `start` to `end` inclusive (0 when empty),
/// computed without overflow.
pub(crate) fn step_count(start: i64, end: i64, interval: i64) -> u128 {
    if end < start {
        return 0;
    }
    let span = (i128::from(end) - i128::from(start)) as u128;
    span / u128::try_from(interval.max(1)).unwrap_or(1) + 1
}

/// Fails when an evaluation would have more than `max` steps.
pub(crate) fn check_steps(start: i64, end: i64, interval: i64, max: usize) -> Result<()> {
    let n = step_count(start, end, interval);
    if n > max as u128 {
        return Err(exec_err(format!(
            "evaluation would need {n} steps, more than the limit of {max}: use a larger step or a shorter range"
        )));
    }
    Ok(())
}

/// Evaluates expressions over the steps `start..=end` (every `interval` ms).
pub(crate) struct Evaluator<'a> {
    pub storage: &'a dyn Storage,
    pub opts: &'a EngineOptions,
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    /// Start and end of the whole query, for `@ start()` / `@ end()`.
    pub query_start: i64,
    pub query_end: i64,
    /// The step of the whole query in ms (0 for instant queries).
    pub query_step: i64,
    pub annos: Annotations,
    /// Samples loaded so far by the whole query (shared with children).
    pub samples: Rc<Cell<usize>>,
    /// Types of the binary expressions seen, by address: operator chains
    /// ask for the type of their left operand at every level.
    types: FxHashMap<usize, ValueType>,
}

/// The static type of an expression: the parser's, driven by the function
/// table.
pub(crate) fn expr_type(e: &Expr) -> ValueType {
    crate::parser::check::expr_type(e)
}

/// Strips any parentheses around an expression.
pub(crate) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren { expr, .. } = e {
        e = expr;
    }
    e
}

/// Finds the latest sample at or before `r` and within the lookback window.
fn lookup(
    floats: &[StoreSample],
    hists: &[HistogramSample],
    r: i64,
    lookback: i64,
) -> Option<(i64, f64, Option<Arc<FloatHistogram>>)> {
    let fi = floats.partition_point(|p| p.t <= r);
    let hi = hists.partition_point(|p| p.t <= r);
    let fc = if fi > 0 { Some(&floats[fi - 1]) } else { None };
    let hc = if hi > 0 { Some(&hists[hi - 1]) } else { None };
    let (t, f, h) = match (fc, hc) {
        (Some(f), Some(h)) if h.t > f.t => (h.t, 0.0, Some(h.h.clone())),
        (Some(f), _) => (f.t, f.v, None),
        (None, Some(h)) => (h.t, 0.0, Some(h.h.clone())),
        (None, None) => return None,
    };
    if t <= r.saturating_sub(lookback) {
        return None;
    }
    match &h {
        Some(h) if is_stale_nan(h.sum) => None,
        None if is_stale_nan(f) => None,
        _ => Some((t, f, h)),
    }
}

/// The input of a range-vector function: the raw points of each series
/// and how to find the window for a step.
pub(crate) struct RangeInput {
    pub series: Vec<Series>,
    pub range: i64,
    pub offset: i64,
    pub at: Option<i64>,
}

impl RangeInput {
    /// The window `(start, end]` for evaluation step `ts`.
    pub fn window(&self, ts: i64) -> (i64, i64) {
        let r = self.at.unwrap_or(ts).saturating_sub(self.offset);
        (r.saturating_sub(self.range), r)
    }
}

impl<'a> Evaluator<'a> {
    pub fn new(
        storage: &'a dyn Storage,
        opts: &'a EngineOptions,
        start: i64,
        end: i64,
        interval: i64,
    ) -> Self {
        Evaluator {
            storage,
            opts,
            start,
            end,
            interval: interval.max(1),
            query_start: start,
            query_end: end,
            query_step: if start == end { 0 } else { interval },
            annos: Annotations::default(),
            samples: Rc::new(Cell::new(0)),
            types: FxHashMap::default(),
        }
    }

    /// [`expr_type`], remembering the types of binary expressions so a
    /// chain of n operators costs O(n) instead of O(n²).
    pub fn type_of(&mut self, e: &Expr) -> ValueType {
        match e {
            Expr::Binary { lhs, rhs, .. } => {
                let key = e as *const Expr as usize;
                if let Some(t) = self.types.get(&key) {
                    return *t;
                }
                let l = crate::parser::with_stack(|| self.type_of(lhs));
                let r = self.type_of(rhs);
                let t = if l == ValueType::Scalar && r == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                };
                self.types.insert(key, t);
                t
            }
            Expr::Paren { expr, .. } | Expr::Unary { expr, .. } => self.type_of(expr),
            _ => expr_type(e),
        }
    }

    /// Counts `n` more samples loaded against `max_samples`.
    pub fn add_samples(&self, n: usize) -> Result<()> {
        let total = self.samples.get().saturating_add(n);
        self.samples.set(total);
        if total > self.opts.max_samples {
            return Err(exec_err(TOO_MANY_SAMPLES));
        }
        Ok(())
    }

    pub fn num_steps(&self) -> usize {
        usize::try_from(step_count(self.start, self.end, self.interval)).unwrap_or(usize::MAX)
    }

    pub fn steps(&self) -> impl Iterator<Item = i64> {
        let (s, i) = (self.start, self.interval);
        let n = i64::try_from(self.num_steps()).unwrap_or(i64::MAX);
        (0..n).map(move |k| s.saturating_add(k.saturating_mul(i)))
    }

    pub fn at_time(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Timestamp(t)) => Some(*t),
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
        }
    }

    fn child(&self, start: i64, end: i64, interval: i64) -> Evaluator<'a> {
        Evaluator {
            storage: self.storage,
            opts: self.opts,
            start,
            end,
            interval: interval.max(1),
            query_start: self.query_start,
            query_end: self.query_end,
            query_step: self.query_step,
            annos: Annotations::default(),
            samples: self.samples.clone(),
            types: FxHashMap::default(),
        }
    }

    /// Evaluates an expression that must not be a string.
    pub fn eval_matrix(&mut self, e: &Expr) -> Result<Matrix> {
        match self.eval(e)? {
            Val::Matrix(m) => Ok(m),
            Val::String(_) => Err(exec_err("unexpected string expression")),
        }
    }

    /// Evaluates `e`, on a stack grown as needed (operator chains make
    /// deep trees).
    pub fn eval(&mut self, e: &Expr) -> Result<Val> {
        crate::parser::with_stack(|| self.eval_node(e))
    }

    fn eval_node(&mut self, e: &Expr) -> Result<Val> {
        if self.end < self.start {
            return Ok(Val::Matrix(Vec::new()));
        }
        match e {
            Expr::Number { val, .. } => {
                let mut s = Series::new(Labels::empty(), false);
                s.floats = self.steps().map(|t| FPoint { t, f: *val }).collect();
                Ok(Val::Matrix(vec![s]))
            }
            Expr::String { val, .. } => Ok(Val::String(val.clone())),
            Expr::Paren { expr, .. } => self.eval(expr),
            Expr::Unary { neg, expr, .. } => {
                let mut m = self.eval_matrix(expr)?;
                if *neg {
                    for s in &mut m {
                        s.drop_name = true;
                        for p in &mut s.floats {
                            p.f = -p.f;
                        }
                        for p in &mut s.hists {
                            p.h = Arc::new(super::functions::histogram::scale(&p.h, -1.0));
                        }
                    }
                }
                Ok(Val::Matrix(m))
            }
            Expr::VectorSelector(vs) => Ok(Val::Matrix(self.eval_vector_selector(vs)?)),
            Expr::MatrixSelector { vs, range, .. } => {
                let input = self.matrix_selector_input(vs, *range)?;
                Ok(Val::Matrix(self.range_input_as_matrix(input)))
            }
            Expr::Subquery { .. } => {
                let input = self.subquery_input(e)?;
                Ok(Val::Matrix(self.range_input_as_matrix(input)))
            }
            Expr::Call { func, args, span } => Ok(Val::Matrix(self.eval_call(func, args, *span)?)),
            Expr::Aggregate {
                op,
                expr,
                param,
                grouping,
                span,
            } => Ok(Val::Matrix(self.eval_aggregate(
                *op,
                expr,
                param.as_deref(),
                grouping,
                *span,
            )?)),
            Expr::Binary {
                op,
                lhs,
                rhs,
                matching,
                return_bool,
                span,
            } => Ok(Val::Matrix(self.eval_binary(
                *op,
                lhs,
                rhs,
                matching.as_ref(),
                *return_bool,
                *span,
            )?)),
        }
    }

    /// An instant vector selector: one point per step found by lookback.
    pub fn eval_vector_selector(&mut self, vs: &VectorSelector) -> Result<Matrix> {
        self.vector_selector_impl(vs, false)
    }

    /// With `orig_ts`, the value of each point is the timestamp (in
    /// seconds) of the sample found, as `timestamp()` needs.
    pub fn vector_selector_impl(&mut self, vs: &VectorSelector, orig_ts: bool) -> Result<Matrix> {
        let at = self.at_time(&vs.at);
        let lookback = self.opts.lookback_delta;
        let (rmin, rmax) = match at {
            Some(a) => (a.saturating_sub(vs.offset), a.saturating_sub(vs.offset)),
            None => (
                self.start.saturating_sub(vs.offset),
                self.end.saturating_sub(vs.offset),
            ),
        };
        let selected = self.storage.select(
            &vs.matchers,
            rmin.saturating_sub(lookback).saturating_add(1),
            rmax,
        );
        self.add_samples(loaded(&selected))?;
        let n = self.num_steps();
        let mut out = Vec::with_capacity(selected.len());
        for s in selected {
            let mut ss = Series::new(s.labels, orig_ts);
            if let Some(a) = at {
                // Step invariant: look up once.
                if let Some((t, f, h)) = lookup(
                    &s.samples,
                    &s.histograms,
                    a.saturating_sub(vs.offset),
                    lookback,
                ) {
                    if orig_ts {
                        ss.floats = self
                            .steps()
                            .map(|ts| FPoint {
                                t: ts,
                                f: t as f64 / 1000.0,
                            })
                            .collect();
                    } else if let Some(h) = h {
                        ss.hists = self
                            .steps()
                            .map(|ts| HPoint {
                                t: ts,
                                h: h.clone(),
                            })
                            .collect();
                    } else {
                        ss.floats = self.steps().map(|ts| FPoint { t: ts, f }).collect();
                    }
                }
            } else {
                for ts in self.steps() {
                    if let Some((t, f, h)) = lookup(
                        &s.samples,
                        &s.histograms,
                        ts.saturating_sub(vs.offset),
                        lookback,
                    ) {
                        if orig_ts {
                            if ss.floats.capacity() == 0 {
                                ss.floats.reserve_exact(n);
                            }
                            ss.floats.push(FPoint {
                                t: ts,
                                f: t as f64 / 1000.0,
                            });
                        } else if let Some(h) = h {
                            ss.hists.push(HPoint { t: ts, h });
                        } else {
                            if ss.floats.capacity() == 0 {
                                ss.floats.reserve_exact(n);
                            }
                            ss.floats.push(FPoint { t: ts, f });
                        }
                    }
                }
            }
            if !ss.is_empty() {
                out.push(ss);
            }
        }
        Ok(out)
    }

    /// Selects the raw points a matrix selector needs for all steps.
    pub fn matrix_selector_input(&mut self, vs: &VectorSelector, range: i64) -> Result<RangeInput> {
        let at = self.at_time(&vs.at);
        let (rmin, rmax) = match at {
            Some(a) => (a.saturating_sub(vs.offset), a.saturating_sub(vs.offset)),
            None => (
                self.start.saturating_sub(vs.offset),
                self.end.saturating_sub(vs.offset),
            ),
        };
        let lo = rmin.saturating_sub(range);
        let selected = self
            .storage
            .select(&vs.matchers, lo.saturating_add(1), rmax);
        self.add_samples(loaded(&selected))?;
        let mut series = Vec::with_capacity(selected.len());
        for s in selected {
            let mut ss = Series::new(s.labels, false);
            ss.floats = s
                .samples
                .iter()
                .filter(|p| !is_stale_nan(p.v) && p.t > lo && p.t <= rmax)
                .map(|p| FPoint { t: p.t, f: p.v })
                .collect();
            ss.hists = s
                .histograms
                .iter()
                .filter(|p| !is_stale_nan(p.h.sum) && p.t > lo && p.t <= rmax)
                .map(|p| HPoint {
                    t: p.t,
                    h: p.h.clone(),
                })
                .collect();
            if !ss.is_empty() {
                series.push(ss);
            }
        }
        Ok(RangeInput {
            series,
            range,
            offset: vs.offset,
            at,
        })
    }

    /// Evaluates a subquery into the points its enclosing function needs.
    pub fn subquery_input(&mut self, e: &Expr) -> Result<RangeInput> {
        let Expr::Subquery {
            expr,
            range,
            step,
            offset,
            at,
            ..
        } = e
        else {
            return Err(exec_err("expected a subquery"));
        };
        let at = self.at_time(at);
        let step = step.unwrap_or(self.opts.default_subquery_step).max(1);
        let (ref_start, ref_end) = match at {
            Some(a) => (a.saturating_sub(*offset), a.saturating_sub(*offset)),
            None => (
                self.start.saturating_sub(*offset),
                self.end.saturating_sub(*offset),
            ),
        };
        let lo = ref_start.saturating_sub(*range);
        let mut new_start = step.saturating_mul(lo / step);
        if new_start <= lo {
            new_start = new_start.saturating_add(step);
        }
        check_steps(new_start, ref_end, step, self.opts.max_steps)?;
        let mut child = self.child(new_start, ref_end, step);
        let mut m = child.eval_matrix(expr)?;
        self.annos.merge(child.annos);
        self.add_samples(m.iter().map(|s| s.floats.len() + s.hists.len()).sum())?;
        for s in &mut m {
            if s.drop_name {
                s.labels = s.labels.without_metric_name();
                s.drop_name = false;
            }
        }
        Ok(RangeInput {
            series: m,
            range: *range,
            offset: *offset,
            at,
        })
    }

    /// The result of a bare range selector or subquery (instant queries).
    fn range_input_as_matrix(&self, input: RangeInput) -> Matrix {
        let (lo, hi) = input.window(self.start);
        input
            .series
            .into_iter()
            .filter_map(|mut s| {
                s.floats.retain(|p| p.t > lo && p.t <= hi);
                s.hists.retain(|p| p.t > lo && p.t <= hi);
                (!s.is_empty()).then_some(s)
            })
            .collect()
    }

    /// Runs `f` once per step on the vectors gathered from `inputs` at that
    /// step, and assembles the results into series. `f` also gets, for
    /// each input, the index of the series each sample came from.
    pub fn range_eval<F>(&mut self, inputs: &[Matrix], mut f: F) -> Result<Matrix>
    where
        F: FnMut(&mut Self, &[Vector], &[Vec<usize>], i64) -> Result<Vector>,
    {
        let n_in = inputs.len();
        let mut cursors: Vec<Vec<(usize, usize)>> =
            inputs.iter().map(|m| vec![(0, 0); m.len()]).collect();
        let mut vecs: Vec<Vector> = inputs.iter().map(|m| Vec::with_capacity(m.len())).collect();
        let mut idxs: Vec<Vec<usize>> =
            inputs.iter().map(|m| Vec::with_capacity(m.len())).collect();
        let instant = self.start == self.end;
        let num_steps = self.num_steps();
        let mut out: Matrix = Vec::new();
        let mut out_idx: FxHashMap<Labels, (usize, i64)> = FxHashMap::default();
        for ts in self.steps().collect::<Vec<_>>() {
            for i in 0..n_in {
                gather(ts, &inputs[i], &mut cursors[i], &mut vecs[i], &mut idxs[i]);
            }
            let res = f(self, &vecs, &idxs, ts)?;
            if instant {
                return Ok(res
                    .into_iter()
                    .map(|s| {
                        let mut ss = Series::new(s.labels, s.drop_name);
                        ss.push(ts, s.f, s.h);
                        ss
                    })
                    .collect());
            }
            for s in res {
                match out_idx.get_mut(&s.labels) {
                    Some((i, last)) => {
                        if *last == ts {
                            return Err(exec_err(
                                "vector cannot contain metrics with the same labelset",
                            ));
                        }
                        *last = ts;
                        out[*i].push(ts, s.f, s.h);
                    }
                    None => {
                        out_idx.insert(s.labels.clone(), (out.len(), ts));
                        let mut ss = Series::new(s.labels, s.drop_name);
                        if s.h.is_none() {
                            ss.floats.reserve_exact(num_steps);
                        }
                        ss.push(ts, s.f, s.h);
                        out.push(ss);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The samples a selection holds.
fn loaded(selected: &[crate::storage::Series]) -> usize {
    selected
        .iter()
        .map(|s| s.samples.len() + s.histograms.len())
        .sum()
}

/// Collects the points at `ts` of every series in `input`.
pub(crate) fn gather(
    ts: i64,
    input: &Matrix,
    cursors: &mut [(usize, usize)],
    out: &mut Vector,
    idx: &mut Vec<usize>,
) {
    out.clear();
    idx.clear();
    for (i, s) in input.iter().enumerate() {
        let (fi, hi) = &mut cursors[i];
        while *fi < s.floats.len() && s.floats[*fi].t < ts {
            *fi += 1;
        }
        while *hi < s.hists.len() && s.hists[*hi].t < ts {
            *hi += 1;
        }
        if *fi < s.floats.len() && s.floats[*fi].t == ts {
            out.push(Sample {
                labels: s.labels.clone(),
                t: ts,
                f: s.floats[*fi].f,
                h: None,
                drop_name: s.drop_name,
            });
            *fi += 1;
        } else if *hi < s.hists.len() && s.hists[*hi].t == ts {
            out.push(Sample {
                labels: s.labels.clone(),
                t: ts,
                f: 0.0,
                h: Some(s.hists[*hi].h.clone()),
                drop_name: s.drop_name,
            });
            *hi += 1;
        } else {
            continue;
        }
        idx.push(i);
    }
}

/// Drops the metric name from series flagged for it and merges series that
/// end up with the same labels (erroring when they overlap in time).
pub(crate) fn cleanup_names(m: Matrix) -> Result<Matrix> {
    let mut m = m;
    let mut any = false;
    for s in &mut m {
        if s.drop_name {
            if s.labels.has(METRIC_NAME) {
                s.labels = s.labels.without_metric_name();
            }
            s.drop_name = false;
            any = true;
        }
    }
    if !any && m.len() < 2 {
        return Ok(m);
    }
    merge_same_labelsets(m)
}

/// Merges series with equal label sets; overlapping timestamps are an error.
pub(crate) fn merge_same_labelsets(m: Matrix) -> Result<Matrix> {
    if m.len() < 2 {
        return Ok(m);
    }
    let mut idx: FxHashMap<Labels, usize> = FxHashMap::default();
    idx.reserve(m.len());
    let mut dup = false;
    for (i, s) in m.iter().enumerate() {
        if idx.insert(s.labels.clone(), i).is_some() {
            dup = true;
            break;
        }
    }
    if !dup {
        return Ok(m);
    }
    idx.clear();
    let mut out: Matrix = Vec::with_capacity(m.len());
    let mut merged = Vec::new();
    for s in m {
        match idx.get(&s.labels) {
            Some(&i) => {
                let base: &mut Series = &mut out[i];
                base.floats.extend(s.floats);
                base.hists.extend(s.hists);
                merged.push(i);
            }
            None => {
                idx.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    merged.sort_unstable();
    merged.dedup();
    for i in merged {
        let s = &mut out[i];
        s.floats.sort_by_key(|p| p.t);
        s.hists.sort_by_key(|p| p.t);
        if s.floats.windows(2).any(|w| w[0].t == w[1].t)
            || s.hists.windows(2).any(|w| w[0].t == w[1].t)
        {
            return Err(exec_err(
                "vector cannot contain metrics with the same labelset",
            ));
        }
    }
    Ok(out)
}
