//! The real `amtool` (Debian's 0.25) and a real `prometheus` against the
//! router's Alertmanager v2 API (SPEC §2 "Alerts in", §7).
//!
//! - `amtool alert add` / `alert query` post and list alerts;
//! - `amtool silence add` / `query` / `expire` manage silences, and a
//!   silenced alert shows as suppressed;
//! - writes without the bearer token are refused with 401;
//! - Prometheus, configured with the router as its Alertmanager (with the
//!   token), gets its alert delivered and listed.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{
    free_port, get_text, http, peer, run, wait_until, Proc, Router, START_TIMEOUT,
};

const TOKEN: &str = "s3cret-token";

const AM_YML: &str = "\
route:
  receiver: default
  group_wait: 1s
  group_interval: 2s
receivers:
  - name: default
";

fn amtool(r: &Router, args: &[&str]) -> crate::harness::Output {
    let http_cfg = r.dir.path().join("amtool-http.yml");
    std::fs::write(
        &http_cfg,
        format!("authorization:\n  type: Bearer\n  credentials: {TOKEN}\n"),
    )
    .expect("writing amtool http config");
    let url = format!("--alertmanager.url=http://127.0.0.1:{}/", r.port);
    let cfg = format!("--http.config.file={}", http_cfg.display());
    let mut all = vec![url.as_str(), cfg.as_str()];
    all.extend_from_slice(args);
    run(&peer("amtool"), &all, r.dir.path())
}

fn ok(out: &crate::harness::Output, what: &str) -> String {
    assert_eq!(out.code, 0, "{what} failed: {}{}", out.stdout, out.stderr);
    out.stdout.clone()
}

fn alerts_json(r: &Router) -> Vec<Value> {
    let body = get_text(&http(), &r.url("/api/v2/alerts")).expect("GET /api/v2/alerts");
    serde_json::from_str::<Value>(&body)
        .expect("alerts JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn amtool_lists_alerts_and_manages_silences() {
    let mut r = Router::new(&[], "1s", "0s").with_dispatch(AM_YML, Some(TOKEN));
    r.start();

    ok(
        &amtool(
            &r,
            &[
                "alert",
                "add",
                "alertname=DiskFull",
                "instance=db1",
                "severity=high",
                "--annotation=summary=disk full",
            ],
        ),
        "amtool alert add",
    );
    let listed = ok(&amtool(&r, &["alert", "query"]), "amtool alert query");
    assert!(listed.contains("DiskFull"), "amtool alert query: {listed}");

    let out = ok(
        &amtool(
            &r,
            &[
                "silence",
                "add",
                "alertname=DiskFull",
                "instance=~db.*",
                "--comment=maintenance",
                "--author=ops",
                "--duration=1h",
            ],
        ),
        "amtool silence add",
    );
    let id = out.trim().to_string();
    assert_eq!(id.len(), 36, "silence id should be a UUID: {out:?}");

    let q = ok(
        &amtool(&r, &["silence", "query", "-o", "json"]),
        "amtool silence query",
    );
    let silences: Value = serde_json::from_str(&q).expect("silence query JSON");
    let s = silences
        .as_array()
        .and_then(|a| a.iter().find(|s| s["id"] == id.as_str()))
        .unwrap_or_else(|| panic!("silence {id} not listed: {q}"));
    assert_eq!(s["status"]["state"], "active", "{s}");
    assert_eq!(s["createdBy"], "ops");

    // The alert is now suppressed by that silence.
    let a = wait_until("alert suppressed", Duration::from_secs(10), || {
        alerts_json(&r).into_iter().find(|a| {
            a["labels"]["alertname"] == "DiskFull" && a["status"]["state"] == "suppressed"
        })
    });
    assert_eq!(a["status"]["silencedBy"][0], id.as_str(), "{a}");

    ok(
        &amtool(&r, &["silence", "expire", &id]),
        "amtool silence expire",
    );
    let q = ok(
        &amtool(&r, &["silence", "query", "--expired", "-o", "json"]),
        "amtool silence query --expired",
    );
    assert!(q.contains(&id), "expired silence not listed: {q}");
    wait_until("alert active again", Duration::from_secs(10), || {
        alerts_json(&r)
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "DiskFull" && a["status"]["state"] == "active")
    });

    // Writes without the token are refused; reads are open.
    let resp = http()
        .post(r.url("/api/v2/alerts"))
        .json(&serde_json::json!([{"labels": {"alertname": "NoToken"}}]))
        .send()
        .expect("POST without token");
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().expect("JSON error body");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
}

