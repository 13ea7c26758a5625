//! Side-by-side harness: the router's Alertmanager v2 API against the real
//! Alertmanager 0.25 (Debian) on the same machine, same config.
//!
//! Phases, each run against both sides in turn:
//! 1. **Throughput**: 100,000 distinct alerts posted to `POST /api/v2/alerts`
//!    in batches of 64 over N keep-alive connections (`AM_COMPARE_CLIENTS`,
//!    default 4, 64 and 256; each side fresh per count), driven from one
//!    epoll thread; alerts/s, and the
//!    server's and the harness's (the load generator's) CPU-seconds per
//!    side. The route
//!    they hit has a receiver with no integrations, so neither side sends.
//! 2. **Memory**: peak RSS (`VmHWM`) with those 100,000 alerts active.
//! 3. **Latency**: 300 alerts, one at a time, on a route with
//!    `group_wait: 0s` and `group_by: ['...']` (a new group per alert) whose
//!    receiver is a webhook to this harness; the time from starting the POST
//!    to the webhook arriving, p50/p99 per side.
//!
//! Each row is the median of `AM_COMPARE_ROUNDS` (default 3) fresh-process
//! rounds, the sides alternating within a round.
//!
//! Run: `cargo bench --bench am_compare` (needs Debian's
//! `prometheus-alertmanager`). Prints a table and the ratios.
//! `AM_COMPARE_SIDES=watchfire` runs one side only, and
//! `AM_COMPARE_WATCHFIRE=path` another `watchfire` build, for A/B runs.

#[path = "common/am.rs"]
mod am;
#[path = "common/proc.rs"]
mod proc_util;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use am::am_yml;
use proc_util::{free_port, Proc};
use watchfire_router::amapi::samples::bench_json as batch_json;

/// Distinct alerts in phase 1 (`AM_COMPARE_ALERTS` overrides, e.g. for a
/// longer profile).
fn alerts() -> usize {
    std::env::var("AM_COMPARE_ALERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}
const BATCH: usize = 64;
const LATENCY_ALERTS: usize = 300;

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
    // `AM_COMPARE_WATCHFIRE` runs another build (A/B runs of a change).
    let bin = std::env::var("AM_COMPARE_WATCHFIRE")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_watchfire").into());
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

/// The status of the HTTP/1.1 response at the start of `buf`, once all of
/// it (head and body, `content-length` or chunked) has arrived.
fn complete_response(buf: &[u8]) -> Option<u16> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = &buf[head_end..];
    let done = if head.contains("transfer-encoding: chunked") {
        body.ends_with(b"0\r\n\r\n")
    } else {
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        body.len() >= len
    };
    done.then_some(status)
}

fn request_bytes(side: &Side, body: &str) -> Vec<u8> {
    let mut r = format!(
        "POST /api/v2/alerts HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(t) = &side.token {
        r.push_str(&format!("authorization: Bearer {t}\r\n"));
    }
    r.push_str("\r\n");
    let mut v = r.into_bytes();
    v.extend_from_slice(body.as_bytes());
    v
}

/// One keep-alive HTTP/1.1 connection, already connected: POSTs
/// `requests[first], requests[first + step], ...` in turn, each after the
/// answer to the one before.
async fn drive_async(
    mut stream: tokio::net::TcpStream,
    requests: Arc<Vec<Vec<u8>>>,
    first: usize,
    step: usize,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    for b in (first..requests.len()).step_by(step) {
        stream.write_all(&requests[b]).await.expect("write request");
        buf.clear();
        let status = loop {
            if let Some(s) = complete_response(&buf) {
                break s;
            }
            let n = stream.read(&mut chunk).await.expect("read response");
            assert!(n > 0, "connection closed");
            buf.extend_from_slice(&chunk[..n]);
        };
        assert_eq!(status, 200, "batch {b} answered {status}");
    }
}

/// The load generator of phase 1, lean so the harness takes as little of
/// the 2 cores from the server under test as it can (both sides get the
/// same): prepared requests, and every connection on this one thread,
/// multiplexed by epoll (a current-thread tokio runtime), woken once per
/// batch of ready answers. Connects every client first (the clock starts
/// on warm keep-alive connections, as Prometheus keeps them), then
/// returns the seconds the requests took.
fn run_clients(base: &str, requests: &Arc<Vec<Vec<u8>>>, clients: usize) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    let addr = base.trim_start_matches("http://").to_string();
    rt.block_on(async {
        let mut streams = Vec::with_capacity(clients);
        for _ in 0..clients {
            let s = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect");
            s.set_nodelay(true).expect("nodelay");
            streams.push(s);
        }
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for (t, s) in streams.into_iter().enumerate() {
            set.spawn(drive_async(s, requests.clone(), t, clients));
        }
        while let Some(r) = set.join_next().await {
            r.expect("client task");
        }
        start.elapsed().as_secs_f64()
    })
}

