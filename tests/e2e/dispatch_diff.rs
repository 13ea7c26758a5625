//! Differential acceptance test of dispatch (issue 4): the real Debian
//! `prometheus-alertmanager` 0.25 and Watchfire's router get the same
//! `alertmanager.yml` (webhook receivers only) and the same timed stream of
//! alerts and silences; both must deliver the same notifications.
//!
//! - [`am_config`] (in `dispatch_diff/scenario.rs`): the route tree, inhibit rules, time intervals and
//!   receivers. The two sides' files differ only in the webhook base URL
//!   (`/a/` or `/b/`), so the one collector can tell the sides apart.
//! - [`scenario`]: a deterministic (fixed seed) stream of more than 300
//!   distinct alerts over 44 s, in batches every 2 s, plus silences created
//!   and expired through the v2 API. Every group timer fires on an odd
//!   second and every event lands on an even second, so no outcome hangs on
//!   a sub-second race (see `docs/dispatch-differences.md`).
//! - [`Collector`]: an axum server recording every webhook delivery.
//! - [`compare`] (in `dispatch_diff/compare.rs`): per `(receiver, groupKey)`, the two sequences of
//!   notifications must have the same status and alert sets, with times
//!   within [`TOLERANCE_MS`].
//!
//! `am_vs_am` runs the scenario against two Alertmanagers: it checks that
//! the scenario itself is deterministic. `am_vs_watchfire` is the acceptance
//! test proper. Pacing the stream sleeps (it is a timed scenario against
//! real processes); no sleep is an assertion.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

#[path = "dispatch_diff/compare.rs"]
mod compare;
#[path = "dispatch_diff/scenario.rs"]
mod scenario;

use crate::harness::{free_port, get_text, http, now_ms, peer, watchfire, Proc, START_TIMEOUT};

use compare::{compare, coverage, to_log, Delivery, Log};
use scenario::{
    am_config, batch_alerts, scenario, silence_body, Labels, Scenario, SilenceSpec, BATCH_MS,
    END_MS, LAST_BATCH,
};

// --------------------------------------------------------------- systems

/// Which implementation a side runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Alertmanager,
    Watchfire,
}

/// A running system under test, answering the Alertmanager v2 API.
struct Side {
    name: String,
    base: String,
    proc: Proc,
}

