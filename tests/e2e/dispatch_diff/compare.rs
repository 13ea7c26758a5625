//! The comparison of the differential dispatch test: webhook deliveries
//! parsed into notifications per `(receiver, groupKey)` ([`to_log`]), the
//! side-by-side check ([`compare`]) and the coverage check of a run
//! ([`coverage`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::{json, Value};

use super::scenario::{labels, Labels, Scenario, BATCH_MS, RECEIVERS};

/// Largest accepted difference between the two sides' delivery times.
pub const TOLERANCE_MS: i64 = 1_000;

/// One webhook request as received by the collector.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub side: String,
    pub receiver: String,
    pub at: Instant,
    pub body: Value,
}

// ------------------------------------------------------------ comparison

/// One notification as compared: when (ms after the start), the group's
/// status, and its alerts as (labels, alert status).
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub at_ms: i64,
    pub status: String,
    pub alerts: BTreeSet<(Labels, String)>,
    /// The rest of the webhook body, compared once the alert sets agree:
    /// everything but `externalURL` (each side's own address) and
    /// `groupKey` (already part of the log key).
    pub payload: Value,
}

/// Notifications per `(receiver, groupKey)`, in arrival order.
pub type Log = BTreeMap<(String, String), Vec<Note>>;

/// The deliveries of `side`, parsed; panics on a malformed payload.
pub fn to_log(all: &[Delivery], side: &str, t0: Instant) -> Log {
    let mut log = Log::new();
    for d in all.iter().filter(|d| d.side == side) {
        let b = &d.body;
        assert_eq!(
            b["receiver"].as_str(),
            Some(d.receiver.as_str()),
            "{side}: payload receiver vs URL: {b}"
        );
        assert_eq!(b["version"], "4", "{side}: webhook payload version: {b}");
        let key = b["groupKey"]
            .as_str()
            .unwrap_or_else(|| panic!("{side}: no groupKey: {b}"));
        let alerts = b["alerts"]
            .as_array()
            .unwrap_or_else(|| panic!("{side}: no alerts: {b}"))
            .iter()
            .map(|a| {
                let l: Labels = serde_json::from_value(a["labels"].clone())
                    .unwrap_or_else(|e| panic!("{side}: labels of {a}: {e}"));
                (l, a["status"].as_str().unwrap_or("?").to_string())
            })
            .collect();
        let at_ms = d.at.saturating_duration_since(t0).as_millis() as i64;
        let status = b["status"].as_str().unwrap_or("?").to_string();
        let mut payload = b.clone();
        if let Some(o) = payload.as_object_mut() {
            o.remove("externalURL");
            o.remove("groupKey");
        }
        let note = Note {
            at_ms,
            status,
            alerts,
            payload,
        };
        log.entry((d.receiver.clone(), key.to_string()))
            .or_default()
            .push(note);
    }
    for notes in log.values_mut() {
        notes.sort_by_key(|n| n.at_ms);
    }
    log
}

