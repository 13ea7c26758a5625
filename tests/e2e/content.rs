//! The shipped content (SPEC §5): `rules/`, `docs/runbooks/`,
//! `dashboards/` and `deploy/`.
//!
//! - Every alert has a `severity` label and `summary`, `description` and
//!   `runbook_url` annotations, and its runbook section exists with causes,
//!   checks, resolution and escalation (the promtool/`test-rules` runs of
//!   the same files are in [`crate::promtool_compare`]).
//! - Every dashboard query parses with our PromQL parser (after Grafana's
//!   variables are substituted) and names only metrics the project emits
//!   or ingests. The list comes from running processes: a real
//!   `watchfire router` and `watchfire agent`, their `/metrics`, and every
//!   metric name in the router's store (listed by a rule that turns each
//!   name into an alert); plus the names the shipped recording rules
//!   record. Names of pipelines that are only proposed are in [`PROPOSED`],
//!   each with its reason.
//! - Every Kubernetes manifest of `deploy/` validates against the
//!   Kubernetes OpenAPI schemas (`kubernetes-validate`, from PyPI; `.ci/run`
//!   installs it), and the configs the manifests mount pass
//!   `watchfire check-config` and `watchfire routes show`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;
use watchfire_promql::ast::{Expr, VectorSelector};
use watchfire_promql::MatchOp;
use watchfire_rulefmt::yaml::{Node, NodeKind};
use watchfire_rulefmt::RuleKind;

use crate::harness::{free_port, get_text, http, run, watchfire, Proc, Router};

/// Metric names the dashboards use that no code emits yet, with the
/// reason each is allowed. Keep this list short: a name leaves it as soon
/// as its pipeline lands (the test prints the ones that have).
const PROPOSED: &[(&str, &str)] = &[];

/// The alert severities routes and escalation policies know.
const SEVERITIES: &[&str] = &["critical", "high", "medium", "low"];

const RUNBOOK_BASE: &str = "https://github.com/watchfire-dev/watchfire/blob/main/docs/runbooks/";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Files in `dir` (relative to the repository) ending with one of `exts`, sorted.
fn files(dir: &str, exts: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("reading {dir}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            exts.iter().any(|x| n.ends_with(x))
        })
        .collect();
    out.sort();
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn rule_files() -> Vec<watchfire_rulefmt::RuleFile> {
    files("rules", &[".yml", ".yaml"])
        .iter()
        .map(|p| {
            let path = p.display().to_string();
            watchfire_rulefmt::parse_rule_file(&path, &read(p))
                .unwrap_or_else(|e| panic!("{path}: {e:?}"))
        })
        .collect()
}

// --- rules and runbooks ---------------------------------------------------

/// The `## Name` sections of a runbook file: name → body.
fn runbook_sections(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut cur: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            if let Some((n, b)) = cur.take() {
                out.insert(n, b);
            }
            cur = Some((h.trim().to_string(), String::new()));
        } else if let Some((_, b)) = cur.as_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    if let Some((n, b)) = cur {
        out.insert(n, b);
    }
    out
}

