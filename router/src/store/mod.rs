//! The in-memory series store the rule engine reads and remote_write
//! fills.
//!
//! Pure: no I/O and no clock. Time enters only as sample timestamps and
//! through [`Store::gc`], which trims samples older than the retention and
//! drops series left empty; after a `gc(now)` samples older than
//! `now − retention` are refused as too old (Prometheus's out-of-bounds).
//!
//! Layout: series are spread over `shards` shards by a hash of their label
//! set; each shard is a `RwLock` around a slab of series, a label-set map
//! and an inverted index (label name → value → sorted series ids), so the
//! rule engine's [`Storage::select`] runs under read locks while ingest
//! takes short write locks shard by shard.
//!
//! Protection: a global series limit (new series beyond it fail with
//! [`AppendError::SeriesLimit`]), a limit on labels per series and on label
//! name and value lengths. Series the router writes itself (alerts,
//! recording rules, self-metrics) go through [`Store::append_internal`]:
//! they are exempt from the series limit, so a full store cannot silence
//! alerting, and are counted apart ([`StoreStats::internal_series`]). Memory is estimated per series (labels, index
//! entries, sample buffers) and reported by [`Store::stats`].

mod batch;
mod index;
pub mod metrics;
mod series;
mod shard;

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use rustc_hash::FxBuildHasher;
use watchfire_promql::labels::{Labels, Matcher};
use watchfire_promql::storage::{FloatHistogram, Series, Storage};

pub use batch::{BatchError, BatchOutcome, SeriesBatch};
pub use series::Appended;
use shard::Shard;

/// Store limits and retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// How long samples are kept, in milliseconds (default 1 h).
    pub retention_ms: i64,
    /// Maximum number of live series (default 2,000,000).
    pub max_series: usize,
    /// Maximum labels on one series, `__name__` included (default 64).
    pub max_labels_per_series: usize,
    /// Maximum label name length in bytes (default 1024).
    pub max_label_name_len: usize,
    /// Maximum label value length in bytes (default 4096).
    pub max_label_value_len: usize,
    /// Number of lock shards (default 32; at least 1).
    pub shards: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retention_ms: 3_600_000,
            max_series: 2_000_000,
            max_labels_per_series: 64,
            max_label_name_len: 1024,
            max_label_value_len: 4096,
            shards: 32,
        }
    }
}

/// Why a sample or series was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    #[error(
        "out of order sample: timestamp {t} is older than the series' newest sample at {last}"
    )]
    OutOfOrder { t: i64, last: i64 },
    #[error("duplicate sample for timestamp {t} with a different value")]
    DuplicateTimestamp { t: i64 },
    #[error("sample timestamp {t} is older than the retention window (oldest accepted {min})")]
    TooOld { t: i64, min: i64 },
    #[error("series limit of {limit} reached: new series refused")]
    SeriesLimit { limit: usize },
    #[error("series has {count} labels, the limit is {limit}")]
    TooManyLabels { count: usize, limit: usize },
    #[error("label name {name:?} is {len} bytes long, the limit is {limit}")]
    LabelNameTooLong {
        name: String,
        len: usize,
        limit: usize,
    },
    #[error("value of label {name:?} is {len} bytes long, the limit is {limit}")]
    LabelValueTooLong {
        name: String,
        len: usize,
        limit: usize,
    },
    #[error("series has no labels")]
    EmptyLabels,
}

impl AppendError {
    /// A short, bounded label value for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            AppendError::OutOfOrder { .. } => "out_of_order",
            AppendError::DuplicateTimestamp { .. } => "duplicate_timestamp",
            AppendError::TooOld { .. } => "too_old",
            AppendError::SeriesLimit { .. } => "series_limit",
            AppendError::TooManyLabels { .. } => "too_many_labels",
            AppendError::LabelNameTooLong { .. } => "label_name_too_long",
            AppendError::LabelValueTooLong { .. } => "label_value_too_long",
            AppendError::EmptyLabels => "empty_labels",
        }
    }

    /// Whether this is a sample-level error (the series itself is fine).
    pub fn is_sample_error(&self) -> bool {
        matches!(
            self,
            AppendError::OutOfOrder { .. }
                | AppendError::DuplicateTimestamp { .. }
                | AppendError::TooOld { .. }
        )
    }
}

/// A point-in-time picture of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// All live series, internal ones included.
    pub series: usize,
    /// Live series created through [`Store::append_internal`].
    pub internal_series: usize,
    pub samples: usize,
    pub histogram_samples: usize,
    /// Estimated bytes held (labels, index, sample buffers).
    pub bytes: usize,
    /// Samples and histogram samples stored since start.
    pub appended_total: u64,
    /// Exact duplicates ignored since start.
    pub duplicates_total: u64,
    /// Refusals since start, by [`AppendError::reason`].
    pub rejected_out_of_order_total: u64,
    pub rejected_duplicate_total: u64,
    pub rejected_too_old_total: u64,
    pub rejected_series_limit_total: u64,
    pub rejected_labels_total: u64,
    /// Series created and removed by gc since start.
    pub series_created_total: u64,
    pub series_removed_total: u64,
}

