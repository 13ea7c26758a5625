//! The running pipeline: real files, redb checkpoints, the file sink and
//! test sinks that report what they receive and ack (or not) on command.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;
use tokio::sync::mpsc;
use watchfire_agent::logs::config::LogsConfig;
use watchfire_agent::logs::metrics::LogMetrics;
use watchfire_agent::logs::sink::file::FileSink;
use watchfire_agent::logs::sink::{SendFuture, Sink};
use watchfire_agent::logs::LogPipeline;

const WAIT: Duration = Duration::from_secs(20);

/// Reports every batch it receives; acknowledges the first `ack` batches,
/// then never returns.
struct TestSink {
    tx: mpsc::UnboundedSender<Vec<String>>,
    ack: usize,
}

impl Sink for TestSink {
    fn name(&self) -> &str {
        "test"
    }
    fn send(&mut self, lines: Arc<[String]>) -> SendFuture<'_> {
        let _ = self.tx.send(lines.to_vec());
        let stall = self.ack == 0;
        self.ack = self.ack.saturating_sub(1);
        Box::pin(async move {
            if stall {
                std::future::pending::<()>().await;
            }
            Ok(())
        })
    }
}

fn test_sink(ack: usize) -> (Box<dyn Sink>, mpsc::UnboundedReceiver<Vec<String>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Box::new(TestSink { tx, ack }), rx)
}

fn config(dir: &TempDir, pattern: &str) -> LogsConfig {
    let mut c = LogsConfig::new(
        vec![dir.path().join(pattern).display().to_string()],
        dir.path().join("state/logs.redb"),
        Vec::new(),
    );
    c.poll_interval = Duration::from_millis(5);
    c
}

fn write(path: &Path, lines: impl IntoIterator<Item = String>) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        f.write_all(l.as_bytes()).unwrap();
        f.write_all(b"\n").unwrap();
    }
}

/// Receives batches until `n` lines arrived.
async fn receive(
    rx: &mut mpsc::UnboundedReceiver<Vec<String>>,
    n: usize,
) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let batch = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("sink output")
            .unwrap();
        out.extend(
            batch
                .iter()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
    }
    out
}

fn messages(v: &[serde_json::Value]) -> Vec<String> {
    v.iter()
        .map(|r| r["message"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_rereads_only_unacknowledged_lines() {
    let dir = TempDir::new().unwrap();
    write(
        &dir.path().join("a.log"),
        (0..50).map(|i| format!("line {i}")),
    );
    let mut cfg = config(&dir, "*.log");
    cfg.batch_lines = 10;
    let (sink, mut rx) = test_sink(2);
    let p = LogPipeline::start_with_sinks(cfg.clone(), vec![sink], Arc::new(LogMetrics::new()))
        .unwrap();
    let got = receive(&mut rx, 30).await;
    assert_eq!(
        messages(&got)[..30],
        (0..30).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );
    // Batches 1–2 acknowledged, batch 3 stuck in the sink: stop.
    let report = p.shutdown(Duration::from_millis(200)).await;
    assert!(!report.drained);
    assert!(report.unacknowledged >= 10, "{report:?}");

    let (sink, mut rx) = test_sink(usize::MAX);
    let p = LogPipeline::start_with_sinks(cfg, vec![sink], Arc::new(LogMetrics::new())).unwrap();
    let got = receive(&mut rx, 30).await;
    assert_eq!(
        messages(&got),
        (20..50).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );
    let report = p.shutdown(Duration::from_secs(5)).await;
    assert!(report.drained);
    assert_eq!(report.unacknowledged, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sink_pauses_reading() {
    let dir = TempDir::new().unwrap();
    write(
        &dir.path().join("a.log"),
        (0..10_000).map(|i| format!("line {i}")),
    );
    let mut cfg = config(&dir, "*.log");
    cfg.batch_lines = 10;
    cfg.queue_batches = 2;
    let metrics = Arc::new(LogMetrics::new());
    let (sink, _rx) = test_sink(0);
    let p = LogPipeline::start_with_sinks(cfg, vec![sink], metrics.clone()).unwrap();
    let mut paused = p.paused();
    tokio::time::timeout(WAIT, paused.wait_for(|p| *p))
        .await
        .unwrap()
        .unwrap();
    // One batch held by each of: the tailer, the processor, the sink; and
    // two queues of 2 batches.
    let bound = (2 + 2 + 3) * 10;
    assert!(p.in_flight() <= bound, "{} in flight", p.in_flight());
    assert!(
        metrics.lines_read.get() as usize <= bound,
        "{} read",
        metrics.lines_read.get()
    );
    assert_eq!(metrics.paused.get(), 1);
    let report = p.shutdown(Duration::from_millis(50)).await;
    assert!(!report.drained);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redaction_fails_closed_and_kubernetes_metadata() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("pods/shop_cart-1_u-42/api/0.log");
    let t = "2024-01-02T03:04:05.000000001Z";
    let long = "x".repeat(300);
    write(
        &log,
        [
            format!("{t} stdout F ERROR mail to bob@example.com failed"),
            format!(r#"{t} stdout F {{"level":"info","service":"cart","password":"hunter2"}}"#),
            format!("{t} stderr P {long}"),
            format!("{t} stderr F  too long to redact"),
            format!("{t} stdout P split "),
            format!("{t} stdout F message"),
            "not a cri line".to_string(),
        ],
    );
    let mut cfg = config(&dir, "pods/*/*/*.log");
    cfg.redaction.limits.max_record_bytes = 200;
    let out = dir.path().join("out/logs.jsonl");
    let metrics = Arc::new(LogMetrics::new());
    let (sink, mut rx) = test_sink(usize::MAX);
    let sinks: Vec<Box<dyn Sink>> = vec![sink, Box::new(FileSink::new(out.clone()))];
    let p = LogPipeline::start_with_sinks(cfg, sinks, metrics.clone()).unwrap();
    let got = receive(&mut rx, 3).await;
    let report = p.shutdown(Duration::from_secs(5)).await;
    assert!(report.drained);
    assert_eq!(got[0]["message"], "ERROR mail to [REDACTED:email] failed");
    assert_eq!(got[0]["level"], "error");
    assert_eq!(got[0]["kubernetes"]["namespace"], "shop");
    assert_eq!(got[0]["kubernetes"]["pod"], "cart-1");
    assert_eq!(got[0]["kubernetes"]["uid"], "u-42");
    assert_eq!(got[0]["kubernetes"]["container"], "api");
    assert_eq!(got[0]["timestamp"], t);
    assert_eq!(got[1]["message"]["password"], "[REDACTED:password]");
    assert_eq!(got[2]["message"], "split message");
    assert_eq!(got.len(), 3, "{got:?}");
    let dropped = |r: &str| metrics.lines_dropped.with_label_values(&[r]).get();
    assert_eq!((dropped("redaction"), dropped("parse")), (1, 1));
    assert_eq!(
        metrics
            .redaction_drops
            .with_label_values(&["too_large"])
            .get(),
        1
    );
    assert_eq!(metrics.redactions.with_label_values(&["email"]).get(), 1);
    assert_eq!(
        metrics.messages.with_label_values(&["error", "api"]).get(),
        1
    );
    assert_eq!(
        metrics.messages.with_label_values(&["info", "cart"]).get(),
        1
    );
    // The file sink got the same lines, fsync'd before the ack.
    let text = std::fs::read_to_string(&out).unwrap();
    let file_lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(file_lines, got);
    assert!(!text.contains("bob@example.com") && !text.contains("hunter2"));
    let _ = PathBuf::new();
}
