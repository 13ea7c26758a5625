//! One OTLP export attempt to the upstream, over gRPC
//! (`opentelemetry-proto`'s tonic client) or HTTP/protobuf (`reqwest`),
//! gzip-compressed unless configured off. Results are classified as the
//! OTLP spec says: gRPC `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`,
//! `OUT_OF_RANGE`, `UNAVAILABLE`, `DATA_LOSS` and `RESOURCE_EXHAUSTED`, and
//! HTTP 429, 502, 503, 504 and connection errors are retryable (with the
//! server's `Retry-After` when given); anything else is permanent.

use std::io::Write;
use std::str::FromStr;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use crate::traces::config::{ExportConfig, Protocol};

/// A failed attempt.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExportError {
    #[error("retryable: {msg}")]
    Retryable {
        msg: String,
        retry_after: Option<Duration>,
    },
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Why the exporter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    #[error("traces.export.endpoint: {0}")]
    Endpoint(#[from] tonic::transport::Error),
    #[error("traces.export: HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// The upstream client.
pub enum Exporter {
    Grpc {
        client: TraceServiceClient<Channel>,
        headers: Vec<(
            MetadataKey<tonic::metadata::Ascii>,
            MetadataValue<tonic::metadata::Ascii>,
        )>,
        timeout: Duration,
    },
    Http {
        client: reqwest::Client,
        url: String,
        headers: Vec<(String, String)>,
        gzip: bool,
    },
}

/// Whether a gRPC code is worth retrying.
pub fn retryable_code(c: Code) -> bool {
    matches!(
        c,
        Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unavailable
            | Code::DataLoss
            | Code::ResourceExhausted
    )
}

/// Whether an HTTP status is worth retrying.
pub fn retryable_status(s: u16) -> bool {
    matches!(s, 429 | 502 | 503 | 504)
}

/// `Retry-After` as seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(v: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let t = httpdate::parse_http_date(v).ok()?;
    Some(t.duration_since(now).unwrap_or(Duration::ZERO))
}

impl Exporter {
    /// Builds the client; connections are made lazily.
    pub fn new(cfg: &ExportConfig) -> Result<Exporter, ExporterError> {
        match cfg.protocol {
            Protocol::Grpc => {
                let ch = Endpoint::from_shared(cfg.endpoint.clone())?
                    .connect_timeout(cfg.timeout)
                    .timeout(cfg.timeout)
                    .connect_lazy();
                let mut client =
                    TraceServiceClient::new(ch).accept_compressed(CompressionEncoding::Gzip);
                if cfg.gzip {
                    client = client.send_compressed(CompressionEncoding::Gzip);
                }
                let headers = cfg
                    .headers
                    .iter()
                    .filter_map(|(k, v)| {
                        let key = MetadataKey::from_str(&k.to_ascii_lowercase()).ok();
                        let val = MetadataValue::try_from(v.as_str()).ok();
                        if key.is_none() || val.is_none() {
                            tracing::warn!(header = %k, "traces.export.headers: not valid gRPC metadata; skipped");
                        }
                        Some((key?, val?))
                    })
                    .collect();
                Ok(Exporter::Grpc {
                    client,
                    headers,
                    timeout: cfg.timeout,
                })
            }
            Protocol::Http => Ok(Exporter::Http {
                client: reqwest::Client::builder().timeout(cfg.timeout).build()?,
                url: cfg.endpoint.clone(),
                headers: cfg.headers.clone(),
                gzip: cfg.gzip,
            }),
        }
    }

    /// One attempt; `Ok` holds the number of spans the upstream rejected
    /// in a partial success.
    pub async fn export(&mut self, req: ExportTraceServiceRequest) -> Result<i64, ExportError> {
        match self {
            Exporter::Grpc {
                client,
                headers,
                timeout,
            } => {
                let mut r = tonic::Request::new(req);
                r.set_timeout(*timeout);
                for (k, v) in headers.iter() {
                    r.metadata_mut().insert(k.clone(), v.clone());
                }
                match client.export(r).await {
                    Ok(resp) => Ok(rejected(&resp.into_inner())),
                    Err(st) if retryable_code(st.code()) => Err(ExportError::Retryable {
                        msg: format!("{:?}: {}", st.code(), st.message()),
                        retry_after: None,
                    }),
                    Err(st) => Err(ExportError::Permanent(format!(
                        "{:?}: {}",
                        st.code(),
                        st.message()
                    ))),
                }
            }
            Exporter::Http {
                client,
                url,
                headers,
                gzip,
            } => {
                let mut body = req.encode_to_vec();
                let mut rb = client
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf");
                if *gzip {
                    let mut enc =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    if enc.write_all(&body).is_ok() {
                        if let Ok(z) = enc.finish() {
                            body = z;
                            rb = rb.header("content-encoding", "gzip");
                        }
                    }
                }
                for (k, v) in headers.iter() {
                    rb = rb.header(k.as_str(), v.as_str());
                }
                let resp = rb
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| ExportError::Retryable {
                        msg: e.to_string(),
                        retry_after: None,
                    })?;
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
                let bytes = resp.bytes().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    let r = ExportTraceServiceResponse::decode(bytes.as_ref()).unwrap_or_default();
                    return Ok(rejected(&r));
                }
                let msg = format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(256)])
                );
                if retryable_status(status) {
                    Err(ExportError::Retryable { msg, retry_after })
                } else {
                    Err(ExportError::Permanent(msg))
                }
            }
        }
    }
}

fn rejected(r: &ExportTraceServiceResponse) -> i64 {
    r.partial_success
        .as_ref()
        .map_or(0, |p| p.rejected_spans.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        for (c, want) in [
            (Code::Unavailable, true),
            (Code::ResourceExhausted, true),
            (Code::DeadlineExceeded, true),
            (Code::InvalidArgument, false),
            (Code::PermissionDenied, false),
            (Code::Internal, false),
        ] {
            assert_eq!(retryable_code(c), want, "{c:?}");
        }
        for (s, want) in [
            (429, true),
            (503, true),
            (502, true),
            (504, true),
            (400, false),
            (500, false),
            (413, false),
        ] {
            assert_eq!(retryable_status(s), want, "{s}");
        }
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        for (v, want) in [
            ("5", Some(Duration::from_secs(5))),
            (
                "Sun, 06 Nov 1994 08:49:47 GMT",
                Some(Duration::from_secs(10)),
            ),
            ("Sun, 06 Nov 1994 08:49:27 GMT", Some(Duration::ZERO)),
            ("soon", None),
        ] {
            assert_eq!(parse_retry_after(v, now), want, "{v}");
        }
    }
}
