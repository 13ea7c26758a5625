//! The agent (`watchfire agent`) against its real peers (SPEC §3.1).
//!
//! - [`sample_count_matches_prometheus`]: the agent and a real Prometheus
//!   scrape the same real `prometheus-node-exporter`; the agent's
//!   `scrape_samples_scraped` (remote-written into that Prometheus) equals
//!   Prometheus's own.
//! - [`agent_ships_to_router`]: host metrics and the agent's own series
//!   reach `watchfire router` (read back through alerts).
//! - [`buffer_survives_outage_and_kill9`]: samples buffered while the
//!   router is down survive a `kill -9` of the agent and arrive once the
//!   router is up.
//! - [`config_errors_are_positioned`]: `check-config --role agent` and
//!   `agent --config` refuse bad configs with `file:line:col`;
//!   [`missing_file_sd_path_is_refused`]: a file_sd path that cannot be
//!   read is a start-up error too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::harness::{
    free_port, get_text, http, metric_samples, metric_value, now_ms, peer, poll, run, watchfire,
    Proc, Router, START_TIMEOUT,
};

/// The agent's own scrape job (`watchfire_agent::run::SELF_JOB`).
const SELF_JOB: &str = "watchfire-agent";

/// A `watchfire agent` with its config in a folder it does not own.
struct Agent {
    dir: PathBuf,
    port: u16,
    config: PathBuf,
    proc: Option<Proc>,
    client: reqwest::blocking::Client,
}

impl Agent {
    /// Writes `agent.yml` in `dir`: a `server:` line on a free port, then
    /// `body` (the rest of the config).
    fn new(dir: &Path, body: &str) -> Agent {
        let port = free_port();
        let config = dir.join("agent.yml");
        std::fs::write(
            &config,
            format!("server: {{ listen_address: \"127.0.0.1:{port}\" }}\n{body}"),
        )
        .expect("writing agent.yml");
        Agent {
            dir: dir.to_path_buf(),
            port,
            config,
            proc: None,
            client: http(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Starts the agent and waits until `/health/ready` answers 2xx.
    fn start(&mut self) -> &mut Proc {
        assert!(self.proc.is_none(), "agent already running");
        let p = Proc::spawn(
            "watchfire-agent",
            Command::new(watchfire())
                .arg("agent")
                .arg("--config")
                .arg(&self.config)
                .current_dir(&self.dir)
                .env("RUST_LOG", "info"),
            &self.dir,
        );
        self.proc = Some(p);
        let (client, url) = (self.client.clone(), self.url("/health/ready"));
        self.proc()
            .wait_until("agent /health/ready", START_TIMEOUT, || {
                get_text(&client, &url)
            });
        self.proc()
    }

    fn proc(&mut self) -> &mut Proc {
        self.proc.as_mut().expect("agent not started")
    }

    fn kill9(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    fn metrics(&self) -> Option<String> {
        get_text(&self.client, &self.url("/metrics"))
    }

    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        metric_value(&self.metrics()?, name, labels)
    }

    /// Polls `f` on the agent; fails at once if it exits, shows its log on
    /// timeout.
    fn wait_for<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&Agent) -> Option<T>,
    ) -> T {
        let found = poll(timeout, || {
            self.proc().assert_running();
            f(self)
        });
        found.unwrap_or_else(|| {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n--- agent stderr ---\n{}",
                crate::harness::tail(
                    &self.proc.as_ref().map(Proc::stderr).unwrap_or_default(),
                    4000
                )
            )
        })
    }
}

/// A real Prometheus with its own config and data folder under `dir`.
fn start_prometheus(dir: &Path, config: &str, extra: &[&str]) -> (Proc, u16) {
    let port = free_port();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, config).expect("writing prometheus.yml");
    let mut p = Proc::spawn(
        "prometheus",
        Command::new(peer("prometheus"))
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra),
        dir,
    );
    let (client, ready) = (http(), format!("http://127.0.0.1:{port}/-/ready"));
    p.wait_until("prometheus /-/ready", START_TIMEOUT, || {
        get_text(&client, &ready)
    });
    (p, port)
}

/// The `data.result` of a Prometheus instant query.
fn prom_query(client: &reqwest::blocking::Client, port: u16, query: &str) -> Option<Vec<Value>> {
    let r = client
        .get(format!("http://127.0.0.1:{port}/api/v1/query"))
        .query(&[("query", query)])
        .send()
        .ok()?;
    let body: Value = r.json().ok()?;
    assert_eq!(body["status"], "success", "query {query}: {body}");
    body["data"]["result"].as_array().cloned()
}

