//! Rule-file parsing and `check-rules`, table-driven.
//!
//! Groups:
//! - `bad_input`: hand-written broken files; each expected `file:line:col:
//!   message` line must be among the reported errors. Independent of the
//!   PromQL parser (the rules' expressions may or may not parse; the errors
//!   asserted here are other ones).
//! - `conformance_*`: every rule file in `shared/conformance/rules/`, with the
//!   exit code and output promtool gives (see that folder's SOURCE.md).
//! - `promql_*`: cases that need the real PromQL parser (valid files, error
//!   positions inside expressions).
//! - `template_*`: cases that need the template parser.

use std::path::PathBuf;

use watchfire_rulefmt::{
    check_rules_with_io, parse_rule_file, parse_rule_file_with, CheckOptions, LintMode,
    NameValidation, ParseOptions, Pos, RuleKind,
};

fn conformance(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/rules"
    ))
    .join(name)
}

/// Parses `input` as `f.yml` and checks that every `expect` line is one of
/// the reported errors (exactly, as displayed).
fn check(input: &str, expect: &[&str]) {
    check_with(input, &ParseOptions::default(), expect);
}

fn check_with(input: &str, opts: &ParseOptions, expect: &[&str]) {
    let errs = match parse_rule_file_with("f.yml", input, opts) {
        Ok(_) => panic!("expected errors {expect:?} for:\n{input}"),
        Err(e) => e,
    };
    let shown: Vec<String> = errs.errors().iter().map(ToString::to_string).collect();
    for want in expect {
        assert!(
            shown.iter().any(|s| s == want),
            "missing error {want:?}\nfor:\n{input}\ngot:\n{}",
            shown.join("\n")
        );
    }
    // The Display of the whole set is one error per line.
    assert_eq!(errs.to_string(), shown.join("\n"));
}

#[test]
fn bad_input() {
    let cases: &[(&str, &[&str])] = &[
        // YAML syntax
        ("groups:\n  - name: a\n    rules: [\n", &["f.yml:4:1: yaml: while parsing a node, did not find expected node content"]),
        ("groups:\n  - name: 'a\n", &["f.yml:2:11: yaml: while scanning a quoted scalar, found unexpected end of stream"]),
        // unknown fields, at their key
        (
            "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n        foo: 1\n",
            &["f.yml:6:9: field foo not found in type rulefmt.Rule"],
        ),
        ("groups:\n  - name: a\n    ownr: me\n    rules: []\n", &["f.yml:3:5: field ownr not found in type rulefmt.RuleGroup"]),
        ("group:\n  - name: a\n", &["f.yml:1:1: field group not found in type rulefmt.RuleGroups"]),
        // wrong types
        ("groups:\n  - name: a\n    limit: \"5\"\n    rules: []\n", &["f.yml:3:12: cannot unmarshal !!str `5` into int"]),
        ("groups:\n  - name: a\n    rules: {a: 1}\n", &["f.yml:3:12: cannot unmarshal !!map `{...}` into []rulefmt.Rule"]),
        ("groups: 3\n", &["f.yml:1:9: cannot unmarshal !!int `3` into []rulefmt.RuleGroup"]),
        ("[1, 2]\n", &["f.yml:1:1: cannot unmarshal !!seq `[...]` into rulefmt.RuleGroups"]),
        (
            "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: [up]\n",
            &["f.yml:5:15: cannot unmarshal !!seq `[...]` into string"],
        ),
        // duplicate keys
        (
            "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n        expr: down\n",
            &["f.yml:6:9: mapping key \"expr\" already defined at line 5"],
        ),
        // group names
        ("groups:\n  - name: a\n    rules: []\n  - name: a\n    rules: []\n", &["f.yml:4:5: groupname: \"a\" is repeated in the same file"]),
        ("groups:\n  - name: \"\"\n    rules: []\n", &["f.yml:2:5: Groupname must not be empty"]),
        ("groups:\n  - rules: []\n", &["f.yml:2:5: Groupname must not be empty"]),
        // durations, at the value
        (
            "groups:\n  - name: a\n    rules:\n      - alert: x\n        expr: up\n        for: 5\n",
            &["f.yml:6:14: group \"a\", rule 1, \"x\": field for: not a valid duration string: \"5\""],
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - alert: x\n        expr: up\n        keep_firing_for: 1.5m\n",
            &["f.yml:6:26: group \"a\", rule 1, \"x\": field keep_firing_for: not a valid duration string: \"1.5m\""],
        ),
        (
            "groups:\n  - name: a\n    interval: 1m30\n    rules: []\n",
            &["f.yml:3:15: group \"a\": field interval: not a valid duration string: \"1m30\""],
        ),
        (
            "groups:\n  - name: a\n    query_offset: ''\n    rules: []\n",
            &["f.yml:3:19: group \"a\": field query_offset: empty duration string"],
        ),
        // record / alert
        (
            "groups:\n  - name: a\n    rules:\n      - alert: x\n        record: y\n        expr: up\n",
            &["f.yml:5:9: group \"a\", rule 1, \"x\": only one of 'record' and 'alert' must be set"],
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - expr: up\n",
            &["f.yml:4:9: group \"a\", rule 1, \"\": one of 'record' or 'alert' must be set"],
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - record: x\n",
            &["f.yml:4:9: group \"a\", rule 1, \"x\": field 'expr' must be set in rule"],
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: ''\n",
            &["f.yml:5:9: group \"a\", rule 1, \"x\": field 'expr' must be set in rule"],
        ),
        // recording-rule restrictions, at the offending field
        (
            "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n        for: 5m\n        keep_firing_for: 1m\n        annotations:\n          a: b\n",
            &[
                "f.yml:9:11: group \"a\", rule 1, \"x\": invalid field 'annotations' in recording rule",
                "f.yml:6:9: group \"a\", rule 1, \"x\": invalid field 'for' in recording rule",
                "f.yml:7:9: group \"a\", rule 1, \"x\": invalid field 'keep_firing_for' in recording rule",
            ],
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - record: \"x{a=1}\"\n        expr: up\n",
            &["f.yml:4:17: group \"a\", rule 1, \"x{a=1}\": braces present in the recording rule name; should it be in expr?: x{a=1}"],
        ),
        // label names
        (
            "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n        labels:\n          __name__: b\n          \"\": c\n",
            &[
                "f.yml:7:11: group \"a\", rule 1, \"x\": invalid label name: __name__",
                "f.yml:8:11: group \"a\", rule 1, \"x\": invalid label name: ",
            ],
        ),
        (
            "groups:\n  - name: a\n    labels:\n      __name__: x\n    rules: []\n",
            &["f.yml:4:7: group \"a\": invalid label name: __name__"],
        ),
    ];
    for (input, expect) in cases {
        check(input, expect);
    }
}

