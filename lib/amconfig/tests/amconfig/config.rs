//! Validation rules with Alertmanager's messages, error positions, receiver
//! defaults and global merging, secrets, and the escalation extension.

use watchfire_alertmodel::{parse_matchers, TimeIntervalSet};
use watchfire_amconfig::{
    default_policies, load_str, merge_defaults, severity_policy, ConfigError, SecretSource,
    SeverityReceivers,
};

/// `expect`: `Ok(())` or `Err("line:col: message fragment")`.
fn check(yaml: &str, expect: Result<(), &str>) {
    match (load_str(yaml, "c.yml"), expect) {
        (Ok(_), Ok(())) => {}
        (Err(e), Err(want)) => {
            let s = e.to_string();
            let (pos, frag) = want.split_once(' ').unwrap_or((want, ""));
            assert!(
                s.starts_with(&format!("c.yml:{pos}")),
                "{yaml}\n got: {s}\nwant: {want}"
            );
            assert!(s.contains(frag), "{yaml}\n got: {s}\nwant: {want}");
        }
        (got, want) => panic!("{yaml}\n got: {:?}\nwant: {want:?}", got.map(|_| ())),
    }
}

const R: &str = "receivers: [{name: r}]\n";

#[test]
fn alertmanager_rules() {
    check("", Err("1:1: no routes provided"));
    check(R, Err("1:1: no routes provided"));
    check(
        &format!("{R}route:\n  group_wait: 30s\n"),
        Err("3:3: root route must specify a default receiver"),
    );
    check(
        "route: {receiver: x}\nreceivers: [{name: y}]\n",
        Err("1:19: undefined receiver \"x\" used in route"),
    );
    check(
        &format!("{R}route:\n  receiver: r\n  routes:\n    - routes:\n        - receiver: nope\n"),
        Err("6:21: undefined receiver \"nope\" used in route"),
    );
    check(
        "route: {receiver: r}\nreceivers: [{name: r}, {name: r}]\n",
        Err("2:31: notification config name \"r\" is not unique"),
    );
    check(
        "route: {receiver: r}\nreceivers: [{name: ''}]\n",
        Err("2:20: missing name in receiver"),
    );
    check(
        &format!("{R}route: {{receiver: r, match: {{a: b}}}}\n"),
        Err("2:8: root route must not have any matchers"),
    );
    check(
        &format!("{R}route: {{receiver: r, matchers: ['a=b']}}\n"),
        Err("2:8: root route must not have any matchers"),
    );
    check(
        &format!("{R}route: {{receiver: r, continue: true}}\n"),
        Err("2:32: cannot have continue in root route"),
    );
    check(
        &format!("{R}route: {{receiver: r, group_interval: 0s}}\n"),
        Err("2:38: group_interval cannot be zero"),
    );
    check(
        &format!("{R}route: {{receiver: r, repeat_interval: 0s}}\n"),
        Err("2:39: repeat_interval cannot be zero"),
    );
    check(
        &format!("{R}route: {{receiver: r, group_wait: 5x}}\n"),
        Err("2:34: group_wait: unknown unit"),
    );
    check(
        &format!("{R}route: {{receiver: r, group_by: [a, b, a]}}\n"),
        Err("2:39: duplicated label \"a\" in group_by"),
    );
    check(
        &format!("{R}route: {{receiver: r, group_by: [a, '...']}}\n"),
        Err("2:32: cannot have wildcard group_by"),
    );
    check(
        &format!("{R}route: {{receiver: r, group_by: ['-x-']}}\n"),
        Err("2:33: invalid label name \"-x-\" in group_by list"),
    );
    check(
        &format!("{R}route: {{receiver: r, group_by: ['...']}}\n"),
        Ok(()),
    );
    check(
        &format!("{R}route: {{receiver: r, routes: [{{mute_time_intervals: [bh]}}]}}\n"),
        Err("2:54: undefined time interval \"bh\" used in route"),
    );
    check(
        &format!("{R}time_intervals: [{{name: bh}}]\nroute: {{receiver: r, active_time_intervals: [bh]}}\n"),
        Err("3:46: root route must not have any active time intervals"),
    );
    check(
        &format!("{R}mute_time_intervals: [{{name: d}}, {{name: d}}]\nroute: {{receiver: r}}\n"),
        Err("2:41: mute time interval \"d\" is not unique"),
    );
    check(
        &format!("{R}time_intervals: [{{time_intervals: []}}]\nroute: {{receiver: r}}\n"),
        Err("2:18: missing name in time interval"),
    );
    check(
        &format!("{R}route: {{receiver: r, routes: [{{matchers: ['a=~\"(\"']}}]}}\n"),
        Err("2:43: invalid regular expression"),
    );
    check(
        &format!("{R}route: {{receiver: r, routes: [{{match: {{'a-b': c}}}}]}}\n"),
        Err("2:39: invalid label name \"a-b\""),
    );
    check(
        &format!("{R}route: {{receiver: r}}\ninhibit_rules: [{{equal: ['a b']}}]\n"),
        Err("3:26: invalid label name \"a b\" in equal list"),
    );
    // serde: unknown fields and wrong types carry positions too.
    check(
        &format!("{R}route: {{receiver: r, recevier: x}}\n"),
        Err("2:22: unknown field `recevier`"),
    );
    check(
        &format!("{R}route: {{receiver: r}}\nglobal: {{smtp_smarthost: localhost}}\n"),
        Err("3:26: address localhost: missing port"),
    );
}

