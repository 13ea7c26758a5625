//! Turns a decoded [`WriteRequest`] into store batches, checking what
//! remote_write 1.0 requires of a series: label names sorted and unique,
//! none empty, a non-empty metric name, and sample timestamps not too far
//! in the future (Prometheus refuses samples more than 10 minutes ahead).
//! Empty label values are dropped (Prometheus treats them as absent).

use std::sync::Arc;

use watchfire_promql::labels::{Label, Labels, METRIC_NAME};
use watchfire_promql::storage::{CounterResetHint, FloatHistogram, HistogramSample, Sample};

use super::proto::{histogram, BucketSpan, Histogram, TimeSeries, WriteRequest};
use crate::store::SeriesBatch;

/// Why one series of a request is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    #[error("series has no metric name (__name__ missing or empty)")]
    NoMetricName,
    #[error("empty label name")]
    EmptyLabelName,
    #[error("labels not sorted by name: {prev:?} before {next:?}")]
    Unsorted { prev: String, next: String },
    #[error("duplicate label name {0:?}")]
    DuplicateLabel(String),
    #[error("sample timestamp {t} is more than {max_future_ms} ms ahead of the receiver's clock")]
    TooFarInFuture { t: i64, max_future_ms: i64 },
    #[error("histogram at {t}: {reason}")]
    BadHistogram { t: i64, reason: &'static str },
}

/// A series error with where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timeseries[{index}] {labels}: {err}")]
pub struct InvalidSeries {
    pub index: usize,
    /// The series' labels as received (shortened), for the message.
    pub labels: String,
    pub err: SeriesError,
}

/// Request totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestCounts {
    pub series: usize,
    pub samples: usize,
    pub histograms: usize,
    pub exemplars: usize,
}

/// Converts and validates; `max_t` is the newest acceptable timestamp.
pub fn to_batches(
    req: WriteRequest,
    max_t: i64,
    max_future_ms: i64,
) -> Result<(Vec<SeriesBatch>, RequestCounts), InvalidSeries> {
    let mut counts = RequestCounts::default();
    // Grown as series pass validation, not reserved from the request's
    // own length.
    let mut out = Vec::new();
    for (index, mut ts) in req.timeseries.into_iter().enumerate() {
        counts.series += 1;
        counts.samples += ts.samples.len();
        counts.histograms += ts.histograms.len();
        counts.exemplars += ts.exemplars.len();
        let fail = |ts: &TimeSeries, err| InvalidSeries {
            index,
            labels: describe(ts),
            err,
        };
        let labels = match to_labels(&mut ts) {
            Ok(l) => l,
            Err(e) => return Err(fail(&ts, e)),
        };
        // From here on errors describe the series by its parsed labels.
        let fail = |_: &TimeSeries, err| InvalidSeries {
            index,
            labels: crate::store::short_labels(&labels),
            err,
        };
        let too_new = ts
            .samples
            .iter()
            .map(|s| s.timestamp)
            .chain(ts.histograms.iter().map(|h| h.timestamp))
            .find(|&t| t > max_t);
        if let Some(t) = too_new {
            return Err(fail(&ts, SeriesError::TooFarInFuture { t, max_future_ms }));
        }
        let mut histograms = Vec::new();
        for h in &ts.histograms {
            match to_float_histogram(h) {
                Ok(fh) => histograms.push(HistogramSample {
                    t: h.timestamp,
                    h: Arc::new(fh),
                }),
                Err(e) => return Err(fail(&ts, e)),
            }
        }
        out.push(SeriesBatch {
            labels,
            samples: ts
                .samples
                .iter()
                .map(|s| Sample {
                    t: s.timestamp,
                    v: s.value,
                })
                .collect(),
            histograms,
        });
    }
    Ok((out, counts))
}

