//! Side-by-side harness: the Watchfire agent against Prometheus in agent
//! mode (`prometheus --enable-feature=agent`), both scraping the same 200
//! local targets every second and both remote-writing to the same receiver.
//!
//! In-process, it starts:
//! - 200 HTTP targets on 200 loopback ports, each serving a node_exporter
//!   exposition (the first ~500 series of upstream's
//!   `node_exporter_e2e_output.txt`), every finite value moved up by the
//!   number of seconds since start so values differ between scrapes;
//! - one remote_write receiver that decodes snappy + protobuf and counts
//!   samples per sender: `/a/write` is ours, `/b/write` is Prometheus's.
//!
//! It runs both at once (same machine, same conditions), waits a warm-up,
//! then measures a 60 s window: CPU-seconds (utime + stime from
//! `/proc/<pid>/stat`, in `CLK_TCK` ticks), peak RSS (`VmHWM` from
//! `/proc/<pid>/status`) and the samples each delivered in the window
//! (those of `job="bench"`, so our agent's built-in self-scrape job is not
//! counted as work). It prints a table and the ratios ours / Prometheus;
//! the target is ≤ 0.5 on CPU and on RSS.
//!
//! Run: `cargo bench --bench agent_compare` (needs Debian's `prometheus`).
//! Exits non-zero if either side delivered less than half the samples it
//! should have (i.e. the comparison is void).

#![forbid(unsafe_code)]

#[path = "common/proc.rs"]
mod proc_util;

use proc_util::{check_agent_config, clk_tck, cpu_ticks, free_port, status_kb, Proc};

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use prost::Message;
use watchfire_router::ingest::proto::WriteRequest;

const TARGETS: usize = 200;
const SERIES_PER_TARGET: usize = 500;
const WARMUP: Duration = Duration::from_secs(10);
const WINDOW: Duration = Duration::from_secs(60);
const JOB: &str = "bench";

const EXPOSITION: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/conformance/exposition/node_exporter_e2e_output.txt"
);

/// One exposition line: either kept verbatim (comments, non-finite values)
/// or a series prefix and a base value that moves with time.
enum Line {
    Fixed(String),
    Moving(String, f64),
}

/// The first families of the file up to at least `n` samples, cut at a
/// family boundary; HELP/TYPE lines of families without samples dropped.
fn load_exposition(n: usize) -> (Vec<Line>, usize) {
    let text = std::fs::read_to_string(EXPOSITION).expect("read node_exporter exposition");
    let mut out = Vec::new();
    let mut pending = Vec::new();
    let mut samples = 0;
    for line in text.lines() {
        if line.starts_with('#') {
            if samples >= n {
                break;
            }
            pending.push(Line::Fixed(line.to_string()));
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        out.append(&mut pending);
        samples += 1;
        match line.rsplit_once(' ') {
            Some((prefix, v)) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() => out.push(Line::Moving(prefix.to_string(), x)),
                _ => out.push(Line::Fixed(line.to_string())),
            },
            None => out.push(Line::Fixed(line.to_string())),
        }
    }
    (out, samples)
}

fn render(lines: &[Line], tick: u64) -> Bytes {
    use std::fmt::Write;
    let mut s = String::with_capacity(lines.len() * 96);
    for l in lines {
        match l {
            Line::Fixed(t) => {
                s.push_str(t);
                s.push('\n');
            }
            Line::Moving(p, v) => {
                let _ = writeln!(s, "{p} {}", v + tick as f64);
            }
        }
    }
    Bytes::from(s)
}

/// The body every target serves, re-rendered once a second.
type Body = Arc<std::sync::RwLock<Bytes>>;

async fn metrics(State(body): State<Body>) -> ([(&'static str, &'static str); 1], Bytes) {
    let b = body.read().map(|b| b.clone()).unwrap_or_default();
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        b,
    )
}

#[derive(Default)]
struct Counts {
    /// Samples of `job="bench"` delivered by sender a (ours) and b (Prometheus).
    a: AtomicU64,
    b: AtomicU64,
    /// All samples (self-scrape included).
    a_all: AtomicU64,
    b_all: AtomicU64,
    requests_a: AtomicU64,
    requests_b: AtomicU64,
    /// `up` samples of `job="bench"` equal to 0 (failed scrapes), per sender.
    down_a: AtomicU64,
    down_b: AtomicU64,
}

/// What one remote_write request carried.
#[derive(Default)]
struct Delivered {
    bench: u64,
    all: u64,
    down: u64,
}

fn decode(body: &[u8]) -> Option<Delivered> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).ok()?;
    let req = WriteRequest::decode(raw.as_slice()).ok()?;
    let mut d = Delivered::default();
    for ts in &req.timeseries {
        let n = ts.samples.len() as u64;
        d.all += n;
        if ts.labels.iter().any(|l| l.name == "job" && l.value == JOB) {
            d.bench += n;
            if ts
                .labels
                .iter()
                .any(|l| l.name == "__name__" && l.value == "up")
            {
                d.down += ts.samples.iter().filter(|s| s.value == 0.0).count() as u64;
            }
        }
    }
    Some(d)
}