#[test]
fn receiver_rules() {
    let route = "route: {receiver: x}\n";
    let rcv = |body: &str| format!("{route}receivers:\n  - name: x\n{body}");
    check(
        &rcv("    webhook_configs: [{}]\n"),
        Err("4:23: one of url or url_file must be configured"),
    );
    check(
        &rcv("    webhook_configs: [{url: 'ftp://h/'}]\n"),
        Err("4:29: url: unsupported scheme \"ftp\" for URL"),
    );
    check(
        &rcv("    webhook_configs: [{url: 'not a url'}]\n"),
        Err("4:29: url: invalid URL \"not a url\": relative URL without a base"),
    );
    check(
        &rcv("    webhook_configs: [{url: 'http://h/', url_file: /f}]\n"),
        Err("4:23: at most one of url & url_file"),
    );
    check(
        &rcv("    pagerduty_configs: [{}]\n"),
        Err("4:25: missing service or routing key in PagerDuty config"),
    );
    check(
        &rcv("    pagerduty_configs: [{routing_key: a, routing_key_file: b}]\n"),
        Err("4:25: at most one of routing_key & routing_key_file"),
    );
    check(
        &rcv("    email_configs: [{to: a@b}]\n"),
        Err("4:21: no global SMTP smarthost set"),
    );
    check(
        &rcv("    email_configs: [{to: a@b, smarthost: 'h:25'}]\n"),
        Err("4:21: no global SMTP from set"),
    );
    check(
        &rcv("    email_configs: [{smarthost: 'h:25'}]\n"),
        Err("4:21: missing to address in email config"),
    );
    check(&rcv("    email_configs: [{to: a, from: b, smarthost: 'h:25', headers: {subject: x, Subject: y}}]\n"), Err("4:21: duplicate header \"Subject\""));
    check(
        &rcv("    slack_configs: [{api_url: 'http://h/', fields: [{title: t}]}]\n"),
        Err("4:53: missing value in Slack field"),
    );
    check(
        &rcv(
            "    slack_configs: [{app_token: t, http_config: {authorization: {credentials: c}}}]\n",
        ),
        Err("4:21: http authorization can't be set when using Slack App tokens"),
    );
    check(&rcv("    webhook_configs: [{url: 'http://h/', http_config: {bearer_token: a, bearer_token_file: b}}]\n"), Err("4:55: at most one of bearer_token & bearer_token_file"));
    check(&rcv("    opsgenie_configs: [{api_key: k}]\n"), Err("4:23: receiver \"x\": opsgenie_configs is not supported by Watchfire (supported: email, pagerduty, slack, webhook)"));
    check(
        &rcv("    discord_configs:\n      - webhook_url: 'http://h/'\n"),
        Err("5:7: receiver \"x\": discord_configs is not supported"),
    );
    let e = load_str(&rcv("    msteams_configs: []\n"), "c.yml").unwrap_err();
    assert!(
        matches!(e, ConfigError::Unsupported { ref kind, .. } if kind == "msteams_configs"),
        "{e}"
    );
}

