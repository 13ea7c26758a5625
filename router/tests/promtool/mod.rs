//! `watchfire test-rules` against promtool's own fixtures
//! (`shared/conformance/rules/`, table in its SOURCE.md): our exit code
//! must equal promtool's.

use std::path::PathBuf;

use watchfire_router::promtool::{test_rules, TestOptions};

fn conformance(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/rules")
        .join(name)
}

/// Runs `file` with promtool-style `args` and checks the exit code;
/// returns the output for further assertions.
fn check(file: &str, args: &[&str], expected_exit: i32) -> String {
    let mut opts = TestOptions::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "--run" => opts
                .run
                .push(it.next().expect("--run needs a value").to_string()),
            "--ignore-unknown-fields" => opts.ignore_unknown_fields = true,
            "--disable-at-modifier" => opts.enable_at_modifier = false,
            "--disable-negative-offset" => opts.enable_negative_offset = false,
            other => panic!("unknown test arg {other}"),
        }
    }
    let mut out = Vec::new();
    let code = test_rules(&[conformance(file)], &opts, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(code, expected_exit, "{file} {args:?}:\n{text}");
    let verdict = if expected_exit == 0 {
        "  SUCCESS"
    } else {
        "  FAILED:"
    };
    assert!(
        text.lines().any(|l| l == verdict),
        "{file} {args:?}: no {verdict:?} in\n{text}"
    );
    text
}

const TABLE: &[(&str, &[&str], i32)] = &[
    ("unittest.yml", &[], 0),
    ("long-period.yml", &[], 0),
    ("bad-input-series.yml", &[], 1),
    ("bad-promql.yml", &[], 1),
    ("bad-rules-syntax-test.yml", &[], 1),
    ("bad-rules-error-test.yml", &[], 1),
    ("failing.yml", &[], 1),
    ("at-modifier-test.yml", &[], 0),
    ("at-modifier-test.yml", &["--disable-at-modifier"], 1),
    ("negative-offset-test.yml", &[], 0),
    (
        "negative-offset-test.yml",
        &["--disable-negative-offset"],
        1,
    ),
    ("no-test-group-interval.yml", &[], 0),
    ("start-time-test.yml", &[], 0),
    ("rules_run.yml", &[], 1),
    ("rules_run.yml", &["--run", "correct"], 0),
    ("rules_run.yml", &["--run", "wrong"], 1),
    ("rules_run_extrafields.yml", &["--ignore-unknown-fields"], 0),
    ("rules_run_extrafields.yml", &[], 1),
    ("rules_run_no_fuzzy.yml", &[], 1),
    ("rules_run_fuzzy.yml", &["--run", "correct"], 0),
    ("rules_run_fuzzy.yml", &["--run", "wrong"], 1),
];

#[test]
fn promtool_fixture_table() {
    let mut failures = Vec::new();
    for (file, args, exit) in TABLE {
        let r = std::panic::catch_unwind(|| check(file, args, *exit));
        if let Err(e) = r {
            let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        TABLE.len(),
        failures.join("\n---\n")
    );
}

#[test]
fn failure_output_resembles_promtool() {
    let out = check("failing.yml", &[], 1);
    let want = [
        "Unit Testing:  ",
        "    name: Failing test,\n    alertname: Test, time: 0s, \n        exp:[\n            0:\n              Labels:{alertname=\"Test\"}\n              Annotations:{}\n            ], \n        got:[]",
        "    expr: \"test\", time: 0s,\n        exp: {__name__=\"test\"} 1E+00\n        got: {__name__=\"test\"} 0E+00",
        "    name: Failing alert test,\n    alertname: AlwaysFiring, time: 5m, \n        exp:[], \n        got:[\n            0:\n              Labels:{alertname=\"AlwaysFiring\"}\n              Annotations:{}\n            ]",
    ];
    for w in want {
        assert!(out.contains(w), "missing {w:?} in\n{out}");
    }
}

#[test]
fn disabled_features_are_named() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "at-modifier-test.yml",
            "--disable-at-modifier",
            "@ modifier is disabled, use --enable-feature=promql-at-modifier to enable it",
        ),
        (
            "negative-offset-test.yml",
            "--disable-negative-offset",
            "negative offset is disabled, use --enable-feature=promql-negative-offset to enable it",
        ),
    ];
    for (file, arg, want) in cases {
        let out = check(file, &[arg], 1);
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

#[test]
fn group_errors_are_reported() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "tests:\n  - input_series:\n      - series: 'x{'\n        values: '1'\n",
            RULES,
            "\n    input_series: parsing \"x{ 1\": column ",
        ),
        (
            "tests:\n  - promql_expr_test:\n      - expr: 'sum('\n        eval_time: 1m\n",
            RULES,
            "\n    expr: \"sum(\", time: 1m, err: 1:5: parse error: ",
        ),
        (
            "tests:\n  - promql_expr_test:\n      - expr: 'x[1m]'\n        eval_time: 1m\n",
            RULES,
            "\n    expr: \"x[1m]\", time: 1m, err: rule result is not a vector or scalar\n",
        ),
        (
            "rule_files: [rules.yml]\ntests:\n  - interval: 1m\n",
            "groups: [{name: g, rules: [{record: r, expr: 'sum('}]}]\n",
            "rules.yml:1:51: group \"g\", rule 1, \"r\": could not parse expression: 1:5: parse error: unclosed left parenthesis\n",
        ),
    ];
    for (test, rules, want) in cases {
        check_inline(test, rules, 1, want);
    }
}

