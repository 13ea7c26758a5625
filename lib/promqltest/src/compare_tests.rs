use super::*;
use crate::script::{parse_script, Command};
use std::sync::Arc;
use watchfire_promql::ast::Span;
use watchfire_promql::storage::{stale_nan, HistogramSample, Sample};

fn eval(script: &str) -> EvalCmd {
    match parse_script(script).commands.into_iter().next() {
        Some(Command::Eval(e)) => *e,
        other => panic!("not an eval: {other:?}"),
    }
}

fn labels(s: &str) -> Labels {
    crate::notation::parse_labels(s).unwrap()
}

fn vs(l: &str, v: f64) -> VectorSample {
    VectorSample {
        labels: labels(l),
        t: 0,
        v,
        h: None,
    }
}

fn series(l: &str, pts: &[(i64, f64)]) -> Series {
    Series {
        labels: labels(l),
        samples: pts.iter().map(|&(t, v)| Sample { t, v }).collect(),
        histograms: vec![],
    }
}

/// `expect` is `None` for a match, or a substring of the mismatch text.
fn check(script: &str, value: Value, expect: Option<&str>) {
    let got = compare_result(&eval(script), &value);
    match (got, expect) {
        (Ok(()), None) => {}
        (Err(Mismatch(m)), Some(want)) => {
            assert!(m.contains(want), "{script}: mismatch {m:?} lacks {want:?}")
        }
        (got, want) => panic!("{script}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn almost_equal_rules() {
    let cases = [
        (1.0, 1.0, true),
        (1.0, 1.0000001, true),
        (1.0, 1.00001, false),
        (f64::NAN, f64::NAN, true),
        (stale_nan(), f64::NAN, true),
        (f64::NAN, 1.0, false),
        (0.0, 1e-300, false),
        (0.0, -0.0, true),
        (f64::INFINITY, f64::INFINITY, true),
        (f64::INFINITY, f64::NEG_INFINITY, false),
        (1e300, 1.0000001e300, true),
        (-5.0, 5.0, false),
    ];
    for (a, b, want) in cases {
        assert_eq!(almost_equal(a, b, DEFAULT_EPSILON), want, "{a} vs {b}");
    }
}

#[test]
fn vectors() {
    let two = "eval instant at 1m m\n  m{a=\"1\"} 1\n  m{a=\"2\"} 2\n";
    let v = |a: f64, b: f64| Value::Vector(vec![vs("m{a=\"2\"}", b), vs("m{a=\"1\"}", a)]);
    check(two, v(1.0, 2.0), None);
    check(two, v(1.0, 2.0000000001), None);
    check(
        two,
        v(1.0, 3.0),
        Some("expected 2 for m{a=\"2\"} but got 3"),
    );
    check(
        two,
        Value::Vector(vec![vs("m{a=\"1\"}", 1.0)]),
        Some("expected metric m{a=\"2\"} not found"),
    );
    check(
        two,
        Value::Vector(vec![vs("m{a=\"3\"}", 1.0)]),
        Some("unexpected metric m{a=\"3\"}"),
    );
    check("eval instant at 1m m\n", Value::Vector(vec![]), None);
    check(
        "eval instant at 1m m\n",
        Value::Vector(vec![vs("m", 1.0)]),
        Some("unexpected metric"),
    );
    check(
        "eval instant at 1m m\n  {} NaN\n",
        Value::Vector(vec![vs("{}", f64::NAN)]),
        None,
    );
    check(
        "eval instant at 1m m\n  m 1\n",
        Value::Scalar { t: 0, v: 1.0 },
        Some("expected vector or matrix"),
    );
    // Ordering only matters when asked for.
    let ordered = "eval instant at 1m sort(m)\n  expect ordered\n  m{a=\"1\"} 1\n  m{a=\"2\"} 2\n";
    check(ordered, v(1.0, 2.0), Some("at position 2 but was at 1"));
    check(
        ordered,
        Value::Vector(vec![vs("m{a=\"1\"}", 1.0), vs("m{a=\"2\"}", 2.0)]),
        None,
    );
    check(
        "eval_ordered instant at 1m m\n  m{a=\"1\"} 1\n  m{a=\"2\"} 2\n",
        v(1.0, 2.0),
        Some("position"),
    );
}

#[test]
fn scalars_and_strings() {
    check(
        "eval instant at 1m 1\n  1\n",
        Value::Scalar { t: 0, v: 1.0 },
        None,
    );
    check(
        "eval instant at 1m 1\n  2\n",
        Value::Scalar { t: 0, v: 1.0 },
        Some("expected scalar 2 but got 1"),
    );
    check(
        "eval instant at 1m 1\n",
        Value::Scalar { t: 0, v: 1.0 },
        Some("expected vector or matrix"),
    );
    check(
        "eval instant at 1m 1\n  1\n",
        Value::Vector(vec![]),
        Some("expected scalar"),
    );
    let s = |v: &str| Value::String { t: 0, v: v.into() };
    check(
        "eval instant at 1m \"a\"\n  expect string \"a\"\n",
        s("a"),
        None,
    );
    check(
        "eval instant at 1m \"a\"\n  expect string \"a\"\n",
        s("b"),
        Some("expected string \"a\" but got \"b\""),
    );
}

#[test]
fn matrices() {
    let range = "eval range from 0 to 2m step 1m m\n  m{a=\"1\"} 1 _ 3\n  m{a=\"2\"} 1+1x2\n";
    let good = || {
        vec![
            series("m{a=\"1\"}", &[(0, 1.0), (120_000, 3.0)]),
            series("m{a=\"2\"}", &[(0, 1.0), (60_000, 2.0), (120_000, 3.0)]),
        ]
    };
    check(range, Value::Matrix(good()), None);
    let mut unsorted = good();
    unsorted.reverse();
    check(range, Value::Matrix(unsorted), Some("sorted by labels"));
    let mut extra_point = good();
    extra_point[0]
        .samples
        .insert(1, Sample { t: 60_000, v: 2.0 });
    check(
        range,
        Value::Matrix(extra_point),
        Some("expected 2 float points and 0 histogram points"),
    );
    let mut wrong_t = good();
    wrong_t[0].samples[1].t = 90_000;
    check(
        range,
        Value::Matrix(wrong_t),
        Some("to have timestamp 120000, but it had timestamp 90000"),
    );
    let mut wrong_v = good();
    wrong_v[1].samples[2].v = 4.0;
    check(range, Value::Matrix(wrong_v), Some("to be 3, but got 4"));
    check(
        range,
        Value::Matrix(good()[..1].to_vec()),
        Some("expected metric m{a=\"2\"} not found"),
    );
    check(
        "eval range from 0 to 1m step 1m m\n  m 1 2 3\n",
        Value::Matrix(vec![series("m", &[(0, 1.0)])]),
        Some("cannot return this many points"),
    );
    check(
        "eval range from 0 to 1m step 1m m\n  expect ordered\n  m 1\n",
        Value::Matrix(vec![]),
        Some("ordered"),
    );
    // Instant query of a range selector.
    let rv = "eval instant at 1m m[1m]\n  expect range vector from 20s to 1m step 20s\n  m 2 _ 4\n";
    check(
        rv,
        Value::Matrix(vec![series("m", &[(20_000, 2.0), (60_000, 4.0)])]),
        None,
    );
    check(
        "eval instant at 1m m[1m]\n  m 1\n",
        Value::Matrix(vec![series("m", &[(60_000, 1.0)])]),
        Some("cannot return this many points"),
    );
}

#[test]
fn histogram_values() {
    let h = |count: f64| {
        let (_, v) = crate::notation::parse_series_line(&format!(
            "h {{{{schema:0 count:{count} sum:1 buckets:[1 0 2] counter_reset_hint:gauge}}}}"
        ))
        .unwrap();
        match &v[0] {
            SeriesValue::Histogram { h, .. } => h.clone(),
            other => panic!("{other:?}"),
        }
    };
    let hv = |h: FloatHistogram| VectorSample {
        labels: labels("h"),
        t: 0,
        v: 0.0,
        h: Some(Arc::new(h)),
    };
    let exp = "eval instant at 0 h\n  h {{schema:0 count:3 sum:1 buckets:[1 0 2]}}\n";
    check(exp, Value::Vector(vec![hv(h(3.0))]), None);
    check(
        exp,
        Value::Vector(vec![hv(h(4.0))]),
        Some("expected {{schema:0 count:3"),
    );
    check(
        exp,
        Value::Vector(vec![vs("h", 3.0)]),
        Some("expected histogram"),
    );
    check(
        "eval instant at 0 h\n  h 3\n",
        Value::Vector(vec![hv(h(3.0))]),
        Some("but got histogram"),
    );
    // An explicit hint is compared; spans are compared after compaction.
    let hinted = "eval instant at 0 h\n  h {{schema:0 count:3 sum:1 buckets:[1] offset:0 counter_reset_hint:reset}}\n";
    let mut one = h(3.0);
    one.positive_buckets = vec![1.0, 0.0];
    one.positive_spans = vec![(0, 2)];
    check(
        hinted,
        Value::Vector(vec![hv(one.clone())]),
        Some("expected"),
    );
    one.counter_reset_hint = watchfire_promql::storage::CounterResetHint::Reset;
    check(hinted, Value::Vector(vec![hv(one)]), None);
    let m = Series {
        labels: labels("h"),
        samples: vec![],
        histograms: vec![HistogramSample {
            t: 0,
            h: Arc::new(h(3.0)),
        }],
    };
    check(
        "eval range from 0 to 1m step 1m h\n  h {{schema:0 count:3 sum:1 buckets:[1 0 2]}}\n",
        Value::Matrix(vec![m]),
        None,
    );
}

fn ann(kind: AnnotationKind, msg: &str, start: usize) -> Annotation {
    Annotation {
        kind,
        msg: msg.into(),
        span: Span::new(start, start + 1),
    }
}

#[test]
fn annotations() {
    use AnnotationKind::{Info, Warning};
    let q = "sum(metric)";
    let run = |script: &str, anns: Vec<Annotation>| {
        check_annotations(&eval(script), &anns, q).map_err(|m| m.0)
    };
    let warn = ann(Warning, "mixed", 4);
    let info = ann(Info, "odd", 0);
    let head = "eval instant at 0 sum(metric)\n";
    assert!(run(head, vec![warn.clone(), info.clone()]).is_ok());
    assert!(run(&format!("{head}  expect warn\n"), vec![warn.clone()]).is_ok());
    assert!(run(&format!("{head}  expect warn\n"), vec![info.clone()])
        .unwrap_err()
        .contains("none were found"));
    assert!(run(
        &format!("{head}  expect warn msg: PromQL warning: mixed (1:5)\n"),
        vec![warn.clone()]
    )
    .is_ok());
    assert!(run(
        &format!("{head}  expect warn msg: PromQL warning: mixed (1:1)\n"),
        vec![warn.clone()]
    )
    .unwrap_err()
    .contains("no matching annotation"));
    let two_warn = [warn.clone(), ann(Warning, "other", 0)];
    assert!(run(
        &format!("{head}  expect warn msg: PromQL warning: mixed (1:5)\n"),
        two_warn.to_vec()
    )
    .unwrap_err()
    .contains("unexpected warn annotation \"PromQL warning: other (1:1)\""));
    assert!(run(
        &format!("{head}  expect info regex: odd \\(1:1\\)\n"),
        vec![info.clone()]
    )
    .is_ok());
    assert!(run(&format!("{head}  expect no_warn\n"), vec![info.clone()]).is_ok());
    assert!(
        run(&format!("{head}  expect no_warn\n"), vec![warn.clone()])
            .unwrap_err()
            .contains("unexpected warning")
    );
    assert!(
        run(&format!("{head}  expect no_info\n"), vec![info.clone()])
            .unwrap_err()
            .contains("unexpected info")
    );
    assert!(run("eval_warn instant at 0 sum(metric)\n", vec![])
        .unwrap_err()
        .contains("expected warnings"));
    assert!(run("eval_info instant at 0 sum(metric)\n", vec![info]).is_ok());
}

#[test]
fn expected_failures() {
    let run = |script: &str, err: &str| check_expected_failure(&eval(script), err).is_ok();
    assert!(run("eval instant at 0 x\n  expect fail\n", "anything"));
    assert!(run(
        "eval instant at 0 x\n  expect fail msg: boom\n",
        "boom"
    ));
    assert!(!run(
        "eval instant at 0 x\n  expect fail msg: boom\n",
        "boom!"
    ));
    assert!(run(
        "eval instant at 0 x\n  expect fail regex: conflicting label\n",
        "found conflicting labels"
    ));
    assert!(!run(
        "eval instant at 0 x\n  expect fail regex: ^conflicting\n",
        "found conflicting labels"
    ));
    assert!(run(
        "eval_fail instant at 0 x\n  expected_fail_message boom\n",
        "boom"
    ));
    assert!(!run(
        "eval_fail instant at 0 x\n  expected_fail_regexp ^b$\n",
        "boom"
    ));
}
