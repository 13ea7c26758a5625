//! Decoding OTLP/HTTP request bodies and encoding responses. **Pure.**
//!
//! - `Content-Type: application/x-protobuf` (binary protobuf) or
//!   `application/json` (OTLP/JSON: lowerCamelCase field names, trace and
//!   span ids as hex strings, enums as integers, 64-bit integers as numbers
//!   or strings; unknown fields are ignored, as the spec asks).
//! - `Content-Encoding: gzip` or none; the decompressed size is bounded by
//!   the same limit as the body, so a small gzip bomb is refused as too
//!   large.
//! - Errors name the place: protobuf errors give the message and field
//!   path, JSON errors the line and column.
//!
//! Responses use the request's encoding: `ExportTraceServiceResponse` on
//! success, `google.rpc.Status` on error.

use std::io::Read;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

/// Body encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Protobuf,
    Json,
}

impl Format {
    /// From a `Content-Type` value (parameters ignored). `None` for types
    /// OTLP/HTTP does not define.
    pub fn from_content_type(ct: &str) -> Option<Format> {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Format::Protobuf),
            "application/json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("request of more than {limit} bytes (after decompression)")]
    TooLarge { limit: usize },
    #[error("unsupported Content-Encoding {0:?} (want gzip or none)")]
    Encoding(String),
    #[error("invalid gzip body: {0}")]
    Gzip(String),
    #[error("invalid protobuf ExportTraceServiceRequest: {0}")]
    Protobuf(String),
    #[error("invalid OTLP/JSON ExportTraceServiceRequest: {0}")]
    Json(String),
}

impl DecodeError {
    /// The metric outcome: `too_large`, `unsupported` or `invalid`.
    pub fn outcome(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::Encoding(_) => "unsupported",
            _ => "invalid",
        }
    }
}

/// Decompresses `body` per `content_encoding`, at most `limit` bytes.
pub fn decompress(
    body: &[u8],
    content_encoding: Option<&str>,
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    let enc = content_encoding.map(|s| s.trim().to_ascii_lowercase());
    match enc.as_deref() {
        None | Some("") | Some("identity") => {
            if body.len() > limit {
                return Err(DecodeError::TooLarge { limit });
            }
            Ok(body.to_vec())
        }
        Some("gzip") => {
            let mut out = Vec::new();
            let mut r = flate2::read::GzDecoder::new(body).take(limit as u64 + 1);
            r.read_to_end(&mut out)
                .map_err(|e| DecodeError::Gzip(e.to_string()))?;
            if out.len() > limit {
                return Err(DecodeError::TooLarge { limit });
            }
            Ok(out)
        }
        Some(other) => Err(DecodeError::Encoding(other.to_string())),
    }
}

/// Decodes an uncompressed body.
pub fn decode(body: &[u8], format: Format) -> Result<ExportTraceServiceRequest, DecodeError> {
    match format {
        Format::Protobuf => ExportTraceServiceRequest::decode(body)
            .map_err(|e| DecodeError::Protobuf(e.to_string())),
        Format::Json => serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string())),
    }
}

/// `google.rpc.Status`, without details.
#[derive(Clone, PartialEq, ::prost::Message, serde::Serialize)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// gRPC code numbers used in HTTP error bodies.
pub mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const UNAVAILABLE: i32 = 14;
}

/// An error body in `format`.
pub fn status_body(format: Format, code: i32, message: &str) -> Vec<u8> {
    let st = RpcStatus {
        code,
        message: message.to_string(),
    };
    match format {
        Format::Protobuf => st.encode_to_vec(),
        Format::Json => serde_json::to_vec(&st).unwrap_or_default(),
    }
}

/// A success body in `format`.
pub fn response_body(format: Format, resp: &ExportTraceServiceResponse) -> Vec<u8> {
    match format {
        Format::Protobuf => resp.encode_to_vec(),
        Format::Json => serde_json::to_vec(resp).unwrap_or_default(),
    }
}
