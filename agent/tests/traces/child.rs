//! A trace pipeline in a child process — this test binary run again on
//! the ignored test [`serve`], configured by an environment variable — so
//! that tests can `kill -9` it and read its peak memory (`VmHWM`).

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use watchfire_agent::traces::config::{BufferConfig, ExportConfig, Protocol, TracesConfig};
use watchfire_agent::traces::sampling::Policy;
use watchfire_agent::traces::TracePipeline;

use super::upstream::Upstream;
use super::{kv, request, span};

const ENV: &str = "WF_TRACES_CHILD";

/// The child's side: runs a pipeline per `WF_TRACES_CHILD`
/// (`upstream|buffer path or empty|queue_max_spans`), prints its gRPC
/// address, and exits when its stdin closes. Does nothing without it.
#[test]
#[ignore = "the child process of the tests in this module"]
fn serve() {
    let Ok(spec) = std::env::var(ENV) else { return };
    let parts: Vec<&str> = spec.split('|').collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut e = ExportConfig::new(format!("http://{}", parts[0]), Protocol::Grpc);
        e.batch_timeout = Duration::from_millis(5);
        e.initial_backoff = Duration::from_millis(20);
        e.max_backoff = Duration::from_millis(500);
        e.queue_max_spans = parts[2].parse().unwrap();
        if !parts[1].is_empty() {
            e.buffer = Some(BufferConfig {
                path: parts[1].into(),
                max_bytes: 1 << 30,
            });
        }
        let mut c = TracesConfig::new(0, 0, e);
        c.http = None;
        c.sampling = Policy {
            probability: 1.0,
            ..Policy::default()
        };
        let p = TracePipeline::start(c, &prometheus::Registry::new())
            .await
            .unwrap();
        println!("READY {}", p.grpc_addr.unwrap());
        let mut stdin = tokio::io::stdin();
        let mut sink = tokio::io::sink();
        let _ = tokio::io::copy(&mut stdin, &mut sink).await;
        std::process::exit(0);
    });
}

/// A running child pipeline.
pub struct Child {
    proc: std::process::Child,
    pub grpc: SocketAddr,
}

impl Child {
    pub async fn spawn(upstream: SocketAddr, buffer: &str, queue_max_spans: usize) -> Child {
        let spec = format!("{upstream}|{buffer}|{queue_max_spans}");
        tokio::task::spawn_blocking(move || {
            let mut proc = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "traces::child::serve",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(ENV, spec)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let out = BufReader::new(proc.stdout.take().unwrap());
            for line in out.lines() {
                let line = line.unwrap();
                // libtest prints "test … ... " on the same line first.
                if let Some((_, addr)) = line.split_once("READY ") {
                    return Child {
                        grpc: addr.parse().unwrap(),
                        proc,
                    };
                }
            }
            let _ = proc.kill();
            let _ = proc.wait();
            panic!("the child exited before it was ready");
        })
        .await
        .unwrap()
    }

    pub async fn client(&self) -> TraceServiceClient<tonic::transport::Channel> {
        TraceServiceClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }

