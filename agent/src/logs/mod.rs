//! Log collection (SPEC §3.2): tail → decode → redact → sinks, delivered
//! at least once end to end.
//!
//! ```text
//!  files ─▶ tail (blocking pool) ─[queue_batches]─▶ process: redact, JSON ─[queue_batches]─▶ sink task ─▶ Sink
//!              │ register(batch offsets)                                    (one per sink)     │ ack
//!              ▼                                                                                ▼
//!          AckLedger ◀──────────────────────────── every sink acked the batch ◀─────────────────┘
//!              │ acknowledged prefix
//!              ▼
//!          checkpointer ─▶ redb (one fsync'd transaction per commit)
//! ```
//!
//! - [`tail`]: discovery, fingerprints, rotation, fair reading.
//! - [`format`]: CRI, Docker, JSON lines, plain text, Kubernetes paths.
//! - [`checkpoint`]: the ack ledger and the redb offsets.
//! - [`sink`]: the [`sink::Sink`] trait; file, blackhole, Elasticsearch, Loki and Kafka sinks.
//! - [`process`]: one record to one redacted JSON line.
//! - [`metrics`], [`config`].
//!
//! Memory is bounded: every queue holds at most `queue_batches` batches of
//! `batch_lines` records, so a stalled sink fills its queue, then the
//! processing queue, and the tailer stops reading (gauge
//! `watchfire_agent_log_reading_paused`). Redaction fails closed: a record
//! that cannot be redacted is dropped and counted, never sent; its offset
//! is acknowledged like any handled record.
//!
//! Shutdown ([`LogPipeline::shutdown`]) stops reading, lets the queues
//! drain into the sinks until a deadline, then commits the acknowledged
//! offsets. What was read and not acknowledged is read again at the next
//! start (duplicates only after the last checkpoint, never a loss).

pub mod checkpoint;
pub mod config;
pub mod format;
pub mod metrics;
pub mod process;
pub mod sink;
pub mod tail;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use watchfire_redact::Redactor;

use checkpoint::{AckLedger, CheckpointError, CheckpointStore};
use config::{LogsConfig, SinkConfig};
use metrics::LogMetrics;
use sink::Sink;
use tail::{Tailed, Tailer};

/// Why the pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("log checkpoints: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("redaction rules: {0}")]
    Redaction(#[from] watchfire_redact::BuildError),
    #[error("log sink {sink}: {error}")]
    Sink {
        sink: &'static str,
        error: sink::SinkError,
    },
}

/// What shutdown managed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every queue drained before the deadline.
    pub drained: bool,
    /// Records read and not acknowledged (read again at the next start).
    pub unacknowledged: usize,
}

struct Shared {
    ledger: Mutex<AckLedger>,
    acked: Notify,
    metrics: Arc<LogMetrics>,
}

impl Shared {
    fn ledger(&self) -> std::sync::MutexGuard<'_, AckLedger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ack(&self, seq: u64) {
        let in_flight = {
            let mut l = self.ledger();
            l.ack(seq);
            l.in_flight()
        };
        self.metrics.in_flight.set(in_flight as i64);
        self.acked.notify_one();
    }
}

/// A batch on its way to the sinks.
struct Batch {
    seq: u64,
    lines: Arc<[String]>,
    remaining: AtomicUsize,
    shared: Arc<Shared>,
}

impl Batch {
    fn ack(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.ack(self.seq);
        }
    }
}

/// Records read from files, with their ledger sequence number.
struct TailBatch {
    seq: u64,
    records: Vec<Tailed>,
}

/// The running pipeline.
pub struct LogPipeline {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    paused: watch::Receiver<bool>,
    tail: JoinHandle<()>,
    process: JoinHandle<()>,
    sinks: Vec<JoinHandle<()>>,
    checkpointer: JoinHandle<()>,
    store: Arc<CheckpointStore>,
}

