//! Side-by-side harness: the router's Alertmanager v2 API against the real
//! Alertmanager 0.25 (Debian) on the same machine, same config.
//!
//! Phases, each run against both sides in turn:
//! 1. **Throughput**: 100,000 distinct alerts posted to `POST /api/v2/alerts`
//!    in batches of 64 from 4 client threads; alerts/s per side. The route
//!    they hit has a receiver with no integrations, so neither side sends.
//! 2. **Memory**: peak RSS (`VmHWM`) with those 100,000 alerts active.
//! 3. **Latency**: 300 alerts, one at a time, on a route with
//!    `group_wait: 0s` and `group_by: ['...']` (a new group per alert) whose
//!    receiver is a webhook to this harness; the time from starting the POST
//!    to the webhook arriving, p50/p99 per side.
//!
//! Run: `cargo bench --bench am_compare` (needs Debian's
//! `prometheus-alertmanager`). Prints a table and the ratios.

#[path = "common/proc.rs"]
mod proc_util;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proc_util::{free_port, Proc};

const ALERTS: usize = 100_000;
const BATCH: usize = 64;
const THREADS: usize = 4;
const LATENCY_ALERTS: usize = 300;

fn am_yml(hook_port: u16) -> String {
    format!(
        "route:
  receiver: blackhole
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  routes:
    - matchers: ['bench=\"latency\"']
      receiver: hook
      group_by: ['...']
      group_wait: 0s
      group_interval: 1m
receivers:
  - name: blackhole
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{hook_port}/hook
        send_resolved: false
"
    )
}

/// `VmHWM` of a process in kB.
fn hwm_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn wait_ready(client: &reqwest::blocking::Client, url: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if client
            .get(url)
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} not ready after 60 s");
}

/// A tiny webhook collector: records the arrival time of each alert's
/// `seq` label. Plain std TCP so it adds no runtime to either side.
fn start_collector() -> (u16, Arc<Mutex<HashMap<String, Instant>>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind collector");
    let port = l.local_addr().expect("addr").port();
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let seen = s2.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let t = line.trim_end();
                        if t.is_empty() {
                            break;
                        }
                        if let Some(v) = t.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let now = Instant::now();
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                        let mut m = seen.lock().expect("lock");
                        for a in v["alerts"].as_array().into_iter().flatten() {
                            if let Some(seq) = a["labels"]["seq"].as_str() {
                                m.entry(seq.to_string()).or_insert(now);
                            }
                        }
                    }
                    let _ = r
                        .get_mut()
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                }
            });
        }
    });
    (port, seen)
}

struct Side {
    name: &'static str,
    base: String,
    pid: u32,
    token: Option<String>,
    _proc: Proc,
}

