//! Log delivery under chaos (SPEC §3.2 "at least once", §6 "loss"): the
//! real `watchfire agent` tails 10 files while a writer appends 200 000
//! numbered JSON lines, rotates the files 20 times (alternating rename +
//! create and copytruncate), the agent is `kill -9`ed 3 times (restarted
//! each time on the same data folder), and its Loki sink is taken away
//! twice for 20 s: once answering 503, once gone (the server's runtime is
//! dropped: connection refused), with a `kill -9` during that second
//! outage. The sink is a local Loki-compatible push server in this test
//! that records every line number it stores.
//!
//! Checks: every line number arrives at least once; duplicates are counted
//! and bounded by what can be in flight at a kill (only records after the
//! last checkpoint may repeat: `kills × (2 × queue_batches + 3) ×
//! batch_lines`); nothing arrives that was not written; the agent's peak
//! RSS (`VmHWM` from `/proc/<pid>/status`, read before each kill and at
//! the end) stays under 256 MiB. The figures are printed.
//!
//! Copytruncate honesty: copytruncate loses, in any shipper, lines written
//! between the copy and the truncation. The writer here is the only
//! writer and does what logrotate does with nothing written in between:
//! copy the file to `app-N.log.R`, truncate the original, then write on
//! (through an `O_APPEND` handle, as applications must for copytruncate).
//! So any loss seen is the agent's. The rotated names match the include
//! glob (`*.log*`), as rotated files must for a shipper to finish them
//! after a restart.
//!
//! Pacing: the writer appends 250 lines every 100 ms (≈ 80 s of writing),
//! and the outages last 20 s by definition; both wait through the
//! harness's `poll`, the one place the tests pause.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::harness::{
    free_port, get_text, http, metric_value, poll, watchfire, Proc, START_TIMEOUT,
};

const LINES: usize = 200_000;
const FILES: usize = 10;
const ROTATIONS: usize = 20;
const CHUNK: usize = 250;
const CHUNK_EVERY: Duration = Duration::from_millis(100);
const OUTAGE: Duration = Duration::from_secs(20);
const BATCH_LINES: usize = 512;
const QUEUE_BATCHES: usize = 8;
const RSS_LIMIT_KIB: u64 = 256 * 1024;

/// The sink's answer mode.
const UP: u8 = 0;
const ERROR_503: u8 = 1;

/// What the Loki-compatible server stored.
#[derive(Default)]
struct Stored {
    /// Deliveries per line number.
    counts: Vec<u32>,
    /// Lines that were not a record of ours.
    foreign: usize,
    pushes: usize,
}

/// A Loki-compatible push server (`POST /loki/api/v1/push`, JSON) that
/// also accepts remote_write, on a fixed port so that it can go away and
/// come back.
struct LokiServer {
    port: u16,
    mode: Arc<AtomicU8>,
    stored: Arc<Mutex<Stored>>,
    rt: Option<tokio::runtime::Runtime>,
}

async fn push(
    axum::extract::State((mode, stored)): axum::extract::State<(Arc<AtomicU8>, Arc<Mutex<Stored>>)>,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    if mode.load(Ordering::SeqCst) == ERROR_503 {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return axum::http::StatusCode::BAD_REQUEST;
    };
    let mut s = stored.lock().unwrap_or_else(|e| e.into_inner());
    s.pushes += 1;
    for stream in v["streams"].as_array().into_iter().flatten() {
        for value in stream["values"].as_array().into_iter().flatten() {
            let n = value[1]
                .as_str()
                .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .and_then(|r| r["message"]["n"].as_u64())
                .map(|n| n as usize)
                .filter(|&n| n < LINES);
            match n {
                Some(n) => s.counts[n] += 1,
                None => s.foreign += 1,
            }
        }
    }
    axum::http::StatusCode::NO_CONTENT
}

impl LokiServer {
    fn start() -> LokiServer {
        let mut s = LokiServer {
            port: free_port(),
            mode: Arc::new(AtomicU8::new(UP)),
            stored: Arc::new(Mutex::new(Stored {
                counts: vec![0; LINES],
                ..Stored::default()
            })),
            rt: None,
        };
        s.up();
        s
    }

