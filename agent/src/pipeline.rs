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
}

/// One sample bound for shipping. `t` is milliseconds since the epoch;
/// `v` may be a staleness marker (`watchfire_promql::storage::stale_nan`).
/// `enc`, when present, is `labels` pre-encoded (see [`SeriesBytes`]);
/// equality ignores it since it follows from `labels`.
#[derive(Debug, Clone)]
pub struct Point {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
    pub enc: Option<SeriesBytes>,
}

impl Point {
    /// A point without pre-encoded labels.
    pub fn new(labels: Labels, t: i64, v: f64) -> Point {
        Point {
            labels,
            t,
            v,
            enc: None,
        }
    }
}

impl PartialEq for Point {
    fn eq(&self, other: &Self) -> bool {
        self.labels == other.labels && self.t == other.t && self.v == other.v
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
        let b = Point {
            enc: Some(SeriesBytes::new(&labels)),
            ..a.clone()
        };
        assert_eq!(a, b);
        assert_ne!(a, Point::new(labels, 2, 2.0));
    }
}
