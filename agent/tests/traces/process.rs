//! `process`: validation, redaction (fail closed), span metrics
//! observations and sampling over whole requests.

use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::Span;
use watchfire_agent::traces::process::{process, Outcome};
use watchfire_agent::traces::redact::AttrRedactor;
use watchfire_agent::traces::sampling::{Policy, MAX_THRESHOLD};
use watchfire_redact::{Limits, Redactor};

use super::{kv, request, span, spans_of, trace_id};

struct Want {
    kept_names: Vec<&'static str>,
    rejected: u64,
    redaction_failed: u64,
    sampled_out: u64,
    observations: usize,
}

fn check(policy: Policy, spans: Vec<Span>, want: Want) -> Vec<Span> {
    let r = Redactor::with_defaults().unwrap();
    let ar = AttrRedactor {
        redactor: &r,
        limits: Limits {
            max_record_bytes: 4096,
            ..Limits::default()
        },
    };
    let mut stats = r.stats();
    let p = process(request("svc", spans), &ar, &policy, true, &mut stats);
    let kept = p
        .kept
        .first()
        .map(|rs| spans_of(&watchfire_agent_req(rs.clone())))
        .unwrap_or_default();
    let names: Vec<&str> = kept.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, want.kept_names);
    let o: &Outcome = &p.outcome;
    assert_eq!(o.rejected_total(), want.rejected, "rejected");
    assert_eq!(
        o.redaction_failed_total(),
        want.redaction_failed,
        "redaction"
    );
    assert_eq!(o.sampled_out, want.sampled_out, "sampled out");
    assert_eq!(o.kept_total() as usize, want.kept_names.len());
    assert_eq!(
        o.received as usize,
        want.kept_names.len() + (want.rejected + want.redaction_failed + want.sampled_out) as usize
    );
    assert_eq!(p.observations.len(), want.observations, "observations");
    kept
}

fn watchfire_agent_req(
    rs: opentelemetry_proto::tonic::trace::v1::ResourceSpans,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans: vec![rs],
    }
}

#[test]
fn stages() {
    let none = Policy {
        probability: 0.0,
        ..Policy::default()
    };
    let all = Policy {
        probability: 1.0,
        ..Policy::default()
    };
    // Error and slow spans are kept at probability 0; the rest dropped.
    check(
        none,
        vec![
            span(1, "err", true, 1),
            span(2, "slow", false, 1500),
            span(3, "fast", false, 10),
        ],
        Want {
            kept_names: vec!["err", "slow"],
            rejected: 0,
            redaction_failed: 0,
            sampled_out: 1,
            observations: 3,
        },
    );
    // Ids of the wrong length are rejected, not observed.
    let mut short_trace = span(4, "short-trace", false, 1);
    short_trace.trace_id = vec![1; 8];
    let mut zero_span = span(5, "zero-span", false, 1);
    zero_span.span_id = vec![0; 8];
    let mut bad_parent = span(6, "bad-parent", false, 1);
    bad_parent.parent_span_id = vec![1; 3];
    let mut long_trace = span(7, "long-trace", false, 1);
    long_trace.trace_id = vec![1; 32];
    check(
        all,
        vec![
            short_trace,
            zero_span,
            bad_parent,
            long_trace,
            span(8, "ok", false, 1),
        ],
        Want {
            kept_names: vec!["ok"],
            rejected: 4,
            redaction_failed: 0,
            sampled_out: 0,
            observations: 1,
        },
    );
    // A span that cannot be redacted (a 5 KiB attribute over the 4 KiB
    // limit) is dropped; its neighbours are not.
    let mut big = span(9, "big", true, 1);
    big.attributes.push(kv("blob", &"x".repeat(5000)));
    check(
        all,
        vec![big, span(10, "fine", false, 1)],
        Want {
            kept_names: vec!["fine"],
            rejected: 0,
            redaction_failed: 1,
            sampled_out: 0,
            observations: 1,
        },
    );
}

#[test]
fn redacts_and_rewrites_tracestate() {
    let mut s = span(1, "GET /u/bob@example.com", false, 1);
    s.attributes = vec![kv("password", "hunter2"), kv("http.route", "/u")];
    s.trace_id = trace_id(MAX_THRESHOLD - 1);
    s.trace_state = "vendor=1".into();
    let p = Policy {
        latency_threshold: Duration::ZERO,
        probability: 0.5,
        ..Policy::default()
    };
    let kept = check(
        p,
        vec![s],
        Want {
            kept_names: vec!["GET /u/[REDACTED:email]"],
            rejected: 0,
            redaction_failed: 0,
            sampled_out: 0,
            observations: 1,
        },
    );
    assert_eq!(
        kept[0].attributes,
        vec![
            kv("password", "[REDACTED:password]"),
            kv("http.route", "/u")
        ]
    );
    assert_eq!(kept[0].trace_state, "ot=th:8,vendor=1");
}

#[test]
fn resource_that_cannot_be_redacted_drops_its_spans() {
    let r = Redactor::with_defaults().unwrap();
    let ar = AttrRedactor {
        redactor: &r,
        limits: Limits {
            max_record_bytes: 16,
            ..Limits::default()
        },
    };
    let mut stats = r.stats();
    let mut req = request("svc", vec![span(1, "a", true, 1), span(2, "b", true, 1)]);
    req.resource_spans[0]
        .resource
        .as_mut()
        .unwrap()
        .attributes
        .push(kv("host.name", &"h".repeat(100)));
    let p = process(req, &ar, &Policy::default(), true, &mut stats);
    assert!(p.kept.is_empty());
    assert_eq!(p.outcome.redaction_failed, vec![("too_large", 2)]);
    assert!(p.observations.is_empty());
}
