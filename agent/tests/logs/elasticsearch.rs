//! The Elasticsearch sink against a local `_bulk` server that checks the
//! documented request shape (NDJSON, one action line before each
//! document, `application/x-ndjson`) and answers with scripted per-item
//! and whole-request failures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tempfile::TempDir;
use watchfire_agent::logs::config::{LogsConfig, SinkConfig};
use watchfire_agent::logs::metrics::LogMetrics;
use watchfire_agent::logs::sink::elasticsearch::{
    BulkAction, ElasticsearchConfig, ElasticsearchSink, IndexPattern,
};
use watchfire_agent::logs::sink::http::HttpConfig;
use watchfire_agent::logs::sink::Sink;
use watchfire_agent::logs::LogPipeline;
use watchfire_agent::ship::config::Auth;

use super::sink_server::{requests, serve, Answer, Req};

/// `(action, index, document)` of a `_bulk` body, or why it is not one.
fn parse_bulk(req: &Req) -> Result<Vec<(String, String, serde_json::Value)>, String> {
    if req.path != "/_bulk" {
        return Err(format!("path {}", req.path));
    }
    if req.header("content-type") != Some("application/x-ndjson") {
        return Err(format!("content-type {:?}", req.header("content-type")));
    }
    let text = std::str::from_utf8(&req.body).map_err(|e| e.to_string())?;
    let body = text.strip_suffix('\n').ok_or("no final newline")?;
    let lines: Vec<&str> = body.split('\n').collect();
    if !lines.len().is_multiple_of(2) {
        return Err("odd number of lines".into());
    }
    let mut out = Vec::new();
    for pair in lines.chunks(2) {
        let action: serde_json::Value = serde_json::from_str(pair[0]).map_err(|e| e.to_string())?;
        let obj = action.as_object().ok_or("action not an object")?;
        let (name, meta) = obj.iter().next().ok_or("empty action")?;
        if obj.len() != 1 || !(name == "create" || name == "index") {
            return Err(format!("action line {}", pair[0]));
        }
        let index = meta["_index"].as_str().ok_or("no _index")?.to_string();
        let doc: serde_json::Value = serde_json::from_str(pair[1]).map_err(|e| e.to_string())?;
        if !doc.is_object() {
            return Err("document not an object".into());
        }
        out.push((name.clone(), index, doc));
    }
    Ok(out)
}

/// A `_bulk` server: `status(message, attempt)` decides each item; items
/// answered 2xx are stored. Invalid requests are recorded and answered 400.
struct Bulk {
    stored: Mutex<Vec<(String, serde_json::Value)>>,
    attempts: Mutex<HashMap<String, usize>>,
    invalid: Mutex<Vec<String>>,
}

impl Bulk {
    fn new() -> Arc<Bulk> {
        Arc::new(Bulk {
            stored: Mutex::new(Vec::new()),
            attempts: Mutex::new(HashMap::new()),
            invalid: Mutex::new(Vec::new()),
        })
    }

    fn answer(&self, req: &Req, status: impl Fn(&str, usize) -> u16) -> Answer {
        let docs = match parse_bulk(req) {
            Ok(d) => d,
            Err(e) => {
                self.invalid.lock().unwrap().push(e.clone());
                return Answer::status(400, e);
            }
        };
        let mut items = Vec::new();
        let mut errors = false;
        for (action, index, doc) in docs {
            let msg = doc["message"].as_str().unwrap_or("").to_string();
            let attempt = {
                let mut a = self.attempts.lock().unwrap();
                let n = a.entry(msg.clone()).or_insert(0);
                *n += 1;
                *n - 1
            };
            let s = status(&msg, attempt);
            let mut item = serde_json::json!({ "_index": index, "status": s });
            if (200..300).contains(&s) {
                self.stored.lock().unwrap().push((index, doc));
            } else {
                errors = true;
                item["error"] = serde_json::json!({"type": "mapper_parsing_exception", "reason": format!("status {s}")});
            }
            items.push(serde_json::json!({ action: item }));
        }
        Answer::status(
            200,
            serde_json::json!({"took": 1, "errors": errors, "items": items}).to_string(),
        )
    }

