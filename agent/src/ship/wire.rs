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

use crate::pipeline::{field_len, put_varint, varint_len, Point};

fn sample_len(t: i64) -> usize {
    9 + 1 + varint_len(t as u64)
}

/// Appends one point as a `TimeSeries` field of a `WriteRequest`; the
/// labels are copied from the point's pre-encoded form when it has one.
pub fn put_point(out: &mut Vec<u8>, p: &Point) {
    out.push(0x0a); // WriteRequest.timeseries, length-delimited
    put_varint(out, (p.labels_len() + field_len(sample_len(p.t))) as u64);
    p.put_labels(out);
    out.push(0x12); // TimeSeries.samples
    put_varint(out, sample_len(p.t) as u64);
    out.push(0x09); // Sample.value, fixed64
    out.extend_from_slice(&p.v.to_bits().to_le_bytes());
    out.push(0x10); // Sample.timestamp, varint
    put_varint(out, p.t as u64);
}

/// The uncompressed `WriteRequest` for `points`, one series per point.
pub fn encode<'a>(points: impl IntoIterator<Item = &'a Point>) -> Vec<u8> {
    let points = points.into_iter();
    let (lower, _) = points.size_hint();
    let mut out = Vec::with_capacity(lower * 192);
    for p in points {
        out.reserve(p.labels_len() + 40);
        put_point(&mut out, p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchfire_promql::Labels;
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
                        .labels()
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
        Point::new(Labels::new(pairs.iter().copied()), t, v)
    }

    /// The same point with its labels pre-encoded.
    fn encoded(p: Point) -> Point {
        Point::encoded(crate::pipeline::SeriesBytes::new(&p.labels()), p.t, p.v)
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
    fn pre_encoded_labels_give_the_same_bytes() {
        let points = vec![
            point(&[("__name__", "a"), ("job", "j")], 1_700_000_000_000, 3.5),
            point(&[("__name__", "b"), ("le", "+Inf")], -5, -2.5),
        ];
        let mixed = vec![encoded(points[0].clone()), points[1].clone()];
        let all: Vec<Point> = points.iter().cloned().map(encoded).collect();
        assert_eq!(encode(&mixed), encode(&points));
        assert_eq!(encode(&all), encode(&points));
        check(all);
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