impl LogPipeline {
    /// Starts the pipeline with the sinks of `cfg`.
    pub fn start(cfg: LogsConfig, metrics: Arc<LogMetrics>) -> Result<LogPipeline, LogsError> {
        let sinks = cfg
            .sinks
            .iter()
            .map(|s| -> Result<Box<dyn Sink>, LogsError> {
                Ok(match s {
                    SinkConfig::File { path } => Box::new(sink::file::FileSink::new(path.clone())),
                    SinkConfig::Blackhole => {
                        Box::new(sink::blackhole::BlackholeSink::new(metrics.clone()))
                    }
                    SinkConfig::Elasticsearch(c) => Box::new(
                        sink::elasticsearch::ElasticsearchSink::new(c.clone(), metrics.clone())
                            .map_err(|error| LogsError::Sink {
                                sink: "elasticsearch",
                                error,
                            })?,
                    ),
                    SinkConfig::Kafka(c) => Box::new(
                        sink::kafka::KafkaSink::new(c.clone(), metrics.clone()).map_err(
                            |error| LogsError::Sink {
                                sink: "kafka",
                                error,
                            },
                        )?,
                    ),
                    SinkConfig::Loki(c) => Box::new(
                        sink::loki::LokiSink::new(c.clone(), metrics.clone()).map_err(|error| {
                            LogsError::Sink {
                                sink: "loki",
                                error,
                            }
                        })?,
                    ),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::start_with_sinks(cfg, sinks, metrics)
    }

    /// Starts the pipeline with the given sinks (tests, or sinks built by
    /// the caller); `cfg.sinks` is ignored.
    pub fn start_with_sinks(
        cfg: LogsConfig,
        sinks: Vec<Box<dyn Sink>>,
        metrics: Arc<LogMetrics>,
    ) -> Result<LogPipeline, LogsError> {
        let redactor = Redactor::new(&cfg.redaction)?;
        metrics.init_series(&redactor.stats());
        let store = Arc::new(CheckpointStore::open(&cfg.checkpoint_path)?);
        let checkpoints = store.load()?;
        let shared = Arc::new(Shared {
            ledger: Mutex::new(AckLedger::new()),
            acked: Notify::new(),
            metrics: metrics.clone(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let (paused_tx, paused) = watch::channel(false);
        let cap = cfg.queue_batches.max(1);
        let (tail_tx, tail_rx) = mpsc::channel::<TailBatch>(cap);
        let tailer = Tailer::new(cfg.tail.clone(), checkpoints, metrics.clone());
        let tail = tokio::spawn(tail_loop(
            tailer,
            cfg.batch_lines.max(1),
            cfg.poll_interval,
            tail_tx,
            shared.clone(),
            stop_rx.clone(),
            paused_tx,
        ));
        let mut sink_txs = Vec::new();
        let mut sink_tasks = Vec::new();
        for s in sinks {
            let (tx, rx) = mpsc::channel::<Arc<Batch>>(cap);
            sink_txs.push(tx);
            sink_tasks.push(tokio::spawn(sink_loop(s, rx, metrics.clone())));
        }
        let process = tokio::spawn(process_loop(
            tail_rx,
            sink_txs,
            Arc::new(redactor),
            shared.clone(),
        ));
        let checkpointer = tokio::spawn(checkpoint_loop(store.clone(), shared.clone(), stop_rx));
        Ok(LogPipeline {
            shared,
            stop,
            paused,
            tail,
            process,
            sinks: sink_tasks,
            checkpointer,
            store,
        })
    }

    /// Records read and not yet acknowledged by every sink.
    pub fn in_flight(&self) -> usize {
        self.shared.ledger().in_flight()
    }

    /// Whether reading is paused by a full queue (changes are observable).
    pub fn paused(&self) -> watch::Receiver<bool> {
        self.paused.clone()
    }

    /// Stops reading, drains the queues into the sinks for at most
    /// `deadline`, and commits every acknowledged offset.
    pub async fn shutdown(self, deadline: Duration) -> ShutdownReport {
        let _ = self.stop.send(true);
        let _ = self.tail.await;
        let drain = async {
            let _ = self.process.await;
            for s in self.sinks {
                let _ = s.await;
            }
        };
        let drained = tokio::time::timeout(deadline, drain).await.is_ok();
        let _ = self.checkpointer.await;
        let (ready, unacknowledged) = {
            let mut l = self.shared.ledger();
            (l.take_ready(), l.in_flight())
        };
        let store = self.store.clone();
        let metrics = self.shared.metrics.clone();
        commit(store, ready, metrics).await;
        ShutdownReport {
            drained,
            unacknowledged,
        }
    }

    /// Drops the pipeline without draining or a final checkpoint, as a
    /// crash would (offsets committed so far stay; the rest is read
    /// again). For tests of restart behaviour.
    pub fn abort(self) {
        self.tail.abort();
        self.process.abort();
        for s in &self.sinks {
            s.abort();
        }
        self.checkpointer.abort();
    }

    /// Commits every offset acknowledged so far, now.
    pub async fn checkpoint_now(&self) {
        let ready = self.shared.ledger().take_ready();
        commit(self.store.clone(), ready, self.shared.metrics.clone()).await;
    }
}

async fn commit(
    store: Arc<CheckpointStore>,
    ready: HashMap<tail::Fingerprint, u64>,
    metrics: Arc<LogMetrics>,
) {
    if ready.is_empty() {
        return;
    }
    let res = tokio::task::spawn_blocking(move || store.commit(&ready)).await;
    match res {
        Ok(Ok(())) => metrics.checkpoint_commits.inc(),
        Ok(Err(e)) => tracing::error!(error = %e, "committing log checkpoints"),
        Err(e) => tracing::error!(error = %e, "log checkpoint task"),
    }
}

async fn tail_loop(
    tailer: Tailer,
    batch_lines: usize,
    poll_interval: Duration,
    tx: mpsc::Sender<TailBatch>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    paused: watch::Sender<bool>,
) {
    let mut tailer = Some(tailer);
    loop {
        if *stop.borrow() {
            return;
        }
        let Some(mut t) = tailer.take() else { return };
        let res = tokio::task::spawn_blocking(move || {
            let records = t.poll(batch_lines);
            (t, records)
        })
        .await;
        let (t, records) = match res {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "log tailer failed");
                return;
            }
        };
        tailer = Some(t);
        if records.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(poll_interval) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        let mut offsets: Vec<(tail::Fingerprint, u64)> = Vec::new();
        for r in &records {
            match offsets.iter_mut().find(|(fp, _)| *fp == r.fp) {
                Some(slot) => slot.1 = slot.1.max(r.end),
                None => offsets.push((r.fp, r.end)),
            }
        }
        let seq = {
            let mut l = shared.ledger();
            let seq = l.register(records.len(), offsets);
            shared.metrics.in_flight.set(l.in_flight() as i64);
            seq
        };
        let batch = TailBatch { seq, records };
        let permit = match tx.try_reserve() {
            Ok(p) => p,
            Err(mpsc::error::TrySendError::Closed(())) => return,
            Err(mpsc::error::TrySendError::Full(())) => {
                // The gauge first: a watcher woken by `paused` sees it set.
                shared.metrics.paused.set(1);
                let _ = paused.send(true);
                let p = tokio::select! {
                    p = tx.reserve() => p,
                    _ = stop.changed() => return,
                };
                shared.metrics.paused.set(0);
                let _ = paused.send(false);
                match p {
                    Ok(p) => p,
                    Err(_) => return,
                }
            }
        };
        permit.send(batch);
    }
}

async fn process_loop(
    mut rx: mpsc::Receiver<TailBatch>,
    sinks: Vec<mpsc::Sender<Arc<Batch>>>,
    redactor: Arc<Redactor>,
    shared: Arc<Shared>,
) {
    let mut stats = redactor.stats();
    let mut scratch = process::Scratch::default();
    while let Some(tb) = rx.recv().await {
        let before = stats.clone();
        scratch.new_batch();
        let lines: Vec<String> = tb
            .records
            .iter()
            .filter_map(|r| {
                process::record(r, &redactor, &mut stats, &shared.metrics, &mut scratch)
            })
            .collect();
        shared.metrics.redaction_stats(&stats, &before);
        shared.metrics.add_messages(&mut scratch.tally);
        if lines.is_empty() || sinks.is_empty() {
            shared.ack(tb.seq);
            continue;
        }
        let batch = Arc::new(Batch {
            seq: tb.seq,
            lines: Arc::from(lines),
            remaining: AtomicUsize::new(sinks.len()),
            shared: shared.clone(),
        });
        for s in &sinks {
            if s.send(batch.clone()).await.is_err() {
                return;
            }
        }
    }
}

async fn sink_loop(
    mut sink: Box<dyn Sink>,
    mut rx: mpsc::Receiver<Arc<Batch>>,
    metrics: Arc<LogMetrics>,
) {
    while let Some(batch) = rx.recv().await {
        let mut backoff = Duration::from_millis(100);
        loop {
            match sink.send(batch.lines.clone()).await {
                Ok(()) => break,
                Err(e) => {
                    metrics.sink_errors.with_label_values(&[sink.name()]).inc();
                    tracing::warn!(sink = sink.name(), error = %e, "log sink failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        batch.ack();
    }
}

async fn checkpoint_loop(
    store: Arc<CheckpointStore>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shared.acked.notified() => {}
            _ = stop.changed() => return,
        }
        let ready = shared.ledger().take_ready();
        commit(store.clone(), ready, shared.metrics.clone()).await;
    }
}
