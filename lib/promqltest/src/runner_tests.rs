use super::*;
use watchfire_promql::storage::{is_stale_nan, Sample};

fn outcomes(name: &str, script: &str) -> Vec<String> {
    run_script(name, script, &RunOptions::default())
        .cases
        .iter()
        .map(|c| match &c.outcome {
            CaseOutcome::Pass => format!("{}:pass", c.line),
            CaseOutcome::Fail(_) => format!("{}:fail", c.line),
            CaseOutcome::Skip(r) => format!("{}:skip {r}", c.line),
        })
        .collect()
}

fn check(name: &str, script: &str, expect: &[&str]) {
    assert_eq!(outcomes(name, script), expect, "{name}:\n{script}");
}

#[test]
fn skips_and_script_errors() {
    check(
        "info",
        "load 1m\n  m 1\n\neval instant at 0 m\n  m 1\n",
        &["4:skip experimental:info"],
    );
    check(
        "native_histograms",
        "load 1m\n  h {{sum:1 count:1}}\n  f 1\n\neval instant at 0 h\n  h {{sum:1 count:1}}\n\neval instant at 0 rate(h[1m])\n\neval instant at 0 f\n  {} {{count:1}}\n",
        &[
            "5:skip native-histogram-result",
            "8:skip native-histogram-data",
            "10:skip native-histogram-result",
        ],
    );
    // After `clear`, `h` is no longer histogram data, so the eval runs.
    let after_clear = outcomes(
        "native_histograms",
        "load 1m\n  h {{sum:1 count:1}}\n\nclear\n\neval instant at 0 h\n",
    );
    assert_eq!(after_clear.len(), 1);
    assert!(!after_clear[0].contains("skip"), "{after_clear:?}");
    check(
        "histograms",
        "load_with_nhcb 5m\n  req_bucket{le=\"1\"} 1\n  req_count 1\n\neval instant at 0 histogram_quantile(0.5, req)\n\nfrobnicate\n",
        &["5:skip load_with_nhcb", "7:fail"],
    );
}

#[test]
fn loads_are_additive_and_clear_resets() {
    let mut st = State::default();
    let script = parse_script(
        "load 1m\n  m{a=\"1\"} 1 2\n  h {{count:1}}\n\nload 1m\n  m{a=\"1\"} _ _ 3 stale\n  n 5\n",
    );
    for c in &script.commands {
        if let Command::Load(l) = c {
            st.load(l);
        }
    }
    assert_eq!(st.storage.series.len(), 3);
    let m = &st.storage.series[0];
    let pts: Vec<(i64, bool)> = m.samples.iter().map(|s| (s.t, is_stale_nan(s.v))).collect();
    assert_eq!(
        pts,
        vec![
            (0, false),
            (60_000, false),
            (120_000, false),
            (180_000, true)
        ]
    );
    assert_eq!(m.samples[2], Sample { t: 120_000, v: 3.0 });
    assert!(st.native_hist.contains("h"));
    assert!(!st.native_hist.contains("m"));
    assert_eq!(st.storage.series[1].histograms.len(), 1);
}

#[test]
fn query_tokens() {
    let t = tokens("sum by (job) (rate(http_requests_total{job=~\"api|web\"}[5m])) / ns:rule:x");
    for w in [
        "sum",
        "job",
        "rate",
        "http_requests_total",
        "api",
        "web",
        "5m",
        "ns:rule:x",
    ] {
        assert!(t.contains(w), "{w} in {t:?}");
    }
    assert!(!t.contains("http_requests"));
}

#[test]
fn points_at_picks_exact_step() {
    let s = Series {
        labels: crate::notation::parse_labels("m").unwrap(),
        samples: vec![Sample { t: 0, v: 1.0 }, Sample { t: 60_000, v: 2.0 }],
        histograms: vec![],
    };
    let v = points_at(std::slice::from_ref(&s), 60_000);
    assert_eq!(v.len(), 1);
    assert_eq!((v[0].t, v[0].v), (60_000, 2.0));
    assert!(points_at(&[s], 30_000).is_empty());
}

#[test]
fn report_counts() {
    let script = "eval instant at 0 a\n\neval instant at 0 b\n\nbogus\n";
    let r = run_script("limit", script, &RunOptions::default());
    assert_eq!((r.passed(), r.failed(), r.skipped()), (0, 0, 3));
    assert_eq!(
        r.summary(),
        "limit: 0 pass, 0 fail, 3 skip (reasons: experimental:limit=3)"
    );
    let r = run_script("selectors", script, &RunOptions::default());
    assert_eq!(r.failed() + r.passed(), 3);
    assert!(r.failures().any(|c| c.line == 5));
}