    /// `(VmHWM, VmRSS)` in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.proc.id())).unwrap();
        let field = |name: &str| -> u64 {
            s.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .unwrap()
                .parse()
                .unwrap()
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill9(mut self) {
        self.proc.kill().unwrap();
        self.proc.wait().unwrap();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

/// Request `k` of `n` spans with distinct span ids (`k * n + i`), errors
/// so that sampling keeps them, and a few attributes.
pub fn load_request(k: u64, n: u64) -> ExportTraceServiceRequest {
    let spans = (0..n)
        .map(|i| {
            let mut s = span(k * n + i, "GET /api/orders/{id}", true, 12);
            s.attributes = vec![
                kv("http.method", "GET"),
                kv("http.route", "/api/orders/{id}"),
                kv("http.status_code", "500"),
                kv("net.peer.name", "orders.internal.example"),
                kv("user.email", "someone@example.com"),
            ];
            s
        })
        .collect();
    request("load", spans)
}

fn ids(r: &ExportTraceServiceRequest) -> Vec<Vec<u8>> {
    super::spans_of(r).into_iter().map(|s| s.span_id).collect()
}

/// Span ids received until every id of `want` has arrived (20 s at most).
async fn receive_all(up: &mut Upstream, want: &HashSet<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut seen = HashSet::new();
    while !want.is_subset(&seen) {
        let r = tokio::time::timeout(Duration::from_secs(20), up.received.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} of {} spans arrived",
                    want.intersection(&seen).count(),
                    want.len()
                )
            })
            .unwrap();
        for id in ids(&r) {
            seen.insert(id.clone());
            got.push(id);
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_acknowledged() {
    let mut up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    let path = path.to_str().unwrap();
    let child = Child::spawn(up.addr, path, 50).await;
    let mut client = child.client().await;

    // Delivered while the upstream is up (their records are deleted).
    let mut before = HashSet::new();
    for k in 0..5 {
        let r = load_request(k, 10);
        client.export(r.clone()).await.unwrap();
        before.extend(ids(&r));
    }
    receive_all(&mut up, &before).await;
    // Upstream refusing: 200 spans taken, 50 in memory, the rest on disk
    // only; then the agent is killed.
    up.down.store(true, Ordering::SeqCst);
    let mut acked = HashSet::new();
    for k in 5..25 {
        let r = load_request(k, 10);
        client.export(r.clone()).await.unwrap();
        acked.extend(ids(&r));
    }
    drop(client);
    child.kill9();
    assert!(up.received.try_recv().is_err());

    // Restarted on the same file with the upstream back: every span
    // acknowledged before the kill arrives, those exactly once; only
    // already delivered ones may come again (their deletion was not yet
    // durable).
    up.down.store(false, Ordering::SeqCst);
    let child = Child::spawn(up.addr, path, 50).await;
    let got = receive_all(&mut up, &acked).await;
    let again: Vec<&Vec<u8>> = got.iter().filter(|id| !acked.contains(*id)).collect();
    assert!(again.iter().all(|id| before.contains(*id)), "unknown spans");
    let fresh: Vec<&Vec<u8>> = got.iter().filter(|id| acked.contains(*id)).collect();
    assert_eq!(
        fresh.len(),
        acked.len(),
        "no duplicate of an undelivered span"
    );
    drop(child);
}

/// The memory harness (`cargo test -p watchfire-agent --test agent --
/// --ignored traces::child::peak_rss_during_30s_outage --nocapture`): a
/// child agent with the default queue (20000 spans) under 4 clients
/// sending 100-span requests as fast as it takes them while the upstream
/// is gone for 30 s. Prints the child's peak and current RSS; set
/// `WF_TRACES_RSS_BUFFER=1` to run it with a disk buffer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "30 s memory measurement; run by hand"]
async fn peak_rss_during_30s_outage() {
    let mut up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let buffer = match std::env::var("WF_TRACES_RSS_BUFFER") {
        Ok(_) => dir.path().join("t.redb").to_str().unwrap().to_string(),
        Err(_) => String::new(),
    };
    let child = Child::spawn(up.addr, &buffer, 20_000).await;
    let idle = child.memory_kib();
    up.close().await;
    let start = tokio::time::Instant::now();
    let mut clients = Vec::new();
    for c in 0..4u64 {
        let mut client = child.client().await;
        clients.push(tokio::spawn(async move {
            let (mut taken, mut refused, mut k) = (0u64, 0u64, c << 40);
            while start.elapsed() < Duration::from_secs(30) {
                match client.export(load_request(k, 100)).await {
                    Ok(_) => {
                        taken += 100;
                        k += 1;
                    }
                    Err(e) => {
                        assert_eq!(e.code(), tonic::Code::ResourceExhausted);
                        refused += 1;
                    }
                }
            }
            (taken, refused)
        }));
    }
    let (mut taken, mut refused) = (0, 0);
    for c in clients {
        let (t, r) = c.await.unwrap();
        taken += t;
        refused += r;
    }
    let (hwm, rss) = child.memory_kib();
    up.reopen().await;
    let mut n = 0;
    while n < taken as usize {
        let r = tokio::time::timeout(Duration::from_secs(30), up.received.recv())
            .await
            .unwrap()
            .unwrap();
        n += super::spans_of(&r).len();
    }
    assert_eq!(n, taken as usize);
    eprintln!(
        "rss: buffer={} idle_rss={} KiB, peak_rss={hwm} KiB, rss_at_end_of_outage={rss} KiB, spans_taken={taken}, requests_refused={refused}",
        !buffer.is_empty(),
        idle.1
    );
}
