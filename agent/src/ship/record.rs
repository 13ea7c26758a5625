//! The value format of one disk buffer record. Pure, no I/O.
//!
//! `[append time ms: u64 LE][flags|samples: u32 LE][payload]`. When the
//! top bit of the second field ([`COMPACT`]) is set, the payload is one
//! snappy block of a compact binary list of points — per point: the
//! label count, then each name and value (varint length + bytes), the
//! timestamp (i64 LE) and the value bits (u64 LE). That is written
//! straight from the label sets, without building protobuf messages
//! (which copied every label string). Records without the bit (written
//! by older versions) hold `snappy(WriteRequest)` and are still read.

use watchfire_promql::{Label, Labels};
use watchfire_remotewrite::proto;

use crate::pipeline::Point;

/// Length of the fixed header.
pub const HEADER: usize = 12;
/// Flag bit in the sample-count field: compact payload.
pub const COMPACT: u32 = 1 << 31;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Encodes one batch as a record value.
pub fn encode_record(points: &[Point], append_ms: i64) -> Vec<u8> {
    let mut raw = Vec::with_capacity(points.len() * 64);
    for p in points {
        put_varint(&mut raw, p.labels.len() as u64);
        for l in p.labels.iter() {
            put_str(&mut raw, &l.name);
            put_str(&mut raw, &l.value);
        }
        raw.extend_from_slice(&p.t.to_le_bytes());
        raw.extend_from_slice(&p.v.to_bits().to_le_bytes());
    }
    let count = u32::try_from(points.len()).unwrap_or(u32::MAX >> 1) & !COMPACT;
    let mut out = Vec::with_capacity(HEADER + snap::raw::max_compress_len(raw.len()));
    out.extend_from_slice(&append_ms.to_le_bytes());
    out.extend_from_slice(&(count | COMPACT).to_le_bytes());
    out.resize(HEADER + snap::raw::max_compress_len(raw.len()), 0);
    match snap::raw::Encoder::new().compress(&raw, &mut out[HEADER..]) {
        Ok(n) => out.truncate(HEADER + n),
        // Cannot happen with a buffer of max_compress_len; store nothing
        // rather than garbage (the reader then counts it as corrupt).
        Err(_) => out.truncate(HEADER),
    }
    out
}

/// The header: append time (ms) and sample count.
pub fn header(v: &[u8]) -> Option<(i64, u64)> {
    let t = i64::from_le_bytes(v.get(0..8)?.try_into().ok()?);
    let n = u32::from_le_bytes(v.get(8..12)?.try_into().ok()?);
    Some((t, u64::from(n & !COMPACT)))
}

/// Decodes a record value; `None` when corrupt.
pub fn decode_record(v: &[u8]) -> Option<Vec<Point>> {
    let flags = u32::from_le_bytes(v.get(8..12)?.try_into().ok()?);
    let payload = v.get(HEADER..)?;
    if flags & COMPACT != 0 {
        decode_compact(payload, u64::from(flags & !COMPACT))
    } else {
        decode_proto(payload)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn string(&mut self) -> Option<String> {
        let n = usize::try_from(self.varint()?).ok()?;
        std::str::from_utf8(self.bytes(n)?).ok().map(str::to_string)
    }

    fn u64_le(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }
}

fn decode_compact(payload: &[u8], count: u64) -> Option<Vec<Point>> {
    let raw = snap::raw::Decoder::new().decompress_vec(payload).ok()?;
    let mut r = Reader { b: &raw, pos: 0 };
    let mut out = Vec::with_capacity(usize::try_from(count).ok()?.min(1 << 20));
    let mut prev: Option<Labels> = None;
    while r.pos < raw.len() {
        let n = usize::try_from(r.varint()?).ok()?;
        let mut v = Vec::with_capacity(n.min(256));
        for _ in 0..n {
            let name = r.string()?;
            let value = r.string()?;
            v.push(Label { name, value });
        }
        if !v.windows(2).all(|w| w[0].name < w[1].name) {
            return None;
        }
        // Consecutive points of one series share their label set.
        let labels = match prev.take() {
            Some(p) if p.as_slice() == v.as_slice() => p,
            _ => Labels::from_sorted(v),
        };
        let t = r.u64_le()? as i64;
        let val = f64::from_bits(r.u64_le()?);
        out.push(Point {
            labels: labels.clone(),
            t,
            v: val,
        });
        prev = Some(labels);
    }
    (out.len() as u64 == count).then_some(out)
}

fn decode_proto(payload: &[u8]) -> Option<Vec<Point>> {
    let req = watchfire_remotewrite::decode(payload, 1 << 30).ok()?;
    let mut out = Vec::with_capacity(req.timeseries.len());
    for ts in req.timeseries {
        let labels = labels_from_proto(ts.labels)?;
        for s in ts.samples {
            out.push(Point {
                labels: labels.clone(),
                t: s.timestamp,
                v: s.value,
            });
        }
    }
    Some(out)
}

/// Rebuilds a label set written as protobuf (sorted, unique).
fn labels_from_proto(v: Vec<proto::Label>) -> Option<Labels> {
    if !v.windows(2).all(|w| w[0].name < w[1].name) {
        return None;
    }
    Some(Labels::from_sorted(
        v.into_iter()
            .map(|l| Label {
                name: l.name,
                value: l.value,
            })
            .collect(),
    ))
}

/// A label set as remote_write protobuf labels.
pub fn proto_labels(labels: &watchfire_promql::Labels) -> Vec<proto::Label> {
    labels
        .iter()
        .map(|l| proto::Label {
            name: l.name.clone(),
            value: l.value.clone(),
        })
        .collect()
}

/// The format older versions wrote (`snappy(WriteRequest)`, no flag);
/// kept to test that such records are still read.
pub fn encode_record_legacy(points: &[Point], append_ms: i64) -> Vec<u8> {
    let req = proto::WriteRequest {
        timeseries: points
            .iter()
            .map(|p| proto::TimeSeries {
                labels: proto_labels(&p.labels),
                samples: vec![proto::Sample {
                    value: p.v,
                    timestamp: p.t,
                }],
                ..Default::default()
            })
            .collect(),
        metadata: Vec::new(),
    };
    let body = watchfire_remotewrite::encode(&req);
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(&append_ms.to_le_bytes());
    out.extend_from_slice(&(points.len() as u32 & !COMPACT).to_le_bytes());
    out.extend_from_slice(&body);
    out
}
