//! The dispatcher and its shards.
//!
//! One **dispatcher** task reads records from the buffer in sequence
//! order through its cursor (from the in-memory hot queue when it holds
//! them, else from disk; see [`super::buffer`]), splits each record's samples by series hash
//! into per-shard chunks and hands them to the **shards**. Only a bounded
//! window (`2 × shards × max_samples_per_send` samples, at least one
//! record) is in memory; the rest waits on disk.
//!
//! Each shard is a task that batches its samples (up to
//! `max_samples_per_send`, or whatever it has when the oldest waited
//! `batch_send_deadline`) and sends one batch at a time, retrying it until
//! it is acknowledged or refused with a 4xx. The body is written by
//! [`super::wire`] straight from the label sets. Because a series always maps
//! to the same shard and a shard sends strictly in order, samples of one
//! series arrive in order. A shard reports each finished batch as
//! `(sequence number, samples)` pairs; a record is deleted from disk once
//! all its samples are finished.
//!
//! The dispatcher starts with `min_shards`, or more when a backlog is
//! already on disk (four full batches per shard, up to `max_shards`).
//! Acknowledged records are deleted in one transaction per wake-up.
//! **Resharding** (between `min_shards` and `max_shards`) is evaluated
//! every 10 s: doubling when the backlog exceeds four full batches per
//! shard while the receiver is answering, halving when it is below one
//! batch. The dispatcher stops reading, lets the shards finish what they
//! hold, and only then starts the new set — so per-series order survives
//! the change of hash modulus.

use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustc_hash::FxBuildHasher;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::buffer::{Buffer, Record};
use super::config::QueueConfig;
use super::metrics::{reason, ShipMetrics};
use super::send::{classify, Backoff, Client, Verdict};
use crate::pipeline::{Point, Series, SeriesBytes};

const TICK: Duration = Duration::from_secs(1);
const RESHARD_EVERY: u32 = 10;

/// Samples of one record bound for one shard.
struct Chunk {
    seq: u64,
    points: Vec<Point>,
}

/// Finished samples, per record.
type Ack = Vec<(u64, usize)>;

/// Milliseconds since the epoch, by the wall clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The shard of a point's series: a hash of its remote_write label
/// bytes (pre-encoded ones when it carries them, else encoded here, so
/// one series always lands on one shard either way).
fn shard_of(p: &Point, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let h = match &p.series {
        Series::Encoded(e) => FxBuildHasher.hash_one(e.as_bytes()),
        Series::Labels(l) => FxBuildHasher.hash_one(SeriesBytes::new(l).as_bytes()),
    };
    (h % n as u64) as usize
}

/// Everything the dispatcher needs.
pub struct Dispatcher {
    pub buf: Arc<Buffer>,
    pub client: Client,
    pub q: QueueConfig,
    pub max_age: Duration,
    pub metrics: ShipMetrics,
    pub new_data: Arc<Notify>,
    pub drain: watch::Receiver<bool>,
    pub idle: watch::Sender<bool>,
}

struct Run {
    shards: Vec<mpsc::UnboundedSender<Chunk>>,
    tasks: JoinSet<()>,
    outstanding: BTreeMap<u64, usize>,
    in_flight: usize,
    last_ok: Arc<std::sync::atomic::AtomicI64>,
}

impl Dispatcher {
    fn spawn_shards(&self, n: usize, run: &mut Run, ack_tx: &mpsc::UnboundedSender<Ack>) {
        run.tasks = JoinSet::new();
        run.shards.clear();
        for _ in 0..n {
            let (tx, rx) = mpsc::unbounded_channel();
            run.shards.push(tx);
            let shard = Shard {
                rx,
                client: self.client.clone(),
                q: self.q.clone(),
                ack: ack_tx.clone(),
                metrics: self.metrics.clone(),
                drain: self.drain.clone(),
                last_ok: run.last_ok.clone(),
            };
            run.tasks.spawn(shard.run());
        }
        self.metrics.shards.set(n as i64);
    }

    fn dispatch(&self, recs: Vec<Record>, run: &mut Run) -> Vec<u64> {
        let n = run.shards.len();
        let mut empty = Vec::new();
        for rec in recs {
            if rec.points.is_empty() {
                empty.push(rec.seq);
                continue;
            }
            let total = rec.points.len();
            let parts: Vec<Vec<Point>> = if n <= 1 {
                vec![rec.points]
            } else {
                let mut parts: Vec<Vec<Point>> =
                    (0..n).map(|_| Vec::with_capacity(total / n + 16)).collect();
                for p in rec.points {
                    parts[shard_of(&p, n)].push(p);
                }
                parts
            };
            run.outstanding.insert(rec.seq, total);
            run.in_flight += total;
            for (i, points) in parts.into_iter().enumerate() {
                if !points.is_empty() {
                    // A closed shard only happens while the task is being
                    // torn down; the record stays on disk.
                    let _ = run.shards[i].send(Chunk {
                        seq: rec.seq,
                        points,
                    });
                }
            }
        }
        empty
    }

