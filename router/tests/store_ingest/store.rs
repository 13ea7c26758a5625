//! Series store: append rules, limits, retention, selection.

use std::sync::Arc;

use watchfire_promql::labels::{Labels, MatchOp, Matcher};
use watchfire_promql::storage::{stale_nan, FloatHistogram, MemStorage, Sample, Series, Storage};
use watchfire_router::store::{AppendError, Appended, SeriesBatch, Store, StoreConfig};

pub fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied())
}

fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).unwrap()
}

/// Sorted `(labels, samples)` for order-independent comparison.
pub fn canon(mut v: Vec<Series>) -> Vec<(String, Vec<(i64, u64)>)> {
    v.sort_by(|a, b| a.labels.cmp(&b.labels));
    v.into_iter()
        .map(|s| {
            (
                s.labels.to_string(),
                s.samples.iter().map(|p| (p.t, p.v.to_bits())).collect(),
            )
        })
        .collect()
}

fn small(cfg: impl FnOnce(&mut StoreConfig)) -> Store {
    let mut c = StoreConfig {
        shards: 4,
        ..StoreConfig::default()
    };
    cfg(&mut c);
    Store::new(c)
}

type Op = (&'static str, i64, f64);
type Want = Result<Appended, &'static str>;

/// Runs appends on one store and compares each result.
fn check(ops: &[Op], expect: &[Want]) {
    let store = small(|_| {});
    let got: Vec<Want> = ops
        .iter()
        .map(|(name, t, v)| {
            store
                .append(&ls(&[("__name__", name)]), *t, *v)
                .map_err(|e| e.reason())
        })
        .collect();
    assert_eq!(got, expect, "ops {ops:?}");
}

#[test]
fn append_rules() {
    use Appended::*;
    let nan = stale_nan();
    let cases: Vec<(Vec<Op>, Vec<Want>)> = vec![
        (
            vec![("a", 10, 1.0), ("a", 20, 2.0)],
            vec![Ok(Stored), Ok(Stored)],
        ),
        // same timestamp, same value: silently accepted
        (
            vec![("a", 10, 1.0), ("a", 10, 1.0)],
            vec![Ok(Stored), Ok(Duplicate)],
        ),
        // same timestamp, other value
        (
            vec![("a", 10, 1.0), ("a", 10, 2.0)],
            vec![Ok(Stored), Err("duplicate_timestamp")],
        ),
        // older than newest
        (
            vec![("a", 10, 1.0), ("a", 20, 1.0), ("a", 15, 1.0)],
            vec![Ok(Stored), Ok(Stored), Err("out_of_order")],
        ),
        // series are independent
        (
            vec![("a", 10, 1.0), ("b", 5, 1.0)],
            vec![Ok(Stored), Ok(Stored)],
        ),
        // stale markers are stored; same marker again is a duplicate
        (
            vec![("a", 10, 1.0), ("a", 20, nan), ("a", 20, nan)],
            vec![Ok(Stored), Ok(Stored), Ok(Duplicate)],
        ),
        // a plain NaN is not the stale marker
        (
            vec![("a", 20, nan), ("a", 20, f64::NAN)],
            vec![Ok(Stored), Err("duplicate_timestamp")],
        ),
    ];
    for (ops, expect) in cases {
        check(&ops, &expect);
    }
}

#[test]
fn stale_marker_is_stored_bit_exact() {
    let store = small(|_| {});
    let l = ls(&[("__name__", "a")]);
    store.append(&l, 1, 1.0).unwrap();
    store.append(&l, 2, stale_nan()).unwrap();
    let got = store.select(&[m(MatchOp::Equal, "__name__", "a")], 0, 10);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples[1].v.to_bits(), stale_nan().to_bits());
}

