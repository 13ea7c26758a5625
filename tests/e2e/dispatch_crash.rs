//! The crash acceptance test of issue 4: 200 alert lifecycles with
//! escalation while the real router binary is `kill -9`ed at 5 random
//! moments (seeded; set `WATCHFIRE_CRASH_SEED` to replay a run).
//!
//! Receivers are the notifier crate's fakes on a tokio runtime the test
//! owns, so they outlive every router restart: the route's receiver is a
//! webhook (Alertmanager-style flushes), and the escalation policy pages
//! `pd-primary` + `slack-oncall` at once and `pd-secondary` after 4 s.
//!
//! Three threads run against the router: the driver posts each
//! lifecycle's alert (fire, re-posts, resolve) and acks some groups on a
//! schedule, retrying in order while the router is down, as Prometheus
//! does; the killer `kill -9`s and restarts the router; the monitor polls
//! `/api/watchfire/v1/escalations` for each escalation's start. When all
//! is resolved and quiet, [`verdict`] judges every lifecycle: no lost,
//! duplicate or unexpected page, no lost resolve or acknowledgement, and
//! every step on time (see `verdict` for the timing rule).

#[path = "dispatch_crash/verdict.rs"]
mod verdict;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use watchfire_notifiers::pagerduty::dedup_key;
use watchfire_notifiers::testing::{pagerduty, slack, webhook, Recorded};
use watchfire_promql::civil::format_rfc3339_millis;

use crate::harness::{get_text, metric_value, now_ms, poll, Router};
use verdict::{
    judge, rel, Facts, Lateness, Outage, PdAction, Seen, SlackKind, Verdict, Window, STEP1_AFTER_MS,
};

const TOKEN: &str = "crash-test-api-token";
const PD_PRIMARY: &str = "crashtestprimaryroutingkey000001";
const PD_SECONDARY: &str = "crashtestsecondaryroutingkey0002";
const SLACK_TOKEN: &str = "xoxb-crash-test-token";
const LIFECYCLES: usize = 200;
const KILLS: usize = 5;
/// Lifecycles start over this span.
const SPREAD_MS: i64 = 60_000;
/// A lifecycle lasts up to this long.
const MAX_LIFE_MS: i64 = 10_000;
/// Resolve and ack times avoid this distance around step 1's due time,
/// so that (without a crash nearby) whether step 1 pages is clear-cut.
const STEP1_MARGIN_MS: i64 = 750;
/// Kills are at least this far apart.
const KILL_GAP_MS: i64 = 8_000;

fn am_yml(pd: &str, slack: &str, hook: &str) -> String {
    format!(
        "route:
  receiver: flush-hook
  group_by: [alertname, instance]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  escalation_policy: page
receivers:
  - name: flush-hook
    webhook_configs: [{{ url: '{hook}/hook' }}]
  - name: pd-primary
    pagerduty_configs: [{{ routing_key: {PD_PRIMARY}, url: '{pd}/v2/enqueue' }}]
  - name: pd-secondary
    pagerduty_configs: [{{ routing_key: {PD_SECONDARY}, url: '{pd}/v2/enqueue' }}]
  - name: slack-oncall
    slack_configs:
      - {{ app_token: {SLACK_TOKEN}, app_url: '{slack}/api/chat.postMessage', channel: '#oncall', send_resolved: true }}
escalation_policies:
  - name: page
    steps:
      - {{ after: 0s, notify: [pd-primary, slack-oncall] }}
      - {{ after: {}s, notify: [pd-secondary] }}
    repeat: 0
",
        STEP1_AFTER_MS / 1000
    )
}

/// SplitMix64: a small seeded generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo).max(1) as u64) as i64
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// Uniform in `[lo, hi)` minus the step-1 margin window.
    fn avoiding_step1(&mut self, lo: i64, hi: i64) -> Option<i64> {
        (0..50)
            .map(|_| self.range(lo, hi))
            .find(|t| (t - STEP1_AFTER_MS).abs() > STEP1_MARGIN_MS)
    }
}

