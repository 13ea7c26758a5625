//! The optional disk buffer for kept spans (`traces.export.buffer`), in
//! one **redb** file, with the metrics shipper's mechanism
//! ([`crate::ship::buffer`]): a record per accepted request, committed
//! with **group commit** (`Durability::Immediate`, one fsync for every
//! request that arrived during the previous commit) *before* the receiver
//! answers success, and deleted once the upstream acknowledged it (or
//! refused it for good), with `Durability::None`, made durable by the next
//! append's commit.
//!
//! The shipper's buffer is not reused as is: its records are postcard
//! sample batches, its totals and metrics count samples, and when full it
//! evicts the oldest unsent data. Spans need the opposite when full: the
//! receivers push back (`RESOURCE_EXHAUSTED` / 429) so the clients keep
//! and retry them, and nothing that was acknowledged is ever evicted.
//!
//! Layout: table `spans`, sequence number (`u64`, strictly increasing) →
//! `[spans: u32 LE][protobuf ExportTraceServiceRequest]`.
//!
//! Memory: the in-memory queue ([`crate::traces::ingest`]) stays the *hot*
//! path, bounded by `queue_max_spans`; a request that does not fit there
//! but fits on disk is accepted *on disk only* and read back when the
//! forwarder reaches it. After a restart every record left in the file is
//! unsent by definition and is queued again (read back lazily). Delivery is
//! at least once: a `kill -9` after the upstream acknowledged a batch but
//! before its deletion became durable makes that batch be sent again;
//! unacknowledged spans are never lost.
//!
//! `max_bytes` bounds the record bytes stored; the file adds B-tree pages
//! and free space on top of it (redb reuses the pages of deleted records).

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prometheus::IntGauge;
use prost::Message;
use redb::{Database, Durability, ReadableTable, TableDefinition};

const SPANS: TableDefinition<u64, &[u8]> = TableDefinition::new("spans");

/// redb's page cache: records are read back only after a spill or a
/// restart.
const CACHE_BYTES: usize = 4 << 20;

/// A disk buffer failure.
#[derive(Debug, thiserror::Error)]
pub enum SpanBufferError {
    #[error("traces.export.buffer: {0}")]
    Redb(Box<redb::Error>),
    #[error("traces.export.buffer: cannot create {path}: {source}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the agent's trace buffer is full ({max_bytes} bytes); retry later")]
    Full { max_bytes: u64 },
    #[error("traces.export.buffer: commit failed; see the agent's log")]
    Commit,
    #[error("traces.export.buffer: record {0} is missing or corrupt")]
    Corrupt(u64),
}

fn r<E: Into<redb::Error>>(e: E) -> SpanBufferError {
    SpanBufferError::Redb(Box::new(e.into()))
}

/// A record left in the file by a previous run: sequence number and span
/// count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub seq: u64,
    pub spans: usize,
}

#[derive(Default)]
struct Group {
    /// Records waiting for the next commit: (seq, bytes).
    pending: Vec<(u64, Vec<u8>)>,
    committing: bool,
    next_seq: u64,
    /// Every seq up to this one has been through a commit.
    committed: u64,
    /// Seqs whose commit failed (their waiters take them out).
    failed: HashSet<u64>,
}

/// The buffer. Methods block on disk I/O (one transaction); call them from
/// blocking threads.
pub struct SpanBuffer {
    db: Database,
    max_bytes: u64,
    used: AtomicU64,
    group: Mutex<Group>,
    done: Condvar,
    gauge: IntGauge,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A record's bytes: span count, then the request.
pub fn encode_record(req: &ExportTraceServiceRequest, spans: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + req.encoded_len());
    out.extend_from_slice(&u32::try_from(spans).unwrap_or(u32::MAX).to_le_bytes());
    req.encode(&mut out).unwrap_or_else(|_| unreachable!());
    out
}

/// The span count and request of a record; `None` when corrupt.
pub fn decode_record(b: &[u8]) -> Option<(usize, ExportTraceServiceRequest)> {
    let (n, rest) = b.split_first_chunk::<4>()?;
    let req = ExportTraceServiceRequest::decode(rest).ok()?;
    Some((u32::from_le_bytes(*n) as usize, req))
}

