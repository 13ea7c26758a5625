//! Escalation: steps, repeat rounds, acknowledgement, resolve.

use watchfire_dispatch::{DispatchConfig, Dispatcher};

use crate::harness::*;

/// Root route "r" with policy "crit": pd1+slack at once, pd2 after 100s,
/// mgr after 200s; `repeat` rounds more (period 300s).
pub fn esc_cfg(repeat: u32) -> DispatchConfig {
    let mut root = route("r", 30 * S, 60 * S, 3600 * S);
    root.escalation_policy = Some("crit".into());
    let mut c = config(root, &[true]);
    c.resolve_timeout = 60 * M;
    c.policies = vec![policy(
        "crit",
        &[
            (0, &["pd1", "slack"]),
            (100 * S, &["pd2"]),
            (200 * S, &["mgr"]),
        ],
        repeat,
    )];
    c
}

pub const GROUP: &str = "{}:{alertname=\"A\"}";

fn post_a(t: i64) -> (i64, Ev) {
    (t, Ev::Post(vec![alert("A", "", None, None)]))
}

fn resolve_a(t: i64) -> (i64, Ev) {
    (t, Ev::Post(vec![alert("A", "", Some(0), Some(t))]))
}

#[test]
fn steps_and_repeat_rounds() {
    check(
        esc_cfg(1),
        vec![post_a(0)],
        700 * S,
        &[
            "t=30 r/0 alerts firing[A] resolved[]",
            "t=30 pd1 alerts firing[A] resolved[] esc=0.0",
            "t=30 slack alerts firing[A] resolved[] esc=0.0",
            "t=130 pd2 alerts firing[A] resolved[] esc=1.0",
            "t=230 mgr alerts firing[A] resolved[] esc=2.0",
            "t=330 pd1 alerts firing[A] resolved[] esc=0.1",
            "t=330 slack alerts firing[A] resolved[] esc=0.1",
            "t=430 pd2 alerts firing[A] resolved[] esc=1.1",
            "t=530 mgr alerts firing[A] resolved[] esc=2.1",
        ],
    );
}

#[test]
fn ack_stops_and_notifies_paged_receivers_then_resolve_reaches_them() {
    check(
        esc_cfg(0),
        vec![
            post_a(0),
            (100 * S, Ev::Ack(GROUP.into(), "bob".into())),
            resolve_a(300 * S),
        ],
        700 * S,
        &[
            "t=30 r/0 alerts firing[A] resolved[]",
            "t=30 pd1 alerts firing[A] resolved[] esc=0.0",
            "t=30 slack alerts firing[A] resolved[] esc=0.0",
            "t=100 pd1 ack:bob firing[A] resolved[] esc=0.0",
            "t=100 slack ack:bob firing[A] resolved[] esc=0.0",
            "t=330 pd1 alerts firing[] resolved[A] esc=0.0",
            "t=330 slack alerts firing[] resolved[A] esc=0.0",
            "t=330 r/0 alerts firing[] resolved[A]",
        ],
    );
}

#[test]
fn resolve_stops_and_reaches_everyone_paged_even_without_send_resolved() {
    let mut c = esc_cfg(0);
    c.receivers.insert("r".into(), vec![false]);
    check(
        c,
        vec![post_a(0), resolve_a(140 * S)],
        700 * S,
        &[
            "t=30 r/0 alerts firing[A] resolved[]",
            "t=30 pd1 alerts firing[A] resolved[] esc=0.0",
            "t=30 slack alerts firing[A] resolved[] esc=0.0",
            "t=130 pd2 alerts firing[A] resolved[] esc=1.0",
            "t=150 pd1 alerts firing[] resolved[A] esc=1.0",
            "t=150 pd2 alerts firing[] resolved[A] esc=1.0",
            "t=150 slack alerts firing[] resolved[A] esc=1.0",
        ],
    );
}

#[test]
fn silenced_step_is_skipped_not_sent() {
    let mut d = Dispatcher::new(esc_cfg(0));
    let spec = watchfire_dispatch::SilenceSpec {
        matchers: vec![watchfire_dispatch::MatcherRecord {
            name: "alertname".into(),
            op: "=".into(),
            value: "A".into(),
        }],
        starts_at: 120 * S,
        ends_at: 140 * S,
        ..Default::default()
    };
    let got = run(
        &mut d,
        vec![
            post_a(0),
            (
                50 * S,
                Ev::Call(Box::new(move |d: &mut Dispatcher, now| {
                    d.set_silence(spec.clone(), &mut || "s".into(), now)
                        .unwrap();
                })),
            ),
        ],
        300 * S,
    );
    assert_eq!(
        got,
        [
            "t=30 r/0 alerts firing[A] resolved[]",
            "t=30 pd1 alerts firing[A] resolved[] esc=0.0",
            "t=30 slack alerts firing[A] resolved[] esc=0.0",
            "t=230 mgr alerts firing[A] resolved[] esc=2.0",
        ]
    );
    let e = &d.escalations()[0];
    assert_eq!(
        e.fired.iter().map(|f| f.skipped).collect::<Vec<_>>(),
        [false, true, false]
    );
    assert!(e.next.is_none());
}

#[test]
fn ack_errors() {
    let mut d = Dispatcher::new(esc_cfg(0));
    assert!(d.ack(GROUP, "x", 0).is_err());
    let _ = run(&mut d, vec![post_a(0)], 40 * S);
    assert_eq!(d.ack(GROUP, "x", 41 * S), Ok(true));
    assert_eq!(d.ack(GROUP, "y", 42 * S), Ok(false));
}
