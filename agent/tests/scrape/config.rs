//! Scrape config: defaults, and errors that name file:line:col.

use std::time::Duration;

use watchfire_agent::scrape::config::parse_str;
use watchfire_agent::scrape::discovery::file_sd::preflight;

#[test]
fn good_config_with_defaults() {
    let yaml = r#"
global:
  scrape_interval: 30s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["localhost:9100", "10.0.0.2:9100"]
        labels: {env: prod}
  - job_name: api
    scrape_interval: 5s
    metrics_path: /m
    scheme: https
    honor_labels: true
    params: {module: [http_2xx]}
    body_size_limit: 10MiB
    sample_limit: 1000
    relabel_configs:
      - source_labels: [__address__]
        regex: '(.*):.*'
        target_label: host
    metric_relabel_configs:
      - {regex: 'go_.*', source_labels: [__name__], action: drop}
    kubernetes_sd_configs:
      - role: pod
        api_server: http://127.0.0.1:8001
        node_name: node-a
        namespaces: {names: [default]}
        selectors: [{role: pod, label: "app=web"}]
"#;
    let jobs = parse_str(yaml, "agent.yaml").unwrap();
    assert_eq!(jobs.len(), 2);
    let node = &jobs[0];
    assert_eq!(node.scrape_interval, Duration::from_secs(30));
    assert_eq!(node.scrape_timeout, Duration::from_secs(10));
    assert_eq!(node.metrics_path, "/metrics");
    assert_eq!(node.scheme, "http");
    assert!(node.honor_timestamps);
    assert_eq!(node.static_configs[0].targets.len(), 2);
    assert_eq!(node.static_configs[0].labels.get("env"), "prod");
    let api = &jobs[1];
    // Timeout defaults to min(global timeout, interval).
    assert_eq!(api.scrape_timeout, Duration::from_secs(5));
    assert_eq!(api.body_size_limit, 10 << 20);
    assert_eq!(api.sample_limit, 1000);
    assert!(api.honor_labels);
    assert_eq!(api.relabel_configs.len(), 1);
    assert_eq!(api.metric_relabel_configs.len(), 1);
    let k = &api.kubernetes_sd_configs[0];
    assert_eq!(k.namespaces, vec!["default".to_string()]);
    assert_eq!(k.label_selector.as_deref(), Some("app=web"));
    assert!(k.annotations);
}

/// `(yaml, expected "file:line:col: message" prefix/substring)`.
#[test]
fn config_errors_name_their_place() {
    let cases = [
        ("scrape_configs:\n  - job_name: a\n    scrape_interval: 10x\n", "c.yml:3:22: invalid scrape_interval"),
        ("scrape_configs:\n  - job_name: a\n    scrape_interval: 10s\n    scrape_timeout: 20s\n", "c.yml:4:21: scrape_timeout greater than scrape_interval"),
        ("scrape_configs:\n  - job_name: a\n  - job_name: a\n", "c.yml:3:15: found multiple scrape configs"),
        ("scrape_configs:\n  - job_name: a\n    scheme: ftp\n", "c.yml:3:13: unknown scheme"),
        ("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [x]\n        regex: 'a(b'\n", "c.yml:5:16: invalid regular expression"),
        ("scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - action: replace\n", "c.yml:4:17: relabel action replace requires 'target_label'"),
        ("scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [targets.txt]\n", "c.yml:4:17: file_sd path"),
        ("scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n      - role: node\n", "c.yml:4:15: unsupported role"),
        ("scrape_configs:\n  - job_name: a\n    body_size_limit: lots\n", "c.yml:3:22: invalid body_size_limit"),
        ("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['http://x/y']\n", "c.yml:4:19: \"http://x/y\" is not a valid"),
        ("scrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n", "c.yml:3:"),
    ];
    for (yaml, want) in cases {
        let err = parse_str(yaml, "c.yml").expect_err(yaml).to_string();
        assert!(
            err.starts_with(want) || err.contains(want),
            "{yaml}\ngot:  {err}\nwant: {want}"
        );
    }
}

#[test]
fn unreadable_file_sd_path_is_a_startup_error_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let present = dir.path().join("ok.json");
    std::fs::write(&present, "[]").unwrap();
    let missing = dir.path().join("missing.json");
    let yaml = format!(
        "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files:\n          - {}\n          - {}\n          - {}/*.yml\n",
        present.display(),
        missing.display(),
        dir.path().display()
    );
    let jobs = parse_str(&yaml, "c.yml").unwrap();
    let err = preflight(&jobs, "c.yml").unwrap_err().to_string();
    assert!(err.starts_with("c.yml:6:13: file_sd path"), "{err}");
    assert!(err.contains("missing.json"), "{err}");

    let yaml_ok = format!(
        "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: ['{}', '{}/*.json']\n",
        present.display(),
        dir.path().display()
    );
    preflight(&parse_str(&yaml_ok, "c.yml").unwrap(), "c.yml").unwrap();
}
