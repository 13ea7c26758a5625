//! The recording rule, as upstream's `rules/recording.go`: the result's
//! metric name becomes `record`, rule labels are set, and a result with two
//! identical label sets or more series than the group limit is an error.

use std::collections::{BTreeMap, HashSet};

use watchfire_promql::eval::VectorSample;
use watchfire_promql::labels::METRIC_NAME;
use watchfire_promql::Labels;

/// Errors of one recording rule evaluation.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RecordingError {
    #[error("vector contains metrics with the same labelset after applying rule labels")]
    DuplicateLabelset,
    #[error("exceeded limit {limit} with {count} series")]
    Limit { limit: usize, count: usize },
}

/// Renames and relabels a query result. Native histogram samples are
/// skipped (the rule engine records floats).
pub fn record(
    record: &str,
    labels: &BTreeMap<String, String>,
    res: Vec<VectorSample>,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, RecordingError> {
    let mut out = Vec::with_capacity(res.len());
    let mut seen = HashSet::with_capacity(res.len());
    for s in res {
        let mut lb = s.labels.builder();
        lb.set(METRIC_NAME, record);
        for (k, v) in labels {
            lb.set(k, v);
        }
        let l = lb.build();
        if !seen.insert(l.clone()) {
            return Err(RecordingError::DuplicateLabelset);
        }
        if s.h.is_none() {
            out.push((l, s.v));
        }
    }
    if limit > 0 && seen.len() > limit {
        return Err(RecordingError::Limit {
            limit,
            count: seen.len(),
        });
    }
    Ok(out)
}