/// One planned lifecycle (times in ms since the epoch).
#[derive(Debug, Clone)]
struct Lifecycle {
    fire_at: i64,
    resolve_at: i64,
    ack_at: Option<i64>,
    repost: bool,
}

fn instance(i: usize) -> String {
    format!("lc-{i:03}")
}

fn group_key(i: usize) -> String {
    format!(
        "{{}}:{{alertname=\"CrashTest\", instance=\"{}\"}}",
        instance(i)
    )
}

/// The lifecycles and kill moments for `seed`, starting at `t0`.
fn plan(seed: u64, t0: i64) -> (Vec<Lifecycle>, Vec<i64>) {
    let mut rng = Rng(seed);
    let slot = SPREAD_MS / LIFECYCLES as i64;
    let lifecycles = (0..LIFECYCLES)
        .map(|i| {
            let fire_at = t0 + i as i64 * slot + rng.range(0, slot);
            let life = rng.avoiding_step1(200, MAX_LIFE_MS).unwrap_or(MAX_LIFE_MS);
            let ack_at = (life > 1_000 && rng.chance(0.3))
                .then(|| rng.avoiding_step1(500, life - 300))
                .flatten()
                .map(|a| fire_at + a);
            Lifecycle {
                fire_at,
                resolve_at: fire_at + life,
                ack_at,
                repost: rng.chance(0.5),
            }
        })
        .collect();
    let end = SPREAD_MS + MAX_LIFE_MS / 2;
    let kills = loop {
        let mut k: Vec<i64> = (0..KILLS).map(|_| rng.range(3_000, end)).collect();
        k.sort_unstable();
        if k.windows(2).all(|w| w[1] - w[0] >= KILL_GAP_MS) {
            break k.into_iter().map(|t| t0 + t).collect();
        }
    };
    (lifecycles, kills)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Fire,
    Repost,
    Ack,
    Resolve,
}

/// Every post and ack of the plan, in time order.
fn events(plan: &[Lifecycle]) -> Vec<(i64, usize, Action)> {
    let mut ev = Vec::new();
    for (i, l) in plan.iter().enumerate() {
        ev.push((l.fire_at, i, Action::Fire));
        let mut t = l.fire_at + 1_000;
        while l.repost && t < l.resolve_at - 100 {
            ev.push((t, i, Action::Repost));
            t += 1_000;
        }
        if let Some(a) = l.ack_at {
            ev.push((a, i, Action::Ack));
        }
        ev.push((l.resolve_at, i, Action::Resolve));
    }
    ev.sort_unstable();
    ev
}

/// A stop flag the threads wait on (instead of sleeping).
#[derive(Default)]
struct Stop {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    /// Waits until `t` (ms since the epoch); false when stopped first.
    fn until(&self, t: i64) -> bool {
        let mut stopped = self.flag.lock().expect("stop flag");
        loop {
            if *stopped {
                return false;
            }
            let left = t - now_ms();
            if left <= 0 {
                return true;
            }
            stopped = self
                .cv
                .wait_timeout(stopped, Duration::from_millis(left as u64))
                .expect("stop flag")
                .0;
        }
    }

    fn stop(&self) {
        *self.flag.lock().expect("stop flag") = true;
        self.cv.notify_all();
    }
}

/// Stops the other threads when dropped (`all`), or only when dropped by
/// a panic.
struct StopOnDrop<'a> {
    stop: &'a Stop,
    all: bool,
}

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        if self.all || std::thread::panicking() {
            self.stop.stop();
        }
    }
}

/// How one attempt of a post or ack ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// 2xx, received at this time.
    Ok(i64),
    /// The connection was refused: the router never saw it.
    Refused,
    /// Any other failure: the router may have applied it.
    Unsure,
    /// A 4xx answer (the body is in the log).
    Rejected,
}

#[derive(Debug, Clone, Copy)]
struct Attempt {
    sent: i64,
    outcome: Outcome,
}