fn start_alertmanager(dir: &Path, cfg: &Path) -> Side {
    let port = free_port();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting prometheus-alertmanager (install Debian's prometheus-alertmanager)");
    let pid = child.id();
    Side {
        name: "alertmanager 0.25",
        base: format!("http://127.0.0.1:{port}"),
        pid,
        token: None,
        _proc: Proc(child),
    }
}

fn start_watchfire(dir: &Path, cfg: &Path) -> Side {
    let port = free_port();
    let token = "bench-token";
    std::fs::write(dir.join("token"), token).expect("token file");
    let rcfg = dir.join("router.yml");
    std::fs::write(
        &rcfg,
        format!(
            "server: {{ listen_address: \"127.0.0.1:{port}\" }}\nrules: {{ files: [] }}\n\
             state: {{ path: {:?} }}\nalerting: {{ console: false }}\n\
             dispatch:\n  alertmanager_config: {:?}\n  api_token_file: {:?}\n",
            dir.join("wf-data/router.redb").display().to_string(),
            cfg.display().to_string(),
            dir.join("token").display().to_string(),
        ),
    )
    .expect("router.yml");
    let bin = env!("CARGO_BIN_EXE_watchfire");
    let child = Command::new(bin)
        .args(["router", "--config"])
        .arg(&rcfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting watchfire router");
    let pid = child.id();
    Side {
        name: "watchfire router",
        base: format!("http://127.0.0.1:{port}"),
        pid,
        token: Some(token.to_string()),
        _proc: Proc(child),
    }
}

fn post(client: &reqwest::blocking::Client, base: &str, token: Option<&str>, body: String) {
    let mut req = client
        .post(format!("{base}/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().expect("POST /api/v2/alerts");
    assert!(resp.status().is_success(), "{base}: {}", resp.status());
}

fn batch_json(start: usize, n: usize) -> String {
    let mut s = String::from("[");
    for i in start..start + n {
        if i > start {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"labels\":{{\"alertname\":\"Load{}\",\"instance\":\"host-{i}\",\"job\":\"bench\",\"severity\":\"low\"}},\
             \"annotations\":{{\"summary\":\"load test alert {i}\"}},\"generatorURL\":\"http://bench/{i}\"}}",
            i % 50
        ));
    }
    s.push(']');
    s
}

/// Phase 1: returns alerts/s.
fn throughput(side: &Side) -> f64 {
    let batches = ALERTS.div_ceil(BATCH);
    let bodies: Vec<String> = (0..batches)
        .map(|b| batch_json(b * BATCH, BATCH.min(ALERTS - b * BATCH)))
        .collect();
    let bodies = Arc::new(bodies);
    let start = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let bodies = bodies.clone();
            let base = side.base.clone();
            let token = side.token.clone();
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                for b in (t..bodies.len()).step_by(THREADS) {
                    post(&client, &base, token.as_deref(), bodies[b].clone());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
    ALERTS as f64 / start.elapsed().as_secs_f64()
}

/// Phase 3: p50 and p99 in ms.
fn latency(side: &Side, seen: &Arc<Mutex<HashMap<String, Instant>>>) -> (f64, f64) {
    let client = reqwest::blocking::Client::new();
    let mut sent = Vec::new();
    for i in 0..LATENCY_ALERTS {
        let seq = format!("{}-{i}", side.pid);
        let body = format!(
            "[{{\"labels\":{{\"alertname\":\"Latency\",\"bench\":\"latency\",\"seq\":\"{seq}\"}}}}]"
        );
        let t = Instant::now();
        post(&client, &side.base, side.token.as_deref(), body);
        sent.push((seq, t));
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(2));
    let m = seen.lock().expect("lock");
    let mut lat: Vec<f64> = sent
        .iter()
        .map(|(seq, t)| {
            m.get(seq)
                .map(|a| a.duration_since(*t).as_secs_f64() * 1000.0)
                .unwrap_or(f64::INFINITY)
        })
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
    (q(0.5), q(0.99))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (hook_port, seen) = start_collector();
    let cfg = dir.path().join("alertmanager.yml");
    std::fs::write(&cfg, am_yml(hook_port)).expect("alertmanager.yml");
    let client = reqwest::blocking::Client::new();

    let mut rows = Vec::new();
    for which in ["alertmanager", "watchfire"] {
        let side = if which == "alertmanager" {
            start_alertmanager(dir.path(), &cfg)
        } else {
            start_watchfire(dir.path(), &cfg)
        };
        wait_ready(&client, &format!("{}/-/ready", side.base));
        let idle_kb = hwm_kb(side.pid);
        let tput = throughput(&side);
        // Let background work (grouping, GC) settle, then read the peak.
        std::thread::sleep(Duration::from_secs(3));
        let hwm = hwm_kb(side.pid);
        let (p50, p99) = latency(&side, &seen);
        eprintln!(
            "{}: {tput:.0} alerts/s, VmHWM {:.1} MiB (idle {:.1} MiB), latency p50 {p50:.1} ms p99 {p99:.1} ms",
            side.name,
            hwm as f64 / 1024.0,
            idle_kb as f64 / 1024.0
        );
        rows.push((side.name, tput, hwm, p50, p99));
    }
    println!("| | alerts/s (POST, batches of {BATCH}, {THREADS} clients) | peak RSS, {ALERTS} active alerts | latency p50 | latency p99 |");
    println!("|---|---:|---:|---:|---:|");
    for (name, t, h, p50, p99) in &rows {
        println!(
            "| {name} | {t:.0} | {:.1} MiB | {p50:.1} ms | {p99:.1} ms |",
            *h as f64 / 1024.0
        );
    }
    let (am, wf) = (&rows[0], &rows[1]);
    println!(
        "| **ratio watchfire / alertmanager** | **{:.1}×** | **{:.2}×** | | |",
        wf.1 / am.1,
        wf.2 as f64 / am.2 as f64
    );
}
