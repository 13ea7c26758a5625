//! Hot reload of rule files (SPEC §4.2 "Hot reload"): a broken rule file is
//! rejected with `file:line:col` and the old rules keep running; SIGHUP,
//! `POST /-/reload` and the file watch load a new valid file. Also the
//! positioned errors of `check-rules`, `check-config` and of `router` on a
//! bad config.

use std::process::Command;
use std::time::Duration;

use crate::harness::{http, peer, run, strip_ansi, watchfire, Proc, Router, START_TIMEOUT};

/// One recording rule and one always-firing alert.
const VALID: &str = "\
groups:
  - name: e2e
    rules:
      - record: e2e:one
        expr: vector(1)
      - alert: Always
        expr: vector(1)
        for: 0s
        labels:
          severity: test
";

/// A different valid file for the same group.
const REPLACED: &str = "\
groups:
  - name: e2e
    rules:
      - alert: Replaced
        expr: vector(2)
        for: 0s
";

/// A rule file that fails to load, and where the error must point.
struct Bad {
    what: &'static str,
    text: &'static str,
    /// Acceptable lines of the reported position.
    lines: std::ops::RangeInclusive<usize>,
    /// Acceptable columns of the reported position.
    cols: std::ops::RangeInclusive<usize>,
}

const BAD: &[Bad] = &[
    Bad {
        what: "broken YAML",
        text: "groups:\n  - name: e2e\n    rules:\n      - alert: Broken\n        expr: [unclosed\n",
        // The flow sequence opens on line 5 and the parser notices at EOF.
        lines: 5..=6,
        cols: 1..=30,
    },
    Bad {
        what: "bad PromQL",
        text: "groups:\n  - name: e2e\n    rules:\n      - alert: Broken\n        expr: sum(rate(x[5m])\n",
        // Line 5; the expression starts at column 15 and ends at 30.
        lines: 5..=5,
        cols: 15..=30,
    },
    Bad {
        what: "unknown field",
        text: "groups:\n  - name: e2e\n    rules:\n      - alert: Broken\n        expr: vector(1)\n        frequency: 5m\n",
        lines: 6..=6,
        cols: 9..=9,
    },
];

/// Every `file:LINE:COL` position of `file` mentioned in `text`.
fn positions(text: &str, file: &str) -> Vec<(usize, usize)> {
    let needle = format!("{file}:");
    let mut out = Vec::new();
    for (i, _) in text.match_indices(&needle) {
        let rest = &text[i + needle.len()..];
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().and_then(|p| p.parse().ok());
        let col = parts.next().and_then(|p| {
            let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        });
        if let (Some(l), Some(c)) = (line, col) {
            out.push((l, c));
        }
    }
    out
}

const ALERT_WAIT: Duration = Duration::from_secs(20);
const RELOAD_WAIT: Duration = Duration::from_secs(15);

