//! The alert log: how alerts are laid out in the dispatch store.
//!
//! Alerts are most of what `POST /api/v2/alerts` writes, so their layout
//! decides the ingest cost. One redb row per alert cost a B-tree insert,
//! a key and an encoding call per alert, in the single commit thread.
//! Instead, every commit appends **rows of operations** (`Put` an alert's
//! new version, `Del` a fingerprint) to one table keyed by a `u64`
//! sequence number. A row holds at most [`ROW_OPS`] operations and
//! [`ROW_BYTES`] bytes (sized to fill one redb page), so a commit of
//! 4,096 alerts is a few dozen inserts, not 4,096.
//!
//! Loading replays the rows in order: a later `Put` of a fingerprint
//! replaces an earlier one, a `Del` removes it. So the log stays correct
//! only if garbage collection never changes what a replay yields. This
//! module keeps, in memory, where each live alert's current version is
//! and how many live versions each row holds, and drops rows by these
//! rules:
//!
//! - a row with no live version and no `Del` can go at once: every `Put`
//!   in it is superseded by a later row, which a replay reaches anyway;
//! - a row with no live version but with a `Del` can go only once it is
//!   the oldest row: an older row might hold a stale `Put` that its `Del`
//!   cancels, and with no older row there is none;
//! - **compaction** bounds the garbage. When stored versions exceed
//!   `2 × live + SLACK`, the oldest row's live versions are copied into
//!   the commit being written and the row is dropped (safe: nothing is
//!   older than it). Each copy is paid for by superseded versions that
//!   the same sweep frees, so the write cost stays amortised O(1) per
//!   alert written.
//!
//! Pure: rows come in and go out as bytes; reading an old row during
//! compaction goes through a closure the caller supplies.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};
use watchfire_alertmodel::Alert;

/// Most operations in one row: keeps rows (and a compaction step) small.
pub const ROW_OPS: usize = 1024;

/// Most bytes in one row (unless a single operation is larger). redb
/// stores a large value alone in a page of 4 KiB × 2ⁿ and writes the
/// whole page, so a row is cut to fill one exactly: 16 bytes go to the
/// leaf's header, its length and its `u64` key. Rows of 1,024 alerts
/// (about 137 KiB) went into 256 KiB pages, so a commit wrote (and
/// fsynced) almost twice its data. 32 KiB rows waste at most one partly
/// filled page per commit.
pub const ROW_BYTES: usize = 32 * 1024 - 16;

/// Garbage allowed on top of `live` before compaction starts.
pub const SLACK: u64 = 65_536;

/// One operation in a row, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// The alert's current version.
    Put(Arc<Alert>),
    /// The alert with this fingerprint is gone.
    Del(u64),
}

impl Op {
    /// The operation for one of the core's alert changes
    /// ([`watchfire_dispatch::Changes::alerts`]): the stored version, or
    /// `None` when the alert is gone; keyed by its fingerprint.
    pub fn keyed(fp: u64, change: Option<Arc<Alert>>) -> (u64, Op) {
        (fp, change.map_or(Op::Del(fp), Op::Put))
    }

    /// The fingerprint of the alert this operation is about.
    pub fn fingerprint(&self) -> u64 {
        match self {
            Op::Put(a) => a.fingerprint(),
            Op::Del(fp) => *fp,
        }
    }
}

