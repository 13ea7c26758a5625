//! The remote_write request body written straight from points. Pure.
//!
//! `prometheus.WriteRequest` is `repeated TimeSeries timeseries = 1`, so a
//! body is a concatenation of length-delimited `TimeSeries`, here one per
//! point (as Prometheus's own sender does): its labels (`Label` = `name`
//! field 1, `value` field 2) and one `Sample` (`value` double field 1,
//! `timestamp` int64 field 2). Writing the bytes from the label sets
//! directly avoids building prost messages, which copied every label
//! string for every point. [`encode`] gives the same bytes a prost
//! `WriteRequest` with one sample per series would decode to (zero
//! values are written explicitly, which decoders accept).

use watchfire_promql::Labels;

use crate::pipeline::Point;

fn varint_len(v: u64) -> usize {
    // 1 byte per 7 bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Length of a length-delimited field of `len` bytes, tag included.
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn label_len(name: &str, value: &str) -> usize {
    field_len(name.len()) + field_len(value.len())
}

fn sample_len(t: i64) -> usize {
    9 + 1 + varint_len(t as u64)
}

fn series_len(labels: &Labels, t: i64) -> usize {
    let l: usize = labels
        .iter()
        .map(|l| field_len(label_len(&l.name, &l.value)))
        .sum();
    l + field_len(sample_len(t))
}

fn put_bytes(out: &mut Vec<u8>, tag: u8, b: &[u8]) {
    out.push(tag);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Appends one point as a `TimeSeries` field of a `WriteRequest`.
pub fn put_point(out: &mut Vec<u8>, p: &Point) {
    out.push(0x0a); // WriteRequest.timeseries, length-delimited
    put_varint(out, series_len(&p.labels, p.t) as u64);
    for l in p.labels.iter() {
        out.push(0x0a); // TimeSeries.labels
        put_varint(out, label_len(&l.name, &l.value) as u64);
        put_bytes(out, 0x0a, l.name.as_bytes());
        put_bytes(out, 0x12, l.value.as_bytes());
    }
    out.push(0x12); // TimeSeries.samples
    put_varint(out, sample_len(p.t) as u64);
    out.push(0x09); // Sample.value, fixed64
    out.extend_from_slice(&p.v.to_bits().to_le_bytes());
    out.push(0x10); // Sample.timestamp, varint
    put_varint(out, p.t as u64);
}

/// The uncompressed `WriteRequest` for `points`, one series per point.
pub fn encode<'a>(points: impl IntoIterator<Item = &'a Point>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in points {
        put_point(&mut out, p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchfire_remotewrite::proto::{Label, Sample, TimeSeries, WriteRequest};

    fn check(points: Vec<Point>) {
        let body = encode(&points);
        let compressed = watchfire_remotewrite::compress(&body);
        let got = watchfire_remotewrite::decode(&compressed, 1 << 20).expect("decodes");
        let want = WriteRequest {
            timeseries: points
                .iter()
                .map(|p| TimeSeries {
                    labels: p
                        .labels
                        .iter()
                        .map(|l| Label {
                            name: l.name.clone(),
                            value: l.value.clone(),
                        })
                        .collect(),
                    samples: vec![Sample {
                        value: p.v,
                        timestamp: p.t,
                    }],
                    ..Default::default()
                })
                .collect(),
            metadata: vec![],
        };
        // NaN != NaN: compare bits of values separately.
        assert_eq!(got.timeseries.len(), want.timeseries.len());
        for (g, w) in got.timeseries.iter().zip(&want.timeseries) {
            assert_eq!(g.labels, w.labels);
            assert_eq!(g.samples.len(), 1);
            assert_eq!(g.samples[0].timestamp, w.samples[0].timestamp);
            assert_eq!(g.samples[0].value.to_bits(), w.samples[0].value.to_bits());
        }
        // Same length as prost's encoding except for explicit zeros.
        if points.iter().all(|p| p.t != 0 && p.v.to_bits() != 0) {
            assert_eq!(compressed, watchfire_remotewrite::encode(&want));
        }
    }

    fn point(pairs: &[(&str, &str)], t: i64, v: f64) -> Point {
        Point {
            labels: Labels::new(pairs.iter().copied()),
            t,
            v,
        }
    }

    #[test]
    fn bodies_decode_as_write_requests() {
        let long = "x".repeat(300);
        check(vec![]);
        check(vec![point(&[("__name__", "up")], 1_700_000_000_000, 1.0)]);
        check(vec![
            point(&[("__name__", "a"), ("job", "j")], 0, 0.0),
            point(&[("__name__", "b"), ("le", "+Inf")], -5, -2.5),
            point(&[("__name__", "c"), ("v", &long)], i64::MAX, f64::NAN),
            point(
                &[("__name__", "d")],
                1,
                watchfire_promql::storage::stale_nan(),
            ),
        ]);
    }

    #[test]
    fn varint_lengths() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
        }
    }
}