pub fn fmt_labels(l: &Labels) -> String {
    let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

pub fn render(notes: &[Note]) -> String {
    let mut out = String::new();
    for n in notes {
        let firing = n.alerts.iter().filter(|a| a.1 == "firing").count();
        out += &format!(
            "      t={:>6.3}s {:<8} {firing} firing, {} resolved\n",
            n.at_ms as f64 / 1000.0,
            n.status,
            n.alerts.len() - firing
        );
    }
    out
}

/// The fields where two webhook bodies with the same alerts differ.
fn payload_diff(a: &Value, b: &Value) -> String {
    let mut out = Vec::new();
    let empty = serde_json::Map::new();
    let (oa, ob) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = oa.keys().chain(ob.keys()).collect();
    for k in keys.into_iter().filter(|k| *k != "alerts") {
        if oa.get(k) != ob.get(k) {
            out.push(format!("{k}: {:?} on A, {:?} on B", oa.get(k), ob.get(k)));
        }
    }
    let list = |v: &Value| v["alerts"].as_array().cloned().unwrap_or_default();
    let (la, lb) = (list(a), list(b));
    let ids = |l: &Vec<Value>| {
        l.iter()
            .map(|x| x["labels"].to_string())
            .collect::<Vec<_>>()
    };
    if ids(&la) != ids(&lb) {
        out.push(format!(
            "alert order: {:?} on A, {:?} on B",
            ids(&la),
            ids(&lb)
        ));
    }
    for x in &la {
        let Some(y) = lb.iter().find(|y| y["labels"] == x["labels"]) else {
            continue;
        };
        let (fx, fy) = (
            x.as_object().unwrap_or(&empty),
            y.as_object().unwrap_or(&empty),
        );
        for f in fx.keys().chain(fy.keys()).collect::<BTreeSet<_>>() {
            if fx.get(f) != fy.get(f) {
                out.push(format!(
                    "alert {} {f}: {:?} on A, {:?} on B",
                    x["labels"],
                    fx.get(f),
                    fy.get(f)
                ));
            }
        }
    }
    out.join("; ")
}

/// What matched.
#[derive(Debug, Default, PartialEq)]
pub struct Stats {
    pub groups: usize,
    pub notifications: usize,
    pub max_dt_ms: i64,
}

/// The two sides' logs differ. Displays as a readable diff of every group
/// that differs (each starting on a new line).
#[derive(Debug, PartialEq)]
pub struct Mismatch {
    pub diff: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diff)
    }
}

/// Compares two sides' logs.
pub fn compare(a: &Log, b: &Log) -> Result<Stats, Mismatch> {
    let mut st = Stats::default();
    let mut diff = String::new();
    let none = Vec::new();
    let keys: BTreeSet<&(String, String)> = a.keys().chain(b.keys()).collect();
    for key in keys {
        let (sa, sb) = (a.get(key).unwrap_or(&none), b.get(key).unwrap_or(&none));
        let mut problems = Vec::new();
        if sa.len() != sb.len() {
            problems.push(format!(
                "{} notifications on A, {} on B",
                sa.len(),
                sb.len()
            ));
        }
        for (i, (x, y)) in sa.iter().zip(sb).enumerate() {
            if x.status != y.status {
                problems.push(format!("#{i}: status {} on A, {} on B", x.status, y.status));
            }
            for (only, side) in [
                (x.alerts.difference(&y.alerts), "A"),
                (y.alerts.difference(&x.alerts), "B"),
            ] {
                for (l, s) in only {
                    problems.push(format!("#{i}: only on {side}: {} {s}", fmt_labels(l)));
                }
            }
            if x.status == y.status && x.alerts == y.alerts && x.payload != y.payload {
                problems.push(format!(
                    "#{i}: payload differs: {}",
                    payload_diff(&x.payload, &y.payload)
                ));
            }
            let dt = (x.at_ms - y.at_ms).abs();
            st.max_dt_ms = st.max_dt_ms.max(dt);
            if dt > TOLERANCE_MS {
                problems.push(format!("#{i}: at {} ms on A, {} ms on B", x.at_ms, y.at_ms));
            }
        }
        if problems.is_empty() {
            st.groups += 1;
            st.notifications += sa.len();
            continue;
        }
        diff += &format!("\n== receiver {:?}, groupKey {:?}\n", key.0, key.1);
        for p in &problems {
            diff += &format!("   {p}\n");
        }
        // A group on one side only: name the other side's group with the
        // same notifications, if any (a group key spelled differently).
        let (mine, other, side) = if sa.is_empty() {
            (sb, a, "A")
        } else {
            (sa, b, "B")
        };
        let same = |n: &Vec<Note>| {
            n.len() == mine.len() && n.iter().zip(mine).all(|(x, y)| x.alerts == y.alerts)
        };
        if sa.is_empty() != sb.is_empty() {
            for ((r, k), n) in other.iter().filter(|((r, _), _)| *r == key.0) {
                if r == &key.0 && same(n) {
                    diff +=
                        &format!("   the same notifications are on {side} under groupKey {k:?}\n");
                }
            }
        }
        diff += &format!("   A:\n{}   B:\n{}", render(sa), render(sb));
    }
    if diff.is_empty() {
        Ok(st)
    } else {
        Err(Mismatch { diff })
    }
}