/// The most common value (the larger one on a tie) and its count.
fn mode(values: &[f64]) -> (f64, usize) {
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(*v as i64).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(v, n)| (*n, *v))
        .map(|(v, n)| (v as f64, n))
        .unwrap_or((f64::NAN, 0))
}

#[test]
fn mode_picks_most_common() {
    assert_eq!(mode(&[3.0, 5.0, 5.0, 4.0]), (5.0, 2));
    assert_eq!(mode(&[7.0]), (7.0, 1));
    assert_eq!(mode(&[1.0, 2.0]), (2.0, 1));
    assert!(mode(&[]).0.is_nan());
}

/// How many scrapes of each side are compared.
const SCRAPES_COMPARED: usize = 10;

#[test]
fn sample_count_matches_prometheus() {
    let tmp = TempDir::new().expect("tempdir");
    let ne_port = free_port();
    let mut node_exporter = Proc::spawn(
        "node-exporter",
        Command::new(peer("prometheus-node-exporter"))
            .arg(format!("--web.listen-address=127.0.0.1:{ne_port}")),
        tmp.path(),
    );
    let client = http();
    let ne_url = format!("http://127.0.0.1:{ne_port}/metrics");
    node_exporter.wait_until("node_exporter /metrics", START_TIMEOUT, || {
        get_text(&client, &ne_url)
    });

    // One Prometheus both scrapes node_exporter (job="node") and receives
    // the agent's remote_write; the agent's target carries
    // `scraper="watchfire"`, so the two series stay apart.
    let (mut prom, prom_port) = start_prometheus(
        tmp.path(),
        &format!(
            "global: {{ scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }}\n\
             scrape_configs:\n  - job_name: node\n    static_configs: [ {{ targets: [\"127.0.0.1:{ne_port}\"] }} ]\n"
        ),
        &["--web.enable-remote-write-receiver"],
    );
    let buffer = tmp.path().join("buf.redb");
    let mut agent = Agent::new(
        tmp.path(),
        &format!(
            "host: {{ enabled: false }}\n\
             global: {{ scrape_interval: 1s, scrape_timeout: 1s }}\n\
             scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: [\"127.0.0.1:{ne_port}\"]\n        labels: {{ scraper: watchfire }}\n\
             remote_write:\n  url: http://127.0.0.1:{prom_port}/api/v1/write\n  queue: {{ batch_send_deadline: 1s, max_backoff: 1s }}\n  buffer: {{ path: {:?} }}\n",
            buffer.display().to_string()
        ),
    );
    agent.start();

    // Both sides' last SCRAPES_COMPARED values of scrape_samples_scraped.
    let query = "scrape_samples_scraped{job=\"node\"}[30s]";
    let mut last = Vec::new();
    let found = poll(Duration::from_secs(45), || {
        prom.assert_running();
        agent.proc().assert_running();
        let result = prom_query(&client, prom_port, query)?;
        let mut ours = None;
        let mut theirs = None;
        for series in &result {
            let values: Vec<f64> = series["values"]
                .as_array()?
                .iter()
                .filter_map(|p| p[1].as_str()?.parse().ok())
                .collect();
            match series["metric"]["scraper"].as_str() {
                Some("watchfire") => ours = Some(values),
                None => theirs = Some(values),
                Some(other) => panic!("unexpected scraper label {other:?}: {series}"),
            }
        }
        last = result;
        let (ours, theirs) = (ours?, theirs?);
        (ours.len() >= SCRAPES_COMPARED && theirs.len() >= SCRAPES_COMPARED).then(|| {
            (
                ours[ours.len() - SCRAPES_COMPARED..].to_vec(),
                theirs[theirs.len() - SCRAPES_COMPARED..].to_vec(),
            )
        })
    });
    let (ours, theirs) = found.unwrap_or_else(|| {
        panic!(
            "timed out waiting for {SCRAPES_COMPARED} scrapes from both sides; last result: {last:?}\n\
             --- agent stderr ---\n{}",
            crate::harness::tail(&agent.proc().stderr(), 4000)
        )
    });
    let (our_mode, our_n) = mode(&ours);
    let (their_mode, their_n) = mode(&theirs);
    println!("node_exporter scrape_samples_scraped, last {SCRAPES_COMPARED} scrapes:");
    println!("  watchfire agent: {ours:?} (most common {our_mode} x{our_n})");
    println!("  prometheus:      {theirs:?} (most common {their_mode} x{their_n})");
    assert!(
        our_mode > 100.0,
        "node_exporter exposes hundreds of samples, agent counted {our_mode}"
    );
    assert_eq!(
        our_mode, their_mode,
        "the agent's sample count differs from Prometheus's: ours {ours:?}, Prometheus's {theirs:?}"
    );

    // And the agent reports its target up, like Prometheus does.
    let up = prom_query(&client, prom_port, "up{job=\"node\"}").expect("querying up");
    assert_eq!(up.len(), 2, "want one `up` per scraper: {up:?}");
    for s in &up {
        assert_eq!(s["value"][1], "1", "target down: {s}");
    }
}

