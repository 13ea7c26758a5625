//! The console sink's lines and the bounded queue's drop/batch rules.

use std::io::Write;
use std::sync::{Arc, Mutex};

use watchfire_router::notify::console::ConsoleSink;
use watchfire_router::notify::queue::{QueueConfig, QueuedSink};
use watchfire_router::notify::{Alert, AlertSink, NotifyMetrics, SinkFuture};

use super::common::alert;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const NOW: i64 = 1_714_564_800_000; // 2024-05-01T12:00:00Z

async fn check_console(a: Alert, want: &str) {
    let buf = Buf::default();
    let sink = ConsoleSink::new(Box::new(buf.clone()), Arc::new(|| NOW));
    sink.send(std::slice::from_ref(&a)).await.unwrap();
    let got = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert_eq!(got, format!("{want}\n"));
}

#[tokio::test]
async fn console_lines() {
    let labels = [
        ("alertname", "HighLatency"),
        ("job", "api"),
        ("severity", "page"),
    ];
    let cases = [
        (
            alert(
                &labels,
                &[("summary", "p99 is 2s"), ("runbook_url", "http://rb")],
                NOW - 60_000,
                Some(NOW + 3_600_000),
            ),
            r#"[FIRING] HighLatency {job="api", severity="page"} summary="p99 is 2s" startsAt=2024-05-01T11:59:00.000Z"#,
        ),
        (
            alert(
                &labels,
                &[("summary", "p99 is 2s")],
                NOW - 60_000,
                Some(NOW - 1_500),
            ),
            r#"[RESOLVED] HighLatency {job="api", severity="page"} summary="p99 is 2s" startsAt=2024-05-01T11:59:00.000Z endsAt=2024-05-01T11:59:58.500Z"#,
        ),
        (
            alert(&[("alertname", "NoSummary")], &[], NOW, None),
            r#"[FIRING] NoSummary {} startsAt=2024-05-01T12:00:00.000Z"#,
        ),
    ];
    for (a, want) in cases {
        check_console(a, want).await;
    }
}

/// A sink that records every batch.
#[derive(Default)]
struct Recorder(Mutex<Vec<Vec<String>>>);

impl AlertSink for Recorder {
    fn send<'a>(&'a self, alerts: &'a [Alert]) -> SinkFuture<'a> {
        let names = alerts.iter().map(|a| a.name().to_string()).collect();
        self.0.lock().unwrap().push(names);
        Box::pin(async { Ok(()) })
    }
}

fn named(n: usize) -> Vec<Alert> {
    (0..n)
        .map(|i| alert(&[("alertname", &format!("A{i}"))], &[], NOW, None))
        .collect()
}

#[tokio::test]
async fn queue_drops_oldest_and_batches() {
    let reg = prometheus::Registry::new();
    let metrics = NotifyMetrics::new(&reg).unwrap();
    let q = QueuedSink::new(
        QueueConfig {
            capacity: 5,
            max_batch: 2,
        },
        metrics.clone(),
    );
    let all = named(8);
    assert_eq!(q.enqueue(&all[..4]), 0);
    assert_eq!(q.enqueue(&all[4..7]), 2); // 7 > 5: A0, A1 dropped
    assert_eq!(q.enqueue(&all[7..]), 1); // A2 dropped
    assert_eq!(metrics.dropped.get(), 3);
    assert_eq!(metrics.queue_length.get(), 5);
    assert_eq!(metrics.queue_capacity.get(), 5);

    let rec = Arc::new(Recorder::default());
    q.close();
    q.spawn_worker(rec.clone()).await.unwrap();
    let got = rec.0.lock().unwrap().clone();
    assert_eq!(got, vec![vec!["A3", "A4"], vec!["A5", "A6"], vec!["A7"]]);
    assert!(q.is_empty());
    assert_eq!(metrics.queue_length.get(), 0);

    // An oversized single batch keeps only the newest `capacity` alerts.
    let q2 = QueuedSink::new(
        QueueConfig {
            capacity: 2,
            max_batch: 10,
        },
        NotifyMetrics::unregistered().unwrap(),
    );
    assert_eq!(q2.enqueue(&named(5)), 3);
    let names: Vec<String> = q2
        .next_batch()
        .iter()
        .map(|a| a.name().to_string())
        .collect();
    assert_eq!(names, ["A3", "A4"]);

    // The dropped counter is exposed under its documented name.
    let text = reg
        .gather()
        .iter()
        .map(|f| f.name().to_string())
        .collect::<Vec<_>>();
    for want in [
        "watchfire_notifications_dropped_total",
        "watchfire_notifications_queue_length",
    ] {
        assert!(text.iter().any(|n| n == want), "{want} not in {text:?}");
    }
}

#[tokio::test]
async fn queue_worker_delivers_while_running() {
    let q = QueuedSink::new(
        QueueConfig::default(),
        NotifyMetrics::unregistered().unwrap(),
    );
    assert_eq!(
        QueueConfig::default(),
        QueueConfig {
            capacity: 10_000,
            max_batch: 256
        }
    );
    let rec = Arc::new(Recorder::default());
    let worker = q.spawn_worker(rec.clone());
    // Used as an AlertSink, the queue only enqueues.
    q.send(&named(300)).await.unwrap();
    q.close();
    worker.await.unwrap();
    let sizes: Vec<usize> = rec.0.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, [256, 44]);
}
