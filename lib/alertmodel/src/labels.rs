//! Label sets and Alertmanager's label-set fingerprint.
//!
//! A [`LabelSet`] is sorted by name, like the `BTreeMap<String, String>`
//! it replaces, but stored compactly: every name and value lives in one
//! boxed string, with one boxed slice of end offsets. A stored alert holds
//! two of them (labels and annotations), and the router keeps hundreds of
//! thousands of alerts, so the layout is what decides its memory: a
//! four-label set takes two allocations of about 100 bytes instead of a
//! B-tree leaf (~540 bytes) plus one allocation per string. Sets are small
//! and read far more often than changed, so lookups are a binary search and
//! changes rebuild the set.

use std::borrow::Cow;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of labels, sorted by name (the order Alertmanager hashes and
/// prints them in), with unique names.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct LabelSet {
    /// Names and values, concatenated in order: `n0 v0 n1 v1 …`.
    buf: Box<str>,
    /// `ends[2i]` is where name `i` ends in `buf`, `ends[2i + 1]` where its
    /// value ends.
    ends: Box<[u32]>,
}

impl LabelSet {
    /// The empty set (allocates nothing).
    pub fn new() -> LabelSet {
        LabelSet::default()
    }

    /// Builds a set from pairs already sorted by name with unique names.
    fn from_sorted<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> LabelSet {
        let len: usize = pairs
            .iter()
            .map(|(k, v)| k.as_ref().len() + v.as_ref().len())
            .sum();
        let mut buf = String::with_capacity(len);
        let mut ends = Vec::with_capacity(pairs.len() * 2);
        for (k, v) in pairs {
            buf.push_str(k.as_ref());
            ends.push(offset(buf.len()));
            buf.push_str(v.as_ref());
            ends.push(offset(buf.len()));
        }
        LabelSet {
            buf: buf.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    /// Builds a set from pairs in any order; for a repeated name the last
    /// value wins (as when collecting into a map).
    fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: Vec<(K, V)>) -> LabelSet {
        let mut borrowed: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        LabelSet::from_unsorted(&mut borrowed)
    }

    /// Builds a set from borrowed pairs in any order, reusing the caller's
    /// vector (a parser's scratch space): sorts it in place, stably, and for
    /// a repeated name keeps the last value, as [`FromIterator`] does.
    pub fn from_unsorted(pairs: &mut Vec<(&str, &str)>) -> LabelSet {
        if !pairs.is_sorted_by(|a, b| cmp_names(a.0, b.0).is_lt()) {
            // A stable sort keeps equal names in input order; keep the last.
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            pairs.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    *kept = *later;
                }
                same
            });
        }
        LabelSet::from_sorted(pairs)
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.ends.len() / 2
    }

    /// Whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Label `i` (in name order).
    fn pair(&self, i: usize) -> (&str, &str) {
        let start = if i == 0 {
            0
        } else {
            self.ends[2 * i - 1] as usize
        };
        let mid = self.ends[2 * i] as usize;
        let end = self.ends[2 * i + 1] as usize;
        (&self.buf[start..mid], &self.buf[mid..end])
    }

    fn name(&self, i: usize) -> &str {
        self.pair(i).0
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match cmp_names(self.name(mid), name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name).ok().map(|i| self.pair(i).1)
    }

    /// Whether label `name` is present.
    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// The labels in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            set: self,
            front: 0,
            back: self.len(),
        }
    }

    /// Names and values alternately, in name order (`n0 v0 n1 v1 …`), as
    /// bytes: for encoders, which need neither the pairing nor UTF-8
    /// boundary checks on every slice.
    pub fn segments(&self) -> Segments<'_> {
        Segments {
            buf: self.buf.as_bytes(),
            ends: self.ends.iter(),
            start: 0,
        }
    }

    /// Bytes of all names and values together.
    pub fn text_len(&self) -> usize {
        self.buf.len()
    }

    /// The names in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.iter().map(|(k, _)| k)
    }

    /// The values in name order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.iter().map(|(_, v)| v)
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        self.iter().collect()
    }

    /// Sets label `name`; returns its previous value.
    pub fn insert(&mut self, name: String, value: String) -> Option<String> {
        let (name, value) = (name.as_str(), value.as_str());
        let mut pairs = self.pairs();
        let old = match self.find(name) {
            Ok(i) => {
                let old = pairs[i].1.to_string();
                pairs[i].1 = value;
                Some(old)
            }
            Err(i) => {
                pairs.insert(i, (name, value));
                None
            }
        };
        *self = LabelSet::from_sorted(&pairs);
        old
    }

    /// Removes label `name`; returns its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.find(name).ok()?;
        let mut pairs = self.pairs();
        let (_, old) = pairs.remove(i);
        let old = old.to_string();
        *self = LabelSet::from_sorted(&pairs);
        Some(old)
    }

    /// Keeps only the labels for which `keep(name, value)` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        // Usually every label stays: find the first to go before building
        // anything.
        let Some(first) = self.iter().position(|(k, v)| !keep(k, v)) else {
            return;
        };
        let mut pairs: Vec<(&str, &str)> = self.iter().take(first).collect();
        pairs.extend(self.iter().skip(first + 1).filter(|(k, v)| keep(k, v)));
        *self = LabelSet::from_sorted(&pairs);
    }

    /// Drops the labels whose value is empty (as Alertmanager does to a
    /// posted alert's labels). Reads only the offsets, and rebuilds the
    /// set only when there is one to drop: this runs for every alert
    /// posted, and almost none has an empty value.
    pub fn remove_empty_values(&mut self) {
        if self.ends.chunks_exact(2).any(|c| c[0] == c[1]) {
            self.retain(|_, v| !v.is_empty());
        }
    }

    /// The labels as an owned map (for code that builds template data).
    pub fn to_map(&self) -> std::collections::BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// `a.cmp(b)`, deciding on the first bytes when they differ, as label
