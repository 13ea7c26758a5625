//! Bad input, decoded without a server: every case is an error naming the
//! problem (or a valid request), never a panic.

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, KeyValueList};
use prost::Message;
use watchfire_agent::traces::decode::{decode, decompress, DecodeError, Format};

use super::{request, span};

/// Protobuf of a request whose span has one attribute nested `depth`
/// key-value lists deep.
pub fn nested_protobuf(depth: usize) -> Vec<u8> {
    let mut v = AnyValue {
        value: Some(Value::StringValue("leaf".into())),
    };
    for _ in 0..depth {
        v = AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "k".into(),
                    value: Some(v),
                    key_strindex: 0,
                }],
            })),
        };
    }
    let mut s = span(1, "deep", false, 1);
    s.attributes.push(KeyValue {
        key: "deep".into(),
        value: Some(v),
        key_strindex: 0,
    });
    request("svc", vec![s]).encode_to_vec()
}

/// OTLP/JSON of a request whose span has one attribute nested `depth`
/// deep.
pub fn nested_json(depth: usize) -> Vec<u8> {
    let mut v = r#"{"stringValue":"leaf"}"#.to_string();
    for _ in 0..depth {
        v = format!(r#"{{"kvlistValue":{{"values":[{{"key":"k","value":{v}}}]}}}}"#);
    }
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"x","attributes":[{{"key":"deep","value":{v}}}]}}]}}]}}]}}"#
    )
    .into_bytes()
}

/// Protobuf of a request with an attribute string that is not UTF-8.
pub fn invalid_utf8_protobuf() -> Vec<u8> {
    let mut s = span(1, "utf8", false, 1);
    s.attributes.push(super::kv("bad", "PLACEHOLDER"));
    let mut b = request("svc", vec![s]).encode_to_vec();
    let at = b.windows(11).position(|w| w == b"PLACEHOLDER").unwrap();
    b[at] = 0xff;
    b[at + 1] = 0xfe;
    b
}

/// 64 MiB of zeros, gzip-compressed (about 64 KiB); built once.
pub fn bomb_64mib() -> Vec<u8> {
    static B: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    B.get_or_init(|| gzip(&vec![0u8; 64 << 20])).clone()
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A span in OTLP/JSON with `trace_id`.
pub fn json_with_trace_id(trace_id: &str) -> Vec<u8> {
    format!(r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"js"}}}}]}},"scopeSpans":[{{"spans":[{{"traceId":"{trace_id}","spanId":"0102030405060708","name":"GET /","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":1700000001500000000,"status":{{"code":2}},"unknownField":1}}]}}]}}]}}"#).into_bytes()
}

fn check(body: &[u8], encoding: Option<&str>, format: Format, want: Result<usize, &str>) {
    let got = decompress(body, encoding, 4 << 20).and_then(|b| decode(&b, format));
    match (got, want) {
        (Ok(req), Ok(n)) => assert_eq!(super::spans_of(&req).len(), n),
        (Err(e), Err(msg)) => assert!(e.to_string().contains(msg), "got {e}, want {msg}"),
        (g, w) => panic!("got {g:?}, want {w:?}"),
    }
}

#[test]
fn bad_input() {
    let good = request("svc", vec![span(1, "a", false, 1)]).encode_to_vec();
    let zeros64m = bomb_64mib();
    check(&good, None, Format::Protobuf, Ok(1));
    check(&gzip(&good), Some("gzip"), Format::Protobuf, Ok(1));
    check(&[], None, Format::Protobuf, Ok(0));
    check(
        &[0xff, 0xff, 0xff, 0xff],
        None,
        Format::Protobuf,
        Err("invalid protobuf ExportTraceServiceRequest"),
    );
    check(
        &good[..good.len() - 3],
        None,
        Format::Protobuf,
        Err("invalid protobuf"),
    );
    check(
        &invalid_utf8_protobuf(),
        None,
        Format::Protobuf,
        Err("UTF-8"),
    );
    check(&nested_protobuf(20), None, Format::Protobuf, Ok(1));
    check(
        &nested_protobuf(1000),
        None,
        Format::Protobuf,
        Err("recursion limit"),
    );
    check(&nested_json(20), None, Format::Json, Ok(1));
    check(
        &nested_json(1000),
        None,
        Format::Json,
        Err("recursion limit"),
    );
    check(
        &json_with_trace_id("0102030405060708090a0b0c0d0e0f10"),
        None,
        Format::Json,
        Ok(1),
    );
    check(&json_with_trace_id("0102"), None, Format::Json, Ok(1)); // wrong length: rejected later, per span
    check(
        &json_with_trace_id("xyz"),
        None,
        Format::Json,
        Err("line 1 column"),
    );
    check(
        br#"{"resourceSpans":"x"}"#,
        None,
        Format::Json,
        Err("invalid type"),
    );
    check(
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SERVER"}]}]}]}"#,
        None,
        Format::Json,
        Err("invalid type"),
    );
    check(
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#,
        None,
        Format::Json,
        Err("invalid OTLP/JSON"),
    );
    check(
        b"{\"resourceSpans\":[{\"schemaUrl\":\"\xff\"}]}",
        None,
        Format::Json,
        Err("invalid OTLP/JSON"),
    );
    check(b"not json", None, Format::Json, Err("line 1 column 2"));
    check(
        &zeros64m,
        Some("gzip"),
        Format::Protobuf,
        Err(&DecodeError::TooLarge { limit: 4 << 20 }.to_string()),
    );
    check(
        &vec![0u8; (4 << 20) + 1],
        None,
        Format::Protobuf,
        Err("request of more than"),
    );
    check(
        &good,
        Some("br"),
        Format::Protobuf,
        Err("unsupported Content-Encoding"),
    );
    check(
        &good,
        Some("gzip"),
        Format::Protobuf,
        Err("invalid gzip body"),
    );
}

#[test]
fn json_ids_are_hex() {
    let req: ExportTraceServiceRequest = decode(
        &json_with_trace_id("0102030405060708090a0b0c0d0e0f10"),
        Format::Json,
    )
    .unwrap();
    let s = &super::spans_of(&req)[0];
    assert_eq!(s.trace_id, (1..=16).collect::<Vec<u8>>());
    assert_eq!(s.span_id, (1..=8).collect::<Vec<u8>>());
    assert_eq!(s.kind, 2);
    assert_eq!(s.end_time_unix_nano - s.start_time_unix_nano, 1_500_000_000);
    assert_eq!(s.status.as_ref().unwrap().code, 2);
}