const PROM_RULES: &str = "\
groups:
  - name: always
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          severity: low
";

#[test]
fn prometheus_delivers_alerts_to_the_router() {
    let prometheus = peer("prometheus");
    let mut r = Router::new(&[], "1s", "0s").with_dispatch(AM_YML, Some(TOKEN));
    r.start();

    let dir = r.dir.path();
    std::fs::write(dir.join("prom-rules.yml"), PROM_RULES).expect("writing rules");
    let prom_port = free_port();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files: [\"{}\"]\n\
             alerting:\n  alertmanagers:\n    - api_version: v2\n      authorization:\n        credentials: {TOKEN}\n      static_configs:\n        - targets: [\"127.0.0.1:{}\"]\n",
            dir.join("prom-rules.yml").display(),
            r.port
        ),
    )
    .expect("writing prometheus.yml");
    let mut prom = start_prometheus(&prometheus, &cfg, dir, prom_port);

    let a = wait_until("AlwaysFiring delivered", Duration::from_secs(30), || {
        alerts_json(&r)
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "AlwaysFiring")
    });
    assert_eq!(a["labels"]["severity"], "low", "{a}");
    assert!(
        a["generatorURL"]
            .as_str()
            .is_some_and(|u| u.contains(&prom_port.to_string())),
        "{a}"
    );
    prom.assert_running();
}

fn start_prometheus(bin: &Path, cfg: &Path, dir: &Path, port: u16) -> Proc {
    let mut prom = Proc::spawn(
        "prometheus",
        Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // The first send can precede notifier discovery (Prometheus then
            // drops it); resend every second instead of every minute.
            .arg("--rules.alert.resend-delay=1s"),
        dir,
    );
    let client = http();
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    prom.wait_until("prometheus /-/ready", START_TIMEOUT, || {
        get_text(&client, &ready)
    });
    prom
}

const RULE_ALWAYS: &str = "\
groups:
  - name: inproc
    rules:
      - alert: RuleFed
        expr: vector(1)
        labels:
          severity: medium
        annotations:
          summary: fed in process
";

/// The rule engine's alerts reach the dispatcher in process: a firing rule
/// shows up in `/api/v2/alerts` and `/api/v2/alerts/groups` with no
/// external Alertmanager configured.
#[test]
fn rule_engine_feeds_the_dispatcher_in_process() {
    let mut r =
        Router::new(&[("inproc.yml", RULE_ALWAYS)], "1s", "0s").with_dispatch(AM_YML, Some(TOKEN));
    r.start();
    let a = wait_until("RuleFed in /api/v2/alerts", Duration::from_secs(20), || {
        alerts_json(&r)
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "RuleFed")
    });
    assert_eq!(a["annotations"]["summary"], "fed in process", "{a}");
    assert_eq!(a["status"]["state"], "active", "{a}");
    assert_eq!(a["receivers"][0]["name"], "default", "{a}");
    let groups: Value = serde_json::from_str(
        &get_text(&http(), &r.url("/api/v2/alerts/groups")).expect("GET groups"),
    )
    .expect("groups JSON");
    assert!(
        groups
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g["alerts"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["labels"]["alertname"] == "RuleFed")))),
        "{groups}"
    );
}
