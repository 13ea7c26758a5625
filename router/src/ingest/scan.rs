//! A cheap pre-decode scan of a `prometheus.WriteRequest`: walks the
//! protobuf wire format without allocating, counting `timeseries` entries
//! (field 1) and, inside each, its samples (field 2) and histograms
//! (field 4), and stops as soon as a per-request limit is exceeded.
//!
//! Decoding with prost materialises every entry (an empty `TimeSeries` is
//! two bytes on the wire and ~100 bytes in memory), so a small body can
//! cost a lot of memory; the scan refuses such requests before decoding.
//! It costs one pass over the bytes. Malformed input simply ends the scan
//! (the decoder then reports the error on the same prefix the scan saw).

/// What the scan found over a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exceeded {
    Series { limit: usize },
    Samples { limit: usize },
}

/// Reads a base-128 varint at `*pos`.
fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..70).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// One field: its number, wire type and, for length-delimited fields, the
/// payload. Advances `*pos` past the field; `None` when malformed.
fn field<'a>(buf: &'a [u8], pos: &mut usize) -> Option<(u64, u8, &'a [u8])> {
    let tag = varint(buf, pos)?;
    let (num, wt) = (tag >> 3, (tag & 7) as u8);
    let skip = |pos: &mut usize, n: usize| -> Option<&'a [u8]> {
        let end = pos.checked_add(n).filter(|&e| e <= buf.len())?;
        let s = &buf[*pos..end];
        *pos = end;
        Some(s)
    };
    let payload = match wt {
        0 => {
            varint(buf, pos)?;
            &[][..]
        }
        1 => skip(pos, 8)?,
        2 => {
            let n = usize::try_from(varint(buf, pos)?).ok()?;
            skip(pos, n)?
        }
        5 => skip(pos, 4)?,
        _ => return None,
    };
    Some((num, wt, payload))
}

/// Checks the request's series and sample counts against the limits.
pub(crate) fn check_counts(
    buf: &[u8],
    max_series: usize,
    max_samples: usize,
) -> Result<(), Exceeded> {
    let (mut series, mut samples) = (0usize, 0usize);
    let mut pos = 0;
    while pos < buf.len() {
        let Some((num, wt, ts)) = field(buf, &mut pos) else {
            return Ok(());
        };
        if num != 1 || wt != 2 {
            continue;
        }
        series += 1;
        if series > max_series {
            return Err(Exceeded::Series { limit: max_series });
        }
        let mut p = 0;
        while p < ts.len() {
            let Some((n, w, _)) = field(ts, &mut p) else {
                return Ok(());
            };
            if (n == 2 || n == 4) && w == 2 {
                samples += 1;
                if samples > max_samples {
                    return Err(Exceeded::Samples { limit: max_samples });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use watchfire_remotewrite::proto::{Label, Sample, TimeSeries, WriteRequest};

    fn check(raw: &[u8], max_series: usize, max_samples: usize, want: Result<(), Exceeded>) {
        assert_eq!(check_counts(raw, max_series, max_samples), want, "{raw:?}");
    }

    #[test]
    fn counts_series_and_samples() {
        let ts = |n: usize| TimeSeries {
            labels: vec![Label {
                name: "__name__".into(),
                value: "x".into(),
            }],
            samples: vec![
                Sample {
                    value: 1.0,
                    timestamp: 1
                };
                n
            ],
            exemplars: vec![],
            histograms: vec![],
        };
        let req = WriteRequest {
            timeseries: vec![ts(3), ts(0), ts(2)],
            metadata: vec![],
        }
        .encode_to_vec();
        check(&req, 3, 5, Ok(()));
        check(&req, 2, 5, Err(Exceeded::Series { limit: 2 }));
        check(&req, 3, 4, Err(Exceeded::Samples { limit: 4 }));
        // empty series: two bytes each
        let bomb: Vec<u8> = [0x0a, 0x00].repeat(11);
        check(&bomb, 10, 10, Err(Exceeded::Series { limit: 10 }));
        // malformed input ends the scan without an error
        check(&[0x0a, 0xff], 0, 0, Ok(()));
        check(&[0x0b], 0, 0, Ok(()));
        check(&[0xff; 11], 0, 0, Ok(()));
        check(&[], 0, 0, Ok(()));
    }
}
