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
//!
//! Records since then also set [`ENCODED`]: per point the label set is
//! stored in its remote_write form (varint length + the
//! `TimeSeries.labels` bytes, see [`SeriesBytes`]), so a point that
//! carries its pre-encoded labels is written with one copy, and reading
//! it back gives the same bytes again. Records with only [`COMPACT`] use
//! the name/value list above and are still read.
//!
//! Current records also set [`LZ4`]: the payload is an LZ4 block (with
//! its uncompressed size prepended, `lz4_flex`'s block format) instead
//! of snappy. Every scrape is encoded once on the scrape path before it
//! is acknowledged, and LZ4 compresses this data about twice as fast as
//! snappy at a similar ratio; snappy records are still read.

use watchfire_promql::{Label, Labels};
use watchfire_remotewrite::proto;

use crate::pipeline::{decode_labels, Point, SeriesBytes};

/// Length of the fixed header.
pub const HEADER: usize = 12;
/// Flag bit in the sample-count field: compact payload.
pub const COMPACT: u32 = 1 << 31;
/// Flag bit (with [`COMPACT`]): labels stored in remote_write form.
pub const ENCODED: u32 = 1 << 30;
/// Flag bit (with [`COMPACT`]): the payload is LZ4, not snappy.
pub const LZ4: u32 = 1 << 29;
/// The bits of the sample-count field that are flags.
const FLAGS: u32 = COMPACT | ENCODED | LZ4;
/// Largest uncompressed payload a record may announce (a corrupt size
/// must not make the reader allocate gigabytes).
const MAX_RAW: usize = 1 << 30;

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
    let size = points
        .iter()
        .map(|p| 10 + p.labels_len() + 16)
        .sum::<usize>();
    let mut raw = Vec::with_capacity(size);
    for p in points {
        put_varint(&mut raw, p.labels_len() as u64);
        p.put_labels(&mut raw);
        raw.extend_from_slice(&p.t.to_le_bytes());
        raw.extend_from_slice(&p.v.to_bits().to_le_bytes());
    }
    let count = u32::try_from(points.len()).unwrap_or(u32::MAX) & !FLAGS;
    let body = lz4_flex::block::compress_prepend_size(&raw);
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(&append_ms.to_le_bytes());
    out.extend_from_slice(&(count | COMPACT | ENCODED | LZ4).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// The snappy form of the current format (no [`LZ4`]); kept to test
/// that such records are still read.
pub fn encode_record_snappy(points: &[Point], append_ms: i64) -> Vec<u8> {
    let mut raw = Vec::new();
    for p in points {
        put_varint(&mut raw, p.labels_len() as u64);
        p.put_labels(&mut raw);
        raw.extend_from_slice(&p.t.to_le_bytes());
        raw.extend_from_slice(&p.v.to_bits().to_le_bytes());
    }
    seal(&raw, points.len(), append_ms, COMPACT | ENCODED)
}

/// Header + snappy(`raw`).
fn seal(raw: &[u8], count: usize, append_ms: i64, flags: u32) -> Vec<u8> {
    let count = u32::try_from(count).unwrap_or(u32::MAX) & !FLAGS;
    let mut out = Vec::with_capacity(HEADER + snap::raw::max_compress_len(raw.len()));
    out.extend_from_slice(&append_ms.to_le_bytes());
    out.extend_from_slice(&(count | flags).to_le_bytes());
    out.resize(HEADER + snap::raw::max_compress_len(raw.len()), 0);
    match snap::raw::Encoder::new().compress(raw, &mut out[HEADER..]) {
        Ok(n) => out.truncate(HEADER + n),
        // Cannot happen with a buffer of max_compress_len; store nothing
        // rather than garbage (the reader then counts it as corrupt).
        Err(_) => out.truncate(HEADER),
    }
    out
}

/// The previous compact format (name/value lists, no [`ENCODED`]); kept
/// to test that such records are still read.
pub fn encode_record_names(points: &[Point], append_ms: i64) -> Vec<u8> {
    let mut raw = Vec::with_capacity(points.len() * 64);
    for p in points {
        let labels = p.labels();
        put_varint(&mut raw, labels.len() as u64);
        for l in labels.iter() {
            put_str(&mut raw, &l.name);
            put_str(&mut raw, &l.value);
        }
        raw.extend_from_slice(&p.t.to_le_bytes());
        raw.extend_from_slice(&p.v.to_bits().to_le_bytes());
    }
    seal(&raw, points.len(), append_ms, COMPACT)
}

/// The header: append time (ms) and sample count.
pub fn header(v: &[u8]) -> Option<(i64, u64)> {
    let t = i64::from_le_bytes(v.get(0..8)?.try_into().ok()?);
    let n = u32::from_le_bytes(v.get(8..12)?.try_into().ok()?);
    Some((t, u64::from(n & !FLAGS)))
}

/// Decodes a record value; `None` when corrupt.
pub fn decode_record(v: &[u8]) -> Option<Vec<Point>> {
    let flags = u32::from_le_bytes(v.get(8..12)?.try_into().ok()?);
    let payload = v.get(HEADER..)?;
    let count = u64::from(flags & !FLAGS);
    if flags & (COMPACT | ENCODED | LZ4) == COMPACT | ENCODED | LZ4 {
        let size = u32::from_le_bytes(payload.get(0..4)?.try_into().ok()?) as usize;
        if size > MAX_RAW {
            return None;
        }
        let raw = lz4_flex::block::decompress_size_prepended(payload).ok()?;
        decode_encoded(&raw, count)
    } else if flags & (COMPACT | ENCODED) == COMPACT | ENCODED {
        let raw = snap::raw::Decoder::new().decompress_vec(payload).ok()?;
        decode_encoded(&raw, count)
    } else if flags & COMPACT != 0 {
        decode_compact(payload, count)
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

fn decode_encoded(raw: &[u8], count: u64) -> Option<Vec<Point>> {
    let mut r = Reader { b: raw, pos: 0 };
    let mut out = Vec::with_capacity(usize::try_from(count).ok()?.min(1 << 20));
    let mut prev: Option<SeriesBytes> = None;
    while r.pos < raw.len() {
        let n = usize::try_from(r.varint()?).ok()?;
        let enc = r.bytes(n)?;
        // Consecutive points of one series share their encoding; a new
        // one is checked to be a label set before it is accepted.
        let enc = match prev.take() {
            Some(e) if e.as_bytes() == enc => e,
            _ => {
                decode_labels(enc)?;
                SeriesBytes::from_encoded(enc)
            }
        };
        let t = r.u64_le()? as i64;
        let v = f64::from_bits(r.u64_le()?);
        out.push(Point::encoded(enc.clone(), t, v));
        prev = Some(enc);
    }
    (out.len() as u64 == count).then_some(out)
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
        out.push(Point::new(labels.clone(), t, val));
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
            out.push(Point::new(labels.clone(), s.timestamp, s.value));
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
                labels: proto_labels(&p.labels()),
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
    out.extend_from_slice(&(points.len() as u32 & !FLAGS).to_le_bytes());
    out.extend_from_slice(&body);
    out
}
