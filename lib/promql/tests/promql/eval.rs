//! End-to-end evaluator tests: parse a query, evaluate it against a small
//! in-memory store, and compare the result rendered as text.

use watchfire_promql::eval::{Engine, Value};
use watchfire_promql::storage::{stale_nan, MemStorage, Sample, Series};
use watchfire_promql::{parse, Labels};

/// Series `name{...}` with one sample per minute from t=0.
fn series(labels: &[(&str, &str)], values: &[f64]) -> Series {
    Series {
        labels: Labels::new(labels.iter().copied()),
        samples: values
            .iter()
            .enumerate()
            .map(|(i, &v)| Sample {
                t: i as i64 * 60_000,
                v,
            })
            .collect(),
        histograms: Vec::new(),
    }
}

fn store() -> MemStorage {
    MemStorage {
        series: vec![
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("job", "api"),
                    ("instance", "a"),
                ],
                &[0.0, 10.0, 20.0, 30.0, 40.0, 50.0],
            ),
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("job", "api"),
                    ("instance", "b"),
                ],
                &[0.0, 20.0, 40.0, 5.0, 25.0, 45.0],
            ),
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("job", "web"),
                    ("instance", "a"),
                ],
                &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
            ),
            series(
                &[("__name__", "gauge"), ("job", "api")],
                &[3.0, 1.0, 4.0, 1.0, 5.0, stale_nan()],
            ),
            series(&[("__name__", "bucket_bucket"), ("le", "1")], &[0.0, 10.0]),
            series(&[("__name__", "bucket_bucket"), ("le", "2")], &[0.0, 30.0]),
            series(
                &[("__name__", "bucket_bucket"), ("le", "+Inf")],
                &[0.0, 40.0],
            ),
            series(&[("__name__", "one"), ("job", "api")], &[1.0]),
            series(&[("__name__", "one"), ("job", "api"), ("x", "y")], &[2.0]),
        ],
    }
}

/// Renders a value as sorted `labels value` lines.
fn render(v: &Value) -> String {
    let mut lines: Vec<String> = match v {
        Value::Scalar { v, .. } => vec![format!("scalar {v}")],
        Value::String { v, .. } => vec![format!("string {v}")],
        Value::Vector(vs) => vs.iter().map(|s| format!("{} {}", s.labels, s.v)).collect(),
        Value::Matrix(m) => m
            .iter()
            .map(|s| {
                let pts: Vec<String> = s
                    .samples
                    .iter()
                    .map(|p| format!("{}@{}", p.v, p.t / 1000))
                    .collect();
                format!("{} {}", s.labels, pts.join(" "))
            })
            .collect(),
    };
    lines.sort();
    lines.join("; ")
}

/// Evaluates `query` at minute `t_min` and compares with `expect` (or with
/// `ERR:<message>` for a failure).
fn check(query: &str, t_min: i64, expect: &str) {
    let expr = parse(query).unwrap_or_else(|e| panic!("parse {query}: {e}"));
    let got = match Engine::default().instant(&store(), &expr, t_min * 60_000) {
        Ok(r) => render(&r.value),
        Err(e) => format!("ERR:{e}"),
    };
    assert_eq!(got, expect, "query {query} at {t_min}m");
}

