//! Prometheus remote_write 1.0 on the wire, shared by the agent's sender
//! and the router's receiver.
//!
//! - [`proto`]: the `prometheus.WriteRequest` messages, derived with
//!   `prost` (field numbers from `prompb/remote.proto` and `types.proto`).
//! - [`encode`] / [`decode`]: the body framing — protobuf, then one snappy
//!   *block* (not the framed stream format), as remote_write 1.0 requires.
//! - The HTTP header names and values a 1.0 sender sets ([`headers`]).
#![forbid(unsafe_code)]

pub mod proto;

use prost::Message;

pub use proto::WriteRequest;

/// Header names and values of a remote_write 1.0 request.
pub mod headers {
    /// `Content-Encoding` value.
    pub const CONTENT_ENCODING: &str = "snappy";
    /// `Content-Type` value.
    pub const CONTENT_TYPE: &str = "application/x-protobuf";
    /// Name of the protocol version header.
    pub const VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
    /// Its value for 1.0.
    pub const VERSION: &str = "0.1.0";
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("decompressed body would be {size} bytes, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("body is not valid snappy (block format): {0}")]
    Snappy(#[from] snap::Error),
    #[error("body is not a valid prometheus.WriteRequest: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// Serialises `req` and compresses it as one snappy block: a ready
/// remote_write 1.0 body.
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    compress(&req.encode_to_vec())
}

/// Snappy block compression of `raw`.
pub fn compress(raw: &[u8]) -> Vec<u8> {
    // Only fails when the input exceeds snappy's 4 GiB block limit.
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .unwrap_or_else(|_| Vec::new())
}

/// Decompresses one snappy block, refusing (before allocating) a body
/// whose header announces more than `max_decompressed` bytes.
pub fn decompress(body: &[u8], max_decompressed: usize) -> Result<Vec<u8>, DecodeError> {
    let size = snap::raw::decompress_len(body)?;
    if size > max_decompressed {
        return Err(DecodeError::TooLarge {
            size,
            limit: max_decompressed,
        });
    }
    Ok(snap::raw::Decoder::new().decompress_vec(body)?)
}

/// Decompresses and decodes a remote_write 1.0 body.
pub fn decode(body: &[u8], max_decompressed: usize) -> Result<WriteRequest, DecodeError> {
    let raw = decompress(body, max_decompressed)?;
    Ok(WriteRequest::decode(raw.as_slice())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{Label, Sample, TimeSeries};

    fn req(n: usize) -> WriteRequest {
        WriteRequest {
            timeseries: (0..n)
                .map(|i| TimeSeries {
                    labels: vec![Label {
                        name: "__name__".into(),
                        value: format!("m{i}"),
                    }],
                    samples: vec![Sample {
                        value: i as f64,
                        timestamp: i as i64,
                    }],
                    ..Default::default()
                })
                .collect(),
            metadata: vec![],
        }
    }

    #[test]
    fn round_trip_and_limits() {
        let check = |n: usize, limit: usize, ok: bool| {
            let body = encode(&req(n));
            match decode(&body, limit) {
                Ok(r) => {
                    assert!(ok, "n={n} limit={limit} decoded");
                    assert_eq!(r, req(n));
                }
                Err(e) => {
                    assert!(!ok, "n={n} limit={limit}: {e}");
                    assert!(matches!(e, DecodeError::TooLarge { .. }));
                }
            }
        };
        check(0, 0, true);
        check(10, 1 << 20, true);
        check(1000, 10, false);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(
            decode(b"\xff\xff\xff\xff\xff\x00", 1 << 20),
            Err(DecodeError::Snappy(_))
        ));
        let not_proto = compress(b"\x0a\xff\xff\xff");
        assert!(matches!(
            decode(&not_proto, 1 << 20),
            Err(DecodeError::Protobuf(_))
        ));
    }
}
