//! The manager end to end: static and file_sd targets on loopback, a bad
//! target not affecting a good one, removal and shutdown staleness, and
//! self-metrics.

use axum::routing::get;
use axum::Router;
use watchfire_agent::pipeline::Point;
use watchfire_agent::scrape::config::parse_str;
use watchfire_agent::scrape::ScrapeManager;
use watchfire_promql::storage::is_stale_nan;

use super::common::{appender, next_batch, serve};

fn up_of(batch: &[Point]) -> Option<(String, f64)> {
    batch
        .iter()
        .find(|p| p.labels().metric_name() == "up")
        .map(|p| (p.labels().get("instance").to_string(), p.v))
}

async fn targets() -> (String, String) {
    let good = serve(Router::new().route("/metrics", get(|| async { "a 1\nb 2\n" }))).await;
    let bad = serve(Router::new().route("/metrics", get(|| async { "a{ 1\n" }))).await;
    (good.to_string(), bad.to_string())
}

fn metric_value(reg: &prometheus::Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    for f in reg.gather() {
        if f.name() != name {
            continue;
        }
        for m in f.get_metric() {
            let ok = labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            });
            if ok {
                if m.get_counter().has_value()
                    || f.get_field_type() == prometheus::proto::MetricType::COUNTER
                {
                    return m.get_counter().value();
                }
                return m.get_gauge().value();
            }
        }
    }
    f64::NAN
}

#[tokio::test]
async fn bad_target_does_not_affect_good_one_and_stop_marks_stale() {
    let (good, bad) = targets().await;
    let yaml = format!(
        "scrape_configs:\n  - job_name: mixed\n    scrape_interval: 100ms\n    scrape_timeout: 90ms\n    static_configs:\n      - targets: ['{good}', '{bad}']\n"
    );
    let jobs = parse_str(&yaml, "m.yml").unwrap();
    let (app, mut rx) = appender();
    let reg = prometheus::Registry::new();
    let handle = ScrapeManager::new(jobs, app, &reg).unwrap().start();
    let (mut good_ups, mut bad_ups) = (Vec::new(), Vec::new());
    while good_ups.len() < 3 || bad_ups.len() < 3 {
        let batch = next_batch(&mut rx).await;
        match up_of(&batch) {
            Some((i, v)) if i == good => {
                good_ups.push(v);
                assert!(batch
                    .iter()
                    .any(|p| p.labels().metric_name() == "a" && p.v == 1.0));
            }
            Some((i, v)) if i == bad => bad_ups.push(v),
            other => panic!("unexpected batch {other:?}"),
        }
    }
    assert!(good_ups.iter().all(|v| *v == 1.0), "{good_ups:?}");
    assert!(bad_ups.iter().all(|v| *v == 0.0), "{bad_ups:?}");
    let active = handle.active_targets();
    assert_eq!(active["mixed"].len(), 2);
    assert_eq!(
        metric_value(&reg, "watchfire_agent_scrape_targets", &[("job", "mixed")]),
        2.0
    );
    assert!(
        metric_value(
            &reg,
            "watchfire_agent_scrape_failures_total",
            &[("job", "mixed"), ("reason", "parse")]
        ) >= 3.0
    );

    handle.stop().await;
    // The last batches are the staleness markers of both targets.
    let mut stale = Vec::new();
    while let Ok(b) = rx.try_recv() {
        if b.iter().all(|p| is_stale_nan(p.v)) {
            stale.extend(b);
        }
    }
    let mut names: Vec<String> = stale
        .iter()
        .filter(|p| p.labels().get("instance") == good)
        .map(|p| p.labels().metric_name().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "a",
            "b",
            "scrape_duration_seconds",
            "scrape_samples_post_metric_relabeling",
            "scrape_samples_scraped",
            "scrape_series_added",
            "up"
        ]
    );
    assert!(stale
        .iter()
        .any(|p| p.labels().get("instance") == bad && p.labels().metric_name() == "up"));
}

#[tokio::test]
async fn target_removed_from_file_sd_gets_stale_markers() {
    let (good, other) = {
        let a = serve(Router::new().route("/metrics", get(|| async { "x 1\n" }))).await;
        let b = serve(Router::new().route("/metrics", get(|| async { "y 2\n" }))).await;
        (a.to_string(), b.to_string())
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.json");
    std::fs::write(
        &file,
        format!(r#"[{{"targets": ["{good}", "{other}"], "labels": {{"team": "a"}}}}]"#),
    )
    .unwrap();
    let yaml = format!(
        "scrape_configs:\n  - job_name: fs\n    scrape_interval: 100ms\n    scrape_timeout: 90ms\n    file_sd_configs:\n      - files: ['{}']\n        refresh_interval: 50ms\n",
        file.display()
    );
    let (app, mut rx) = appender();
    let reg = prometheus::Registry::new();
    let handle = ScrapeManager::new(parse_str(&yaml, "f.yml").unwrap(), app, &reg)
        .unwrap()
        .start();
    let mut seen_other = false;
    while !seen_other {
        let b = next_batch(&mut rx).await;
        if let Some((i, v)) = up_of(&b) {
            assert_eq!(v, 1.0);
            seen_other |= i == other;
            let team = b
                .iter()
                .find(|p| p.labels().metric_name() == "up")
                .unwrap()
                .labels()
                .get("team")
                .to_string();
            assert_eq!(team, "a");
        }
    }
    std::fs::write(&file, format!(r#"[{{"targets": ["{good}"]}}]"#)).unwrap();
    // Wait for the removed target's staleness batch.
    loop {
        let b = next_batch(&mut rx).await;
        if !b.is_empty()
            && b.iter()
                .all(|p| is_stale_nan(p.v) && p.labels().get("instance") == other)
        {
            assert!(b.iter().any(|p| p.labels().metric_name() == "y"));
            assert!(b.iter().any(|p| p.labels().metric_name() == "up"));
            break;
        }
    }
    // The remaining target keeps being scraped (now without `team`). Its
    // old series (with `team`) get their own staleness batch, in any order
    // relative to the removed target's: skip all-stale batches.
    loop {
        let b = next_batch(&mut rx).await;
        if !b.is_empty() && b.iter().all(|p| is_stale_nan(p.v)) {
            assert!(
                b.iter()
                    .all(|p| p.labels().get("instance") == good && p.labels().get("team") == "a"),
                "only the relabelled target's old series may go stale now: {b:?}"
            );
            continue;
        }
        if let Some((i, v)) = up_of(&b) {
            assert_eq!(i, good, "removed target scraped again: {b:?}");
            assert_eq!(v, 1.0);
            let up = b.iter().find(|p| p.labels().metric_name() == "up").unwrap();
            if !up.labels().has("team") {
                break;
            }
        }
    }
    assert_eq!(handle.active_targets()["fs"].len(), 1);
    handle.stop().await;
}