/// What the driver did for one lifecycle.
#[derive(Debug, Default, Clone)]
struct Log {
    starts_at: Option<i64>,
    ends_at: Option<i64>,
    fire: Vec<Attempt>,
    ack: Vec<Attempt>,
    resolve: Vec<Attempt>,
    /// Attempts of all kinds that were not refused nor 2xx.
    troubles: Vec<String>,
}

/// When an action may have reached the router, if it ever succeeded.
fn window(attempts: &[Attempt]) -> Option<Window> {
    let lo = attempts
        .iter()
        .find(|a| a.outcome != Outcome::Refused)?
        .sent;
    let hi = attempts.iter().find_map(|a| match a.outcome {
        Outcome::Ok(t) => Some(t),
        _ => None,
    })?;
    Some(Window { lo, hi })
}

fn client(timeout_ms: u64) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(timeout_ms))
        .connect_timeout(Duration::from_millis(500))
        .build()
        .expect("http client")
}

/// One attempt of `action` for lifecycle `i`.
fn attempt(
    http: &reqwest::blocking::Client,
    base: &str,
    i: usize,
    action: Action,
    log: &mut Log,
) -> (Outcome, String) {
    let now = now_ms();
    let req = if action == Action::Ack {
        http.post(format!("{base}/api/watchfire/v1/ack"))
            .json(&json!({"group_key": group_key(i), "by": "crash-test"}))
    } else {
        let starts_at = *log.starts_at.get_or_insert(now);
        let mut alert = json!({
            "labels": {"alertname": "CrashTest", "instance": instance(i), "severity": "critical"},
            "annotations": {"summary": format!("crash test lifecycle {i}")},
            "startsAt": format_rfc3339_millis(starts_at),
            "generatorURL": format!("http://crash.test/graph?lc={i}"),
        });
        if action == Action::Resolve {
            // Like Prometheus: the resolution time stays fixed across retries.
            let ends_at = *log.ends_at.get_or_insert(now);
            alert["endsAt"] = Value::String(format_rfc3339_millis(ends_at));
        }
        http.post(format!("{base}/api/v2/alerts"))
            .json(&json!([alert]))
    };
    match req.bearer_auth(TOKEN).send() {
        Err(e) if e.is_connect() => (Outcome::Refused, String::new()),
        Err(e) => (Outcome::Unsure, e.to_string()),
        Ok(r) if r.status().is_success() => (Outcome::Ok(now_ms()), String::new()),
        Ok(r) => {
            let status = r.status();
            let body = r.text().unwrap_or_default();
            let o = if status.is_client_error() {
                Outcome::Rejected
            } else {
                Outcome::Unsure
            };
            (o, format!("{status}: {body}"))
        }
    }
}

/// Runs the schedule; each action is retried (every 100 ms, at most
/// 60 s) until the router takes it, holding back the actions after it.
fn drive(base: &str, events: &[(i64, usize, Action)], stop: &Stop) -> Vec<Log> {
    let http = client(3_000);
    let mut logs = vec![Log::default(); LIFECYCLES];
    for &(at, i, action) in events {
        if !stop.until(at) {
            break;
        }
        let give_up = now_ms() + 60_000;
        let mut rejected = 0;
        loop {
            let log = &mut logs[i];
            let sent = now_ms();
            let (outcome, detail) = attempt(&http, base, i, action, log);
            let a = Attempt { sent, outcome };
            match action {
                Action::Fire => log.fire.push(a),
                Action::Ack => log.ack.push(a),
                Action::Resolve => log.resolve.push(a),
                Action::Repost => {}
            }
            if !detail.is_empty() {
                log.troubles
                    .push(format!("{action:?} at {sent}: {outcome:?} {detail}"));
            }
            match outcome {
                Outcome::Ok(_) => break,
                Outcome::Rejected => {
                    assert!(
                        action == Action::Ack,
                        "{action:?} of {} rejected: {detail}",
                        instance(i)
                    );
                    rejected += 1;
                    if rejected >= 20 {
                        break; // reported by the checks
                    }
                }
                Outcome::Refused | Outcome::Unsure => {}
            }
            assert!(
                now_ms() < give_up,
                "{action:?} of {} not taken for 60 s: {:?}",
                instance(i),
                logs[i].troubles
            );
            if !stop.until(now_ms() + 100) {
                return logs;
            }
        }
    }
    logs
}