/// Checks the label rules, then moves the names and values out of `ts`.
fn to_labels(ts: &mut TimeSeries) -> Result<Labels, SeriesError> {
    let mut prev: Option<&str> = None;
    let mut has_name = false;
    for l in &ts.labels {
        if l.name.is_empty() {
            return Err(SeriesError::EmptyLabelName);
        }
        if let Some(p) = prev {
            match p.cmp(l.name.as_str()) {
                std::cmp::Ordering::Equal => {
                    return Err(SeriesError::DuplicateLabel(l.name.clone()))
                }
                std::cmp::Ordering::Greater => {
                    return Err(SeriesError::Unsorted {
                        prev: p.to_string(),
                        next: l.name.clone(),
                    })
                }
                std::cmp::Ordering::Less => {}
            }
        }
        prev = Some(&l.name);
        has_name |= l.name == METRIC_NAME && !l.value.is_empty();
    }
    if !has_name {
        return Err(SeriesError::NoMetricName);
    }
    let v: Vec<Label> = std::mem::take(&mut ts.labels)
        .into_iter()
        .filter(|l| !l.value.is_empty())
        .map(|l| Label {
            name: l.name,
            value: l.value,
        })
        .collect();
    Ok(Labels::from_sorted(v))
}

/// `{a="b", …}` cut to about 200 bytes.
fn describe(ts: &TimeSeries) -> String {
    let mut s = String::from("{");
    for (i, l) in ts.labels.iter().enumerate() {
        if s.len() > 200 {
            s.push_str(", …");
            break;
        }
        if i > 0 {
            s.push_str(", ");
        }
        let v: String = l.value.chars().take(64).collect();
        let n: String = l.name.chars().take(64).collect();
        s.push_str(&format!("{n}={v:?}"));
    }
    s.push('}');
    s
}

fn spans(s: &[BucketSpan]) -> Vec<(i32, u32)> {
    s.iter().map(|b| (b.offset, b.length)).collect()
}

/// Integer histograms carry deltas between consecutive buckets.
fn undelta(d: &[i64]) -> Vec<f64> {
    let mut acc: i64 = 0;
    d.iter()
        .map(|&x| {
            acc = acc.wrapping_add(x);
            acc as f64
        })
        .collect()
}

fn to_float_histogram(h: &Histogram) -> Result<FloatHistogram, SeriesError> {
    let bad = |reason| SeriesError::BadHistogram {
        t: h.timestamp,
        reason,
    };
    let is_float = matches!(h.count, Some(histogram::Count::CountFloat(_)));
    let (pos, neg) = if is_float {
        if !h.positive_deltas.is_empty() || !h.negative_deltas.is_empty() {
            return Err(bad("float histogram with integer bucket deltas"));
        }
        (h.positive_counts.clone(), h.negative_counts.clone())
    } else {
        if !h.positive_counts.is_empty() || !h.negative_counts.is_empty() {
            return Err(bad("integer histogram with float bucket counts"));
        }
        (undelta(&h.positive_deltas), undelta(&h.negative_deltas))
    };
    let span_total = |s: &[BucketSpan]| s.iter().map(|b| b.length as usize).sum::<usize>();
    if span_total(&h.positive_spans) != pos.len() || span_total(&h.negative_spans) != neg.len() {
        return Err(bad("bucket spans do not match the number of buckets"));
    }
    let count = match h.count {
        Some(histogram::Count::CountInt(c)) => c as f64,
        Some(histogram::Count::CountFloat(c)) => c,
        None => 0.0,
    };
    let zero_count = match h.zero_count {
        Some(histogram::ZeroCount::ZeroCountInt(c)) => c as f64,
        Some(histogram::ZeroCount::ZeroCountFloat(c)) => c,
        None => 0.0,
    };
    let counter_reset_hint = match histogram::ResetHint::try_from(h.reset_hint) {
        Ok(histogram::ResetHint::Yes) => CounterResetHint::Reset,
        Ok(histogram::ResetHint::No) => CounterResetHint::NotReset,
        Ok(histogram::ResetHint::Gauge) => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    };
    Ok(FloatHistogram {
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count,
        count,
        sum: h.sum,
        positive_spans: spans(&h.positive_spans),
        positive_buckets: pos,
        negative_spans: spans(&h.negative_spans),
        negative_buckets: neg,
        custom_values: h.custom_values.clone(),
        counter_reset_hint,
    })
}