    fn finish(&self, ack: Ack, run: &mut Run) -> Vec<u64> {
        let mut done = Vec::new();
        for (seq, n) in ack {
            run.in_flight = run.in_flight.saturating_sub(n);
            if let Some(left) = run.outstanding.get_mut(&seq) {
                *left = left.saturating_sub(n);
                if *left == 0 {
                    run.outstanding.remove(&seq);
                    done.push(seq);
                }
            }
        }
        done
    }

    fn gauges(&self) {
        if let Ok(s) = self.buf.stats() {
            self.metrics.buffer_bytes.set(s.bytes as i64);
            self.metrics.buffer_samples.set(s.samples as i64);
            let age = s
                .oldest_ms
                .map_or(0.0, |t| (now_ms() - t).max(0) as f64 / 1000.0);
            self.metrics.oldest_unsent_age_seconds.set(age);
        }
    }

    /// Runs until aborted.
    pub async fn run(self) {
        let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<Ack>();
        let mut run = Run {
            shards: Vec::new(),
            tasks: JoinSet::new(),
            outstanding: BTreeMap::new(),
            in_flight: 0,
            last_ok: Arc::new(std::sync::atomic::AtomicI64::new(0)),
        };
        let mut shards = self.initial_shards();
        self.spawn_shards(shards, &mut run, &ack_tx);
        let mut want = shards;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks = 0u32;
        let mut drain = self.drain.clone();
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        loop {
            // Read while the window allows and no reshard is pending.
            let window = (2 * shards * self.q.max_samples_per_send).max(1);
            let mut read_all = false;
            if want == shards && run.in_flight < window {
                match self.buf.read(window - run.in_flight) {
                    Ok(recs) => {
                        read_all = recs.is_empty();
                        let empty = self.dispatch(recs, &mut run);
                        let _ = self.buf.delete(&empty);
                        backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "remote_write: reading the buffer");
                        tokio::time::sleep(backoff.next_delay()).await;
                        continue;
                    }
                }
            }
            if want != shards && run.in_flight == 0 {
                shards = want;
                self.spawn_shards(shards, &mut run, &ack_tx);
                continue;
            }
            let idle = read_all && run.outstanding.is_empty();
            self.idle
                .send_if_modified(|v| std::mem::replace(v, idle) != idle);
            if !read_all && run.in_flight < window && want == shards {
                // More to read right away.
                tokio::task::yield_now().await;
                if let Ok(ack) = ack_rx.try_recv() {
                    self.acked(ack, &mut run);
                }
                continue;
            }
            tokio::select! {
                Some(ack) = ack_rx.recv() => {
                    // One delete transaction for everything finished.
                    let mut done = self.finish(ack, &mut run);
                    while let Ok(ack) = ack_rx.try_recv() {
                        done.extend(self.finish(ack, &mut run));
                    }
                    self.delete_done(&done);
                }
                _ = self.new_data.notified() => {}
                _ = tick.tick() => {
                    ticks += 1;
                    self.housekeeping();
                    if ticks >= RESHARD_EVERY && want == shards {
                        ticks = 0;
                        want = self.desired(shards, &run);
                        if want != shards {
                            tracing::info!(from = shards, to = want, "remote_write: resharding");
                            run.shards.clear();
                        }
                    }
                }
                r = drain.changed(), if !*drain.borrow() => {
                    if r.is_err() {
                        // The handle is gone; keep running until aborted.
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }

    fn acked(&self, ack: Ack, run: &mut Run) {
        let done = self.finish(ack, run);
        self.delete_done(&done);
    }

    fn delete_done(&self, done: &[u64]) {
        if let Err(e) = self.buf.delete(done) {
            tracing::error!(error = %e, "remote_write: deleting acknowledged data");
        }
    }

    fn housekeeping(&self) {
        let cutoff = now_ms() - self.max_age.as_millis() as i64;
        if let Err(e) = self.buf.expire(cutoff) {
            tracing::error!(error = %e, "remote_write: expiring old data");
        }
        self.gauges();
    }

    /// `min_shards`, or more when a backlog is waiting on disk (after a
    /// restart or an outage): enough for four full batches per shard,
    /// capped at `max_shards`.
    fn initial_shards(&self) -> usize {
        let backlog = self.buf.stats().map_or(0, |s| s.samples as usize);
        let per_shard = 4 * self.q.max_samples_per_send.max(1);
        backlog
            .div_ceil(per_shard)
            .next_power_of_two()
            .clamp(self.q.min_shards, self.q.max_shards.max(self.q.min_shards))
    }

    fn desired(&self, shards: usize, run: &Run) -> usize {
        let backlog = self.buf.stats().map_or(0, |s| s.samples as usize);
        let batch = self.q.max_samples_per_send;
        let last_ok = run.last_ok.load(std::sync::atomic::Ordering::Relaxed);
        let healthy = now_ms() - last_ok < 10 * TICK.as_millis() as i64;
        if healthy && backlog > 4 * batch * shards {
            (shards * 2).min(self.q.max_shards)
        } else if backlog < batch && shards > self.q.min_shards {
            (shards / 2).max(self.q.min_shards)
        } else {
            shards
        }
    }
}

struct Shard {
    rx: mpsc::UnboundedReceiver<Chunk>,
    client: Client,
    q: QueueConfig,
    ack: mpsc::UnboundedSender<Ack>,
    metrics: ShipMetrics,
    drain: watch::Receiver<bool>,
    last_ok: Arc<std::sync::atomic::AtomicI64>,
}

impl Shard {
    async fn run(mut self) {
        let mut pending: VecDeque<(u64, Point)> = VecDeque::new();
        let mut oldest: Option<Instant> = None;
        let mut closed = false;
        loop {
            let draining = *self.drain.borrow();
            let due = oldest.is_some_and(|t| t + self.q.batch_send_deadline <= Instant::now());
            if pending.len() >= self.q.max_samples_per_send
                || (!pending.is_empty() && (due || draining || closed))
            {
                let n = pending.len().min(self.q.max_samples_per_send);
                let batch: Vec<(u64, Point)> = pending.drain(..n).collect();
                oldest = if pending.is_empty() {
                    None
                } else {
                    Some(Instant::now())
                };
                self.send(batch).await;
                continue;
            }
            if closed {
                return;
            }
            let deadline = oldest.map(|t| t + self.q.batch_send_deadline);
            tokio::select! {
                m = self.rx.recv() => match m {
                    Some(c) => {
                        if pending.is_empty() {
                            oldest = Some(Instant::now());
                        }
                        pending.extend(c.points.into_iter().map(|p| (c.seq, p)));
                    }
                    None => closed = true,
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {}
                r = self.drain.changed(), if !draining => {
                    if r.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }

    /// Sends one batch until it is acknowledged or refused.
    async fn send(&self, batch: Vec<(u64, Point)>) {
        let n = batch.len() as u64;
        let body =
            watchfire_remotewrite::compress(&super::wire::encode(batch.iter().map(|(_, p)| p)));
        let max_t = batch.iter().map(|(_, p)| p.t).max().unwrap_or(0);
        let mut backoff = Backoff::new(self.q.min_backoff, self.q.max_backoff);
        let m = &self.metrics;
        let mut first = true;
        let drop_reason = loop {
            if !first {
                m.samples_retried.inc_by(n);
            }
            first = false;
            let timer = m.send_duration.start_timer();
            let res = self.client.post(body.clone()).await;
            timer.observe_duration();
            let verdict = match res {
                Ok(a) => classify(
                    a.status,
                    a.retry_after.as_deref(),
                    SystemTime::now(),
                    self.q.max_retry_after,
                ),
                Err(e) => {
                    tracing::debug!(error = %e, "remote_write: request failed");
                    Verdict::Retry {
                        after: None,
                        outcome: "retry_network",
                    }
                }
            };
            match verdict {
                Verdict::Done => {
                    m.requests.with_label_values(&["success"]).inc();
                    m.samples_sent.inc_by(n);
                    ShipMetrics::raise(&m.highest_sent_timestamp_seconds, max_t);
                    self.last_ok
                        .store(now_ms(), std::sync::atomic::Ordering::Relaxed);
                    break None;
                }
                Verdict::Retry { after, outcome } => {
                    m.requests.with_label_values(&[outcome]).inc();
                    m.samples_failed.inc_by(n);
                    let wait = after.unwrap_or_else(|| backoff.next_delay());
                    tokio::time::sleep(wait).await;
                }
                Verdict::Drop { status } => {
                    m.requests.with_label_values(&["drop_4xx"]).inc();
                    m.samples_failed.inc_by(n);
                    tracing::warn!(status, samples = n, "remote_write: batch refused, dropped");
                    break Some(reason::HTTP_4XX);
                }
            }
        };
        if let Some(r) = drop_reason {
            m.dropped(r, n);
        }
        let mut per: Vec<(u64, usize)> = Vec::new();
        for (seq, _) in &batch {
            match per.last_mut() {
                Some((s, c)) if s == seq => *c += 1,
                _ => per.push((*seq, 1)),
            }
        }
        let _ = self.ack.send(per);
    }
}
