//! Binary operators: scalar/scalar, vector/scalar and vector/vector with
//! one-to-one, many-to-one and one-to-many matching, and the set operators.

use std::sync::Arc;

use super::annotations as anno;
use super::engine::{exec_err, Evaluator, Result};
use super::functions::histogram::scale;
use super::types::{labels_string, FxHashMap, FxHashSet, Grouper, Matrix, Sample, Vector};
use crate::ast::{BinOp, Cardinality, Expr, Span, ValueType, VectorMatching};
use crate::labels::{Labels, METRIC_NAME};
use crate::storage::FloatHistogram;

fn btos(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Go's `math.Mod` semantics (result has the sign of the dividend).
fn go_mod(a: f64, b: f64) -> f64 {
    a % b
}

pub(crate) fn scalar_binop(op: BinOp, l: f64, r: f64) -> f64 {
    match op {
        BinOp::Add => l + r,
        BinOp::Sub => l - r,
        BinOp::Mul => l * r,
        BinOp::Div => l / r,
        BinOp::Pow => l.powf(r),
        BinOp::Mod => go_mod(l, r),
        BinOp::Eql => btos(l == r),
        BinOp::Neq => btos(l != r),
        BinOp::Gtr => btos(l > r),
        BinOp::Lss => btos(l < r),
        BinOp::Gte => btos(l >= r),
        BinOp::Lte => btos(l <= r),
        BinOp::Atan2 => l.atan2(r),
        BinOp::And | BinOp::Or | BinOp::Unless => f64::NAN,
    }
}

/// Whether the operator changes the meaning of the metric (arithmetic).
fn changes_schema(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Pow | BinOp::Mod | BinOp::Atan2
    )
}

type ElemResult = (f64, Option<Arc<FloatHistogram>>, bool);

/// One element operation. Returns (value, histogram, keep) or an info
/// annotation when the sample types do not combine.
fn elem_binop(
    op: BinOp,
    l: f64,
    r: f64,
    hl: Option<&Arc<FloatHistogram>>,
    hr: Option<&Arc<FloatHistogram>>,
    span: Span,
) -> std::result::Result<ElemResult, crate::eval::Annotation> {
    let incompatible =
        |lt: &str, rt: &str| anno::incompatible_types_binop(lt, op.symbol(), rt, span);
    match (hl, hr) {
        (None, None) => Ok(match op {
            BinOp::Eql => (l, None, l == r),
            BinOp::Neq => (l, None, l != r),
            BinOp::Gtr => (l, None, l > r),
            BinOp::Lss => (l, None, l < r),
            BinOp::Gte => (l, None, l >= r),
            BinOp::Lte => (l, None, l <= r),
            _ => (scalar_binop(op, l, r), None, true),
        }),
        (None, Some(h)) => match op {
            BinOp::Mul => Ok((0.0, Some(Arc::new(scale(h, l))), true)),
            _ => Err(incompatible("float", "histogram")),
        },
        (Some(h), None) => match op {
            BinOp::Mul => Ok((0.0, Some(Arc::new(scale(h, r))), true)),
            BinOp::Div => Ok((0.0, Some(Arc::new(scale(h, 1.0 / r))), true)),
            _ => Err(incompatible("histogram", "float")),
        },
        (Some(a), Some(b)) => match op {
            BinOp::Eql => Ok((0.0, Some(a.clone()), a == b)),
            BinOp::Neq => Ok((0.0, Some(a.clone()), a != b)),
            BinOp::Add | BinOp::Sub => Ok((0.0, None, false)),
            _ => Err(incompatible("histogram", "histogram")),
        },
    }
}

/// Computes the matching signature of every series of `m`.
fn signatures(m: &Matrix, matching: &VectorMatching, ords: &mut Grouper) -> Vec<usize> {
    let names = &matching.labels;
    m.iter()
        .map(|s| {
            if matching.on {
                ords.group(&s.labels, |n| names.iter().any(|x| x == n)).0
            } else {
                ords.group(&s.labels, |n| {
                    n != METRIC_NAME && !names.iter().any(|x| x == n)
                })
                .0
            }
        })
        .collect()
}

