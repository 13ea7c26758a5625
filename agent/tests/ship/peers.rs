//! The sender against real receivers: the router's remote_write ingest
//! (`watchfire_router::ingest::routes`) and a real Prometheus started
//! with `--web.enable-remote-write-receiver`. Real time, real sockets.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use watchfire_agent::pipeline::Appender;
use watchfire_agent::ship::queue::now_ms;
use watchfire_agent::ship::RemoteWriter;
use watchfire_promql::labels::{MatchOp, Matcher};
use watchfire_promql::storage::Storage;
use watchfire_router::ingest::{routes, IngestConfig, IngestState};
use watchfire_router::store::{Store, StoreConfig};

use super::{config, metric, scrape};

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// Appends `rounds` scrapes of `series` series, 10 s apart, ending now.
fn produce(w: &RemoteWriter, series: usize, rounds: i64) -> (HashMap<(String, i64), f64>, i64) {
    let end = now_ms() / 1000 * 1000;
    let mut want = HashMap::new();
    for r in 0..rounds {
        let pts = scrape(series, end - (rounds - 1 - r) * 10_000);
        for p in &pts {
            want.insert((p.labels().get("series").to_string(), p.t), p.v);
        }
        w.append(pts);
    }
    (want, end)
}

#[tokio::test]
async fn router_ingest_accepts_our_writes() {
    let store = Arc::new(Store::new(StoreConfig::default()));
    let ingest =
        IngestState::new(store.clone(), IngestConfig::default(), &Registry::new()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes(ingest)).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::new();
    let mut cfg = config(format!("http://{addr}/api/v1/write").parse().unwrap(), &dir);
    cfg.queue.batch_send_deadline = Duration::from_millis(50);
    cfg.queue.max_samples_per_send = 500;
    let w = RemoteWriter::start(cfg, &reg).unwrap();
    let (want, _) = produce(&w, 300, 6);
    tokio::time::timeout(Duration::from_secs(60), w.flushed())
        .await
        .expect("not delivered in 60 s");

    let got = store.select(
        &[Matcher::new(MatchOp::Equal, "__name__", "test_metric").unwrap()],
        i64::MIN,
        i64::MAX,
    );
    let mut stored = HashMap::new();
    for s in &got {
        assert_eq!(s.labels.get("job"), "ship");
        for smp in &s.samples {
            stored.insert((s.labels.get("series").to_string(), smp.t), smp.v);
        }
    }
    assert_eq!(got.len(), 300);
    assert_eq!(stored, want);
    assert_eq!(
        metric(
            &reg,
            "watchfire_agent_remote_write_samples_dropped_total",
            Some(("reason", "http_4xx"))
        ),
        0.0
    );
    assert_eq!(
        metric(
            &reg,
            "watchfire_agent_remote_write_samples_sent_total",
            None
        ),
        1_800.0
    );
}

/// Kills the child Prometheus on every exit path.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn real_prometheus_accepts_our_writes() {
    assert!(
        std::path::Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is missing: install it with `apt-get install prometheus` (.ci/run does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg_file = dir.path().join("prometheus.yml");
    std::fs::write(&cfg_file, "global:\n  scrape_interval: 15s\n").unwrap();
    let port = free_port();
    let _prom = Child(
        std::process::Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", cfg_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = tokio::time::interval(Duration::from_millis(200));
    let mut up = false;
    for _ in 0..150 {
        ready.tick().await;
        if let Ok(r) = http.get(format!("{base}/-/ready")).send().await {
            if r.status().is_success() {
                up = true;
                break;
            }
        }
    }
    assert!(up, "prometheus did not become ready in 30 s");

    let reg = Registry::new();
    let mut cfg = config(format!("{base}/api/v1/write").parse().unwrap(), &dir);
    cfg.buffer.path = dir.path().join("rw.redb");
    cfg.queue.batch_send_deadline = Duration::from_millis(50);
    let w = RemoteWriter::start(cfg, &reg).unwrap();
    let (want, end) = produce(&w, 100, 5);
    tokio::time::timeout(Duration::from_secs(60), w.flushed())
        .await
        .expect("not delivered in 60 s");
    assert_eq!(
        metric(
            &reg,
            "watchfire_agent_remote_write_samples_sent_total",
            None
        ),
        500.0
    );

    // Read every sample back: a range query over the window, step 10 s.
    let resp: serde_json::Value = http
        .get(format!("{base}/api/v1/query"))
        .query(&[
            ("query", "test_metric[1m]".to_string()),
            ("time", format!("{}", end as f64 / 1000.0)),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["status"], "success", "{resp}");
    let mut got = HashMap::new();
    for s in resp["data"]["result"].as_array().unwrap() {
        assert_eq!(s["metric"]["job"], "ship");
        let series = s["metric"]["series"].as_str().unwrap().to_string();
        for v in s["values"].as_array().unwrap() {
            let t = (v[0].as_f64().unwrap() * 1000.0).round() as i64;
            let val: f64 = v[1].as_str().unwrap().parse().unwrap();
            got.insert((series.clone(), t), val);
        }
    }
    assert_eq!(got.len(), 500);
    assert_eq!(got, want);
}
