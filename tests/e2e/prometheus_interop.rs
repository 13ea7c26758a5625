//! A real Prometheus (Debian's 2.42) remote-writes to the router
//! (SPEC §4.1 "Ingest": it accepts remote_write from Prometheus).
//!
//! Prometheus scrapes itself every second and sends everything to the
//! router's `/api/v1/write`; the router evaluates `up{job="prometheus"}`
//! from those samples, so the `PromUp` alert firing proves the samples
//! arrived, were decoded and stored under the right labels.

use std::process::Command;
use std::time::Duration;

use crate::harness::{
    free_port, get_text, http, metric_samples, peer, Proc, Router, START_TIMEOUT,
};

const PROM_UP: &str = "\
groups:
  - name: interop
    rules:
      - alert: PromUp
        expr: up{job=\"prometheus\"} == 1
        for: 0s
";

#[test]
fn router_accepts_remote_write_from_prometheus() {
    let prometheus = peer("prometheus");
    let mut r = Router::new(&[("interop.yml", PROM_UP)], "1s", "0s");
    r.start();

    let prom_port = free_port();
    let cfg = r.dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: [\"127.0.0.1:{prom_port}\"]\n\
             remote_write:\n  - url: \"http://127.0.0.1:{}/api/v1/write\"\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n",
            r.port
        ),
    )
    .expect("writing prometheus.yml");
    let tsdb = r.dir.path().join("prom-data");
    let mut prom = Proc::spawn(
        "prometheus",
        Command::new(&prometheus)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", tsdb.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}")),
        r.dir.path(),
    );
    let client = http();
    let ready = format!("http://127.0.0.1:{prom_port}/-/ready");
    prom.wait_until("prometheus /-/ready", START_TIMEOUT, || {
        get_text(&client, &ready)
    });

    let alert = r.wait_alert("PromUp", "firing", Duration::from_secs(30));
    assert_eq!(
        alert.labels.get("job").map(String::as_str),
        Some("prometheus"),
        "{alert:?}"
    );
    assert_eq!(
        alert.labels.get("instance").cloned(),
        Some(format!("127.0.0.1:{prom_port}")),
        "{alert:?}"
    );
    prom.assert_running();

    let page = r.metrics().expect("router /metrics");
    let by_code = metric_samples(&page, "watchfire_remote_write_requests_total");
    let ok: f64 = by_code
        .iter()
        .filter(|(l, _)| l.get("code").map(String::as_str) == Some("204"))
        .map(|(_, v)| v)
        .sum();
    assert!(ok > 0.0, "no 204 remote_write answers: {by_code:?}");
    let refused: Vec<_> = by_code
        .iter()
        .filter(|(l, v)| l.get("code").map(String::as_str) != Some("204") && *v > 0.0)
        .collect();
    assert!(
        refused.is_empty(),
        "the router refused some of Prometheus's writes: {refused:?}\n--- router stderr ---\n{}",
        r.log()
    );
}