/// `labels.MatchLabels`: with `on`, only the named labels; otherwise all
/// but the named labels and the metric name.
fn match_labels(l: &Labels, on: bool, names: &[String]) -> Labels {
    let mut b = l.builder();
    if on {
        b.retain(|x| names.iter().any(|n| n == &x.name));
    } else {
        b.retain(|x| x.name != METRIC_NAME && !names.iter().any(|n| n == &x.name));
    }
    b.build()
}

impl Evaluator<'_> {
    pub(crate) fn eval_binary(
        &mut self,
        op: BinOp,
        lhs: &Expr,
        rhs: &Expr,
        matching: Option<&VectorMatching>,
        return_bool: bool,
        span: Span,
    ) -> Result<Matrix> {
        let (lt, rt) = (self.type_of(lhs), self.type_of(rhs));
        let lm = self.eval_matrix(lhs)?;
        let rm = self.eval_matrix(rhs)?;
        let inputs = [lm, rm];
        match (lt == ValueType::Scalar, rt == ValueType::Scalar) {
            (true, true) => self.range_eval(&inputs, |_, v, _, _| {
                let (l, r) = (
                    v[0].first().map_or(f64::NAN, |s| s.f),
                    v[1].first().map_or(f64::NAN, |s| s.f),
                );
                Ok(vec![Sample::float(
                    Labels::empty(),
                    scalar_binop(op, l, r),
                    false,
                )])
            }),
            (false, true) | (true, false) => {
                let swap = lt == ValueType::Scalar;
                self.range_eval(&inputs, |ev, v, _, _| {
                    let (vec, sc) = if swap { (&v[1], &v[0]) } else { (&v[0], &v[1]) };
                    let scalar = sc.first().map_or(f64::NAN, |s| s.f);
                    Ok(ev.vector_scalar_binop(op, vec, scalar, swap, return_bool, span))
                })
            }
            (false, false) => {
                let default_matching = VectorMatching {
                    card: if op.is_set() {
                        Cardinality::ManyToMany
                    } else {
                        Cardinality::OneToOne
                    },
                    on: false,
                    labels: Vec::new(),
                    include: Vec::new(),
                };
                let matching = matching.unwrap_or(&default_matching).clone();
                let mut ords = Grouper::default();
                let lsig = signatures(&inputs[0], &matching, &mut ords);
                let rsig = signatures(&inputs[1], &matching, &mut ords);
                let num_sigs = ords.keys.len();
                drop(ords);
                let mut helper = BinopHelper::new(num_sigs);
                self.range_eval(&inputs, |ev, v, idx, _| {
                    let ls: Vec<usize> = idx[0].iter().map(|&i| lsig[i]).collect();
                    let rs: Vec<usize> = idx[1].iter().map(|&i| rsig[i]).collect();
                    match op {
                        BinOp::And => Ok(helper.and(&v[0], &v[1], &ls, &rs)),
                        BinOp::Or => Ok(helper.or(&v[0], &v[1], &ls, &rs)),
                        BinOp::Unless => Ok(helper.unless(&v[0], &v[1], &ls, &rs)),
                        _ => {
                            let ctx = VbCtx {
                                op,
                                matching: &matching,
                                return_bool,
                                span,
                                lidx: &idx[0],
                                ridx: &idx[1],
                            };
                            helper.vector_binop(ev, &ctx, &v[0], &v[1], &ls, &rs)
                        }
                    }
                })
            }
        }
    }

    fn vector_scalar_binop(
        &mut self,
        op: BinOp,
        vec: &Vector,
        scalar: f64,
        swap: bool,
        return_bool: bool,
        span: Span,
    ) -> Vector {
        let mut out = Vec::with_capacity(vec.len());
        for s in vec {
            let (mut lf, mut rf) = (s.f, scalar);
            let (mut lh, mut rh) = (s.h.as_ref(), None);
            if swap {
                std::mem::swap(&mut lf, &mut rf);
                std::mem::swap(&mut lh, &mut rh);
            }
            let (mut f, mut h, mut keep) = match elem_binop(op, lf, rf, lh, rh, span) {
                Ok(r) => r,
                Err(a) => {
                    self.annos.add(a);
                    continue;
                }
            };
            if op.is_comparison() && swap {
                f = rf;
                h = rh.cloned();
            }
            if return_bool {
                f = btos(keep);
                h = None;
                keep = true;
            }
            if keep {
                out.push(Sample {
                    labels: s.labels.clone(),
                    t: s.t,
                    f,
                    h,
                    drop_name: s.drop_name || changes_schema(op) || return_bool,
                });
            }
        }
        out
    }
}