/// What is wrong with one alert's labels, annotations and runbook.
fn alert_problems(
    alert: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    runbooks: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<String> {
    let mut p = Vec::new();
    match labels.get("severity") {
        Some(s) if SEVERITIES.contains(&s.as_str()) => {}
        other => p.push(format!(
            "{alert}: severity label {other:?} is not one of {SEVERITIES:?}"
        )),
    }
    // SPEC §5: a `severity` annotation; the label of the same value is
    // what routes and escalation policies match on.
    if annotations.get("severity") != labels.get("severity") {
        p.push(format!(
            "{alert}: severity annotation {:?} differs from its label {:?}",
            annotations.get("severity"),
            labels.get("severity")
        ));
    }
    for a in ["summary", "description", "runbook_url"] {
        if annotations.get(a).is_none_or(|v| v.trim().is_empty()) {
            p.push(format!("{alert}: no `{a}` annotation"));
        }
    }
    let Some(url) = annotations.get("runbook_url") else {
        return p;
    };
    let want_anchor = alert.to_lowercase();
    let Some((file, anchor)) = url
        .strip_prefix(RUNBOOK_BASE)
        .and_then(|r| r.split_once('#'))
    else {
        p.push(format!(
            "{alert}: runbook_url {url} is not {RUNBOOK_BASE}<file>.md#<anchor>"
        ));
        return p;
    };
    if anchor != want_anchor {
        p.push(format!(
            "{alert}: runbook anchor #{anchor}, want #{want_anchor}"
        ));
    }
    match runbooks.get(file).and_then(|s| s.get(alert)) {
        None => p.push(format!(
            "{alert}: docs/runbooks/{file} has no `## {alert}` section"
        )),
        Some(body) => {
            for part in [
                "**Causes:**",
                "**Checks:**",
                "**Resolution:**",
                "**Escalate**",
            ] {
                if !body.contains(part) {
                    p.push(format!(
                        "{alert}: its runbook section in {file} lacks {part}"
                    ));
                }
            }
        }
    }
    p
}

#[test]
fn alerts_have_severity_annotations_and_runbook_sections() {
    let runbooks: BTreeMap<String, BTreeMap<String, String>> = files("docs/runbooks", &[".md"])
        .iter()
        .map(|p| {
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .to_string();
            (name, runbook_sections(&read(p)))
        })
        .collect();
    let mut problems = Vec::new();
    let mut alerts = BTreeSet::new();
    for f in rule_files() {
        for g in &f.groups {
            for r in &g.rules {
                if let RuleKind::Alerting {
                    alert, annotations, ..
                } = &r.kind
                {
                    let mut labels = g.labels.clone();
                    labels.extend(r.labels.clone());
                    problems.extend(alert_problems(alert, &labels, annotations, &runbooks));
                    alerts.insert(alert.clone());
                }
            }
        }
    }
    // Every runbook section belongs to a shipped alert.
    for (file, sections) in &runbooks {
        for name in sections.keys() {
            if !alerts.contains(name) {
                problems.push(format!(
                    "docs/runbooks/{file}: section `{name}` has no alert"
                ));
            }
        }
    }
    assert!(
        alerts.len() >= 30,
        "only {} alerts found in rules/",
        alerts.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checker itself: a table of broken alerts, each with the problem it
/// must report.
#[test]
fn alert_checker_reports_each_problem() {
    let sections = BTreeMap::from([
        (
            "Good".to_string(),
            "- **Causes:** x\n- **Checks:** x\n- **Resolution:** x\n- **Escalate** x\n".to_string(),
        ),
        ("Thin".to_string(), "- **Causes:** x\n".to_string()),
    ]);
    let runbooks = BTreeMap::from([("r.md".to_string(), sections)]);
    // Annotations with a severity (none when `s` is empty) and a runbook.
    let ann = |s: &str, url: &str| {
        let mut a = BTreeMap::from([
            ("summary".to_string(), "s".to_string()),
            ("description".to_string(), "d".to_string()),
            ("runbook_url".to_string(), url.to_string()),
        ]);
        if !s.is_empty() {
            a.insert("severity".to_string(), s.to_string());
        }
        a
    };
    let sev = |s: &str| BTreeMap::from([("severity".to_string(), s.to_string())]);
    let check = |alert: &str, labels, annotations, want: &[&str]| {
        let got = alert_problems(alert, &labels, &annotations, &runbooks);
        assert_eq!(got.len(), want.len(), "{alert}: {got:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(g.contains(w), "{alert}: {g:?} does not mention {w:?}");
        }
    };
    let url = |a: &str| format!("{RUNBOOK_BASE}r.md#{a}");
    check("Good", sev("high"), ann("high", &url("good")), &[]);
    check(
        "Good",
        sev("page"),
        ann("page", &url("good")),
        &["severity label"],
    );
    check(
        "Good",
        BTreeMap::new(),
        ann("", &url("good")),
        &["severity label"],
    );
    check(
        "Good",
        sev("high"),
        ann("", &url("good")),
        &["severity annotation"],
    );
    check(
        "Good",
        sev("high"),
        ann("low", &url("good")),
        &["severity annotation"],
    );
    check(
        "Good",
        sev("low"),
        sev("low"),
        &["summary", "description", "runbook_url"],
    );
    check("Good", sev("low"), ann("low", &url("other")), &["anchor"]);
    check(
        "Good",
        sev("low"),
        ann("low", "https://example.com/x"),
        &["is not"],
    );
    check(
        "Missing",
        sev("low"),
        ann("low", &url("missing")),
        &["no `## Missing` section"],
    );
    check(
        "Thin",
        sev("low"),
        ann("low", &url("thin")),
        &["Checks", "Resolution", "Escalate"],
    );
}

/// The YAML node of key `k` in a mapping.
fn get<'a>(n: &'a Node, k: &str) -> Option<&'a Node> {
    match &n.kind {
        NodeKind::Map(kv) => kv.iter().find_map(|(key, v)| match &key.kind {
            NodeKind::Scalar { value, .. } if value == k => Some(v),
            _ => None,
        }),
        _ => None,
    }
}

fn scalars(n: Option<&Node>) -> Vec<String> {
    match n.map(|n| &n.kind) {
        Some(NodeKind::Seq(items)) => items
            .iter()
            .filter_map(|i| match &i.kind {
                NodeKind::Scalar { value, .. } => Some(value.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn yaml(p: &Path) -> Node {
    watchfire_rulefmt::yaml::parse(&read(p))
        .unwrap_or_else(|e| panic!("{}: {e:?}", p.display()))
        .unwrap_or_else(|| panic!("{}: empty YAML", p.display()))
}

/// `files:` of every `configMapGenerator` entry of a kustomization.
fn generator_files(k: &Node) -> Vec<String> {
    match get(k, "configMapGenerator").map(|n| &n.kind) {
        Some(NodeKind::Seq(gens)) => gens.iter().flat_map(|g| scalars(get(g, "files"))).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn rules_configmap_lists_every_rule_file() {
    let listed: BTreeSet<String> = generator_files(&yaml(&repo().join("rules/Kustomization")))
        .into_iter()
        .collect();
    let present: BTreeSet<String> = files("rules", &[".yml", ".yaml"])
        .iter()
        .map(|p| {
            p.file_name()
                .expect("file name")
                .to_string_lossy()
                .to_string()
        })
        .collect();
    assert_eq!(
        listed, present,
        "rules/Kustomization must list exactly the rule files"
    );
}

// --- dashboards -----------------------------------------------------------

/// Grafana's variables replaced by values that parse: built-in intervals
/// by durations, every other `$name` / `${name...}` by a word (they only
/// appear inside label values here).
fn substitute(expr: &str) -> String {
    let s = expr
        .replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h");
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        if it.peek() == Some(&'{') {
            for c in it.by_ref() {
                if c == '}' {
                    break;
                }
            }
        } else {
            while it
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                it.next();
            }
        }
        out.push_str("var");
    }
    out
}

fn selector_name(vs: &VectorSelector) -> Option<String> {
    vs.name.clone().or_else(|| {
        vs.matchers
            .iter()
            .find(|m| m.name == "__name__" && m.op == MatchOp::Equal)
            .map(|m| m.value.clone())
    })
}

/// Every metric name an expression selects.
fn metric_names(e: &Expr, out: &mut BTreeSet<String>) {
    match e {
        Expr::Number { .. } | Expr::String { .. } => {}
        Expr::VectorSelector(vs) | Expr::MatrixSelector { vs, .. } => {
            if let Some(n) = selector_name(vs) {
                out.insert(n);
            }
        }
        Expr::Subquery { expr, .. } | Expr::Unary { expr, .. } | Expr::Paren { expr, .. } => {
            metric_names(expr, out)
        }
        Expr::Call { args, .. } => args.iter().for_each(|a| metric_names(a, out)),
        Expr::Aggregate { expr, param, .. } => {
            metric_names(expr, out);
            if let Some(p) = param {
                metric_names(p, out);
            }
        }
        Expr::Binary { lhs, rhs, .. } => {
            metric_names(lhs, out);
            metric_names(rhs, out);
        }
    }
}

/// Every query of a dashboard: panel targets (rows' nested panels too) and
/// the metric of each `label_values(metric, label)` variable.
fn dashboard_queries(d: &Value) -> Vec<(String, String)> {
    fn panels(ps: &Value, out: &mut Vec<(String, String)>) {
        for p in ps.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push((title.clone(), e.to_string()));
                }
            }
            panels(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    panels(&d["panels"], &mut out);
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        let q = v["query"]["query"]
            .as_str()
            .or(v["query"].as_str())
            .unwrap_or("");
        if let Some(args) = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
        {
            let metric = args.rsplit_once(',').map_or(args, |(m, _)| m);
            out.push((format!("variable {}", v["name"]), metric.trim().to_string()));
        }
    }
    out
}

/// Metric names on a `/metrics` page.
fn exposition_names(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Each name in the router's store becomes one alert with label `name`.
/// `ALERTS` apart: relabelling the alerts' own series would make them
/// collide.
const NAMES_RULE: &str = r#"groups:
  - name: metric-names
    rules:
      - alert: MetricName
        expr: |
          count by (name) (label_replace({__name__=~".+", __name__!~"ALERTS|ALERTS_FOR_STATE"}, "name", "$1", "__name__", "(.+)"))
            or
          label_replace(count(ALERTS), "name", "ALERTS", "", "")
"#;

/// A real router (with its dispatcher notifying a webhook nobody listens
/// on, so that the notifier metrics exist) and a real agent shipping to it
/// (scraping a target nobody listens on, so that the scrape-failure
/// counters exist).
/// Returns the names they emit or hold once `needed` are all seen, or
/// after the deadline (then the caller reports what is missing).
fn emitted_names(needed: &BTreeSet<String>) -> BTreeSet<String> {
    let dead_port = free_port();
    let am = format!(
        "route:\n  receiver: hook\n  group_wait: 0s\n  group_interval: 1s\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:{dead_port}/\n"
    );
    let mut router = Router::new(&[("names.yml", NAMES_RULE)], "1s", "0s").with_dispatch(&am, None);
    router.start();
    let tmp = TempDir::new().expect("tempdir");
    let agent_port = free_port();
    let otlp_port = free_port();
    // The log pipeline reads one JSON line (a level, a service and an
    // email to redact) and the trace pipeline gets one span (posted in
    // the loop below), so that their metrics exist too.
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    std::fs::write(
        logs.join("app.log"),
        "{\"level\":\"error\",\"service\":\"api\",\"msg\":\"login failed for bob@example.com\"}\n",
    )
    .expect("writing app.log");
    let cfg = tmp.path().join("agent.yml");
    std::fs::write(
        &cfg,
        format!(
            "server: {{ listen_address: \"127.0.0.1:{agent_port}\" }}\nhost: {{ interval: 1s }}\nscrape_configs:\n  - job_name: dead\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    static_configs: [{{ targets: [\"127.0.0.1:{dead_port}\"] }}]\nremote_write:\n  url: {}\n  queue: {{ batch_send_deadline: 1s }}\n  buffer: {{ path: data/rw.redb }}\nlogs:\n  include: [\"{}/*.log\"]\n  format: json\n  checkpoint_path: data/logs.redb\n  sinks:\n    file: {{ path: data/logs.jsonl }}\ntraces:\n  grpc: {{ enabled: false }}\n  http: {{ listen_address: \"127.0.0.1:{otlp_port}\" }}\n  export: {{ endpoint: \"http://127.0.0.1:{dead_port}\", protocol: http }}\n",
            router.url("/api/v1/write"),
            logs.display()
        ),
    )
    .expect("writing agent.yml");
    let mut agent = Proc::spawn(
        "watchfire-agent",
        Command::new(watchfire())
            .args(["agent", "--config"])
            .arg(&cfg)
            .current_dir(tmp.path()),
        tmp.path(),
    );
    let client = http();
    let agent_metrics = format!("http://127.0.0.1:{agent_port}/metrics");
    let mut names = BTreeSet::new();
    let span = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "name": "GET /",
            "kind": 2,
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000000100000000",
            "status": {"code": 2}
        }]}]
    }]});
    let otlp = format!("http://127.0.0.1:{otlp_port}/v1/traces");
    let _ = crate::harness::poll(Duration::from_secs(60), || {
        agent.assert_running();
        if !names.contains("traces_span_metrics_calls_total") {
            let _ = client.post(&otlp).json(&span).send();
        }
        router.proc().assert_running();
        if let Some(p) = router.metrics() {
            names.extend(exposition_names(&p));
        }
        if let Some(p) = get_text(&client, &agent_metrics) {
            names.extend(exposition_names(&p));
        }
        for a in router.alerts().unwrap_or_default() {
            if a.name() == "MetricName" {
                names.extend(a.labels.get("name").cloned());
            }
        }
        needed.is_subset(&names).then_some(())
    });
    names
}

