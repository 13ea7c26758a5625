use super::*;

/// A one-line summary of each command, for table tests.
fn summary(s: &Script) -> Vec<String> {
    s.commands
        .iter()
        .map(|c| match c {
            Command::Load(l) => format!(
                "load@{} {}ms{} [{}]",
                l.line,
                l.interval_ms,
                if l.with_nhcb { " nhcb" } else { "" },
                l.series
                    .iter()
                    .map(|(l, v)| format!("{l}:{}", v.len()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Command::Clear { line } => format!("clear@{line}"),
            Command::Invalid(e) => format!("invalid@{}", e.line),
            Command::Eval(e) => {
                let kind = match e.kind {
                    EvalKind::Instant { t } => format!("instant {t}"),
                    EvalKind::Range { start, end, step } => format!("range {start}..{end}/{step}"),
                };
                let mut flags = String::new();
                for (on, f) in [
                    (e.is_fail(), "F"),
                    (e.warn, "W"),
                    (e.info, "I"),
                    (e.is_ordered(), "O"),
                ] {
                    if on {
                        flags.push_str(f);
                    }
                }
                let expected = match &e.expected {
                    Expected::Scalar(v) => format!("scalar {v}"),
                    Expected::Series(s) => s
                        .iter()
                        .map(|s| format!("{}#{}:{}", s.labels, s.pos, s.values.len()))
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                format!(
                    "eval@{} {kind} {:?} [{flags}] {} expects <{expected}>",
                    e.line,
                    e.expr,
                    e.expects.len()
                )
            }
        })
        .collect()
}

fn check(input: &str, expect: &[&str]) {
    let got = summary(&parse_script(input));
    assert_eq!(got, expect, "script:\n{input}");
}

#[test]
fn scripts() {
    check(
        "# comment\nload 5m\n  a{x=\"1\"} 1+1x3\n  b 1 _ 3\n  a{x=\"1\"} 9\n\nclear\n",
        &["load@2 300000ms [a{x=\"1\"}:1, b{}:3]", "clear@7"],
    );
    check(
        "load_with_nhcb 1m\n  a_bucket{le=\"1\"} 1\n",
        &["load@1 60000ms nhcb [a_bucket{le=\"1\"}:1]"],
    );
    check(
        "eval instant at 1m sum by (env) (m)\n  expect warn\n  expect no_info\n  {env=\"prod\"} 5\n  {env=\"test\"} 20\n",
        &["eval@1 instant 60000 \"sum by (env) (m)\" [] 2 expects <{env=\"prod\"}#1:1, {env=\"test\"}#2:1>"],
    );
    check(
        "eval range from 0 to 3m step 1m rate(m[5m])\n  {} 1 2 _ 4\n",
        &["eval@1 range 0..180000/60000 \"rate(m[5m])\" [] 0 expects <{}#1:4>"],
    );
    check(
        "eval instant at 50m 1 + 2\n  3\n",
        &["eval@1 instant 3000000 \"1 + 2\" [] 0 expects <scalar 3>"],
    );
    check(
        "eval instant at 0 x\n  -0x10\n",
        &["eval@1 instant 0 \"x\" [] 0 expects <scalar -16>"],
    );
    check(
        "eval instant at 0 x\n  NaN\n",
        &["eval@1 instant 0 \"x\" [] 0 expects <scalar NaN>"],
    );
    check(
        "eval_fail instant at 0 -{job=\"api\"}\n\neval_ordered instant at 0 sort(m)\n  m{a=\"1\"} 1\n",
        &[
            "eval@1 instant 0 \"-{job=\\\"api\\\"}\" [F] 0 expects <>",
            "eval@3 instant 0 \"sort(m)\" [O] 0 expects <m{a=\"1\"}#1:1>",
        ],
    );
    // Comment inside a block ends it; the rest is parsed as commands.
    check(
        "eval instant at 1m m\n  # No results.\n  m 1\n",
        &["eval@1 instant 60000 \"m\" [] 0 expects <>", "invalid@3"],
    );
    // Bad commands are kept as Invalid and the block is skipped.
    check(
        "frobnicate\n  m 1\n\neval instant at 1x m\n  m 1\n\neval instant at 1m m\n  m 1 2\n\nclear\n",
        &["invalid@1", "invalid@4", "invalid@8", "clear@10"],
    );
    check("load 5m\n  m 1 foo\n", &["invalid@2"]);
    check("eval range from 5m to 1m step 1m m\n", &["invalid@1"]);
    check(
        "eval instant at 1m m\n  expect warn\n  expect no_warn\n",
        &["invalid@3"],
    );
    check(
        "eval instant at 1m m\n  expect fail\n  expect fail\n",
        &["invalid@3"],
    );
    check("eval instant at 1m m\n  expect bogus\n", &["invalid@2"]);
}

#[test]
fn expect_lines() {
    let s = parse_script(
        "eval instant at 1m m\n expect fail msg:vector cannot contain metrics\n expect warn regex: a.c \\(1:5\\)\n expect info\n expect ordered\n",
    );
    let Some(Command::Eval(e)) = s.commands.first() else {
        panic!("{s:?}")
    };
    assert!(e.is_fail() && e.is_ordered());
    let fail: Vec<_> = e.expects_of(ExpectKind::Fail).collect();
    assert!(fail[0].matches("vector cannot contain metrics"));
    assert!(!fail[0].matches("vector cannot contain metrics!"));
    let warn: Vec<_> = e.expects_of(ExpectKind::Warn).collect();
    assert!(warn[0].matches("PromQL warning: abc (1:5)"));
    assert!(!warn[0].matches("PromQL warning: abc (1:6)"));
    assert!(e
        .expects_of(ExpectKind::Info)
        .all(|m| m.matches("anything")));
}

#[test]
fn bad_expect_lines() {
    let cases: &[(&str, &str)] = &[
        (
            "expect nonsense",
            "line 2: invalid expect statement, must match `expect <type> <match_type>: <string>` format",
        ),
        ("expect warn regex: a(", "line 2: invalid regex a( for warn"),
        (
            "expect info\n expect no_info",
            "line 3: invalid expect lines, info and no_info cannot be used together",
        ),
        (
            "expect no_warn\n expect warn",
            "line 3: invalid expect lines, warn and no_warn cannot be used together",
        ),
        (
            "expect fail\n expect fail msg: x",
            "line 3: invalid expect lines, multiple expect fail lines are not allowed",
        ),
    ];
    for (lines, want) in cases {
        let s = parse_script(&format!("eval instant at 1m m\n {lines}\n"));
        match s.commands.first() {
            Some(Command::Invalid(e)) => assert_eq!(e.to_string(), *want, "{lines}"),
            other => panic!("{lines}: {other:?}"),
        }
    }
}

#[test]
fn range_vector_and_string() {
    let s = parse_script(
        "eval instant at 1m m[1m]\n  expect range vector from 10s to 1m step 10s\n  m{a=\"1\"} 2 3 4 5 6\n\neval instant at 50m (\"Foo\")\n  expect string `Foo`\n\neval instant at 0 x\n  expect string \"a\\\"b\"\n\neval instant at 0 x\n  expect string Foo\n",
    );
    let Command::Eval(e) = &s.commands[0] else {
        panic!()
    };
    assert_eq!(e.range_vector, Some((10_000, 60_000, 10_000)));
    assert_eq!(e.kind, EvalKind::Instant { t: 60_000 });
    assert!(e.exclude_from_range_query);
    let Expected::Series(series) = &e.expected else {
        panic!()
    };
    assert_eq!((series[0].pos, series[0].values.len()), (2, 5));
    let Command::Eval(e) = &s.commands[1] else {
        panic!()
    };
    assert_eq!(e.expected_string.as_deref(), Some("Foo"));
    let Command::Eval(e) = &s.commands[2] else {
        panic!()
    };
    assert_eq!(e.expected_string.as_deref(), Some("a\"b"));
    assert!(matches!(s.commands[3], Command::Invalid(_)));
}

#[test]
fn deprecated_fail_messages() {
    let s = parse_script("eval_fail instant at 0 x\n  expected_fail_message boom\n\neval_fail instant at 0 y\n  expected_fail_regexp b.om\n");
    let Command::Eval(e) = &s.commands[0] else {
        panic!()
    };
    assert_eq!(e.expected_fail_message.as_deref(), Some("boom"));
    let Command::Eval(e) = &s.commands[1] else {
        panic!()
    };
    assert!(e
        .expected_fail_regexp
        .as_ref()
        .is_some_and(|r| r.is_match("xbxom")));
}

#[test]
fn numbers() {
    let cases: &[(&str, Option<f64>)] = &[
        ("1", Some(1.0)),
        ("-1.5", Some(-1.5)),
        ("0x1F", Some(31.0)),
        ("017", Some(15.0)),
        ("0b11", Some(3.0)),
        ("1_000", Some(1000.0)),
        ("1e3", Some(1000.0)),
        ("+Inf", Some(f64::INFINITY)),
        ("-inf", Some(f64::NEG_INFINITY)),
        ("0.4636476090008061", Some(0.4636476090008061)),
        ("{} 1", None),
        ("m", None),
        ("--1", None),
        ("infx", None),
    ];
    for (s, want) in cases {
        let got = parse_number(s);
        assert_eq!(got, *want, "{s}");
    }
    assert!(parse_number("NaN").is_some_and(f64::is_nan));
}
