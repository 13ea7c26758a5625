//! The running pipeline: both receivers, redaction, sampling, span
//! metrics, forwarding to the upstream, backpressure across an outage.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prometheus::Registry;
use prost::Message;
use tonic::codec::CompressionEncoding;
use watchfire_agent::traces::config::{ExportConfig, Protocol, TracesConfig};
use watchfire_agent::traces::decode::RpcStatus;
use watchfire_agent::traces::sampling::Policy;
use watchfire_agent::traces::TracePipeline;

use super::decode::{
    bomb_64mib, gzip, invalid_utf8_protobuf, json_with_trace_id, nested_json, nested_protobuf,
};
use super::upstream::Upstream;
use super::{counter, kv, request, span};

pub fn cfg(up: &Upstream) -> TracesConfig {
    let mut e = ExportConfig::new(format!("http://{}", up.addr), Protocol::Grpc);
    e.batch_timeout = Duration::from_millis(5);
    e.initial_backoff = Duration::from_millis(5);
    e.max_backoff = Duration::from_millis(20);
    let mut c = TracesConfig::new(0, 0, e);
    c.sampling = Policy {
        probability: 0.0,
        ..Policy::default()
    };
    c
}

pub async fn grpc_client(p: &TracePipeline) -> TraceServiceClient<tonic::transport::Channel> {
    TraceServiceClient::connect(format!("http://{}", p.grpc_addr.unwrap()))
        .await
        .unwrap()
}

async fn post(p: &TracePipeline, ct: &str, enc: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut rb = reqwest::Client::new()
        .post(format!("http://{}/v1/traces", p.http_addr.unwrap()))
        .header("content-type", ct);
    if let Some(e) = enc {
        rb = rb.header("content-encoding", e);
    }
    rb.body(body).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_protocols_redact_sample_and_forward() {
    let mut up = Upstream::start().await;
    let reg = Registry::new();
    let p = TracePipeline::start(cfg(&up), &reg).await.unwrap();

    // gRPC, gzip: an error span with secrets (kept), a fast OK span
    // (sampled out), a span with a short trace id (rejected).
    let mut secret = span(1, "POST /login bob@example.com", true, 3);
    secret.attributes = vec![
        kv("password", "hunter2"),
        kv("user.email", "bob@example.com"),
    ];
    let mut bad = span(3, "bad", true, 1);
    bad.trace_id = vec![1, 2];
    let mut req = request("auth", vec![secret, span(2, "GET /health", false, 1), bad]);
    req.resource_spans[0]
        .resource
        .as_mut()
        .unwrap()
        .attributes
        .push(kv("api_key", "k-123"));
    let resp = grpc_client(&p)
        .await
        .send_compressed(CompressionEncoding::Gzip)
        .export(req)
        .await
        .unwrap()
        .into_inner();
    let ps = resp.partial_success.unwrap();
    assert_eq!(ps.rejected_spans, 1);
    assert!(
        ps.error_message.contains("invalid trace id"),
        "{}",
        ps.error_message
    );

    // HTTP, protobuf: a slow span (kept).
    let r = post(
        &p,
        "application/x-protobuf",
        None,
        request("web", vec![span(4, "GET /slow", false, 1500)]).encode_to_vec(),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    let body = ExportTraceServiceResponse::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(body.partial_success, None);

    // HTTP, gzipped JSON: an error span, hex ids.
    let r = post(
        &p,
        "application/json; charset=utf-8",
        Some("gzip"),
        gzip(&json_with_trace_id("0102030405060708090a0b0c0d0e0f10")),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v.get("partialSuccess").is_none_or(|x| x.is_null()), "{v}");

    // HTTP JSON with a wrong-length id: partial success in JSON.
    let r = post(&p, "application/json", None, json_with_trace_id("0102")).await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["partialSuccess"]["rejectedSpans"],
        serde_json::json!(1),
        "{v}"
    );

    let got = up.spans(3).await;
    let mut names: Vec<&str> = got.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["GET /", "GET /slow", "POST /login [REDACTED:email]"]
    );
    let login = got.iter().find(|s| s.name.starts_with("POST")).unwrap();
    assert_eq!(
        login.attributes,
        vec![
            kv("password", "[REDACTED:password]"),
            kv("user.email", "[REDACTED:email]")
        ]
    );
    let json_span = got.iter().find(|s| s.name == "GET /").unwrap();
    assert_eq!(json_span.trace_id, (1..=16).collect::<Vec<u8>>());

    assert_eq!(
        counter(
            &reg,
            "watchfire_agent_trace_spans_received_total",
            &[("protocol", "grpc")]
        ),
        3.0
    );
    assert_eq!(
        counter(
            &reg,
            "watchfire_agent_trace_spans_received_total",
            &[("protocol", "http")]
        ),
        3.0
    );
    assert_eq!(
        counter(
            &reg,
            "watchfire_agent_trace_spans_rejected_total",
            &[("reason", "invalid_trace_id")]
        ),
        2.0
    );
    assert_eq!(
        counter(
            &reg,
            "watchfire_agent_trace_spans_kept_total",
            &[("reason", "error")]
        ),
        2.0
    );
    assert_eq!(
        counter(
            &reg,
            "watchfire_agent_trace_spans_kept_total",
            &[("reason", "latency")]
        ),
        1.0
    );
    assert_eq!(
        counter(
            &reg,
            "watchfire_agent_trace_spans_dropped_total",
            &[("reason", "sampling")]
        ),
        1.0
    );
    assert!(
        counter(
            &reg,
            "watchfire_agent_trace_redactions_total",
            &[("rule", "email")]
        ) >= 2.0
    );
    // Span metrics count every valid span, sampled out or not.
    let sm = |name: &str, code: &str| {
        counter(
            &reg,
            "traces_span_metrics_calls_total",
            &[
                ("span_name", name),
                ("status_code", code),
                ("span_kind", "SPAN_KIND_SERVER"),
            ],
        )
    };
    assert_eq!(sm("GET /health", "STATUS_CODE_UNSET"), 1.0);
    assert_eq!(sm("POST /login [REDACTED:email]", "STATUS_CODE_ERROR"), 1.0);
    assert_eq!(
        counter(
            &reg,
            "traces_span_metrics_calls_total",
            &[("service", "js"), ("span_name", "GET /")]
        ),
        1.0
    );
    assert_eq!(
        counter(
            &reg,
            "traces_span_metrics_duration_seconds_bucket",
            &[("service", "web"), ("le", "1")]
        ),
        0.0
    );
    assert_eq!(
        counter(
            &reg,
            "traces_span_metrics_duration_seconds_bucket",
            &[("service", "web"), ("le", "2")]
        ),
        1.0
    );

    let report = p.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.exported, 3);
    assert_eq!(report.dropped, 0);
    assert_eq!(
        counter(&reg, "watchfire_agent_trace_spans_exported_total", &[]),
        3.0
    );
}

