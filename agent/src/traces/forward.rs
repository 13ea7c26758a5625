//! The forwarder task: batches queued spans (up to `batch_max_spans`, or
//! what arrived within `batch_timeout` of the first) and exports each
//! batch with retry. Retryable failures back off exponentially with jitter
//! from `initial_backoff` up to `max_backoff` (or wait the upstream's
//! `Retry-After`), without limit while running: the bounded queue pushes
//! back on the receivers instead. A permanent failure drops the batch and
//! counts it. Spans leave the queue (their permits are released) only once
//! the upstream has answered.
//!
//! With a disk buffer, a batch's records are deleted from it once the
//! upstream answered; batches held on disk only are read back here.
//!
//! On shutdown the forwarder exports what is queued until the deadline;
//! what is left then stays in the disk buffer for the next start, or
//! without one is counted as dropped (`reason="shutdown"`).

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::traces::buffer::{SpanBuffer, SpanBufferError};
use crate::traces::config::ExportConfig;
use crate::traces::export::{ExportError, Exporter};
use crate::traces::ingest::{Batch, Ingest};

/// Spans accounted for by the forwarder.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ForwardReport {
    pub exported: u64,
    pub dropped: u64,
    /// Left in the disk buffer at shutdown, for the next start.
    pub buffered: u64,
}

/// Runs until the queue closes or, after `stop` gets a deadline, until the
/// queue is empty or the deadline passes.
pub async fn run(
    cfg: ExportConfig,
    mut exporter: Exporter,
    mut rx: mpsc::UnboundedReceiver<Batch>,
    ingest: Arc<Ingest>,
    mut stop: watch::Receiver<Option<Instant>>,
) -> ForwardReport {
    let mut report = ForwardReport::default();
    loop {
        let deadline = *stop.borrow();
        let first = match deadline {
            Some(_) => rx.try_recv().ok(),
            None => tokio::select! {
                b = rx.recv() => b,
                r = stop.changed() => {
                    if r.is_err() { break; }
                    continue;
                }
            },
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        let mut n = batch[0].count;
        let until = Instant::now() + cfg.batch_timeout;
        while n < cfg.batch_max_spans {
            if deadline.is_some() {
                match rx.try_recv() {
                    Ok(b) => {
                        n += b.count;
                        batch.push(b);
                    }
                    Err(_) => break,
                }
                continue;
            }
            tokio::select! {
                b = rx.recv() => match b {
                    Some(b) => { n += b.count; batch.push(b); }
                    None => break,
                },
                _ = tokio::time::sleep_until(until) => break,
                _ = stop.changed() => break,
            }
        }
        let r = send(&cfg, &mut exporter, batch, n, &ingest, &mut stop).await;
        report.exported += r.exported;
        report.dropped += r.dropped;
        report.buffered += r.buffered;
        ingest.update_gauge();
    }
    // Left behind after the deadline: on disk for the next start, or lost.
    let (mut left, mut kept) = (0u64, 0u64);
    while let Ok(b) = rx.try_recv() {
        match b.record {
            Some(_) => kept += b.count as u64,
            None => left += b.count as u64,
        }
    }
    ingest.metrics().dropped("shutdown", left);
    report.dropped += left;
    report.buffered += kept;
    ingest.update_gauge();
    report
}

/// Runs a disk buffer operation on a blocking thread.
async fn on_disk<T: Send + 'static>(
    ingest: &Ingest,
    f: impl FnOnce(&SpanBuffer) -> Result<T, SpanBufferError> + Send + 'static,
) -> Option<Result<T, SpanBufferError>> {
    let b = ingest.buffer()?.clone();
    match tokio::task::spawn_blocking(move || f(&b)).await {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(error = %e, "trace buffer task failed");
            None
        }
    }
}

/// Deletes a batch's records once the upstream answered.
async fn forget(ingest: &Ingest, records: Vec<u64>) {
    if records.is_empty() {
        return;
    }
    if let Some(Err(e)) = on_disk(ingest, move |b| b.delete(&records)).await {
        tracing::warn!(error = %e, "trace buffer: deleting sent records failed; they will be sent again after a restart");
    }
}

/// Exports one batch with retry; its permits are released on return.
async fn send(
    cfg: &ExportConfig,
    exporter: &mut Exporter,
    batch: Vec<Batch>,
    n: usize,
    ingest: &Ingest,
    stop: &mut watch::Receiver<Option<Instant>>,
) -> ForwardReport {
    let m = ingest.metrics();
    let mut resource_spans = Vec::new();
    let mut permits = Vec::with_capacity(batch.len());
    let mut records = Vec::new();
    let mut n = n;
    for b in batch {
        match b.spans {
            Some(s) => resource_spans.extend(s),
            None => {
                let Some(seq) = b.record else { continue };
                match on_disk(ingest, move |buf| buf.read(seq)).await {
                    Some(Ok((_, req))) => resource_spans.extend(req.resource_spans),
                    other => {
                        if let Some(Err(e)) = other {
                            tracing::error!(error = %e, "trace buffer: record unreadable; its spans are dropped");
                        }
                        m.dropped("disk_error", b.count as u64);
                        n -= b.count.min(n);
                    }
                }
            }
        }
        records.extend(b.record);
        permits.push(b.permit);
    }
    if resource_spans.is_empty() {
        forget(ingest, records).await;
        return ForwardReport::default();
    }
    let req = ExportTraceServiceRequest { resource_spans };
    let mut backoff = cfg.initial_backoff;
    let n64 = n as u64;
    loop {
        match exporter.export(req.clone()).await {
            Ok(rejected) => {
                let rejected = (rejected as u64).min(n64);
                m.spans_exported.inc_by(n64 - rejected);
                m.dropped("export", rejected);
                forget(ingest, records).await;
                return ForwardReport {
                    exported: n64 - rejected,
                    dropped: rejected,
                    buffered: 0,
                };
            }
            Err(ExportError::Permanent(msg)) => {
                m.export_errors.with_label_values(&["permanent"]).inc();
                m.dropped("export", n64);
                tracing::warn!(spans = n, error = %msg, "trace export refused; spans dropped");
                forget(ingest, records).await;
                return ForwardReport {
                    exported: 0,
                    dropped: n64,
                    buffered: 0,
                };
            }
            Err(ExportError::Retryable { msg, retry_after }) => {
                m.export_errors.with_label_values(&["retryable"]).inc();
                let jitter = backoff.mul_f64(fastrand::f64() * 0.2);
                let wait = retry_after
                    .unwrap_or(backoff + jitter)
                    .min(cfg.max_backoff.max(cfg.initial_backoff) * 6);
                backoff = (backoff * 2).min(cfg.max_backoff);
                tracing::debug!(spans = n, error = %msg, ?wait, "trace export failed; retrying");
                let wake = Instant::now() + wait;
                loop {
                    let deadline = *stop.borrow();
                    if let Some(d) = deadline {
                        if wake > d {
                            // Records stay on disk for the next start.
                            let on_disk = if records.is_empty() { 0 } else { n64 };
                            m.dropped("shutdown", n64 - on_disk);
                            return ForwardReport {
                                exported: 0,
                                dropped: n64 - on_disk,
                                buffered: on_disk,
                            };
                        }
                        tokio::time::sleep_until(wake).await;
                        break;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(wake) => break,
                        r = stop.changed() => if r.is_err() {
                            tokio::time::sleep_until(wake).await;
                            break;
                        },
                    }
                }
            }
        }
    }
}
