//! Traces (SPEC §3.3): receive OTLP, redact, sample, forward, and derive
//! span metrics.
//!
//! ```text
//! gRPC :4317 ─┐                                   ┌─ span metrics (/metrics)
//!             ├─ decode ─ validate ─ redact ─ observe ─ sample ─ queue ─ forwarder ─ upstream
//! HTTP :4318 ─┘                                                  (bounded: 429 / RESOURCE_EXHAUSTED)
//! ```
//!
//! Pure parts, without I/O: [`config`], [`sampling`], [`redact`],
//! [`spanmetrics`] (the observation; the families are prometheus
//! metrics), [`process`] and [`decode`]. The I/O edge: [`grpc`] and
//! [`http`] (receivers), [`ingest`] (the queue), [`buffer`] (the
//! optional disk buffer), [`forward`] and [`export`] (the upstream
//! client). `docs/traces.md` is the operator's
//! view.

pub mod buffer;
pub mod config;
pub mod decode;
pub mod export;
pub mod forward;
pub mod grpc;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod process;
pub mod redact;
pub mod sampling;
pub mod spanmetrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use watchfire_redact::Redactor;

use crate::traces::config::TracesConfig;
use crate::traces::forward::ForwardReport;
use crate::traces::ingest::Ingest;
use crate::traces::metrics::TraceMetrics;
use crate::traces::spanmetrics::SpanMetrics;

/// Why the trace pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("redaction rules: {0}")]
    Redaction(#[from] watchfire_redact::BuildError),
    #[error("{0}")]
    Exporter(#[from] export::ExporterError),
    #[error("{0}")]
    Buffer(#[from] buffer::SpanBufferError),
}

/// The running pipeline.
pub struct TracePipeline {
    /// Bound address of the gRPC receiver, when on.
    pub grpc_addr: Option<SocketAddr>,
    /// Bound address of the HTTP receiver, when on.
    pub http_addr: Option<SocketAddr>,
    pub metrics: Arc<TraceMetrics>,
    ingest: Arc<Ingest>,
    stop_receivers: watch::Sender<bool>,
    receivers: Vec<JoinHandle<()>>,
    stop_forwarder: watch::Sender<Option<tokio::time::Instant>>,
    forwarder: JoinHandle<ForwardReport>,
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, TracesError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| TracesError::Listen { addr, source })
}

fn local(l: &tokio::net::TcpListener, addr: SocketAddr) -> Result<SocketAddr, TracesError> {
    l.local_addr()
        .map_err(|source| TracesError::Listen { addr, source })
}

impl TracePipeline {
    /// Binds the receivers, starts the forwarder and registers the metrics
    /// on `registry`. `cfg.redaction` `None` means the engine's defaults.
    pub async fn start(
        cfg: TracesConfig,
        registry: &Registry,
    ) -> Result<TracePipeline, TracesError> {
        let redaction = cfg.redaction.clone().unwrap_or_default();
        let redactor = Arc::new(Redactor::new(&redaction)?);
        let metrics = Arc::new(TraceMetrics::new());
        metrics.register(registry);
        let span_metrics = cfg.span_metrics.as_ref().map(|c| {
            let sm = Arc::new(SpanMetrics::new(c, metrics.span_metrics_evictions.clone()));
            sm.register(registry);
            sm
        });
        let exporter = export::Exporter::new(&cfg.export)?;
        let (buffer, stored) = match &cfg.export.buffer {
            None => (None, Vec::new()),
            Some(b) => {
                let (path, max, gauge) =
                    (b.path.clone(), b.max_bytes, metrics.buffer_bytes.clone());
                let (buf, stored) = tokio::task::spawn_blocking(move || {
                    buffer::SpanBuffer::open(&path, max, gauge)
                })
                .await
                .map_err(|e| {
                    TracesError::Buffer(buffer::SpanBufferError::Dir {
                        path: b.path.display().to_string(),
                        source: std::io::Error::other(e),
                    })
                })??;
                (Some(Arc::new(buf)), stored)
            }
        };
        let (ingest, rx) = Ingest::new(
            redactor,
            redaction.limits,
            cfg.sampling,
            metrics.clone(),
            span_metrics,
            cfg.export.queue_max_spans,
            buffer,
        );
        if !stored.is_empty() {
            let spans: usize = stored.iter().map(|s| s.spans).sum();
            tracing::info!(
                records = stored.len(),
                spans,
                "trace buffer: sending spans left by the previous run"
            );
            ingest.requeue(&stored);
        }
        let (stop_receivers, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let mut receivers = Vec::new();
        let mut grpc_addr = None;
        if let Some(g) = &cfg.grpc {
            let l = bind(g.listen_address).await?;
            grpc_addr = Some(local(&l, g.listen_address)?);
            let svc = grpc::TraceGrpc::new(ingest.clone(), g.max_request_size);
            let stop = stopped(stop_rx.clone());
            receivers.push(tokio::spawn(async move {
                if let Err(e) = grpc::serve(svc, l, stop).await {
                    tracing::error!(error = %e, "OTLP/gRPC receiver failed");
                }
            }));
        }
        let mut http_addr = None;
        if let Some(h) = &cfg.http {
            let l = bind(h.listen_address).await?;
            http_addr = Some(local(&l, h.listen_address)?);
            let router = http::routes(ingest.clone(), h.max_request_size);
            let stop = stopped(stop_rx.clone());
            receivers.push(tokio::spawn(async move {
                if let Err(e) = http::serve(router, l, stop).await {
                    tracing::error!(error = %e, "OTLP/HTTP receiver failed");
                }
            }));
        }
        let (stop_forwarder, fwd_rx) = watch::channel(None);
        let forwarder = tokio::spawn(forward::run(
            cfg.export.clone(),
            exporter,
            rx,
            ingest.clone(),
            fwd_rx,
        ));
        tracing::info!(?grpc_addr, ?http_addr, upstream = %cfg.export.endpoint, "trace pipeline running");
        Ok(TracePipeline {
            grpc_addr,
            http_addr,
            metrics,
            ingest,
            stop_receivers,
            receivers,
            stop_forwarder,
            forwarder,
        })
    }

    /// Stops the receivers (new requests are refused as unavailable), then
    /// forwards what is queued for at most `deadline`.
    pub async fn shutdown(self, deadline: Duration) -> ForwardReport {
        self.ingest.close();
        let _ = self.stop_receivers.send(true);
        for r in self.receivers {
            // Graceful shutdown waits for open connections; do not wait
            // for a client that keeps one open forever.
            if tokio::time::timeout(deadline, r).await.is_err() {
                tracing::warn!("a trace receiver did not stop in time");
            }
        }
        let _ = self
            .stop_forwarder
            .send(Some(tokio::time::Instant::now() + deadline));
        match self.forwarder.await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "trace forwarder task failed");
                ForwardReport::default()
            }
        }
    }
}
