//! Route matching, option inheritance, Alertmanager's route keys, and the
//! `amtool config routes` output (checked against the real amtool).

use std::process::Command;

use watchfire_alertmodel::{GroupBy, LabelSet, Routing};
use watchfire_amconfig::{
    format_routes_show, format_routes_test, load_str, parse_label_args, Config,
};

const TREE: &str = r#"
route:
  receiver: root
  group_by: [alertname]
  group_wait: 10s
  escalation_policy: base
  routes:
    - matchers: ['team="db"', 'severity=~"critical|high"']
      receiver: db-pager
      group_interval: 1m
      continue: true
      routes:
        - match: {env: prod}
          receiver: db-prod
          group_by: ['...']
          escalation_policy: urgent
        - match_re: {env: 'stag.*'}
          group_by: []
          repeat_interval: 1h
    - matchers: ['team="db"']
      receiver: db-mail
      group_by: [cluster, alertname]
    - matchers: ['team=~".+"']
      receiver: teams
receivers:
  - name: root
  - name: db-pager
  - name: db-prod
  - name: db-mail
  - name: teams
escalation_policies:
  - name: base
    steps: [{after: 0s, notify: [root]}]
  - name: urgent
    steps: [{after: 0s, notify: [db-pager]}, {after: 15m, notify: [root]}]
    repeat: 2
"#;

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn cfg() -> Config {
    load_str(TREE, "tree.yml").unwrap()
}

/// `expect`: (receiver, route_key, group_by, group_wait, group_interval,
/// repeat_interval, policy) of each matched route, in order.
#[allow(clippy::type_complexity)]
fn check(ls: &[(&str, &str)], expect: &[(&str, &str, GroupBy, i64, i64, i64, Option<&str>)]) {
    let c = cfg();
    let got = c.route.route(&labels(ls));
    let got: Vec<_> = got
        .iter()
        .map(|o| {
            (
                o.receiver.as_str(),
                o.route_key.as_str(),
                o.group_by.clone(),
                o.group_wait,
                o.group_interval,
                o.repeat_interval,
                o.escalation_policy.as_deref(),
            )
        })
        .collect();
    assert_eq!(got, expect, "labels {ls:?}");
}

fn by(l: &[&str]) -> GroupBy {
    GroupBy::Labels(l.iter().map(|s| s.to_string()).collect())
}