#[test]
fn receivers_merge_globals_and_defaults() {
    let cfg = load_str(
        r#"
global:
  smtp_smarthost: 'mail:25'
  smtp_from: am@example.org
  smtp_auth_password_file: /run/pw
  slack_api_url: 'https://hooks.slack.com/x'
  pagerduty_url: 'https://pd.example/v2/enqueue'
  http_config: {follow_redirects: false}
route: {receiver: all}
receivers:
  - name: all
    email_configs: [{to: ops@example.org, auth_password: inline-pw}, {to: b@example.org, require_tls: false}]
    slack_configs: [{channel: '#c'}, {app_token: xoxb-1, channel: '#d', update_message: true}]
    pagerduty_configs: [{routing_key: rk, details: {firing: custom}}]
    webhook_configs: [{url: 'http://hook/', http_config: {proxy_url: 'http://p:3128'}}]
"#,
        "m.yml",
    )
    .unwrap();
    assert_eq!(cfg.global.resolve_timeout_ms, 300_000);
    let r = cfg.receiver("all").unwrap();
    assert_eq!(r.integration_count(), 6);
    let (e0, e1) = (&r.email_configs[0], &r.email_configs[1]);
    assert_eq!(
        (
            e0.smarthost.to_string(),
            e0.from.as_str(),
            e0.hello.as_str()
        ),
        ("mail:25".into(), "am@example.org", "localhost")
    );
    assert_eq!(
        e0.auth_password.as_ref().and_then(|s| s.inline()),
        Some("inline-pw")
    );
    assert_eq!(e1.auth_password, Some(SecretSource::File("/run/pw".into())));
    assert!(e0.require_tls && !e1.require_tls && !e0.send_resolved);
    assert_eq!(e0.headers["To"], "ops@example.org");
    assert_eq!(
        e0.headers["Subject"],
        r#"{{ template "email.default.subject" . }}"#
    );
    let (s0, s1) = (&r.slack_configs[0], &r.slack_configs[1]);
    assert_eq!(s0.api_url.inline(), Some("https://hooks.slack.com/x"));
    assert!(
        !s0.http_config.follow_redirects,
        "global http_config applies"
    );
    assert_eq!(
        s1.api_url.inline(),
        Some("https://slack.com/api/chat.postMessage")
    );
    assert_eq!(
        s1.http_config
            .authorization
            .as_ref()
            .map(|a| a.scheme.as_str()),
        Some("Bearer")
    );
    assert!(s1.update_message && !s1.send_resolved);
    let p = &r.pagerduty_configs[0];
    assert_eq!(p.url, "https://pd.example/v2/enqueue");
    assert_eq!(p.details["firing"], "custom");
    assert_eq!(p.details["num_firing"], "{{ .Alerts.Firing | len }}");
    assert_eq!(
        (p.severity.as_str(), p.source.as_str()),
        ("error", p.client.as_str())
    );
    assert!(p.send_resolved);
    let w = &r.webhook_configs[0];
    assert!(
        w.send_resolved && w.http_config.follow_redirects,
        "own http_config replaces the global one"
    );
    assert_eq!(w.http_config.proxy_url.as_deref(), Some("http://p:3128"));
    // Secrets never show in Debug output.
    let dbg = format!("{cfg:?}");
    assert!(
        !dbg.contains("inline-pw")
            && !dbg.contains("xoxb-1")
            && !dbg.contains("hooks.slack.com/x")
            && dbg.contains("<secret>")
    );
}

