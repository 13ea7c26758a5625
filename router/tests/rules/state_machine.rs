//! Table tests of the alert state machine, resend timing and `ALERTS`.

use watchfire_promql::storage::{is_stale_nan, MemStorage};
use watchfire_router::rules::Group;

use super::fake::{alerting, group, opts, push, sample_at};

const MIN: i64 = 60_000;

/// One evaluation: minute, value of `up{job="a"}`, expected alert state
/// ("" = no alert tracked), expected send ("" = nothing, "s,e" = startsAt
/// and endsAt minutes, "*" = don't care).
type Step = (i64, f64, &'static str, &'static str);

fn check(name: &str, for_min: i64, keep_min: i64, steps: &[Step]) {
    let rule = alerting(
        "Down",
        "up == 0",
        for_min * MIN,
        keep_min * MIN,
        &[("severity", "page")],
        &[("summary", "{{ $labels.job }} is down ({{ $value }})")],
    );
    let mut g = Group::new(group("g", MIN, 0, vec![rule]), opts());
    let mut st = MemStorage::default();
    let alerts_series =
        |state: &str| format!("ALERTS{{alertname=Down,alertstate={state},job=a,severity=page}}");
    let mut last_state = "";
    for &(m, up, state, sent) in steps {
        let t = m * MIN;
        push(&mut st, "up{job=a}", t, up);
        let out = g.eval(&mut st, t);
        assert!(
            out.rules[0].error.is_none(),
            "{name}@{m}: {:?}",
            out.rules[0].error
        );
        let tracked: Vec<_> = g.state().rules[0].1.clone();
        match state {
            "" => assert!(
                tracked.is_empty(),
                "{name}@{m}: expected no alert, got {tracked:?}"
            ),
            s => {
                assert_eq!(tracked.len(), 1, "{name}@{m}");
                assert_eq!(tracked[0].state.as_str(), s, "{name}@{m}: state");
            }
        }
        // ALERTS: 1 while pending/firing, stale marker once it stops.
        if state == "pending" || state == "firing" {
            assert_eq!(
                sample_at(&st, &alerts_series(state), t),
                Some(1.0),
                "{name}@{m}: ALERTS"
            );
            let fs = sample_at(
                &st,
                "ALERTS_FOR_STATE{alertname=Down,job=a,severity=page}",
                t,
            );
            assert_eq!(
                fs,
                Some((tracked[0].active_at / 1000) as f64),
                "{name}@{m}: ALERTS_FOR_STATE"
            );
        }
        if (last_state == "pending" || last_state == "firing") && last_state != state {
            let v = sample_at(&st, &alerts_series(last_state), t);
            assert!(
                v.is_some_and(is_stale_nan),
                "{name}@{m}: stale marker for {last_state}, got {v:?}"
            );
        }
        last_state = state;
        match sent {
            "*" => {}
            "" => assert!(
                out.alerts.is_empty(),
                "{name}@{m}: unexpected send {:?}",
                out.alerts
            ),
            s => {
                let (sa, ea) = s.split_once(',').expect("s,e");
                assert_eq!(out.alerts.len(), 1, "{name}@{m}: sends");
                let a = &out.alerts[0];
                assert_eq!(
                    a.starts_at,
                    sa.parse::<i64>().unwrap() * MIN,
                    "{name}@{m}: startsAt"
                );
                assert_eq!(
                    a.ends_at,
                    Some(ea.parse::<i64>().unwrap() * MIN),
                    "{name}@{m}: endsAt"
                );
                assert_eq!(a.labels.get("alertname").map(String::as_str), Some("Down"));
                assert_eq!(
                    a.labels.get("cluster").map(String::as_str),
                    Some("eu1"),
                    "external label"
                );
                assert_eq!(a.annotations["summary"], "a is down (0)");
                assert_eq!(
                    a.generator_url,
                    "http://router:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
                );
            }
        }
    }
}

#[test]
fn pending_firing_resolved_and_resend() {
    check(
        "for=2m",
        2,
        0,
        &[
            (0, 0.0, "pending", ""),
            (1, 0.0, "pending", ""),
            (2, 0.0, "firing", "2,6"),
            (3, 0.0, "firing", ""),
            (4, 0.0, "firing", "2,8"),
            (5, 1.0, "inactive", "2,5"),
            (6, 1.0, "inactive", ""),
            (7, 1.0, "inactive", "2,5"),
        ],
    );
}

