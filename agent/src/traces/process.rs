//! One export request through validation, redaction, span metrics and
//! sampling. **Pure**: the result says what to forward and what to count;
//! the caller commits the counts only once the kept spans are queued, so a
//! request refused for backpressure (and retried by the client) is not
//! counted twice.
//!
//! Per span, in order:
//!
//! 1. **Validation.** A trace id that is not 16 bytes (or all zero), a span
//!    id that is not 8 bytes (or all zero), or a parent span id that is
//!    neither empty nor 8 bytes rejects the span; rejected spans are
//!    reported in the response's `partial_success`.
//! 2. **Redaction** ([`crate::traces::redact`]): a span that cannot be
//!    redacted is dropped (fail closed). Resource and scope attributes are
//!    redacted once; when they cannot be, every span under them is dropped.
//! 3. **Span metrics** observe every span that got this far.
//! 4. **Sampling** ([`crate::traces::sampling`]).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use watchfire_redact::Stats;

use crate::traces::redact::AttrRedactor;
use crate::traces::sampling::{self, Decision, Policy, SpanFacts};
use crate::traces::spanmetrics::{self, Observation};

/// Why a span was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    TraceId,
    SpanId,
    ParentSpanId,
}

impl Reject {
    pub fn reason(&self) -> &'static str {
        match self {
            Reject::TraceId => "invalid_trace_id",
            Reject::SpanId => "invalid_span_id",
            Reject::ParentSpanId => "invalid_parent_span_id",
        }
    }
}

/// Checks a span's ids.
pub fn validate_ids(s: &Span) -> Result<(), Reject> {
    let zero = |b: &[u8]| b.iter().all(|&x| x == 0);
    if s.trace_id.len() != 16 || zero(&s.trace_id) {
        return Err(Reject::TraceId);
    }
    if s.span_id.len() != 8 || zero(&s.span_id) {
        return Err(Reject::SpanId);
    }
    if !s.parent_span_id.is_empty() && s.parent_span_id.len() != 8 {
        return Err(Reject::ParentSpanId);
    }
    Ok(())
}

/// What happened to a request's spans.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub received: u64,
    /// Rejected, by reason ([`Reject::reason`]).
    pub rejected: Vec<(&'static str, u64)>,
    /// The first rejection, for the response's `error_message`.
    pub first_rejection: Option<String>,
    /// Dropped because they could not be redacted, by engine reason.
    pub redaction_failed: Vec<(&'static str, u64)>,
    /// Kept, by [`Decision::reason`].
    pub kept: Vec<(&'static str, u64)>,
    pub sampled_out: u64,
}

fn bump(v: &mut Vec<(&'static str, u64)>, k: &'static str, n: u64) {
    match v.iter_mut().find(|(x, _)| *x == k) {
        Some((_, c)) => *c += n,
        None => v.push((k, n)),
    }
}

impl Outcome {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|(_, n)| n).sum()
    }
    pub fn kept_total(&self) -> u64 {
        self.kept.iter().map(|(_, n)| n).sum()
    }
    pub fn redaction_failed_total(&self) -> u64 {
        self.redaction_failed.iter().map(|(_, n)| n).sum()
    }
}

/// A processed request.
#[derive(Debug, Default)]
pub struct Processed {
    /// What to forward (empty resources and scopes removed).
    pub kept: Vec<ResourceSpans>,
    pub outcome: Outcome,
    pub observations: Vec<Observation>,
}

/// Counts the spans of a request.
pub fn span_count(req: &ExportTraceServiceRequest) -> u64 {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum()
}

/// Runs a request through the stages. `span_metrics` says whether to
/// produce observations.
pub fn process(
    req: ExportTraceServiceRequest,
    redactor: &AttrRedactor<'_>,
    policy: &Policy,
    span_metrics: bool,
    stats: &mut Stats,
) -> Processed {
    let mut out = Processed::default();
    for mut rs in req.resource_spans {
        let n: u64 = rs.scope_spans.iter().map(|s| s.spans.len() as u64).sum();
        out.outcome.received += n;
        let resource_ok = match rs.resource.as_mut() {
            Some(r) => redactor.attributes(&mut r.attributes, stats),
            None => Ok(()),
        };
        if let Err(e) = resource_ok {
            bump(&mut out.outcome.redaction_failed, e.reason(), n);
            continue;
        }
        let service =
            spanmetrics::service_name(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        let mut scopes = Vec::with_capacity(rs.scope_spans.len());
        for mut ss in std::mem::take(&mut rs.scope_spans) {
            let sn = ss.spans.len() as u64;
            if let Some(scope) = ss.scope.as_mut() {
                if let Err(e) = redactor.attributes(&mut scope.attributes, stats) {
                    bump(&mut out.outcome.redaction_failed, e.reason(), sn);
                    continue;
                }
            }
            let mut kept = Vec::new();
            for mut span in std::mem::take(&mut ss.spans) {
                if let Err(r) = validate_ids(&span) {
                    bump(&mut out.outcome.rejected, r.reason(), 1);
                    if out.outcome.first_rejection.is_none() {
                        out.outcome.first_rejection = Some(format!(
                            "span {:?}: {} (trace id must be 16 bytes, span id 8, not all zero)",
                            span.name,
                            r.reason().replace('_', " ")
                        ));
                    }
                    continue;
                }
                if let Err(e) = redactor.span(&mut span, stats) {
                    bump(&mut out.outcome.redaction_failed, e.reason(), 1);
                    continue;
                }
                if span_metrics {
                    out.observations.push(spanmetrics::observe(&service, &span));
                }
                let is_error = span
                    .status
                    .as_ref()
                    .is_some_and(|s| s.code == StatusCode::Error as i32);
                let d = sampling::decide(
                    policy,
                    &SpanFacts {
                        trace_id: &span.trace_id,
                        trace_state: &span.trace_state,
                        is_error,
                        start_unix_nano: span.start_time_unix_nano,
                        end_unix_nano: span.end_time_unix_nano,
                    },
                );
                match d {
                    Decision::Drop => out.outcome.sampled_out += 1,
                    Decision::KeepSampled { threshold } => {
                        if threshold > 0 {
                            span.trace_state =
                                sampling::with_threshold(&span.trace_state, threshold);
                        }
                        bump(&mut out.outcome.kept, d.reason(), 1);
                        kept.push(span);
                    }
                    Decision::KeepError | Decision::KeepSlow => {
                        bump(&mut out.outcome.kept, d.reason(), 1);
                        kept.push(span);
                    }
                }
            }
            if !kept.is_empty() {
                ss.spans = kept;
                scopes.push(ss);
            }
        }
        if !scopes.is_empty() {
            rs.scope_spans = scopes;
            out.kept.push(rs);
        }
    }
    out
}
