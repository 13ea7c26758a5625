//! remote_write 1.0 receiver, driven through the axum router.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use prost::Message;
use tower::ServiceExt;
use watchfire_promql::labels::{MatchOp, Matcher};
use watchfire_promql::storage::Storage;
use watchfire_router::ingest::proto::{
    histogram, BucketSpan, Histogram, Label, Sample, TimeSeries, WriteRequest,
};
use watchfire_router::ingest::{routes, IngestConfig, IngestState};
use watchfire_router::metrics::Metrics;
use watchfire_router::store::{Store, StoreConfig};

use super::store::canon;

const NOW: i64 = 1_000_000;

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
        exemplars: vec![],
        histograms: vec![],
    }
}

fn req(ts: Vec<TimeSeries>) -> Vec<u8> {
    WriteRequest {
        timeseries: ts,
        metadata: vec![],
    }
    .encode_to_vec()
}

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

struct Harness {
    store: Arc<Store>,
    app: axum::Router,
    metrics: Metrics,
}

fn harness(store_cfg: StoreConfig, cfg: IngestConfig) -> Harness {
    let store = Arc::new(Store::new(store_cfg));
    let metrics = Metrics::new();
    let state = IngestState::with_clock(store.clone(), cfg, &metrics.registry, || NOW).unwrap();
    // Stored before every case: one series with a sample at t=1000.
    store
        .append(
            &watchfire_promql::labels::Labels::new([("__name__", "base"), ("job", "x")]),
            1000,
            1.0,
        )
        .unwrap();
    Harness {
        store,
        app: routes(state),
        metrics,
    }
}