#[test]
fn dashboards_parse_and_use_only_emitted_metrics() {
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    let dashboards = files("dashboards", &[".json"]);
    assert!(
        dashboards.len() >= 4,
        "expected the four dashboards, found {dashboards:?}"
    );
    for p in &dashboards {
        let file = p
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .to_string();
        let d: Value = serde_json::from_str(&read(p)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
            "{file}: schemaVersion"
        );
        let vars: Vec<&str> = d["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["name"].as_str())
            .collect();
        assert!(
            vars.contains(&"datasource"),
            "{file}: no `datasource` variable"
        );
        let queries = dashboard_queries(&d);
        assert!(!queries.is_empty(), "{file}: no queries");
        for (panel, q) in queries {
            let text = substitute(&q);
            match watchfire_promql::parse(&text) {
                Err(e) => problems.push(format!(
                    "{file}, panel {panel:?}: {text:?} does not parse: {e}"
                )),
                Ok(e) => {
                    let mut names = BTreeSet::new();
                    metric_names(&e, &mut names);
                    if names.is_empty() {
                        problems.push(format!(
                            "{file}, panel {panel:?}: {text:?} selects no metric by name"
                        ));
                    }
                    for n in names {
                        used.entry(n).or_default().push(format!("{file}: {panel}"));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let recorded: BTreeSet<String> = rule_files()
        .iter()
        .flat_map(|f| f.groups.iter().flat_map(|g| g.rules.iter()))
        .filter_map(|r| match &r.kind {
            RuleKind::Recording { record } => Some(record.clone()),
            _ => None,
        })
        .collect();
    let proposed: BTreeSet<String> = PROPOSED.iter().map(|(n, _)| n.to_string()).collect();
    let needed: BTreeSet<String> = used
        .keys()
        .filter(|n| !recorded.contains(*n) && !proposed.contains(*n))
        .cloned()
        .collect();
    let emitted = emitted_names(&needed);
    // The processes really ran and shipped: host metrics reached the store.
    for n in [
        "up",
        "node_cpu_seconds_total",
        "watchfire_store_series",
        "watchfire_agent_remote_write_samples_sent_total",
    ] {
        assert!(
            emitted.contains(n),
            "{n} not seen from the running router and agent: {emitted:?}"
        );
    }
    let missing: Vec<String> = needed
        .iter()
        .filter(|n| !emitted.contains(*n))
        .map(|n| format!("{n} (used in {:?})", used[n]))
        .collect();
    assert!(
        missing.is_empty(),
        "dashboards use metrics nothing emits (not from the router, the agent, their store or rules/):\n{}",
        missing.join("\n")
    );
    for (n, why) in PROPOSED {
        assert!(
            used.contains_key(*n),
            "PROPOSED lists {n}, which no dashboard uses"
        );
        if emitted.contains(*n) {
            println!("note: {n} is emitted now; remove it from PROPOSED ({why})");
        }
    }
}

#[test]
fn substitution_and_name_extraction() {
    let check = |q: &str, want: &[&str]| {
        let e = watchfire_promql::parse(&substitute(q)).unwrap_or_else(|e| panic!("{q}: {e}"));
        let mut names = BTreeSet::new();
        metric_names(&e, &mut names);
        assert_eq!(names.into_iter().collect::<Vec<_>>(), want, "{q}");
    };
    check(
        "rate(a_total{service=~\"$service\"}[$__rate_interval])",
        &["a_total"],
    );
    check(
        "sum by (x) (b{i=~\"${instance:regex}\"}) / on (x) c",
        &["b", "c"],
    );
    check(
        "histogram_quantile(0.9, sum by (le) (rate(d_bucket[$__interval])))",
        &["d_bucket"],
    );
    check(
        "{__name__=\"e\"} offset 1h or max_over_time(f[1h:1m])",
        &["e", "f"],
    );
    check("topk(3, -g)", &["g"]);
    check("vector(1)", &[]);
}

// --- deploy ---------------------------------------------------------------

#[path = "content/deploy.rs"]
mod deploy;
#[path = "content/image.rs"]
mod image;
