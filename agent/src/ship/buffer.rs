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
//! on a condition variable until their batch is committed. Deletions
//! after acknowledgement commit with `Durability::Eventual` (made durable
//! by the next append); a crash can only make acknowledged data be sent
//! again, never lose unsent data.
//!
//! The read cursor (next sequence number to hand to the shards) lives in
//! memory: after a restart every record left on disk is unsent by
//! definition and is read again. Eviction (buffer full, too old) only
//! removes records at or after the cursor, under the cursor's lock, so a
//! sample is never both sent and counted as dropped.
//!
//! `max_bytes` bounds the payload bytes stored (compressed); the file adds
//! B-tree pages and free space on top of it.

use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};

use redb::{Database, Durability, ReadableTable, TableDefinition};

use super::metrics::{reason, ShipMetrics};
use super::record::header;
pub use super::record::{decode_record, encode_record};
use crate::pipeline::Point;

const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

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

#[derive(Default)]
struct Group {
    pending: Vec<(Vec<u8>, u64)>,
    committing: bool,
    next_ticket: u64,
    committed: u64,
}

/// The buffer. Methods block on disk I/O (short: one transaction).
pub struct Buffer {
    db: Database,
    max_bytes: u64,
    group: Mutex<Group>,
    done: Condvar,
    /// Next sequence number to read; guards eviction against reads.
    cursor: Mutex<u64>,
    metrics: ShipMetrics,
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
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| BufferError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let db = Database::create(path).map_err(r)?;
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
            cursor: Mutex::new(first.unwrap_or(0)),
            metrics,
        };
        b.publish()?;
        Ok(b)
    }

    /// Makes `points` durable (group commit). On a disk error the batch is
    /// counted as dropped (`disk_error`) and logged.
    pub fn append(&self, points: &[Point], now_ms: i64) {
        if points.is_empty() {
            return;
        }
        let rec = encode_record(points, now_ms);
        let mut g = lock(&self.group);
        g.next_ticket += 1;
        let ticket = g.next_ticket;
        g.pending.push((rec, points.len() as u64));
        loop {
            if g.committed >= ticket {
                return;
            }
            if g.committing {
                g = self.done.wait(g).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            g.committing = true;
            let batch = std::mem::take(&mut g.pending);
            let upto = g.next_ticket;
            drop(g);
            let n: u64 = batch.iter().map(|(_, n)| n).sum();
            match self.commit(batch) {
                Ok(evicted) => {
                    self.metrics.samples_appended.inc_by(n);
                    self.metrics.dropped(reason::BUFFER_FULL, evicted);
                }
                Err(e) => {
                    tracing::error!(error = %e, samples = n, "remote_write: batch not buffered");
                    self.metrics.dropped(reason::DISK_ERROR, n);
                }
            }
            let _ = self.publish();
            g = lock(&self.group);
            g.committing = false;
            g.committed = upto;
            self.done.notify_all();
        }
    }

    /// Writes records and evicts the oldest unread ones beyond `max_bytes`.
    /// Returns the samples evicted.
    fn commit(&self, batch: Vec<(Vec<u8>, u64)>) -> Result<u64, BufferError> {
        // Lock order everywhere: cursor, then the write transaction.
        let mut cursor = lock(&self.cursor);
        let mut tx = self.db.begin_write().map_err(r)?;
        tx.set_durability(Durability::Immediate);
        let mut new_cursor = *cursor;
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
                .max(*cursor);
            for (i, (rec, n)) in batch.iter().enumerate() {
                t.insert(seq + i as u64, rec.as_slice()).map_err(r)?;
                bytes += rec.len() as u64;
                samples += n;
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
            evicted
        };
        tx.commit().map_err(r)?;
        *cursor = new_cursor;
        Ok(evicted)
    }

    /// Reads unread records from the cursor on, at least one (if any) and
    /// then while fewer than `max_samples` samples were read; advances the
    /// cursor. Corrupt records are deleted and counted.
    pub fn read(&self, max_samples: usize) -> Result<Vec<Record>, BufferError> {
        let mut cursor = lock(&self.cursor);
        let tx = self.db.begin_read().map_err(r)?;
        let t = tx.open_table(RECORDS).map_err(r)?;
        let mut out = Vec::new();
        let mut corrupt = Vec::new();
        let mut n = 0usize;
        for e in t.range(*cursor..).map_err(r)? {
            let (k, v) = e.map_err(r)?;
            let seq = k.value();
            *cursor = seq + 1;
            match decode_record(v.value()) {
                Some(points) => {
                    n += points.len();
                    out.push(Record { seq, points });
                }
                None => corrupt.push(seq),
            }
            if n >= max_samples {
                break;
            }
        }
        drop(t);
        drop(tx);
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

    /// Deletes records (acknowledged or given up). Returns their samples.
    pub fn delete(&self, seqs: &[u64]) -> Result<u64, BufferError> {
        if seqs.is_empty() {
            return Ok(0);
        }
        let mut tx = self.db.begin_write().map_err(r)?;
        tx.set_durability(Durability::Eventual);
        let mut removed = 0;
        {
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
        }
        tx.commit().map_err(r)?;
        let _ = self.publish();
        Ok(removed)
    }

    /// Drops unread records appended before `cutoff_ms`; returns samples.
    pub fn expire(&self, cutoff_ms: i64) -> Result<u64, BufferError> {
        let victims: Vec<u64> = {
            let cursor = lock(&self.cursor);
            let tx = self.db.begin_read().map_err(r)?;
            let t = tx.open_table(RECORDS).map_err(r)?;
            let mut v = Vec::new();
            for e in t.range(*cursor..).map_err(r)? {
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
        let first_unread = *cursor;
        let victims: Vec<u64> = victims.into_iter().filter(|&s| s >= first_unread).collect();
        let n = self.delete(&victims)?;
        if let Some(&last) = victims.last() {
            *cursor = (*cursor).max(last + 1);
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
        Ok(last.is_none_or(|l| l < *cursor))
    }

    fn publish(&self) -> Result<(), BufferError> {
        let s = self.stats()?;
        self.metrics.buffer_bytes.set(s.bytes as i64);
        self.metrics.buffer_samples.set(s.samples as i64);
        Ok(())
    }
}