#[test]
fn matching_and_inheritance() {
    const DB: &str = r#"{}/{severity=~"critical|high",team="db"}"#;
    check(
        &[("x", "y")],
        &[(
            "root",
            "{}",
            by(&["alertname"]),
            10_000,
            300_000,
            14_400_000,
            Some("base"),
        )],
    );
    check(
        &[("team", "db"), ("severity", "high"), ("env", "prod")],
        &[
            (
                "db-prod",
                &format!(r#"{DB}/{{env="prod"}}"#),
                GroupBy::All,
                10_000,
                60_000,
                14_400_000,
                Some("urgent"),
            ),
            (
                "db-mail",
                r#"{}/{team="db"}"#,
                by(&["cluster", "alertname"]),
                10_000,
                300_000,
                14_400_000,
                Some("base"),
            ),
        ],
    );
    // `group_by: []` inherits in Alertmanager 0.25; repeat_interval set here.
    check(
        &[("team", "db"), ("severity", "critical"), ("env", "staging")],
        &[
            (
                "db-pager",
                &format!(r#"{DB}/{{env=~"^(?:stag.*)$"}}"#),
                by(&["alertname"]),
                10_000,
                60_000,
                3_600_000,
                Some("base"),
            ),
            (
                "db-mail",
                r#"{}/{team="db"}"#,
                by(&["cluster", "alertname"]),
                10_000,
                300_000,
                14_400_000,
                Some("base"),
            ),
        ],
    );
    // Matches the first route but none of its children: the node itself.
    check(
        &[("team", "db"), ("severity", "high")],
        &[
            (
                "db-pager",
                DB,
                by(&["alertname"]),
                10_000,
                60_000,
                14_400_000,
                Some("base"),
            ),
            (
                "db-mail",
                r#"{}/{team="db"}"#,
                by(&["cluster", "alertname"]),
                10_000,
                300_000,
                14_400_000,
                Some("base"),
            ),
        ],
    );
    check(
        &[("team", "web")],
        &[(
            "teams",
            r#"{}/{team=~".+"}"#,
            by(&["alertname"]),
            10_000,
            300_000,
            14_400_000,
            Some("base"),
        )],
    );
}

#[test]
fn route_ids_are_unique_keys_with_positions() {
    let c = cfg();
    let mut ids = Vec::new();
    c.route.root.walk(&mut |n| ids.push(n.id.clone()));
    assert_eq!(
        ids,
        [
            "{}",
            r#"{}/{severity=~"critical|high",team="db"}/0"#,
            r#"{}/{severity=~"critical|high",team="db"}/{env="prod"}/0"#,
            r#"{}/{severity=~"critical|high",team="db"}/{env=~"^(?:stag.*)$"}/1"#,
            r#"{}/{team="db"}/1"#,
            r#"{}/{team=~".+"}/2"#,
        ]
    );
}

#[test]
fn routes_show_and_test_text() {
    let c = cfg();
    let show = format_routes_show(&c);
    assert_eq!(
        show,
        "Routing tree:\n.\n└── default-route  receiver: root\n    ├── {severity=~\"critical|high\",team=\"db\"}  continue: true  receiver: db-pager\n    │\u{a0}\u{a0} ├── {env=\"prod\"}  receiver: db-prod\n    │\u{a0}\u{a0} └── {env=~\"^(?:stag.*)$\"}  receiver: db-pager\n    ├── {team=\"db\"}  receiver: db-mail\n    └── {team=~\".+\"}  receiver: teams\n\n"
    );
    let ls = parse_label_args(&["team=db", "severity=high", "env=prod"]).unwrap();
    let out = format_routes_test(&c, &ls, true, Some("db-prod,db-mail"));
    assert!(out.ok);
    assert_eq!(
        out.stdout,
        "Matching routes:\n.\n└── default-route\n    ├── {severity=~\"critical|high\",team=\"db\"}\n    │\u{a0}\u{a0} └── {env=\"prod\"}  receiver: db-prod\n    └── {team=\"db\"}  receiver: db-mail\n\n\ndb-prod,db-mail\n"
    );
    let bad = format_routes_test(&c, &ls, false, Some("db-prod"));
    assert!(!bad.ok);
    assert!(bad
        .stdout
        .ends_with("WARNING: Expected receivers did not match resolved receivers.\n"));
    assert!(parse_label_args(&["team!=db"]).is_err());
}

/// Compares with the real `amtool` 0.25 on the upstream example config
/// (without its `tracing:` section, which 0.25 does not know).
#[test]
fn routes_output_matches_real_amtool() {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/alertmanager/simple.yml"
    ))
    .unwrap();
    let text = src.split("\ntracing:").next().unwrap();
    let dir = std::env::temp_dir().join(format!("amconfig-amtool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("simple.yml");
    std::fs::write(&file, text).unwrap();
    let cfg = load_str(text, "simple.yml").unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("amtool")
            .args(["config", "routes"])
            .args(args)
            .arg(format!("--config.file={}", file.display()))
            .output()
            .expect("amtool not found: install Debian's prometheus-alertmanager (apt-get install prometheus-alertmanager)");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(format_routes_show(&cfg), run(&["show"]));
    for ls in [
        vec!["service=database", "owner=team-X"],
        vec!["service=files", "severity=critical"],
        vec!["service=foo2"],
        vec!["nothing=here"],
    ] {
        let mut args = vec!["test", "--tree"];
        args.extend(ls.iter().copied());
        let labels = parse_label_args(&ls).unwrap();
        assert_eq!(
            format_routes_test(&cfg, &labels, true, None).stdout,
            run(&args),
            "{ls:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
