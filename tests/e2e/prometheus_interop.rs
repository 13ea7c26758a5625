//! A real Prometheus (Debian's 2.42) remote-writes to the router
//! (SPEC §4.1 "Ingest": it accepts remote_write from Prometheus).
//!
//! Prometheus scrapes itself every second and sends everything to the
//! router's `/api/v1/write`; the router evaluates `up{job="prometheus"}`
//! from those samples, so the `PromUp` alert firing proves the samples
//! arrived, were decoded and stored under the right labels.
//!
//! Then the router's Prometheus query API answers the same instant, range,
//! series and label queries as that Prometheus does on the same data.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{
    free_port, get_text, http, metric_samples, now_ms, peer, Proc, Router, START_TIMEOUT,
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

    query_api_agrees_with_prometheus(&client, r.port, prom_port);
}

/// `GET http://127.0.0.1:port<path>?<params>` as JSON.
fn api(
    client: &reqwest::blocking::Client,
    port: u16,
    path: &str,
    params: &[(&str, String)],
) -> Value {
    let url = format!("http://127.0.0.1:{port}{path}?{params:?}");
    let resp = client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .query(params)
        .send()
        .expect("query API request");
    let status = resp.status();
    let body: Value = resp.json().expect("query API JSON");
    assert!(status.is_success(), "{url}: {status} {body}");
    assert_eq!(body["status"], "success", "{url}: {body}");
    body["data"].clone()
}

/// A result with its series sorted by labels (the API's order is not
/// specified for vectors).
fn sorted(mut v: Value) -> Value {
    if let Some(a) = v.as_array_mut() {
        a.sort_by_key(|s| s.to_string());
    } else if matches!(v["resultType"].as_str(), Some("vector" | "matrix")) {
        if let Some(a) = v["result"].as_array_mut() {
            a.sort_by_key(|s| s["metric"].to_string());
        }
    }
    v
}

fn query_api_agrees_with_prometheus(client: &reqwest::blocking::Client, ours: u16, prom: u16) {
    // A few seconds of history on the router (Prometheus has at least as
    // much), then a moment both have.
    let history = [(
        "query",
        r#"count_over_time(up{job="prometheus"}[10s])"#.to_string(),
    )];
    crate::harness::wait_until(
        "8 s of history on the router",
        Duration::from_secs(30),
        || {
            let n = api(client, ours, "/api/v1/query", &history)["result"][0]["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())?;
            (n >= 8.0).then_some(())
        },
    );
    let t = (now_ms() - 2_000) / 1000;
    for q in [
        r#"up{job="prometheus"}"#,
        r#"count by (job) (up{job="prometheus"})"#,
        r#"prometheus_build_info{job="prometheus"}"#,
        r#"up{job="prometheus"} * 2 + 0.5"#,
        r#"absent(up{job="nope"})"#,
        "scalar(vector(3))",
        r#"up{job="nope"}"#,
    ] {
        let p = [("query", q.to_string()), ("time", t.to_string())];
        let (a, b) = (
            sorted(api(client, ours, "/api/v1/query", &p)),
            sorted(api(client, prom, "/api/v1/query", &p)),
        );
        assert_eq!(a, b, "instant {q} at {t}: ours vs Prometheus");
    }
    let p = [
        ("query", r#"up{job="prometheus"}"#.to_string()),
        ("start", (t - 3).to_string()),
        ("end", t.to_string()),
        ("step", "1".to_string()),
    ];
    let (a, b) = (
        sorted(api(client, ours, "/api/v1/query_range", &p)),
        sorted(api(client, prom, "/api/v1/query_range", &p)),
    );
    assert_eq!(a, b, "range query: ours vs Prometheus");
    assert_eq!(a["result"][0]["values"].as_array().map(Vec::len), Some(4));
    let p = [
        ("match[]", r#"up{job="prometheus"}"#.to_string()),
        ("start", (t - 3).to_string()),
        ("end", t.to_string()),
    ];
    assert_eq!(
        sorted(api(client, ours, "/api/v1/series", &p)),
        sorted(api(client, prom, "/api/v1/series", &p)),
        "series"
    );
    let jobs = api(client, ours, "/api/v1/label/job/values", &[]);
    assert!(
        jobs.as_array()
            .is_some_and(|j| j.iter().any(|v| v == "prometheus")),
        "job values: {jobs}"
    );
    let names = api(client, ours, "/api/v1/labels", &[]);
    assert!(
        names
            .as_array()
            .is_some_and(|n| n.iter().any(|v| v == "__name__")),
        "label names: {names}"
    );
    // Bad input: Prometheus's error shape.
    let resp = client
        .get(format!("http://127.0.0.1:{ours}/api/v1/query?query=sum(up"))
        .send()
        .expect("bad query");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().expect("error JSON");
    assert_eq!(body["errorType"], "bad_data", "{body}");
}