/// Phase 1: alerts/s, the server's CPU-seconds over the phase, and the
/// harness's own (the load generator's).
fn throughput(side: &Side, clients: usize) -> (f64, f64, f64) {
    let total = alerts();
    let batches = total.div_ceil(BATCH);
    let requests: Vec<Vec<u8>> = (0..batches)
        .map(|b| request_bytes(side, &batch_json(b * BATCH, BATCH.min(total - b * BATCH))))
        .collect();
    let requests = Arc::new(requests);
    let tck = proc_util::clk_tck();
    let cpu0 = proc_util::cpu_ticks(side.pid);
    let own0 = proc_util::cpu_ticks(std::process::id());
    let secs = run_clients(&side.base, &requests, clients);
    let cpu = (proc_util::cpu_ticks(side.pid) - cpu0) as f64 / tck;
    let own = (proc_util::cpu_ticks(std::process::id()) - own0) as f64 / tck;
    (total as f64 / secs, cpu, own)
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

/// Client counts for phase 1 (`AM_COMPARE_CLIENTS`, comma-separated;
/// default 4, 64 and 256: a few Prometheus servers, many, and enough
/// that neither side waits on its clients). Each connection has one
/// request in flight, and Watchfire answers a POST only once its alerts
/// are fsynced, so at 64 connections its rate is partly bound by the
/// commit cycle (the CPU idles during the fsync); Alertmanager, which
/// answers from memory, is CPU-bound from 4 on.
fn client_counts() -> Vec<usize> {
    std::env::var("AM_COMPARE_CLIENTS")
        .ok()
        .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![4, 64, 256])
}

/// Fresh-process rounds per side and client count (`AM_COMPARE_ROUNDS`,
/// default 3). A run of 100,000 alerts lasts a quarter of a second on the
/// faster side, where a stall of a few milliseconds (a journal commit, a
/// scheduler hiccup) moves the figure by a tenth; the table reports the
/// median round, and the spread.
fn rounds() -> usize {
    std::env::var("AM_COMPARE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(3)
}

struct Row {
    name: &'static str,
    clients: usize,
    /// Per round: alerts/s, server CPU-s, peak RSS in kB, the harness's
    /// CPU-s.
    runs: Vec<(f64, f64, u64, f64)>,
    latency: Option<(f64, f64)>,
}

impl Row {
    /// The round with the median throughput.
    fn median(&self) -> (f64, f64, u64, f64) {
        let mut v = self.runs.clone();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v[v.len() / 2]
    }

    fn spread(&self) -> (f64, f64) {
        let t = self.runs.iter().map(|r| r.0);
        (
            t.clone().fold(f64::INFINITY, f64::min),
            t.fold(0.0, f64::max),
        )
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (hook_port, seen) = start_collector();
    let client = reqwest::blocking::Client::new();
    let counts = client_counts();
    let sides =
        std::env::var("AM_COMPARE_SIDES").unwrap_or_else(|_| "alertmanager,watchfire".to_string());
    let which: Vec<&str> = ["alertmanager", "watchfire"]
        .into_iter()
        .filter(|w| sides.contains(w))
        .collect();

    let mut rows: Vec<Row> = Vec::new();
    for (round0, &clients) in counts.iter().enumerate() {
        let first = rows.len();
        for _ in 0..rounds() {
            // Sides alternate within a round, so both see the same
            // machine state.
            for (i, &side_name) in which.iter().enumerate() {
                let dir = tempfile::tempdir().expect("tempdir");
                let cfg = dir.path().join("alertmanager.yml");
                std::fs::write(&cfg, am_yml(hook_port)).expect("alertmanager.yml");
                let side = if side_name == "alertmanager" {
                    start_alertmanager(dir.path(), &cfg)
                } else {
                    start_watchfire(dir.path(), &cfg)
                };
                wait_ready(&client, &format!("{}/-/ready", side.base));
                let idle_kb = hwm_kb(side.pid);
                let (tput, cpu, own) = throughput(&side, clients);
                // Let background work (grouping, GC) settle, then read the peak.
                std::thread::sleep(Duration::from_secs(3));
                let hwm = hwm_kb(side.pid);
                if rows.len() < first + which.len() {
                    rows.push(Row {
                        name: side.name,
                        clients,
                        runs: Vec::new(),
                        latency: (round0 == 0).then(|| latency(&side, &seen)),
                    });
                }
                let row = &mut rows[first + i];
                row.runs.push((tput, cpu, hwm, own));
                eprintln!(
                    "{} ({clients} clients): {tput:.0} alerts/s, {cpu:.2} CPU-s (harness {own:.2}), VmHWM {:.1} MiB (idle {:.1} MiB), latency {:?}",
                    side.name,
                    hwm as f64 / 1024.0,
                    idle_kb as f64 / 1024.0,
                    row.latency
                );
            }
        }
    }
    println!(
        "Median of {} fresh-process rounds per row (alerts/s min–max in brackets).\n",
        rounds()
    );
    println!("| | clients | alerts/s (POST, batches of {BATCH}) | server CPU-s | alerts per CPU-s | harness CPU-s | peak RSS, {} active alerts | latency p50 | latency p99 |", alerts());
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let (p50, p99) = r
            .latency
            .map(|(a, b)| (format!("{a:.1} ms"), format!("{b:.1} ms")))
            .unwrap_or_default();
        let (tput, cpu, hwm, own) = r.median();
        let (lo, hi) = r.spread();
        println!(
            "| {} | {} | {:.0} ({lo:.0}–{hi:.0}) | {:.2} | {:.0} | {own:.2} | {:.1} MiB | {p50} | {p99} |",
            r.name,
            r.clients,
            tput,
            cpu,
            alerts() as f64 / cpu.max(0.01),
            hwm as f64 / 1024.0
        );
    }
    for pair in rows.chunks(2) {
        if let [am, wf] = pair {
            let (at, ac, ah, _) = am.median();
            let (wt, wc, wh, _) = wf.median();
            println!(
                "| **ratio watchfire / alertmanager** | {} | **{:.1}×** | | **{:.1}×** | | **{:.2}×** | | |",
                am.clients,
                wt / at,
                ac / wc.max(0.01),
                wh as f64 / ah as f64
            );
        }
    }
}
