//! The series store of one test group: input series are loaded lazily, up
//! to the current evaluation time (like upstream's `LazyLoader`), so a rule
//! evaluated at `t` never sees input samples after `t`; rule results are
//! appended as they are produced.
//!
//! Native histogram inputs are stored as-is, except that, as the TSDB
//! appender does, a histogram following another one of the same series
//! without a counter reset gets `CounterResetHint::NotReset` (and `Reset`
//! after a detected reset) unless the input set a hint explicitly.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use watchfire_promql::storage::{
    CounterResetHint, FloatHistogram, HistogramSample, MemStorage, Sample, Series, Storage,
};
use watchfire_promql::Labels;
use watchfire_promqltest::SeriesValue;

use crate::rules::RuleStorage;

/// One input series, fully expanded.
#[derive(Debug, Clone)]
struct Input {
    slot: usize,
    samples: Vec<Sample>,
    histograms: Vec<HistogramSample>,
    /// How many of `samples` / `histograms` are loaded.
    loaded: (usize, usize),
}

/// The store of one test group.
#[derive(Debug, Default)]
pub struct TestStorage {
    mem: MemStorage,
    index: HashMap<Labels, usize>,
    inputs: Vec<Input>,
}

impl TestStorage {
    /// Adds an input series whose position `i` lies at `start + i * interval`.
    pub fn add_input(&mut self, labels: Labels, values: &[SeriesValue], start: i64, interval: i64) {
        let slot = self.slot(&labels);
        let mut samples = Vec::new();
        let mut histograms: Vec<HistogramSample> = Vec::new();
        let mut prev: Option<Arc<FloatHistogram>> = None;
        for (i, v) in values.iter().enumerate() {
            let t = start + i as i64 * interval;
            match v {
                SeriesValue::Missing => {}
                SeriesValue::Float(_) | SeriesValue::Stale => {
                    samples.push(Sample {
                        t,
                        v: v.as_f64().unwrap_or(f64::NAN),
                    });
                    prev = None;
                }
                SeriesValue::Histogram { h, hint_set } => {
                    let mut h = h.clone();
                    if !hint_set {
                        h.counter_reset_hint = appender_hint(prev.as_deref(), &h);
                    }
                    let h = Arc::new(h);
                    prev = Some(h.clone());
                    histograms.push(HistogramSample { t, h });
                }
            }
        }
        self.inputs.push(Input {
            slot,
            samples,
            histograms,
            loaded: (0, 0),
        });
    }

    fn slot(&mut self, labels: &Labels) -> usize {
        if let Some(i) = self.index.get(labels) {
            return *i;
        }
        self.mem.series.push(Series {
            labels: labels.clone(),
            samples: Vec::new(),
            histograms: Vec::new(),
        });
        let i = self.mem.series.len() - 1;
        self.index.insert(labels.clone(), i);
        i
    }

    /// Makes every input sample at or before `ts` visible.
    pub fn load_till(&mut self, ts: i64) {
        for input in &mut self.inputs {
            let series = &mut self.mem.series[input.slot];
            let n = input.samples.partition_point(|s| s.t <= ts);
            for s in &input.samples[input.loaded.0..n.max(input.loaded.0)] {
                insert_sample(&mut series.samples, *s);
            }
            let nh = input.histograms.partition_point(|s| s.t <= ts);
            for h in &input.histograms[input.loaded.1..nh.max(input.loaded.1)] {
                match series.histograms.binary_search_by(|x| x.t.cmp(&h.t)) {
                    Ok(i) => series.histograms[i] = h.clone(),
                    Err(i) => series.histograms.insert(i, h.clone()),
                }
            }
            input.loaded = (n.max(input.loaded.0), nh.max(input.loaded.1));
        }
    }
}

fn insert_sample(v: &mut Vec<Sample>, s: Sample) {
    match v.binary_search_by(|x| x.t.cmp(&s.t)) {
        Ok(i) => v[i] = s,
        Err(i) => v.insert(i, s),
    }
}

impl Storage for TestStorage {
    fn select(&self, matchers: &[watchfire_promql::Matcher], mint: i64, maxt: i64) -> Vec<Series> {
        self.mem.select(matchers, mint, maxt)
    }
}

impl RuleStorage for TestStorage {
    fn storage(&self) -> &dyn Storage {
        &self.mem
    }

    fn append(&mut self, labels: &Labels, t: i64, v: f64) {
        let slot = self.slot(labels);
        insert_sample(&mut self.mem.series[slot].samples, Sample { t, v });
    }
}

