//! The remote_write 1.0 receiver: `POST /api/v1/write` with a
//! snappy-block-compressed `prometheus.WriteRequest`.
//!
//! Behaviour, following Prometheus's `storage/remote/write_handler.go`
//! for 1.0:
//! - `Content-Type` empty or `application/x-protobuf` (a `proto=` parameter
//!   must name `prometheus.WriteRequest`; 2.0 messages get 415);
//!   `Content-Encoding` empty or `snappy` (else 415). The
//!   `X-Prometheus-Remote-Write-Version` header is not checked (upstream
//!   does not for 1.0).
//! - A body over `max_body_bytes` → 413; one whose snappy header announces
//!   more than `max_decompressed_bytes` → 413.
//! - Not snappy, truncated, bad protobuf, non-UTF-8 strings → 400.
//! - A series with unsorted or duplicate label names, an empty label name,
//!   no metric name, too many labels, too-long names or values, or a sample
//!   more than `max_future_ms` ahead → 400, and **nothing** of the request
//!   is written (stricter than upstream, which silently skips such series
//!   with a 204; a 400 tells the sender).
//! - An out-of-order, duplicate-timestamp or too-old sample → 400 and
//!   nothing of the request is written: upstream appends through one
//!   appender and rolls the whole request back on these errors.
//! - New series over the series limit → 429; the samples of existing
//!   series and of the series created before the limit was hit **are
//!   stored**, the rest are dropped; the body says how many.
//! - Success → 204. Exemplars are accepted and ignored.
//!
//! [`IngestState::ingest_body`] is the same path without HTTP, for other
//! transports (the Kafka metrics topic carries the same payloads).

mod convert;
pub mod metrics;
pub mod proto;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use prometheus::Registry;
use prost::Message;

pub use convert::{InvalidSeries, RequestCounts, SeriesError};
pub use metrics::IngestMetrics;

use crate::store::{AppendError, BatchError, BatchOutcome, Store};

/// Receiver limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// Largest accepted (compressed) body; default 32 MiB.
    pub max_body_bytes: usize,
    /// Largest accepted decompressed body; default 128 MiB.
    pub max_decompressed_bytes: usize,
    /// How far ahead of the receiver's clock a sample may be, in ms
    /// (default 10 minutes, as Prometheus).
    pub max_future_ms: i64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_body_bytes: 32 << 20,
            max_decompressed_bytes: 128 << 20,
            max_future_ms: 600_000,
        }
    }
}

/// Why a write was refused (entirely or in part).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unsupported Content-Type {0:?}: expected application/x-protobuf (remote_write 1.0, proto=prometheus.WriteRequest)")]
    ContentType(String),
    #[error("unsupported Content-Encoding {0:?}: only snappy is accepted")]
    Encoding(String),
    #[error("request body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("decompressed body would be {size} bytes, over the limit of {limit}")]
    DecompressedTooLarge { size: usize, limit: usize },
    #[error("body is not valid snappy (block format): {0}")]
    Snappy(#[from] snap::Error),
    #[error("body is not a valid prometheus.WriteRequest: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("could not read the request body: {0}")]
    Body(String),
    #[error("invalid series: {0}; nothing was written")]
    Invalid(#[from] InvalidSeries),
    #[error("{0}; nothing was written")]
    Store(#[from] BatchError),
    #[error("series limit reached: {} new series and their {} samples refused; {} samples stored", .0.series_limited, .0.samples_limited, .0.appended)]
    SeriesLimit(BatchOutcome),
}

impl IngestError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::ContentType(_) | IngestError::Encoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IngestError::TooLarge { .. } | IngestError::DecompressedTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            IngestError::SeriesLimit(_) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// A bounded metric label for the refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::ContentType(_) => "content_type",
            IngestError::Encoding(_) => "content_encoding",
            IngestError::TooLarge { .. } | IngestError::DecompressedTooLarge { .. } => "too_large",
            IngestError::Snappy(_) => "snappy",
            IngestError::Protobuf(_) => "protobuf",
            IngestError::Body(_) => "body",
            IngestError::Invalid(_) => "invalid_series",
            IngestError::Store(e) => match e.append_error() {
                AppendError::OutOfOrder { .. } => "out_of_order",
                AppendError::DuplicateTimestamp { .. } => "duplicate_timestamp",
                AppendError::TooOld { .. } => "too_old",
                _ => "invalid_labels",
            },
            IngestError::SeriesLimit(_) => "series_limit",
        }
    }
}

/// What a fully accepted write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteSummary {
    pub counts: RequestCounts,
    pub outcome: BatchOutcome,
}

struct Inner {
    store: Arc<Store>,
    cfg: IngestConfig,
    metrics: IngestMetrics,
    clock: Box<dyn Fn() -> i64 + Send + Sync>,
}