impl SpanBuffer {
    /// Opens (or creates) the file and lists the records it holds (all
    /// unsent). `gauge` follows the bytes stored.
    pub fn open(
        path: &Path,
        max_bytes: u64,
        gauge: IntGauge,
    ) -> Result<(SpanBuffer, Vec<Stored>), SpanBufferError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| SpanBufferError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(r)?;
        let tx = db.begin_write().map_err(r)?;
        let mut stored = Vec::new();
        let mut used = 0u64;
        {
            let t = tx.open_table(SPANS).map_err(r)?;
            for e in t.iter().map_err(r)? {
                let (k, v) = e.map_err(r)?;
                let v = v.value();
                used += v.len() as u64;
                let spans = v
                    .first_chunk::<4>()
                    .map_or(0, |n| u32::from_le_bytes(*n) as usize);
                stored.push(Stored {
                    seq: k.value(),
                    spans,
                });
            }
        }
        tx.commit().map_err(r)?;
        let next_seq = stored.last().map_or(1, |s| s.seq + 1);
        gauge.set(used as i64);
        Ok((
            SpanBuffer {
                db,
                max_bytes,
                used: AtomicU64::new(used),
                group: Mutex::new(Group {
                    next_seq,
                    committed: next_seq - 1,
                    ..Group::default()
                }),
                done: Condvar::new(),
                gauge,
            },
            stored,
        ))
    }

    /// Record bytes stored.
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// Makes `rec` durable (group commit) and returns its sequence number;
    /// [`SpanBufferError::Full`] when it does not fit in `max_bytes`.
    pub fn append(&self, rec: Vec<u8>) -> Result<u64, SpanBufferError> {
        let len = rec.len() as u64;
        let max = self.max_bytes;
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u + len <= max).then_some(u + len)
            })
            .map_err(|_| SpanBufferError::Full { max_bytes: max })?;
        let mut g = lock(&self.group);
        let seq = g.next_seq;
        g.next_seq += 1;
        g.pending.push((seq, rec));
        loop {
            if g.committed >= seq {
                if g.failed.remove(&seq) {
                    drop(g);
                    self.release(len);
                    return Err(SpanBufferError::Commit);
                }
                drop(g);
                self.gauge.set(self.used_bytes() as i64);
                return Ok(seq);
            }
            if g.committing {
                g = self.done.wait(g).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            g = self.lead(g);
        }
    }

    fn release(&self, len: u64) {
        let u = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(len))
            })
            .unwrap_or_else(|u| u);
        self.gauge.set(u.saturating_sub(len) as i64);
    }

    /// Commits every pending record as the group's leader.
    fn lead<'a>(&'a self, mut g: MutexGuard<'a, Group>) -> MutexGuard<'a, Group> {
        g.committing = true;
        let batch = std::mem::take(&mut g.pending);
        let upto = g.next_seq - 1;
        drop(g);
        let res = (|| -> Result<(), SpanBufferError> {
            let mut tx = self.db.begin_write().map_err(r)?;
            tx.set_durability(Durability::Immediate);
            {
                let mut t = tx.open_table(SPANS).map_err(r)?;
                for (seq, rec) in &batch {
                    t.insert(*seq, rec.as_slice()).map_err(r)?;
                }
            }
            tx.commit().map_err(r)
        })();
        let mut g = lock(&self.group);
        if let Err(e) = res {
            tracing::error!(error = %e, records = batch.len(), "trace buffer commit failed");
            g.failed.extend(batch.iter().map(|(s, _)| *s));
        }
        g.committing = false;
        g.committed = upto;
        self.done.notify_all();
        g
    }

    /// Reads one record back.
    pub fn read(&self, seq: u64) -> Result<(usize, ExportTraceServiceRequest), SpanBufferError> {
        let tx = self.db.begin_read().map_err(r)?;
        let t = tx.open_table(SPANS).map_err(r)?;
        let v = t.get(seq).map_err(r)?;
        v.and_then(|v| decode_record(v.value()))
            .ok_or(SpanBufferError::Corrupt(seq))
    }

    /// Deletes records (acknowledged, or given up). No fsync of its own: a
    /// crash before the next append's commit only makes them be sent
    /// again.
    pub fn delete(&self, seqs: &[u64]) -> Result<(), SpanBufferError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().map_err(r)?;
        tx.set_durability(Durability::None);
        let mut freed = 0u64;
        {
            let mut t = tx.open_table(SPANS).map_err(r)?;
            for &s in seqs {
                if let Some(v) = t.remove(s).map_err(r)? {
                    freed += v.value().len() as u64;
                }
            }
        }
        tx.commit().map_err(r)?;
        self.release(freed);
        Ok(())
    }
}
