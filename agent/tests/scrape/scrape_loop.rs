//! The scrape of one target: good and bad expositions against local axum
//! targets, gzip, timeouts, body limits, honor_labels and staleness.

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use watchfire_agent::pipeline::Point;
use watchfire_agent::scrape::config::{parse_str, ScrapeConfig};
use watchfire_agent::scrape::exposition::Scraped;
use watchfire_agent::scrape::scrape_loop::{
    fetch, first_delay, FailReason, Fetched, ScrapeOptions, TargetScraper,
};
use watchfire_agent::scrape::target::{populate, Target};
use watchfire_promql::storage::is_stale_nan;
use watchfire_promql::Labels;

use super::common::{labels, serve, value_of};

const GOOD: &str = "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 1027\nhttp_requests_total{code=\"500\"} 3\ntemperature NaN\nlimit +Inf\nfloor -Inf\n";

fn job(extra: &str) -> ScrapeConfig {
    let yaml = format!("scrape_configs:\n  - job_name: test\n    scrape_interval: 10s\n    scrape_timeout: 500ms\n{extra}");
    parse_str(&yaml, "t.yml").unwrap().remove(0)
}

fn target(cfg: &ScrapeConfig, addr: &str, path: &str) -> Target {
    let t = labels(&[("__address__", addr), ("__metrics_path__", path)]);
    populate(&Labels::empty(), &t, cfg).unwrap().unwrap()
}

