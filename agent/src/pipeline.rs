//! The hand-off between what produces samples (scrapers, the host
//! collector) and the shipper.
//!
//! A [`Point`] may carry its label set pre-encoded ([`SeriesBytes`]): the
//! scrapers encode each series once (in their series cache) and every
//! sample of it shares those bytes, so neither the disk record nor the
//! remote_write request walks and copies the label strings per sample.
//! Producers without a cache (the host collector) leave it out and the
//! shipper encodes the labels itself.

use std::sync::Arc;

use tokio::sync::oneshot;
use watchfire_promql::Labels;

/// A label set in remote_write form: the `TimeSeries.labels` fields
/// (field 1, each a length-delimited `Label` with `name` = 1 and
/// `value` = 2), in label order. Only built from a [`Labels`], so it
/// always matches the set it was built from. Cloning shares the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesBytes(Arc<[u8]>);

/// Bytes of `v` as a protobuf varint.
pub(crate) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends `v` as a protobuf varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Length of a length-delimited field of `len` bytes, tag included.
pub(crate) fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// Appends the `TimeSeries.labels` fields of `labels` to `out`.
pub(crate) fn put_labels(out: &mut Vec<u8>, labels: &Labels) {
    for l in labels.iter() {
        out.push(0x0a); // TimeSeries.labels
        put_varint(
            out,
            (field_len(l.name.len()) + field_len(l.value.len())) as u64,
        );
        out.push(0x0a); // Label.name
        put_varint(out, l.name.len() as u64);
        out.extend_from_slice(l.name.as_bytes());
        out.push(0x12); // Label.value
        put_varint(out, l.value.len() as u64);
        out.extend_from_slice(l.value.as_bytes());
    }
}

/// Encoded length of `labels` (what [`put_labels`] writes).
pub(crate) fn labels_len(labels: &Labels) -> usize {
    labels
        .iter()
        .map(|l| field_len(field_len(l.name.len()) + field_len(l.value.len())))
        .sum()
}

impl SeriesBytes {
    /// Encodes `labels`.
    pub fn new(labels: &Labels) -> SeriesBytes {
        let mut out = Vec::with_capacity(labels_len(labels));
        put_labels(&mut out, labels);
        SeriesBytes(out.into())
    }

    /// Wraps bytes known to be the encoding of a label set (read back
    /// from a record that was written from one).
    pub(crate) fn from_encoded(b: &[u8]) -> SeriesBytes {
        SeriesBytes(b.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The label set these bytes encode.
    pub fn labels(&self) -> Labels {
        // Built only by `new` or from bytes `decode_labels` accepted, so
        // decoding cannot fail; an empty set is the impossible fallback.
        decode_labels(&self.0).unwrap_or_default()
    }
}

/// Reads one varint at `*pos`.
fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// One length-delimited field with tag `tag` at `*pos`: its bytes.
fn get_field<'a>(b: &'a [u8], pos: &mut usize, tag: u8) -> Option<&'a [u8]> {
    if *b.get(*pos)? != tag {
        return None;
    }
    *pos += 1;
    let n = usize::try_from(get_varint(b, pos)?).ok()?;
    let end = pos.checked_add(n)?;
    let out = b.get(*pos..end)?;
    *pos = end;
    Some(out)
}

/// Parses `TimeSeries.labels` bytes as [`put_labels`] writes them
/// (UTF-8, names strictly ascending); `None` when they are not that.
pub(crate) fn decode_labels(b: &[u8]) -> Option<Labels> {
    let mut pos = 0;
    let mut v: Vec<watchfire_promql::Label> = Vec::new();
    while pos < b.len() {
        let label = get_field(b, &mut pos, 0x0a)?;
        let mut lp = 0;
        let name = std::str::from_utf8(get_field(label, &mut lp, 0x0a)?).ok()?;
        let value = std::str::from_utf8(get_field(label, &mut lp, 0x12)?).ok()?;
        if lp != label.len() || v.last().is_some_and(|l| l.name.as_str() >= name) {
            return None;
        }
        v.push(watchfire_promql::Label {
            name: name.to_owned(),
            value: value.to_owned(),
        });
    }
    Some(Labels::from_sorted(v))
}

/// The label set of a [`Point`]: as labels (producers without a series
/// cache, such as the host collector) or pre-encoded (the scrapers, and
/// anything read back from the disk buffer).
#[derive(Debug, Clone)]
pub enum Series {
    Labels(Labels),
    Encoded(SeriesBytes),
}

/// One sample bound for shipping. `t` is milliseconds since the epoch;
/// `v` may be a staleness marker (`watchfire_promql::storage::stale_nan`).
/// Equality compares the label sets, whichever form they are in.
#[derive(Debug, Clone)]
pub struct Point {
    pub series: Series,
    pub t: i64,
    pub v: f64,
}

