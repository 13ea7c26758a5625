//! Runs the agent: the HTTP server, the scrape manager, the
//! remote_write sender, with a `logs:` section the log pipeline and with
//! a `traces:` section the trace pipeline, wired together. On shutdown
//! the trace receivers stop and the queued spans are forwarded; the log
//! pipeline stops reading, drains its queues into the sinks and
//! checkpoints what they acknowledged.
//!
//! The host collector's families and the agent's own metrics are both
//! served on the agent's `/metrics`; a built-in scrape job
//! (`job="watchfire-agent"`) scrapes that endpoint, so they are shipped
//! through the same path as every other target: `up`, staleness markers,
//! relabelling and the on-disk buffer.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;

use crate::config::AgentConfig;
use crate::host::HostCollector;
use crate::logs::metrics::LogMetrics;
use crate::logs::LogPipeline;
use crate::pipeline::Appender;
use crate::scrape::config::{self as scrape_config, ScrapeConfig};
use crate::scrape::manager::ScrapeManager;
use crate::server::{routes, ServerState};
use crate::ship::RemoteWriter;

/// The name of the built-in job that ships the agent's own `/metrics`.
pub const SELF_JOB: &str = "watchfire-agent";

/// How long shutdown waits for the sender to drain its buffer; what is
/// left stays on disk for the next start.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("host collector: {0}")]
    Host(#[from] crate::host::HostError),
    #[error("remote_write: {0}")]
    Ship(#[from] crate::ship::ShipError),
    #[error("scrape: {0}")]
    Scrape(#[from] crate::scrape::manager::ManagerError),
    #[error("built-in scrape job: {0}")]
    SelfJob(#[from] scrape_config::ConfigError),
    #[error("logs: {0}")]
    Logs(#[from] crate::logs::LogsError),
    #[error("traces: {0}")]
    Traces(#[from] crate::traces::TracesError),
    #[error("serving HTTP: {0}")]
    Serve(#[source] std::io::Error),
}

/// The built-in job scraping the agent's own endpoint.
fn self_job(
    addr: SocketAddr,
    interval: Duration,
) -> Result<ScrapeConfig, scrape_config::ConfigError> {
    let target = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    let yaml = format!(
        "scrape_configs:\n  - job_name: {SELF_JOB}\n    scrape_interval: {}ms\n    scrape_timeout: {}ms\n    static_configs:\n      - targets: ['{target}']\n",
        interval.as_millis(),
        interval.as_millis(),
    );
    let mut jobs = scrape_config::parse_str(&yaml, "<built-in self scrape>")?;
    jobs.pop().ok_or_else(|| scrape_config::ConfigError {
        file: "<built-in self scrape>".into(),
        line: 1,
        col: 1,
        msg: "no job".into(),
    })
}

/// Runs until `shutdown` completes, then stops scraping (appending
/// staleness markers) and drains the sender.
pub async fn run(
    cfg: AgentConfig,
    registry: Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let host = match &cfg.host {
        Some(h) => Some(Arc::new(HostCollector::new(h.clone())?)),
        None => None,
    };
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(cfg.listen_address)
        .await
        .map_err(|source| RunError::Listen {
            addr: cfg.listen_address,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| RunError::Listen {
        addr: cfg.listen_address,
        source,
    })?;
    let app = routes(ServerState {
        registry: registry.clone(),
        host,
        ready: ready.clone(),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(async move {
        let mut rx = stop_rx;
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.changed().await;
            })
            .await
    });

    let writer = Arc::new(RemoteWriter::start(cfg.remote_write.clone(), &registry)?);
    let appender: Arc<dyn Appender> = writer.clone();
    let mut jobs = cfg.scrape.clone();
    jobs.push(self_job(bound, cfg.self_scrape_interval)?);
    let scrapes = ScrapeManager::new(jobs, appender, &registry)?.start();
    let logs = match &cfg.logs {
        Some(l) => {
            let metrics = Arc::new(LogMetrics::new());
            metrics.register(&registry);
            Some(LogPipeline::start(l.clone(), metrics)?)
        }
        None => None,
    };
    let traces = match &cfg.traces {
        Some(t) => Some(crate::traces::TracePipeline::start(t.clone(), &registry).await?),
        None => None,
    };
    ready.store(true, Ordering::Release);
    tracing::info!(address = %bound, jobs = cfg.scrape.len() + 1, "agent running");

    shutdown.await;
    ready.store(false, Ordering::Release);
    scrapes.stop().await;
    if let Some(t) = traces {
        let report = t.shutdown(DRAIN_DEADLINE).await;
        tracing::info!(?report, "trace pipeline drained");
    }
    if let Some(p) = logs {
        let report = p.shutdown(DRAIN_DEADLINE).await;
        tracing::info!(?report, "log pipeline drained and checkpointed");
    }
    match Arc::try_unwrap(writer) {
        Ok(w) => {
            let report = w.shutdown(DRAIN_DEADLINE).await;
            tracing::info!(?report, "remote_write drained");
        }
        Err(_) => tracing::warn!(
            "remote_write sender still referenced at shutdown; its buffer stays on disk"
        ),
    }
    let _ = stop_tx.send(true);
    match server.await {
        Ok(r) => r.map_err(RunError::Serve),
        Err(e) => {
            tracing::warn!(error = %e, "agent HTTP server task failed");
            Ok(())
        }
    }
}
