//! Side-by-side harness: the same 100k series and the same 50 rules, fed
//! through remote_write to a real Prometheus and to the Watchfire router.
//!
//! It compares each side's per-cycle rule evaluation time (Prometheus's
//! `prometheus_rule_group_last_duration_seconds` against our
//! `watchfire_rule_group_last_duration_seconds`, summed over the two
//! groups and averaged over several cycles) and checks that both fire the
//! same alerts (`GET /api/v1/alerts`, label sets of firing alerts).
//!
//! Run: `cargo bench --bench prom_compare` (needs Debian's `prometheus`).
//! Exits non-zero if the alert sets differ.

#[path = "common/mod.rs"]
mod common;

#[path = "common/proc.rs"]
mod proc_util;

use proc_util::{free_port, Proc};
use std::collections::BTreeSet;
use std::io::Write;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;
use watchfire_router::ingest::proto::{Label, Sample, TimeSeries, WriteRequest};

const STEP_MS: i64 = 15_000;
const HISTORY: usize = 41;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn encode(series: &[common::GenSeries], idx: std::ops::Range<usize>, t0: i64) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: series
            .iter()
            .map(|s| TimeSeries {
                labels: s
                    .labels
                    .iter()
                    .map(|(n, v)| Label {
                        name: n.clone(),
                        value: v.clone(),
                    })
                    .collect(),
                samples: idx
                    .clone()
                    .map(|i| Sample {
                        value: s.value(i, 15.0),
                        timestamp: t0 + i as i64 * STEP_MS,
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .expect("snappy")
}

async fn push(client: &reqwest::Client, urls: &[String], body: Vec<u8>) {
    for u in urls {
        let r = client
            .post(u)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body.clone())
            .send()
            .await
            .expect("remote_write");
        let status = r.status();
        if !status.is_success() {
            let text = r.text().await.unwrap_or_default();
            panic!("remote_write to {u}: {status}: {text}");
        }
    }
}

async fn wait_ready(client: &reqwest::Client, url: &str) {
    for _ in 0..300 {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never became ready");
}

/// Sum over groups of the last-duration gauge named `metric`.
async fn eval_seconds(client: &reqwest::Client, url: &str, metric: &str) -> f64 {
    let text = client
        .get(url)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .filter(|l| l.starts_with(metric) && l.contains("bench-"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn firing(client: &reqwest::Client, url: &str) -> BTreeSet<String> {
    let v: serde_json::Value = client
        .get(url)
        .send()
        .await
        .expect("alerts")
        .json()
        .await
        .expect("alerts json");
    let mut out = BTreeSet::new();
    for a in v["data"]["alerts"].as_array().cloned().unwrap_or_default() {
        if a["state"] == "firing" {
            out.insert(a["labels"].to_string());
        }
    }
    out
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/data/rules-bench.yml");
    let (pp, wp) = (free_port(), free_port());

    let prom_cfg = tmp.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!("global:\n  evaluation_interval: 15s\nrule_files: ['{rules}']\n"),
    )
    .expect("write");
    let prom = Proc(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                tmp.path().join("prom").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{pp}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus (apt-get install prometheus)"),
    );
    let wf_cfg = tmp.path().join("router.yml");
    std::fs::write(
        &wf_cfg,
        format!(
            "server:\n  listen_address: 127.0.0.1:{wp}\nrules:\n  files: ['{rules}']\n  evaluation_interval: 15s\nstate:\n  path: {}\nalerting:\n  console: false\n",
            tmp.path().join("wf.redb").display()
        ),
    )
    .expect("write");
    let wf = Proc(
        Command::new(env!("CARGO_BIN_EXE_watchfire"))
            .args(["router", "--config"])
            .arg(&wf_cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start watchfire"),
    );
    let client = reqwest::Client::new();
    let prom_url = format!("http://127.0.0.1:{pp}");
    let wf_url = format!("http://127.0.0.1:{wp}");
    wait_ready(&client, &format!("{prom_url}/-/ready")).await;
    wait_ready(&client, &format!("{wf_url}/-/ready")).await;

    let fleet = common::fleet();
    let urls = [
        format!("{prom_url}/api/v1/write"),
        format!("{wf_url}/api/v1/write"),
    ];
    let t0 = (now_ms() / STEP_MS) * STEP_MS - (HISTORY as i64 - 1) * STEP_MS;
    let started = Instant::now();
    for chunk in fleet.chunks(2000) {
        push(&client, &urls, encode(chunk, 0..HISTORY, t0)).await;
    }
    eprintln!(
        "pushed {} series x {HISTORY} samples in {:?}",
        fleet.len(),
        started.elapsed()
    );

    // Live samples every 15 s for the rest of the run; measure the last cycles.
    let mut next = HISTORY;
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let run = Duration::from_secs(150);
    let begin = Instant::now();
    while begin.elapsed() < run {
        while t0 + next as i64 * STEP_MS <= now_ms() {
            for chunk in fleet.chunks(5000) {
                push(&client, &urls, encode(chunk, next..next + 1, t0)).await;
            }
            next += 1;
        }
        if begin.elapsed() > Duration::from_secs(75) {
            theirs.push(
                eval_seconds(
                    &client,
                    &format!("{prom_url}/metrics"),
                    "prometheus_rule_group_last_duration_seconds",
                )
                .await,
            );
            ours.push(
                eval_seconds(
                    &client,
                    &format!("{wf_url}/metrics"),
                    "watchfire_rule_group_last_duration_seconds",
                )
                .await,
            );
        }
        tokio::time::sleep(Duration::from_secs(15)).await;
    }
    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (p, w) = (avg(&theirs), avg(&ours));
    let a_p = firing(&client, &format!("{prom_url}/api/v1/alerts")).await;
    let a_w = firing(&client, &format!("{wf_url}/api/v1/alerts")).await;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "series: {}, rules: 50, cycles sampled: {}",
        fleet.len(),
        ours.len()
    );
    let _ = writeln!(
        out,
        "prometheus per-cycle eval: {:.1} ms (samples {theirs:?})",
        p * 1e3
    );
    let _ = writeln!(
        out,
        "watchfire  per-cycle eval: {:.1} ms (samples {ours:?})",
        w * 1e3
    );
    let _ = writeln!(out, "ratio watchfire/prometheus: {:.3}", w / p);
    let _ = writeln!(
        out,
        "firing alerts: prometheus {}, watchfire {}",
        a_p.len(),
        a_w.len()
    );
    let only_p: Vec<_> = a_p.difference(&a_w).collect();
    let only_w: Vec<_> = a_w.difference(&a_p).collect();
    drop((prom, wf));
    if !only_p.is_empty() || !only_w.is_empty() {
        let _ = writeln!(
            out,
            "ALERTS DIFFER\n only prometheus: {only_p:#?}\n only watchfire: {only_w:#?}"
        );
        std::process::exit(1);
    }
    let _ = writeln!(out, "identical firing alert sets");
}