impl Point {
    /// A point with its labels as a label set.
    pub fn new(labels: Labels, t: i64, v: f64) -> Point {
        Point {
            series: Series::Labels(labels),
            t,
            v,
        }
    }

    /// A point with pre-encoded labels.
    pub fn encoded(enc: SeriesBytes, t: i64, v: f64) -> Point {
        Point {
            series: Series::Encoded(enc),
            t,
            v,
        }
    }

    /// The label set (decoded when the point carries only its encoding).
    pub fn labels(&self) -> Labels {
        match &self.series {
            Series::Labels(l) => l.clone(),
            Series::Encoded(e) => e.labels(),
        }
    }

    /// Length of the labels in remote_write form.
    pub(crate) fn labels_len(&self) -> usize {
        match &self.series {
            Series::Labels(l) => labels_len(l),
            Series::Encoded(e) => e.as_bytes().len(),
        }
    }

    /// Appends the labels in remote_write form.
    pub(crate) fn put_labels(&self, out: &mut Vec<u8>) {
        match &self.series {
            Series::Labels(l) => put_labels(out, l),
            Series::Encoded(e) => out.extend_from_slice(e.as_bytes()),
        }
    }
}

impl PartialEq for Point {
    fn eq(&self, other: &Self) -> bool {
        let same = match (&self.series, &other.series) {
            (Series::Encoded(a), Series::Encoded(b)) => a == b,
            (Series::Labels(a), Series::Labels(b)) => a == b,
            _ => self.labels() == other.labels(),
        };
        same && self.t == other.t && self.v == other.v
    }
}

/// Where producers hand their samples. Implementations must not lose an
/// accepted batch (the shipper makes it durable before returning) and must
/// not block for long: callers run on the async runtime.
pub trait Appender: Send + Sync {
    /// Hands over one scrape's (or one collection's) samples.
    fn append(&self, batch: Vec<Point>);

    /// Hands over a batch without blocking, when the implementation can:
    /// the receiver completes once the batch is accepted as `append`
    /// would have (durable, for the shipper). `Err` gives the batch back
    /// for [`Appender::append`] (the default, for appenders without a
    /// queue of their own).
    fn try_submit(&self, batch: Vec<Point>) -> Result<oneshot::Receiver<()>, Vec<Point>> {
        Err(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&str, &str)]) {
        let labels = Labels::new(pairs.iter().copied());
        let enc = SeriesBytes::new(&labels);
        assert_eq!(enc.as_bytes().len(), labels_len(&labels));
        assert_eq!(enc.labels(), labels);
        // Decodes as the labels of a TimeSeries.
        let mut ts = vec![0x0a];
        put_varint(&mut ts, enc.as_bytes().len() as u64);
        ts.extend_from_slice(enc.as_bytes());
        let req = watchfire_remotewrite::decode(&watchfire_remotewrite::compress(&ts), 1 << 20)
            .expect("decodes");
        let got: Vec<(String, String)> = req.timeseries[0]
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        let want: Vec<(String, String)> = labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn series_bytes_decode_as_labels() {
        let long = "v".repeat(200);
        check(&[]);
        check(&[("__name__", "up")]);
        check(&[("__name__", "x"), ("job", "j"), ("le", "+Inf")]);
        check(&[("__name__", "y"), ("long", &long)]);
    }

    #[test]
    fn equality_ignores_encoding() {
        let labels = Labels::new([("__name__", "up")]);
        let a = Point::new(labels.clone(), 1, 2.0);
        let b = Point::encoded(SeriesBytes::new(&labels), 1, 2.0);
        assert_eq!(a, b);
        assert_eq!(b.labels(), labels);
        assert_ne!(a, Point::new(labels.clone(), 2, 2.0));
        assert_ne!(b, Point::encoded(SeriesBytes::new(&labels), 2, 2.0));
    }

    #[test]
    fn decode_labels_rejects_what_put_labels_cannot_write() {
        let ok = SeriesBytes::new(&Labels::new([("a", "1"), ("b", "2")]));
        assert!(decode_labels(ok.as_bytes()).is_some());
        // Out of order, truncated, wrong tag, bad UTF-8.
        let ba = [
            SeriesBytes::new(&Labels::new([("b", "2")])),
            SeriesBytes::new(&Labels::new([("a", "1")])),
        ]
        .iter()
        .flat_map(|e| e.as_bytes().to_vec())
        .collect::<Vec<u8>>();
        assert!(decode_labels(&ba).is_none());
        assert!(decode_labels(&ok.as_bytes()[..ok.as_bytes().len() - 1]).is_none());
        assert!(decode_labels(&[0x12, 0]).is_none());
        assert!(decode_labels(&[0x0a, 6, 0x0a, 1, 0xff, 0x12, 1, b'x']).is_none());
    }
}
