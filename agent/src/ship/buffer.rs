//! The durable write-ahead buffer, in one **redb** file.
//!
//! Why redb rather than a WAL crate: the buffer needs more than
//! append-and-replay. Records are deleted from the *front* as the receiver
//! acknowledges them, from the front of the *unread* part when the buffer
//! is full or too old, and the totals (bytes, samples) must stay exact
//! across crashes. redb gives crash-safe ACID transactions, ordered `u64`
//! keys for the sequence numbers, page reuse for deleted records (the
//! file stops growing at its high-water mark instead of needing segment
//! compaction) and is already a workspace dependency (the router keeps its
//! state in it). A segment WAL would need all of that written by hand.
//!
//! Layout:
//! - table `records`: sequence number (`u64`, strictly increasing) →
//!   `[append time ms: u64 LE][samples: u32 LE][payload]`, one record
//!   per appended batch (payload format: [`super::record`]);
//! - table `meta`: `"bytes"` and `"samples"` totals of `records`.
//!
//! Appends use **group commit**: the first caller to find no commit in
//! progress becomes the leader and writes every pending batch in one
//! transaction with `Durability::Immediate` (one fsync); the others wait
//! on a condition variable until their batch is committed. The scrapers
//! use [`Buffer::submit`] instead, which does not block: a committer
//! thread ([`Buffer::run_committer`]) commits everything submitted at
//! most once per interval, and each submitter awaits its batch's commit,
//! so a batch is durable before its producer goes on (a `kill -9` loses
//! nothing that was handed over and acknowledged). Deletions
//! after acknowledgement commit with `Durability::None` (no fsync; made
//! durable by the next append's commit, which redb applies in order); a
//! crash can only make acknowledged data be sent again, never lose unsent
//! data.
//!
//! **Hot path.** Every committed batch is also kept in memory (the *hot*
//! queue, bounded by [`HOT_MAX_SAMPLES`]), so while the receiver keeps up
//! the dispatcher takes records from memory and never reads or decodes
//! them back from disk; the disk copy is only the crash and outage path.
//! When the hot queue is full a batch is on disk only (the *spill*), and
//! [`Buffer::read`] fills every gap in sequence numbers from disk, so the
//! order and the durability guarantees are the same either way.
//!
//! The read cursor (next sequence number to hand to the shards) lives in
//! memory: after a restart every record left on disk is unsent by
//! definition and is read again. Eviction (buffer full, too old) only
//! removes records at or after the cursor, under the cursor's lock, so a
//! sample is never both sent and counted as dropped.
//!
//! `max_bytes` bounds the payload bytes stored (compressed); the file adds
//! B-tree pages and free space on top of it.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use redb::{Database, Durability, ReadableTable, TableDefinition};
use tokio::sync::{oneshot, Notify};

use super::metrics::{reason, ShipMetrics};
use super::record::header;
pub use super::record::{decode_record, encode_record};
use crate::pipeline::Point;

const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Most samples kept in memory for shipping without a disk read (about
/// 32 bytes each; the label sets are shared with the scrapers' caches).
pub const HOT_MAX_SAMPLES: usize = 200_000;

/// redb's page cache. Records are read back only after a restart or a
/// spill, so a small cache does (the OS page cache sits below it).
const CACHE_BYTES: usize = 8 << 20;

/// A disk buffer failure.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    #[error("remote_write buffer: {0}")]
    Redb(Box<redb::Error>),
    #[error("remote_write buffer: cannot create {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
}

fn r<E: Into<redb::Error>>(e: E) -> BufferError {
    BufferError::Redb(Box::new(e.into()))
}

/// One buffered batch read back.
#[derive(Debug)]
pub struct Record {
    pub seq: u64,
    pub points: Vec<Point>,
}

/// Totals, for the gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub bytes: u64,
    pub samples: u64,
    /// Append time of the oldest record (ms), if any.
    pub oldest_ms: Option<i64>,
}