/// `kill -9`s and restarts the router at each moment of `kill_at`.
fn killer(router: &mut Router, kill_at: &[i64], stop: &Stop) -> Vec<Outage> {
    let _stop_on_panic = StopOnDrop { stop, all: false };
    let mut out = Vec::new();
    for &t in kill_at {
        if !stop.until(t) {
            break;
        }
        let killed_at = now_ms();
        router.kill9();
        let spawned_at = now_ms();
        router.start();
        let ready_at = now_ms();
        out.push(Outage {
            killed_at,
            spawned_at,
            ready_at,
        });
    }
    out
}

/// What the monitor saw of one escalation.
#[derive(Debug, Default, Clone)]
struct EscSeen {
    started_at: BTreeSet<i64>,
    /// (step, round) → when the router says it fired.
    fired: BTreeMap<(u64, u64), BTreeSet<i64>>,
}

/// Polls the escalations every 200 ms until stopped.
fn monitor(base: &str, stop: &Stop) -> BTreeMap<String, EscSeen> {
    let http = client(1_000);
    let url = format!("{base}/api/watchfire/v1/escalations");
    let mut seen: BTreeMap<String, EscSeen> = BTreeMap::new();
    while stop.until(now_ms() + 200) {
        let Some(body) = get_text(&http, &url) else {
            continue;
        };
        let list: Vec<Value> = serde_json::from_str(&body).unwrap_or_default();
        for e in list {
            let Some(key) = e["group_key"].as_str() else {
                continue;
            };
            let s = seen.entry(key.to_string()).or_default();
            if let Some(t) = e["started_at"].as_i64() {
                s.started_at.insert(t);
            }
            for f in e["fired"].as_array().into_iter().flatten() {
                let pos = (
                    f["step"].as_u64().unwrap_or(99),
                    f["round"].as_u64().unwrap_or(99),
                );
                if let Some(at) = f["at"].as_i64() {
                    s.fired.entry(pos).or_default().insert(at);
                }
            }
        }
    }
    seen
}

/// The one lifecycle a text names (`lc-NNN`), if exactly one.
fn lifecycle_named(s: &str) -> Option<usize> {
    let found: BTreeSet<usize> = s
        .match_indices("lc-")
        .filter_map(|(p, _)| s.get(p + 3..p + 6)?.parse().ok())
        .collect();
    match found.into_iter().collect::<Vec<_>>()[..] {
        [i] if i < LIFECYCLES => Some(i),
        _ => None,
    }
}

fn slack_kind(r: &Recorded) -> SlackKind {
    let v = r.json();
    let text = v["text"].as_str().unwrap_or("");
    let resolved = text.starts_with("[RESOLVED]");
    let ack = String::from_utf8_lossy(&r.body).contains("Acknowledged by");
    let firing = text.starts_with("[FIRING");
    match (r.path.as_str(), resolved, ack) {
        ("/api/chat.postMessage", true, _) => SlackKind::ResolvedPost,
        ("/api/chat.postMessage", false, true) => SlackKind::AckPost,
        ("/api/chat.postMessage", false, false) if firing => SlackKind::Post,
        ("/api/chat.update", true, _) => SlackKind::ResolvedUpdate,
        ("/api/chat.update", false, true) => SlackKind::AckUpdate,
        _ => SlackKind::Other,
    }
}