struct VbCtx<'a> {
    op: BinOp,
    matching: &'a VectorMatching,
    return_bool: bool,
    span: Span,
    /// Source series indices of the samples (for caching result labels).
    lidx: &'a [usize],
    ridx: &'a [usize],
}

/// Per-binary-expression scratch space reused across steps.
struct BinopHelper {
    present: Vec<bool>,
    right: Vec<Option<usize>>,
    matched_one: Vec<bool>,
    matched_many: FxHashMap<usize, FxHashSet<Labels>>,
    result_cache: FxHashMap<(usize, usize), Labels>,
}

impl BinopHelper {
    fn new(num_sigs: usize) -> Self {
        BinopHelper {
            present: vec![false; num_sigs],
            right: vec![None; num_sigs],
            matched_one: vec![false; num_sigs],
            matched_many: FxHashMap::default(),
            result_cache: FxHashMap::default(),
        }
    }

    fn and(&mut self, l: &Vector, r: &Vector, ls: &[usize], rs: &[usize]) -> Vector {
        if l.is_empty() || r.is_empty() {
            return Vec::new();
        }
        for &s in rs {
            self.present[s] = true;
        }
        let out = l
            .iter()
            .zip(ls)
            .filter(|(_, s)| self.present[**s])
            .map(|(x, _)| x.clone())
            .collect();
        for &s in rs {
            self.present[s] = false;
        }
        out
    }

    fn or(&mut self, l: &Vector, r: &Vector, ls: &[usize], rs: &[usize]) -> Vector {
        let mut out = l.clone();
        if r.is_empty() {
            return out;
        }
        for &s in ls {
            self.present[s] = true;
        }
        out.extend(
            r.iter()
                .zip(rs)
                .filter(|(_, s)| !self.present[**s])
                .map(|(x, _)| x.clone()),
        );
        for &s in ls {
            self.present[s] = false;
        }
        out
    }

    fn unless(&mut self, l: &Vector, r: &Vector, ls: &[usize], rs: &[usize]) -> Vector {
        if l.is_empty() || r.is_empty() {
            return l.clone();
        }
        for &s in rs {
            self.present[s] = true;
        }
        let out = l
            .iter()
            .zip(ls)
            .filter(|(_, s)| !self.present[**s])
            .map(|(x, _)| x.clone())
            .collect();
        for &s in rs {
            self.present[s] = false;
        }
        out
    }