fn options(cfg: &ScrapeConfig) -> ScrapeOptions {
    ScrapeOptions {
        timeout: cfg.scrape_timeout,
        body_size_limit: cfg.body_size_limit,
        sample_limit: cfg.sample_limit,
        label_value_length_limit: cfg.label_value_length_limit,
        honor_labels: cfg.honor_labels,
        honor_timestamps: cfg.honor_timestamps,
        metric_relabel: Arc::new(cfg.metric_relabel_configs.clone()),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn text(body: impl Into<Body>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body.into(),
    )
        .into_response()
}

async fn targets() -> String {
    let huge_label = format!("big{{v=\"{}\"}} 1\n", "x".repeat(10 << 20));
    let huge_line = format!("# {}\nok 1\n", "c".repeat(2 << 20));
    let router = Router::new()
        .route("/good", get(|| async { text(GOOD) }))
        .route(
            "/gzip",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/plain; version=0.0.4"),
                        (header::CONTENT_ENCODING, "gzip"),
                    ],
                    gzip(GOOD.as_bytes()),
                )
            }),
        )
        .route(
            "/badgzip",
            get(|| async {
                (
                    [(header::CONTENT_ENCODING, "gzip")],
                    b"not gzip at all".to_vec(),
                )
            }),
        )
        .route(
            "/badutf8",
            get(|| async { text(b"ok 1\nbad{l=\"\xff\xfe\"} 2\n".to_vec()) }),
        )
        .route("/hugelabel", get(move || async move { text(huge_label) }))
        .route("/hugeline", get(move || async move { text(huge_line) }))
        .route(
            "/dup",
            get(|| async { text("a{x=\"1\"} 1\na{x=\"1\"} 2\n") }),
        )
        .route(
            "/om_noeof",
            get(|| async {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0",
                    )],
                    "# TYPE a gauge\na 1\n",
                )
            }),
        )
        .route(
            "/om",
            get(|| async {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0",
                    )],
                    "# TYPE a gauge\na 1\n# EOF\n",
                )
            }),
        )
        .route("/hang", get(std::future::pending::<&'static str>))
        .route(
            "/forever",
            get(|| async {
                let chunk = bytes::Bytes::from(vec![b'#'; 64 * 1024]);
                text(Body::from_stream(futures_util::stream::repeat_with(
                    move || Ok::<_, Infallible>(chunk.clone()),
                )))
            }),
        )
        .route(
            "/500",
            get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route("/many", get(|| async { text("a 1\nb 2\nc 3\n") }))
        .route(
            "/conflict",
            get(|| async { text("m{job=\"inner\",instance=\"i\"} 1\n") }),
        );
    serve(router).await.to_string()
}

async fn scrape(cfg: &ScrapeConfig, addr: &str, path: &str) -> (Vec<Point>, Option<FailReason>) {
    let t = target(cfg, addr, path);
    let opts = options(cfg);
    let client = reqwest::Client::new();
    let fetched = fetch(&client, &t.url(), &opts).await;
    let mut s = TargetScraper::new(t, opts);
    let (points, report) = s.process(fetched, 1_000, Duration::from_millis(5));
    assert_eq!(report.up, report.failure.is_none());
    (points, report.failure.map(|f| f.reason))
}

/// `(path, extra config, expected failure)`; `None` = up.
#[tokio::test]
async fn good_and_bad_targets() {
    let addr = targets().await;
    let cases: &[(&str, &str, Option<FailReason>)] = &[
        ("/good", "", None),
        ("/gzip", "", None),
        ("/om", "", None),
        ("/badgzip", "", Some(FailReason::Decompress)),
        ("/badutf8", "", Some(FailReason::Parse)),
        ("/hugelabel", "", Some(FailReason::Parse)),
        ("/hugeline", "", Some(FailReason::Parse)),
        ("/dup", "", Some(FailReason::DuplicateSeries)),
        ("/om_noeof", "", Some(FailReason::Parse)),
        ("/hang", "", Some(FailReason::Timeout)),
        ("/forever", "    body_size_limit: 1MiB\n", Some(FailReason::BodyTooLarge)),
        ("/hugelabel", "    body_size_limit: 1MiB\n", Some(FailReason::BodyTooLarge)),
        ("/500", "", Some(FailReason::HttpStatus)),
        ("/many", "    sample_limit: 2\n", Some(FailReason::SampleLimit)),
        ("/many", "    sample_limit: 3\n", None),
        ("/many", "    sample_limit: 2\n    metric_relabel_configs: [{source_labels: [__name__], regex: c, action: drop}]\n", None),
    ];
    for (path, extra, want) in cases {
        let cfg = job(extra);
        let (points, reason) = scrape(&cfg, &addr, path).await;
        assert_eq!(reason, *want, "{path} {extra}");
        let up = value_of(&points, "up").unwrap();
        assert_eq!(up, if want.is_none() { 1.0 } else { 0.0 }, "{path}");
        let up_point = points
            .iter()
            .find(|p| p.labels().metric_name() == "up")
            .unwrap();
        assert_eq!(up_point.labels().get("job"), "test");
        assert_eq!(up_point.labels().get("instance"), addr);
        if want.is_some() {
            // Only the five synthetic series.
            assert_eq!(points.len(), 5, "{path}: {points:?}");
            assert_eq!(
                value_of(&points, "scrape_samples_post_metric_relabeling"),
                Some(0.0)
            );
        }
    }
    let no_port = "127.0.0.1:1".to_string();
    let (_, reason) = scrape(&job(""), &no_port, "/metrics").await;
    assert_eq!(reason, Some(FailReason::Connection));
}

#[tokio::test]
async fn good_target_counts_and_values() {
    let addr = targets().await;
    for path in ["/good", "/gzip"] {
        let (points, reason) = scrape(&job(""), &addr, path).await;
        assert_eq!(reason, None);
        assert_eq!(value_of(&points, "scrape_samples_scraped"), Some(5.0));
        assert_eq!(
            value_of(&points, "scrape_samples_post_metric_relabeling"),
            Some(5.0)
        );
        assert_eq!(value_of(&points, "scrape_series_added"), Some(5.0));
        assert!(value_of(&points, "scrape_duration_seconds").unwrap() > 0.0);
        let req = points
            .iter()
            .find(|p| {
                p.labels().metric_name() == "http_requests_total" && p.labels().get("code") == "200"
            })
            .unwrap();
        assert_eq!(req.v, 1027.0);
        assert_eq!(req.t, 1_000);
        assert_eq!(req.labels().get("job"), "test");
        assert_eq!(req.labels().get("instance"), addr);
        assert!(value_of(&points, "temperature").unwrap().is_nan());
        assert!(!is_stale_nan(value_of(&points, "temperature").unwrap()));
        assert_eq!(value_of(&points, "limit"), Some(f64::INFINITY));
        assert_eq!(value_of(&points, "floor"), Some(f64::NEG_INFINITY));
        assert_eq!(points.len(), 10);
    }
}

#[tokio::test]
async fn honor_labels_decides_conflicts() {
    let addr = targets().await;
    let (points, _) = scrape(&job(""), &addr, "/conflict").await;
    let m = points
        .iter()
        .find(|p| p.labels().metric_name() == "m")
        .unwrap();
    assert_eq!(m.labels().get("job"), "test");
    assert_eq!(m.labels().get("exported_job"), "inner");
    assert_eq!(m.labels().get("instance"), addr);
    assert_eq!(m.labels().get("exported_instance"), "i");
    let (points, _) = scrape(&job("    honor_labels: true\n"), &addr, "/conflict").await;
    let m = points
        .iter()
        .find(|p| p.labels().metric_name() == "m")
        .unwrap();
    assert_eq!(m.labels().get("job"), "inner");
    assert_eq!(m.labels().get("instance"), "i");
    assert!(!m.labels().has("exported_job"));
    // The synthetic series always carry the target's labels.
    let up = points
        .iter()
        .find(|p| p.labels().metric_name() == "up")
        .unwrap();
    assert_eq!(up.labels().get("job"), "test");
}

fn body(s: &str) -> Result<Fetched, watchfire_agent::scrape::scrape_loop::Failure> {
    Ok(Fetched {
        body: s.as_bytes().to_vec(),
        content_type: None,
    })
}

fn stale_names(points: &[Point]) -> Vec<String> {
    let mut v: Vec<String> = points
        .iter()
        .filter(|p| is_stale_nan(p.v))
        .map(|p| p.labels().to_string())
        .collect();
    v.sort();
    v
}

/// Two raw series that end up with one label set (a scraped `job` moved
/// to `exported_job` next to a scraped `exported_job`, or a relabel
/// dropping the only differing label) keep the first sample only, in
/// every scrape (cached or not).
#[test]
fn series_merged_by_labelling_keep_the_first() {
    let check = |extra: &str, text: &str, want: &[(&str, f64)]| {
        let cfg = job(extra);
        let mut s = TargetScraper::new(target(&cfg, "h:1", "/metrics"), options(&cfg));
        for t in [1_000, 2_000] {
            let (points, r) = s.process(body(text), t, Duration::ZERO);
            assert!(r.up, "{text}: {:?}", r.failure);
            let mut got: Vec<(String, f64)> = points
                .iter()
                .filter(|p| p.labels().metric_name() == "m")
                .map(|p| (p.labels().to_string(), p.v))
                .collect();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            let want: Vec<(String, f64)> = want.iter().map(|(l, v)| (l.to_string(), *v)).collect();
            assert_eq!(got, want, "{extra} {text} at {t}");
            assert_eq!(r.samples_post_relabel, want.len(), "{text}");
        }
    };
    check(
        "",
        "m{job=\"x\"} 1\nm{exported_job=\"x\"} 2\n",
        &[(r#"m{exported_job="x", instance="h:1", job="test"}"#, 1.0)],
    );
    check(
        "    metric_relabel_configs: [{regex: k, action: labeldrop}]\n",
        "m{k=\"a\"} 1\nm{k=\"b\"} 2\nm{j=\"c\"} 3\n",
        &[
            (r#"m{instance="h:1", j="c", job="test"}"#, 3.0),
            (r#"m{instance="h:1", job="test"}"#, 1.0),
        ],
    );
}

#[test]
fn staleness_on_disappearance_failure_and_removal() {
    let cfg = job("");
    let mut s = TargetScraper::new(target(&cfg, "h:1", "/metrics"), options(&cfg));
    let (p1, r1) = s.process(body("a 1\nb 2\nc 3 123\n"), 1_000, Duration::ZERO);
    assert!(r1.up);
    assert!(stale_names(&p1).is_empty());
    // b disappears; c had its own timestamp (no staleness for it).
    let (p2, r2) = s.process(body("a 1\nd 4\n"), 2_000, Duration::ZERO);
    assert!(r2.up);
    assert_eq!(r2.series_added, 1);
    assert_eq!(stale_names(&p2), vec![r#"b{instance="h:1", job="test"}"#]);
    assert!(p2
        .iter()
        .filter(|p| is_stale_nan(p.v))
        .all(|p| p.t == 2_000));
    // A failed scrape marks everything of the last good scrape stale.
    let (p3, r3) = s.process(body("a{"), 3_000, Duration::ZERO);
    assert!(!r3.up);
    assert_eq!(
        stale_names(&p3),
        vec![
            r#"a{instance="h:1", job="test"}"#,
            r#"d{instance="h:1", job="test"}"#
        ]
    );
    // Nothing more to mark after a failure; then recovery.
    let (p4, _) = s.process(body("a 1\n"), 4_000, Duration::ZERO);
    assert!(stale_names(&p4).is_empty());
    assert_eq!(value_of(&p4, "scrape_series_added"), Some(1.0));
    // Target removed: its series and the synthetic ones go stale.
    let end = s.stale_all(5_000);
    let names = stale_names(&end);
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(names.contains(&r#"a{instance="h:1", job="test"}"#.to_string()));
    assert!(names.contains(&r#"up{instance="h:1", job="test"}"#.to_string()));
    assert!(end.iter().all(|p| p.t == 5_000));
}

#[test]
fn parsed_samples_keep_nan_and_timestamps() {
    let v = watchfire_agent::scrape::exposition::parse(b"a NaN 5\nb +Inf\n", None, 0).unwrap();
    assert_eq!(
        v.iter()
            .map(|s| (s.labels.metric_name().to_string(), s.timestamp))
            .collect::<Vec<_>>(),
        vec![("a".to_string(), Some(5)), ("b".to_string(), None)]
    );
    assert!(v[0].value.is_nan());
    let _: &Scraped = &v[1];
    let e = watchfire_agent::scrape::exposition::parse(b"ok 1\nbad{ 1\n", None, 0).unwrap_err();
    assert_eq!(e.line, 2);
}

#[test]
fn first_delay_is_stable_and_within_interval() {
    let l = labels(&[("instance", "a:1"), ("job", "x")]);
    let iv = Duration::from_secs(15);
    for now in [0i64, 7_777, 1_700_000_000_123] {
        let d = first_delay(&l, iv, now);
        assert!(d < iv);
        // The phase (now + delay) mod interval is the same whatever `now` is.
        let phase = (now as u128 + d.as_millis()) % iv.as_millis();
        assert_eq!(phase, first_delay(&l, iv, 0).as_millis() % iv.as_millis());
    }
    let other = labels(&[("instance", "b:1"), ("job", "x")]);
    assert_ne!(first_delay(&l, iv, 0), first_delay(&other, iv, 0));
}

/// Scrapes `bodies` in turn through one scraper (so the series cache is
/// warm from the second on) and checks each scrape's non-stale series
/// against `expect` (sorted label strings, or the failure reason), and the
/// cache size after it.
fn check_cached(bodies: &[&str], expect: &[(Result<Vec<&str>, FailReason>, usize)]) {
    let cfg = job("");
    let mut s = TargetScraper::new(target(&cfg, "h:1", "/metrics"), options(&cfg));
    for (i, (b, (want, cached))) in bodies.iter().zip(expect).enumerate() {
        let (points, report) = s.process(body(b), 1_000 * (i as i64 + 1), Duration::ZERO);
        match want {
            Ok(series) => {
                assert!(report.up, "scrape {i}: {:?}", report.failure);
                let mut got: Vec<String> = points
                    .iter()
                    .filter(|p| {
                        !is_stale_nan(p.v) && !p.labels().metric_name().starts_with("scrape_")
                    })
                    .filter(|p| p.labels().metric_name() != "up")
                    .map(|p| p.labels().to_string())
                    .collect();
                got.sort();
                assert_eq!(got, *series, "scrape {i}");
            }
            Err(reason) => {
                assert_eq!(
                    report.failure.map(|f| f.reason),
                    Some(*reason),
                    "scrape {i}"
                );
            }
        }
        assert_eq!(s.cached_series(), *cached, "scrape {i}: cache size");
    }
}

#[test]
fn series_cache_keeps_results_identical_across_scrapes() {
    // Same text scraped twice; then one series goes and is evicted.
    check_cached(
        &["a 1\nb{x=\"1\"} 2\n", "a 1\nb{x=\"1\"} 2\n", "a 3\n"],
        &[
            (
                Ok(vec![
                    r#"a{instance="h:1", job="test"}"#,
                    r#"b{instance="h:1", job="test", x="1"}"#,
                ]),
                2,
            ),
            (
                Ok(vec![
                    r#"a{instance="h:1", job="test"}"#,
                    r#"b{instance="h:1", job="test", x="1"}"#,
                ]),
                2,
            ),
            (Ok(vec![r#"a{instance="h:1", job="test"}"#]), 1),
        ],
    );
    // The same raw text means different series depending on the family
    // type (`le` is normalised only for histograms).
    check_cached(
        &[
            "h_bucket{le=\"1\"} 1\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n",
        ],
        &[
            (Ok(vec![r#"h_bucket{instance="h:1", job="test", le="1"}"#]), 1),
            (
                Ok(vec![
                    r#"h_bucket{instance="h:1", job="test", le="+Inf"}"#,
                    r#"h_bucket{instance="h:1", job="test", le="1.0"}"#,
                    r#"h_count{instance="h:1", job="test"}"#,
                    r#"h_sum{instance="h:1", job="test"}"#,
                ]),
                4,
            ),
        ],
    );
    // Two texts for one series are a duplicate even when both are cached;
    // a target label in the exposition moves to exported_*.
    check_cached(
        &[
            "a{x=\"1\",y=\"2\"} 1\n",
            "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 1\n",
            "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 1\n",
            "a{job=\"j\",x=\"1\",y=\"2\"} 1\n",
        ],
        &[
            (
                Ok(vec![r#"a{instance="h:1", job="test", x="1", y="2"}"#]),
                1,
            ),
            (Err(FailReason::DuplicateSeries), 2),
            (Err(FailReason::DuplicateSeries), 2),
            (
                Ok(vec![
                    r#"a{exported_job="j", instance="h:1", job="test", x="1", y="2"}"#,
                ]),
                1,
            ),
        ],
    );
}

/// Scrapes of an unchanged series set take the steady path (no
/// duplicate, merge or staleness bookkeeping); every change in the set
/// must leave it and give what the full path gives. Per scrape: the
/// body, then whether it is up, the stale markers and `series_added`.
#[test]
fn steady_scrapes_leave_the_fast_path_on_any_change() {
    type Want<'a> = (&'a str, bool, Vec<&'a str>, usize);
    let a = r#"a{instance="h:1", job="test"}"#;
    let b = r#"b{instance="h:1", job="test"}"#;
    let steps: Vec<Want> = vec![
        ("a 1\nb 2\n", true, vec![], 2),
        ("a 1\nb 2\n", true, vec![], 0),
        ("a 5\nb 6\n", true, vec![], 0),
        // The same text twice: a duplicate, though every key is cached.
        ("a 1\nb 2\na 1\n", false, vec![a, b], 0),
        ("a 1\nb 2\n", true, vec![], 2),
        ("a 1\nb 2\n", true, vec![], 0),
        // A series goes: it gets its staleness marker.
        ("a 1\n", true, vec![b], 0),
        ("a 1\n", true, vec![], 0),
        // A new series comes back.
        ("a 1\nb 2\n", true, vec![], 1),
        // Explicit timestamps leave the steady path too: such a series
        // is not tracked for staleness (as in Prometheus), so it is
        // marked stale, and tracked again when the timestamp goes.
        ("a 1 5000\nb 2\n", true, vec![a], 0),
        ("a 1\nb 2\n", true, vec![], 1),
        ("a 1\nb 2\n", true, vec![], 0),
    ];
    let cfg = job("");
    let mut s = TargetScraper::new(target(&cfg, "h:1", "/metrics"), options(&cfg));
    for (i, (text, up, stale, added)) in steps.into_iter().enumerate() {
        let (points, report) = s.process(body(text), 1_000 * (i as i64 + 1), Duration::ZERO);
        assert_eq!(report.up, up, "scrape {i}: {:?}", report.failure);
        let want: Vec<String> = stale.iter().map(|s| s.to_string()).collect();
        assert_eq!(stale_names(&points), want, "scrape {i}: stale markers");
        assert_eq!(report.series_added, added, "scrape {i}: series added");
        if up {
            let values = points
                .iter()
                .filter(|p| !is_stale_nan(p.v) && matches!(p.labels().metric_name(), "a" | "b"))
                .count();
            assert_eq!(values, text.lines().count(), "scrape {i}: samples");
        }
    }
}