/// A batch waiting for the next commit: its encoded record, its points
/// (for the hot queue) and whom to tell when it is durable.
struct Pending {
    rec: Vec<u8>,
    points: Vec<Point>,
    done: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
struct Group {
    pending: Vec<Pending>,
    committing: bool,
    next_ticket: u64,
    committed: u64,
    /// Asks [`Buffer::run_committer`] to commit what is pending and stop.
    stop: bool,
}

/// The buffer. Methods block on disk I/O (short: one transaction).
pub struct Buffer {
    db: Database,
    max_bytes: u64,
    group: Mutex<Group>,
    done: Condvar,
    /// Wakes the committer thread.
    work: Condvar,
    on_commit: OnceLock<Arc<Notify>>,
    /// Next sequence number to read, and the hot queue; guards eviction
    /// against reads.
    cursor: Mutex<Cursor>,
    hot_max: usize,
    metrics: ShipMetrics,
}

/// The read position and the committed records still in memory.
struct Cursor {
    next: u64,
    /// Committed records in sequence order (with gaps where a record
    /// spilled); entries behind `next` are stale (evicted, expired).
    hot: VecDeque<Record>,
    hot_samples: usize,
}

impl Cursor {
    fn pop_stale(&mut self) {
        while self.hot.front().is_some_and(|r| r.seq < self.next) {
            if let Some(r) = self.hot.pop_front() {
                self.hot_samples -= r.points.len();
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn meta_get(t: &redb::Table<&str, u64>, k: &str) -> Result<u64, BufferError> {
    Ok(t.get(k).map_err(r)?.map(|g| g.value()).unwrap_or(0))
}

impl Buffer {
    /// Opens (or creates) the buffer file. Every record in it is unsent.
    pub fn open(path: &Path, max_bytes: u64, metrics: ShipMetrics) -> Result<Buffer, BufferError> {
        Buffer::open_with_hot_limit(path, max_bytes, HOT_MAX_SAMPLES, metrics)
    }

    /// [`Buffer::open`] with at most `hot_max` samples kept in memory.
    pub fn open_with_hot_limit(
        path: &Path,
        max_bytes: u64,
        hot_max: usize,
        metrics: ShipMetrics,
    ) -> Result<Buffer, BufferError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| BufferError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(r)?;
        let tx = db.begin_write().map_err(r)?;
        let first = {
            let t = tx.open_table(RECORDS).map_err(r)?;
            let _ = tx.open_table(META).map_err(r)?;
            let first = t.first().map_err(r)?.map(|(k, _)| k.value());
            first
        };
        tx.commit().map_err(r)?;
        let b = Buffer {
            db,
            max_bytes,
            group: Mutex::new(Group::default()),
            done: Condvar::new(),
            work: Condvar::new(),
            on_commit: OnceLock::new(),
            cursor: Mutex::new(Cursor {
                next: first.unwrap_or(0),
                hot: VecDeque::new(),
                hot_samples: 0,
            }),
            hot_max,
            metrics,
        };
        b.publish()?;
        Ok(b)
    }

    /// Makes `points` durable (group commit). On a disk error the batch is
    /// counted as dropped (`disk_error`) and logged.
    pub fn append(&self, points: &[Point], now_ms: i64) {
        self.append_owned(points.to_vec(), now_ms);
    }

    /// [`Buffer::append`] taking the batch, which is then also kept in
    /// the hot queue (when there is room) for shipping without a read.
    pub fn append_owned(&self, points: Vec<Point>, now_ms: i64) {
        if points.is_empty() {
            return;
        }
        let rec = encode_record(&points, now_ms);
        let mut g = lock(&self.group);
        g.next_ticket += 1;
        let ticket = g.next_ticket;
        g.pending.push(Pending {
            rec,
            points,
            done: None,
        });
        loop {
            if g.committed >= ticket {
                return;
            }
            if g.committing {
                g = self.done.wait(g).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            g = self.lead(g);
        }
    }

    /// Queues `points` for the committer thread ([`Buffer::run_committer`])
    /// without blocking. The receiver completes once the batch is durable
    /// (or was counted as dropped after a disk error); it fails only when
    /// the buffer stopped before committing it.
    pub fn submit(&self, points: Vec<Point>, now_ms: i64) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if points.is_empty() {
            let _ = tx.send(());
            return rx;
        }
        let rec = encode_record(&points, now_ms);
        let mut g = lock(&self.group);
        g.next_ticket += 1;
        g.pending.push(Pending {
            rec,
            points,
            done: Some(tx),
        });
        drop(g);
        self.work.notify_one();
        rx
    }

    /// Wakes `n` after every commit (the dispatcher's "new data").
    pub fn notify_on_commit(&self, n: Arc<Notify>) {
        let _ = self.on_commit.set(n);
    }

    /// The committer thread's loop: commits whatever [`Buffer::submit`]
    /// queued, at most once per `every` (one fsync for all batches of
    /// that time, across all targets), until [`Buffer::stop_committer`];
    /// what is pending then is committed before it returns.
    pub fn run_committer(&self, every: Duration) {
        let mut g = lock(&self.group);
        loop {
            while g.pending.is_empty() && !g.stop {
                g = self.work.wait(g).unwrap_or_else(|p| p.into_inner());
            }
            if g.pending.is_empty() {
                return; // stopped
            }
            if g.committing {
                g = self.done.wait(g).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            g = self.lead(g);
            if !g.stop {
                g = self
                    .work
                    .wait_timeout_while(g, every, |g| !g.stop)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
    }

    /// Makes [`Buffer::run_committer`] commit what is pending and return.
    pub fn stop_committer(&self) {
        lock(&self.group).stop = true;
        self.work.notify_all();
    }

    /// Commits every pending batch as the group's leader (one
    /// transaction, one fsync) and tells their waiters.
    fn lead<'a>(&'a self, mut g: MutexGuard<'a, Group>) -> MutexGuard<'a, Group> {
        g.committing = true;
        let batch = std::mem::take(&mut g.pending);
        let upto = g.next_ticket;
        drop(g);
        let n: u64 = batch.iter().map(|p| p.points.len() as u64).sum();
        let mut waiters = Vec::new();
        let recs: Vec<(Vec<u8>, Vec<Point>)> = batch
            .into_iter()
            .map(|p| {
                waiters.extend(p.done);
                (p.rec, p.points)
            })
            .collect();
        match self.commit(recs) {
            Ok(evicted) => {
                self.metrics.samples_appended.inc_by(n);
                self.metrics.dropped(reason::BUFFER_FULL, evicted);
            }
            Err(e) => {
                tracing::error!(error = %e, samples = n, "remote_write: batch not buffered");
                self.metrics.dropped(reason::DISK_ERROR, n);
            }
        }
        if let Some(n) = self.on_commit.get() {
            n.notify_one();
        }
        for w in waiters {
            let _ = w.send(());
        }
        let mut g = lock(&self.group);
        g.committing = false;
        g.committed = upto;
        self.done.notify_all();
        g
    }

    /// Writes records and evicts the oldest unread ones beyond `max_bytes`.
    /// Returns the samples evicted.
    fn commit(&self, batch: Vec<(Vec<u8>, Vec<Point>)>) -> Result<u64, BufferError> {
        // Lock order everywhere: cursor, then the write transaction.
        let mut cursor = lock(&self.cursor);
        let mut tx = self.db.begin_write().map_err(r)?;
        tx.set_durability(Durability::Immediate);
        let mut new_cursor = cursor.next;
        let first_seq;
        let totals;
        let evicted = {
            let mut t = tx.open_table(RECORDS).map_err(r)?;
            let mut meta = tx.open_table(META).map_err(r)?;
            let mut bytes = meta_get(&meta, "bytes")?;
            let mut samples = meta_get(&meta, "samples")?;
            let seq = t
                .last()
                .map_err(r)?
                .map(|(k, _)| k.value() + 1)
                .unwrap_or(0)
                // Read-and-acknowledged records may have been the last
                // keys: never reuse a number at or behind the cursor.
                .max(cursor.next);
            first_seq = seq;
            for (i, (rec, p)) in batch.iter().enumerate() {
                t.insert(seq + i as u64, rec.as_slice()).map_err(r)?;
                bytes += rec.len() as u64;
                samples += p.len() as u64;
            }
            let mut evicted = 0;
            while bytes > self.max_bytes {
                let Some((k, len, n)) = t
                    .range(new_cursor..)
                    .map_err(r)?
                    .next()
                    .transpose()
                    .map_err(r)?
                    .map(|(k, v)| {
                        let v = v.value();
                        (k.value(), v.len() as u64, header(v).map_or(0, |h| h.1))
                    })
                else {
                    break;
                };
                t.remove(k).map_err(r)?;
                bytes -= len;
                samples = samples.saturating_sub(n);
                evicted += n;
                new_cursor = k + 1;
            }
            meta.insert("bytes", bytes).map_err(r)?;
            meta.insert("samples", samples).map_err(r)?;
            totals = (bytes, samples);
            evicted
        };
        tx.commit().map_err(r)?;
        cursor.next = new_cursor;
        cursor.pop_stale();
        for (i, (_, points)) in batch.into_iter().enumerate() {
            let seq = first_seq + i as u64;
            if seq < cursor.next || cursor.hot_samples + points.len() > self.hot_max {
                continue; // evicted already, or spilled: on disk only
            }
            cursor.hot_samples += points.len();
            cursor.hot.push_back(Record { seq, points });
        }
        drop(cursor);
        self.set_totals(totals);
        Ok(evicted)
    }

    fn set_totals(&self, (bytes, samples): (u64, u64)) {
        self.metrics.buffer_bytes.set(bytes as i64);
        self.metrics.buffer_samples.set(samples as i64);
    }

    /// Reads unread records from the cursor on, at least one (if any) and
    /// then while fewer than `max_samples` samples were read; advances the
    /// cursor. Corrupt records are deleted and counted.
    /// Records come from the hot queue when it holds the next one, else
    /// from disk up to the next hot record.
    pub fn read(&self, max_samples: usize) -> Result<Vec<Record>, BufferError> {
        let mut cursor = lock(&self.cursor);
        let mut out = Vec::new();
        let mut corrupt = Vec::new();
        let mut n = 0usize;
        while n < max_samples || out.is_empty() {
            cursor.pop_stale();
            let next = cursor.next;
            match cursor.hot.front().map(|r| r.seq) {
                Some(seq) if seq == next => {
                    if let Some(rec) = cursor.hot.pop_front() {
                        cursor.hot_samples -= rec.points.len();
                        cursor.next = seq + 1;
                        n += rec.points.len();
                        out.push(rec);
                    }
                }
                upto => {
                    let before = (out.len(), corrupt.len());
                    self.read_disk(
                        &mut cursor,
                        upto,
                        max_samples,
                        &mut n,
                        &mut out,
                        &mut corrupt,
                    )?;
                    if (out.len(), corrupt.len()) == before {
                        match upto {
                            // Nothing on disk before the next hot record.
                            Some(seq) => cursor.next = seq,
                            None => break,
                        }
                    }
                }
            }
        }
        drop(cursor);
        if !corrupt.is_empty() {
            let samples = self.delete(&corrupt)?;
            tracing::error!(
                records = corrupt.len(),
                "remote_write: corrupt buffer records dropped"
            );
            self.metrics.dropped(reason::CORRUPT, samples.max(1));
        }
        Ok(out)
    }

    /// Reads records from disk from the cursor on, before `upto` (the next
    /// hot record) if given, while fewer than `max_samples` were read.
    fn read_disk(
        &self,
        cursor: &mut Cursor,
        upto: Option<u64>,
        max_samples: usize,
        n: &mut usize,
        out: &mut Vec<Record>,
        corrupt: &mut Vec<u64>,
    ) -> Result<(), BufferError> {
        let tx = self.db.begin_read().map_err(r)?;
        let t = tx.open_table(RECORDS).map_err(r)?;
        let range = match upto {
            Some(end) => t.range(cursor.next..end),
            None => t.range(cursor.next..),
        };
        for e in range.map_err(r)? {
            let (k, v) = e.map_err(r)?;
            let seq = k.value();
            cursor.next = seq + 1;
            match decode_record(v.value()) {
                Some(points) => {
                    *n += points.len();
                    out.push(Record { seq, points });
                }
                None => corrupt.push(seq),
            }
            if *n >= max_samples && !out.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Deletes records (acknowledged or given up). Returns their samples.
    pub fn delete(&self, seqs: &[u64]) -> Result<u64, BufferError> {
        if seqs.is_empty() {
            return Ok(0);
        }
        let mut tx = self.db.begin_write().map_err(r)?;
        // No fsync of its own: the next append's durable commit persists
        // it. A crash before that only makes deleted records come back
        // (sent again: at least once), never loses unsent ones.
        tx.set_durability(Durability::None);
        let mut removed = 0;
        let totals = {
            let mut t = tx.open_table(RECORDS).map_err(r)?;
            let mut meta = tx.open_table(META).map_err(r)?;
            let mut bytes = meta_get(&meta, "bytes")?;
            let mut samples = meta_get(&meta, "samples")?;
            for &s in seqs {
                if let Some(v) = t.remove(s).map_err(r)? {
                    let v = v.value();
                    let n = header(v).map_or(0, |h| h.1);
                    bytes = bytes.saturating_sub(v.len() as u64);
                    samples = samples.saturating_sub(n);
                    removed += n;
                }
            }
            meta.insert("bytes", bytes).map_err(r)?;
            meta.insert("samples", samples).map_err(r)?;
            (bytes, samples)
        };
        tx.commit().map_err(r)?;
        self.set_totals(totals);
        Ok(removed)
    }

    /// Drops unread records appended before `cutoff_ms`; returns samples.
    pub fn expire(&self, cutoff_ms: i64) -> Result<u64, BufferError> {
        let victims: Vec<u64> = {
            let cursor = lock(&self.cursor);
            let tx = self.db.begin_read().map_err(r)?;
            let t = tx.open_table(RECORDS).map_err(r)?;
            let mut v = Vec::new();
            for e in t.range(cursor.next..).map_err(r)? {
                let (k, val) = e.map_err(r)?;
                match header(val.value()) {
                    Some((at, _)) if at >= cutoff_ms => break,
                    _ => v.push(k.value()),
                }
            }
            v
        };
        if victims.is_empty() {
            return Ok(0);
        }
        // Hold the cursor across the delete so no reader takes them.
        let mut cursor = lock(&self.cursor);
        let first_unread = cursor.next;
        let victims: Vec<u64> = victims.into_iter().filter(|&s| s >= first_unread).collect();
        let n = self.delete(&victims)?;
        if let Some(&last) = victims.last() {
            cursor.next = cursor.next.max(last + 1);
            cursor.pop_stale();
        }
        drop(cursor);
        self.metrics.dropped(reason::TOO_OLD, n);
        Ok(n)
    }

    /// Current totals.
    pub fn stats(&self) -> Result<Stats, BufferError> {
        let tx = self.db.begin_read().map_err(r)?;
        let t = tx.open_table(RECORDS).map_err(r)?;
        let meta = tx.open_table(META).map_err(r)?;
        let get = |k: &str| -> Result<u64, BufferError> {
            Ok(meta.get(k).map_err(r)?.map(|g| g.value()).unwrap_or(0))
        };
        let oldest_ms = t
            .first()
            .map_err(r)?
            .and_then(|(_, v)| header(v.value()).map(|h| h.0));
        Ok(Stats {
            bytes: get("bytes")?,
            samples: get("samples")?,
            oldest_ms,
        })
    }

    /// True when every record has been handed to the shards.
    pub fn all_read(&self) -> Result<bool, BufferError> {
        let cursor = lock(&self.cursor);
        let tx = self.db.begin_read().map_err(r)?;
        let t = tx.open_table(RECORDS).map_err(r)?;
        let last = t.last().map_err(r)?.map(|(k, _)| k.value());
        Ok(last.is_none_or(|l| l < cursor.next))
    }

    fn publish(&self) -> Result<(), BufferError> {
        let s = self.stats()?;
        self.set_totals((s.bytes, s.samples));
        Ok(())
    }
}
