//! The inverted index of one shard: label name → label value → sorted
//! list of series ids ("postings"), and the matcher planner that turns a
//! selector's matchers into a series-id list.
//!
//! The planner follows Prometheus's `PostingsForMatchers`: a matcher that
//! does not match the empty string selects the union of the postings of
//! the values it matches; one that matches the empty string removes the
//! union of the postings of the values it does not match. Equality and
//! literal alternations (`a|b|c`) are direct lookups; once the candidate
//! set is small, remaining matchers are checked against the candidates'
//! labels instead of scanning every value of the label.

use rustc_hash::FxHashMap;
use watchfire_promql::labels::{Labels, MatchOp, Matcher};

/// A series id inside one shard (a slab slot).
pub(crate) type SeriesId = u32;

/// Label name → value → sorted postings.
#[derive(Debug, Default)]
pub(crate) struct Index {
    names: FxHashMap<String, FxHashMap<String, Vec<SeriesId>>>,
}

fn insert_sorted(v: &mut Vec<SeriesId>, id: SeriesId) {
    match v.last() {
        Some(&last) if last < id => v.push(id),
        None => v.push(id),
        _ => {
            if let Err(i) = v.binary_search(&id) {
                v.insert(i, id);
            }
        }
    }
}

fn remove_sorted(v: &mut Vec<SeriesId>, id: SeriesId) {
    if let Ok(i) = v.binary_search(&id) {
        v.remove(i);
    }
}

