//! The tokio manager under `tokio::time::pause()`: durable state across a
//! restart (real redb file), reload keeping alert state, a broken reload
//! keeping the old rules, file polling, and self-metrics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use watchfire_promql::Labels;
use watchfire_router::notify::{Alert, AlertSink, SinkFuture};
use watchfire_router::rules::manager::{eval_slot, Clock, LoadError, Loader, SharedStore};
use watchfire_router::rules::{GroupSpec, Manager, ManagerConfig};
use watchfire_router::store::Store;

use super::fake::{alerting, labels, opts, recording};

const BASE: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

/// Records every sent batch with the clock time.
#[derive(Default)]
struct Collect(Mutex<Vec<(i64, Alert)>>, Option<Clock>);

impl AlertSink for Collect {
    fn send<'a>(&'a self, alerts: &'a [Alert]) -> SinkFuture<'a> {
        let now = self.1.as_ref().map(|c| c()).unwrap_or(0);
        self.0
            .lock()
            .unwrap()
            .extend(alerts.iter().map(|a| (now, a.clone())));
        Box::pin(async { Ok(()) })
    }
}

/// A line format for tests: `alert NAME FOR_MIN EXPR...`,
/// `record NAME EXPR...`; a line `BROKEN` is an error at that line.
fn loader() -> Loader {
    Arc::new(|path: &str, text: &str, _cfg: &ManagerConfig| {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["alert", name, for_min, expr @ ..] => {
                    let f: i64 = for_min.parse().unwrap();
                    rules.push(alerting(name, &expr.join(" "), f * MIN, 0, &[], &[]));
                }
                ["record", name, expr @ ..] => rules.push(recording(name, &expr.join(" "), &[])),
                _ => {
                    return Err(LoadError::Custom {
                        path: path.to_string(),
                        message: format!("{}:1: unknown rule line {line:?}", i + 1),
                    })
                }
            }
        }
        let file = std::path::Path::new(path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        Ok(vec![GroupSpec {
            file,
            name: "g".into(),
            interval_ms: MIN,
            query_offset_ms: 0,
            limit: 0,
            rules,
        }])
    })
}

fn clock() -> Clock {
    let origin = tokio::time::Instant::now();
    Arc::new(move || BASE + origin.elapsed().as_millis() as i64)
}

fn config(file: &std::path::Path, state: Option<&std::path::Path>, clock: &Clock) -> ManagerConfig {
    let mut c = ManagerConfig::new(vec![file.display().to_string()]);
    c.state_path = state.map(|p| p.to_path_buf());
    c.sighup = false;
    c.reload_check_interval_ms = 5_000;
    c.clock = clock.clone();
    c.loader = Some(loader());
    c.eval_options = Some(opts());
    c
}

/// Advances virtual time second by second, letting tasks run.
async fn run_for(secs: u64) {
    for _ in 0..secs {
        tokio::time::advance(Duration::from_secs(1)).await;
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
    }
}

/// `up{job=a} = 0` every 15s for an hour.
fn store() -> Arc<Store> {
    let s = Arc::new(Store::default());
    let l = labels("up{job=a}");
    for i in 0..240 {
        SharedStore::append(&*s, &l, BASE + i * 15_000, 0.0).unwrap();
    }
    s
}

fn first_firing(sink: &Collect) -> Option<(i64, i64)> {
    sink.0
        .lock()
        .unwrap()
        .iter()
        .find(|(_, a)| a.ends_at.is_some())
        .map(|(t, a)| (*t, a.starts_at))
}

/// Runs 15 minutes of a `for: 10m` alert, optionally restarting the
/// manager at minute 4; returns (time of first send, startsAt).
async fn fire_time(restart: bool) -> (i64, i64) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.rules");
    std::fs::write(&file, "alert Down 10 up == 0\n").unwrap();
    let state = dir.path().join("state.redb");
    let clock = clock();
    let store = store();
    let sink = Arc::new(Collect(Mutex::new(Vec::new()), Some(clock.clone())));
    let start = |reg: &prometheus::Registry| {
        let shared: Arc<dyn SharedStore> = store.clone();
        Manager::start(
            config(&file, Some(&state), &clock),
            shared,
            sink.clone(),
            reg,
        )
        .unwrap()
    };
    let m = start(&prometheus::Registry::new());
    if restart {
        run_for(4 * 60).await;
        let before = m.groups()[0].1.lock().unwrap().active_alerts(None);
        assert_eq!(before.len(), 1, "pending before the restart");
        m.stop().await;
        let m2 = start(&prometheus::Registry::new());
        run_for(11 * 60).await;
        m2.stop().await;
    } else {
        run_for(15 * 60).await;
        m.stop().await;
    }
    first_firing(&sink).expect("the alert fired")
}

#[tokio::test(start_paused = true)]
async fn restart_keeps_pending_alert_and_fires_at_the_same_moment() {
    let without = fire_time(false).await;
    let with = fire_time(true).await;
    assert_eq!(with, without);
    // First evaluation: the first slot after start; it fires 10m later.
    let first = eval_slot("r.rules;g", MIN, BASE) + MIN;
    assert_eq!(without.1, first + 10 * MIN);
    assert!(
        (0..1000).contains(&(without.0 - without.1)),
        "sent when it fired"
    );
}

fn gauge(reg: &prometheus::Registry, name: &str) -> f64 {
    reg.gather()
        .iter()
        .find(|f| f.name() == name)
        .map(|f| f.get_metric()[0].get_gauge().value())
        .unwrap_or(f64::NAN)
}

