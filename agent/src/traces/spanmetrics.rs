//! Span metrics: golden signals for services that are traced but not
//! instrumented with metrics.
//!
//! - `traces_span_metrics_calls_total{service,span_name,span_kind,status_code}`
//!   counts spans (errors are `status_code="STATUS_CODE_ERROR"`, as the
//!   rules in `rules/golden-errors.yml` expect);
//! - `traces_span_metrics_duration_seconds{…}` is their duration
//!   histogram.
//!
//! Labels use OTLP's enum names (`SPAN_KIND_SERVER`, `STATUS_CODE_UNSET`);
//! `service` is the resource's `service.name` (`unknown_service` when
//! absent). Every span received counts, before sampling, so rates are
//! exact. Cardinality is bounded: an [`lru::LruCache`] holds the label
//! sets; beyond `max_series` the least recently seen set is removed from
//! both families and counted in
//! `watchfire_agent_trace_span_metrics_evictions_total` (a set that comes
//! back starts again from zero, which `rate()` reads as a counter reset).
//!
//! They are registered on the agent's registry, so they appear on its
//! `/metrics` and are shipped by its built-in self-scrape job like every
//! other agent metric.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Span;
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

use crate::traces::config::SpanMetricsConfig;

/// Label names, in order.
pub const LABELS: [&str; 4] = ["service", "span_name", "span_kind", "status_code"];

/// One label set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpanKey {
    pub service: String,
    pub span_name: String,
    pub span_kind: &'static str,
    pub status_code: &'static str,
}

/// One span's contribution. **Pure.**
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub key: SpanKey,
    pub seconds: f64,
}

/// The resource's `service.name`, or `unknown_service`.
pub fn service_name(resource_attrs: &[KeyValue]) -> String {
    resource_attrs
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "unknown_service".to_string())
}

/// The observation for `span` of `service`. **Pure.**
pub fn observe(service: &str, span: &Span) -> Observation {
    let kind = SpanKind::try_from(span.kind).map_or("SPAN_KIND_UNSPECIFIED", |k| k.as_str_name());
    let code = span
        .status
        .as_ref()
        .and_then(|s| StatusCode::try_from(s.code).ok())
        .unwrap_or(StatusCode::Unset)
        .as_str_name();
    let nanos = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano);
    Observation {
        key: SpanKey {
            service: service.to_string(),
            span_name: span.name.clone(),
            span_kind: kind,
            status_code: code,
        },
        seconds: nanos as f64 / 1e9,
    }
}

/// The two families and the LRU of label sets.
pub struct SpanMetrics {
    calls: IntCounterVec,
    duration: HistogramVec,
    evictions: IntCounter,
    seen: Mutex<LruCache<SpanKey, ()>>,
}