struct Bad {
    name: &'static str,
    ct: &'static str,
    enc: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    outcome: &'static str,
    message: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bad_input() {
    let up = Upstream::start().await;
    let reg = Registry::new();
    let mut c = cfg(&up);
    c.http.as_mut().unwrap().max_request_size = 1 << 20;
    let p = TracePipeline::start(c, &reg).await.unwrap();
    let cases = vec![
        Bad {
            name: "malformed protobuf",
            ct: "application/x-protobuf",
            enc: None,
            body: vec![0xff; 8],
            status: 400,
            outcome: "invalid",
            message: "invalid protobuf",
        },
        Bad {
            name: "json wrong types",
            ct: "application/json",
            enc: None,
            body: br#"{"resourceSpans":[{"scopeSpans":"no"}]}"#.to_vec(),
            status: 400,
            outcome: "invalid",
            message: "invalid type",
        },
        Bad {
            name: "invalid utf-8 attribute",
            ct: "application/x-protobuf",
            enc: None,
            body: invalid_utf8_protobuf(),
            status: 400,
            outcome: "invalid",
            message: "UTF-8",
        },
        Bad {
            name: "protobuf nested 1000 deep",
            ct: "application/x-protobuf",
            enc: None,
            body: nested_protobuf(1000),
            status: 400,
            outcome: "invalid",
            message: "recursion limit",
        },
        Bad {
            name: "json nested 1000 deep",
            ct: "application/json",
            enc: None,
            body: nested_json(1000),
            status: 400,
            outcome: "invalid",
            message: "recursion limit",
        },
        Bad {
            name: "64 MiB gzip bomb",
            ct: "application/x-protobuf",
            enc: Some("gzip"),
            body: bomb_64mib(),
            status: 413,
            outcome: "too_large",
            message: "request of more than 1048576 bytes",
        },
        Bad {
            name: "body over the limit",
            ct: "application/x-protobuf",
            enc: None,
            body: vec![0u8; (1 << 20) + 10],
            status: 413,
            outcome: "too_large",
            message: "request of more than",
        },
        Bad {
            name: "bad content type",
            ct: "text/plain",
            enc: None,
            body: b"hi".to_vec(),
            status: 415,
            outcome: "unsupported",
            message: "unsupported Content-Type",
        },
        Bad {
            name: "bad encoding",
            ct: "application/json",
            enc: Some("br"),
            body: b"{}".to_vec(),
            status: 415,
            outcome: "unsupported",
            message: "Content-Encoding",
        },
    ];
    for (i, c) in cases.into_iter().enumerate() {
        let json = c.ct == "application/json";
        let r = post(&p, c.ct, c.enc, c.body).await;
        assert_eq!(r.status(), c.status, "{}", c.name);
        let b = r.bytes().await.unwrap();
        let st: RpcStatus = if json {
            let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
            RpcStatus {
                code: v["code"].as_i64().unwrap() as i32,
                message: v["message"].as_str().unwrap().into(),
            }
        } else {
            RpcStatus::decode(b).unwrap()
        };
        assert_eq!(st.code, 3, "{}", c.name);
        assert!(st.message.contains(c.message), "{}: {}", c.name, st.message);
        let _ = i;
        assert!(
            counter(
                &reg,
                "watchfire_agent_trace_requests_total",
                &[("protocol", "http"), ("outcome", c.outcome)]
            ) >= 1.0,
            "{}",
            c.name
        );
    }
    assert_eq!(
        counter(
            &reg,
            "watchfire_agent_trace_requests_total",
            &[("protocol", "http"), ("outcome", "invalid")]
        ),
        5.0
    );
    assert_eq!(
        counter(
            &reg,
            "watchfire_agent_trace_spans_received_total",
            &[("protocol", "http")]
        ),
        0.0
    );
    p.shutdown(Duration::from_secs(1)).await;
}

/// Sends raw bytes as an `Export` message.
#[derive(Clone, Copy, Default)]
struct RawCodec;
struct RawEnc;
struct RawDec;
impl tonic::codec::Encoder for RawEnc {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}
impl tonic::codec::Decoder for RawDec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Bytes>, tonic::Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}
impl tonic::codec::Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEnc;
    type Decoder = RawDec;
    fn encoder(&mut self) -> RawEnc {
        RawEnc
    }
    fn decoder(&mut self) -> RawDec {
        RawDec
    }
}

