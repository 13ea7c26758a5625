//! Warning and info annotations, with Prometheus' exact message texts
//! (`util/annotations/annotations.go`), and a deduplicating collector.

use super::{Annotation, AnnotationKind};
use crate::ast::Span;
use crate::gofmt::format_float;

/// Collects annotations, dropping exact duplicates (Prometheus keys them by
/// their rendered text).
#[derive(Debug, Default, Clone)]
pub(crate) struct Annotations {
    pub list: Vec<Annotation>,
}

impl Annotations {
    pub fn add(&mut self, a: Annotation) {
        if !self.list.iter().any(|x| x == &a) {
            self.list.push(a);
        }
    }

    pub fn merge(&mut self, other: Annotations) {
        for a in other.list {
            self.add(a);
        }
    }
}

fn warn(msg: String, span: Span) -> Annotation {
    Annotation {
        kind: AnnotationKind::Warning,
        msg,
        span,
    }
}

fn info(msg: String, span: Span) -> Annotation {
    Annotation {
        kind: AnnotationKind::Info,
        msg,
        span,
    }
}

fn with_metric_name(base: &str, name: &str) -> String {
    if name.is_empty() {
        base.to_string()
    } else {
        format!("{base} for metric name {name:?}")
    }
}

pub(crate) fn invalid_quantile(q: f64, span: Span) -> Annotation {
    warn(
        format!(
            "quantile value should be between 0 and 1, got {}",
            format_float(q, 'g', None)
        ),
        span,
    )
}

pub(crate) fn invalid_ratio(q: f64, to: f64, span: Span) -> Annotation {
    warn(
        format!(
            "ratio value should be between -1 and 1, got {}, capping to {}",
            format_float(q, 'g', None),
            format_float(to, 'g', None)
        ),
        span,
    )
}

pub(crate) fn bad_bucket_label(metric: &str, label: &str, span: Span) -> Annotation {
    let base = format!("bucket label \"le\" is missing or has a malformed value of {label:?}");
    warn(with_metric_name(&base, metric), span)
}

pub(crate) fn mixed_floats_histograms(metric: &str, span: Span) -> Annotation {
    warn(
        format!("encountered a mix of histograms and floats for metric name {metric:?}"),
        span,
    )
}

pub(crate) fn mixed_floats_histograms_agg(span: Span) -> Annotation {
    warn(
        "encountered a mix of histograms and floats for aggregation".into(),
        span,
    )
}

pub(crate) fn mixed_classic_native(metric: &str, span: Span) -> Annotation {
    warn(
        with_metric_name(
            "vector contains a mix of classic and native histograms",
            metric,
        ),
        span,
    )
}

pub(crate) fn possible_non_counter(metric: &str, span: Span) -> Annotation {
    info(
        format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric:?}"),
        span,
    )
}

pub(crate) fn forced_monotonicity(metric: &str, ts: i64, detail: &str, span: Span) -> Annotation {
    let base = "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)";
    let mut msg = with_metric_name(base, metric);
    if !detail.is_empty() {
        msg.push_str(&format!(" at timestamp {ts}{detail}"));
    }
    info(msg, span)
}

pub(crate) fn histogram_ignored_in_agg(agg: &str, span: Span) -> Annotation {
    info(format!("ignored histogram in {agg} aggregation"), span)
}

pub(crate) fn histogram_ignored_in_mixed_range(metric: &str, span: Span) -> Annotation {
    info(
        format!("ignored histograms in a range containing both floats and histograms for metric name {metric:?}"),
        span,
    )
}

pub(crate) fn incompatible_types_binop(lhs: &str, op: &str, rhs: &str, span: Span) -> Annotation {
    info(
        format!(
            "incompatible sample types encountered for binary operator {op:?}: {lhs} {op} {rhs}"
        ),
        span,
    )
}

pub(crate) fn sort_ineffective(span: Span) -> Annotation {
    warn(
        "sort is ineffective for range queries since results are always ordered by labels".into(),
        span,
    )
}
