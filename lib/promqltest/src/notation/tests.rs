use super::*;
use watchfire_promql::storage::{is_stale_nan, CounterResetHint};

/// Compact rendering of expanded values for table tests.
fn show(vs: &[SeriesValue]) -> String {
    vs.iter()
        .map(|v| match v {
            SeriesValue::Missing => "_".to_string(),
            SeriesValue::Stale => "stale".to_string(),
            SeriesValue::Float(f) => format!("{f}"),
            SeriesValue::Histogram { h, hint_set } => {
                format!(
                    "H(s{} c{} sum{} {:?}{})",
                    h.schema,
                    h.count,
                    h.sum,
                    h.positive_buckets,
                    if *hint_set { " hint" } else { "" }
                )
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `Ok((labels, values))` or `Err(column)`.
type Expect = Result<(&'static str, &'static str), usize>;

fn check(input: &str, expect: Expect) {
    let got = parse_series_line(input);
    match (got, expect) {
        (Ok((l, v)), Ok((el, ev))) => {
            assert_eq!(l.to_string(), el, "labels of {input:?}");
            assert_eq!(show(&v), ev, "values of {input:?}");
        }
        (Err(e), Err(col)) => assert_eq!(e.col, col, "error column for {input:?}: {e}"),
        (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn series_lines() {
    let cases: &[(&str, Expect)] = &[
        ("m 1 2 3", Ok(("m{}", "1 2 3"))),
        (
            "m{a=\"b\"} 5 2+3x2 _ stale",
            Ok(("m{a=\"b\"}", "5 2 5 8 _ stale")),
        ),
        ("m -2+4x3", Ok(("m{}", "-2 2 6 10"))),
        ("m 1-2x4", Ok(("m{}", "1 -1 -3 -5 -7"))),
        ("m 1x4", Ok(("m{}", "1 1 1 1 1"))),
        ("m 1 _x3 stale", Ok(("m{}", "1 _ _ _ stale"))),
        ("m 0x3", Ok(("m{}", "0 0 0 0"))),
        (
            "m Inf -Inf NaN +inf nan",
            Ok(("m{}", "inf -inf NaN inf NaN")),
        ),
        ("m 1e3 1.5E-1 .5 -0.25", Ok(("m{}", "1000 0.15 0.5 -0.25"))),
        ("m 1e3+1e3x1", Ok(("m{}", "1000 2000"))),
        ("m stalex1", Ok(("m{}", "stale stale"))),
        ("m Infx1 NaNx1", Ok(("m{}", "inf inf NaN NaN"))),
        ("m", Ok(("m{}", ""))),
        ("{} 3", Ok(("{}", "3"))),
        ("{__name__=\"x\", b='c'} 1", Ok(("x{b=\"c\"}", "1"))),
        (
            "{\"some.metric\", \"a.b\"=\"c\"} 1",
            Ok(("some.metric{a.b=\"c\"}", "1")),
        ),
        ("m{a=\"b\",} 1", Ok(("m{a=\"b\"}", "1"))),
        ("m{a=`x\\y`} 1", Ok(("m{a=\"x\\\\y\"}", "1"))),
        ("m{a=\"q\\\"{}\\n\"} 1", Ok(("m{a=\"q\\\"{}\\n\"}", "1"))),
        ("ns:rule:sum{a=\"\"} 1", Ok(("ns:rule:sum{}", "1"))),
        ("\tm  1\t2 ", Ok(("m{}", "1 2"))),
        ("m{a=\"b\"}1", Err(9)),
        ("m{a} 1", Err(3)),
        ("m{a=b} 1", Err(5)),
        ("m{a=\"b\" c=\"d\"} 1", Err(9)),
        ("m 1 foo", Err(5)),
        ("m 1+2", Err(6)),
        ("m 1x", Err(5)),
        ("m 1y", Err(4)),
        ("m{a=\"unterminated} 1", Err(5)),
        ("1 2", Err(1)),
    ];
    for (input, expect) in cases {
        check(input, *expect);
    }
}

#[test]
fn stale_is_a_stale_marker_in_storage() {
    let (l, v) = parse_series_line("m 1 _ stale 4").unwrap();
    let s = to_series(l, &v, 1000, 60_000);
    let ts: Vec<i64> = s.samples.iter().map(|p| p.t).collect();
    assert_eq!(ts, vec![1000, 121_000, 181_000]);
    assert!(is_stale_nan(s.samples[1].v));
    assert_eq!(s.samples[2].v, 4.0);
    assert!(s.histograms.is_empty());
}

#[test]
fn repeated_addition_matches_upstream_rounding() {
    let (_, v) = parse_series_line("m 0+0.1x3").unwrap();
    let mut acc = 0.0;
    for x in &v {
        assert_eq!(x.as_f64().unwrap().to_bits(), f64::to_bits(acc));
        acc += 0.1;
    }
}

#[test]
fn histograms() {
    let cases: &[(&str, Expect)] = &[
        ("h {{schema:1 sum:-3 count:22 buckets:[5 10 7]}}", Ok(("h{}", "H(s1 c22 sum-3 [5.0, 10.0, 7.0])"))),
        ("h {{sum:2 count:2}}x2", Ok(("h{}", "H(s0 c2 sum2 []) H(s0 c2 sum2 []) H(s0 c2 sum2 [])"))),
        (
            "h {{schema:0 sum:1 count:1 buckets:[1] counter_reset_hint:gauge}}+{{sum:2 count:2 buckets:[2]}}x2",
            Ok(("h{}", "H(s0 c1 sum1 [1.0] hint) H(s0 c3 sum3 [3.0] hint) H(s0 c5 sum5 [5.0] hint)")),
        ),
        ("h {{sum:10 count:10}}-{{sum:1 count:1}}x1", Ok(("h{}", "H(s0 c10 sum10 []) H(s0 c9 sum9 [])"))),
        ("h {{sum:1 foo:2}}", Err(11)),
        ("h {{sum:1 counter_reset_hint:maybe}}", Err(30)),
        ("h {{sum:1}}+{{sum:1}}", Err(22)),
    ];
    for (input, expect) in cases {
        check(input, *expect);
    }
}

#[test]
fn histogram_fields_and_spans() {
    let (_, v) = parse_series_line(
        "h {{schema:-53 sum:5 count:4 z_bucket:1 z_bucket_w:0.001 buckets:[1 2] offset:2 n_buckets:[3] n_offset:-1 custom_values:[5 10] counter_reset_hint:not_reset}}",
    )
    .unwrap();
    let SeriesValue::Histogram { h, hint_set } = &v[0] else {
        panic!("not a histogram: {v:?}")
    };
    assert!(hint_set);
    assert_eq!(h.schema, -53);
    assert_eq!((h.zero_count, h.zero_threshold), (1.0, 0.001));
    assert_eq!(h.positive_spans, vec![(2, 2)]);
    assert_eq!(h.positive_buckets, vec![1.0, 2.0]);
    assert_eq!(h.negative_spans, vec![(-1, 1)]);
    assert_eq!(h.negative_buckets, vec![3.0]);
    assert_eq!(h.custom_values, vec![5.0, 10.0]);
    assert_eq!(h.counter_reset_hint, CounterResetHint::NotReset);
}

#[test]
fn histogram_addition_merges_spans_and_schemas() {
    // offset 0 [1] + offset 2 [1] => buckets 0 and 2 in two spans.
    let (_, v) = parse_series_line("h {{buckets:[1]}}+{{buckets:[1] offset:2}}x1").unwrap();
    let SeriesValue::Histogram { h, .. } = &v[1] else {
        panic!()
    };
    assert_eq!(h.positive_spans, vec![(0, 1), (1, 1)]);
    assert_eq!(h.positive_buckets, vec![1.0, 1.0]);
    // schema 0 + schema 1: indices 1,2 at schema 1 map to index 1 at schema 0.
    let (_, v) = parse_series_line(
        "h {{schema:0 buckets:[1] offset:1}}+{{schema:1 buckets:[1 1] offset:1}}x1",
    )
    .unwrap();
    let SeriesValue::Histogram { h, .. } = &v[1] else {
        panic!()
    };
    assert_eq!(h.schema, 0);
    assert_eq!(h.positive_spans, vec![(1, 1)]);
    assert_eq!(h.positive_buckets, vec![3.0]);
    let s = to_series(Labels::new([("__name__", "h")]), &v, 0, 10);
    assert_eq!(s.histograms.len(), 2);
    assert_eq!(s.histograms[1].t, 10);
    assert!(s.samples.is_empty());
}

#[test]
fn compact_drops_empty_buckets() {
    let (_, v) = parse_series_line("h {{buckets:[0 1 0 0 2 0] offset:-1}}").unwrap();
    let SeriesValue::Histogram { h, .. } = &v[0] else {
        panic!()
    };
    let c = histogram::compact(h);
    assert_eq!(c.positive_spans, vec![(0, 1), (2, 1)]);
    assert_eq!(c.positive_buckets, vec![1.0, 2.0]);
}

#[test]
fn parse_labels_alone() {
    assert_eq!(
        parse_labels("up{job=\"a\"}").unwrap().to_string(),
        "up{job=\"a\"}"
    );
    assert_eq!(parse_labels("up 1").unwrap_err().col, 4);
    assert_eq!(show(&parse_values("1+1x2 _").unwrap()), "1 2 3 _");
}