#[test]
fn instant_queries() {
    let cases: &[(&str, i64, &str)] = &[
        ("1 + 2 * 3", 0, "scalar 7"),
        ("gauge", 2, r#"gauge{job="api"} 4"#),
        ("gauge", 5, ""),
        ("gauge offset 2m", 4, r#"gauge{job="api"} 4"#),
        ("gauge @ 120", 5, r#"gauge{job="api"} 4"#),
        ("sum by (job) (http_requests_total)", 5, r#"{job="api"} 95; {job="web"} 1"#),
        ("count(http_requests_total)", 5, "{} 3"),
        ("max without (instance) (http_requests_total)", 5, r#"{job="api"} 50; {job="web"} 1"#),
        ("topk(1, http_requests_total)", 5, r#"http_requests_total{instance="a", job="api"} 50"#),
        ("increase(http_requests_total{job=\"api\",instance=\"b\"}[5m])", 5, r#"{instance="b", job="api"} 81.25"#),
        ("rate(http_requests_total{instance=\"a\",job=\"api\"}[5m])", 5, r#"{instance="a", job="api"} 0.16666666666666666"#),
        ("resets(http_requests_total[10m])", 5, r#"{instance="a", job="api"} 0; {instance="a", job="web"} 0; {instance="b", job="api"} 1"#),
        ("http_requests_total{job=\"api\"} / on(job) group_left gauge", 4, r#"{instance="a", job="api"} 8; {instance="b", job="api"} 5"#),
        ("gauge > bool 2", 4, r#"{job="api"} 1"#),
        ("gauge and on(job) http_requests_total", 4, r#"gauge{job="api"} 5"#),
        ("histogram_quantile(0.5, bucket_bucket)", 1, "{} 1.5"),
        ("absent(nonexistent{job=\"x\"})", 0, r#"{job="x"} 1"#),
        ("label_replace(gauge, \"dst\", \"$1\", \"job\", \"(a).*\")", 0, r#"gauge{dst="a", job="api"} 3"#),
        ("sum_over_time(gauge[3m])", 3, r#"{job="api"} 6"#),
        ("one + on(job) one", 0, "ERR:found duplicate series for the match group {job=\"api\"} on the right hand-side of the operation: [{__name__=\"one\", job=\"api\"}, {__name__=\"one\", job=\"api\", x=\"y\"}];many-to-many matching not allowed: matching labels must be unique on one side"),
        ("max_over_time(gauge[4m:1m])", 4, r#"{job="api"} 5"#),
        ("gauge[2m]", 2, r#"gauge{job="api"} 1@60 4@120"#),
    ];
    for (q, t, e) in cases {
        check(q, *t, e);
    }
}

#[test]
fn range_query_steps_and_names() {
    let expr = parse("rate(http_requests_total{job=\"web\"}[2m])").expect("parse");
    let r = Engine::default()
        .range(&store(), &expr, 120_000, 300_000, 60_000)
        .expect("eval");
    assert_eq!(
        render(&r.value),
        r#"{instance="a", job="web"} 0@120 0@180 0@240 0@300"#
    );
    let expr = parse("sort(gauge)").expect("parse");
    let r = Engine::default()
        .range(&store(), &expr, 0, 60_000, 60_000)
        .expect("eval");
    assert_eq!(r.annotations.len(), 1);
    assert!(r.annotations[0]
        .render("sort(gauge)")
        .starts_with("PromQL warning: sort is ineffective"));
}

#[test]
fn counter_info_annotation() {
    let q = "rate(gauge[5m])";
    let r = Engine::default()
        .instant(&store(), &parse(q).expect("parse"), 240_000)
        .expect("eval");
    let msgs: Vec<String> = r.annotations.iter().map(|a| a.render(q)).collect();
    assert_eq!(
        msgs,
        vec![
            r#"PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "gauge" (1:6)"#
        ]
    );
}

/// What a hostile query must give: a parse error, an evaluation error
/// (with this text), or a result (possibly empty) — never a panic, even
/// with overflow checks on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    ParseError(&'static str),
    EvalError(&'static str),
    Evaluates,
}

fn check_hostile(
    q: &str,
    opts: watchfire_promql::eval::EngineOptions,
    times: &[i64],
    want: Outcome,
) {
    let st = store();
    let e = match parse(q) {
        Err(err) => {
            match want {
                Outcome::ParseError(msg) => assert!(err.msg.contains(msg), "{q}: {err}"),
                _ => panic!("{q}: unexpected parse error {err}"),
            }
            return;
        }
        Ok(e) => e,
    };
    let engine = Engine::new(opts);
    for &t in times {
        let results = [
            engine.instant(&st, &e, t),
            engine.range(&st, &e, t.saturating_sub(600_000), t, 60_000),
        ];
        for r in results {
            match (want, r) {
                (Outcome::Evaluates, Ok(_)) => {}
                (Outcome::EvalError(msg), Err(err)) => {
                    assert!(err.to_string().contains(msg), "{q} at {t}: {err}")
                }
                (want, got) => panic!("{q} at {t}: want {want:?}, got {got:?}"),
            }
        }
    }
}

#[test]
fn extreme_at_and_offset_never_overflow() {
    use Outcome::*;
    let d = watchfire_promql::eval::EngineOptions::default;
    let cases: &[(&str, Outcome)] = &[
        ("http_requests_total @ 9e15 offset -1y", Evaluates),
        ("http_requests_total @ -9e15 offset 1y", Evaluates),
        ("http_requests_total @ 9.2e15 offset -292y", Evaluates),
        ("http_requests_total offset 292y", Evaluates),
        ("http_requests_total offset -292y", Evaluates),
        ("rate(http_requests_total[292y] @ -9.2e15)", Evaluates),
        (
            "rate(http_requests_total[5m] @ 9.2e15 offset -292y)",
            Evaluates,
        ),
        (
            "sum_over_time(http_requests_total[1h:1m] @ -9.2e15 offset 292y)",
            Evaluates,
        ),
        ("timestamp(http_requests_total @ 9.2e15)", Evaluates),
        (
            "http_requests_total @ 1e16",
            ParseError("timestamp out of bounds for @ modifier"),
        ),
        (
            "http_requests_total @ -1e16",
            ParseError("timestamp out of bounds for @ modifier"),
        ),
        (
            "http_requests_total @ 9223372036854775.807",
            ParseError("out of bounds"),
        ),
    ];
    for (q, want) in cases {
        check_hostile(q, d(), &[0, 300_000, i64::MAX, i64::MIN], *want);
    }
}

#[test]
fn step_and_sample_limits() {
    use watchfire_promql::eval::EngineOptions;
    use Outcome::*;
    const SAMPLES: &str =
        "query processing would load too many samples into memory in query execution";
    let small = |max_samples| EngineOptions {
        max_samples,
        ..EngineOptions::default()
    };
    let cases: Vec<(&str, EngineOptions, Outcome)> = vec![
        // ~3e10 steps: refused up front instead of running for hours.
        (
            "max_over_time(http_requests_total[1y:1ms])",
            small(50_000_000),
            EvalError("steps"),
        ),
        (
            "http_requests_total[1y:1ms]",
            small(50_000_000),
            EvalError("steps"),
        ),
        (
            "max_over_time(http_requests_total[1h:1m])",
            small(50_000_000),
            Evaluates,
        ),
        // 3 series x 6 samples = 18 raw samples per selection.
        ("http_requests_total[1h]", small(17), EvalError(SAMPLES)),
        ("http_requests_total[1h]", small(18 * 2 * 11), Evaluates),
        (
            "sum_over_time(http_requests_total[1h:10s])",
            small(100),
            EvalError(SAMPLES),
        ),
    ];
    for (q, opts, want) in cases {
        check_hostile(q, opts, &[300_000], want);
    }
    // A range query with too many steps.
    let e = parse("http_requests_total").unwrap();
    let err = Engine::default()
        .range(&store(), &e, 0, 3_600_000_000, 1)
        .unwrap_err();
    assert!(err.to_string().contains("steps"), "{err}");
}
