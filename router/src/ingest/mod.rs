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
//! - Before decoding, a cheap scan of the protobuf fields counts the
//!   series and samples: more than `max_series_per_request` or
//!   `max_samples_per_request` → 400 (reasons `too_many_series`,
//!   `too_many_samples`), so a small body of empty entries cannot make the
//!   decoder allocate hundreds of megabytes.
//! - Decompressed bytes in flight (decoding and converting) are bounded by
//!   `max_inflight_decompressed_bytes`; a request that cannot get room
//!   within `inflight_wait` → 503 with `Retry-After` (senders retry 5xx).
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
mod scan;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use prometheus::Registry;
use prost::Message;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use convert::{InvalidSeries, RequestCounts, SeriesError};
pub use metrics::IngestMetrics;

use crate::store::{AppendError, BatchError, BatchOutcome, Store};

/// Receiver limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// Largest accepted (compressed) body; default 32 MiB.
    pub max_body_bytes: usize,
    /// Largest accepted decompressed body; default 64 MiB.
    pub max_decompressed_bytes: usize,
    /// Most `timeseries` entries in one request; default 100,000.
    pub max_series_per_request: usize,
    /// Most samples plus histograms in one request; default 1,000,000.
    pub max_samples_per_request: usize,
    /// Decompressed bytes all requests being decoded may hold together;
    /// default 256 MiB.
    pub max_inflight_decompressed_bytes: usize,
    /// How long a request waits for room under that bound before a 503;
    /// default 5 s.
    pub inflight_wait: Duration,
    /// How far ahead of the receiver's clock a sample may be, in ms
    /// (default 10 minutes, as Prometheus).
    pub max_future_ms: i64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_body_bytes: 32 << 20,
            max_decompressed_bytes: 64 << 20,
            max_series_per_request: 100_000,
            max_samples_per_request: 1_000_000,
            max_inflight_decompressed_bytes: 256 << 20,
            inflight_wait: Duration::from_secs(5),
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
    #[error("request has more than {limit} series; split it into smaller requests")]
    TooManySeries { limit: usize },
    #[error("request has more than {limit} samples; split it into smaller requests")]
    TooManySamples { limit: usize },
    #[error("too many requests being decoded; retry later")]
    Overloaded,
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
            IngestError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// A bounded metric label for the refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::ContentType(_) => "content_type",
            IngestError::Encoding(_) => "content_encoding",
            IngestError::TooLarge { .. } | IngestError::DecompressedTooLarge { .. } => "too_large",
            IngestError::TooManySeries { .. } => "too_many_series",
            IngestError::TooManySamples { .. } => "too_many_samples",
            IngestError::Overloaded => "overloaded",
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
    /// One permit per decompressed byte in flight.
    inflight: Arc<Semaphore>,
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
                metrics: IngestMetrics::new(registry)?,
                inflight: Arc::new(Semaphore::new(inflight_total(&cfg))),
                cfg,
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

    /// The decompressed size a body announces, checked against the limit.
    fn announced_size(&self, body: &[u8]) -> Result<usize, IngestError> {
        let limit = self.inner.cfg.max_decompressed_bytes;
        let size = snap::raw::decompress_len(body)?;
        if size > limit {
            return Err(IngestError::DecompressedTooLarge { size, limit });
        }
        Ok(size)
    }

    /// Permits for `size` decompressed bytes (a body larger than the whole
    /// budget takes all of it).
    fn permits_for(&self, size: usize) -> u32 {
        let total = inflight_total(&self.inner.cfg);
        u32::try_from(size.clamp(1, total)).unwrap_or(u32::MAX)
    }

    /// Waits (up to `inflight_wait`) for room for `size` decompressed bytes.
    async fn reserve(&self, size: usize) -> Result<OwnedSemaphorePermit, IngestError> {
        let n = self.permits_for(size);
        let sem = self.inner.inflight.clone();
        match tokio::time::timeout(self.inner.cfg.inflight_wait, sem.acquire_many_owned(n)).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(IngestError::Overloaded),
        }
    }

    /// Decompresses, decodes, validates and appends one snappy-compressed
    /// `WriteRequest`, updating the sample metrics. Does not wait for room
    /// under `max_inflight_decompressed_bytes`: refuses with
    /// [`IngestError::Overloaded`] instead.
    pub fn ingest_body(&self, body: &[u8]) -> Result<WriteSummary, IngestError> {
        self.inner.metrics.received_bytes.inc_by(body.len() as u64);
        let size = self.announced_size(body)?;
        let _permit = self
            .inner
            .inflight
            .clone()
            .try_acquire_many_owned(self.permits_for(size))
            .map_err(|_| IngestError::Overloaded)?;
        self.ingest_reserved(body)
    }

    /// [`ingest_body`](Self::ingest_body) once room is reserved.
    fn ingest_reserved(&self, body: &[u8]) -> Result<WriteSummary, IngestError> {
        let cfg = &self.inner.cfg;
        let m = &self.inner.metrics;
        self.announced_size(body)?;
        let raw = snap::raw::Decoder::new().decompress_vec(body)?;
        scan::check_counts(
            &raw,
            cfg.max_series_per_request,
            cfg.max_samples_per_request,
        )
        .map_err(|e| match e {
            scan::Exceeded::Series { limit } => IngestError::TooManySeries { limit },
            scan::Exceeded::Samples { limit } => IngestError::TooManySamples { limit },
        })?;
        let req = proto::WriteRequest::decode(raw.as_slice())?;
        drop(raw);
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
        if code == StatusCode::SERVICE_UNAVAILABLE {
            return (code, [(header::RETRY_AFTER, "1")], body).into_response();
        }
        (code, body).into_response()
    }
}

