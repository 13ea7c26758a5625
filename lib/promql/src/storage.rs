//! The storage boundary: the evaluator reads samples only through
//! [`Storage`], so the in-memory router store, the promqltest runner's
//! fixture store and the rule unit-test store are interchangeable.

use crate::labels::{Labels, Matcher};

/// The bit pattern Prometheus uses for a staleness marker (a special NaN).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is a staleness marker (not just any NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample. `t` is milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

/// Counter-reset hint of a native histogram sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterResetHint {
    #[default]
    Unknown,
    Reset,
    NotReset,
    Gauge,
}

/// A native histogram in float form. Watchfire's engine evaluates classic
/// `le` buckets; native histograms are stored and returned by selectors
/// unchanged (so promtool unit tests that load and read them back work),
/// and most functions ignore them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: f64,
    pub count: f64,
    pub sum: f64,
    /// (offset, length) spans of positive buckets.
    pub positive_spans: Vec<(i32, u32)>,
    pub positive_buckets: Vec<f64>,
    pub negative_spans: Vec<(i32, u32)>,
    pub negative_buckets: Vec<f64>,
    /// Custom bucket bounds (schema -53), empty otherwise.
    pub custom_values: Vec<f64>,
    pub counter_reset_hint: CounterResetHint,
}

/// One native histogram sample. `t` is milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSample {
    pub t: i64,
    pub h: std::sync::Arc<FloatHistogram>,
}

/// A series and its samples in ascending time order. Samples may include
/// staleness markers; the evaluator handles them.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    /// Native histogram samples, ascending by time (usually empty).
    pub histograms: Vec<HistogramSample>,
}

/// Read access to series data.
pub trait Storage {
    /// Every series whose labels match all `matchers`, with the samples
    /// whose timestamps lie in `[mint, maxt]` (milliseconds, inclusive).
    /// Series with no sample in the window may be omitted. Order is not
    /// significant.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Series>;
}

impl<S: Storage + ?Sized> Storage for &S {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Series> {
        (**self).select(matchers, mint, maxt)
    }
}

/// A simple store over a vector of series; used by tests and tools.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    pub series: Vec<Series>,
}

impl Storage for MemStorage {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Series> {
        self.series
            .iter()
            .filter(|s| Matcher::all_match(matchers, &s.labels))
            .filter_map(|s| {
                let lo = s.samples.partition_point(|p| p.t < mint);
                let hi = s.samples.partition_point(|p| p.t <= maxt);
                let hlo = s.histograms.partition_point(|p| p.t < mint);
                let hhi = s.histograms.partition_point(|p| p.t <= maxt);
                (lo < hi || hlo < hhi).then(|| Series {
                    labels: s.labels.clone(),
                    samples: s.samples[lo..hi].to_vec(),
                    histograms: s.histograms[hlo..hhi].to_vec(),
                })
            })
            .collect()
    }
}