async fn raw_export(p: &TracePipeline, body: Vec<u8>) -> Result<Bytes, tonic::Status> {
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{}", p.grpc_addr.unwrap()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut g = tonic::client::Grpc::new(ch);
    g.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        watchfire_agent::traces::grpc::EXPORT_PATH,
    );
    g.unary(tonic::Request::new(Bytes::from(body)), path, RawCodec)
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_bad_input() {
    let up = Upstream::start().await;
    let reg = Registry::new();
    let p = TracePipeline::start(cfg(&up), &reg).await.unwrap();
    for (name, body, msg) in [
        ("malformed", vec![0xff; 8], "invalid protobuf"),
        ("invalid utf-8", invalid_utf8_protobuf(), "UTF-8"),
        ("nested 1000 deep", nested_protobuf(1000), "recursion limit"),
    ] {
        let e = raw_export(&p, body).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{name}");
        assert!(e.message().contains(msg), "{name}: {}", e.message());
    }
    // A valid message through the raw path decodes as a response.
    let ok = raw_export(
        &p,
        request("s", vec![span(1, "a", true, 1)]).encode_to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(
        ExportTraceServiceResponse::decode(ok).unwrap(),
        ExportTraceServiceResponse::default()
    );
    // 64 MiB (one attribute), gzip-compressed to little: refused while
    // decompressing, over the 4 MiB limit.
    let mut big = span(2, "big", true, 1);
    big.attributes.push(kv("blob", &"x".repeat(64 << 20)));
    let e = grpc_client(&p)
        .await
        .send_compressed(CompressionEncoding::Gzip)
        .export(request("s", vec![big]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert_eq!(
        counter(
            &reg,
            "watchfire_agent_trace_requests_total",
            &[("protocol", "grpc"), ("outcome", "invalid")]
        ),
        3.0
    );
    assert_eq!(
        counter(
            &reg,
            "watchfire_agent_trace_requests_total",
            &[("protocol", "grpc"), ("outcome", "too_large")]
        ),
        1.0
    );
    p.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_backpressure_then_nothing_lost_or_duplicated() {
    let mut up = Upstream::start().await;
    up.down.store(true, Ordering::SeqCst);
    let reg = Registry::new();
    let mut c = cfg(&up);
    c.export.batch_max_spans = 4;
    c.export.queue_max_spans = 4;
    let p = TracePipeline::start(c, &reg).await.unwrap();
    let mut client = grpc_client(&p).await;

    // Two requests of two error spans fill the queue.
    client
        .export(request(
            "s",
            vec![span(1, "a", true, 1), span(2, "b", true, 1)],
        ))
        .await
        .unwrap();
    client
        .export(request(
            "s",
            vec![span(3, "c", true, 1), span(4, "d", true, 1)],
        ))
        .await
        .unwrap();
    // The upstream is being retried.
    let mut refused = up.refused.clone();
    tokio::time::timeout(Duration::from_secs(10), refused.wait_for(|n| *n >= 3))
        .await
        .unwrap()
        .unwrap();
    // Full: gRPC says RESOURCE_EXHAUSTED, HTTP 429 with Retry-After.
    let next = request("s", vec![span(5, "e", true, 1), span(6, "f", true, 1)]);
    let e = client.export(next.clone()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted);
    let r = post(&p, "application/x-protobuf", None, next.encode_to_vec()).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(counter(&reg, "watchfire_agent_trace_queue_spans", &[]), 4.0);
    // Refused requests were not counted as received.
    assert_eq!(
        counter(
            &reg,
            "watchfire_agent_trace_spans_received_total",
            &[("protocol", "grpc")]
        ),
        4.0
    );

    // The upstream comes back: everything queued arrives, and the client's
    // retry of the refused request is taken.
    up.down.store(false, Ordering::SeqCst);
    let mut got = up.spans(4).await;
    let mut retry = None;
    for _ in 0..1000 {
        match client.export(next.clone()).await {
            Ok(r) => {
                retry = Some(r);
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), tonic::Code::ResourceExhausted);
                tokio::task::yield_now().await;
            }
        }
    }
    assert!(retry.is_some(), "the queue never drained");
    got.extend(up.spans(2).await);
    let report = p.shutdown(Duration::from_secs(5)).await;
    let mut ids: Vec<Vec<u8>> = got.iter().map(|s| s.span_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "every span exactly once");
    assert_eq!(got.len(), 6);
    assert!(up.received.try_recv().is_err(), "no duplicate request");
    assert_eq!(report.exported, 6);
    assert_eq!(
        counter(
            &reg,
            "watchfire_agent_trace_spans_dropped_total",
            &[("reason", "shutdown")]
        ),
        0.0
    );
    assert!(
        counter(
            &reg,
            "watchfire_agent_trace_export_errors_total",
            &[("kind", "retryable")]
        ) >= 3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_export_protocol() {
    // The forwarder over OTLP/HTTP, to the agent's own HTTP receiver of a
    // second pipeline that forwards over gRPC to the upstream.
    let mut up = Upstream::start().await;
    let reg2 = Registry::new();
    let mut relay = cfg(&up);
    relay.sampling = Policy {
        probability: 1.0,
        ..Policy::default()
    };
    let p2 = TracePipeline::start(relay, &reg2).await.unwrap();
    let mut c = cfg(&up);
    c.export = ExportConfig::new(
        format!("http://{}/v1/traces", p2.http_addr.unwrap()),
        Protocol::Http,
    );
    c.export.batch_timeout = Duration::from_millis(5);
    let reg = Registry::new();
    let p = TracePipeline::start(c, &reg).await.unwrap();
    grpc_client(&p)
        .await
        .export(request("s", vec![span(1, "x", true, 1)]))
        .await
        .unwrap();
    let got = up.spans(1).await;
    assert_eq!(got[0].name, "x");
    assert_eq!(p.shutdown(Duration::from_secs(2)).await.exported, 1);
    assert_eq!(p2.shutdown(Duration::from_secs(2)).await.exported, 1);
    let _: Option<ExportTraceServiceRequest> = None;
}