/// The in-flight budget in permits (a semaphore holds at most
/// `Semaphore::MAX_PERMITS`, and one acquisition at most `u32::MAX`).
fn inflight_total(cfg: &IngestConfig) -> usize {
    cfg.max_inflight_decompressed_bytes
        .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize))
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
        Ok(b) => ingest_http(&st, b).await,
    };
    st.respond(r)
}

/// Reserves room for the decompressed body (waiting a bounded time), then
/// ingests it.
async fn ingest_http(st: &IngestState, b: Bytes) -> Result<(), IngestError> {
    st.inner.metrics.received_bytes.inc_by(b.len() as u64);
    let size = st.announced_size(&b)?;
    let permit = st.reserve(size).await?;
    // Large bodies take milliseconds to decode: keep them off the async
    // workers.
    let r = if b.len() > BLOCKING_THRESHOLD {
        let st2 = st.clone();
        tokio::task::spawn_blocking(move || st2.ingest_reserved(&b).map(|_| ()))
            .await
            .unwrap_or_else(|e| Err(IngestError::Body(format!("ingest task failed: {e}"))))
    } else {
        st.ingest_reserved(&b).map(|_| ())
    };
    drop(permit);
    r
}

/// `POST /api/v1/write`, with the body limit applied.
pub fn routes(state: IngestState) -> axum::Router {
    let limit = state.inner.cfg.max_body_bytes;
    axum::Router::new()
        .route("/api/v1/write", post(write))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    /// A snappy body of `n` zero bytes (not a valid request: it only has
    /// to get as far as the in-flight reservation).
    fn body(n: usize) -> Vec<u8> {
        snap::raw::Encoder::new()
            .compress_vec(&vec![0u8; n])
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn inflight_budget_makes_requests_wait_then_503() {
        let cfg = IngestConfig {
            max_inflight_decompressed_bytes: 1000,
            inflight_wait: Duration::from_secs(2),
            ..IngestConfig::default()
        };
        let st = IngestState::new(Arc::new(Store::default()), cfg, &Registry::new()).unwrap();
        let app = routes(st.clone());
        // Another request holds 900 of the 1000 bytes.
        let held = st
            .inner
            .inflight
            .clone()
            .acquire_many_owned(900)
            .await
            .unwrap();
        let post = |n: usize| {
            app.clone().oneshot(
                Request::post("/api/v1/write")
                    .body(Body::from(body(n)))
                    .unwrap(),
            )
        };
        // 100 bytes fit: the request goes on (and fails later, as protobuf).
        let resp = post(100).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        // 500 bytes wait, then give up with 503 and Retry-After.
        let t0 = tokio::time::Instant::now();
        let resp = post(500).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        assert!(t0.elapsed() >= Duration::from_secs(2));
        // The sync path does not wait.
        assert!(matches!(
            st.ingest_body(&body(500)),
            Err(IngestError::Overloaded)
        ));
        drop(held);
        let resp = post(500).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(st.inner.inflight.available_permits(), 1000);
    }
}