/// Why a log row could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("alert log row {seq} is unreadable: {source}")]
    Decode {
        seq: u64,
        #[source]
        source: postcard::Error,
    },
    #[error("alert log row {seq} is missing")]
    Missing { seq: u64 },
    #[error("reading alert log row {seq}: {source}")]
    Read {
        seq: u64,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What one commit writes to the log table, in this order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LogWrite {
    /// New rows.
    pub puts: Vec<(u64, Vec<u8>)>,
    /// Rows to remove (after the puts).
    pub deletes: Vec<u64>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct RowInfo {
    /// Versions in this row that are their alert's current one.
    live: u32,
    /// `Put`s in this row (current or not).
    puts: u32,
    has_dels: bool,
}

/// The in-memory index of the alert log.
#[derive(Debug)]
pub struct AlertLog {
    /// Fingerprint → (row, position) of its current version.
    latest: HashMap<u64, (u64, u32), FxBuildHasher>,
    rows: BTreeMap<u64, RowInfo>,
    next_seq: u64,
    /// Sum of `puts` over `rows`.
    stored: u64,
    /// The table could not be read: rows not in `rows` may exist, so
    /// every `Del` is written and no unknown row is ever dropped.
    blind: bool,
    /// Rows whose last live version went since the last collection.
    candidates: Vec<u64>,
    /// [`ROW_OPS`], [`ROW_BYTES`] and [`SLACK`] (smaller in tests).
    row_ops: usize,
    row_bytes: usize,
    slack: u64,
}

impl Default for AlertLog {
    fn default() -> AlertLog {
        AlertLog {
            latest: HashMap::default(),
            rows: BTreeMap::new(),
            next_seq: 0,
            stored: 0,
            blind: false,
            candidates: Vec::new(),
            row_ops: ROW_OPS,
            row_bytes: ROW_BYTES,
            slack: SLACK,
        }
    }
}

/// A row being built in a commit: its operations, encoded as they come,
/// after [`encode::HEAD`] bytes kept for the count the row starts with
/// (written when it closes, [`encode::row`]).
struct Open {
    seq: u64,
    count: usize,
    body: Vec<u8>,
}

impl Open {
    fn new(seq: u64, cap: usize) -> Open {
        let mut body = Vec::with_capacity(cap);
        body.resize(encode::HEAD, 0);
        Open {
            seq,
            count: 0,
            body,
        }
    }

    /// Bytes of the operations so far.
    fn ops_len(&self) -> usize {
        self.body.len() - encode::HEAD
    }
}

/// Decodes one stored row.
pub fn decode_row(seq: u64, bytes: &[u8]) -> Result<Vec<Op>, LogError> {
    postcard::from_bytes(bytes).map_err(|source| LogError::Decode { seq, source })
}

impl AlertLog {
    /// Rebuilds the index from every stored row (any order). Returns it,
    /// the live alerts (what a replay yields), and rows that can be
    /// dropped at once. An unreadable row is reported and kept out of the
    /// replay; it is treated as holding a `Del`, so it is dropped only
    /// once it is the oldest.
    pub fn replay(
        mut stored: Vec<(u64, Vec<u8>)>,
        mut unreadable: impl FnMut(LogError),
    ) -> (AlertLog, Vec<Arc<Alert>>, Vec<u64>) {
        stored.sort_unstable_by_key(|(seq, _)| *seq);
        let mut log = AlertLog::default();
        let mut alerts: HashMap<u64, Arc<Alert>, FxBuildHasher> = HashMap::default();
        for (seq, bytes) in stored {
            log.next_seq = log.next_seq.max(seq + 1);
            log.rows.insert(seq, RowInfo::default());
            let ops = match decode_row(seq, &bytes) {
                Ok(ops) => ops,
                Err(e) => {
                    unreadable(e);
                    log.info(seq).has_dels = true;
                    continue;
                }
            };
            for (i, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Put(a) => {
                        let fp = a.fingerprint();
                        log.index_put(fp, seq, i as u32);
                        alerts.insert(fp, a);
                    }
                    Op::Del(fp) => {
                        log.index_del(fp, seq);
                        alerts.remove(&fp);
                    }
                }
            }
        }
        log.candidates = log.rows.keys().copied().collect();
        let drop = log.collect(None);
        let mut live: Vec<Arc<Alert>> = alerts.into_values().collect();
        live.sort_unstable_by_key(|a| a.fingerprint());
        (log, live, drop)
    }

    /// An index for a table that could not be read: new rows start at
    /// `next_seq`, and every `Del` is written (an unknown older row may
    /// hold the alert).
    pub fn blind(next_seq: u64) -> AlertLog {
        AlertLog {
            next_seq,
            blind: true,
            ..AlertLog::default()
        }
    }

    /// An empty index with small rows and budget, so tests reach
    /// compaction quickly.
    #[cfg(test)]
    pub(crate) fn with_limits(row_ops: usize, slack: u64) -> AlertLog {
        AlertLog {
            row_ops,
            slack,
            ..AlertLog::default()
        }
    }

    /// Alerts currently stored.
    pub fn live(&self) -> usize {
        self.latest.len()
    }

    /// Rows currently stored.
    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// Versions currently stored (live or superseded).
    pub fn stored(&self) -> u64 {
        self.stored
    }

    fn info(&mut self, seq: u64) -> &mut RowInfo {
        self.rows.entry(seq).or_default()
    }

    fn index_put(&mut self, fp: u64, seq: u64, at: u32) {
        if let Some((old, _)) = self.latest.insert(fp, (seq, at)) {
            self.unlive(old);
        }
        let r = self.info(seq);
        r.live += 1;
        r.puts += 1;
        self.stored += 1;
    }

    /// Records a `Del` in row `seq`. A fingerprint that is not live
    /// changes nothing, unless the index is blind (an unknown row may
    /// hold it).
    fn index_del(&mut self, fp: u64, seq: u64) {
        match self.latest.remove(&fp) {
            Some((old, _)) => self.unlive(old),
            None if !self.blind => return,
            None => {}
        }
        self.info(seq).has_dels = true;
    }

    /// One version in row `seq` is no longer current.
    fn unlive(&mut self, seq: u64) {
        if let Some(r) = self.rows.get_mut(&seq) {
            r.live = r.live.saturating_sub(1);
            if r.live == 0 {
                self.candidates.push(seq);
            }
        }
    }

    /// Removes every row the rules allow, except `keep_from` and later
    /// (rows of the commit being written). Returns the removed rows.
    fn collect(&mut self, keep_from: Option<u64>) -> Vec<u64> {
        let kept = |seq: u64| keep_from.is_some_and(|k| seq >= k);
        let mut drop = Vec::new();
        let mut later = Vec::new();
        for seq in std::mem::take(&mut self.candidates) {
            let Some(r) = self.rows.get(&seq) else {
                continue;
            };
            if r.live != 0 || r.has_dels {
                // Still used, or waits until it is the oldest.
                continue;
            }
            if kept(seq) {
                later.push(seq);
                continue;
            }
            self.remove(seq);
            drop.push(seq);
        }
        self.candidates = later;
        // Rows with a `Del` go once they are the oldest, which dropping
        // the oldest can make the next one.
        while !self.blind {
            let Some((&seq, r)) = self.rows.iter().next() else {
                break;
            };
            if r.live != 0 || kept(seq) {
                break;
            }
            self.remove(seq);
            drop.push(seq);
        }
        drop
    }

    fn remove(&mut self, seq: u64) {
        if let Some(r) = self.rows.remove(&seq) {
            self.stored -= u64::from(r.puts);
        }
    }

    /// Appends `ops` (in order) as new rows, compacts if garbage is over
    /// budget, and says what to write. `read` returns a stored row's
    /// bytes (compaction copies live versions out of the oldest row).
    /// On error nothing must be written, and the index must be rebuilt
    /// with [`AlertLog::replay`].
    pub fn append(
        &mut self,
        ops: impl IntoIterator<Item = Op>,
        read: impl FnMut(u64) -> Result<Option<Vec<u8>>, LogError>,
    ) -> Result<LogWrite, LogError> {
        let keyed = ops.into_iter().map(|op| (op.fingerprint(), op));
        self.append_keyed(keyed, read)
    }

    /// [`AlertLog::append`] for operations whose alert fingerprints the
    /// caller already knows (the dispatch core computes each once).
    pub fn append_keyed(
        &mut self,
        ops: impl IntoIterator<Item = (u64, Op)>,
        mut read: impl FnMut(u64) -> Result<Option<Vec<u8>>, LogError>,
    ) -> Result<LogWrite, LogError> {
        let first = self.next_seq;
        let mut out = LogWrite::default();
        let mut open: Option<Open> = None;
        let mut written = 0;
        for (fp, op) in ops {
            written += 1;
            self.push(fp, op, &mut open, &mut out);
        }
        // Compaction: move the oldest rows forward while over budget, but
        // copy at most twice what this commit wrote (plus a few rows), so
        // no single commit pays for a whole sweep; garbage still shrinks
        // faster than it grows.
        let mut copy_budget = 2 * written + 4 * self.row_ops;
        while self.stored > 2 * self.latest.len() as u64 + self.slack {
            let Some(&oldest) = self.rows.keys().next() else {
                break;
            };
            if oldest >= first {
                break;
            }
            let live = self.rows.get(&oldest).map_or(0, |r| r.live as usize);
            if live > copy_budget {
                break;
            }
            copy_budget -= live;
            let bytes = read(oldest)?.ok_or(LogError::Missing { seq: oldest })?;
            for (i, op) in decode_row(oldest, &bytes)?.into_iter().enumerate() {
                if let Op::Put(a) = op {
                    let fp = a.fingerprint();
                    if self.latest.get(&fp) == Some(&(oldest, i as u32)) {
                        self.push(fp, Op::Put(a), &mut open, &mut out);
                    }
                }
            }
            // Now without live versions, and the oldest: it goes.
            let gone = self.collect(Some(first));
            let moved = gone.contains(&oldest);
            out.deletes.extend(gone);
            if !moved {
                break;
            }
        }
        if let Some(o) = open.take() {
            self.close(o, &mut out);
        }
        out.deletes
            .extend(self.collect(None).into_iter().filter(|s| {
                // A row written and superseded in this same commit is simply
                // not written.
                if let Some(i) = out.puts.iter().position(|(p, _)| p == s) {
                    out.puts.remove(i);
                    false
                } else {
                    true
                }
            }));
        Ok(out)
    }

    /// Adds `op`, about the alert with fingerprint `fp`, to the open row,
    /// first closing it when the op would take it past [`ROW_OPS`] or
    /// [`ROW_BYTES`].
    fn push(&mut self, fp: u64, op: Op, open: &mut Option<Open>, out: &mut LogWrite) {
        if matches!(op, Op::Del(_)) && !self.blind && !self.latest.contains_key(&fp) {
            // Nothing stored to delete: nothing to write.
            return;
        }
        let cap = self.row_bytes + 1024;
        let o = open.get_or_insert_with(|| {
            let seq = self.next_seq;
            self.next_seq += 1;
            Open::new(seq, cap)
        });
        let start = o.body.len();
        encode::op(&mut o.body, &op);
        let full = o.count >= self.row_ops
            || (o.count > 0
                && encode::varint_len(o.count as u64 + 1) + o.ops_len() > self.row_bytes);
        if full {
            // The op starts the next row.
            let mut next = Open::new(self.next_seq, cap);
            self.next_seq += 1;
            next.body.extend_from_slice(&o.body[start..]);
            o.body.truncate(start);
            let done = std::mem::replace(o, next);
            self.close(done, out);
        }
        let at = o.count as u32;
        o.count += 1;
        match op {
            Op::Put(_) => self.index_put(fp, o.seq, at),
            Op::Del(_) => self.index_del(fp, o.seq),
        }
    }

    fn close(&mut self, o: Open, out: &mut LogWrite) {
        if self.info(o.seq).live == 0 {
            self.candidates.push(o.seq);
        }
        out.puts.push((o.seq, encode::row(o.count, o.body)));
    }
}

mod encode;

#[cfg(test)]
mod tests;
