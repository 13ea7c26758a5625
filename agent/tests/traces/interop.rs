//! Interop: the OpenTelemetry Rust SDK's own OTLP exporter
//! (`opentelemetry-otlp`) sends to our receivers over gRPC, HTTP/protobuf
//! and HTTP/JSON, gzip-compressed; the official-proto upstream checks what
//! was kept, that it was redacted, and that nothing came twice.

use std::time::Duration;

use opentelemetry::trace::{Span as _, Status, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{
    Compression, Protocol as OtlpProtocol, SpanExporter, WithExportConfig, WithHttpConfig,
    WithTonicConfig,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use prometheus::Registry;
use watchfire_agent::traces::TracePipeline;

use super::upstream::Upstream;
use super::{counter, kv};

#[derive(Clone, Copy, Debug)]
enum Via {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

/// Sends an error span with secrets and a fast OK span with the SDK.
fn send(via: Via, grpc: std::net::SocketAddr, http: std::net::SocketAddr) {
    let exporter = match via {
        Via::Grpc => SpanExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{grpc}"))
            .with_compression(Compression::Gzip)
            .build(),
        Via::HttpProtobuf | Via::HttpJson => SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("http://{http}/v1/traces"))
            .with_protocol(if matches!(via, Via::HttpJson) {
                OtlpProtocol::HttpJson
            } else {
                OtlpProtocol::HttpBinary
            })
            .with_compression(Compression::Gzip)
            .build(),
    }
    .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(format!("interop-{via:?}"))
                .build(),
        )
        .build();
    let tracer = provider.tracer("interop");
    let mut s = tracer.start("checkout for bob@example.com");
    s.set_attribute(KeyValue::new("password", "hunter2"));
    s.set_attribute(KeyValue::new("cart.items", 3));
    s.set_status(Status::error("card declined"));
    s.end();
    let mut fast = tracer.start("fast");
    fast.set_attribute(KeyValue::new("ok", true));
    fast.end();
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();
}

async fn check(via: Via) {
    let mut up = Upstream::start().await;
    let reg = Registry::new();
    let p = TracePipeline::start(super::pipeline::cfg(&up), &reg)
        .await
        .unwrap();
    let (g, h) = (p.grpc_addr.unwrap(), p.http_addr.unwrap());
    // The SDK blocks on its exports: off the async workers.
    tokio::task::spawn_blocking(move || send(via, g, h))
        .await
        .unwrap();
    let got = up.spans(1).await;
    assert_eq!(got.len(), 1, "{via:?}");
    let s = &got[0];
    assert_eq!(s.name, "checkout for [REDACTED:email]", "{via:?}");
    assert!(
        s.attributes
            .contains(&kv("password", "[REDACTED:password]")),
        "{via:?}: {:?}",
        s.attributes
    );
    assert_eq!(s.trace_id.len(), 16);
    assert_eq!(s.status.as_ref().unwrap().code, 2);
    let report = p.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.exported, 1, "{via:?}: only the error span is kept");
    assert!(up.received.try_recv().is_err(), "{via:?}: nothing twice");
    let proto = if matches!(via, Via::Grpc) {
        "grpc"
    } else {
        "http"
    };
    assert_eq!(
        counter(
            &reg,
            "watchfire_agent_trace_spans_received_total",
            &[("protocol", proto)]
        ),
        2.0,
        "{via:?}"
    );
    assert_eq!(
        counter(
            &reg,
            "traces_span_metrics_calls_total",
            &[
                ("service", &format!("interop-{via:?}")),
                ("span_name", "fast")
            ]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_exporter_grpc() {
    check(Via::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_exporter_http_protobuf() {
    check(Via::HttpProtobuf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_exporter_http_json() {
    check(Via::HttpJson).await;
}