#[test]
fn legacy_names() {
    let legacy = ParseOptions {
        names: NameValidation::Legacy,
        ..ParseOptions::default()
    };
    check_with(
        "groups:\n  - name: a\n    rules:\n      - record: my-metric\n        expr: up\n        labels:\n          0x: c\n",
        &legacy,
        &[
            "f.yml:4:17: group \"a\", rule 1, \"my-metric\": invalid recording rule name: my-metric",
            "f.yml:7:11: group \"a\", rule 1, \"my-metric\": invalid label name: 0x",
        ],
    );
    // Under UTF-8 validation (the default) neither is an error.
    let errs = parse_rule_file(
        "f.yml",
        "groups:\n  - name: a\n    rules:\n      - record: my-metric\n        expr: up\n        labels:\n          0x: c\n",
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(!errs.contains("invalid"), "{errs}");
}

#[test]
fn unknown_fields_can_be_ignored() {
    let text = "groups:\n  - name: a\n    owner: me\n    rules:\n      - record: x\n        expr: up\n        team: t\n";
    let strict = parse_rule_file("f.yml", text).unwrap_err().to_string();
    assert!(
        strict.contains("f.yml:3:5: field owner not found"),
        "{strict}"
    );
    assert!(
        strict.contains("f.yml:7:9: field team not found"),
        "{strict}"
    );
    let lax = ParseOptions {
        ignore_unknown_fields: true,
        ..ParseOptions::default()
    };
    let lax = parse_rule_file_with("f.yml", text, &lax)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(!lax.contains("not found"), "{lax}");
}

#[test]
fn all_errors_are_reported() {
    let text = "groups:\n  - name: a\n    bogus: 1\n    rules:\n      - record: x\n        for: 1m\n      - alert: y\n        expr: up\n        for: 5\n  - name: a\n";
    let errs = parse_rule_file("f.yml", text).unwrap_err();
    let shown: Vec<String> = errs.errors().iter().map(ToString::to_string).collect();
    for want in [
        "f.yml:3:5: field bogus not found in type rulefmt.RuleGroup",
        "f.yml:5:9: group \"a\", rule 1, \"x\": field 'expr' must be set in rule",
        "f.yml:6:9: group \"a\", rule 1, \"x\": invalid field 'for' in recording rule",
        "f.yml:9:14: group \"a\", rule 2, \"y\": field for: not a valid duration string: \"5\"",
        "f.yml:10:5: groupname: \"a\" is repeated in the same file",
    ] {
        assert!(
            shown.iter().any(|s| s == want),
            "missing {want:?} in {shown:#?}"
        );
    }
    // Decoding errors come first, as in Prometheus.
    assert!(shown[0].contains("bogus"), "{shown:#?}");
}

#[test]
fn empty_files_have_no_groups() {
    for text in ["", "# nothing\n", "groups:\n", "groups: []\n", "---\n"] {
        let f = parse_rule_file("e.yml", text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert!(f.groups.is_empty(), "{text:?}");
    }
    // Only the first document counts, like Go's yaml.Decoder.
    let f = parse_rule_file("e.yml", "groups: []\n---\ngroups: [[[\n").unwrap();
    assert!(f.groups.is_empty());
}

#[test]
fn group_fields_decode() {
    let f = parse_rule_file(
        "g.yml",
        "groups:\n  - name: g\n    interval: 1m30s\n    query_offset: 0\n    limit: 7\n    labels:\n      team: a\n    rules: []\n  - name: h\n    limit: -1\n",
    )
    .unwrap();
    assert_eq!(f.groups.len(), 2);
    let g = &f.groups[0];
    assert_eq!(
        (g.name.as_str(), g.interval_ms, g.query_offset_ms, g.limit),
        ("g", Some(90_000), Some(0), 7)
    );
    assert_eq!(g.labels.get("team").map(String::as_str), Some("a"));
    assert_eq!(g.pos, Pos::new(2, 5));
    let h = &f.groups[1];
    // promtool accepts a negative limit (= no limit).
    assert_eq!((h.interval_ms, h.query_offset_ms, h.limit), (None, None, 0));
}

// ---------------------------------------------------------------- check-rules

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(files: &[&str], opts: CheckOptions) -> Run {
    let paths: Vec<PathBuf> = files.iter().map(|f| conformance(f)).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = check_rules_with_io(&paths, &opts, &mut std::io::empty(), &mut out, &mut err);
    Run {
        code,
        stdout: String::from_utf8(out).unwrap(),
        stderr: String::from_utf8(err).unwrap(),
    }
}

fn opts(lint: &str, fatal: bool, ignore_unknown: bool) -> CheckOptions {
    let (lint, unknown) = LintMode::parse(lint);
    assert!(unknown.is_empty());
    CheckOptions {
        lint,
        lint_fatal: fatal,
        ignore_unknown_fields: ignore_unknown,
        ..CheckOptions::default()
    }
}

/// Conformance cases that do not depend on PromQL parsing succeeding.
#[test]
fn conformance_structure() {
    // (file, lint, fatal, ignore-unknown, exit code, substring of stderr)
    let cases: &[(&str, &str, bool, bool, i32, &str)] = &[
        (
            "rules_extrafields.yml",
            "duplicate-rules",
            false,
            false,
            1,
            "field namespace not found in type rulefmt.RuleGroup",
        ),
        (
            "rules_extrafields.yml",
            "duplicate-rules",
            false,
            false,
            1,
            ":21:5: field ownership not found in type rulefmt.RuleGroup",
        ),
        (
            "unittest.yml",
            "duplicate-rules",
            false,
            false,
            1,
            "field rule_files not found in type rulefmt.RuleGroups",
        ),
    ];
    for (file, lint, fatal, ignore, code, needle) in cases {
        let r = run(&[file], opts(lint, *fatal, *ignore));
        assert_eq!(r.code, *code, "{file}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(needle),
            "{file}: want {needle:?} in {}",
            r.stderr
        );
        assert!(r
            .stdout
            .starts_with(&format!("Checking {}\n", conformance(file).display())));
        assert!(r.stderr.starts_with("  FAILED:\n"), "{}", r.stderr);
    }
    // An empty group list is fine.
    let r = run(
        &["prometheus-config.rules.good.yml"],
        CheckOptions::default(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.ends_with("  SUCCESS: 0 rules found\n\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn lint_mode_parsing() {
    assert_eq!(LintMode::parse("none"), (LintMode::None, vec![]));
    assert_eq!(
        LintMode::parse("duplicate-rules"),
        (LintMode::DuplicateRules, vec![])
    );
    assert_eq!(LintMode::parse("all"), (LintMode::All, vec![]));
    assert_eq!(
        LintMode::parse("none,bogus"),
        (LintMode::None, vec!["bogus".to_string()])
    );
    assert_eq!(CheckOptions::default().lint, LintMode::DuplicateRules);
}

#[test]
fn check_reads_stdin_and_reports_io_errors() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut input: &[u8] = b"groups: []\n";
    let code = check_rules_with_io(
        &[],
        &CheckOptions::default(),
        &mut input,
        &mut out,
        &mut err,
    );
    assert_eq!(code, 0);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "Checking standard input\n  SUCCESS: 0 rules found\n\n"
    );

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let missing = [PathBuf::from("/nonexistent/rules.yml")];
    let code = check_rules_with_io(
        &missing,
        &CheckOptions::default(),
        &mut std::io::empty(),
        &mut out,
        &mut err,
    );
    assert_eq!(code, 1);
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.starts_with("  FAILED:\n/nonexistent/rules.yml: "),
        "{err}"
    );
}

// ------------------------------------------------- needs the PromQL parser

/// Every conformance rule file, with promtool's outcome. Needs the PromQL
/// parser (every rule's expression must parse for success).
#[test]
fn promql_conformance_files() {
    let dups_msg = "lint error 1 duplicate rule(s) found.\nMetric: job:test:count_over_time1m\nLabel(s):\nMight cause inconsistency while recording expressions\n";
    let lint_msg = "lint error 1 duplicate rule(s) found.\nMetric: HighRequestLatency\nLabel(s):\n\tseverity: page\nMight cause inconsistency while recording expressions\n";
    let large_msg = "lint error 2 duplicate rule(s) found.\nMetric: job:http_inprogress_requests:sum:1\nLabel(s):\n\tjob: job1\nMetric: job:http_inprogress_requests:sum:10000\nLabel(s):\n\tjob: job10000\nMight cause inconsistency while recording expressions\n";
    // (file, lint, fatal, ignore-unknown, exit code, exact stdout tail, exact stderr)
    let cases: &[(&str, &str, bool, bool, i32, &str, &str)] = &[
        (
            "rules.yml",
            "duplicate-rules",
            false,
            false,
            0,
            "  SUCCESS: 5 rules found\n\n",
            "",
        ),
        (
            "rules.yml",
            "all",
            true,
            false,
            0,
            "  SUCCESS: 5 rules found\n\n",
            "",
        ),
        (
            "at-modifier.yml",
            "duplicate-rules",
            false,
            false,
            0,
            "  SUCCESS: 1 rules found\n\n",
            "",
        ),
        (
            "negative-offset.yml",
            "duplicate-rules",
            false,
            false,
            0,
            "  SUCCESS: 1 rules found\n\n",
            "",
        ),
        (
            "bad-rules-error.yml",
            "duplicate-rules",
            false,
            false,
            0,
            "  SUCCESS: 1 rules found\n\n",
            "",
        ),
        (
            "prometheus-rules.lint.yml",
            "duplicate-rules",
            false,
            false,
            0,
            ".yml\n\n",
            lint_msg,
        ),
        (
            "prometheus-rules.lint.yml",
            "duplicate-rules",
            true,
            false,
            3,
            ".yml\n\n",
            lint_msg,
        ),
        (
            "prometheus-rules.lint.yml",
            "none",
            true,
            false,
            0,
            "  SUCCESS: 2 rules found\n\n",
            "",
        ),
        (
            "rules_duplicates.yml",
            "duplicate-rules",
            false,
            false,
            0,
            ".yml\n\n",
            dups_msg,
        ),
        (
            "rules_duplicates.yml",
            "all",
            true,
            false,
            3,
            ".yml\n\n",
            dups_msg,
        ),
        (
            "rules_large.yml",
            "duplicate-rules",
            true,
            false,
            3,
            ".yml\n\n",
            large_msg,
        ),
        (
            "rules_extrafields.yml",
            "duplicate-rules",
            false,
            true,
            0,
            "  SUCCESS: 5 rules found\n\n",
            "",
        ),
    ];
    for (file, lint, fatal, ignore, code, stdout_tail, stderr) in cases {
        let r = run(&[file], opts(lint, *fatal, *ignore));
        assert_eq!(r.code, *code, "{file}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.ends_with(stdout_tail),
            "{file}: stdout {:?}",
            r.stdout
        );
        let want_stderr = if stderr.is_empty() {
            String::new()
        } else {
            format!("  FAILED:\n{stderr}")
        };
        assert_eq!(r.stderr, want_stderr, "{file}");
    }
    // Several files: one failure makes the whole run fail.
    let r = run(
        &["rules.yml", "bad-rules-syntax.yml"],
        CheckOptions::default(),
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("  SUCCESS: 5 rules found\n\nChecking "),
        "{}",
        r.stdout
    );
}

#[test]
fn promql_error_positions() {
    // Plain, quoted and literal-block expressions map the PromQL error's
    // own `line:col` into the file. (rule, where the expression's first
    // character is). Expressions with escapes or folding fall back to the
    // scalar's position.
    let cases: &[(&str, Pos)] = &[
        (
            "      - record: x\n        expr: sum(up) by (\n",
            Pos::new(5, 15),
        ),
        (
            "      - record: x\n        expr: sum(rate(x[5m]) by (job)) +\n",
            Pos::new(5, 15),
        ),
        (
            "      - record: x\n        expr: \"sum(up) by (\"\n",
            Pos::new(5, 16),
        ),
        (
            "      - record: x\n        expr: 'up + on(a) group_left(b b) x'\n",
            Pos::new(5, 16),
        ),
        (
            "      - record: x\n        expr: |\n          up\n          + on(a) group_left(b b) x\n",
            Pos::new(6, 11),
        ),
        (
            "      - record: x\n        expr: \"é + sum(up) by (\"\n",
            Pos::new(5, 16),
        ),
    ];
    for (rule, start) in cases {
        let text = format!("groups:\n  - name: a\n    rules:\n{rule}");
        let errs = parse_rule_file("f.yml", &text).unwrap_err();
        let e = &errs.errors()[0];
        let msg = e.message();
        let at = msg
            .find("could not parse expression: ")
            .expect("promql error")
            + 28;
        let mut lc = msg[at..].split(':').map(|n| n.parse::<usize>().unwrap());
        let (line, col) = (lc.next().unwrap(), lc.next().unwrap());
        // PromQL columns count bytes; ours count characters.
        let expr_line = text.lines().nth(start.line + line - 2).unwrap();
        let line_start: usize = expr_line.char_indices().nth(start.col - 1).unwrap().0;
        let chars = expr_line[line_start..line_start + col - 1].chars().count();
        assert_eq!(
            e.pos,
            Pos::new(start.line + line - 1, start.col + chars),
            "{text}\n{errs}"
        );
    }

    // End of input inside a literal block: just after its last character.
    let text = "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: |\n          up\n          + sum(up) by (\n";
    let errs = parse_rule_file("f.yml", text).unwrap_err();
    assert_eq!(errs.errors()[0].pos, Pos::new(7, 25), "{errs}");

    let r = run(&["bad-rules-syntax.yml"], CheckOptions::default());
    assert_eq!(r.code, 1);
    // `expr: 'test +'` at 7:15; the error is at the end of the expression.
    let path = conformance("bad-rules-syntax.yml").display().to_string();
    let want =
        format!("{path}:7:22: group \"bad-syntax\", rule 1, \"x\": could not parse expression: ");
    assert!(
        r.stderr.starts_with(&format!("  FAILED:\n{want}")),
        "{}",
        r.stderr
    );
}

#[test]
fn promql_valid_file_builds_rules() {
    let f = parse_rule_file(
        &conformance("rules.yml").display().to_string(),
        &std::fs::read_to_string(conformance("rules.yml")).unwrap(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = f
        .groups
        .iter()
        .flat_map(|g| g.rules.iter().map(|r| r.name()))
        .collect();
    assert_eq!(
        names,
        [
            "InstanceDown",
            "AlwaysFiring",
            "job:test:count_over_time1m",
            "fixed_data",
            "suquery_interval_test"
        ]
    );
    let r = &f.groups[0].rules[0];
    assert_eq!(r.expr_text, "up == 0");
    assert_eq!(r.pos, Pos::new(6, 9));
    match &r.kind {
        RuleKind::Alerting {
            alert,
            for_ms,
            keep_firing_for_ms,
            annotations,
        } => {
            assert_eq!(
                (alert.as_str(), *for_ms, *keep_firing_for_ms),
                ("InstanceDown", 300_000, 0)
            );
            assert_eq!(
                annotations.get("summary").map(String::as_str),
                Some("Instance {{ $labels.instance }} down")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.labels.get("severity").map(String::as_str), Some("page"));
    assert!(matches!(
        f.groups[1].rules[0].kind,
        RuleKind::Recording { .. }
    ));
}

/// features.yml uses experimental PromQL; with UTF-8 names its hyphenated
/// record names are valid, so the only possible errors are PromQL ones.
#[test]
fn promql_features_file_only_fails_on_expressions() {
    let text = std::fs::read_to_string(conformance("features.yml")).unwrap();
    if let Err(errs) = parse_rule_file("features.yml", &text) {
        for e in errs.errors() {
            assert!(e.message().contains("could not parse expression"), "{e}");
        }
    }
}

// ----------------------------------------------- needs the template parser

#[test]
fn template_errors() {
    let r = run(&["rules-bad.yml"], CheckOptions::default());
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    // promtool's message, plus the position of `$label` inside the value
    // (`summary: "Instance {{ $label.foo }} down"`, value quote at 12:20).
    let path = conformance("rules-bad.yml").display().to_string();
    let prefix = format!("  FAILED:\n{path}:12:");
    let suffix = ": group \"alerts\", rule 1, \"InstanceDown\": annotation \"summary\": template: __alert_InstanceDown:1: undefined variable \"$label\"\n";
    assert!(
        r.stderr.starts_with(&prefix) && r.stderr.ends_with(suffix),
        "{}",
        r.stderr
    );
    let col: usize = r.stderr[prefix.len()..]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (33..=41).contains(&col),
        "column {col} is not on `$label.foo`"
    );

    // (labels/annotations block, expected error line:col prefix and message part)
    let cases: &[(&str, &str, &str)] = &[
        (
            "        labels:\n          s: \"{{ .Foo \"\n",
            "f.yml:7:",
            ": group \"a\", rule 1, \"x\": label \"s\": template: __alert_x:1: ",
        ),
        (
            "        annotations:\n          d: |\n            ok\n            {{ end }}\n",
            "f.yml:9:",
            ": group \"a\", rule 1, \"x\": annotation \"d\": template: __alert_x:2: ",
        ),
        (
            "        annotations:\n          d: '{{ $nope }}'\n",
            "f.yml:7:",
            "annotation \"d\": template: __alert_x:1: undefined variable \"$nope\"",
        ),
    ];
    for (block, at, msg) in cases {
        let text = format!(
            "groups:\n  - name: a\n    rules:\n      - alert: x\n        expr: up\n{block}"
        );
        let errs = parse_rule_file("f.yml", &text).unwrap_err().to_string();
        assert!(errs.starts_with(at) && errs.contains(msg), "{text}\n{errs}");
    }
    // Valid templates using the predeclared variables.
    let ok = "groups:\n  - name: a\n    rules:\n      - alert: x\n        expr: up\n        annotations:\n          a: '{{ $labels.job }} {{ $value | humanize }} {{ $externalLabels.x }} {{ $externalURL }}'\n";
    parse_rule_file("f.yml", ok).unwrap_or_else(|e| panic!("{e}"));
    // Recording rules' labels are not templates.
    let rec = "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n        labels:\n          s: \"{{ .Foo \"\n";
    parse_rule_file("f.yml", rec).unwrap_or_else(|e| panic!("{e}"));
}

// ------------------------------------------------------------ robustness

/// Every prefix of a real rule file, and a few thousand deterministic
/// single-character mutations of it, parse without panicking, and every
/// reported error has a real (1-based) position inside the file.
#[test]
fn mutated_inputs_never_panic_and_errors_have_positions() {
    let base = std::fs::read_to_string(conformance("rules.yml")).unwrap();
    let mut inputs: Vec<String> = base
        .char_indices()
        .map(|(i, _)| base[..i].to_string())
        .collect();
    let alphabet = [
        '{', '}', '[', ']', ':', '-', ' ', '\t', '\n', '"', '\'', '&', '*', '!', '|', '>', '#',
        'x', '0',
    ];
    let chars: Vec<char> = base.chars().collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..3000 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let at = (seed >> 33) as usize % chars.len();
        let with = alphabet[(seed >> 20) as usize % alphabet.len()];
        let mut m = chars.clone();
        m[at] = with;
        inputs.push(m.into_iter().collect());
    }
    for input in &inputs {
        if let Err(errs) = parse_rule_file("m.yml", input) {
            assert!(!errs.is_empty());
            let lines = input.split('\n').count();
            for e in errs.errors() {
                assert!(
                    e.pos.line >= 1 && e.pos.line <= lines && e.pos.col >= 1,
                    "{e}\n---\n{input}"
                );
            }
        }
    }
}