#[test]
fn missing_file_and_bad_run_regex_fail() {
    let mut out = Vec::new();
    assert_eq!(
        test_rules(
            &[conformance("does-not-exist.yml")],
            &TestOptions::default(),
            &mut out
        ),
        1
    );
    let opts = TestOptions {
        run: vec!["(".into()],
        ..TestOptions::default()
    };
    assert_eq!(
        test_rules(&[conformance("unittest.yml")], &opts, &mut Vec::new()),
        1
    );
}

/// Writes `test` (and `rules`, as `rules.yml`) into a temp dir, runs it and
/// checks the exit code and that the output contains `want`.
fn check_inline(test: &str, rules: &str, expected_exit: i32, want: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    let path = dir.path().join("test.yml");
    std::fs::write(&path, test).unwrap();
    let mut out = Vec::new();
    let code = test_rules(&[path], &TestOptions::default(), &mut out);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(code, expected_exit, "{test}\n{text}");
    assert!(text.contains(want), "missing {want:?} in\n{text}");
}

const RULES: &str = r#"
groups:
  - name: g
    rules:
      - alert: High
        expr: x > 1
        labels: {severity: page}
        annotations:
          summary: "x is {{ $value }} in {{ $externalLabels.cluster }}"
"#;

#[test]
fn inline_cases() {
    let series = "    input_series:\n      - series: 'x{job=\"a\"}'\n        values: '0 2 2'\n";
    let cases: &[(String, i32, &str)] = &[
        // External labels reach templates; the alert fires at 1m.
        (
            format!("rule_files: ['rul*.yml']\ntests:\n  - external_labels: {{cluster: eu}}\n{series}    alert_rule_test:\n      - eval_time: 1m\n        alertname: High\n        exp_alerts:\n          - exp_labels: {{severity: page, job: a}}\n            exp_annotations: {{summary: 'x is 2 in eu'}}\n"),
            0,
            "  SUCCESS",
        ),
        // A wrong annotation fails with promtool's exp/got listing.
        (
            format!("rule_files: [rules.yml]\ntests:\n  - name: ann\n{series}    alert_rule_test:\n      - eval_time: 2m\n        alertname: High\n        exp_alerts:\n          - exp_labels: {{severity: page, job: a}}\n"),
            1,
            "    name: ann,\n    alertname: High, time: 2m, \n        exp:[",
        ),
        // alertname is required.
        (
            format!("rule_files: [rules.yml]\ntests:\n  - name: n\n{series}    alert_rule_test:\n      - eval_time: 1m\n"),
            1,
            "misses required attribute alertname at eval_time 1m (in TestGroup n)",
        ),
        // group_eval_order may not repeat a group.
        ("group_eval_order: [g, g]\ntests: []\n".to_string(), 1, "group name repeated in evaluation order: g"),
        // Unknown keys in the test file are errors.
        ("tests:\n  - intervall: 1m\n".to_string(), 1, "intervall"),
        // A glob matching nothing warns; the tests still run.
        ("rule_files: ['nothing-*.yml']\ntests: []\n".to_string(), 0, "WARNING: no file match pattern"),
        // Histogram hints are compared only when the expectation sets one.
        (
            "tests:\n  - input_series:\n      - series: h\n        values: '{{count:1 sum:1 buckets:[1]}}x1'\n    promql_expr_test:\n      - expr: h\n        eval_time: 1m\n        exp_samples:\n          - labels: h\n            histogram: '{{count:1 sum:1 buckets:[1] counter_reset_hint:reset}}'\n".to_string(),
            1,
            "counter_reset_hint:NotReset",
        ),
        (
            "tests:\n  - input_series:\n      - series: h\n        values: '{{count:1 sum:1 buckets:[1]}}x1'\n    promql_expr_test:\n      - expr: h\n        eval_time: 1m\n        exp_samples:\n          - labels: h\n            histogram: '{{count:1 sum:1 buckets:[1]}}'\n".to_string(),
            0,
            "  SUCCESS",
        ),
        // Bad expected labels are reported per expression.
        (
            "tests:\n  - promql_expr_test:\n      - expr: vector(1)\n        exp_samples:\n          - labels: '{a='\n".to_string(),
            1,
            "err: labels \"{a=\"",
        ),
    ];
    for (test, exit, want) in cases {
        check_inline(test, RULES, *exit, want);
    }
}