impl StoreStats {
    /// Average estimated bytes per series (0 when empty).
    pub fn bytes_per_series(&self) -> usize {
        self.bytes.checked_div(self.series).unwrap_or(0)
    }
}

/// What one [`Store::gc`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GcStats {
    pub samples_removed: usize,
    pub series_removed: usize,
}

#[derive(Debug, Default)]
struct Counters {
    appended: AtomicU64,
    duplicates: AtomicU64,
    out_of_order: AtomicU64,
    duplicate_ts: AtomicU64,
    too_old: AtomicU64,
    series_limit: AtomicU64,
    labels: AtomicU64,
    created: AtomicU64,
    removed: AtomicU64,
}

impl Counters {
    fn reject(&self, e: &AppendError, n: u64) {
        let c = match e {
            AppendError::OutOfOrder { .. } => &self.out_of_order,
            AppendError::DuplicateTimestamp { .. } => &self.duplicate_ts,
            AppendError::TooOld { .. } => &self.too_old,
            AppendError::SeriesLimit { .. } => &self.series_limit,
            _ => &self.labels,
        };
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// The series store. Share it as `Arc<Store>`; all methods take `&self`.
#[derive(Debug)]
pub struct Store {
    cfg: StoreConfig,
    shards: Box<[RwLock<Shard>]>,
    /// Live series subject to the series limit.
    series: AtomicUsize,
    /// Live internal series (exempt from the limit).
    internal: AtomicUsize,
    /// Samples older than this are refused (set by `gc`).
    min_valid_t: AtomicI64,
    counters: Counters,
}

impl Default for Store {
    fn default() -> Self {
        Store::new(StoreConfig::default())
    }
}

impl Store {
    pub fn new(cfg: StoreConfig) -> Self {
        let n = cfg.shards.max(1);
        Store {
            shards: (0..n).map(|_| RwLock::new(Shard::default())).collect(),
            cfg,
            series: AtomicUsize::new(0),
            internal: AtomicUsize::new(0),
            min_valid_t: AtomicI64::new(i64::MIN),
            counters: Counters::default(),
        }
    }

    /// A shareable handle.
    pub fn shared(cfg: StoreConfig) -> Arc<Self> {
        Arc::new(Store::new(cfg))
    }

    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    fn shard_of(&self, labels: &Labels) -> usize {
        let h = FxBuildHasher.hash_one(labels);
        ((h >> 32) as usize ^ h as usize) % self.shards.len()
    }

    /// Checks a label set against the limits.
    pub fn validate_labels(&self, labels: &Labels) -> Result<(), AppendError> {
        if labels.is_empty() {
            return Err(AppendError::EmptyLabels);
        }
        if labels.len() > self.cfg.max_labels_per_series {
            return Err(AppendError::TooManyLabels {
                count: labels.len(),
                limit: self.cfg.max_labels_per_series,
            });
        }
        for l in labels.iter() {
            if l.name.len() > self.cfg.max_label_name_len {
                return Err(AppendError::LabelNameTooLong {
                    name: truncate(&l.name),
                    len: l.name.len(),
                    limit: self.cfg.max_label_name_len,
                });
            }
            if l.value.len() > self.cfg.max_label_value_len {
                return Err(AppendError::LabelValueTooLong {
                    name: truncate(&l.name),
                    len: l.value.len(),
                    limit: self.cfg.max_label_value_len,
                });
            }
        }
        Ok(())
    }

    fn check_time(&self, t: i64) -> Result<(), AppendError> {
        let min = self.min_valid_t.load(Ordering::Relaxed);
        if t < min {
            return Err(AppendError::TooOld { t, min });
        }
        Ok(())
    }

    /// Reserves room for one new series under the limit.
    fn reserve_series(&self) -> Result<(), AppendError> {
        let limit = self.cfg.max_series;
        self.series
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (c < limit).then_some(c + 1)
            })
            .map(|_| ())
            .map_err(|_| AppendError::SeriesLimit { limit })
    }

    /// Runs `f` on the series for `labels`, creating it when needed
    /// (`internal` series skip the series limit).
    fn with_series<R>(
        &self,
        labels: &Labels,
        internal: bool,
        f: impl FnOnce(&mut series::MemSeries) -> Result<R, AppendError>,
    ) -> Result<R, AppendError> {
        let mut shard = self.shards[self.shard_of(labels)].write();
        if let Some(s) = shard.get_mut(labels) {
            return f(s);
        }
        self.validate_labels(labels)?;
        if internal {
            self.internal.fetch_add(1, Ordering::AcqRel);
        } else {
            self.reserve_series()?;
        }
        self.counters.created.fetch_add(1, Ordering::Relaxed);
        f(shard.create(labels, internal))
    }