/// Shared receiver state (cheap to clone).
#[derive(Clone)]
pub struct IngestState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for IngestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestState")
            .field("cfg", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl IngestState {
    /// A receiver writing into `store`, registering its metrics in
    /// `registry`, using the system clock for the future-sample check.
    pub fn new(
        store: Arc<Store>,
        cfg: IngestConfig,
        registry: &Registry,
    ) -> Result<Self, prometheus::Error> {
        Self::with_clock(store, cfg, registry, system_now_ms)
    }

    /// As [`IngestState::new`] with an injected clock (ms since epoch).
    pub fn with_clock(
        store: Arc<Store>,
        cfg: IngestConfig,
        registry: &Registry,
        clock: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> Result<Self, prometheus::Error> {
        Ok(IngestState {
            inner: Arc::new(Inner {
                store,
                cfg,
                metrics: IngestMetrics::new(registry)?,
                clock: Box::new(clock),
            }),
        })
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    pub fn config(&self) -> &IngestConfig {
        &self.inner.cfg
    }

    /// Decompresses, decodes, validates and appends one snappy-compressed
    /// `WriteRequest`, updating the sample metrics.
    pub fn ingest_body(&self, body: &[u8]) -> Result<WriteSummary, IngestError> {
        let cfg = &self.inner.cfg;
        let m = &self.inner.metrics;
        m.received_bytes.inc_by(body.len() as u64);
        let size = snap::raw::decompress_len(body)?;
        if size > cfg.max_decompressed_bytes {
            return Err(IngestError::DecompressedTooLarge {
                size,
                limit: cfg.max_decompressed_bytes,
            });
        }
        let raw = snap::raw::Decoder::new().decompress_vec(body)?;
        let req = proto::WriteRequest::decode(raw.as_slice())?;
        let max_t = (self.inner.clock)().saturating_add(cfg.max_future_ms);
        let (batches, counts) = convert::to_batches(req, max_t, cfg.max_future_ms)?;
        m.exemplars_ignored.inc_by(counts.exemplars as u64);
        let total = counts.samples + counts.histograms;
        let outcome = match self.inner.store.append_batch(&batches) {
            Ok(o) => o,
            Err(e) => {
                m.samples("rejected_invalid", total);
                return Err(e.into());
            }
        };
        m.samples("accepted", outcome.appended);
        m.samples("duplicate", outcome.duplicates);
        m.samples("rejected_series_limit", outcome.samples_limited);
        m.samples("conflict", outcome.conflicts);
        if outcome.series_limited > 0 {
            return Err(IngestError::SeriesLimit(outcome));
        }
        Ok(WriteSummary { counts, outcome })
    }

    fn check_headers(&self, headers: &HeaderMap) -> Result<(), IngestError> {
        if let Some(ct) = headers.get(header::CONTENT_TYPE) {
            let s = ct
                .to_str()
                .map_err(|_| IngestError::ContentType("<not ASCII>".into()))?;
            check_content_type(s)?;
        }
        if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
            let s = enc.to_str().unwrap_or("<not ASCII>");
            if !s.is_empty() && !s.trim().eq_ignore_ascii_case("snappy") {
                return Err(IngestError::Encoding(s.to_string()));
            }
        }
        Ok(())
    }

    fn respond(&self, r: Result<(), IngestError>) -> Response {
        let m = &self.inner.metrics;
        let (code, body) = match r {
            Ok(_) => (StatusCode::NO_CONTENT, String::new()),
            Err(e) => {
                m.errors.with_label_values(&[e.reason()]).inc();
                let code = e.status();
                if code == StatusCode::TOO_MANY_REQUESTS {
                    tracing::warn!(error = %e, "remote_write: series limit");
                } else {
                    tracing::debug!(error = %e, "remote_write request refused");
                }
                (code, format!("{e}\n"))
            }
        };
        m.requests.with_label_values(&[code.as_str()]).inc();
        (code, body).into_response()
    }
}

/// Bodies above this many bytes are ingested on the blocking pool.
const BLOCKING_THRESHOLD: usize = 256 * 1024;

/// Upstream's 1.0 rule: media type first, then `key=value` parameters, of
/// which `proto` must name the 1.0 message.
fn check_content_type(ct: &str) -> Result<(), IngestError> {
    let ct = ct.trim();
    if ct.is_empty() {
        return Ok(());
    }
    let bad = || IngestError::ContentType(ct.to_string());
    let mut parts = ct.split(';');
    if parts.next().map(str::trim) != Some("application/x-protobuf") {
        return Err(bad());
    }
    for p in parts {
        let mut kv = p.trim().splitn(2, '=');
        let (k, v) = match (kv.next(), kv.next()) {
            (Some(k), Some(v)) => (k.trim(), v.trim()),
            _ => return Err(bad()),
        };
        if k == "proto" && v != "prometheus.WriteRequest" {
            return Err(bad());
        }
    }
    Ok(())
}

async fn write(
    State(st): State<IngestState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = st.check_headers(&headers).and_then(|()| {
        body.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                IngestError::TooLarge {
                    limit: st.inner.cfg.max_body_bytes,
                }
            } else {
                IngestError::Body(rej.body_text())
            }
        })
    });
    let r = match body {
        Err(e) => Err(e),
        // Large bodies take milliseconds to decode: keep them off the
        // async workers.
        Ok(b) if b.len() > BLOCKING_THRESHOLD => {
            let st2 = st.clone();
            tokio::task::spawn_blocking(move || st2.ingest_body(&b).map(|_| ()))
                .await
                .unwrap_or_else(|e| Err(IngestError::Body(format!("ingest task failed: {e}"))))
        }
        Ok(b) => st.ingest_body(&b).map(|_| ()),
    };
    st.respond(r)
}

/// `POST /api/v1/write`, with the body limit applied.
pub fn routes(state: IngestState) -> axum::Router {
    let limit = state.inner.cfg.max_body_bytes;
    axum::Router::new()
        .route("/api/v1/write", post(write))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