    fn vector_binop(
        &mut self,
        ev: &mut Evaluator<'_>,
        c: &VbCtx<'_>,
        lhs: &Vector,
        rhs: &Vector,
        lsig: &[usize],
        rsig: &[usize],
    ) -> Result<Vector> {
        if lhs.is_empty() || rhs.is_empty() {
            return Ok(Vec::new());
        }
        let one_to_many = c.matching.card == Cardinality::OneToMany;
        let (lhs, rhs, lsig, rsig, lidx, ridx) = if one_to_many {
            (rhs, lhs, rsig, lsig, c.ridx, c.lidx)
        } else {
            (lhs, rhs, lsig, rsig, c.lidx, c.ridx)
        };
        let result = self.vector_binop_inner(ev, c, lhs, rhs, lsig, rsig, lidx, ridx, one_to_many);
        for &s in rsig {
            self.right[s] = None;
        }
        for &s in lsig {
            self.matched_one[s] = false;
        }
        self.matched_many.clear();
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn vector_binop_inner(
        &mut self,
        ev: &mut Evaluator<'_>,
        c: &VbCtx<'_>,
        lhs: &Vector,
        rhs: &Vector,
        lsig: &[usize],
        rsig: &[usize],
        lidx: &[usize],
        ridx: &[usize],
        one_to_many: bool,
    ) -> Result<Vector> {
        for (j, rs) in rhs.iter().enumerate() {
            let sig = rsig[j];
            if let Some(prev) = self.right[sig] {
                let side = if one_to_many { "left" } else { "right" };
                let matched = match_labels(&rs.labels, c.matching.on, &c.matching.labels);
                return Err(exec_err(format!(
                    "found duplicate series for the match group {} on the {} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    labels_string(&matched),
                    side,
                    labels_string(&rhs[prev].labels),
                    labels_string(&rs.labels)
                )));
            }
            self.right[sig] = Some(j);
        }
        let mut out = Vec::with_capacity(lhs.len());
        for (i, ls) in lhs.iter().enumerate() {
            let sig = lsig[i];
            let Some(j) = self.right[sig] else { continue };
            let rs = &rhs[j];
            let (mut fl, mut fr) = (ls.f, rs.f);
            let (mut hl, mut hr) = (ls.h.as_ref(), rs.h.as_ref());
            if one_to_many {
                std::mem::swap(&mut fl, &mut fr);
                std::mem::swap(&mut hl, &mut hr);
            }
            let (mut f, mut h, keep) = match elem_binop(c.op, fl, fr, hl, hr, c.span) {
                Ok(r) => r,
                Err(a) => {
                    ev.annos.add(a);
                    (0.0, None, false)
                }
            };
            if c.return_bool {
                h = None;
                f = btos(keep);
            }
            let key = (lidx[i], ridx[j]);
            let metric = match self.result_cache.get(&key) {
                Some(m) => m.clone(),
                None => {
                    let m = result_metric(&ls.labels, &rs.labels, c.op, c.matching);
                    self.result_cache.insert(key, m.clone());
                    m
                }
            };
            if c.matching.card == Cardinality::OneToOne {
                if self.matched_one[sig] {
                    return Err(exec_err(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
                self.matched_one[sig] = true;
            } else {
                let set = self.matched_many.entry(sig).or_default();
                if !set.insert(metric.clone()) {
                    return Err(exec_err(
                        "multiple matches for labels: grouping labels must ensure unique matches",
                    ));
                }
            }
            if !keep && !c.return_bool {
                continue;
            }
            out.push(Sample {
                labels: metric,
                t: ls.t,
                f,
                h,
                drop_name: c.return_bool,
            });
        }
        Ok(out)
    }
}

/// The labels of a vector/vector result element.
fn result_metric(lhs: &Labels, rhs: &Labels, op: BinOp, m: &VectorMatching) -> Labels {
    let mut b = lhs.builder();
    if changes_schema(op) {
        b.del(METRIC_NAME).del("__type__").del("__unit__");
    }
    if m.card == Cardinality::OneToOne {
        if m.on {
            b.retain(|x| m.labels.iter().any(|n| n == &x.name));
        } else {
            b.retain(|x| !m.labels.iter().any(|n| n == &x.name));
        }
    }
    for ln in &m.include {
        let v = rhs.get(ln);
        if v.is_empty() {
            b.del(ln);
        } else {
            b.set(ln, v);
        }
    }
    b.build()
}
