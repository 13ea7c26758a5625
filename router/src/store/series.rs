//! One in-memory series: its label set and its float and native-histogram
//! samples, each in a time-ordered ring buffer (`VecDeque`) so retention
//! trimming pops from the front and appends push to the back.
//!
//! The append rules are Prometheus's head-block rules: a sample older than
//! the series' newest sample is out of order; a sample at the newest
//! sample's timestamp is a silently ignored duplicate when its value is
//! bit-identical and a duplicate-timestamp error otherwise.

use std::collections::VecDeque;
use std::mem::size_of;
use std::sync::Arc;

use watchfire_promql::labels::{Label, Labels};
use watchfire_promql::storage::{FloatHistogram, HistogramSample, Sample};

use super::AppendError;

/// What an accepted append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The sample was stored.
    Stored,
    /// Same timestamp and same value as the newest sample: nothing stored.
    Duplicate,
}

/// Checks a float sample against the newest one, without storing it.
pub(crate) fn check_float(last: Option<Sample>, t: i64, v: f64) -> Result<Appended, AppendError> {
    match last {
        Some(l) if t < l.t => Err(AppendError::OutOfOrder { t, last: l.t }),
        Some(l) if t == l.t => {
            if l.v.to_bits() == v.to_bits() {
                Ok(Appended::Duplicate)
            } else {
                Err(AppendError::DuplicateTimestamp { t })
            }
        }
        _ => Ok(Appended::Stored),
    }
}

/// Checks a histogram sample against the newest one, without storing it.
pub(crate) fn check_histogram(
    last: Option<&HistogramSample>,
    t: i64,
    h: &FloatHistogram,
) -> Result<Appended, AppendError> {
    match last {
        Some(l) if t < l.t => Err(AppendError::OutOfOrder { t, last: l.t }),
        Some(l) if t == l.t => {
            if *l.h == *h {
                Ok(Appended::Duplicate)
            } else {
                Err(AppendError::DuplicateTimestamp { t })
            }
        }
        _ => Ok(Appended::Stored),
    }
}

/// A stored series.
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub labels: Labels,
    pub samples: VecDeque<Sample>,
    pub histograms: VecDeque<HistogramSample>,
    /// Fixed bytes (labels, index entries) computed once at creation.
    fixed_bytes: usize,
    /// Created by the router itself (rule results, self-metrics): exempt
    /// from the series limit and counted apart.
    pub internal: bool,
}

impl MemSeries {
    pub fn new(labels: Labels) -> Self {
        let fixed_bytes = fixed_bytes(&labels);
        MemSeries {
            labels,
            samples: VecDeque::new(),
            histograms: VecDeque::new(),
            fixed_bytes,
            internal: false,
        }
    }

    pub fn last_sample(&self) -> Option<Sample> {
        self.samples.back().copied()
    }

    pub fn last_histogram(&self) -> Option<&HistogramSample> {
        self.histograms.back()
    }

    pub fn append(&mut self, t: i64, v: f64) -> Result<Appended, AppendError> {
        let r = check_float(self.last_sample(), t, v)?;
        if r == Appended::Stored {
            self.samples.push_back(Sample { t, v });
        }
        Ok(r)
    }

    pub fn append_histogram(
        &mut self,
        t: i64,
        h: Arc<FloatHistogram>,
    ) -> Result<Appended, AppendError> {
        let r = check_histogram(self.last_histogram(), t, &h)?;
        if r == Appended::Stored {
            self.histograms.push_back(HistogramSample { t, h });
        }
        Ok(r)
    }

    /// Drops samples older than `cutoff`; returns how many were dropped.
    /// Shrinks the buffers when they became mostly empty.
    pub fn truncate_before(&mut self, cutoff: i64) -> usize {
        let n = self.samples.partition_point(|s| s.t < cutoff);
        self.samples.drain(..n);
        let m = self.histograms.partition_point(|s| s.t < cutoff);
        self.histograms.drain(..m);
        if self.samples.capacity() > 64 && self.samples.len() * 4 < self.samples.capacity() {
            self.samples.shrink_to(self.samples.len() * 2);
        }
        if self.histograms.capacity() > 16 && self.histograms.len() * 4 < self.histograms.capacity()
        {
            self.histograms.shrink_to(self.histograms.len() * 2);
        }
        n + m
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.histograms.is_empty()
    }