impl SpanMetrics {
    /// New families; `evictions` is the pipeline's eviction counter.
    pub fn new(cfg: &SpanMetricsConfig, evictions: IntCounter) -> SpanMetrics {
        let calls = IntCounterVec::new(
            Opts::new(
                "traces_span_metrics_calls_total",
                "Spans received, by service, span name, kind and status code.",
            ),
            &LABELS,
        )
        .unwrap_or_else(|_| unreachable!());
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "traces_span_metrics_duration_seconds",
                "Span durations, by service, span name, kind and status code.",
            )
            .buckets(cfg.buckets.clone()),
            &LABELS,
        )
        .unwrap_or_else(|_| unreachable!());
        let cap = NonZeroUsize::new(cfg.max_series).unwrap_or(NonZeroUsize::MIN);
        SpanMetrics {
            calls,
            duration,
            evictions,
            seen: Mutex::new(LruCache::new(cap)),
        }
    }

    /// Registers both families (a second registration is ignored).
    pub fn register(&self, r: &Registry) {
        let _ = r.register(Box::new(self.calls.clone()));
        let _ = r.register(Box::new(self.duration.clone()));
    }

    /// Records observations.
    pub fn record(&self, obs: &[Observation]) {
        let mut seen = match self.seen.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for o in obs {
            let k = &o.key;
            let labels = [
                k.service.as_str(),
                k.span_name.as_str(),
                k.span_kind,
                k.status_code,
            ];
            if let Some((old, ())) = seen.push(k.clone(), ()) {
                if old != *k {
                    let ol = [
                        old.service.as_str(),
                        old.span_name.as_str(),
                        old.span_kind,
                        old.status_code,
                    ];
                    let _ = self.calls.remove_label_values(&ol);
                    let _ = self.duration.remove_label_values(&ol);
                    self.evictions.inc();
                }
            }
            self.calls.with_label_values(&labels).inc();
            self.duration.with_label_values(&labels).observe(o.seconds);
        }
    }

    /// Label sets currently held.
    pub fn series(&self) -> usize {
        self.seen.lock().map_or(0, |g| g.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::trace::v1::Status;

    fn check(attrs: Vec<KeyValue>, span: Span, want: (&str, &str, &str, &str, f64)) {
        let o = observe(&service_name(&attrs), &span);
        assert_eq!(
            (
                o.key.service.as_str(),
                o.key.span_name.as_str(),
                o.key.span_kind,
                o.key.status_code,
                o.seconds
            ),
            want
        );
    }

    fn svc(name: &str) -> Vec<KeyValue> {
        vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(name.into())),
            }),
            key_strindex: 0,
        }]
    }

    #[test]
    fn observations() {
        let sp = |kind: i32, code: Option<i32>, start: u64, end: u64| Span {
            name: "GET /".into(),
            kind,
            status: code.map(|c| Status {
                code: c,
                message: String::new(),
            }),
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            ..Default::default()
        };
        check(
            svc("web"),
            sp(2, Some(2), 0, 1_500_000_000),
            ("web", "GET /", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR", 1.5),
        );
        check(
            vec![],
            sp(3, None, 0, 0),
            (
                "unknown_service",
                "GET /",
                "SPAN_KIND_CLIENT",
                "STATUS_CODE_UNSET",
                0.0,
            ),
        );
        check(
            svc(""),
            sp(99, Some(99), 5, 1),
            (
                "unknown_service",
                "GET /",
                "SPAN_KIND_UNSPECIFIED",
                "STATUS_CODE_UNSET",
                0.0,
            ),
        );
        check(
            svc("a"),
            sp(1, Some(1), 0, 2_000_000),
            ("a", "GET /", "SPAN_KIND_INTERNAL", "STATUS_CODE_OK", 0.002),
        );
    }

    #[test]
    fn bounded_by_lru() {
        let evictions = IntCounter::new("e", "e").unwrap();
        let m = SpanMetrics::new(
            &SpanMetricsConfig {
                max_series: 2,
                buckets: vec![1.0],
            },
            evictions.clone(),
        );
        let r = Registry::new();
        m.register(&r);
        let o = |name: &str| {
            observe(
                "svc",
                &Span {
                    name: name.into(),
                    ..Default::default()
                },
            )
        };
        m.record(&[o("a"), o("b"), o("a"), o("c")]);
        // "b" was least recently seen when "c" arrived.
        assert_eq!(m.series(), 2);
        assert_eq!(evictions.get(), 1);
        let text = {
            let mut b = Vec::new();
            prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &r.gather(), &mut b)
                .unwrap();
            String::from_utf8(b).unwrap()
        };
        assert!(text.contains(r#"traces_span_metrics_calls_total{service="svc",span_kind="SPAN_KIND_UNSPECIFIED",span_name="a",status_code="STATUS_CODE_UNSET"} 2"#), "{text}");
        assert!(!text.contains(r#"span_name="b""#), "{text}");
        assert!(text.contains(r#"span_name="c""#), "{text}");
        assert!(text.contains(r#"traces_span_metrics_duration_seconds_bucket{service="svc",span_kind="SPAN_KIND_UNSPECIFIED",span_name="a",status_code="STATUS_CODE_UNSET",le="1"} 2"#), "{text}");
    }
}
