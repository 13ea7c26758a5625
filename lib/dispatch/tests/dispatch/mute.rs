//! Inhibition, silences and time intervals in the flush pipeline.

use std::sync::Arc;

use watchfire_alertmodel::InhibitRule;
use watchfire_dispatch::{AlertState, Dispatcher, MatcherRecord, SilenceSpec};

use crate::harness::*;

fn cfg() -> watchfire_dispatch::DispatchConfig {
    let mut c = config(route("r", 30 * S, 60 * S, 3600 * S), &[true]);
    c.resolve_timeout = 60 * M;
    c
}

fn silence(value: &str, s: i64, e: i64) -> SilenceSpec {
    SilenceSpec {
        matchers: vec![MatcherRecord {
            name: "alertname".into(),
            op: "=".into(),
            value: value.into(),
        }],
        starts_at: s,
        ends_at: e,
        ..Default::default()
    }
}

fn add_silence(t: i64, spec: SilenceSpec) -> (i64, Ev) {
    (
        t,
        Ev::Call(Box::new(move |d: &mut Dispatcher, now| {
            d.set_silence(spec.clone(), &mut || "sil-1".to_string(), now)
                .unwrap();
        })),
    )
}

#[test]
fn silenced_alerts_are_not_sent_until_the_silence_ends() {
    check(
        cfg(),
        vec![
            add_silence(0, silence("A", 0, 100 * S)),
            (0, Ev::Post(vec![alert("A", "", None, None)])),
        ],
        200 * S,
        // Silence active through t=100 (its end is still active), so the
        // first unsilenced tick is 150.
        &["t=150 r/0 alerts firing[A] resolved[]"],
    );
}

#[test]
fn inhibited_alerts_are_dropped_from_the_notification() {
    let mut root = route("r", 30 * S, 60 * S, 3600 * S);
    root.group_by = watchfire_alertmodel::GroupBy::Labels(vec![]);
    let mut c2 = config(root, &[true]);
    c2.inhibit_rules = vec![InhibitRule {
        source: vec![eq("severity", "critical")],
        target: vec![eq("severity", "warning")],
        equal: vec!["cluster".into()],
    }];
    c2.resolve_timeout = 60 * M;
    check(
        c2,
        vec![(
            0,
            Ev::Post(vec![
                alert("Crit", "severity=critical,cluster=a", None, None),
                alert("Warn", "severity=warning,cluster=a", None, None),
                alert("Other", "severity=warning,cluster=b", None, None),
            ]),
        )],
        60 * S,
        &["t=30 r/0 alerts firing[Crit,Other] resolved[]"],
    );
}

#[test]
fn status_views_show_suppression() {
    let mut c = cfg();
    c.inhibit_rules = vec![InhibitRule {
        source: vec![eq("alertname", "Crit")],
        target: vec![eq("alertname", "Warn")],
        equal: vec![],
    }];
    let mut d = Dispatcher::new(c);
    d.receive(
        0,
        vec![
            alert("Crit", "", None, None),
            alert("Warn", "", None, None),
            alert("S", "", None, None),
        ],
    );
    d.set_silence(silence("S", 0, 100 * S), &mut || "sil".into(), 0)
        .unwrap();
    let v = d.alerts(S);
    let by_name = |n: &str| v.iter().find(|a| a.alert.name() == n).unwrap();
    assert_eq!(by_name("Crit").state, AlertState::Active);
    assert_eq!(by_name("Warn").state, AlertState::Suppressed);
    assert_eq!(by_name("Warn").inhibited_by.len(), 1);
    assert_eq!(by_name("S").silenced_by, ["sil"]);
    // The gauges' counts agree with the views.
    let c = d.counts(S);
    let suppressed = v
        .iter()
        .filter(|a| a.state == AlertState::Suppressed)
        .count();
    assert_eq!((c.active, c.suppressed), (v.len() - suppressed, suppressed));
    assert_eq!((c.active, c.suppressed), (1, 2));
    assert_eq!(c.groups, d.alert_groups(S).len());
    assert_eq!(d.silences(S)[0].silence.id, "sil");
    d.expire_silence("sil", 2 * S).unwrap();
    assert_eq!(
        d.silence("sil", 3 * S).unwrap().state,
        watchfire_alertmodel::SilenceState::Expired
    );
}

#[test]
fn mute_and_active_time_intervals() {
    let mut root = route("r", 30 * S, 60 * S, 3600 * S);
    root.mute_time_intervals = vec!["night".into()];
    let mut c = config(root, &[true]);
    c.resolve_timeout = 60 * M;
    let mut iv = FakeIntervals::default();
    iv.0.insert("night".into(), vec![(0, 100 * S)]);
    c.intervals = Arc::new(iv);
    check(
        c,
        vec![(0, Ev::Post(vec![alert("A", "", None, None)]))],
        200 * S,
        &["t=150 r/0 alerts firing[A] resolved[]"],
    );

    let mut root = route("r", 30 * S, 60 * S, 3600 * S);
    root.active_time_intervals = vec!["day".into()];
    let mut c = config(root, &[true]);
    c.resolve_timeout = 60 * M;
    let mut iv = FakeIntervals::default();
    iv.0.insert("day".into(), vec![(120 * S, 1000 * S)]);
    c.intervals = Arc::new(iv);
    check(
        c,
        vec![(0, Ev::Post(vec![alert("A", "", None, None)]))],
        200 * S,
        &["t=150 r/0 alerts firing[A] resolved[]"],
    );
}