/// Sorts what the fakes accepted by lifecycle; the rest is stray.
fn collect(pd: &[Recorded], slack: &[Recorded], hook: &[Recorded]) -> (Vec<Seen>, Vec<String>) {
    let by_dedup: HashMap<String, usize> = (0..LIFECYCLES)
        .map(|i| (dedup_key(&group_key(i)), i))
        .collect();
    let by_key: HashMap<String, usize> = (0..LIFECYCLES).map(|i| (group_key(i), i)).collect();
    let mut seen = vec![Seen::default(); LIFECYCLES];
    let mut stray = Vec::new();
    for r in pd {
        let v = r.json();
        let action = match v["event_action"].as_str() {
            Some("trigger") => PdAction::Trigger,
            Some("acknowledge") => PdAction::Acknowledge,
            Some("resolve") => PdAction::Resolve,
            _ => {
                stray.push(format!("PagerDuty event {v}"));
                continue;
            }
        };
        let i = v["dedup_key"].as_str().and_then(|k| by_dedup.get(k));
        let s = i.map(|i| &mut seen[*i]);
        match (v["routing_key"].as_str(), s) {
            (Some(PD_PRIMARY), Some(s)) => s.pd_primary.push((action, r.received_at)),
            (Some(PD_SECONDARY), Some(s)) => s.pd_secondary.push((action, r.received_at)),
            _ => stray.push(format!("PagerDuty event {v}")),
        }
    }
    for r in slack {
        match lifecycle_named(&String::from_utf8_lossy(&r.body)) {
            Some(i) => seen[i].slack.push((slack_kind(r), r.received_at)),
            None => stray.push(format!("Slack {} {}", r.path, r.json())),
        }
    }
    for r in hook {
        let v = r.json();
        match v["groupKey"].as_str().and_then(|k| by_key.get(k)) {
            Some(i) => seen[*i]
                .hook
                .push((v["status"] == "resolved", r.received_at)),
            None => stray.push(format!("webhook {v}")),
        }
    }
    (seen, stray)
}

/// Copies the routers' logs (every run) out of the temporary folder.
fn keep_logs(router: &Router, seed: u64) {
    let dest = std::env::temp_dir().join(format!("watchfire-dispatch-crash-{seed}"));
    let _ = std::fs::create_dir_all(&dest);
    for e in std::fs::read_dir(router.dir.path())
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "stderr") {
            let _ = std::fs::copy(e.path(), dest.join(e.file_name()));
        }
    }
    println!("router logs kept in {}", dest.display());
}

/// The listed items of a JSON array answer (None when not answering).
fn list_len(http: &reqwest::blocking::Client, url: &str) -> Option<usize> {
    let body = get_text(http, url)?;
    serde_json::from_str::<Vec<Value>>(&body)
        .ok()
        .map(|v| v.len())
}

fn max_ms(v: impl Iterator<Item = i64>) -> String {
    v.max().map_or("-".into(), |m| format!("{m} ms"))
}

