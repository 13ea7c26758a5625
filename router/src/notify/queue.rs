//! A bounded notification queue in front of any [`AlertSink`], like
//! Prometheus's notifier: producers never wait on the network, the worker
//! sends batches of at most `max_batch` alerts, and when the queue is full
//! the oldest alerts are dropped and counted in
//! `watchfire_notifications_dropped_total`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{Alert, AlertSink, NotifyMetrics, SinkFuture};

/// Queue sizing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// Alerts held at most (Prometheus's `--alertmanager.notification-queue-capacity`).
    pub capacity: usize,
    /// Alerts per batch sent at most.
    pub max_batch: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_batch: 256,
        }
    }
}

/// The queue; also an [`AlertSink`] whose `send` only enqueues.
#[derive(Clone)]
pub struct QueuedSink {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for QueuedSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedSink")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

struct Shared {
    queue: Mutex<VecDeque<Alert>>,
    wake: Notify,
    closed: AtomicBool,
    cfg: QueueConfig,
    metrics: NotifyMetrics,
}

impl QueuedSink {
    /// An empty queue. Capacity and batch size are at least 1.
    pub fn new(mut cfg: QueueConfig, metrics: NotifyMetrics) -> Self {
        cfg.capacity = cfg.capacity.max(1);
        cfg.max_batch = cfg.max_batch.max(1);
        metrics
            .queue_capacity
            .set(i64::try_from(cfg.capacity).unwrap_or(i64::MAX));
        QueuedSink {
            shared: Arc::new(Shared {
                queue: Mutex::new(VecDeque::new()),
                wake: Notify::new(),
                closed: AtomicBool::new(false),
                cfg,
                metrics,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Alert>> {
        // A panic while holding the lock cannot leave the deque invalid.
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends alerts, dropping the oldest ones beyond capacity. Returns how
    /// many were dropped.
    pub fn enqueue(&self, alerts: &[Alert]) -> usize {
        let cap = self.shared.cfg.capacity;
        // Of an oversized batch only the newest `cap` can survive.
        let skip = alerts.len().saturating_sub(cap);
        let mut q = self.lock();
        q.extend(alerts[skip..].iter().cloned());
        let overflow = q.len().saturating_sub(cap);
        q.drain(..overflow);
        let dropped = skip + overflow;
        self.shared.metrics.queue_length.set(q.len() as i64);
        drop(q);
        if dropped > 0 {
            self.shared.metrics.dropped.inc_by(dropped as u64);
            tracing::warn!(dropped, "notification queue full, dropped oldest alerts");
        }
        self.shared.wake.notify_one();
        dropped
    }

    /// Alerts waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the next batch (oldest first, at most `max_batch`).
    pub fn next_batch(&self) -> Vec<Alert> {
        let mut q = self.lock();
        let n = q.len().min(self.shared.cfg.max_batch);
        let batch: Vec<Alert> = q.drain(..n).collect();
        self.shared.metrics.queue_length.set(q.len() as i64);
        batch
    }

    /// Stops the worker once the queue is drained.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    /// Runs the worker on the current tokio runtime: sends batches to
    /// `sink` until [`close`](Self::close) is called and the queue is empty.
    /// Failed batches are logged; the sink counts its own errors.
    pub fn spawn_worker(&self, sink: Arc<dyn AlertSink>) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move { this.run(sink.as_ref()).await })
    }

    /// The worker loop (see [`spawn_worker`](Self::spawn_worker)).
    pub async fn run(&self, sink: &dyn AlertSink) {
        loop {
            let batch = self.next_batch();
            if batch.is_empty() {
                if self.shared.closed.load(Ordering::SeqCst) {
                    return;
                }
                self.shared.wake.notified().await;
                continue;
            }
            if let Err(e) = sink.send(&batch).await {
                tracing::error!(error = %e, alerts = batch.len(), "sending alerts failed");
            }
        }
    }
}

impl AlertSink for QueuedSink {
    fn send<'a>(&'a self, alerts: &'a [Alert]) -> SinkFuture<'a> {
        self.enqueue(alerts);
        Box::pin(async { Ok(()) })
    }
}