async fn post(app: &axum::Router, body: Vec<u8>, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut r = Request::post("/api/v1/write");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(r.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn everything(store: &Store) -> Vec<(String, Vec<(i64, u64)>)> {
    canon(store.select(
        &[Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap()],
        i64::MIN,
        i64::MAX,
    ))
}

type Headers = &'static [(&'static str, &'static str)];

const STD: Headers = &[
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

/// A bad request: expected status, a substring of the reason, and the
/// store must be exactly as before.
async fn check(
    name: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
    status: StatusCode,
    reason: &str,
) {
    let h = harness(
        StoreConfig {
            max_labels_per_series: 10,
            max_label_value_len: 100,
            shards: 4,
            ..StoreConfig::default()
        },
        IngestConfig {
            max_body_bytes: 4096,
            max_decompressed_bytes: 16 * 1024,
            ..IngestConfig::default()
        },
    );
    let before = everything(&h.store);
    let (got, text) = post(&h.app, body, headers).await;
    assert_eq!(got, status, "{name}: {text}");
    assert!(text.contains(reason), "{name}: {text:?} lacks {reason:?}");
    assert!(text.len() < 600, "{name}: reason too long: {}", text.len());
    assert_eq!(everything(&h.store), before, "{name}: store changed");
    let metrics = h.metrics.encode();
    let line = format!(
        "watchfire_remote_write_requests_total{{code=\"{}\"}} 1",
        status.as_u16()
    );
    assert!(metrics.contains(&line), "{name}: {metrics}");
}

#[tokio::test]
async fn bad_requests_leave_the_store_alone() {
    let good = req(vec![series(
        &[("__name__", "new"), ("job", "y")],
        &[(2000, 5.0)],
    )]);
    let valid = snappy(&good);
    let mut truncated = valid.clone();
    truncated.truncate(valid.len() / 2);
    // a label value that is not UTF-8: patch the encoded bytes
    let mut bad_utf8 = req(vec![series(
        &[("__name__", "new"), ("job", "Zq")],
        &[(2000, 5.0)],
    )]);
    let at = bad_utf8.windows(2).position(|w| w == b"Zq").unwrap();
    bad_utf8[at] = 0xff;
    bad_utf8[at + 1] = 0xfe;
    let many: Vec<(String, String)> = (0..20)
        .map(|i| (format!("label_{i:02}"), "v".repeat(60)))
        .collect();
    let mut many_labels: Vec<(&str, &str)> = vec![("__name__", "m")];
    many_labels.extend(many.iter().map(|(a, b)| (a.as_str(), b.as_str())));
    let long = "v".repeat(101);
    let huge: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let bomb = snappy(&vec![0u8; 32 * 1024]);
    assert!(bomb.len() < 4096);
    let good_new = series(&[("__name__", "new")], &[(2000, 1.0)]);
    use StatusCode as S;
    let cases: Vec<(&str, Vec<u8>, Headers, StatusCode, &str)> = vec![
        ("truncated", truncated, STD, S::BAD_REQUEST, "snappy"),
        (
            "not snappy",
            b"hello, this is not snappy at all".to_vec(),
            STD,
            S::BAD_REQUEST,
            "snappy",
        ),
        ("raw protobuf", good.clone(), STD, S::BAD_REQUEST, "snappy"),
        (
            "bad protobuf",
            snappy(&[0x0a, 0xff, 0xff, 0x01]),
            STD,
            S::BAD_REQUEST,
            "WriteRequest",
        ),
        ("not utf-8", snappy(&bad_utf8), STD, S::BAD_REQUEST, "UTF-8"),
        (
            "unsorted labels",
            snappy(&req(vec![
                good_new.clone(),
                series(&[("job", "a"), ("__name__", "m")], &[(2000, 1.0)]),
            ])),
            STD,
            S::BAD_REQUEST,
            "timeseries[1]",
        ),
        (
            "duplicate label",
            snappy(&req(vec![series(
                &[("__name__", "m"), ("a", "1"), ("a", "2")],
                &[(2000, 1.0)],
            )])),
            STD,
            S::BAD_REQUEST,
            "duplicate label name \"a\"",
        ),
        (
            "no metric name",
            snappy(&req(vec![series(&[("job", "a")], &[(2000, 1.0)])])),
            STD,
            S::BAD_REQUEST,
            "no metric name",
        ),
        (
            "empty metric name",
            snappy(&req(vec![series(
                &[("__name__", ""), ("job", "a")],
                &[(2000, 1.0)],
            )])),
            STD,
            S::BAD_REQUEST,
            "no metric name",
        ),
        (
            "too many labels",
            snappy(&req(vec![
                good_new.clone(),
                series(&many_labels, &[(2000, 1.0)]),
            ])),
            STD,
            S::BAD_REQUEST,
            "21 labels, the limit is 10",
        ),
        (
            "value too long",
            snappy(&req(vec![series(
                &[("__name__", "m"), ("x", &long)],
                &[(2000, 1.0)],
            )])),
            STD,
            S::BAD_REQUEST,
            "101 bytes long",
        ),
        (
            "out of order",
            snappy(&req(vec![
                good_new.clone(),
                series(&[("__name__", "base"), ("job", "x")], &[(500, 1.0)]),
            ])),
            STD,
            S::BAD_REQUEST,
            "out of order",
        ),
        (
            "duplicate timestamp",
            snappy(&req(vec![
                good_new.clone(),
                series(&[("__name__", "base"), ("job", "x")], &[(1000, 2.0)]),
            ])),
            STD,
            S::BAD_REQUEST,
            "duplicate sample",
        ),
        (
            "unsorted samples",
            snappy(&req(vec![series(
                &[("__name__", "m")],
                &[(3000, 1.0), (2000, 1.0)],
            )])),
            STD,
            S::BAD_REQUEST,
            "out of order",
        ),
        (
            "too far in the future",
            snappy(&req(vec![series(
                &[("__name__", "m")],
                &[(NOW + 600_001, 1.0)],
            )])),
            STD,
            S::BAD_REQUEST,
            "ahead",
        ),
        (
            "oversized body",
            huge,
            STD,
            S::PAYLOAD_TOO_LARGE,
            "exceeds the limit of 4096",
        ),
        (
            "decompression bomb",
            bomb,
            STD,
            S::PAYLOAD_TOO_LARGE,
            "decompressed",
        ),
        (
            "gzip",
            valid.clone(),
            &[("Content-Encoding", "gzip")],
            S::UNSUPPORTED_MEDIA_TYPE,
            "snappy",
        ),
        (
            "json",
            valid.clone(),
            &[("Content-Type", "application/json")],
            S::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
        ),
        (
            "remote write 2.0",
            valid.clone(),
            &[(
                "Content-Type",
                "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            )],
            S::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
        ),
    ];
    for (name, body, headers, status, reason) in cases {
        check(name, body, headers, status, reason).await;
    }
}

#[tokio::test]
async fn valid_writes() {
    let body = |ts| snappy(&req(ts));
    let cases: Vec<(&str, Vec<u8>, Headers)> = vec![
        (
            "standard headers",
            body(vec![series(&[("__name__", "new")], &[(2000, 5.0)])]),
            STD,
        ),
        (
            "no headers (1.0 defaults)",
            body(vec![series(&[("__name__", "new")], &[(2000, 5.0)])]),
            &[],
        ),
        (
            "proto parameter",
            body(vec![series(&[("__name__", "new")], &[(2000, 5.0)])]),
            &[(
                "Content-Type",
                "application/x-protobuf; proto=prometheus.WriteRequest",
            )],
        ),
    ];
    for (name, b, headers) in cases {
        let h = harness(StoreConfig::default(), IngestConfig::default());
        let (status, text) = post(&h.app, b, headers).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{name}: {text}");
        let all = everything(&h.store);
        assert_eq!(all.len(), 2, "{name}");
        assert_eq!(
            all[1],
            ("new{}".to_string(), vec![(2000, 5.0f64.to_bits())]),
            "{name}"
        );
    }
}

#[tokio::test]
async fn exact_duplicates_empty_values_and_exemplars_are_accepted() {
    let h = harness(StoreConfig::default(), IngestConfig::default());
    let mut ts = series(
        &[("__name__", "base"), ("empty", ""), ("job", "x")],
        &[(1000, 1.0), (1500, 2.0)],
    );
    ts.exemplars
        .push(watchfire_router::ingest::proto::Exemplar {
            labels: vec![],
            value: 1.0,
            timestamp: 1000,
        });
    let (status, text) = post(&h.app, snappy(&req(vec![ts])), STD).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    let all = everything(&h.store);
    assert_eq!(
        all[0].1.iter().map(|p| p.0).collect::<Vec<_>>(),
        vec![1000, 1500]
    );
    let m = h.metrics.encode();
    assert!(
        m.contains("watchfire_remote_write_samples_total{result=\"duplicate\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("watchfire_remote_write_samples_total{result=\"accepted\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("watchfire_remote_write_exemplars_ignored_total 1"),
        "{m}"
    );
}

#[tokio::test]
async fn series_limit_is_429_and_keeps_accepted_samples() {
    let h = harness(
        StoreConfig {
            max_series: 2,
            shards: 1,
            ..StoreConfig::default()
        },
        IngestConfig::default(),
    );
    let body = snappy(&req(vec![
        series(&[("__name__", "base"), ("job", "x")], &[(2000, 2.0)]),
        series(&[("__name__", "n1")], &[(2000, 1.0)]),
        series(&[("__name__", "n2")], &[(2000, 1.0), (3000, 1.0)]),
    ]));
    let (status, text) = post(&h.app, body, STD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{text}");
    assert!(
        text.contains("1 new series and their 2 samples refused; 2 samples stored"),
        "{text}"
    );
    let names: Vec<String> = everything(&h.store).into_iter().map(|s| s.0).collect();
    assert_eq!(names, vec!["base{job=\"x\"}", "n1{}"]);
    let m = h.metrics.encode();
    assert!(
        m.contains("watchfire_remote_write_samples_total{result=\"rejected_series_limit\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("watchfire_remote_write_requests_total{code=\"429\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn native_histograms_round_trip() {
    let h = harness(StoreConfig::default(), IngestConfig::default());
    let mut ts = series(&[("__name__", "lat")], &[]);
    ts.histograms.push(Histogram {
        count: Some(histogram::Count::CountInt(6)),
        sum: 10.0,
        schema: 0,
        zero_threshold: 0.001,
        zero_count: Some(histogram::ZeroCount::ZeroCountInt(1)),
        positive_spans: vec![BucketSpan {
            offset: 0,
            length: 3,
        }],
        positive_deltas: vec![1, 1, -1],
        reset_hint: histogram::ResetHint::No as i32,
        timestamp: 2000,
        ..Histogram::default()
    });
    let (status, text) = post(&h.app, snappy(&req(vec![ts])), STD).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    let got = h.store.select(
        &[Matcher::new(MatchOp::Equal, "__name__", "lat").unwrap()],
        0,
        5000,
    );
    let fh = &got[0].histograms[0].h;
    assert_eq!(fh.positive_buckets, vec![1.0, 2.0, 1.0]);
    assert_eq!((fh.count, fh.zero_count, fh.sum), (6.0, 1.0, 10.0));
    // spans that do not match the bucket count are refused
    let mut bad = series(&[("__name__", "lat2")], &[]);
    bad.histograms.push(Histogram {
        count: Some(histogram::Count::CountInt(1)),
        positive_spans: vec![BucketSpan {
            offset: 0,
            length: 5,
        }],
        positive_deltas: vec![1],
        timestamp: 2000,
        ..Histogram::default()
    });
    let (status, text) = post(&h.app, snappy(&req(vec![bad])), STD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("bucket spans"), "{text}");
}

#[tokio::test]
async fn arbitrary_bytes_never_panic() {
    // Deterministic pseudo-random bodies, raw and snappy-wrapped.
    let h = harness(StoreConfig::default(), IngestConfig::default());
    let before = everything(&h.store);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..300 {
        let len = (i * 7) % 200;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let body = if i % 2 == 0 { bytes } else { snappy(&bytes) };
        let (status, _) = post(&h.app, body, STD).await;
        // 413 when a random snappy header announces a huge body
        let ok = [
            StatusCode::BAD_REQUEST,
            StatusCode::NO_CONTENT,
            StatusCode::PAYLOAD_TOO_LARGE,
        ];
        assert!(ok.contains(&status), "{status}");
    }
    assert_eq!(everything(&h.store), before);
}

#[tokio::test]
async fn large_write_is_accepted() {
    // Over the receiver's blocking-pool threshold (256 KiB compressed).
    let h = harness(StoreConfig::default(), IngestConfig::default());
    let mut x: u64 = 7;
    let ts: Vec<TimeSeries> = (0..20_000)
        .map(|i| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let id = format!("{x:016x}");
            series(
                &[("__name__", "big"), ("id", &id), ("n", &i.to_string())],
                &[(2000, x as f64)],
            )
        })
        .collect();
    let body = snappy(&req(ts));
    assert!(body.len() > 256 * 1024, "{}", body.len());
    let (status, text) = post(&h.app, body, STD).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    assert_eq!(h.store.series_count(), 20_001);
}

#[tokio::test]
async fn count_bombs_are_refused_before_decoding() {
    // Each case: a body, the reason label, a substring of the answer. The
    // bodies end in a broken field: had they been decoded, the answer
    // would be a protobuf error instead.
    let empty_series = {
        let mut raw = [0x0a, 0x00].repeat(1_000_000);
        raw.extend_from_slice(&[0x0a, 0xff]);
        raw
    };
    let empty_samples = {
        let mut ts = series(&[("__name__", "m")], &[]);
        ts.samples = vec![Sample::default(); 1_000_001];
        let mut raw = req(vec![ts]);
        raw.extend_from_slice(&[0x0a, 0xff]);
        raw
    };
    let cases = [
        (empty_series, "too_many_series", "more than 100000 series"),
        (
            empty_samples,
            "too_many_samples",
            "more than 1000000 samples",
        ),
    ];
    for (raw, reason, text) in cases {
        let body = snappy(&raw);
        assert!(body.len() < 1 << 20, "{reason}: {} bytes", body.len());
        let h = harness(StoreConfig::default(), IngestConfig::default());
        let before = everything(&h.store);
        let (status, answer) = post(&h.app, body, STD).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reason}: {answer}");
        assert!(answer.contains(text), "{reason}: {answer}");
        let metrics = h.metrics.encode();
        let line = format!("watchfire_remote_write_request_errors_total{{reason=\"{reason}\"}} 1");
        assert!(metrics.contains(&line), "{reason}: {metrics}");
        assert_eq!(everything(&h.store), before, "{reason}: store changed");
    }
}

#[test]
fn default_limits_are_tight() {
    let cfg = IngestConfig::default();
    assert_eq!(cfg.max_decompressed_bytes, 64 << 20);
    assert_eq!(cfg.max_series_per_request, 100_000);
    assert_eq!(cfg.max_samples_per_request, 1_000_000);
    assert_eq!(cfg.max_inflight_decompressed_bytes, 256 << 20);
}
