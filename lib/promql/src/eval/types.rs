//! Internal value types of the evaluator.
//!
//! Like Prometheus, every expression evaluates to a [`Matrix`] covering all
//! the steps of the current evaluation range (an instant query is a range of
//! one step). A scalar is a matrix with one label-less series that has a
//! point at every step. Per-step work happens on [`Vector`]s gathered from
//! those matrices.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::labels::Labels;
use crate::storage::FloatHistogram;

/// A float point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FPoint {
    pub t: i64,
    pub f: f64,
}

/// A native histogram point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HPoint {
    pub t: i64,
    pub h: Arc<FloatHistogram>,
}

/// One series of an intermediate result.
#[derive(Debug, Clone, Default)]
pub(crate) struct Series {
    pub labels: Labels,
    pub floats: Vec<FPoint>,
    pub hists: Vec<HPoint>,
    /// The metric name must be removed at the end of the evaluation
    /// (Prometheus' delayed name removal).
    pub drop_name: bool,
}

impl Series {
    pub fn new(labels: Labels, drop_name: bool) -> Self {
        Series {
            labels,
            floats: Vec::new(),
            hists: Vec::new(),
            drop_name,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.floats.is_empty() && self.hists.is_empty()
    }

    pub fn push(&mut self, t: i64, f: f64, h: Option<Arc<FloatHistogram>>) {
        match h {
            Some(h) => self.hists.push(HPoint { t, h }),
            None => self.floats.push(FPoint { t, f }),
        }
    }
}

pub(crate) type Matrix = Vec<Series>;

/// One element of a per-step vector.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub labels: Labels,
    pub t: i64,
    pub f: f64,
    pub h: Option<Arc<FloatHistogram>>,
    pub drop_name: bool,
}

impl Sample {
    pub fn float(labels: Labels, f: f64, drop_name: bool) -> Self {
        Sample {
            labels,
            t: 0,
            f,
            h: None,
            drop_name,
        }
    }
}

pub(crate) type Vector = Vec<Sample>;

/// The value of an evaluated node.
#[derive(Debug)]
pub(crate) enum Val {
    Matrix(Matrix),
    String(String),
}

/// The FxHash function (as used by rustc): fast for short keys and good
/// enough for label sets, which are hashed once per series.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.hash = (self.hash.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;
pub(crate) type FxHashMap<K, V> = HashMap<K, V, FxBuild>;
pub(crate) type FxHashSet<K> = HashSet<K, FxBuild>;

/// Renders labels the way Prometheus' `labels.Labels.String()` does:
/// `{__name__="x", a="b"}`.
pub(crate) fn labels_string(l: &Labels) -> String {
    let mut s = String::from("{");
    for (i, lab) in l.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&lab.name);
        s.push('=');
        s.push_str(&format!("{:?}", lab.value));
    }
    s.push('}');
    s
}

/// Assigns group ordinals to label sets restricted by a filter, hashing
/// the kept labels in place and only building the restricted label set
/// once per new group.
#[derive(Default)]
pub(crate) struct Grouper {
    by_hash: FxHashMap<u64, Vec<usize>>,
    /// The restricted label set of each group.
    pub keys: Vec<Labels>,
}

impl Grouper {
    /// The ordinal of the group of `l` (keeping labels for which `keep`
    /// is true), and whether the group is new.
    pub fn group(&mut self, l: &Labels, keep: impl Fn(&str) -> bool) -> (usize, bool) {
        use std::hash::Hash;
        let mut h = FxHasher::default();
        for x in l.iter().filter(|x| keep(&x.name)) {
            x.name.hash(&mut h);
            x.value.hash(&mut h);
        }
        let hash = h.finish();
        let cands = self.by_hash.entry(hash).or_default();
        for &g in cands.iter() {
            if l.iter().filter(|x| keep(&x.name)).eq(self.keys[g].iter()) {
                return (g, false);
            }
        }
        let key = Labels::from_sorted(l.iter().filter(|x| keep(&x.name)).cloned().collect());
        let g = self.keys.len();
        self.keys.push(key);
        cands.push(g);
        (g, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouper_separates_and_reuses_groups() {
        let a = Labels::new([("__name__", "x"), ("job", "a"), ("i", "1")]);
        let b = Labels::new([("__name__", "y"), ("job", "a"), ("i", "2")]);
        let c = Labels::new([("job", "b")]);
        let mut g = Grouper::default();
        let keep = |n: &str| n == "job";
        assert_eq!(g.group(&a, keep), (0, true));
        assert_eq!(g.group(&b, keep), (0, false));
        assert_eq!(g.group(&c, keep), (1, true));
        assert_eq!(labels_string(&g.keys[0]), r#"{job="a"}"#);
    }
}