async fn write_a(State(c): State<Arc<Counts>>, body: Bytes) -> StatusCode {
    match decode(&body) {
        Some(d) => {
            c.a.fetch_add(d.bench, Ordering::Relaxed);
            c.a_all.fetch_add(d.all, Ordering::Relaxed);
            c.down_a.fetch_add(d.down, Ordering::Relaxed);
            c.requests_a.fetch_add(1, Ordering::Relaxed);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn write_b(State(c): State<Arc<Counts>>, body: Bytes) -> StatusCode {
    match decode(&body) {
        Some(d) => {
            c.b.fetch_add(d.bench, Ordering::Relaxed);
            c.b_all.fetch_add(d.all, Ordering::Relaxed);
            c.down_b.fetch_add(d.down, Ordering::Relaxed);
            c.requests_b.fetch_add(1, Ordering::Relaxed);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn self_cpu_ticks() -> u64 {
    cpu_ticks(std::process::id())
}

async fn wait_http(client: &reqwest::Client, url: &str, what: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} did not become ready at {url}");
}

/// The sum of every series of metric `name` on a `/metrics` page (0 if
/// absent or unreachable).
async fn metric_sum(client: &reqwest::Client, url: &str, name: &str) -> f64 {
    let Ok(r) = client.get(url).send().await else {
        return 0.0;
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
        })
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// Samples each side handed to its remote-write path so far (ours, Prometheus).
async fn ingested(client: &reqwest::Client, ours_port: u16, prom_port: u16) -> (f64, f64) {
    (
        metric_sum(
            client,
            &format!("http://127.0.0.1:{ours_port}/metrics"),
            "watchfire_agent_remote_write_samples_appended_total",
        )
        .await,
        metric_sum(
            client,
            &format!("http://127.0.0.1:{prom_port}/metrics"),
            "prometheus_remote_storage_samples_in_total",
        )
        .await,
    )
}

fn write_file(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write config");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let prometheus = "/usr/bin/prometheus";
    if !Path::new(prometheus).exists() {
        eprintln!("agent_compare: {prometheus} not found (apt-get install prometheus)");
        std::process::exit(2);
    }
    let tck = clk_tck();
    let (lines, series) = load_exposition(SERIES_PER_TARGET);
    let body: Body = Arc::new(std::sync::RwLock::new(render(&lines, 0)));

    // Targets.
    let started = Instant::now();
    let mut target_addrs = Vec::with_capacity(TARGETS);
    for _ in 0..TARGETS {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind target");
        target_addrs.push(l.local_addr().expect("addr").to_string());
        let app = Router::new()
            .route("/metrics", get(metrics))
            .with_state(body.clone());
        tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
    }
    {
        let body = body.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let b = render(&lines, started.elapsed().as_secs());
                if let Ok(mut w) = body.write() {
                    *w = b;
                }
            }
        });
    }

    // Receiver.
    let counts = Arc::new(Counts::default());
    let recv = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let recv_addr = recv.local_addr().expect("addr");
    let app = Router::new()
        .route("/a/write", post(write_a))
        .route("/b/write", post(write_b))
        .layer(DefaultBodyLimit::disable())
        .with_state(counts.clone());
    tokio::spawn(async move {
        let _ = axum::serve(recv, app).await;
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let targets_yaml = target_addrs
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");

    // Our agent.
    let ours_port = free_port();
    let ours_cfg = dir.path().join("agent.yaml");
    write_file(
        &ours_cfg,
        &format!(
            "server: {{ listen_address: \"127.0.0.1:{ours_port}\" }}\n\
             host: {{ enabled: false }}\n\
             global: {{ scrape_interval: 1s, scrape_timeout: 1s }}\n\
             scrape_configs:\n  - job_name: {JOB}\n    static_configs: [ {{ targets: [{targets_yaml}] }} ]\n\
             remote_write:\n  url: http://{recv_addr}/a/write\n  buffer: {{ path: {:?} }}\n",
            dir.path().join("buf.redb").display().to_string()
        ),
    );
    check_agent_config(&ours_cfg);

    // Prometheus in agent mode.
    let prom_port = free_port();
    let prom_cfg = dir.path().join("prometheus.yml");
    write_file(
        &prom_cfg,
        &format!(
            "global: {{ scrape_interval: 1s, scrape_timeout: 1s }}\n\
             scrape_configs:\n  - job_name: {JOB}\n    static_configs: [ {{ targets: [{targets_yaml}] }} ]\n\
             remote_write:\n  - url: http://{recv_addr}/b/write\n"
        ),
    );

    let ours = Proc(
        Command::new(env!("CARGO_BIN_EXE_watchfire"))
            .arg("agent")
            .arg("--config")
            .arg(&ours_cfg)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn watchfire agent"),
    );
    let prom = Proc(
        Command::new(prometheus)
            .arg("--enable-feature=agent")
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!(
                "--storage.agent.path={}",
                dir.path().join("prom-agent").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn prometheus"),
    );
    let client = reqwest::Client::new();
    wait_http(
        &client,
        &format!("http://127.0.0.1:{ours_port}/health/ready"),
        "watchfire agent",
    )
    .await;
    wait_http(
        &client,
        &format!("http://127.0.0.1:{prom_port}/-/ready"),
        "prometheus",
    )
    .await;
    println!(
        "{TARGETS} targets x {series} series, scrape every 1s; warm-up {}s, window {}s",
        WARMUP.as_secs(),
        WINDOW.as_secs()
    );
    tokio::time::sleep(WARMUP).await;

    let (o_pid, p_pid) = (ours.0.id(), prom.0.id());
    let snap = || {
        (
            cpu_ticks(o_pid),
            cpu_ticks(p_pid),
            self_cpu_ticks(),
            counts.a.load(Ordering::Relaxed),
            counts.b.load(Ordering::Relaxed),
            counts.a_all.load(Ordering::Relaxed),
            counts.b_all.load(Ordering::Relaxed),
        )
    };
    let i0 = ingested(&client, ours_port, prom_port).await;
    let s0 = snap();
    let t0 = Instant::now();
    tokio::time::sleep(WINDOW).await;
    let s1 = snap();
    let secs = t0.elapsed().as_secs_f64();
    let i1 = ingested(&client, ours_port, prom_port).await;
    let (o_hwm, p_hwm) = (status_kb(o_pid, "VmHWM"), status_kb(p_pid, "VmHWM"));
    let diag = match client
        .get(format!("http://127.0.0.1:{ours_port}/metrics"))
        .send()
        .await
    {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => format!("(cannot read our agent's /metrics: {e})"),
    };
    let o_total = cpu_ticks(o_pid) as f64 / tck;
    let p_total = cpu_ticks(p_pid) as f64 / tck;
    drop(ours);
    drop(prom);

    let o_cpu = (s1.0 - s0.0) as f64 / tck;
    let p_cpu = (s1.1 - s0.1) as f64 / tck;
    let h_cpu = (s1.2 - s0.2) as f64 / tck;
    let (o_n, p_n) = (s1.3 - s0.3, s1.4 - s0.4);
    let (o_all, p_all) = (s1.5 - s0.5, s1.6 - s0.6);
    let expected = (TARGETS * series) as f64 * secs;
    let mib = |kb: u64| kb as f64 / 1024.0;

    println!("window {secs:.1}s, CLK_TCK {tck}");
    println!(
        "| | CPU-s (window) | CPU-s (since start) | peak RSS (VmHWM) | samples job=bench | all samples |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| watchfire agent | {o_cpu:.2} | {o_total:.2} | {:.1} MiB | {o_n} | {o_all} |",
        mib(o_hwm)
    );
    println!(
        "| prometheus --enable-feature=agent | {p_cpu:.2} | {p_total:.2} | {:.1} MiB | {p_n} | {p_all} |",
        mib(p_hwm)
    );
    let (o_in, p_in) = (i1.0 - i0.0, i1.1 - i0.1);
    let per = |cpu: f64, n: f64| if n > 0.0 { cpu * 1e6 / n } else { f64::NAN };
    println!(
        "samples ingested (handed to remote write) in window: ours {o_in:.0}, prometheus {p_in:.0}"
    );
    println!(
        "CPU-µs per ingested sample: ours {:.2}, prometheus {:.2} (ratio {:.3})",
        per(o_cpu, o_in),
        per(p_cpu, p_in),
        per(o_cpu, o_in) / per(p_cpu, p_in)
    );
    println!("harness (targets + receiver) CPU-s in window: {h_cpu:.2}");
    println!(
        "expected job=bench samples per side ≈ {TARGETS} x (series + 5 synthetic) x {secs:.0}s ≥ {expected:.0}"
    );
    println!(
        "remote_write requests (whole run): ours {}, prometheus {}; failed scrapes (up == 0): ours {}, prometheus {}",
        counts.requests_a.load(Ordering::Relaxed),
        counts.requests_b.load(Ordering::Relaxed),
        counts.down_a.load(Ordering::Relaxed),
        counts.down_b.load(Ordering::Relaxed)
    );
    let cpu_ratio = o_cpu / p_cpu.max(1e-9);
    let rss_ratio = o_hwm as f64 / (p_hwm as f64).max(1.0);
    let verdict = |r: f64| {
        if r <= 0.5 {
            "meets ≤ 0.5"
        } else {
            "MISSES ≤ 0.5"
        }
    };
    println!(
        "ratio ours/prometheus CPU-s: {cpu_ratio:.3} ({})",
        verdict(cpu_ratio)
    );
    println!(
        "ratio ours/prometheus peak RSS: {rss_ratio:.3} ({})",
        verdict(rss_ratio)
    );

    eprintln!("-- diagnostics: our agent's own counters at the end of the window --");
    for l in diag.lines().filter(|l| {
        l.starts_with("watchfire_agent_") && !l.contains("_bucket") && !l.starts_with('#')
    }) {
        eprintln!("{l}");
    }

    if (o_n as f64) < expected * 0.5 || (p_n as f64) < expected * 0.5 {
        eprintln!("agent_compare: a side delivered too few samples; comparison void");
        std::process::exit(1);
    }
}