#[test]
fn inhibit_rules_and_templates() {
    let cfg = load_str(
        r#"
route: {receiver: r}
receivers: [{name: r}]
templates: ['tmpl/*.tmpl']
inhibit_rules:
  - source_match: {severity: critical}
    source_match_re: {team: 'a|b'}
    target_matchers: ['severity=~"warning|info"', 'x!=y']
    equal: [alertname]
"#,
        "/etc/am/am.yml",
    )
    .unwrap();
    let r = &cfg.inhibit_rules[0];
    assert_eq!(
        r.source,
        parse_matchers(r#"severity="critical",team=~"^(?:a|b)$""#).unwrap()
    );
    assert_eq!(
        r.target,
        parse_matchers(r#"severity=~"warning|info",x!="y""#).unwrap()
    );
    assert_eq!(r.equal, ["alertname"]);
    assert_eq!(
        cfg.templates,
        [std::path::PathBuf::from("/etc/am/tmpl/*.tmpl")]
    );
    assert_eq!(cfg.time_intervals.contains("none", 0), None);
}

#[test]
fn escalation_policies() {
    let base = "receivers: [{name: pd}, {name: slack}]\n";
    let ok = format!(
        "{base}route: {{receiver: slack, escalation_policy: crit, routes: [{{matchers: [a=b]}}]}}\nescalation_policies:\n  - name: crit\n    steps:\n      - {{after: 0m, notify: [pd, slack]}}\n      - {{after: 15m, notify: [pd]}}\n    repeat: 2\n"
    );
    let cfg = load_str(&ok, "e.yml").unwrap();
    let p = cfg.escalation_policy("crit").unwrap();
    assert_eq!(
        (p.steps.len(), p.steps[1].after_ms, p.repeat, p.round_ms()),
        (2, 900_000, 2, 900_000)
    );
    assert_eq!(
        cfg.route.root.routes[0].opts.escalation_policy.as_deref(),
        Some("crit"),
        "inherited"
    );
    check(
        &format!("{base}route: {{receiver: pd, escalation_policy: nope}}\n"),
        Err("2:42: undefined escalation policy \"nope\" used in route"),
    );
    let pol = |steps: &str| {
        format!(
            "{base}route: {{receiver: pd}}\nescalation_policies: [{{name: p, steps: {steps}}}]\n"
        )
    };
    check(
        &pol("[{after: 0m, notify: [ghost]}]"),
        Err("3:62: undefined receiver \"ghost\" used in escalation policy \"p\""),
    );
    check(
        &pol("[]"),
        Err("3:30: escalation policy \"p\" has no steps"),
    );
    check(
        &pol("[{after: 5m, notify: [pd]}, {after: 1m, notify: [pd]}]"),
        Err("3:76: ascending order"),
    );
    check(
        &pol("[{after: 0m, notify: []}]"),
        Err("3:41: escalation step has no receivers"),
    );
    check(
        &format!("{base}route: {{receiver: pd}}\nescalation_policies: [{{name: p, steps: [{{after: 0m, notify: [pd]}}]}}, {{name: p, steps: [{{after: 0m, notify: [pd]}}]}}]\n"),
        Err("3:77: escalation policy \"p\" is not unique"),
    );
}

#[test]
fn severity_defaults() {
    let r = SeverityReceivers {
        pager: "pd".into(),
        chat: "slack".into(),
        email: "mail".into(),
        escalation: "pd2".into(),
    };
    let mut configured = load_str(
        "receivers: [{name: pd}]\nroute: {receiver: pd}\nescalation_policies: [{name: high, steps: [{after: 0m, notify: [pd]}]}]\n",
        "s.yml",
    )
    .unwrap()
    .escalation_policies;
    merge_defaults(&mut configured, default_policies(&r));
    let names: Vec<_> = configured.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["high", "critical", "medium", "low"]);
    assert_eq!(configured[0].steps.len(), 1, "the user's policy wins");
    let crit = &configured[1];
    assert_eq!(
        (crit.steps[0].after_ms, &crit.steps[0].notify[..]),
        (0, &["pd".to_string(), "slack".to_string()][..])
    );
    assert_eq!(configured[2].steps[1].after_ms, 3_600_000);
    assert_eq!(configured[3].steps[0].notify, ["mail"]);
    for (sev, want) in [
        ("critical", Some("critical")),
        ("warning", Some("medium")),
        ("HIGH", Some("high")),
        ("info", Some("low")),
        ("x", None),
    ] {
        assert_eq!(severity_policy(sev), want, "{sev}");
    }
}

#[test]
fn severity_receivers_section() {
    const RS: &str = "receivers: [{name: pd}, {name: slack}, {name: mail}, {name: pd2}]\n";
    let base = format!("{RS}route:\n  receiver: pd\n  routes:\n    - matchers: ['severity=\"critical\"']\n      escalation_policy: critical\n");
    // Without the section, `critical` is undefined.
    check(&base, Err("6:26 undefined escalation policy"));
    let with = format!(
        "{base}severity_receivers: {{pager: pd, chat: slack, email: mail, escalation: pd2}}\n"
    );
    check(&with, Ok(()));
    let cfg = load_str(&with, "c.yml").unwrap();
    let names: Vec<_> = cfg
        .escalation_policies
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["critical", "high", "medium", "low"]);
    check(
        &format!(
            "{base}severity_receivers: {{pager: pd, chat: nope, email: mail, escalation: pd2}}\n"
        ),
        Err("7:39 undefined receiver \"nope\" used in severity_receivers.chat"),
    );
    check(
        &format!("{base}severity_receivers: {{pager: pd, chat: slack, email: mail}}\n"),
        Err("7:21 severity_receivers: missing `escalation`"),
    );
}