#[test]
fn escalations_survive_kill_9() {
    let seed = std::env::var("WATCHFIRE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now_ms() as u64);
    println!("dispatch_crash: seed {seed} (replay with WATCHFIRE_CRASH_SEED={seed})");
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let (pd, sl, hook) = rt.block_on(async {
        (
            pagerduty::start().await.expect("fake PagerDuty"),
            slack::start(SLACK_TOKEN).await.expect("fake Slack"),
            webhook::start().await.expect("fake webhook"),
        )
    });
    let am = am_yml(&pd.base_url(), &sl.base_url(), &hook.base_url());
    let mut router = Router::new(&[], "1s", "0s").with_dispatch(&am, Some(TOKEN));
    router.start();
    let base = router.url("");

    let t0 = now_ms() + 1_000;
    let (plan, kill_at) = plan(seed, t0);
    let events = events(&plan);
    let stop = Stop::default();
    let (logs, outages, escs) = std::thread::scope(|s| {
        let _stop = StopOnDrop {
            stop: &stop,
            all: true,
        };
        let mon = s.spawn(|| monitor(&base, &stop));
        let kil = s.spawn(|| killer(&mut router, &kill_at, &stop));
        let logs = drive(&base, &events, &stop);
        let outages = kil.join().expect("the killer thread panicked");
        stop.stop();
        let escs = mon.join().expect("the monitor thread panicked");
        (logs, outages, escs)
    });
    assert_eq!(outages.len(), KILLS, "not every kill happened");

    // Wait until everything is resolved and delivered, and the fakes
    // have been quiet for 6 s (the outbox gauge is read at each scrape).
    let http = client(2_000);
    let mut last = (0, 0, 0, now_ms());
    let mut state = String::from("no answer");
    let quiet = poll(Duration::from_secs(30), || {
        let counts = (
            pd.state.accepted().len(),
            sl.state.accepted().len(),
            hook.state.accepted().len(),
        );
        if (counts.0, counts.1, counts.2) != (last.0, last.1, last.2) {
            last = (counts.0, counts.1, counts.2, now_ms());
        }
        let escalations = list_len(&http, &format!("{base}/api/watchfire/v1/escalations"));
        let groups = list_len(&http, &format!("{base}/api/v2/alerts/groups"));
        let pending = get_text(&http, &format!("{base}/metrics"))
            .and_then(|p| metric_value(&p, "watchfire_dispatch_outbox_pending", &[]));
        let still = now_ms() - last.3;
        state = format!(
            "escalations {escalations:?}, groups {groups:?}, outbox pending {pending:?}, fakes quiet for {still} ms"
        );
        (escalations == Some(0) && groups == Some(0) && pending == Some(0.0) && still > 6_000)
            .then_some(())
    });
    router.proc().assert_running();
    let mut problems: Vec<String> = Vec::new();
    if quiet.is_none() {
        problems.push(format!("the router did not settle within 30 s: {state}"));
        println!(
            "escalations: {}\ngroups: {}",
            get_text(&http, &format!("{base}/api/watchfire/v1/escalations")).unwrap_or_default(),
            get_text(&http, &format!("{base}/api/v2/alerts/groups")).unwrap_or_default()
        );
    }
    let dead =
        get_text(&http, &format!("{base}/api/watchfire/v1/dead-letters")).expect("dead letters");

    // Judge every lifecycle.
    let (seen, stray) = collect(
        &pd.state.accepted(),
        &sl.state.accepted(),
        &hook.state.accepted(),
    );
    let mut verdicts: Vec<Verdict> = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        let name = instance(i);
        let esc = escs.get(&group_key(i));
        if let Some(e) = esc.filter(|e| e.started_at.len() > 1) {
            problems.push(format!(
                "{name}: escalation restarted: started_at {:?}",
                e.started_at
            ));
        }
        let (Some(fire), Some(resolve)) = (window(&log.fire), window(&log.resolve)) else {
            problems.push(format!(
                "{name}: the driver never got the alert in: {:?}",
                log.troubles
            ));
            continue;
        };
        let ack = window(&log.ack);
        if plan[i].ack_at.is_some() && ack.is_none() {
            problems.push(format!(
                "{name}: ack refused {} times, last: {:?}",
                log.ack.len(),
                log.troubles.last()
            ));
        }
        let f = Facts {
            name,
            fire,
            ack,
            resolve,
            esc_started: esc.and_then(|e| e.started_at.first().copied()),
        };
        verdicts.push(judge(&f, &seen[i], &outages, t0));
    }
    let all = |f: fn(&Verdict) -> &Vec<String>| -> Vec<String> {
        verdicts.iter().flat_map(|v| f(v).iter().cloned()).collect()
    };
    let duplicates = all(|v| &v.duplicates);
    let in_flight = all(|v| &v.in_flight_repeats);
    let lost_pages = all(|v| &v.lost_pages);
    let unexpected = all(|v| &v.unexpected_pages);
    let lost_resolves = all(|v| &v.lost_resolves);
    let reopened = all(|v| &v.reopened);
    let lost_acks = all(|v| &v.lost_acks);
    let timing = all(|v| &v.timing);
    let repeated = all(|v| &v.repeated_updates);
    let flushes = all(|v| &v.repeated_flushes);
    let late: Vec<Lateness> = verdicts.iter().flat_map(|v| v.lateness.clone()).collect();

    println!("\n=== dispatch crash test (seed {seed}) ===");
    for (n, o) in outages.iter().enumerate() {
        println!(
            "kill {n}: at {}, back (ready) after {} ms (spawn → ready {} ms)",
            rel(o.killed_at, t0),
            o.ready_at - o.killed_at,
            o.ready_at - o.spawned_at
        );
    }
    let acked = logs.iter().filter(|l| window(&l.ack).is_some()).count();
    let retried = logs
        .iter()
        .filter(|l| l.fire.len() > 1 || l.ack.len() > 1 || l.resolve.len() > 1)
        .count();
    let row = |k: &str, v: String| println!("  {k:<38} {v}");
    row("lifecycles", LIFECYCLES.to_string());
    row(
        "  acked / with a retried post or ack",
        format!("{acked} / {retried}"),
    );
    row("kills", outages.len().to_string());
    row(
        "pages (distinct receiver × step)",
        verdicts.iter().map(|v| v.pages).sum::<usize>().to_string(),
    );
    row("  step 1 within 2 s of a stop (paged)", {
        let undecided = verdicts.iter().filter(|v| v.step1_undecided);
        let paged = undecided.clone().filter(|v| v.step1_paged).count();
        format!("{} ({paged})", undecided.count())
    });
    row(
        "  due while the router was down",
        verdicts
            .iter()
            .map(|v| v.due_while_down)
            .sum::<usize>()
            .to_string(),
    );
    row("duplicate pages", duplicates.len().to_string());
    row(
        "  resent: in flight at a kill (info)",
        in_flight.len().to_string(),
    );
    row("lost pages", lost_pages.len().to_string());
    row("unexpected pages", unexpected.len().to_string());
    row("lost resolves", lost_resolves.len().to_string());
    row("paged after the resolve", reopened.len().to_string());
    row("lost acks", lost_acks.len().to_string());
    row("late or early pages", timing.len().to_string());
    row(
        "max lateness, normal",
        max_ms(late.iter().filter(|l| l.outage.is_none()).map(|l| l.ms)),
    );
    row(
        "pages late only by an outage",
        late.iter()
            .filter(|l| l.outage.is_some())
            .count()
            .to_string(),
    );
    row(
        "max lateness after restart (vs ready)",
        max_ms(late.iter().filter(|l| l.outage.is_some()).map(|l| l.ms)),
    );
    row("repeated resolves/acks (info)", repeated.len().to_string());
    row("repeated flushes (info)", flushes.len().to_string());
    row("stray requests at the fakes", stray.len().to_string());
    for (what, list) in [
        ("DUPLICATE", &duplicates),
        ("IN FLIGHT AT A KILL (info)", &in_flight),
        ("LOST PAGE", &lost_pages),
        ("UNEXPECTED", &unexpected),
        ("LOST RESOLVE", &lost_resolves),
        ("REOPENED", &reopened),
        ("LOST ACK", &lost_acks),
        ("TIMING", &timing),
        ("REPEATED (info)", &repeated),
        ("REPEATED FLUSH (info)", &flushes),
        ("STRAY", &stray),
        ("PROBLEM", &problems),
    ] {
        for p in list.iter() {
            println!("{what}: {p}");
        }
    }
    assert_eq!(dead.trim(), "[]", "dead letters: {dead}");
    let failures = duplicates.len()
        + lost_pages.len()
        + unexpected.len()
        + lost_resolves.len()
        + reopened.len()
        + lost_acks.len()
        + timing.len()
        + stray.len()
        + problems.len();
    if failures > 0 {
        keep_logs(&router, seed);
    }
    assert_eq!(failures, 0, "see the lines above (seed {seed})");
    drop(rt);
}
