//! Batch append with remote_write 1.0 semantics.
//!
//! Prometheus's 1.0 write handler appends a request through one appender
//! and rolls the whole request back on the first out-of-order, duplicate or
//! out-of-bounds sample, answering 400 so the sender does not retry. The
//! store has no transactions, so [`Store::append_batch`] gets the same
//! effect in two phases:
//!
//! 1. **check** every label set against the limits and every sample against
//!    the series' newest stored sample (and the earlier samples of the same
//!    batch), under read locks; any failure refuses the whole batch and
//!    nothing is written;
//! 2. **apply** shard by shard under write locks.
//!
//! The series limit is applied in phase 2: samples for series that exist
//! are stored, new series are created while there is room and the samples
//! of the rest are dropped and counted in [`BatchOutcome`] (the caller
//! answers 429). If another writer appends to the same series between the
//! two phases, a sample can still conflict in phase 2; it is then dropped
//! and counted as a conflict (the rest of the batch stays).

use std::sync::atomic::Ordering;

use rustc_hash::FxHashMap;
use watchfire_promql::labels::Labels;
use watchfire_promql::storage::{HistogramSample, Sample};

use super::series::{check_float, check_histogram, Appended};
use super::{AppendError, Store};

/// The samples of one series in a batch, each list ascending by time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesBatch {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    pub histograms: Vec<HistogramSample>,
}

/// Why a whole batch was refused; nothing of it was written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchError {
    #[error("series {index} ({labels}): {err}")]
    Labels {
        index: usize,
        labels: String,
        err: AppendError,
    },
    #[error("series {index} ({labels}): {err}")]
    Sample {
        index: usize,
        labels: String,
        err: AppendError,
    },
}

impl BatchError {
    pub fn append_error(&self) -> &AppendError {
        match self {
            BatchError::Labels { err, .. } | BatchError::Sample { err, .. } => err,
        }
    }
}

/// What an accepted batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchOutcome {
    /// Float and histogram samples stored.
    pub appended: usize,
    /// Exact duplicates ignored.
    pub duplicates: usize,
    pub series_created: usize,
    /// Series refused by the series limit, and their samples dropped.
    pub series_limited: usize,
    pub samples_limited: usize,
    /// Samples dropped because a concurrent writer got there first.
    pub conflicts: usize,
}

/// The newest sample a series would have while checking a batch.
#[derive(Default, Clone)]
struct Tail {
    float: Option<Sample>,
    hist: Option<HistogramSample>,
}

impl Store {
    /// Appends a batch all-or-nothing for label and sample errors; see the
    /// module docs for the series-limit and concurrency rules.
    pub fn append_batch(&self, batch: &[SeriesBatch]) -> Result<BatchOutcome, BatchError> {
        // Only the offending sample is counted against its reason.
        let refuse = |e: &AppendError| self.counters.reject(e, 1);
        // Phase 1: labels, then samples against stored and batch tails.
        for (index, b) in batch.iter().enumerate() {
            if let Err(err) = self.validate_labels(&b.labels) {
                refuse(&err);
                return Err(BatchError::Labels {
                    index,
                    labels: super::short_labels(&b.labels),
                    err,
                });
            }
        }
        let mut tails: FxHashMap<&Labels, Tail> = FxHashMap::default();
        for (index, b) in batch.iter().enumerate() {
            let tail = tails.entry(&b.labels).or_insert_with(|| {
                let shard = self.shards[self.shard_of(&b.labels)].read();
                shard.get(&b.labels).map_or_else(Tail::default, |s| Tail {
                    float: s.last_sample(),
                    hist: s.last_histogram().cloned(),
                })
            });
            if let Err(err) = self.check_tail(tail, b) {
                refuse(&err);
                return Err(BatchError::Sample {
                    index,
                    labels: super::short_labels(&b.labels),
                    err,
                });
            }
        }
        drop(tails);
        // Phase 2: apply, one write lock per shard.
        let mut by_shard: Vec<Vec<&SeriesBatch>> = vec![Vec::new(); self.shards.len()];
        for b in batch {
            by_shard[self.shard_of(&b.labels)].push(b);
        }
        let mut out = BatchOutcome::default();
        for (i, group) in by_shard.into_iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            let mut shard = self.shards[i].write();
            for b in group {
                let s = match shard.get_mut(&b.labels) {
                    Some(s) => s,
                    None if b.samples.is_empty() && b.histograms.is_empty() => continue,
                    None => match self.reserve_series() {
                        Ok(()) => {
                            out.series_created += 1;
                            shard.create(&b.labels, false)
                        }
                        Err(e) => {
                            let n = b.samples.len() + b.histograms.len();
                            out.series_limited += 1;
                            out.samples_limited += n;
                            self.counters.reject(&e, n as u64);
                            continue;
                        }
                    },
                };
                let mut tally = |r: Result<Appended, AppendError>| match r {
                    Ok(Appended::Stored) => out.appended += 1,
                    Ok(Appended::Duplicate) => out.duplicates += 1,
                    Err(e) => {
                        out.conflicts += 1;
                        self.counters.reject(&e, 1);
                    }
                };
                for p in &b.samples {
                    tally(s.append(p.t, p.v));
                }
                for h in &b.histograms {
                    tally(s.append_histogram(h.t, h.h.clone()));
                }
            }
        }
        let c = &self.counters;
        c.appended.fetch_add(out.appended as u64, Ordering::Relaxed);
        c.duplicates
            .fetch_add(out.duplicates as u64, Ordering::Relaxed);
        c.created
            .fetch_add(out.series_created as u64, Ordering::Relaxed);
        Ok(out)
    }

    /// Advances `tail` over `b`'s samples, failing on the first bad one.
    fn check_tail(&self, tail: &mut Tail, b: &SeriesBatch) -> Result<(), AppendError> {
        for p in &b.samples {
            self.check_time(p.t)?;
            if check_float(tail.float, p.t, p.v)? == Appended::Stored {
                tail.float = Some(*p);
            }
        }
        for h in &b.histograms {
            self.check_time(h.t)?;
            if check_histogram(tail.hist.as_ref(), h.t, &h.h)? == Appended::Stored {
                tail.hist = Some(h.clone());
            }
        }
        Ok(())
    }
}