    /// Whether any float or histogram sample lies in `[mint, maxt]`,
    /// without copying any.
    pub fn has_sample_in(&self, mint: i64, maxt: i64) -> bool {
        let lo = self.samples.partition_point(|p| p.t < mint);
        if self.samples.get(lo).is_some_and(|p| p.t <= maxt) {
            return true;
        }
        let hlo = self.histograms.partition_point(|p| p.t < mint);
        self.histograms.get(hlo).is_some_and(|p| p.t <= maxt)
    }

    /// Copies the samples in `[mint, maxt]`.
    pub fn window(&self, mint: i64, maxt: i64) -> (Vec<Sample>, Vec<HistogramSample>) {
        let lo = self.samples.partition_point(|p| p.t < mint);
        let hi = self.samples.partition_point(|p| p.t <= maxt);
        let samples = if lo < hi {
            let mut v = Vec::with_capacity(hi - lo);
            v.extend(self.samples.range(lo..hi));
            v
        } else {
            Vec::new()
        };
        let histograms = if self.histograms.is_empty() {
            Vec::new()
        } else {
            let hlo = self.histograms.partition_point(|p| p.t < mint);
            let hhi = self.histograms.partition_point(|p| p.t <= maxt);
            if hlo < hhi {
                self.histograms.range(hlo..hhi).cloned().collect()
            } else {
                Vec::new()
            }
        };
        (samples, histograms)
    }

    /// Estimated heap and inline bytes this series costs, index included.
    pub fn bytes(&self) -> usize {
        let hist: usize = self
            .histograms
            .iter()
            .map(|h| {
                size_of::<FloatHistogram>()
                    + 16
                    + 8 * (h.h.positive_buckets.len()
                        + h.h.negative_buckets.len()
                        + h.h.custom_values.len())
                    + 8 * (h.h.positive_spans.len() + h.h.negative_spans.len())
            })
            .sum();
        self.fixed_bytes
            + self.samples.capacity() * size_of::<Sample>()
            + self.histograms.capacity() * size_of::<HistogramSample>()
            + hist
    }
}

/// Bytes for the label set (the Arc'd slice and its strings), its copies
/// in the inverted index (one posting id per label plus the amortised
/// name/value keys), the series-map entry and the slab slot.
fn fixed_bytes(labels: &Labels) -> usize {
    let strings: usize = labels
        .iter()
        .map(|l| l.name.capacity() + l.value.capacity())
        .sum();
    let per_label_index = size_of::<u32>() + 16;
    size_of::<MemSeries>()
        + 16 // Arc header
        + labels.len() * (size_of::<Label>() + per_label_index)
        + strings
        + 2 * size_of::<usize>() + size_of::<u32>() + 8 // series map entry
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `has_sample_in` must agree with `window` on every range.
    fn check(times: &[i64], mint: i64, maxt: i64, expect: bool) {
        let mut s = MemSeries::new(Labels::default());
        for &t in times {
            s.append(t, 1.0).expect("in order");
        }
        assert_eq!(
            s.has_sample_in(mint, maxt),
            expect,
            "{times:?} [{mint}, {maxt}]"
        );
        assert_eq!(!s.window(mint, maxt).0.is_empty(), expect);
    }

    #[test]
    fn has_sample_in_matches_window() {
        check(&[], 0, 100, false);
        check(&[10, 20, 30], 0, 100, true);
        check(&[10, 20, 30], 20, 20, true);
        check(&[10, 20, 30], 11, 19, false);
        check(&[10, 20, 30], 31, 100, false);
        check(&[10, 20, 30], 0, 9, false);
        check(&[10, 20, 30], 30, 30, true);
        check(&[10], 10, 9, false);
    }
}