fn counter(reg: &prometheus::Registry, name: &str) -> f64 {
    reg.gather()
        .iter()
        .find(|f| f.name() == name)
        .map(|f| f.get_metric().iter().map(|m| m.get_counter().value()).sum())
        .unwrap_or(f64::NAN)
}

#[tokio::test(start_paused = true)]
async fn reload_keeps_state_and_broken_files_keep_old_rules() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.rules");
    std::fs::write(&file, "alert Down 10 up == 0\n").unwrap();
    let clock = clock();
    let store = store();
    let sink = Arc::new(Collect(Mutex::new(Vec::new()), Some(clock.clone())));
    let reg = prometheus::Registry::new();
    let shared: Arc<dyn SharedStore> = store.clone();
    let m = Manager::start(config(&file, None, &clock), shared, sink.clone(), &reg).unwrap();
    run_for(3 * 60).await;
    let active_at = |m: &Manager| m.groups()[0].1.lock().unwrap().active_alerts(None)[0].active_at;
    let first = active_at(&m);
    assert_eq!(
        gauge(&reg, "watchfire_rules_config_last_reload_successful"),
        1.0
    );
    assert_eq!(counter(&reg, "watchfire_rule_evaluations_total"), 3.0);

    // Broken file: rejected with its position, old rules keep running.
    std::fs::write(&file, "alert Down 10 up == 0\nBROKEN\n").unwrap();
    let err = m.reload().await.unwrap_err().to_string();
    assert!(err.contains("r.rules: 2:1: unknown rule line"), "{err}");
    assert_eq!(
        gauge(&reg, "watchfire_rules_config_last_reload_successful"),
        0.0
    );
    run_for(60).await;
    assert_eq!(active_at(&m), first);
    assert_eq!(counter(&reg, "watchfire_rule_evaluations_total"), 4.0);

    // A good file with an added rule: the alert keeps its state.
    std::fs::write(&file, "alert Down 10 up == 0\nrecord r up\n").unwrap();
    m.reload().await.unwrap();
    assert_eq!(
        gauge(&reg, "watchfire_rules_config_last_reload_successful"),
        1.0
    );
    run_for(7 * 60).await;
    assert_eq!(active_at(&m), first);
    let firing = first_firing(&sink).expect("fired");
    assert_eq!(
        firing.1,
        first + 10 * MIN,
        "fires 10m after it became active"
    );

    // Polling picks up a change without an explicit reload; the removed
    // recording rule's series is marked stale.
    std::fs::write(&file, "alert Down 10 up == 0\n").unwrap();
    run_for(65).await;
    assert_eq!(m.groups()[0].1.lock().unwrap().spec().rules.len(), 1);
    let r = Labels::new([("__name__", "r"), ("job", "a")]);
    let series = store.reader().select(
        &[
            watchfire_promql::Matcher::new(watchfire_promql::MatchOp::Equal, "__name__", "r")
                .unwrap(),
        ],
        BASE,
        BASE + 60 * MIN,
    );
    let last = series
        .iter()
        .find(|s| s.labels == r)
        .and_then(|s| s.samples.last().copied())
        .unwrap();
    assert!(watchfire_promql::storage::is_stale_nan(last.v), "{last:?}");
    m.stop().await;
}

fn counter_with(reg: &prometheus::Registry, name: &str, label: (&str, &str)) -> f64 {
    reg.gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .filter(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == label.0 && l.value() == label.1)
        })
        .map(|m| m.get_counter().value())
        .sum()
}

#[tokio::test(start_paused = true)]
async fn rule_results_survive_a_full_store_and_refusals_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.rules");
    std::fs::write(
        &file,
        concat!(
            "alert Down 0 up == 0\n",
            "record job:up up\n",
            "record a_recording_rule_named_too_long up\n",
        ),
    )
    .unwrap();
    let clock = clock();
    // remote_write has filled the series limit; label values of 20 bytes
    // at most.
    let store = Arc::new(Store::new(watchfire_router::store::StoreConfig {
        max_series: 1,
        max_label_value_len: 20,
        ..Default::default()
    }));
    let l = labels("up{job=a}");
    for i in 0..240 {
        store.append(&l, BASE + i * 15_000, 0.0).unwrap();
    }
    assert!(store.append(&labels("other{}"), BASE, 0.0).is_err());
    let sink = Arc::new(Collect(Mutex::new(Vec::new()), Some(clock.clone())));
    let reg = prometheus::Registry::new();
    let shared: Arc<dyn SharedStore> = store.clone();
    let m = Manager::start(config(&file, None, &clock), shared, sink.clone(), &reg).unwrap();
    run_for(2 * 60).await;
    m.stop().await;
    use watchfire_promql::labels::{MatchOp, Matcher};
    use watchfire_promql::Storage;
    let names = |n: &str| {
        store
            .select(
                &[Matcher::new(MatchOp::Equal, "__name__", n).unwrap()],
                0,
                i64::MAX,
            )
            .len()
    };
    assert_eq!(names("ALERTS"), 1);
    assert_eq!(names("ALERTS_FOR_STATE"), 1);
    assert_eq!(names("job:up"), 1);
    assert_eq!(store.internal_series_count(), 3);
    // The long record name breaks the label limit: refused, counted.
    let dropped = counter_with(
        &reg,
        "watchfire_rule_results_dropped_total",
        ("reason", "label_value_too_long"),
    );
    assert_eq!(names("a_recording_rule_named_too_long"), 0);
    assert!(dropped >= 1.0, "dropped {dropped}");
}