#[test]
fn limits() {
    let long = "x".repeat(11);
    let many: Vec<(String, String)> = (0..5).map(|i| (format!("l{i}"), "v".to_string())).collect();
    let cases: Vec<(Labels, &str)> = vec![
        (ls(&[("__name__", "ok")]), "ok"),
        (
            Labels::new(many.iter().map(|(a, b)| (a.as_str(), b.as_str()))),
            "too_many_labels",
        ),
        (
            ls(&[("__name__", "a"), (&long, "v")]),
            "label_name_too_long",
        ),
        (
            ls(&[("__name__", "a"), ("x", &long)]),
            "label_value_too_long",
        ),
        (Labels::empty(), "empty_labels"),
    ];
    for (labels, want) in cases {
        let store = small(|c| {
            c.max_labels_per_series = 4;
            c.max_label_name_len = 10;
            c.max_label_value_len = 10;
        });
        let got = store
            .append(&labels, 1, 1.0)
            .map_or_else(|e| e.reason(), |_| "ok");
        assert_eq!(got, want, "{labels}");
        assert_eq!(store.series_count(), usize::from(want == "ok"));
    }
}

#[test]
fn series_limit() {
    let store = small(|c| c.max_series = 2);
    let a = ls(&[("__name__", "a")]);
    let b = ls(&[("__name__", "b")]);
    let c = ls(&[("__name__", "c")]);
    store.append(&a, 1, 1.0).unwrap();
    store.append(&b, 1, 1.0).unwrap();
    assert_eq!(
        store.append(&c, 1, 1.0),
        Err(AppendError::SeriesLimit { limit: 2 })
    );
    // existing series still take samples
    assert_eq!(store.append(&a, 2, 1.0), Ok(Appended::Stored));
    assert_eq!(store.stats().rejected_series_limit_total, 1);
    // retention frees room
    store.append(&b, 100_000, 1.0).unwrap();
    let g = store.gc(3_700_000);
    assert_eq!(g.series_removed, 1);
    assert_eq!(store.append(&c, 3_700_000, 1.0), Ok(Appended::Stored));
}

#[test]
fn retention_gc() {
    let store = small(|c| c.retention_ms = 1000);
    let a = ls(&[("__name__", "a")]);
    let old = ls(&[("__name__", "old")]);
    for t in (0..=5000).step_by(500) {
        store.append(&a, t, t as f64).unwrap();
    }
    store.append(&old, 100, 1.0).unwrap();
    let before = store.stats();
    assert_eq!((before.series, before.samples), (2, 12));
    let g = store.gc(4000);
    assert_eq!((g.samples_removed, g.series_removed), (7, 1));
    let all = store.select(&[m(MatchOp::Regex, "__name__", ".+")], i64::MIN, i64::MAX);
    let ts: Vec<i64> = all
        .iter()
        .flat_map(|s| s.samples.iter().map(|p| p.t))
        .collect();
    assert_eq!(ts, vec![3000, 3500, 4000, 4500, 5000]);
    // older than the cutoff is refused from now on
    assert_eq!(
        store.append(&ls(&[("__name__", "new")]), 2999, 1.0),
        Err(AppendError::TooOld { t: 2999, min: 3000 })
    );
    assert_eq!(store.stats().series, 1);
    assert!(store.stats().bytes < before.bytes);
}

fn fixture() -> (Store, MemStorage) {
    let store = small(|_| {});
    let mut mem = MemStorage::default();
    let series = [
        vec![("__name__", "up"), ("job", "api"), ("instance", "a")],
        vec![("__name__", "up"), ("job", "api"), ("instance", "b")],
        vec![("__name__", "up"), ("job", "web"), ("instance", "c")],
        vec![("__name__", "up"), ("instance", "d")],
        vec![
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("code", "200"),
        ],
        vec![
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("code", "500"),
        ],
    ];
    for (i, s) in series.iter().enumerate() {
        let l = ls(s);
        let samples: Vec<Sample> = (0..5)
            .map(|k| Sample {
                t: k * 10,
                v: (i * 10) as f64 + k as f64,
            })
            .collect();
        for p in &samples {
            store.append(&l, p.t, p.v).unwrap();
        }
        mem.series.push(Series {
            labels: l,
            samples,
            histograms: vec![],
        });
    }
    (store, mem)
}