    /// Appends one float sample (stale markers are stored as given).
    pub fn append(&self, labels: &Labels, t: i64, v: f64) -> Result<Appended, AppendError> {
        let r = self
            .check_time(t)
            .and_then(|()| self.with_series(labels, false, |s| s.append(t, v)));
        self.count(&r);
        r
    }

    /// Appends one float sample the router produced itself (alert series,
    /// recording-rule results, self-metrics). Like [`append`](Self::append)
    /// except that creating the series is exempt from `max_series`: the
    /// label limits, ordering and retention rules still apply.
    pub fn append_internal(
        &self,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<Appended, AppendError> {
        let r = self
            .check_time(t)
            .and_then(|()| self.with_series(labels, true, |s| s.append(t, v)));
        self.count(&r);
        r
    }

    /// Appends one native histogram sample (stored and returned as is).
    pub fn append_histogram(
        &self,
        labels: &Labels,
        t: i64,
        h: Arc<FloatHistogram>,
    ) -> Result<Appended, AppendError> {
        let r = self
            .check_time(t)
            .and_then(|()| self.with_series(labels, false, |s| s.append_histogram(t, h)));
        self.count(&r);
        r
    }

    fn count(&self, r: &Result<Appended, AppendError>) {
        match r {
            Ok(Appended::Stored) => self.counters.appended.fetch_add(1, Ordering::Relaxed),
            Ok(Appended::Duplicate) => self.counters.duplicates.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                self.counters.reject(e, 1);
                0
            }
        };
    }

    /// Trims samples older than `now_ms − retention`, removes series left
    /// empty, and refuses older samples from now on.
    pub fn gc(&self, now_ms: i64) -> GcStats {
        self.gc_keeping(now_ms, self.cfg.retention_ms)
    }

    /// Like [`gc`](Self::gc), but keeps at least `keep_ms` (the longer of
    /// the configured retention and `keep_ms` wins). The router passes the
    /// longest span its rules read, so a `rate(x[6h])` rule keeps 6h.
    pub fn gc_keeping(&self, now_ms: i64, keep_ms: i64) -> GcStats {
        let cutoff = now_ms.saturating_sub(self.cfg.retention_ms.max(keep_ms));
        self.min_valid_t.fetch_max(cutoff, Ordering::Relaxed);
        let mut g = GcStats::default();
        let mut internal = 0;
        for shard in self.shards.iter() {
            let r = shard.write().gc(cutoff);
            g.samples_removed += r.samples;
            g.series_removed += r.series;
            internal += r.internal;
        }
        self.series
            .fetch_sub(g.series_removed - internal, Ordering::AcqRel);
        self.internal.fetch_sub(internal, Ordering::AcqRel);
        self.counters
            .removed
            .fetch_add(g.series_removed as u64, Ordering::Relaxed);
        g
    }

    /// Series count, sample counts, memory estimate and counters.
    pub fn stats(&self) -> StoreStats {
        let mut st = StoreStats::default();
        for shard in self.shards.iter() {
            let (series, samples, hist, bytes, internal) = shard.read().usage();
            st.series += series;
            st.internal_series += internal;
            st.samples += samples;
            st.histogram_samples += hist;
            st.bytes += bytes;
        }
        let c = &self.counters;
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        st.appended_total = ld(&c.appended);
        st.duplicates_total = ld(&c.duplicates);
        st.rejected_out_of_order_total = ld(&c.out_of_order);
        st.rejected_duplicate_total = ld(&c.duplicate_ts);
        st.rejected_too_old_total = ld(&c.too_old);
        st.rejected_series_limit_total = ld(&c.series_limit);
        st.rejected_labels_total = ld(&c.labels);
        st.series_created_total = ld(&c.created);
        st.series_removed_total = ld(&c.removed);
        st
    }

    /// The number of live series, internal ones included (cheap).
    pub fn series_count(&self) -> usize {
        self.series.load(Ordering::Acquire) + self.internal.load(Ordering::Acquire)
    }

    /// The number of live internal series (cheap).
    pub fn internal_series_count(&self) -> usize {
        self.internal.load(Ordering::Acquire)
    }

    /// The label sets of the series matching `matchers` with a sample in
    /// `[mint, maxt]`, without copying samples.
    pub fn series_labels(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            shard.read().labels_into(matchers, mint, maxt, &mut out);
        }
        out
    }

    /// The estimated bytes of one series, if it exists.
    pub fn series_bytes(&self, labels: &Labels) -> Option<usize> {
        self.shards[self.shard_of(labels)]
            .read()
            .get(labels)
            .map(|s| s.bytes())
    }
}

impl Storage for Store {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Series> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            shard.read().select_into(matchers, mint, maxt, &mut out);
        }
        out
    }
}

/// A label set printed and cut to about 200 bytes, for error messages.
pub(crate) fn short_labels(labels: &Labels) -> String {
    let s = labels.to_string();
    if s.len() <= 200 {
        return s;
    }
    let mut end = 200;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A label name cut to 64 bytes (on a char boundary) for error messages.
fn truncate(s: &str) -> String {
    if s.len() <= 64 {
        return s.to_string();
    }
    let mut end = 64;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
