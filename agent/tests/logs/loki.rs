//! The Loki sink against a local push server that checks the documented
//! request shape (`application/json`, streams with a label map and
//! `[["<ns>", "<line>"]]` values, the tenant header) and answers with
//! scripted 429, 5xx and 400 failures.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tempfile::TempDir;
use watchfire_agent::logs::metrics::LogMetrics;
use watchfire_agent::logs::sink::http::HttpConfig;
use watchfire_agent::logs::sink::loki::{LokiConfig, LokiSink};
use watchfire_agent::logs::sink::Sink;

use super::sink_server::{requests, serve, Answer, Req};

/// `(labels, [(ns, line)])` per stream, or why the body is not a push.
type Streams = Vec<(BTreeMap<String, String>, Vec<(i64, String)>)>;

fn parse_push(req: &Req) -> Result<Streams, String> {
    if req.path != "/loki/api/v1/push" {
        return Err(format!("path {}", req.path));
    }
    if req.header("content-type") != Some("application/json") {
        return Err(format!("content-type {:?}", req.header("content-type")));
    }
    let v: serde_json::Value = serde_json::from_slice(&req.body).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for s in v["streams"].as_array().ok_or("no streams array")? {
        let labels = s["stream"].as_object().ok_or("stream is not a map")?;
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    v.as_str().ok_or("label value not a string")?.to_string(),
                ))
            })
            .collect::<Result<_, String>>()?;
        if labels.is_empty() {
            return Err("no labels".into());
        }
        let mut values = Vec::new();
        for e in s["values"].as_array().ok_or("no values")? {
            let pair = e
                .as_array()
                .filter(|p| p.len() == 2)
                .ok_or("value is not a pair")?;
            let ts = pair[0].as_str().ok_or("timestamp is not a string")?;
            if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("timestamp {ts:?}"));
            }
            let line = pair[1].as_str().ok_or("line is not a string")?;
            values.push((ts.parse().map_err(|_| "timestamp range")?, line.to_string()));
        }
        out.push((labels, values));
    }
    Ok(out)
}

fn line(ns: &str, msg: &str, ts: &str) -> String {
    serde_json::json!({
        "file": "/var/log/pods/x/0.log",
        "kubernetes": {"namespace": ns, "pod": "p-1", "uid": "u", "container": "api"},
        "level": "info", "message": msg, "timestamp": ts,
    })
    .to_string()
}

fn config(url: &str) -> LokiConfig {
    let mut http = HttpConfig::new(format!("{url}/loki/api/v1/push").parse().unwrap());
    http.retry.min_backoff = Duration::from_millis(1);
    http.retry.max_backoff = Duration::from_millis(4);
    http.retry.max_retry_after = Duration::from_millis(150);
    LokiConfig {
        http,
        tenant_id: Some("team-a".into()),
        labels: BTreeMap::from([("cluster".to_string(), "prod".to_string())]),
    }
}

#[tokio::test]
async fn push_shape_retries_and_partial_rejection() {
    let invalid = Arc::new(Mutex::new(Vec::<String>::new()));
    let inv = invalid.clone();
    let (url, mut rx) = serve(move |req| {
        if let Err(e) = parse_push(req) {
            inv.lock().unwrap().push(e.clone());
            return Answer::status(422, e);
        }
        match req.n {
            0 => Answer::status(429, "rate limited").with_header("retry-after", "2"),
            1 => Answer::status(500, "ingester down"),
            _ => Answer::status(
                400,
                "entry with timestamp 1970-01-01 00:00:01 +0000 UTC ignored, reason: 'entry too far behind' for stream: {namespace=\"a\"},\ntotal ignored: 1 out of 3",
            ),
        }
    })
    .await;
    let metrics = Arc::new(LogMetrics::new());
    let mut sink = LokiSink::new(config(&url), metrics.clone()).unwrap();
    let lines = [
        line("a", "second", "1970-01-01T00:00:02.000000005Z"),
        line("b", "other", "1970-01-01T00:00:03Z"),
        line("a", "first", "1970-01-01T00:00:01Z"),
    ];
    sink.send(lines.iter().cloned().collect()).await.unwrap();
    let reqs = requests(&mut rx, 3).await;
    assert!(rx.try_recv().is_err(), "no fourth request");
    assert!(invalid.lock().unwrap().is_empty(), "{invalid:?}");
    // Retry-After (2 s, capped at 150 ms) honoured.
    assert!(reqs[1].at - reqs[0].at >= Duration::from_millis(150));
    for r in &reqs {
        assert_eq!(r.header("x-scope-orgid"), Some("team-a"));
        assert_eq!(r.body, reqs[0].body, "a retry sends the same entries");
    }
    let streams = parse_push(&reqs[0]).unwrap();
    let labels = |ns: &str| {
        BTreeMap::from(
            [
                ("cluster", "prod"),
                ("namespace", ns),
                ("pod", "p-1"),
                ("container", "api"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        )
    };
    let want: Streams = vec![
        (
            labels("a"),
            vec![
                (1_000_000_000, lines[2].clone()),
                (2_000_000_005, lines[0].clone()),
            ],
        ),
        (labels("b"), vec![(3_000_000_000, lines[1].clone())]),
    ];
    assert_eq!(streams, want);
    let dropped = |r: &str| metrics.sink_dropped.with_label_values(&["loki", r]).get();
    assert_eq!(dropped("rejected"), 1);
    assert_eq!(metrics.sink_errors.with_label_values(&["loki"]).get(), 2);
}

#[tokio::test]
async fn success_and_whole_refusals_are_dead_lettered() {
    let (url, mut rx) = serve(|req| match req.n {
        0 => Answer::status(204, ""),
        _ => Answer::status(400, "error parsing labels"),
    })
    .await;
    let dir = TempDir::new().unwrap();
    let mut cfg = config(&url);
    cfg.tenant_id = None;
    cfg.http.gzip = true;
    cfg.http.dead_letter_path = Some(dir.path().join("loki-dead.jsonl"));
    let metrics = Arc::new(LogMetrics::new());
    let mut sink = LokiSink::new(cfg, metrics.clone()).unwrap();
    let plain = serde_json::json!({"message": "no metadata"}).to_string();
    sink.send(Arc::from(vec![plain.clone()])).await.unwrap();
    let r = requests(&mut rx, 1).await;
    assert_eq!(r[0].header("x-scope-orgid"), None);
    assert_eq!(r[0].header("content-encoding"), Some("gzip"));
    let streams = parse_push(&r[0]).unwrap();
    assert_eq!(streams.len(), 1);
    assert_eq!(
        streams[0].0,
        BTreeMap::from([("cluster".to_string(), "prod".to_string())])
    );
    assert_eq!(streams[0].1[0].1, plain);
    assert_eq!(
        metrics
            .sink_dropped
            .with_label_values(&["loki", "rejected"])
            .get(),
        0
    );

    let bad = vec![
        line("a", "x", "2024-01-01T00:00:00Z"),
        line("a", "y", "2024-01-01T00:00:01Z"),
    ];
    sink.send(Arc::from(bad.clone())).await.unwrap();
    requests(&mut rx, 1).await;
    assert_eq!(
        metrics
            .sink_dropped
            .with_label_values(&["loki", "rejected"])
            .get(),
        2
    );
    let dead = std::fs::read_to_string(dir.path().join("loki-dead.jsonl")).unwrap();
    let dead: Vec<String> = dead
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["line"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(dead, bad);
}
