//! Delivery to a real Alertmanager (Debian's `prometheus-alertmanager`),
//! checked through its v2 API and through `amtool`. The binaries must be
//! installed (CI installs them); a missing binary fails the test.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use watchfire_router::notify::alertmanager::{AlertmanagerClient, AlertmanagerConfig};
use watchfire_router::notify::{
    format_rfc3339_millis, now_millis, Alert, AlertSink, NotifyMetrics,
};

use super::common::{alert, poll_until};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
const AMTOOL: &str = "/usr/bin/amtool";

/// Kills the child process when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn require(bin: &str) {
    assert!(
        Path::new(bin).exists(),
        "{bin} is missing: install Debian's prometheus-alertmanager package \
         (apt-get install -y prometheus-alertmanager); .ci/run does this"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_alertmanager(dir: &Path) -> (Killed, String) {
    require(ALERTMANAGER);
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(ALERTMANAGER)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {ALERTMANAGER}: {e}"));
    (Killed(child), format!("http://127.0.0.1:{port}"))
}

/// `GET /api/v2/alerts` as JSON.
async fn api_alerts(base: &str) -> Vec<serde_json::Value> {
    let resp = reqwest::get(format!("{base}/api/v2/alerts")).await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap()
}

/// `amtool alert query -o json`: the alertnames it lists.
async fn amtool_alertnames(base: &str) -> Vec<String> {
    require(AMTOOL);
    let out = tokio::process::Command::new(AMTOOL)
        .args([
            "alert",
            "query",
            "-o",
            "json",
            &format!("--alertmanager.url={base}"),
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "amtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "amtool output {:?}: {e}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let mut names: Vec<String> = v
        .iter()
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

fn find<'a>(alerts: &'a [serde_json::Value], name: &str) -> Option<&'a serde_json::Value> {
    alerts.iter().find(|a| a["labels"]["alertname"] == name)
}

fn check_listed(listed: &[serde_json::Value], sent: &Alert) {
    let got = find(listed, sent.name())
        .unwrap_or_else(|| panic!("{} not listed in {listed:?}", sent.name()));
    let labels: std::collections::BTreeMap<String, String> =
        serde_json::from_value(got["labels"].clone()).unwrap();
    let annotations: std::collections::BTreeMap<String, String> =
        serde_json::from_value(got["annotations"].clone()).unwrap();
    assert_eq!(labels, sent.labels);
    assert_eq!(annotations, sent.annotations);
    assert_eq!(got["startsAt"], format_rfc3339_millis(sent.starts_at));
    assert_eq!(got["generatorURL"], sent.generator_url.as_str());
    assert_eq!(got["status"]["state"], "active");
}

#[tokio::test]
async fn real_alertmanager_lists_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let (_am, base) = start_alertmanager(dir.path());
    let ready_url = format!("{base}/-/ready");
    poll_until(Duration::from_secs(20), "Alertmanager /-/ready", || {
        let url = ready_url.clone();
        async move {
            reqwest::get(&url)
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        }
    })
    .await;

    let now = now_millis();
    let firing = vec![
        alert(
            &[
                ("alertname", "WatchfireHighLatency"),
                ("job", "api"),
                ("severity", "page"),
            ],
            &[
                ("summary", "p99 latency is 2s"),
                ("runbook_url", "https://runbooks/latency"),
            ],
            now - 60_000,
            Some(now + 3_600_000),
        ),
        alert(
            &[
                ("alertname", "WatchfireDiskFull"),
                ("instance", "node-1:9100"),
            ],
            &[("summary", "disk 95%")],
            now - 5_000,
            Some(now + 3_600_000),
        ),
    ];
    let metrics = NotifyMetrics::unregistered().unwrap();
    let cfg = AlertmanagerConfig {
        urls: vec![base.clone()],
        ..AlertmanagerConfig::default()
    };
    let client = AlertmanagerClient::new(cfg, metrics.clone()).unwrap();
    client.send(&firing).await.unwrap();
    assert_eq!(
        metrics
            .sent
            .with_label_values(&[&format!("{base}/api/v2/alerts")])
            .get(),
        2
    );

    let listed = api_alerts(&base).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    for a in &firing {
        check_listed(&listed, a);
    }
    let b = base.clone();
    let names = poll_until(
        Duration::from_secs(10),
        "amtool to list both alerts",
        || {
            let b = b.clone();
            async move { Some(amtool_alertnames(&b).await).filter(|n| n.len() == 2) }
        },
    )
    .await;
    assert_eq!(names, ["WatchfireDiskFull", "WatchfireHighLatency"]);

    // Resolve the first one only.
    let mut resolved = firing[0].clone();
    resolved.ends_at = Some(now_millis() - 1_000);
    client.send(std::slice::from_ref(&resolved)).await.unwrap();
    let listed = api_alerts(&base).await;
    assert!(
        find(&listed, "WatchfireHighLatency").is_none(),
        "resolved alert still listed: {listed:?}"
    );
    check_listed(&listed, &firing[1]);
    assert_eq!(amtool_alertnames(&base).await, ["WatchfireDiskFull"]);
}