/// Checks on one side's log that the run really exercised each case (so
/// an edit of the scenario cannot silently drop one); returns failures.
pub fn coverage(log: &Log, s: &Scenario) -> Vec<String> {
    let mut bad = Vec::new();
    let of = |r: &'static str| {
        log.iter()
            .filter(move |((x, _), _)| x == r)
            .flat_map(|(_, v)| v)
    };
    for (r, send_resolved) in RECEIVERS {
        let n = of(r).count();
        let quiet = matches!(*r, "muted" | "inactive");
        if quiet == (n > 0) {
            bad.push(format!("receiver {r}: {n} notifications"));
        }
        if !send_resolved && of(r).any(|n| n.alerts.iter().any(|a| a.1 == "resolved")) {
            bad.push(format!(
                "receiver {r} (send_resolved: false) got a resolved alert"
            ));
        }
    }
    let all = || log.values().flatten();
    if !all().any(|n| n.status == "resolved") {
        bad.push("no all-resolved notification".into());
    }
    if !all().any(|n| n.status == "firing" && n.alerts.iter().any(|a| a.1 == "resolved")) {
        bad.push("no notification with both firing and resolved alerts".into());
    }
    let name = |l: &Labels| l.get("alertname").cloned().unwrap_or_default();
    let first = |pred: &dyn Fn(&Labels) -> bool| {
        all()
            .filter(|n| n.alerts.iter().any(|(l, _)| pred(l)))
            .map(|n| n.at_ms)
            .min()
    };
    let never = first(&|l| {
        let n = name(l);
        n.starts_with("Quiet")
            || n.starts_with("BlipDead")
            || (n.starts_with("Blip") && n.as_bytes().get(4).is_some_and(u8::is_ascii_digit))
            || (n == "SilNeq" && matches!(l.get("env").map(String::as_str), Some("dev" | "qa")))
            || (n == "SilReB" && l.get("host").map(String::as_str) != Some("h0"))
    });
    if let Some(t) = never {
        bad.push(format!(
            "a muted/silenced/never-firing alert was delivered at {t} ms"
        ));
    }
    let batch_ms = |b: Option<u32>| i64::from(b.expect("scenario event")) * BATCH_MS;
    let silence_end = |key: &str| {
        batch_ms(
            s.silences
                .iter()
                .find(|x| x.key == key)
                .and_then(|x| x.expire),
        )
    };
    let resolve_of = |n: &str, k: &str, v: &str| {
        batch_ms(
            s.alerts
                .iter()
                .find(|a| name(&a.labels) == n && a.labels.get(k).map(String::as_str) == Some(v))
                .and_then(|a| a.resolve),
        )
    };
    let has = |n: &'static str, k: &'static str, v: &'static str| {
        move |l: &Labels| name(l) == n && l.get(k).map(String::as_str) == Some(v)
    };
    // (what, first delivery, must be at or after, must be before)
    let timed = [
        (
            "SilEq after its silence expired",
            first(&has("SilEq", "team", "sil")),
            silence_end("eq"),
            i64::MAX,
        ),
        (
            "inhibited InhTgt1 after InhSrc1 resolved",
            first(&has("InhTgt1", "instance", "t0")),
            resolve_of("InhSrc1", "cluster", "i1"),
            i64::MAX,
        ),
        (
            "InhTgt1 with another zone before that",
            first(&has("InhTgt1", "instance", "tz")),
            0,
            resolve_of("InhSrc1", "cluster", "i1"),
        ),
        (
            "ServiceErrors n0 after NodeDown n0 resolved",
            first(&has("ServiceErrors", "node", "n0")),
            resolve_of("NodeDown", "node", "n0"),
            i64::MAX,
        ),
        (
            "ServiceLatency n0b at once",
            first(&has("ServiceLatency", "node", "n0b")),
            0,
            resolve_of("NodeDown", "node", "n0"),
        ),
    ];
    for (what, got, lo, hi) in timed {
        if !got.is_some_and(|t| t >= lo && t < hi) {
            bad.push(format!(
                "{what}: first delivered at {got:?} ms, expected in [{lo}, {hi})"
            ));
        }
    }
    let only_h0 = all().any(|n| {
        let firing: Vec<_> = n.alerts.iter().filter(|a| a.1 == "firing").collect();
        firing.len() == 1 && name(&firing[0].0) == "SilReA" && firing[0].0["host"] == "h0"
    });
    if !only_h0 {
        bad.push("no repeat of SilReA with only the unsilenced h0".into());
    }
    let late = silence_end("late");
    if !of("sil").any(|n| n.at_ms > late && n.alerts.iter().any(|(l, _)| name(l) == "SilLate")) {
        bad.push("no SilLate repeat after its silence expired".into());
    }
    bad
}

