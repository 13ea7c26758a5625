//! A row's bytes, written directly.
//!
//! Rows are `postcard`-encoded `Vec<Op>` (and are decoded with
//! `postcard`). Encoding them through serde cost a call per field and a
//! growing buffer per row, in the one thread that commits; this writes the
//! same bytes, op by op, into the row's buffer as the op joins the row
//! (so the log knows a row's size as it grows), and prefixes the count
//! when the row closes. The format is postcard's wire
//! format (varint lengths and integers, zigzag for signed ones, enum
//! variants as their index), and the tests check the bytes against
//! `postcard::to_stdvec` so the two can never drift apart.

use watchfire_alertmodel::{Alert, LabelSet};

use super::Op;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(out: &mut Vec<u8>, v: i64) {
    varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn string(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Walks the set's names and values as bytes ([`LabelSet::segments`]):
/// the commit thread encodes every alert ingested, and pairing them up as
/// `&str` (a boundary check per slice) cost more than the copying.
fn labels(out: &mut Vec<u8>, l: &LabelSet) {
    // Each name and value takes one length byte unless it is 128 or more.
    out.reserve(1 + l.text_len() + 2 * l.len());
    varint(out, l.len() as u64);
    for s in l.segments() {
        varint(out, s.len() as u64);
        out.extend_from_slice(s);
    }
}

/// Field order of [`Alert`] as serde derives it.
fn alert(out: &mut Vec<u8>, a: &Alert) {
    labels(out, &a.labels);
    labels(out, &a.annotations);
    zigzag(out, a.starts_at);
    zigzag(out, a.ends_at);
    string(out, &a.generator_url);
    zigzag(out, a.updated_at);
    out.push(u8::from(a.timeout));
}

/// The bytes of one op, appended to a row's body.
pub fn op(out: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Put(a) => {
            out.push(0);
            alert(out, a);
        }
        Op::Del(fp) => {
            out.push(1);
            varint(out, *fp);
        }
    }
}

/// Bytes `v` takes as a varint.
pub fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Bytes a row's body keeps free at its start for the row's op count:
/// enough for any count below 2¹⁴ ([`super::ROW_OPS`] is 1,024), so the
/// count is written in place and the body (up to a page) is not copied.
pub const HEAD: usize = 2;

/// A row from its op count and `body`: [`HEAD`] free bytes, then the ops'
/// bytes ([`op`]).
pub fn row(count: usize, mut body: Vec<u8>) -> Vec<u8> {
    let mut head = Vec::with_capacity(HEAD);
    varint(&mut head, count as u64);
    if head.len() > HEAD || body.len() < HEAD {
        head.extend_from_slice(body.get(HEAD..).unwrap_or_default());
        return head;
    }
    // A one-byte count moves the ops one byte forward (a short row, or
    // the last of a commit).
    let skip = HEAD - head.len();
    body[skip..HEAD].copy_from_slice(&head);
    body.drain(..skip);
    body
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A row of `ops`, the way the log builds one.
    fn encode_ops(ops: &[Op]) -> Vec<u8> {
        let mut body = vec![0; HEAD];
        for o in ops {
            op(&mut body, o);
        }
        row(ops.len(), body)
    }

    #[test]
    fn varint_lengths() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(varint_len(v), out.len(), "{v}");
        }
    }

    fn check(ops: &[Op]) {
        let want = postcard::to_stdvec(ops).expect("postcard");
        assert_eq!(encode_ops(ops), want, "{ops:?}");
        let back: Vec<Op> = postcard::from_bytes(&encode_ops(ops)).expect("decodes");
        assert_eq!(back, ops);
    }

    fn alert(labels: &[(&str, &str)], t: i64, url: &str, timeout: bool) -> Op {
        Op::Put(Arc::new(Alert {
            labels: labels.iter().copied().collect(),
            annotations: [("summary", "é ".repeat(100).as_str())].into(),
            starts_at: t,
            ends_at: t.wrapping_mul(3),
            generator_url: url.into(),
            updated_at: t.wrapping_neg(),
            timeout,
        }))
    }

    #[test]
    fn bytes_equal_postcard() {
        check(&[]);
        check(&[Op::Del(0), Op::Del(u64::MAX), Op::Del(127), Op::Del(128)]);
        check(&[alert(&[("a", "1")], 0, "", false)]);
        check(&[
            alert(
                &[("alertname", "X"), ("job", "api")],
                1_700_000_000_000,
                "http://x",
                true,
            ),
            Op::Del(42),
            alert(&[], i64::MIN, &"u".repeat(300), false),
            alert(&[("k", "")], i64::MAX, "", true),
            alert(&[("z", "1")], -1, "ü", false),
        ]);
        // Many ops: the row length itself takes two varint bytes.
        let many: Vec<Op> = (0..300).map(|i| Op::Del(i * 1_000_003)).collect();
        check(&many);
        // More than the space kept for the count: three bytes.
        let more: Vec<Op> = (0..16_384).map(Op::Del).collect();
        check(&more);
    }
}