/// Sorted-list intersection.
fn intersect(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    if small.len() * 16 < large.len() {
        for &x in small {
            if large.binary_search(&x).is_ok() {
                out.push(x);
            }
        }
        return out;
    }
    let (mut i, mut j) = (0, 0);
    while i < small.len() && j < large.len() {
        match small[i].cmp(&large[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(small[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Sorted-list difference `a − b`.
fn subtract(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Sorted union of several sorted lists.
fn union(lists: Vec<&[SeriesId]>) -> Vec<SeriesId> {
    match lists.len() {
        0 => Vec::new(),
        1 => lists[0].to_vec(),
        _ => {
            let mut out: Vec<SeriesId> = lists.iter().flat_map(|l| l.iter().copied()).collect();
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

/// The literal alternatives of a regex like `a|b|c` when it has no other
/// regex syntax, so it can be answered by lookups.
fn literal_set(pattern: &str) -> Option<Vec<&str>> {
    const META: &[char] = &[
        '\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$',
    ];
    if pattern.contains(META) {
        return None;
    }
    Some(pattern.split('|').collect())
}

impl Index {
    pub fn add(&mut self, id: SeriesId, labels: &Labels) {
        for l in labels.iter() {
            match self.names.get_mut(l.name.as_str()) {
                Some(values) => match values.get_mut(l.value.as_str()) {
                    Some(p) => insert_sorted(p, id),
                    None => {
                        values.insert(l.value.clone(), vec![id]);
                    }
                },
                None => {
                    let mut values = FxHashMap::default();
                    values.insert(l.value.clone(), vec![id]);
                    self.names.insert(l.name.clone(), values);
                }
            }
        }
    }

    pub fn remove(&mut self, id: SeriesId, labels: &Labels) {
        for l in labels.iter() {
            let mut drop_name = false;
            if let Some(values) = self.names.get_mut(l.name.as_str()) {
                let mut drop_value = false;
                if let Some(p) = values.get_mut(l.value.as_str()) {
                    remove_sorted(p, id);
                    drop_value = p.is_empty();
                }
                if drop_value {
                    values.remove(l.value.as_str());
                }
                drop_name = values.is_empty();
            }
            if drop_name {
                self.names.remove(l.name.as_str());
            }
        }
    }

    fn postings(&self, name: &str, value: &str) -> &[SeriesId] {
        self.names
            .get(name)
            .and_then(|vs| vs.get(value))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn value_count(&self, name: &str) -> usize {
        self.names.get(name).map_or(0, |vs| vs.len())
    }

    /// Union of the postings of the values of `name` for which `pred` holds.
    fn scan_union(&self, name: &str, pred: impl Fn(&str) -> bool) -> Vec<SeriesId> {
        match self.names.get(name) {
            None => Vec::new(),
            Some(vs) => union(
                vs.iter()
                    .filter(|(v, _)| pred(v))
                    .map(|(_, p)| p.as_slice())
                    .collect(),
            ),
        }
    }

    /// The ids of the series matching all `matchers`. `all` is the sorted
    /// list of live ids; `labels_of` reads a candidate's labels.
    pub fn select<'l>(
        &self,
        matchers: &[Matcher],
        all: impl Fn() -> Vec<SeriesId>,
        labels_of: impl Fn(SeriesId) -> Option<&'l Labels>,
    ) -> Vec<SeriesId> {
        // Cheapest first: lookups, then scans of positive matchers, then
        // matchers that match the empty string (subtractions).
        let mut lookups: Vec<(&Matcher, Vec<&str>)> = Vec::new();
        let mut scans: Vec<&Matcher> = Vec::new();
        let mut negatives: Vec<&Matcher> = Vec::new();
        for m in matchers {
            if m.matches_empty() {
                negatives.push(m);
                continue;
            }
            match m.op {
                MatchOp::Equal => lookups.push((m, vec![m.value.as_str()])),
                MatchOp::Regex => match literal_set(&m.value) {
                    Some(set) => lookups.push((m, set)),
                    None => scans.push(m),
                },
                _ => scans.push(m),
            }
        }
        let mut steps: Vec<(Vec<SeriesId>, usize)> = lookups
            .into_iter()
            .map(|(m, vals)| {
                let u = union(vals.iter().map(|v| self.postings(&m.name, v)).collect());
                let n = u.len();
                (u, n)
            })
            .collect();
        steps.sort_by_key(|(_, n)| *n);
        let mut cand: Option<Vec<SeriesId>> = None;
        for (p, _) in steps {
            let next = match cand {
                None => p,
                Some(c) => intersect(&c, &p),
            };
            if next.is_empty() {
                return next;
            }
            cand = Some(next);
        }
        for m in scans.into_iter().chain(negatives) {
            cand = Some(match cand {
                Some(c) if c.len() <= self.value_count(&m.name).max(64) => c
                    .into_iter()
                    .filter(|&id| labels_of(id).is_some_and(|ls| m.matches(ls.get(&m.name))))
                    .collect(),
                Some(c) => self.apply_by_index(m, c),
                None => self.apply_by_index(m, all()),
            });
            if cand.as_ref().is_some_and(Vec::is_empty) {
                return Vec::new();
            }
        }
        cand.unwrap_or_else(all)
    }

    /// Narrows `cand` by `m` using the index.
    fn apply_by_index(&self, m: &Matcher, cand: Vec<SeriesId>) -> Vec<SeriesId> {
        if m.matches_empty() {
            let drop = self.scan_union(&m.name, |v| !m.matches(v));
            subtract(&cand, &drop)
        } else {
            let keep = self.scan_union(&m.name, |v| m.matches(v));
            intersect(&cand, &keep)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        assert_eq!(intersect(&[1, 3, 5, 7], &[3, 4, 5]), vec![3, 5]);
        assert_eq!(subtract(&[1, 3, 5, 7], &[3, 4, 5]), vec![1, 7]);
        assert_eq!(union(vec![&[1, 5][..], &[2, 5, 9][..]]), vec![1, 2, 5, 9]);
        let big: Vec<u32> = (0..1000).collect();
        assert_eq!(intersect(&[5, 999, 2000], &big), vec![5, 999]);
        assert_eq!(literal_set("a|b"), Some(vec!["a", "b"]));
        assert_eq!(literal_set("a.*"), None);
    }
}
