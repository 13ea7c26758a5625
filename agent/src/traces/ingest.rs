//! The part both receivers share: process a decoded request
//! ([`crate::traces::process`]) and queue what is kept for the forwarder,
//! or push back.
//!
//! The queue is bounded by spans: a semaphore with `queue_max_spans`
//! permits; each queued batch holds permits for its spans until the
//! upstream accepted them (or refused them for good). When the kept spans
//! of a request do not fit, nothing of it is taken and the receiver answers
//! `RESOURCE_EXHAUSTED` (gRPC) or 429 with `Retry-After` (HTTP), so memory
//! stays bounded while the upstream is slow or down and the client keeps
//! the spans and retries.
//!
//! With a disk buffer ([`crate::traces::buffer`]) every taken request is
//! first committed to disk; a request that does not fit in memory but fits
//! on disk is taken *on disk only* (its [`Batch`] carries no spans and is
//! read back by the forwarder), and the push back comes when the disk
//! buffer is full.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use watchfire_redact::{Limits, Redactor};

use crate::traces::buffer::{self, SpanBuffer, SpanBufferError, Stored};
use crate::traces::metrics::TraceMetrics;
use crate::traces::process::{self, Processed};
use crate::traces::redact::AttrRedactor;
use crate::traces::sampling::Policy;
use crate::traces::spanmetrics::SpanMetrics;

/// How long clients are asked to wait when the queue is full.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Kept spans on their way to the upstream, holding their queue permits.
pub struct Batch {
    /// `None`: on disk only (spilled, or left by a previous run); read
    /// back from record `record`.
    pub spans: Option<Vec<ResourceSpans>>,
    pub count: usize,
    /// `None` for a batch on disk only.
    pub permit: Option<OwnedSemaphorePermit>,
    /// Its disk buffer record, deleted once the upstream answered.
    pub record: Option<u64>,
}

/// Why a request was not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IngestError {
    #[error("the agent's trace queue is full; retry later")]
    Backpressure,
    #[error("request keeps {n} spans, more than the queue holds ({max}); send smaller batches")]
    TooManySpans { n: usize, max: usize },
    #[error("the agent is shutting down")]
    Closed,
    /// The disk buffer could not commit (retryable: UNAVAILABLE / 503).
    #[error("{0}")]
    Disk(String),
}

/// Processing settings and the queue.
pub struct Ingest {
    redactor: Arc<Redactor>,
    limits: Limits,
    policy: Policy,
    metrics: Arc<TraceMetrics>,
    span_metrics: Option<Arc<SpanMetrics>>,
    buffer: Option<Arc<SpanBuffer>>,
    tx: mpsc::UnboundedSender<Batch>,
    permits: Arc<Semaphore>,
    capacity: usize,
    closed: AtomicBool,
}

impl Ingest {
    /// A new ingest stage and the receiving end of its queue.
    pub fn new(
        redactor: Arc<Redactor>,
        limits: Limits,
        policy: Policy,
        metrics: Arc<TraceMetrics>,
        span_metrics: Option<Arc<SpanMetrics>>,
        queue_max_spans: usize,
        buffer: Option<Arc<SpanBuffer>>,
    ) -> (Arc<Ingest>, mpsc::UnboundedReceiver<Batch>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let capacity = queue_max_spans.min(Semaphore::MAX_PERMITS);
        (
            Arc::new(Ingest {
                redactor,
                limits,
                policy,
                metrics,
                span_metrics,
                buffer,
                tx,
                permits: Arc::new(Semaphore::new(capacity)),
                capacity,
                closed: AtomicBool::new(false),
            }),
            rx,
        )
    }

    pub fn metrics(&self) -> &TraceMetrics {
        &self.metrics
    }

    /// The disk buffer, when on.
    pub fn buffer(&self) -> Option<&Arc<SpanBuffer>> {
        self.buffer.as_ref()
    }