/// names mostly do: routing and grouping look labels up for every alert
/// posted, and a call to `memcmp` per probe was most of the lookup.
#[inline]
fn cmp_names(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.cmp(b),
    }
}

fn offset(n: usize) -> u32 {
    // A label set over 4 GiB cannot reach here: request bodies are limited
    // far below that. Saturate rather than wrap if it ever did.
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Iterator over a [`LabelSet`]'s names and values as bytes
/// ([`LabelSet::segments`]).
#[derive(Clone)]
pub struct Segments<'a> {
    buf: &'a [u8],
    ends: std::slice::Iter<'a, u32>,
    start: usize,
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let end = *self.ends.next()? as usize;
        let s = self.buf.get(self.start..end).unwrap_or_default();
        self.start = end;
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ends.size_hint()
    }
}

impl ExactSizeIterator for Segments<'_> {}

/// Iterator over a [`LabelSet`]'s `(name, value)` pairs in name order.
#[derive(Clone)]
pub struct Iter<'a> {
    set: &'a LabelSet,
    front: usize,
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        (self.front < self.back).then(|| {
            self.front += 1;
            self.set.pair(self.front - 1)
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        (self.front < self.back).then(|| {
            self.back -= 1;
            self.set.pair(self.back)
        })
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a LabelSet {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for LabelSet {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> LabelSet {
        LabelSet::from_pairs(iter.into_iter().collect())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Extend<(K, V)> for LabelSet {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let new: Vec<(K, V)> = iter.into_iter().collect();
        if new.is_empty() {
            return;
        }
        let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = self
            .iter()
            .map(|(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v)))
            .collect();
        pairs.extend(
            new.iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_ref()), Cow::Borrowed(v.as_ref()))),
        );
        *self = LabelSet::from_pairs(pairs);
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> From<[(K, V); N]> for LabelSet {
    fn from(pairs: [(K, V); N]) -> LabelSet {
        pairs.into_iter().collect()
    }
}

impl From<std::collections::BTreeMap<String, String>> for LabelSet {
    fn from(m: std::collections::BTreeMap<String, String>) -> LabelSet {
        let pairs: Vec<(String, String)> = m.into_iter().collect();
        LabelSet::from_sorted(&pairs)
    }
}

impl PartialOrd for LabelSet {
    fn partial_cmp(&self, other: &LabelSet) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LabelSet {
    /// Pairwise in name order, as `BTreeMap`'s ordering.
    fn cmp(&self, other: &LabelSet) -> std::cmp::Ordering {
        self.iter().cmp(other.iter())
    }
}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for LabelSet {
    /// A map from name to value, as `BTreeMap<String, String>` serialises
    /// (so stored records and JSON keep their format).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A string that borrows from the input when the deserializer allows it.
struct MaybeBorrowed<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for MaybeBorrowed<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeBorrowed<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(MaybeBorrowed(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MaybeBorrowed(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(MaybeBorrowed(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for LabelSet {
    /// A map from name to value; a repeated name keeps its last value.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LabelSet;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of label names to string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<LabelSet, A::Error> {
                let mut pairs: Vec<(Cow<'de, str>, Cow<'de, str>)> =
                    Vec::with_capacity(m.size_hint().unwrap_or(0).min(64));
                while let Some((k, v)) = m.next_entry::<MaybeBorrowed<'de>, MaybeBorrowed<'de>>()? {
                    pairs.push((k.0, v.0));
                }
                Ok(LabelSet::from_pairs(pairs))
            }
        }
        d.deserialize_map(V)
    }
}

const OFFSET64: u64 = 14_695_981_039_346_656_037;
const PRIME64: u64 = 1_099_511_628_211;
const SEPARATOR: u8 = 0xff;

fn add(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(PRIME64);
    }
    h
}

/// The fingerprint Alertmanager (prometheus/common `model.LabelSet`)
/// gives a label set: FNV-1a 64 over `name 0xff value 0xff` in name order.
/// The empty set hashes to the FNV offset basis.
///
/// Every name and value ends at an offset in `ends` and is followed by the
/// separator, so this walks the one buffer segment by segment.
pub fn fingerprint(labels: &LabelSet) -> u64 {
    let mut h = OFFSET64;
    for s in labels.segments() {
        h = add(h, s);
        h = (h ^ u64::from(SEPARATOR)).wrapping_mul(PRIME64);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&str, &str)], expect: u64) {
        let ls: LabelSet = pairs.iter().copied().collect();
        assert_eq!(fingerprint(&ls), expect, "{pairs:?}");
    }

    #[test]
    fn fingerprints_match_prometheus_common() {
        // Values from prometheus/common model/signature_test.go
        // (TestLabelsToSignature) and model/fingerprinting_test.go.
        check(&[], 14_695_981_039_346_656_037);
        check(
            &[("name", "garland, briggs"), ("fear", "love is not enough")],
            5_799_056_148_416_392_346,
        );
    }

    #[test]
    fn empty_values_removed() {
        let check = |pairs: &[(&str, &str)], want: &[(&str, &str)]| {
            let mut ls: LabelSet = pairs.iter().copied().collect();
            ls.remove_empty_values();
            let want: LabelSet = want.iter().copied().collect();
            assert_eq!(ls, want, "{pairs:?}");
        };
        check(&[], &[]);
        check(&[("a", "1"), ("b", "2")], &[("a", "1"), ("b", "2")]);
        check(&[("a", ""), ("b", "2")], &[("b", "2")]);
        check(&[("a", "1"), ("b", "")], &[("a", "1")]);
        check(&[("", ""), ("b", "")], &[]);
    }

    /// The byte view walks the same names and values as the pairs.
    #[test]
    fn segments_are_the_pairs() {
        for pairs in [
            &[][..],
            &[("a", "")][..],
            &[("job", "api"), ("alertname", "é ü"), ("z", "1")][..],
        ] {
            let ls: LabelSet = pairs.iter().copied().collect();
            let want: Vec<&[u8]> = ls
                .iter()
                .flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()])
                .collect();
            let got: Vec<&[u8]> = ls.segments().collect();
            assert_eq!(got, want, "{pairs:?}");
            assert_eq!(ls.segments().len(), 2 * ls.len());
            assert_eq!(ls.text_len(), want.iter().map(|s| s.len()).sum::<usize>());
        }
    }

    /// Every operation against the `BTreeMap` it replaces.
    fn check_ops(start: &[(&str, &str)], op: &dyn Fn(&mut LabelSet, &mut BTreeMap)) {
        let mut ls: LabelSet = start.iter().copied().collect();
        let mut m: BTreeMap = start
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        op(&mut ls, &mut m);
        let got: Vec<(String, String)> = ls
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let want: Vec<(String, String)> = m.into_iter().collect();
        assert_eq!(got, want, "{start:?}");
        assert_eq!(ls.len(), want.len());
        for (k, v) in &want {
            assert_eq!(ls.get(k), Some(v.as_str()));
        }
        assert_eq!(ls.get("\u{10ffff}absent"), None);
    }

    type BTreeMap = std::collections::BTreeMap<String, String>;

    #[test]
    fn behaves_like_a_sorted_map() {
        let start = [("job", "api"), ("alertname", "Up"), ("a", ""), ("zz", "9")];
        check_ops(&start, &|_, _| {});
        check_ops(&[], &|_, _| {});
        check_ops(&start, &|l, m| {
            assert_eq!(
                l.insert("job".into(), "web".into()),
                m.insert("job".into(), "web".into())
            );
        });
        check_ops(&start, &|l, m| {
            assert_eq!(
                l.insert("b".into(), "x".into()),
                m.insert("b".into(), "x".into())
            );
        });
        check_ops(&start, &|l, m| {
            assert_eq!(l.remove("alertname"), m.remove("alertname"));
            assert_eq!(l.remove("nope"), m.remove("nope"));
        });
        check_ops(&start, &|l, m| {
            l.retain(|_, v| !v.is_empty());
            m.retain(|_, v| !v.is_empty());
        });
        // Nothing, the first, a middle one, the last, several, everything.
        for gone in [
            &[][..],
            &["a"],
            &["job"],
            &["zz"],
            &["a", "job"],
            &["alertname", "zz"],
        ] {
            check_ops(&start, &|l, m| {
                l.retain(|k, _| !gone.contains(&k));
                m.retain(|k, _| !gone.contains(&k.as_str()));
            });
        }
        check_ops(&start, &|l, m| {
            l.retain(|_, _| false);
            m.retain(|_, _| false);
        });
        check_ops(&start, &|l, m| {
            l.extend([("job", "new"), ("c", "3")]);
            m.extend([("job".into(), "new".into()), ("c".into(), "3".into())]);
        });
        for pairs in [
            &[("b", "1"), ("a", "2"), ("b", "3"), ("c", "4"), ("a", "5")][..],
            &[("a", "1"), ("b", "2")][..],
            &[][..],
            &[("z", "1"), ("z", "2"), ("z", "3")][..],
        ] {
            let want: LabelSet = pairs.iter().copied().collect();
            assert_eq!(
                LabelSet::from_unsorted(&mut pairs.to_vec()),
                want,
                "{pairs:?}"
            );
        }
        // Repeated names: the last one wins, as when collecting a map.
        let dup: LabelSet = [("a", "1"), ("b", "2"), ("a", "3")].into_iter().collect();
        assert_eq!(dup.get("a"), Some("3"));
        assert_eq!(dup.len(), 2);
    }

    #[test]
    fn order_and_serde_match_the_map() {
        let a: LabelSet = [("a", "1"), ("b", "2")].into();
        let b: LabelSet = [("a", "1"), ("c", "0")].into();
        assert!(a < b);
        assert_eq!(format!("{a:?}"), r#"{"a": "1", "b": "2"}"#);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"a":"1","b":"2"}"#);
        let back: LabelSet = serde_json::from_str(r#"{"b":"2","a":"1","e":"\u00e9"}"#).unwrap();
        assert_eq!(back.get("e"), Some("é"));
        assert_eq!(back.keys().collect::<Vec<_>>(), ["a", "b", "e"]);
        let m: BTreeMap = serde_json::from_str(&json).unwrap();
        assert_eq!(LabelSet::from(m), a);
    }
}
