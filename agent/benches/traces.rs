//! Trace pipeline throughput on one core, in spans/s (criterion's
//! elements/s): one 512-span OTLP/protobuf request (an SDK batch: 5 %
//! errors, 5 % slow, attributes with some PII) through decode → validate
//! → redact → span metrics → sample → encode of the kept batch, without
//! and with the exporter's gzip. Default redaction rules and sampling
//! (errors, ≥ 1 s, 10 %).
//!
//! `CARGO_TARGET_DIR=... cargo bench -p watchfire-agent --bench traces`

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prometheus::IntCounter;
use prost::Message;
use watchfire_agent::traces::config::SpanMetricsConfig;
use watchfire_agent::traces::process;
use watchfire_agent::traces::redact::AttrRedactor;
use watchfire_agent::traces::sampling::Policy;
use watchfire_agent::traces::spanmetrics::SpanMetrics;
use watchfire_redact::{RedactionConfig, Redactor};

const SPANS: u64 = 512;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
        key_strindex: 0,
    }
}

fn batch() -> Vec<u8> {
    let routes = [
        "/api/orders/{id}",
        "/api/cart",
        "/health",
        "/api/login",
        "/api/search",
    ];
    let spans = (0..SPANS)
        .map(|i| {
            let mut trace_id = vec![0u8; 16];
            trace_id[..8].copy_from_slice(
                &(i / 4 + 1)
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    .to_be_bytes(),
            );
            trace_id[8..].copy_from_slice(
                &(i / 4 + 7)
                    .wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
                    .to_be_bytes(),
            );
            let error = i % 20 == 0;
            let ms = if i % 20 == 1 { 1500 } else { 3 + i % 40 };
            let route = routes[(i % 5) as usize];
            let mut attributes = vec![
                kv("http.method", "GET"),
                kv("http.route", route),
                kv("http.status_code", if error { "500" } else { "200" }),
                kv("net.peer.name", "orders.internal.example"),
                kv(
                    "http.user_agent",
                    "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
                ),
            ];
            if i % 10 == 0 {
                attributes.push(kv("user.email", "someone@example.com"));
                attributes.push(kv("authorization", "Bearer abc.def.ghi"));
            }
            Span {
                trace_id,
                span_id: (i + 1).to_be_bytes().to_vec(),
                parent_span_id: if i % 4 == 0 {
                    vec![]
                } else {
                    (i).to_be_bytes().to_vec()
                },
                name: format!("GET {route}"),
                kind: 2,
                start_time_unix_nano: 1_700_000_000_000_000_000 + i * 1000,
                end_time_unix_nano: 1_700_000_000_000_000_000 + i * 1000 + ms * 1_000_000,
                attributes,
                status: error.then(|| Status {
                    code: 2,
                    message: "upstream timeout".into(),
                }),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "checkout"), kv("host.name", "node-1")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec()
}

fn bench(c: &mut Criterion) {
    let body = batch();
    let cfg = RedactionConfig::default();
    let redactor = Redactor::new(&cfg).unwrap();
    let ar = AttrRedactor {
        redactor: &redactor,
        limits: cfg.limits,
    };
    let policy = Policy::default();
    let sm = SpanMetrics::new(
        &SpanMetricsConfig::default(),
        IntCounter::new("e", "e").unwrap(),
    );
    let run = |gzip: bool| {
        let req = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        let mut stats = redactor.stats();
        let p = process::process(req, &ar, &policy, true, &mut stats);
        sm.record(&p.observations);
        let out = ExportTraceServiceRequest {
            resource_spans: p.kept,
        }
        .encode_to_vec();
        if gzip {
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&out).unwrap();
            z.finish().unwrap().len()
        } else {
            out.len()
        }
    };
    let mut g = c.benchmark_group("traces");
    g.throughput(Throughput::Elements(SPANS));
    g.bench_function("decode_redact_sample_spanmetrics_encode", |b| {
        b.iter(|| black_box(run(false)))
    });
    g.bench_function("decode_redact_sample_spanmetrics_encode_gzip", |b| {
        b.iter(|| black_box(run(true)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
