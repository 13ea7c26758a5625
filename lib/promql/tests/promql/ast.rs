//! `Expr::lookback_span`: how far back an expression reads.

use watchfire_promql::parse;

const LOOKBACK: i64 = 300_000;

fn check(query: &str, expect_ms: i64) {
    let e = parse(query).unwrap_or_else(|err| panic!("{query}: {err}"));
    assert_eq!(e.lookback_span(LOOKBACK), expect_ms, "{query}");
}

#[test]
fn lookback_spans() {
    for (q, want) in [
        ("1", 0),
        ("up", LOOKBACK),
        ("up offset 1h", LOOKBACK + 3_600_000),
        ("up offset -1h", LOOKBACK),
        ("rate(x[5m])", 300_000),
        ("rate(x[5m] offset 10m)", 900_000),
        ("sum by (job) (rate(x[1h])) / sum(rate(y[5m]))", 3_600_000),
        ("max_over_time(rate(x[5m])[1h:1m])", 3_600_000 + 300_000),
        (
            "max_over_time(rate(x[5m])[1h:1m] offset 1h)",
            7_200_000 + 300_000,
        ),
        ("rate(x[5m] @ 100)", 0),
        ("topk(3, rate(x[10m]))", 600_000),
        ("-(up)", LOOKBACK),
    ] {
        check(q, want);
    }
}