/// Starts `kind` on a free port with `am_yml`, and waits for `/-/ready`.
fn start(kind: Kind, name: &str, dir: &Path, am_yml: &Path) -> Side {
    let port = free_port();
    let mut proc = match kind {
        Kind::Alertmanager => Proc::spawn(
            name,
            Command::new(peer("prometheus-alertmanager"))
                .arg(format!("--config.file={}", am_yml.display()))
                .arg(format!(
                    "--storage.path={}",
                    dir.join(format!("{name}-data")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                // Empty: no cluster, so no wait for gossip to settle.
                .arg("--cluster.listen-address="),
            dir,
        ),
        Kind::Watchfire => {
            let cfg = dir.join(format!("{name}-router.yml"));
            let state = dir.join(format!("{name}-state.redb"));
            let text = format!(
                "server:\n  listen_address: 127.0.0.1:{port}\nrules:\n  files: []\n\
                 state:\n  path: {:?}\ndispatch:\n  alertmanager_config: {:?}\n",
                state.display().to_string(),
                am_yml.display().to_string()
            );
            std::fs::write(&cfg, text).expect("writing router.yml");
            Proc::spawn(
                name,
                Command::new(watchfire())
                    .arg("router")
                    .arg("--config")
                    .arg(&cfg)
                    .env("RUST_LOG", "info"),
                dir,
            )
        }
    };
    let base = format!("http://127.0.0.1:{port}");
    let (client, url) = (http(), format!("{base}/-/ready"));
    proc.wait_until(&format!("{name} /-/ready"), START_TIMEOUT, || {
        get_text(&client, &url)
    });
    Side {
        name: name.to_string(),
        base,
        proc,
    }
}

/// Sends one request and returns its JSON answer (or `Null` when empty);
/// panics on a transport error or a non-2xx status.
fn call(side: &str, req: reqwest::blocking::RequestBuilder) -> Value {
    let r = req
        .send()
        .unwrap_or_else(|e| panic!("{side}: request failed: {e}"));
    let status = r.status();
    let text = r.text().unwrap_or_default();
    assert!(status.is_success(), "{side}: HTTP {status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// One side's share of a batch: create silences, expire silences, post
/// alerts, in that order.
fn post_batch(
    client: &reqwest::blocking::Client,
    side: (&str, &str),
    ids: &mut HashMap<&'static str, String>,
    creates: &[&SilenceSpec],
    expires: &[&SilenceSpec],
    alerts: &[Value],
    now: i64,
) {
    let (name, base) = side;
    for sp in creates {
        let req = client
            .post(format!("{base}/api/v2/silences"))
            .json(&silence_body(sp, now));
        let v = call(name, req);
        let id = v["silenceID"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no silenceID in {v}"));
        ids.insert(sp.key, id.to_string());
    }
    for sp in expires {
        let id = &ids[sp.key];
        call(name, client.delete(format!("{base}/api/v2/silence/{id}")));
    }
    if !alerts.is_empty() {
        call(
            name,
            client.post(format!("{base}/api/v2/alerts")).json(&alerts),
        );
    }
}

// ------------------------------------------------------------- collector

type Deliveries = Arc<Mutex<Vec<Delivery>>>;

/// An HTTP server on a free port recording `POST /{side}/{receiver}`.
struct Collector {
    port: u16,
    log: Deliveries,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn hook(
    axum::extract::State(log): axum::extract::State<Deliveries>,
    axum::extract::Path((side, receiver)): axum::extract::Path<(String, String)>,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let at = Instant::now();
    let body = serde_json::from_slice(&body).unwrap_or_else(
        |e| json!({"unparsable": e.to_string(), "raw": String::from_utf8_lossy(&body)}),
    );
    let d = Delivery {
        side,
        receiver,
        at,
        body,
    };
    log.lock().expect("collector lock").push(d);
    axum::http::StatusCode::OK
}

impl Collector {
    fn start() -> Collector {
        let log: Deliveries = Arc::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let state = log.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind collector");
                port_tx
                    .send(l.local_addr().expect("addr").port())
                    .expect("port");
                let app = axum::Router::new()
                    .route("/{side}/{receiver}", axum::routing::post(hook))
                    .with_state(state);
                axum::serve(l, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("collector server");
            });
        });
        let port = port_rx.recv().expect("collector port");
        Collector {
            port,
            log,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn base(&self, side: &str) -> String {
        format!("http://127.0.0.1:{}/{side}", self.port)
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.log.lock().expect("collector lock").clone()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------- driver

/// Sleeps until `due`. This paces the scripted stream; it is never used
/// to wait for an outcome.
fn pace_until(due: Instant) {
    if let Some(d) = due.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

fn after(ms: i64) -> Duration {
    Duration::from_millis(ms as u64)
}

/// Plays the scenario to both sides at the same instants, one thread per
/// side, and returns the start instant and the number of alert posts.
fn drive(sides: &mut [Side; 2], s: &Scenario) -> (Instant, usize) {
    let client = http();
    let t0 = Instant::now();
    let t0_ms = now_ms();
    let mut ids: [HashMap<&'static str, String>; 2] = Default::default();
    let mut posted = 0;
    for k in 1..=LAST_BATCH {
        let due = t0 + after(i64::from(k) * BATCH_MS);
        pace_until(due);
        let alerts = batch_alerts(s, k, t0_ms);
        let creates: Vec<&SilenceSpec> = s.silences.iter().filter(|x| x.create == k).collect();
        let expires: Vec<&SilenceSpec> =
            s.silences.iter().filter(|x| x.expire == Some(k)).collect();
        let now = t0_ms + i64::from(k) * BATCH_MS;
        std::thread::scope(|sc| {
            for (side, ids) in sides.iter().zip(ids.iter_mut()) {
                let (client, alerts, creates, expires) = (&client, &alerts, &creates, &expires);
                let who = (side.name.as_str(), side.base.as_str());
                sc.spawn(move || post_batch(client, who, ids, creates, expires, alerts, now));
            }
        });
        let late = Instant::now().saturating_duration_since(due);
        assert!(
            late < Duration::from_millis(500),
            "batch {k} was done {late:?} after its due time: too slow for the 1 s timer margins"
        );
        posted += alerts.len();
        for side in sides.iter_mut() {
            side.proc.assert_running();
        }
    }
    pace_until(t0 + after(END_MS));
    (t0, posted)
}

/// Writes every delivery as one JSON line (`side`, `receiver`, `at_ms`,
/// `body`) to `out`, for studying a run: `DISPATCH_DIFF_DUMP=prefix`
/// writes `prefix-<side B>.jsonl`.
fn dump(out: &Path, all: &[Delivery], t0: Instant) {
    let mut text = String::new();
    for d in all {
        let at_ms = d.at.saturating_duration_since(t0).as_millis() as i64;
        let v = json!({"side": d.side, "receiver": d.receiver, "at_ms": at_ms, "body": d.body});
        text += &format!("{v}\n");
    }
    std::fs::write(out, text).expect("writing DISPATCH_DIFF_DUMP");
}

/// Runs the scenario on Alertmanager (side A) and `kind_b` (side B).
fn diff_test(kind_b: Kind) {
    let dir = TempDir::new().expect("tempdir");
    let collector = Collector::start();
    let (base_a, base_b) = (collector.base("a"), collector.base("b"));
    let (yml_a, yml_b) = (am_config(&base_a), am_config(&base_b));
    assert_eq!(
        yml_a.replace(&base_a, "BASE"),
        yml_b.replace(&base_b, "BASE")
    );
    let (path_a, path_b) = (dir.path().join("am-a.yml"), dir.path().join("am-b.yml"));
    std::fs::write(&path_a, &yml_a).expect("writing alertmanager.yml");
    std::fs::write(&path_b, &yml_b).expect("writing alertmanager.yml");
    let name_b = match kind_b {
        Kind::Alertmanager => "alertmanager-b",
        Kind::Watchfire => "watchfire",
    };
    let mut sides = [
        start(Kind::Alertmanager, "alertmanager-a", dir.path(), &path_a),
        start(kind_b, name_b, dir.path(), &path_b),
    ];
    let s = scenario();
    let distinct: BTreeSet<&Labels> = s.alerts.iter().map(|a| &a.labels).collect();
    let (t0, posts) = drive(&mut sides, &s);
    let all = collector.deliveries();
    let (la, lb) = (to_log(&all, "a", t0), to_log(&all, "b", t0));
    if let Some(out) = std::env::var_os("DISPATCH_DIFF_DUMP") {
        let mut file = out;
        file.push(format!("-{name_b}.jsonl"));
        dump(Path::new(&file), &all, t0);
    }
    let count = |l: &Log| l.values().map(Vec::len).sum::<usize>();
    let result = compare(&la, &lb);
    eprintln!(
        "dispatch_diff: {} distinct alerts ({posts} alert posts, {} silences); \
         notifications: {} {} in {} groups, {name_b} {} in {} groups; {}",
        distinct.len(),
        s.silences.len(),
        sides[0].name,
        count(&la),
        la.len(),
        count(&lb),
        lb.len(),
        match &result {
            Ok(st) => format!(
                "{} groups matched, max time difference {} ms",
                st.groups, st.max_dt_ms
            ),
            Err(_) => "MISMATCH".into(),
        }
    );
    if let Err(diff) = result {
        panic!(
            "{} (A) and {name_b} (B) delivered different notifications:{diff}",
            sides[0].name
        );
    }
    let bad = coverage(&la, &s);
    assert!(
        bad.is_empty(),
        "the scenario did not cover what it should:\n  {}",
        bad.join("\n  ")
    );
}

/// The scenario against two Alertmanagers: it must be deterministic.
#[test]
fn am_vs_am() {
    diff_test(Kind::Alertmanager);
}

/// The acceptance test: Alertmanager 0.25 against Watchfire's router.
#[test]
fn am_vs_watchfire() {
    diff_test(Kind::Watchfire);
}