/// The hint the TSDB appender leaves on `cur` when it follows `prev`.
pub fn appender_hint(prev: Option<&FloatHistogram>, cur: &FloatHistogram) -> CounterResetHint {
    match prev {
        _ if cur.counter_reset_hint == CounterResetHint::Gauge => CounterResetHint::Gauge,
        None => cur.counter_reset_hint,
        Some(p) if p.counter_reset_hint == CounterResetHint::Gauge => cur.counter_reset_hint,
        Some(p) if is_counter_reset(p, cur) => CounterResetHint::Reset,
        Some(_) => CounterResetHint::NotReset,
    }
}

/// Whether `cur` cannot be a continuation of counter histogram `prev`: a
/// count or bucket went down, or the bucket layout changed incompatibly.
pub fn is_counter_reset(prev: &FloatHistogram, cur: &FloatHistogram) -> bool {
    if cur.schema != prev.schema
        || cur.zero_threshold != prev.zero_threshold
        || cur.custom_values != prev.custom_values
        || cur.count < prev.count
        || cur.zero_count < prev.zero_count
    {
        return true;
    }
    let decreased = |ps: &[(i32, u32)], pb: &[f64], cs: &[(i32, u32)], cb: &[f64]| {
        let now = bucket_map(cs, cb);
        bucket_map(ps, pb)
            .iter()
            .any(|(i, v)| now.get(i).copied().unwrap_or(0.0) < *v)
    };
    decreased(
        &prev.positive_spans,
        &prev.positive_buckets,
        &cur.positive_spans,
        &cur.positive_buckets,
    ) || decreased(
        &prev.negative_spans,
        &prev.negative_buckets,
        &cur.negative_spans,
        &cur.negative_buckets,
    )
}

/// Bucket index → count, from spans of (offset, length) and absolute counts.
fn bucket_map(spans: &[(i32, u32)], buckets: &[f64]) -> BTreeMap<i32, f64> {
    let mut m = BTreeMap::new();
    let mut idx = 0i32;
    let mut it = buckets.iter();
    for (k, (off, len)) in spans.iter().enumerate() {
        idx = if k == 0 {
            *off
        } else {
            idx.saturating_add(*off)
        };
        for _ in 0..*len {
            if let Some(v) = it.next() {
                m.insert(idx, *v);
            }
            idx = idx.saturating_add(1);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(count: f64, buckets: &[f64], hint: CounterResetHint) -> FloatHistogram {
        FloatHistogram {
            count,
            positive_spans: vec![(0, buckets.len() as u32)],
            positive_buckets: buckets.to_vec(),
            counter_reset_hint: hint,
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn hints() {
        use CounterResetHint::*;
        let cases = [
            (None, h(2.0, &[2.0], Unknown), Unknown),
            (
                Some(h(2.0, &[2.0], Unknown)),
                h(2.0, &[2.0], Unknown),
                NotReset,
            ),
            (
                Some(h(2.0, &[2.0], Unknown)),
                h(3.0, &[3.0], Unknown),
                NotReset,
            ),
            (
                Some(h(3.0, &[3.0], Unknown)),
                h(2.0, &[2.0], Unknown),
                Reset,
            ),
            (
                Some(h(3.0, &[1.0, 2.0], Unknown)),
                h(3.0, &[0.0, 3.0], Unknown),
                Reset,
            ),
            (Some(h(3.0, &[3.0], Gauge)), h(1.0, &[1.0], Gauge), Gauge),
        ];
        for (prev, cur, want) in cases {
            assert_eq!(
                appender_hint(prev.as_ref(), &cur),
                want,
                "{prev:?} -> {cur:?}"
            );
        }
    }

    #[test]
    fn lazy_loading() {
        let mut st = TestStorage::default();
        let l = Labels::new([("__name__", "x")]);
        st.add_input(
            l.clone(),
            &[
                SeriesValue::Float(1.0),
                SeriesValue::Missing,
                SeriesValue::Float(3.0),
            ],
            0,
            60_000,
        );
        let visible = |st: &TestStorage| {
            st.select(&[], i64::MIN, i64::MAX)
                .iter()
                .map(|s| s.samples.len())
                .sum::<usize>()
        };
        assert_eq!(visible(&st), 0);
        st.load_till(60_000);
        assert_eq!(visible(&st), 1);
        st.load_till(120_000);
        assert_eq!(visible(&st), 2);
        st.append(&l, 180_000, 4.0);
        assert_eq!(visible(&st), 3);
    }
}