#[test]
fn for_zero_fires_at_once() {
    check(
        "for=0",
        0,
        0,
        &[(0, 0.0, "firing", "0,4"), (1, 1.0, "inactive", "0,1")],
    );
}

#[test]
fn pending_that_goes_away_is_forgotten() {
    check(
        "pending-drop",
        5,
        0,
        &[
            (0, 0.0, "pending", ""),
            (1, 1.0, "", ""),
            (2, 0.0, "pending", ""),
            (3, 0.0, "pending", ""),
        ],
    );
}

#[test]
fn keep_firing_for() {
    check(
        "keep=2m",
        0,
        2,
        &[
            (0, 0.0, "firing", "0,4"),
            (1, 1.0, "firing", ""),
            (2, 1.0, "firing", "0,6"),
            (3, 1.0, "inactive", "0,3"),
        ],
    );
    // Coming back during keep_firing_for resets it.
    check(
        "keep-reset",
        0,
        2,
        &[
            (0, 0.0, "firing", "0,4"),
            (1, 1.0, "firing", ""),
            (2, 0.0, "firing", "0,6"),
            (3, 1.0, "firing", ""),
            (4, 1.0, "firing", "0,8"),
            (5, 1.0, "inactive", "0,5"),
        ],
    );
}

#[test]
fn resolved_alerts_kept_15_minutes_then_dropped() {
    let mut steps: Vec<Step> = vec![(0, 0.0, "firing", "0,4"), (1, 1.0, "inactive", "0,1")];
    for m in 2..=16 {
        steps.push((m, 1.0, "inactive", "*"));
    }
    steps.push((17, 1.0, "", ""));
    check("retention", 0, 0, &steps);
}

#[test]
fn refiring_after_resolve_starts_a_new_alert() {
    check(
        "flap",
        1,
        0,
        &[
            (0, 0.0, "pending", ""),
            (1, 0.0, "firing", "1,5"),
            (2, 1.0, "inactive", "1,2"),
            (3, 0.0, "pending", ""),
            (4, 0.0, "firing", "4,8"),
        ],
    );
}

/// Restoration after a restart: (for, saved state, saved active_at, down_at,
/// first eval after restart) -> restored active_at (None = not restored).
#[test]
fn restore_policy_table() {
    use std::collections::BTreeMap;
    use watchfire_promql::Labels;
    use watchfire_router::rules::alerting::{
        AlertState, AlertingParams, AlertingRule, RestorePolicy, RuleAlert,
    };
    let check =
        |for_min: i64, state: AlertState, active: i64, down: i64, ts: i64, expect: Option<i64>| {
            let mut r = AlertingRule::new(AlertingParams {
                name: "A".into(),
                for_ms: for_min * MIN,
                keep_firing_for_ms: 0,
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
            });
            let a = RuleAlert {
                labels: Labels::new([("alertname", "A")]),
                annotations: BTreeMap::new(),
                value: 1.0,
                state,
                active_at: active * MIN,
                fired_at: None,
                resolved_at: None,
                last_sent_at: None,
                valid_until: None,
                keep_firing_since: None,
            };
            r.restore(
                vec![a],
                down * MIN,
                ts * MIN,
                MIN,
                &RestorePolicy::default(),
            );
            let got = r.alerts().next().map(|a| a.active_at / MIN);
            assert_eq!(
                got, expect,
                "for={for_min} {state:?} active={active} down={down} ts={ts}"
            );
        };
    use AlertState::*;
    check(30, Pending, 0, 5, 6, Some(0)); // no evaluation missed: unchanged
    check(5, Pending, 0, 3, 4, Some(0)); // short `for`, no outage: unchanged
    check(30, Pending, 0, 5, 20, Some(14)); // outage of 14m shifts active_at
    check(12, Pending, 0, 5, 20, Some(18)); // would fire within grace: fires at ts+10m
    check(5, Pending, 0, 3, 20, None); // `for` shorter than grace: starts over
    check(30, Firing, 0, 40, 50, Some(0)); // firing stays firing
    check(30, Pending, 0, 5, 70, None); // outage beyond tolerance
}