#[test]
fn selection_matches_reference() {
    use MatchOp::*;
    let (store, mem) = fixture();
    let cases: Vec<(Vec<Matcher>, (i64, i64), usize)> = vec![
        (vec![m(Equal, "__name__", "up")], (0, 100), 4),
        (vec![m(Equal, "job", "api")], (0, 100), 4),
        (
            vec![m(Equal, "__name__", "up"), m(Equal, "job", "api")],
            (0, 100),
            2,
        ),
        (
            vec![m(Equal, "__name__", "up"), m(NotEqual, "job", "api")],
            (0, 100),
            2,
        ),
        (
            vec![m(Equal, "__name__", "up"), m(Equal, "job", "")],
            (0, 100),
            1,
        ),
        (
            vec![m(Equal, "__name__", "up"), m(NotEqual, "job", "")],
            (0, 100),
            3,
        ),
        (vec![m(Regex, "job", "a.*")], (0, 100), 4),
        (vec![m(Regex, "job", "api|web")], (0, 100), 5),
        (vec![m(Regex, "instance", "a|b|zz")], (0, 100), 2),
        (
            vec![m(Equal, "__name__", "up"), m(NotRegex, "job", "api|web")],
            (0, 100),
            1,
        ),
        (
            vec![m(Equal, "__name__", "up"), m(NotRegex, "job", "w.*")],
            (0, 100),
            3,
        ),
        (
            vec![m(Equal, "__name__", "up"), m(Regex, "job", "|api")],
            (0, 100),
            3,
        ),
        (
            vec![m(Regex, "__name__", ".+"), m(Regex, "code", "5..")],
            (0, 100),
            1,
        ),
        (vec![m(NotEqual, "job", "api")], (0, 100), 2),
        (vec![m(Equal, "__name__", "nope")], (0, 100), 0),
        (
            vec![m(Equal, "__name__", "up"), m(Equal, "job", "nope")],
            (0, 100),
            0,
        ),
        // time windows: inclusive bounds, empty windows omit series
        (vec![m(Equal, "__name__", "up")], (10, 20), 4),
        (vec![m(Equal, "__name__", "up")], (41, 100), 0),
    ];
    for (ms, (mint, maxt), n) in cases {
        let got = canon(store.select(&ms, mint, maxt));
        let want = canon(mem.select(&ms, mint, maxt));
        assert_eq!(got, want, "{ms:?}");
        assert_eq!(got.len(), n, "{ms:?}");
    }
    let w = store.select(
        &[m(Equal, "__name__", "up"), m(Equal, "instance", "a")],
        10,
        20,
    );
    assert_eq!(
        w[0].samples.iter().map(|p| p.t).collect::<Vec<_>>(),
        vec![10, 20]
    );
}

#[test]
fn selection_at_scale_matches_reference() {
    // Many series with overlapping label values; every matcher kind.
    let store = small(|c| c.shards = 8);
    let mut mem = MemStorage::default();
    for i in 0..2000u32 {
        // (i % 7, i % 101, i % 3) is unique below 2121
        let name = format!("metric_{}", i % 7);
        let inst = format!("host-{}", i % 101);
        let job = ["api", "web", "db"][(i % 3) as usize];
        let mut pairs = vec![
            ("__name__", name.as_str()),
            ("instance", inst.as_str()),
            ("job", job),
        ];
        let extra = format!("{}", i % 5);
        if i % 4 == 0 {
            pairs.push(("shard", extra.as_str()));
        }
        let l = ls(&pairs);
        store.append(&l, 1000, f64::from(i)).unwrap();
        mem.series.push(Series {
            labels: l,
            samples: vec![Sample {
                t: 1000,
                v: f64::from(i),
            }],
            histograms: vec![],
        });
    }
    use MatchOp::*;
    let sets: Vec<Vec<Matcher>> = vec![
        vec![m(Equal, "__name__", "metric_3")],
        vec![
            m(Equal, "__name__", "metric_3"),
            m(Regex, "instance", "host-1.*"),
        ],
        vec![m(Regex, "instance", "host-(1|2)"), m(NotEqual, "job", "db")],
        vec![
            m(Equal, "__name__", "metric_1"),
            m(NotRegex, "shard", "1|2"),
        ],
        vec![
            m(Equal, "shard", ""),
            m(Equal, "job", "api"),
            m(Equal, "instance", "host-7"),
        ],
        vec![m(Regex, "shard", ".+"), m(NotEqual, "__name__", "metric_0")],
        vec![m(NotRegex, "job", "api|web")],
    ];
    for ms in sets {
        let got = canon(store.select(&ms, 0, 2000));
        let want = canon(mem.select(&ms, 0, 2000));
        assert!(!want.is_empty(), "{ms:?}");
        assert_eq!(got, want, "{ms:?}");
    }
}