/// Rules reading the agent's own series from what the router stored.
const AGENT_RULES: &str = "\
groups:
  - name: agent
    rules:
      - record: seen:scrape_samples_scraped
        expr: scrape_samples_scraped{job=\"watchfire-agent\"}
      - alert: AgentUp
        expr: up{job=\"watchfire-agent\"} == 1
      - alert: AgentMemTotal
        expr: node_memory_MemTotal_bytes{job=\"watchfire-agent\"} > 0
        annotations:
          value: \"{{ $value }}\"
";

/// `MemTotal` of this host from `/proc/meminfo`, in bytes.
fn mem_total_bytes() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").expect("reading /proc/meminfo");
    let line = text
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .expect("MemTotal in /proc/meminfo");
    let kb: f64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("MemTotal value");
    kb * 1024.0
}

#[test]
fn agent_ships_to_router() {
    let mut r = Router::new(&[("agent.yml", AGENT_RULES)], "1s", "0s");
    r.start();
    let tmp = TempDir::new().expect("tempdir");
    let mut agent = Agent::new(
        tmp.path(),
        &format!(
            "host: {{ enabled: true, interval: 1s }}\n\
             remote_write:\n  url: {}\n  queue: {{ batch_send_deadline: 1s, max_backoff: 1s }}\n  buffer: {{ path: buf.redb }}\n",
            r.url("/api/v1/write")
        ),
    );
    agent.start();
    let client = http();
    let ready = client
        .get(agent.url("/health/ready"))
        .send()
        .expect("GET /health/ready");
    assert_eq!(ready.status().as_u16(), 200, "agent /health/ready");
    let live = client
        .get(agent.url("/health/live"))
        .send()
        .expect("GET /health/live");
    assert_eq!(live.status().as_u16(), 200, "agent /health/live");

    let instance = format!("127.0.0.1:{}", agent.port);
    let up = r.wait_alert("AgentUp", "firing", Duration::from_secs(30));
    assert_eq!(
        up.labels.get("job").map(String::as_str),
        Some(SELF_JOB),
        "{up:?}"
    );
    assert_eq!(up.labels.get("instance"), Some(&instance), "{up:?}");

    let mem = r.wait_alert("AgentMemTotal", "firing", Duration::from_secs(15));
    let shipped: f64 = mem
        .value
        .parse()
        .unwrap_or_else(|e| panic!("alert value {:?}: {e}", mem.value));
    let served = agent
        .metric("node_memory_MemTotal_bytes", &[])
        .expect("node_memory_MemTotal_bytes on the agent's /metrics");
    println!(
        "MemTotal: /proc/meminfo {}, agent /metrics {served}, router {shipped}",
        mem_total_bytes()
    );
    assert_eq!(shipped, mem_total_bytes(), "MemTotal reaching the router");
    assert_eq!(served, shipped, "MemTotal served vs shipped");
    assert_eq!(mem.labels.get("instance"), Some(&instance), "{mem:?}");

    // Nothing refused by the router, nothing dropped by the agent.
    let page = r.metrics().expect("router /metrics");
    let refused: Vec<_> = metric_samples(&page, "watchfire_remote_write_requests_total")
        .into_iter()
        .filter(|(l, v)| l.get("code").map(String::as_str) != Some("204") && *v > 0.0)
        .collect();
    assert!(refused.is_empty(), "router refused writes: {refused:?}");
    let accepted = metric_value(
        &page,
        "watchfire_remote_write_samples_total",
        &[("result", "accepted")],
    )
    .unwrap_or(0.0);
    assert!(accepted > 0.0, "router accepted no samples");
    let agent_page = agent.metrics().expect("agent /metrics");
    let dropped: Vec<_> = metric_samples(
        &agent_page,
        "watchfire_agent_remote_write_samples_dropped_total",
    )
    .into_iter()
    .filter(|(_, v)| *v > 0.0)
    .collect();
    assert!(dropped.is_empty(), "agent dropped samples: {dropped:?}");
    agent.proc().assert_running();
}

#[test]
fn buffer_survives_outage_and_kill9() {
    // The router's port is chosen now; it is started only at the end.
    let mut r = Router::new(&[], "1s", "0s");
    let tmp = TempDir::new().expect("tempdir");
    let buffer = tmp.path().join("buffer").join("buf.redb");
    let mut agent = Agent::new(
        tmp.path(),
        &format!(
            "host: {{ enabled: true, interval: 1s }}\n\
             remote_write:\n  url: {}\n  queue: {{ batch_send_deadline: 1s, min_backoff: 50ms, max_backoff: 500ms }}\n  buffer: {{ path: {:?} }}\n",
            r.url("/api/v1/write"),
            buffer.display().to_string()
        ),
    );
    agent.start();

    // The router is down: the agent scrapes itself and buffers.
    let scrapes_label = [("job", SELF_JOB)];
    let (scrapes, buffered) = agent.wait_for(
        "three self-scrapes buffered while the router is down",
        Duration::from_secs(30),
        |a| {
            let page = a.metrics()?;
            let scrapes = metric_value(&page, "watchfire_agent_scrapes_total", &scrapes_label)?;
            let buffered = metric_value(&page, "watchfire_agent_remote_write_buffer_samples", &[])?;
            (scrapes >= 3.0 && buffered > 0.0).then_some((scrapes, buffered))
        },
    );
    let sent = agent
        .metric("watchfire_agent_remote_write_samples_sent_total", &[])
        .unwrap_or(0.0);
    assert_eq!(
        sent, 0.0,
        "nothing can have been sent to a router that is down"
    );
    agent.kill9();
    let killed_at_ms = now_ms();
    println!("killed the agent after {scrapes} self-scrapes with {buffered} samples buffered");

    // Restarted on the same buffer, still without a router: nothing lost.
    agent.start();
    let reopened = agent.wait_for(
        "the restarted agent to report its buffer",
        Duration::from_secs(15),
        |a| a.metric("watchfire_agent_remote_write_buffer_samples", &[]),
    );
    assert!(
        reopened >= buffered,
        "the buffer lost samples over kill -9: {buffered} before, {reopened} after"
    );

    // Now the router comes up, counting the `up` samples from before the
    // kill that it received.
    r.write_rules(
        "buffered.yml",
        &format!(
            "groups:\n  - name: buffered\n    rules:\n      - alert: BufferedBeforeKill\n        \
             expr: count_over_time(up{{job=\"{SELF_JOB}\"}}[10m] @ {:.3}) > 0\n",
            killed_at_ms as f64 / 1000.0
        ),
    );
    r.start();
    let alert = r.wait_alert("BufferedBeforeKill", "firing", Duration::from_secs(30));
    let before_kill: f64 = alert
        .value
        .parse()
        .unwrap_or_else(|e| panic!("alert value {:?}: {e}", alert.value));
    println!("the router holds {before_kill} `up` samples from before the kill");
    // The scrape running when the metrics were read may or may not have
    // been appended; one more may have started before the kill.
    assert!(
        before_kill >= scrapes - 1.0 && before_kill <= scrapes + 1.0,
        "want about {scrapes} pre-kill `up` samples on the router, got {before_kill}"
    );
    let accepted = r.wait_for(
        "the router to accept at least the buffered samples",
        Duration::from_secs(20),
        |r| {
            r.metric(
                "watchfire_remote_write_samples_total",
                &[("result", "accepted")],
            )
            .filter(|v| *v >= buffered)
        },
    );
    println!("router accepted {accepted} samples (>= {buffered} buffered before the kill)");
    let page = r.metrics().expect("router /metrics");
    let refused: Vec<_> = metric_samples(&page, "watchfire_remote_write_samples_total")
        .into_iter()
        .filter(|(l, v)| {
            let result = l.get("result").map(String::as_str);
            *v > 0.0 && !matches!(result, Some("accepted" | "duplicate"))
        })
        .collect();
    assert!(
        refused.is_empty(),
        "the router refused buffered samples: {refused:?}"
    );
    agent.wait_for(
        "the agent to drain its buffer",
        Duration::from_secs(20),
        |a| {
            let sent = a.metric("watchfire_agent_remote_write_samples_sent_total", &[])?;
            (sent >= buffered).then_some(())
        },
    );
}

/// A bad agent config and where its error must point.
struct BadConfig {
    what: &'static str,
    /// The `scrape_configs` job, after `job_name: node` (indented 4).
    job: &'static str,
    /// The line of the reported position (in the whole file).
    line: usize,
    /// Acceptable columns.
    cols: std::ops::RangeInclusive<usize>,
}

/// The config text around each [`BadConfig::job`]; the job's own lines
/// start at line 7.
fn bad_config_text(job: &str) -> String {
    format!(
        "server: {{ listen_address: \"127.0.0.1:{}\" }}\n\
         remote_write:\n  url: http://127.0.0.1:1/api/v1/write\n  buffer: {{ path: buf.redb }}\n\
         scrape_configs:\n  - job_name: node\n{job}",
        free_port()
    )
}

/// Errors caught by `AgentConfig::load`.
const BAD_CONFIGS: &[BadConfig] = &[
    BadConfig {
        what: "unknown field",
        job: "    scrape_intervall: 1s\n    static_configs: [ { targets: [\"127.0.0.1:9100\"] } ]\n",
        line: 7,
        cols: 5..=5,
    },
    BadConfig {
        what: "bad relabel regex",
        job: "    static_configs: [ { targets: [\"127.0.0.1:9100\"] } ]\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: \"foo((\"\n        target_label: x\n",
        line: 10,
        cols: 9..=23,
    },
];

/// A `file_sd_configs` path that does not exist (SPEC: start-up check,
/// `file_sd::preflight`).
const MISSING_FILE_SD: BadConfig = BadConfig {
    what: "missing file_sd path",
    job: "    file_sd_configs:\n      - files: [\"/nonexistent/watchfire-e2e/targets.json\"]\n",
    line: 8,
    cols: 9..=50,
};

/// Every `file:LINE:COL` of `file` in `text`.
fn positions(text: &str, file: &str) -> Vec<(usize, usize)> {
    let needle = format!("{file}:");
    text.match_indices(&needle)
        .filter_map(|(i, _)| {
            let mut parts = text[i + needle.len()..].splitn(3, ':');
            let line = parts.next()?.parse().ok()?;
            let col: String = parts
                .next()?
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            Some((line, col.parse().ok()?))
        })
        .collect()
}

fn check_positioned(bad: &BadConfig, how: &str, code: Option<i32>, stderr: &str, file: &str) {
    assert!(
        code.is_some_and(|c| c != 0),
        "{}: `{how}` exited with {code:?}, want a failure\n--- stderr ---\n{stderr}",
        bad.what
    );
    let pos = positions(stderr, file);
    assert!(
        pos.iter()
            .any(|(l, c)| *l == bad.line && bad.cols.contains(c)),
        "{}: `{how}` should name {file}:{}:{:?}; got {pos:?}\n--- stderr ---\n{stderr}",
        bad.what,
        bad.line,
        bad.cols
    );
}

/// Writes `bad`'s config and checks that both `check-config --role agent`
/// and `agent --config` refuse it with the expected position.
fn check_bad_config(bad: &BadConfig) {
    let bin = watchfire();
    let tmp = TempDir::new().expect("tempdir");
    let file = tmp.path().join("agent.yml");
    std::fs::write(&file, bad_config_text(bad.job)).expect("writing agent.yml");
    let name = file.display().to_string();

    let out = run(
        &bin,
        &["check-config", "--role", "agent", &name],
        tmp.path(),
    );
    check_positioned(
        bad,
        "check-config --role agent",
        Some(out.code),
        &out.stderr,
        &name,
    );

    let mut p = Proc::spawn(
        "watchfire-agent",
        Command::new(&bin)
            .args(["agent", "--config", &name])
            .current_dir(tmp.path()),
        tmp.path(),
    );
    let status = poll(Duration::from_secs(15), || p.try_exit());
    let stderr = p.stderr();
    check_positioned(
        bad,
        "agent --config",
        status.and_then(|s| s.code()),
        &stderr,
        &name,
    );
}

#[test]
fn config_errors_are_positioned() {
    for bad in BAD_CONFIGS {
        check_bad_config(bad);
    }
}

#[test]
fn missing_file_sd_path_is_refused() {
    check_bad_config(&MISSING_FILE_SD);
}
