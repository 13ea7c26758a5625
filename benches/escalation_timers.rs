//! Escalation timer lateness with 10,000 live escalations (SPEC §6
//! "timers": p99 ≤ 1 s).
//!
//! In-process: the router's real dispatch service (pure core, redb state
//! with fsync'd commits, timer loop) with a deliverer that records when
//! each escalation step reaches it. 10,000 alerts, each its own group with
//! a policy of steps at 0 s, 20 s and 40 s, are posted over the first
//! 10 s through the same `receive` path as `POST /api/v2/alerts` (batches
//! of 64). Lateness of a step = arrival at the deliverer − (escalation
//! start + the step's `after`). Prints p50/p99/max per step.
//!
//! Run: `cargo bench --bench escalation_timers` (about 60 s).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use watchfire_dispatch::{Dispatcher, Origin, Outgoing, PostableAlert, Table};
use watchfire_router::dispatch::build::dispatch_config;
use watchfire_router::dispatch::persister::{self, Persister};
use watchfire_router::dispatch::service::{
    Deliverer, DeliveryFuture, DispatchService, Outcome, ServiceObserver,
};
use watchfire_router::dispatch::store::DispatchStore;

const GROUPS: usize = 10_000;
const STEPS_MS: [i64; 3] = [0, 20_000, 40_000];

const AM_YML: &str = "\
route:
  receiver: blackhole
  group_by: ['...']
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 4h
  escalation_policy: bench
receivers:
  - name: blackhole
  - name: first
  - name: second
  - name: third
escalation_policies:
  - name: bench
    steps:
      - { after: 0s, notify: [first] }
      - { after: 20s, notify: [second] }
      - { after: 40s, notify: [third] }
";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Records (group, step) → arrival time.
#[derive(Default)]
struct Recorder(Mutex<BTreeMap<(String, u32), i64>>);

impl Deliverer for Recorder {
    fn deliver(&self, o: Outgoing) -> DeliveryFuture {
        if let Origin::Step { step, .. } = o.origin {
            self.0
                .lock()
                .entry((o.notification.group_key.clone(), step))
                .or_insert_with(now_ms);
        }
        Box::pin(async { Outcome::Delivered { extra: Vec::new() } })
    }
}

struct NoObserver;
impl ServiceObserver for NoObserver {}

fn pct(v: &mut [i64], p: f64) -> i64 {
    v.sort_unstable();
    if v.is_empty() {
        return 0;
    }
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    rt.block_on(async {
        let am = watchfire_amconfig::load_str(AM_YML, "<bench>").expect("bench config");
        let tables: Vec<&'static str> = Table::ALL.iter().map(|t| t.name()).collect();
        let store = DispatchStore::open(&dir.path().join("dispatch.redb"), &tables).expect("store");
        let (_, log) = persister::load(&store).expect("load dispatch state");
        let persister = Persister::start(store, log, Box::new(|_| {}));
        let rec = Arc::new(Recorder::default());
        let svc = DispatchService::new(
            Dispatcher::new(dispatch_config(&am, "http://bench")),
            persister,
            rec.clone(),
            Arc::new(now_ms),
            Arc::new(NoObserver),
        );
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let run = tokio::spawn(svc.clone().run(async move {
            let _ = stop_rx.changed().await;
        }));
        let t0 = now_ms();
        let batches = GROUPS.div_ceil(64);
        for b in 0..batches {
            let alerts = (b * 64..((b + 1) * 64).min(GROUPS))
                .map(|i| PostableAlert {
                    labels: [
                        ("alertname".to_string(), "Timer".to_string()),
                        ("instance".to_string(), format!("host-{i}")),
                    ]
                    .into(),
                    ends_at: Some(t0 + 3_600_000),
                    ..PostableAlert::default()
                })
                .collect();
            svc.receive(alerts, None).await.expect("receive");
            // Spread the posts over ~10 s.
            let due = t0 + (b as i64 + 1) * 10_000 / batches as i64;
            let wait = due - now_ms();
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            }
        }
        let posted = now_ms() - t0;
        // Wait for the last step of the last group (+ slack).
        let end = t0 + posted + STEPS_MS[2] + 3_000;
        while now_ms() < end {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let starts: BTreeMap<String, i64> = svc.read(|c, _| {
            c.escalations()
                .into_iter()
                .map(|e| (e.group_key, e.started_at))
                .collect()
        });
        let arrivals = rec.0.lock().clone();
        let _ = stop_tx.send(true);
        let _ = run.await;
        println!(
            "escalations: {} started, posted in {posted} ms",
            starts.len()
        );
        println!("| step (after) | delivered | lateness p50 | p99 | max |");
        println!("|---|---:|---:|---:|---:|");
        for (s, after) in STEPS_MS.iter().enumerate() {
            let mut late: Vec<i64> = arrivals
                .iter()
                .filter(|((_, step), _)| *step == s as u32)
                .filter_map(|((g, _), at)| starts.get(g).map(|st| at - (st + after)))
                .collect();
            let n = late.len();
            let (p50, p99) = (pct(&mut late, 0.5), pct(&mut late, 0.99));
            let max = late.iter().copied().max().unwrap_or(0);
            println!(
                "| {s} ({} s) | {n} / {GROUPS} | {p50} ms | {p99} ms | {max} ms |",
                after / 1000
            );
        }
    });
}
