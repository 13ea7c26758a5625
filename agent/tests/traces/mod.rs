//! The trace pipeline: the pure stages by table (config, process,
//! decode), and the running pipeline against an upstream built from the
//! official protos (`opentelemetry-proto`'s generated tonic
//! `TraceServiceServer`) that records every request and can be switched
//! down to simulate an outage. Waits are bounded `timeout`s on channels,
//! never sleeps.

mod agent_run;
mod buffer;
mod child;
mod config;
mod decode;
mod interop;
mod outage;
mod pipeline;
mod process;
mod python;
mod upstream;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

pub fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
        key_strindex: 0,
    }
}

/// A trace id whose randomness (low 56 bits) is `r`.
pub fn trace_id(r: u64) -> Vec<u8> {
    let mut id = vec![0xab; 16];
    id[9..].copy_from_slice(&r.to_be_bytes()[1..]);
    id
}

/// A valid span: `n` names it and makes its span id; `error` sets status
/// ERROR; `ms` is its duration.
pub fn span(n: u64, name: &str, error: bool, ms: u64) -> Span {
    Span {
        trace_id: trace_id(0xff_ffff_ffff_ff00 + n % 256),
        span_id: (n + 1).to_be_bytes().to_vec(),
        name: name.into(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_000_000_000 + ms * 1_000_000,
        status: error.then(|| Status {
            code: 2,
            message: String::new(),
        }),
        ..Default::default()
    }
}

/// One resource (`service.name` = `service`) with `spans`.
pub fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// All spans of a request, flattened.
pub fn spans_of(r: &ExportTraceServiceRequest) -> Vec<Span> {
    r.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect()
}

/// A sample's value in a registry's text exposition, by metric name and
/// label pairs (0 when absent).
pub fn counter(reg: &prometheus::Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut buf = Vec::new();
    prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &reg.gather(), &mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        if labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        {
            return rest.rsplit(' ').next().unwrap().parse().unwrap();
        }
    }
    0.0
}
