//! Alertmanager's timing rules: group_wait, group_interval,
//! repeat_interval (rounded up to the next group_interval tick),
//! resolved-before-group_wait, new alerts in a flushed group, resolve
//! notifications and `send_resolved: false`, failed deliveries.

use crate::harness::*;

/// group_wait 30s, group_interval 60s, repeat_interval 180s; alerts
/// without endsAt stay firing for an hour.
fn cfg(send_resolved: &[bool]) -> watchfire_dispatch::DispatchConfig {
    let mut c = config(route("r", 30 * S, 60 * S, 180 * S), send_resolved);
    c.resolve_timeout = 60 * M;
    c
}

fn post(t: i64, name: &str, starts: Option<i64>, ends: Option<i64>) -> (i64, Ev) {
    (t, Ev::Post(vec![alert(name, "", starts, ends)]))
}

#[test]
fn group_wait_then_repeat_on_the_next_tick_after_repeat_interval() {
    // Ticks at 30, 90, 150, 210, 270, ...; at 210 exactly 180s have
    // passed (not more), so the repeat waits for 270.
    check(
        cfg(&[true]),
        vec![post(0, "A", None, None)],
        400 * S,
        &[
            "t=30 r/0 alerts firing[A] resolved[]",
            "t=270 r/0 alerts firing[A] resolved[]",
        ],
    );
}

#[test]
fn new_alert_joins_at_the_next_group_interval() {
    check(
        cfg(&[true]),
        vec![
            post(0, "A", None, None),
            post(100 * S, "A", None, None),
            (100 * S, Ev::Post(vec![alert("A", "x=2", None, None)])),
        ],
        200 * S,
        &[
            "t=30 r/0 alerts firing[A] resolved[]",
            "t=150 r/0 alerts firing[A,A] resolved[]",
        ],
    );
}

#[test]
fn resolved_before_group_wait_sends_nothing() {
    check(
        cfg(&[true]),
        vec![post(0, "A", None, Some(10 * S))],
        400 * S,
        &[],
    );
}

#[test]
fn resolve_is_sent_when_send_resolved() {
    check(
        cfg(&[true]),
        vec![
            post(0, "A", None, None),
            post(100 * S, "A", Some(0), Some(100 * S)),
        ],
        400 * S,
        &[
            "t=30 r/0 alerts firing[A] resolved[]",
            "t=150 r/0 alerts firing[] resolved[A]",
        ],
    );
}

#[test]
fn send_resolved_false_skips_resolves_and_the_group_starts_over() {
    check(
        cfg(&[false]),
        vec![
            post(0, "A", None, None),
            post(100 * S, "A", Some(0), Some(100 * S)),
            post(200 * S, "A", None, None),
        ],
        400 * S,
        &[
            "t=30 r/0 alerts firing[A] resolved[]",
            "t=230 r/0 alerts firing[A] resolved[]",
        ],
    );
}

#[test]
fn send_resolved_is_per_integration() {
    let b = |t, e| (t, Ev::Post(vec![alert("A", "i=b", Some(0), e)]));
    check(
        cfg(&[true, false]),
        vec![
            post(0, "A", None, None),
            b(0, None),
            b(50 * S, Some(50 * S)),
        ],
        100 * S,
        &[
            "t=30 r/0 alerts firing[A,A] resolved[]",
            "t=30 r/1 alerts firing[A,A] resolved[]",
            "t=90 r/0 alerts firing[A] resolved[A]",
        ],
    );
}

#[test]
fn old_alert_flushes_at_once() {
    check(
        cfg(&[true]),
        vec![post(100 * S, "A", Some(0), None)],
        120 * S,
        &["t=100 r/0 alerts firing[A] resolved[]"],
    );
}

#[test]
fn failed_delivery_is_dead_lettered_and_retried_next_tick() {
    let mut d = watchfire_dispatch::Dispatcher::new(cfg(&[true]));
    let got = run(
        &mut d,
        vec![
            post(0, "A", None, None),
            (30 * S, Ev::FailDeliveries(true)),
            (31 * S, Ev::FailDeliveries(false)),
        ],
        100 * S,
    );
    assert_eq!(
        got,
        [
            "t=30 r/0 alerts firing[A] resolved[]",
            "t=90 r/0 alerts firing[A] resolved[]"
        ]
    );
    let dl = d.dead_letters();
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0].reason, "boom");
}

#[test]
fn group_keys_and_views() {
    let mut d = watchfire_dispatch::Dispatcher::new(cfg(&[true]));
    d.receive(0, vec![alert("A", "job=j", None, None)]);
    let groups = d.alert_groups(0);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].group_key, "{}:{alertname=\"A\"}");
    assert_eq!(groups[0].alerts[0].receivers, ["r"]);
    let alerts = d.alerts(0);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].state, watchfire_dispatch::AlertState::Active);
    // Resolved alerts are not listed.
    d.receive(5 * S, vec![alert("A", "job=j", Some(0), Some(5 * S))]);
    assert!(d.alerts(6 * S).is_empty());
    let c = d.counts(6 * S);
    assert_eq!((c.active, c.suppressed, c.groups), (0, 0, 0));
    assert_eq!(c.groups, d.alert_groups(6 * S).len());
}

#[test]
fn validation_errors_are_reported_and_valid_alerts_kept() {
    let mut d = watchfire_dispatch::Dispatcher::new(cfg(&[true]));
    let mut bad = alert("A", "", None, None);
    bad.labels.insert("0bad".into(), "x".into());
    let r = d.receive(
        0,
        vec![
            bad,
            alert("B", "", None, None),
            alert("C", "", Some(10), Some(5)),
        ],
    );
    assert_eq!(r.accepted, 1);
    assert_eq!(r.errors.iter().map(|e| e.index).collect::<Vec<_>>(), [0, 2]);
    assert_eq!(
        r.message(),
        "invalid label set: invalid name \"0bad\"; start time must be before end time"
    );
    assert_eq!(d.alert_count(), 1);
}

#[test]
fn reconfigure_rebuilds_groups_and_keeps_the_notification_log() {
    let reload = |t| {
        (
            t,
            Ev::Call(Box::new(|d: &mut watchfire_dispatch::Dispatcher, now| {
                d.reconfigure(cfg(&[true]), now)
            })),
        )
    };
    check(
        cfg(&[true]),
        vec![
            post(0, "A", None, None),
            reload(40 * S),
            (50 * S, Ev::Post(vec![alert("A", "x=2", None, None)])),
        ],
        120 * S,
        // The rebuilt group flushes at once at 40 (its alert is older than
        // group_wait) but the log already has A; the next tick is 100.
        &[
            "t=30 r/0 alerts firing[A] resolved[]",
            "t=100 r/0 alerts firing[A,A] resolved[]",
        ],
    );
}