fn check(name: &str, a: &Log, b: &Log, expect: Option<&str>) {
    match (compare(a, b), expect) {
        (Ok(_), None) => {}
        (Err(d), Some(want)) => assert!(d.diff.contains(want), "{name}: diff lacks {want:?}:\n{d}"),
        (got, want) => panic!("{name}: got {got:?}, expected {want:?}"),
    }
}

#[test]
fn compare_finds_each_kind_of_difference() {
    let note = |at_ms, status: &str, alerts: &[(&str, &str)]| Note {
        at_ms,
        status: status.into(),
        alerts: alerts
            .iter()
            .map(|(n, s)| (labels(&[("alertname", n)]), s.to_string()))
            .collect(),
        payload: json!({"status": status, "groupLabels": {}}),
    };
    let log =
        |key: &str, notes: Vec<Note>| Log::from([(("r".to_string(), key.to_string()), notes)]);
    let base = log(
        "k",
        vec![
            note(1000, "firing", &[("A", "firing")]),
            note(3000, "resolved", &[("A", "resolved")]),
        ],
    );
    let mut relabelled = base[&("r".into(), "k".into())].clone();
    relabelled[1].payload["groupLabels"] = json!({"alertname": "A"});
    let cases: [(&str, Log, Option<&str>); 8] = [
        (
            "same",
            log("k", base[&("r".into(), "k".into())].clone()),
            None,
        ),
        (
            "900 ms later",
            log(
                "k",
                vec![
                    note(1900, "firing", &[("A", "firing")]),
                    note(3900, "resolved", &[("A", "resolved")]),
                ],
            ),
            None,
        ),
        (
            "1100 ms later",
            log(
                "k",
                vec![
                    note(2100, "firing", &[("A", "firing")]),
                    note(3000, "resolved", &[("A", "resolved")]),
                ],
            ),
            Some("#0: at 1000 ms on A, 2100 ms on B"),
        ),
        (
            "missing resolve",
            log("k", vec![note(1000, "firing", &[("A", "firing")])]),
            Some("2 notifications on A, 1 on B"),
        ),
        (
            "status",
            log(
                "k",
                vec![
                    note(1000, "resolved", &[("A", "firing")]),
                    note(3000, "resolved", &[("A", "resolved")]),
                ],
            ),
            Some("#0: status firing on A, resolved on B"),
        ),
        (
            "alert set",
            log(
                "k",
                vec![
                    note(1000, "firing", &[("A", "firing"), ("B", "firing")]),
                    note(3000, "resolved", &[("A", "resolved")]),
                ],
            ),
            Some("#0: only on B: {alertname=\"B\"} firing"),
        ),
        (
            "group key",
            log("other", base[&("r".into(), "k".into())].clone()),
            Some("the same notifications are on A under groupKey \"k\""),
        ),
        (
            "payload",
            log("k", relabelled),
            Some("#1: payload differs: groupLabels: Some(Object {}) on A"),
        ),
    ];
    for (name, b, expect) in cases {
        check(name, &base, &b, expect);
    }
    assert_eq!(
        compare(&base, &base),
        Ok(Stats {
            groups: 1,
            notifications: 2,
            max_dt_ms: 0
        })
    );
}