    fn messages(&self) -> Vec<String> {
        let mut m: Vec<String> = self
            .stored
            .lock()
            .unwrap()
            .iter()
            .map(|(_, d)| d["message"].as_str().unwrap().to_string())
            .collect();
        m.sort();
        m
    }
}

fn line(msg: &str) -> String {
    serde_json::json!({"file": "/x.log", "level": "info", "message": msg, "timestamp": "2024-01-02T03:04:05.000000001Z"}).to_string()
}

fn config(url: &str) -> ElasticsearchConfig {
    let mut http = HttpConfig::new(format!("{url}/_bulk").parse().unwrap());
    http.retry.min_backoff = Duration::from_millis(1);
    http.retry.max_backoff = Duration::from_millis(4);
    ElasticsearchConfig {
        http,
        index: IndexPattern::parse("logs-%Y.%m.%d").unwrap(),
        action: BulkAction::Create,
    }
}

fn msgs(req: &Req) -> Vec<String> {
    parse_bulk(req)
        .unwrap()
        .iter()
        .map(|(_, _, d)| d["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn partial_failures_retry_only_failed_items_and_drop_poison() {
    let bulk = Bulk::new();
    let b = bulk.clone();
    let (url, mut rx) = serve(move |req| {
        b.answer(req, |msg, attempt| match (msg, attempt) {
            ("poison", _) => 400,
            ("busy", 0) => 429,
            ("down", 0 | 1) => 503,
            _ => 201,
        })
    })
    .await;
    let dir = TempDir::new().unwrap();
    let mut cfg = config(&url);
    cfg.http.gzip = true;
    cfg.http.auth = Auth::Basic {
        username: "u".into(),
        password: "p".into(),
    };
    cfg.http.dead_letter_path = Some(dir.path().join("dead/es.jsonl"));
    let metrics = Arc::new(LogMetrics::new());
    let mut sink = ElasticsearchSink::new(cfg, metrics.clone()).unwrap();
    let names = ["a", "poison", "busy", "b", "down", "c"];
    let lines: Arc<[String]> = names.iter().map(|m| line(m)).collect();
    sink.send(lines).await.unwrap();

    // The send resolved only after three requests: everything, then the
    // 429 and 503 items, then the item answered 503 twice.
    let reqs = requests(&mut rx, 3).await;
    assert!(rx.try_recv().is_err(), "no fourth request");
    assert!(
        bulk.invalid.lock().unwrap().is_empty(),
        "{:?}",
        bulk.invalid
    );
    assert_eq!(msgs(&reqs[0]), names);
    assert_eq!(msgs(&reqs[1]), ["busy", "down"]);
    assert_eq!(msgs(&reqs[2]), ["down"]);
    for r in &reqs {
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("authorization"), Some("Basic dTpw"));
        assert!(parse_bulk(r)
            .unwrap()
            .iter()
            .all(|(a, i, _)| a == "create" && i == "logs-2024.01.02"));
    }
    // Every durable item exactly once; the poison record dropped, counted
    // and dead-lettered.
    assert_eq!(bulk.messages(), ["a", "b", "busy", "c", "down"]);
    let dropped = |r: &str| {
        metrics
            .sink_dropped
            .with_label_values(&["elasticsearch", r])
            .get()
    };
    assert_eq!(dropped("rejected"), 1);
    assert_eq!(
        metrics
            .sink_errors
            .with_label_values(&["elasticsearch"])
            .get(),
        2
    );
    let dead = std::fs::read_to_string(dir.path().join("dead/es.jsonl")).unwrap();
    let dead: Vec<serde_json::Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["reason"], "rejected");
    assert_eq!(dead[0]["status"], 400);
    assert_eq!(dead[0]["line"], line("poison"));
}