#[test]
fn histograms_pass_through() {
    let store = small(|_| {});
    let l = ls(&[("__name__", "h")]);
    let h = Arc::new(FloatHistogram {
        count: 3.0,
        sum: 4.5,
        positive_spans: vec![(0, 2)],
        positive_buckets: vec![1.0, 2.0],
        ..FloatHistogram::default()
    });
    assert_eq!(
        store.append_histogram(&l, 10, h.clone()),
        Ok(Appended::Stored)
    );
    assert_eq!(
        store.append_histogram(&l, 10, h.clone()),
        Ok(Appended::Duplicate)
    );
    assert_eq!(
        store.append_histogram(&l, 5, h.clone()),
        Err(AppendError::OutOfOrder { t: 5, last: 10 })
    );
    let got = store.select(&[m(MatchOp::Equal, "__name__", "h")], 0, 100);
    assert_eq!(got[0].histograms.len(), 1);
    assert_eq!(*got[0].histograms[0].h, *h);
}

#[test]
fn batch_is_all_or_nothing_on_sample_errors() {
    let store = small(|c| c.max_series = 3);
    let a = ls(&[("__name__", "a")]);
    store.append(&a, 100, 1.0).unwrap();
    let snapshot = canon(store.select(&[m(MatchOp::Regex, "__name__", ".+")], 0, 1000));
    let sb = |l: &Labels, ts: &[i64]| SeriesBatch {
        labels: l.clone(),
        samples: ts.iter().map(|&t| Sample { t, v: 1.0 }).collect(),
        histograms: vec![],
    };
    let b = ls(&[("__name__", "b")]);
    // a good series first, then an out-of-order one: nothing is written
    let err = store
        .append_batch(&[sb(&b, &[1, 2]), sb(&a, &[50])])
        .unwrap_err();
    assert_eq!(err.append_error().reason(), "out_of_order");
    // out of order inside the batch, across two entries of one series
    let err = store
        .append_batch(&[sb(&b, &[5]), sb(&b, &[4])])
        .unwrap_err();
    assert_eq!(err.append_error().reason(), "out_of_order");
    assert_eq!(
        canon(store.select(&[m(MatchOp::Regex, "__name__", ".+")], 0, 1000)),
        snapshot
    );
    // series limit: existing and first new series are stored, rest dropped
    let c = ls(&[("__name__", "c")]);
    let d = ls(&[("__name__", "d")]);
    let o = store
        .append_batch(&[sb(&a, &[200]), sb(&b, &[1]), sb(&c, &[1, 2]), sb(&d, &[1])])
        .unwrap();
    assert_eq!(o.series_created, 2);
    assert_eq!(o.series_limited, 1);
    assert!([1, 2].contains(&o.samples_limited), "{o:?}");
    assert_eq!(o.appended, 5 - o.samples_limited);
    assert_eq!(store.series_count(), 3);
}

#[test]
fn memory_is_measured() {
    let store = small(|_| {});
    let l = ls(&[("__name__", "a"), ("job", "x")]);
    store.append(&l, 0, 0.0).unwrap();
    let one = store.series_bytes(&l).unwrap();
    for t in 1..1000 {
        store.append(&l, t, 0.0).unwrap();
    }
    let many = store.series_bytes(&l).unwrap();
    assert!(many >= one + 999 * 16, "{one} {many}");
    let st = store.stats();
    assert!(st.bytes >= many && st.bytes_per_series() >= many, "{st:?}");
}