#[test]
fn bad_rule_file_keeps_old_rules_running() {
    let mut r = Router::new(&[("e2e.yml", VALID)], "1s", "1s");
    r.start();
    let first = r.wait_alert("Always", "firing", ALERT_WAIT);
    assert_eq!(
        first.labels.get("severity").map(String::as_str),
        Some("test")
    );
    assert_eq!(
        r.metric("watchfire_rules_config_last_reload_successful", &[]),
        Some(1.0)
    );

    for bad in BAD {
        let seen = r.log().len();
        r.write_rules("e2e.yml", bad.text);
        // The file watch notices, the reload fails, the log names the place.
        let pos = r.wait_for(
            &format!("a failed reload of the {} file", bad.what),
            RELOAD_WAIT,
            |r| {
                let ok = r.metric("watchfire_rules_config_last_reload_successful", &[])?;
                let log = r.log();
                let pos = positions(log.get(seen..)?, "e2e.yml");
                (ok == 0.0 && !pos.is_empty()).then_some(pos)
            },
        );
        assert!(
            pos.iter()
                .any(|(l, c)| bad.lines.contains(l) && bad.cols.contains(c)),
            "{}: want e2e.yml:{:?}:{:?} in the log, got {pos:?}",
            bad.what,
            bad.lines,
            bad.cols
        );
        // The old rules keep running: the group is still evaluated and the
        // alert is still firing since the same moment.
        let group_ts = "watchfire_rule_group_last_evaluation_timestamp_seconds";
        let t0 = r
            .group_metric(group_ts, "e2e")
            .expect("the old group's metrics are kept");
        r.wait_for("the old group to be evaluated again", RELOAD_WAIT, |r| {
            r.group_metric(group_ts, "e2e").filter(|t| *t > t0)
        });
        let still = r.alert("Always").expect("Always is still active");
        assert_eq!(still.state, "firing", "{}: {still:?}", bad.what);
        assert_eq!(
            still.active_at, first.active_at,
            "{}: alert was reset",
            bad.what
        );
        assert_eq!(
            r.metric("watchfire_rules_config_last_reload_successful", &[]),
            Some(0.0)
        );

        // A fixed file (the same rules, edited): the watch reloads it and
        // the flag is back to 1. (Restoring the exact last-good bytes is
        // `reverting_to_the_last_good_file_clears_the_failure`.)
        r.write_rules("e2e.yml", &format!("# fixed after {}\n{VALID}", bad.what));
        r.wait_for("a successful reload", RELOAD_WAIT, |r| {
            r.metric("watchfire_rules_config_last_reload_successful", &[])
                .filter(|v| *v == 1.0)
        });
        let again = r.alert("Always").expect("Always is active");
        assert_eq!(again.state, "firing");
        assert_eq!(again.active_at, first.active_at, "state kept across reload");
    }
}

#[test]
fn reverting_to_the_last_good_file_clears_the_failure() {
    let mut r = Router::new(&[("e2e.yml", VALID)], "1s", "1s");
    r.start();
    r.wait_alert("Always", "firing", ALERT_WAIT);
    r.write_rules("e2e.yml", BAD[2].text);
    r.wait_for("a failed reload", RELOAD_WAIT, |r| {
        r.metric("watchfire_rules_config_last_reload_successful", &[])
            .filter(|v| *v == 0.0)
    });
    // Undo the bad edit: the file is what was last loaded successfully.
    r.write_rules("e2e.yml", VALID);
    r.wait_for("the flag back to 1 after the revert", RELOAD_WAIT, |r| {
        r.metric("watchfire_rules_config_last_reload_successful", &[])
            .filter(|v| *v == 1.0)
    });
}

#[test]
fn sighup_and_api_reload_load_new_rules() {
    // No file watch: only SIGHUP and POST /-/reload reload.
    let mut r = Router::new(&[("e2e.yml", VALID)], "1s", "0s");
    r.start();
    r.wait_alert("Always", "firing", ALERT_WAIT);
    let client = http();

    // A bad file through the API: 500 naming the place; flag 0; still up.
    r.write_rules("e2e.yml", BAD[2].text);
    let resp = client
        .post(r.url("/-/reload"))
        .send()
        .expect("POST /-/reload");
    let status = resp.status();
    let body = resp.text().unwrap_or_default();
    assert!(!status.is_success(), "bad reload answered {status}: {body}");
    assert!(
        positions(&body, "e2e.yml").contains(&(6, 9)),
        "reload error should name e2e.yml:6:9: {body}"
    );
    assert_eq!(
        r.metric("watchfire_rules_config_last_reload_successful", &[]),
        Some(0.0)
    );
    r.proc().assert_running();
    assert_eq!(r.alert("Always").map(|a| a.state), Some("firing".into()));

    // A new valid file and SIGHUP: the new alert fires, the old one goes.
    r.write_rules("e2e.yml", REPLACED);
    r.proc().signal("HUP");
    let replaced = r.wait_alert("Replaced", "firing", ALERT_WAIT);
    assert_eq!(
        replaced.value.parse::<f64>().ok(),
        Some(2.0),
        "{replaced:?}"
    );
    r.wait_for("Always to be gone", RELOAD_WAIT, |r| {
        r.alerts()
            .filter(|a| a.iter().all(|a| a.name() != "Always"))
    });
    assert_eq!(
        r.metric("watchfire_rules_config_last_reload_successful", &[]),
        Some(1.0)
    );

    // The API reload of a valid file answers 2xx.
    let resp = client
        .post(r.url("/-/reload"))
        .send()
        .expect("POST /-/reload");
    assert!(resp.status().is_success(), "{:?}", resp.status());
    r.proc().assert_running();
}