#[tokio::test]
async fn whole_request_failures_honour_retry_after_and_refusals_drop() {
    let bulk = Bulk::new();
    let b = bulk.clone();
    let (url, mut rx) = serve(move |req| match req.n {
        0 => Answer::status(429, "slow down").with_header("retry-after", "1"),
        1 => Answer::status(503, "unavailable"),
        // A refused request (e.g. too large): dropped, not retried.
        3 => Answer::status(413, "too large"),
        _ => b.answer(req, |_, _| 201),
    })
    .await;
    let mut cfg = config(&url);
    cfg.http.retry.max_retry_after = Duration::from_millis(150);
    cfg.http.auth = Auth::Bearer("tok".into());
    cfg.action = BulkAction::Index;
    cfg.index = IndexPattern::parse("plain").unwrap();
    let metrics = Arc::new(LogMetrics::new());
    let mut sink = ElasticsearchSink::new(cfg, metrics.clone()).unwrap();
    sink.send(["x", "y"].iter().map(|m| line(m)).collect())
        .await
        .unwrap();
    let reqs = requests(&mut rx, 3).await;
    // Retry-After (1 s, capped at 150 ms) was honoured: far above the 4 ms
    // backoff.
    assert!(reqs[1].at - reqs[0].at >= Duration::from_millis(150));
    assert!(reqs.iter().all(|r| msgs(r) == ["x", "y"]));
    assert_eq!(reqs[2].header("authorization"), Some("Bearer tok"));
    assert!(parse_bulk(&reqs[2])
        .unwrap()
        .iter()
        .all(|(a, i, _)| a == "index" && i == "plain"));
    assert_eq!(bulk.messages(), ["x", "y"]);
    assert_eq!(
        metrics
            .sink_errors
            .with_label_values(&["elasticsearch"])
            .get(),
        2
    );

    sink.send(["z"].iter().map(|m| line(m)).collect())
        .await
        .unwrap();
    let reqs = requests(&mut rx, 1).await;
    assert_eq!(reqs[0].n, 3);
    assert_eq!(
        metrics
            .sink_dropped
            .with_label_values(&["elasticsearch", "http_4xx"])
            .get(),
        1
    );
    assert_eq!(bulk.messages(), ["x", "y"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_acknowledges_only_after_bulk_success() {
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bulk = Bulk::new();
    let (b, o) = (bulk.clone(), open.clone());
    let (url, mut rx) = serve(move |req| {
        if o.load(std::sync::atomic::Ordering::SeqCst) {
            b.answer(req, |_, _| 201)
        } else {
            Answer::status(503, "down")
        }
    })
    .await;
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("a.log");
    std::fs::write(
        &log,
        (0..5).map(|i| format!("line {i}\n")).collect::<String>(),
    )
    .unwrap();
    let mut cfg = LogsConfig::new(
        vec![dir.path().join("*.log").display().to_string()],
        dir.path().join("state/logs.redb"),
        vec![SinkConfig::Elasticsearch(config(&url))],
    );
    cfg.poll_interval = Duration::from_millis(5);
    let metrics = Arc::new(LogMetrics::new());
    let p = LogPipeline::start(cfg, metrics.clone()).unwrap();
    // Three failed attempts: nothing acknowledged, nothing checkpointed.
    requests(&mut rx, 3).await;
    assert_eq!(p.in_flight(), 5);
    assert_eq!(metrics.checkpoint_commits.get(), 0);
    assert!(bulk.messages().is_empty());
    open.store(true, std::sync::atomic::Ordering::SeqCst);
    let report = p.shutdown(Duration::from_secs(20)).await;
    assert!(report.drained, "{report:?}");
    assert_eq!(report.unacknowledged, 0);
    assert!(metrics.checkpoint_commits.get() >= 1);
    assert_eq!(
        bulk.messages(),
        (0..5).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );
}