#[test]
fn concurrent_readers_and_writers() {
    let store = Arc::new(small(|c| c.shards = 4));
    std::thread::scope(|s| {
        for w in 0..2 {
            let store = store.clone();
            s.spawn(move || {
                for i in 0..2000i64 {
                    let l = ls(&[
                        ("__name__", "c"),
                        ("w", &w.to_string()),
                        ("i", &(i % 50).to_string()),
                    ]);
                    store.append(&l, i, 1.0).unwrap();
                }
            });
        }
        for _ in 0..2 {
            let store = store.clone();
            s.spawn(move || {
                for _ in 0..200 {
                    let got = store.select(&[m(MatchOp::Equal, "__name__", "c")], 0, i64::MAX);
                    assert!(got.len() <= 100);
                }
            });
        }
    });
    assert_eq!(store.series_count(), 100);
    assert_eq!(store.stats().samples, 4000);
}

#[test]
fn store_metrics_are_exported() {
    let store = Arc::new(small(|_| {}));
    store.append(&ls(&[("__name__", "a")]), 1, 1.0).unwrap();
    let _ = store.append(&ls(&[("__name__", "a")]), 0, 1.0);
    let metrics = watchfire_router::metrics::Metrics::new();
    watchfire_router::store::metrics::StoreCollector::register(store.clone(), &metrics.registry)
        .unwrap();
    let text = metrics.encode();
    for want in [
        "watchfire_store_series 1",
        "watchfire_store_appended_samples_total 1",
        "watchfire_store_rejected_samples_total{reason=\"out_of_order\"} 1",
        "watchfire_store_memory_bytes ",
        "watchfire_store_memory_bytes_per_series ",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // a second scrape does not double-count
    assert!(metrics
        .encode()
        .contains("watchfire_store_appended_samples_total 1"));
}

#[test]
fn internal_series_are_exempt_from_the_series_limit() {
    let store = Arc::new(small(|c| {
        c.max_series = 2;
        c.retention_ms = 100;
    }));
    // remote_write fills the limit
    store.append(&ls(&[("__name__", "rw1")]), 10, 1.0).unwrap();
    store.append(&ls(&[("__name__", "rw2")]), 10, 1.0).unwrap();
    let limited = store.append(&ls(&[("__name__", "rw3")]), 10, 1.0);
    assert_eq!(limited, Err(AppendError::SeriesLimit { limit: 2 }));
    // alerts and rule results still get in, through the trait the rule
    // manager uses
    let alerts = ls(&[("__name__", "ALERTS"), ("alertname", "Down")]);
    let shared: &dyn watchfire_router::rules::manager::SharedStore = &*store;
    shared.append(&alerts, 10, 1.0).unwrap();
    store
        .append_internal(&ls(&[("__name__", "watchfire_up")]), 10, 1.0)
        .unwrap();
    assert_eq!(store.series_count(), 4);
    assert_eq!(store.internal_series_count(), 2);
    // remote_write is still limited; the internal series took no room from it
    assert!(store.append(&ls(&[("__name__", "rw3")]), 11, 1.0).is_err());
    // the other rules still apply to internal series
    assert_eq!(
        store.append_internal(&alerts, 5, 1.0).unwrap_err().reason(),
        "out_of_order"
    );
    let st = store.stats();
    assert_eq!((st.series, st.internal_series), (4, 2));
    let metrics = watchfire_router::metrics::Metrics::new();
    watchfire_router::store::metrics::StoreCollector::register(store.clone(), &metrics.registry)
        .unwrap();
    let text = metrics.encode();
    for want in [
        "watchfire_store_series 4",
        "watchfire_store_internal_series 2",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // gc removes both kinds and keeps the counts straight
    store.gc(1_000);
    assert_eq!(
        (store.series_count(), store.internal_series_count()),
        (0, 0)
    );
    store
        .append(&ls(&[("__name__", "rw4")]), 2_000, 1.0)
        .unwrap();
    store
        .append(&ls(&[("__name__", "rw5")]), 2_000, 1.0)
        .unwrap();
    assert!(store
        .append(&ls(&[("__name__", "rw6")]), 2_000, 1.0)
        .is_err());
}
