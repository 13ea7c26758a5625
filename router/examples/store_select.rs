//! Rough timing of the series store at benchmark scale: 100k series
//! (100 metrics × 1000 instances) with 1 h of 15 s samples, then the
//! selections a rule cycle makes. Run with
//! `cargo run --release -p watchfire-router --example store_select`.

use std::time::Instant;

use watchfire_promql::labels::{Labels, MatchOp, Matcher};
use watchfire_promql::storage::Storage;
use watchfire_router::store::{SeriesBatch, Store, StoreConfig};

fn main() {
    let store = Store::new(StoreConfig::default());
    let series: Vec<Labels> = (0..100_000)
        .map(|i| {
            Labels::new([
                ("__name__", format!("metric_{}", i % 100)),
                ("instance", format!("host-{}:9100", i / 100)),
                ("job", format!("job-{}", i % 7)),
                ("service", format!("svc-{}", i % 50)),
            ])
        })
        .collect();
    let start = Instant::now();
    for step in 0..240i64 {
        let t = step * 15_000;
        let batch: Vec<SeriesBatch> = series
            .iter()
            .map(|l| SeriesBatch {
                labels: l.clone(),
                samples: vec![watchfire_promql::storage::Sample { t, v: t as f64 }],
                histograms: vec![],
            })
            .collect();
        for chunk in batch.chunks(2000) {
            store.append_batch(chunk).expect("append");
        }
    }
    let load = start.elapsed();
    let st = store.stats();
    println!(
        "loaded {} series / {} samples in {:?} ({:.0} samples/s); {} MiB, {} B/series",
        st.series,
        st.samples,
        load,
        st.samples as f64 / load.as_secs_f64(),
        st.bytes >> 20,
        st.bytes_per_series()
    );
    let maxt = 239 * 15_000;
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).expect("matcher");
    let cases: Vec<(&str, Vec<Matcher>, i64)> = vec![
        (
            "one metric (1000 series), 5m",
            vec![m(MatchOp::Equal, "__name__", "metric_42")],
            300_000,
        ),
        (
            "one metric + job regex, 5m",
            vec![
                m(MatchOp::Equal, "__name__", "metric_42"),
                m(MatchOp::Regex, "job", "job-(1|2)"),
            ],
            300_000,
        ),
        (
            "one metric + instance!~, 5m",
            vec![
                m(MatchOp::Equal, "__name__", "metric_42"),
                m(MatchOp::NotRegex, "instance", "host-1.*"),
            ],
            300_000,
        ),
        (
            "one series, 1h",
            vec![
                m(MatchOp::Equal, "instance", "host-7:9100"),
                m(MatchOp::Equal, "__name__", "metric_7"),
            ],
            3_600_000,
        ),
        (
            "name regex (10k series), instant",
            vec![m(MatchOp::Regex, "__name__", "metric_1.")],
            300_000,
        ),
        (
            "all 100k series, instant",
            vec![m(MatchOp::Regex, "__name__", ".+")],
            300_000,
        ),
    ];
    for (name, ms, range) in cases {
        let n = 20;
        let t0 = Instant::now();
        let mut got = 0;
        for _ in 0..n {
            got = store.select(&ms, maxt - range, maxt).len();
        }
        println!("{name}: {got} series, {:?} per select", t0.elapsed() / n);
    }
    let t0 = Instant::now();
    let g = store.gc(maxt + 60_000 + 3_600_000 - 15_000 * 10);
    println!("gc: {g:?} in {:?}", t0.elapsed());
}