    /// Binds the port and serves.
    fn up(&mut self) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let addr = format!("127.0.0.1:{}", self.port);
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(&addr))
            .unwrap_or_else(|e| panic!("binding {addr}: {e}"));
        let app = axum::Router::new()
            .route("/loki/api/v1/push", axum::routing::post(push))
            .route(
                "/api/v1/write",
                axum::routing::post(|| async { axum::http::StatusCode::NO_CONTENT }),
            )
            .with_state((self.mode.clone(), self.stored.clone()));
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        self.rt = Some(rt);
    }

    /// Drops the runtime: the listener and every connection close.
    fn down(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A `watchfire agent` on its own data folder.
struct Agent {
    dir: PathBuf,
    port: u16,
    proc: Option<Proc>,
    client: reqwest::blocking::Client,
    peak_rss_kib: u64,
}

impl Agent {
    fn new(dir: &Path, logs: &Path, sink_port: u16) -> Agent {
        let port = free_port();
        let config = format!(
            "server: {{ listen_address: \"127.0.0.1:{port}\" }}\n\
             host: {{ enabled: false }}\n\
             remote_write:\n  url: http://127.0.0.1:{sink_port}/api/v1/write\n  buffer: {{ path: data/remote_write.redb }}\n\
             logs:\n  include: [{:?}]\n  poll_interval: 100ms\n  batch_lines: {BATCH_LINES}\n  queue_batches: {QUEUE_BATCHES}\n  checkpoint_path: data/logs.redb\n  \
             sinks:\n    loki:\n      url: http://127.0.0.1:{sink_port}\n      timeout: 5s\n      min_backoff: 50ms\n      max_backoff: 1s\n",
            logs.join("*.log*").display().to_string()
        );
        std::fs::write(dir.join("agent.yml"), config).expect("writing agent.yml");
        Agent {
            dir: dir.to_path_buf(),
            port,
            proc: None,
            client: http(),
            peak_rss_kib: 0,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn start(&mut self) {
        assert!(self.proc.is_none(), "agent already running");
        let mut p = Proc::spawn(
            "watchfire-agent",
            Command::new(watchfire())
                .arg("agent")
                .arg("--config")
                .arg(self.dir.join("agent.yml"))
                .current_dir(&self.dir)
                .env("RUST_LOG", "warn"),
            &self.dir,
        );
        let (client, url) = (self.client.clone(), self.url("/health/ready"));
        p.wait_until("agent /health/ready", START_TIMEOUT, || {
            get_text(&client, &url)
        });
        self.proc = Some(p);
    }

    /// Records the peak RSS so far (`VmHWM`).
    fn sample_rss(&mut self) {
        let Some(p) = &mut self.proc else { return };
        p.assert_running();
        let status = std::fs::read_to_string(format!("/proc/{}/status", p.pid()))
            .expect("reading /proc/<pid>/status");
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmHWM in /proc/<pid>/status");
        self.peak_rss_kib = self.peak_rss_kib.max(kib);
    }

    fn kill9(&mut self) {
        self.sample_rss();
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        metric_value(
            &get_text(&self.client, &self.url("/metrics"))?,
            name,
            labels,
        )
    }
}

/// Waits `d`, through the harness's one pause.
fn pause(d: Duration) {
    let until = Instant::now() + d;
    poll(d + Duration::from_secs(1), || {
        (Instant::now() >= until).then_some(())
    });
}

/// The writer: `LINES` lines round-robin over `FILES` files, paced, with
/// `ROTATIONS` rotations evenly spread. Returns the rotation kinds done.
fn write_all(logs: &Path, written: &AtomicUsize) -> HashMap<&'static str, usize> {
    let live = |f: usize| logs.join(format!("app-{f}.log"));
    let open = |p: &Path| -> File {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap_or_else(|e| panic!("opening {}: {e}", p.display()))
    };
    let mut files: Vec<File> = (0..FILES).map(|f| open(&live(f))).collect();
    let mut kinds = HashMap::new();
    let rotate_every = LINES / (ROTATIONS + 1);
    let mut rotations = 0;
    let pad = "x".repeat(60);
    let start = Instant::now();
    let mut n = 0;
    while n < LINES {
        let mut buf: Vec<Vec<u8>> = vec![Vec::new(); FILES];
        for _ in 0..CHUNK.min(LINES - n) {
            let f = n % FILES;
            writeln!(
                buf[f],
                r#"{{"n":{n},"file":{f},"level":"info","msg":"chaos {pad}"}}"#
            )
            .expect("formatting");
            n += 1;
        }
        for (f, b) in buf.iter().enumerate() {
            files[f].write_all(b).expect("appending a log line");
        }
        written.store(n, Ordering::SeqCst);
        if rotations < ROTATIONS && n >= rotate_every * (rotations + 1) {
            let f = rotations % FILES;
            let rotated = logs.join(format!("app-{f}.log.{rotations}"));
            if rotations % 2 == 0 {
                std::fs::rename(live(f), &rotated).expect("rename rotation");
                files[f] = open(&live(f));
                *kinds.entry("rename").or_default() += 1;
            } else {
                // logrotate's copytruncate, with nothing written between
                // the copy and the truncation.
                std::fs::copy(live(f), &rotated).expect("copy of copytruncate");
                files[f].set_len(0).expect("truncate of copytruncate");
                *kinds.entry("copytruncate").or_default() += 1;
            }
            rotations += 1;
        }
        let next = start + CHUNK_EVERY * (n / CHUNK) as u32;
        let now = Instant::now();
        if next > now {
            pause(next - now);
        }
    }
    kinds
}

#[test]
fn logs_survive_rotation_kills_and_sink_outages() {
    let started = Instant::now();
    let tmp = TempDir::new().expect("tempdir");
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    let mut server = LokiServer::start();
    let mut agent = Agent::new(tmp.path(), &logs, server.port);
    agent.start();

    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (logs, written) = (logs.clone(), written.clone());
        std::thread::spawn(move || write_all(&logs, &written))
    };
    let at = |n: usize| {
        let w = written.clone();
        poll(Duration::from_secs(120), || {
            (w.load(Ordering::SeqCst) >= n).then_some(())
        })
        .unwrap_or_else(|| panic!("writer stuck before line {n}"));
    };
    let mut kills = 0;
    let mut outage_secs = 0;

    at(25_000);
    agent.kill9();
    kills += 1;
    agent.start();

    at(45_000);
    server.mode.store(ERROR_503, Ordering::SeqCst);
    pause(OUTAGE);
    server.mode.store(UP, Ordering::SeqCst);
    outage_secs += OUTAGE.as_secs();
    let failed = agent
        .metric("watchfire_agent_log_sink_errors_total", &[("sink", "loki")])
        .unwrap_or(0.0);
    assert!(failed > 0.0, "the 503 outage was not seen by the agent");

    at(110_000);
    agent.kill9();
    kills += 1;
    agent.start();

    at(125_000);
    server.down();
    let down_at = Instant::now();
    at(150_000);
    // Killed while the sink is gone, with records read and undelivered:
    // none of them may have been checkpointed.
    let in_flight_at_kill = agent
        .metric("watchfire_agent_log_lines_in_flight", &[])
        .unwrap_or(0.0);
    assert!(
        in_flight_at_kill > 0.0,
        "nothing in flight during the outage"
    );
    agent.kill9();
    kills += 1;
    agent.start();
    if let Some(rest) = OUTAGE.checked_sub(down_at.elapsed()) {
        pause(rest);
    }
    outage_secs += down_at.elapsed().as_secs();
    server.up();

    let kinds = writer.join().expect("writer thread");
    let missing = |s: &Stored| s.counts.iter().filter(|&&c| c == 0).count();
    let caught_up = poll(Duration::from_secs(90), || {
        agent.sample_rss();
        let s = server.stored.lock().unwrap_or_else(|e| e.into_inner());
        (missing(&s) == 0).then_some(())
    });
    agent.sample_rss();
    let rotations_seen = agent
        .metric("watchfire_agent_log_rotations_total", &[("kind", "rename")])
        .unwrap_or(0.0)
        + agent
            .metric(
                "watchfire_agent_log_rotations_total",
                &[("kind", "copytruncate")],
            )
            .unwrap_or(0.0);
    let s = server.stored.lock().unwrap_or_else(|e| e.into_inner());
    let lost: Vec<usize> = (0..LINES).filter(|&n| s.counts[n] == 0).collect();
    let duplicates: u64 = s
        .counts
        .iter()
        .map(|&c| u64::from(c.saturating_sub(1)))
        .sum();
    let bound = (kills * (2 * QUEUE_BATCHES + 3) * BATCH_LINES) as u64;
    eprintln!(
        "logs chaos: lines {LINES} in {FILES} files, received {} (lost {}), duplicates {duplicates} (bound {bound}), \
         rotations {} ({kinds:?}; last agent counted {rotations_seen}), kills {kills} (in flight at the last: {in_flight_at_kill}), \
         outage seconds {outage_secs}, pushes {}, peak RSS {:.1} MiB, wall time {:.1} s",
        LINES - lost.len(),
        lost.len(),
        kinds.values().sum::<usize>(),
        s.pushes,
        agent.peak_rss_kib as f64 / 1024.0,
        started.elapsed().as_secs_f64(),
    );
    assert!(
        caught_up.is_some() && lost.is_empty(),
        "{} lines lost, first {:?}\n--- agent stderr ---\n{}",
        lost.len(),
        &lost[..lost.len().min(20)],
        crate::harness::tail(
            &agent.proc.as_ref().map(Proc::stderr).unwrap_or_default(),
            4000
        )
    );
    assert_eq!(s.foreign, 0, "lines that were never written arrived");
    assert_eq!(kinds.values().sum::<usize>(), ROTATIONS);
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates > bound {bound}"
    );
    assert!(
        agent.peak_rss_kib < RSS_LIMIT_KIB,
        "peak RSS {} KiB over {RSS_LIMIT_KIB} KiB",
        agent.peak_rss_kib
    );
}