/// Starts `watchfire router --config` on a config that must be refused,
/// and returns its exit code and standard error.
fn refused_router(config: &std::path::Path) -> (Option<i32>, String) {
    let dir = config.parent().expect("config folder");
    let mut p = Proc::spawn(
        "watchfire-router-bad-config",
        Command::new(watchfire())
            .arg("router")
            .arg("--config")
            .arg(config),
        dir,
    );
    let st = p.wait_exit(START_TIMEOUT);
    (st.code(), strip_ansi(&p.stderr()))
}

#[test]
fn cli_errors_name_file_line_col() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let d = dir.path();
    // check-rules on broken rule files: exit 1 and a position, like promtool.
    for bad in BAD {
        std::fs::write(d.join("bad.yml"), bad.text).expect("write");
        let ours = run(&watchfire(), &["check-rules", "bad.yml"], d);
        let theirs = run(&peer("promtool"), &["check", "rules", "bad.yml"], d);
        assert_eq!(ours.code, 1, "check-rules on {}: {ours:?}", bad.what);
        assert_eq!(theirs.code, 1, "promtool on {}: {theirs:?}", bad.what);
        let all = format!("{}{}", ours.stdout, ours.stderr);
        let pos = positions(&all, "bad.yml");
        assert!(
            pos.iter()
                .any(|(l, c)| bad.lines.contains(l) && bad.cols.contains(c)),
            "check-rules on {}: want bad.yml:{:?}:{:?}, got {pos:?} in:\n{all}",
            bad.what,
            bad.lines,
            bad.cols
        );
    }

    // Configs: one good, one with an unknown field, one with a bad value.
    let good = "server: { listen_address: \"127.0.0.1:1\" }\nrules:\n  files: [\"rules/*.yml\"]\n  evaluation_interval: 1s\n";
    let unknown = "server: { listen_address: \"127.0.0.1:1\" }\nrules:\n  files: [\"rules/*.yml\"]\n  evaluation_intervall: 1s\n";
    let bad_value = "rules:\n  evaluation_interval: soon\n";
    std::fs::write(d.join("good.yml"), good).expect("write");
    std::fs::write(d.join("unknown.yml"), unknown).expect("write");
    std::fs::write(d.join("value.yml"), bad_value).expect("write");

    let ok = run(&watchfire(), &["check-config", "good.yml"], d);
    assert_eq!(ok.code, 0, "check-config good.yml: {ok:?}");
    assert!(ok.stdout.contains("SUCCESS"), "{ok:?}");

    for (file, line, col) in [("unknown.yml", 4, 3), ("value.yml", 2, 24)] {
        let out = run(&watchfire(), &["check-config", file], d);
        assert_eq!(out.code, 1, "check-config {file}: {out:?}");
        let pos = positions(&out.stderr, file);
        assert!(
            pos.contains(&(line, col)),
            "check-config {file}: want {file}:{line}:{col}, got {pos:?} in {out:?}"
        );

        let (code, stderr) = refused_router(&d.join(file));
        assert!(
            code.is_some_and(|c| c != 0),
            "router --config {file} should exit non-zero, got {code:?}"
        );
        let pos = positions(&stderr, file);
        assert!(
            pos.contains(&(line, col)),
            "router --config {file}: want {file}:{line}:{col}, got {pos:?} in:\n{stderr}"
        );
    }
}

#[test]
fn positions_and_ansi_helpers() {
    assert_eq!(
        positions("x a.yml:5:30: y, a.yml:6:1 b.yml:1:1 a.yml:7", "a.yml"),
        vec![(5, 30), (6, 1)]
    );
}