    /// Queues the records a previous run left in the disk buffer (read
    /// back by the forwarder when it reaches them).
    pub fn requeue(&self, stored: &[Stored]) {
        for s in stored {
            let _ = self.tx.send(Batch {
                spans: None,
                count: s.spans,
                permit: None,
                record: Some(s.seq),
            });
        }
    }

    /// Stops taking requests (they are answered as unavailable).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Refreshes the queue gauge.
    pub fn update_gauge(&self) {
        let used = self.capacity - self.permits.available_permits().min(self.capacity);
        self.metrics.queue_spans.set(used as i64);
    }

    /// Processes and queues one request (on a blocking thread: redaction
    /// is CPU work).
    pub async fn export(
        self: &Arc<Self>,
        protocol: &'static str,
        req: ExportTraceServiceRequest,
    ) -> Result<ExportTraceServiceResponse, IngestError> {
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.export_blocking(protocol, req)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "trace processing task failed");
                Err(IngestError::Closed)
            }
        }
    }

    /// [`Ingest::export`] on the calling thread.
    pub fn export_blocking(
        &self,
        protocol: &'static str,
        req: ExportTraceServiceRequest,
    ) -> Result<ExportTraceServiceResponse, IngestError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(IngestError::Closed);
        }
        let mut stats = self.redactor.stats();
        let ar = AttrRedactor {
            redactor: &self.redactor,
            limits: self.limits,
        };
        let Processed {
            kept,
            outcome,
            observations,
        } = process::process(
            req,
            &ar,
            &self.policy,
            self.span_metrics.is_some(),
            &mut stats,
        );
        let n = outcome.kept_total() as usize;
        let permit = if n == 0 {
            None
        } else if n > self.capacity {
            return Err(IngestError::TooManySpans {
                n,
                max: self.capacity,
            });
        } else {
            let Ok(n32) = u32::try_from(n) else {
                return Err(IngestError::TooManySpans {
                    n,
                    max: self.capacity,
                });
            };
            match self.permits.clone().try_acquire_many_owned(n32) {
                Ok(p) => Some(p),
                Err(_) if self.buffer.is_some() => None,
                Err(_) => return Err(IngestError::Backpressure),
            }
        };
        if n > 0 {
            let mut record = None;
            let mut spans = Some(kept);
            if let Some(b) = &self.buffer {
                let req = ExportTraceServiceRequest {
                    resource_spans: spans.take().unwrap_or_default(),
                };
                let rec = buffer::encode_record(&req, n);
                record = Some(b.append(rec).map_err(|e| match e {
                    SpanBufferError::Full { .. } => IngestError::Backpressure,
                    other => IngestError::Disk(other.to_string()),
                })?);
                // In memory too when it fits there, else on disk only.
                spans = permit.is_some().then_some(req.resource_spans);
            }
            let batch = Batch {
                spans,
                count: n,
                permit,
                record,
            };
            if self.tx.send(batch).is_err() {
                return Err(IngestError::Closed);
            }
        }
        self.update_gauge();
        // Committed: count.
        let m = &self.metrics;
        m.spans_received
            .with_label_values(&[protocol])
            .inc_by(outcome.received);
        for (r, c) in &outcome.rejected {
            m.spans_rejected.with_label_values(&[r]).inc_by(*c);
        }
        m.dropped("redaction", outcome.redaction_failed_total());
        m.dropped("sampling", outcome.sampled_out);
        for (r, c) in &outcome.kept {
            m.spans_kept.with_label_values(&[r]).inc_by(*c);
        }
        m.add_redactions(&stats);
        if let Some(sm) = &self.span_metrics {
            sm.record(&observations);
        }
        let rejected = outcome.rejected_total();
        m.request(protocol, if rejected > 0 { "partial" } else { "ok" });
        let partial_success = (rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: rejected as i64,
            error_message: outcome.first_rejection.unwrap_or_default(),
        });
        Ok(ExportTraceServiceResponse { partial_success })
    }
}
