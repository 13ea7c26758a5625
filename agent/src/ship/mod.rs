//! The remote_write 1.0 sender: the agent's way out for metrics.
//!
//! ```text
//! append(batch) ──► disk buffer (redb, group commit, fsync) ──► dispatcher
//!                    + hot queue in memory (read without a disk read) ─┘
//!                                                                  │ by series hash
//!                                               shard 0 … shard N-1 (batch, send, retry)
//!                                                                  │ 2xx / 4xx
//!                                              ack ──► record deleted from disk
//! ```
//!
//! - [`RemoteWriter::append`] (the [`Appender`] impl) returns once the
//!   batch is durable on disk; see [`buffer`] for the format and why redb.
//! - The buffer is sized by **disk** (`buffer.max_size`, `buffer.max_age`):
//!   an outage lasts as long as the disk allows, with memory bounded by
//!   the in-flight window ([`queue`]). When full, the *oldest unsent*
//!   samples are dropped and counted as
//!   `watchfire_agent_remote_write_samples_dropped_total{reason="buffer_full"}`;
//!   older than `max_age`, as `reason="too_old"`.
//! - Sending, retries and backoff: [`send`]. 5xx, 429 (with `Retry-After`)
//!   and transport errors are retried forever (the disk buffer, not the
//!   retry count, bounds an outage); other 4xx drop the batch
//!   (`reason="http_4xx"`).
//! - Delivery is at least once: after a crash, data sent but not yet
//!   deleted is sent again. Without a crash, a batch is sent once per
//!   attempt; only a request in flight when the receiver fails can be
//!   duplicated (when the receiver stored it but the answer was lost).
//! - [`RemoteWriter::shutdown`] drains (sends everything buffered) within
//!   a deadline; what is left stays on disk for the next start.
//! - Metrics: [`metrics`].

pub mod buffer;
pub mod config;
pub mod metrics;
pub mod queue;
pub mod record;
pub mod send;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;

use crate::pipeline::{Appender, Point};
use buffer::{Buffer, BufferError};
use config::RemoteWriteConfig;
use metrics::ShipMetrics;
use send::{Client, ClientError};

/// Why a sender could not start.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error(transparent)]
    Buffer(#[from] BufferError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("remote_write: registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("remote_write: starting the commit thread: {0}")]
    Committer(#[source] std::io::Error),
}

/// What [`RemoteWriter::shutdown`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Everything buffered was acknowledged before the deadline.
    pub drained: bool,
    /// Samples left on disk for the next start.
    pub remaining_samples: u64,
}

/// A running remote_write sender.
pub struct RemoteWriter {
    buf: Arc<Buffer>,
    metrics: ShipMetrics,
    new_data: Arc<Notify>,
    drain: watch::Sender<bool>,
    idle: watch::Receiver<bool>,
    task: Option<JoinHandle<()>>,
    committer: Option<std::thread::JoinHandle<()>>,
}

/// How often the committer thread commits (one fsync) what the scrapers
/// submitted. Scrapers wait for it, so it is also the longest extra delay
/// of a scrape's hand-over.
pub const COMMIT_EVERY: Duration = Duration::from_millis(200);

impl RemoteWriter {
    /// Opens the buffer (resending whatever it holds), registers the
    /// metrics into `registry` and starts the dispatcher and shards on the
    /// current Tokio runtime.
    pub fn start(cfg: RemoteWriteConfig, registry: &Registry) -> Result<RemoteWriter, ShipError> {
        let metrics = ShipMetrics::new(registry)?;
        let client = Client::new(&cfg)?;
        let buf = Arc::new(Buffer::open(
            &cfg.buffer.path,
            cfg.buffer.max_bytes,
            metrics.clone(),
        )?);
        let new_data = Arc::new(Notify::new());
        buf.notify_on_commit(new_data.clone());
        let committer = {
            let buf = buf.clone();
            std::thread::Builder::new()
                .name("wf-rw-commit".into())
                .spawn(move || buf.run_committer(COMMIT_EVERY))
                .map_err(ShipError::Committer)?
        };
        let (drain_tx, drain_rx) = watch::channel(false);
        let (idle_tx, idle_rx) = watch::channel(false);
        let d = queue::Dispatcher {
            buf: buf.clone(),
            client,
            q: cfg.queue.clone(),
            max_age: cfg.buffer.max_age,
            metrics: metrics.clone(),
            new_data: new_data.clone(),
            drain: drain_rx,
            idle: idle_tx,
        };
        let task = tokio::spawn(d.run());
        Ok(RemoteWriter {
            buf,
            metrics,
            new_data,
            drain: drain_tx,
            idle: idle_rx,
            task: Some(task),
            committer: Some(committer),
        })
    }

    /// The sender's metrics.
    pub fn metrics(&self) -> &ShipMetrics {
        &self.metrics
    }

    /// Samples on disk not yet acknowledged (or given up).
    pub fn buffered_samples(&self) -> u64 {
        self.buf.stats().map_or(0, |s| s.samples)
    }

    /// Waits until everything appended so far is acknowledged (or
    /// dropped), without stopping. For tests and `watchfire up`.
    pub async fn flushed(&self) {
        self.new_data.notify_one();
        let mut idle = self.idle.clone();
        loop {
            if *idle.borrow_and_update() && self.buffered_samples() == 0 {
                return;
            }
            if idle.changed().await.is_err() {
                return;
            }
        }
    }

    /// Drains: sends every buffered batch right away (not waiting for
    /// batch deadlines) until all are acknowledged or `deadline` passes,
    /// then stops. Unsent data stays on disk for the next start.
    pub async fn shutdown(mut self, deadline: Duration) -> ShutdownReport {
        let _ = self.drain.send(true);
        let drained = tokio::time::timeout(deadline, self.flushed()).await.is_ok();
        let remaining_samples = self.buffered_samples();
        self.stop().await;
        ShutdownReport {
            drained,
            remaining_samples,
        }
    }

    /// Stops at once, as a crash would (data on disk is kept), and waits
    /// until the buffer file is closed so it can be reopened.
    pub async fn kill(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
        self.stop_committer();
    }

    /// Stops the committer thread after its last commit (at most one
    /// transaction), releasing its handle on the buffer file.
    fn stop_committer(&mut self) {
        self.buf.stop_committer();
        if let Some(c) = self.committer.take() {
            let _ = c.join();
        }
    }
}

impl Drop for RemoteWriter {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        self.stop_committer();
    }
}

impl Appender for RemoteWriter {
    /// Makes the batch durable (group commit, one fsync per group) and
    /// wakes the dispatcher. Blocks for the commit only (milliseconds).
    fn append(&self, batch: Vec<Point>) {
        if batch.is_empty() {
            return;
        }
        if let Some(t) = batch.iter().map(|p| p.t).max() {
            ShipMetrics::raise(&self.metrics.highest_appended_timestamp_seconds, t);
        }
        self.buf.append_owned(batch, queue::now_ms());
        self.new_data.notify_one();
    }

    /// Queues the batch for the committer thread; the receiver completes
    /// once it is durable.
    fn try_submit(&self, batch: Vec<Point>) -> Result<oneshot::Receiver<()>, Vec<Point>> {
        if let Some(t) = batch.iter().map(|p| p.t).max() {
            ShipMetrics::raise(&self.metrics.highest_appended_timestamp_seconds, t);
        }
        Ok(self.buf.submit(batch, queue::now_ms()))
    }
}
