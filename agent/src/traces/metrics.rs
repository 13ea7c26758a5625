//! The trace pipeline's own metrics, registered on the agent's registry:
//!
//! - `watchfire_agent_trace_requests_total{protocol,outcome}`: export
//!   requests received; `outcome` is `ok`, `partial` (some spans
//!   rejected), `invalid` (undecodable payload), `too_large`,
//!   `unsupported` (content type or encoding), `backpressure` (queue full).
//! - `watchfire_agent_trace_spans_received_total{protocol}`.
//! - `watchfire_agent_trace_spans_rejected_total{reason}`: spans refused in
//!   a partial success (`invalid_trace_id`, `invalid_span_id`,
//!   `invalid_parent_span_id`).
//! - `watchfire_agent_trace_spans_kept_total{reason}`: `error`, `latency`,
//!   `probability`.
//! - `watchfire_agent_trace_spans_dropped_total{reason}`: `sampling`,
//!   `redaction` (fail closed), `export` (refused by the upstream for
//!   good), `shutdown` (still queued when the drain deadline passed, with
//!   no disk buffer), `disk_error` (a buffered record unreadable).
//! - `watchfire_agent_trace_spans_exported_total`,
//!   `watchfire_agent_trace_export_errors_total{kind}` (`retryable`,
//!   `permanent`), `watchfire_agent_trace_queue_spans`,
//!   `watchfire_agent_trace_buffer_bytes` (disk buffer, when on).
//! - `watchfire_agent_trace_redactions_total{rule}`.
//! - `watchfire_agent_trace_span_metrics_evictions_total`.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use watchfire_redact::Stats;

/// The counters and gauges.
pub struct TraceMetrics {
    pub requests: IntCounterVec,
    pub spans_received: IntCounterVec,
    pub spans_rejected: IntCounterVec,
    pub spans_kept: IntCounterVec,
    pub spans_dropped: IntCounterVec,
    pub spans_exported: IntCounter,
    pub export_errors: IntCounterVec,
    pub queue_spans: IntGauge,
    pub buffer_bytes: IntGauge,
    pub redactions: IntCounterVec,
    pub span_metrics_evictions: IntCounter,
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|_| unreachable!())
}

impl Default for TraceMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceMetrics {
    /// Metrics not yet registered anywhere.
    pub fn new() -> TraceMetrics {
        TraceMetrics {
            requests: counter_vec(
                "watchfire_agent_trace_requests_total",
                "OTLP trace export requests received, by protocol and outcome.",
                &["protocol", "outcome"],
            ),
            spans_received: counter_vec(
                "watchfire_agent_trace_spans_received_total",
                "Spans received in decodable export requests.",
                &["protocol"],
            ),
            spans_rejected: counter_vec(
                "watchfire_agent_trace_spans_rejected_total",
                "Spans refused (partial success), by reason.",
                &["reason"],
            ),
            spans_kept: counter_vec(
                "watchfire_agent_trace_spans_kept_total",
                "Spans kept by sampling, by the rule that kept them.",
                &["reason"],
            ),
            spans_dropped: counter_vec(
                "watchfire_agent_trace_spans_dropped_total",
                "Spans given up, by reason.",
                &["reason"],
            ),
            spans_exported: IntCounter::with_opts(Opts::new(
                "watchfire_agent_trace_spans_exported_total",
                "Spans accepted by the upstream.",
            ))
            .unwrap_or_else(|_| unreachable!()),
            export_errors: counter_vec(
                "watchfire_agent_trace_export_errors_total",
                "Failed export attempts, by kind (retryable ones are retried).",
                &["kind"],
            ),
            queue_spans: IntGauge::with_opts(Opts::new(
                "watchfire_agent_trace_queue_spans",
                "Spans queued or in flight to the upstream.",
            ))
            .unwrap_or_else(|_| unreachable!()),
            buffer_bytes: IntGauge::with_opts(Opts::new(
                "watchfire_agent_trace_buffer_bytes",
                "Record bytes in the trace disk buffer (traces.export.buffer).",
            ))
            .unwrap_or_else(|_| unreachable!()),
            redactions: counter_vec(
                "watchfire_agent_trace_redactions_total",
                "Redactions in span, event, link, scope and resource attributes, by rule.",
                &["rule"],
            ),
            span_metrics_evictions: IntCounter::with_opts(Opts::new(
                "watchfire_agent_trace_span_metrics_evictions_total",
                "Span metric label sets evicted to stay within span_metrics.max_series.",
            ))
            .unwrap_or_else(|_| unreachable!()),
        }
    }

    /// Registers everything on `r` (duplicates are ignored, for tests that
    /// start several pipelines on one registry).
    pub fn register(&self, r: &Registry) {
        let all: [Box<dyn prometheus::core::Collector>; 11] = [
            Box::new(self.requests.clone()),
            Box::new(self.spans_received.clone()),
            Box::new(self.spans_rejected.clone()),
            Box::new(self.spans_kept.clone()),
            Box::new(self.spans_dropped.clone()),
            Box::new(self.spans_exported.clone()),
            Box::new(self.export_errors.clone()),
            Box::new(self.queue_spans.clone()),
            Box::new(self.buffer_bytes.clone()),
            Box::new(self.redactions.clone()),
            Box::new(self.span_metrics_evictions.clone()),
        ];
        for c in all {
            let _ = r.register(c);
        }
    }

    pub fn request(&self, protocol: &str, outcome: &str) {
        self.requests.with_label_values(&[protocol, outcome]).inc();
    }

    pub fn dropped(&self, reason: &str, n: u64) {
        if n > 0 {
            self.spans_dropped.with_label_values(&[reason]).inc_by(n);
        }
    }

    /// Adds a request's redaction counts.
    pub fn add_redactions(&self, stats: &Stats) {
        for (rule, n) in stats.counts() {
            if n > 0 {
                self.redactions.with_label_values(&[rule]).inc_by(n);
            }
        }
    }
}
