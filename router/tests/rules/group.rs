//! Group evaluation: recording rules, rule order, errors, limits, stale
//! markers, query offset and reload state transfer.

use watchfire_promql::storage::{is_stale_nan, MemStorage};
use watchfire_router::rules::group::RuleError;
use watchfire_router::rules::Group;

use super::fake::{alerting, group, opts, push, recording, sample_at};

const MIN: i64 = 60_000;

/// Expected outcome of evaluating one group once over `up{job=a,i=1}=1`
/// and `up{job=a,i=2}=0` at t=10m.
struct Case {
    name: &'static str,
    limit: usize,
    rules: Vec<watchfire_router::rules::RuleSpec>,
    /// Per rule: `Ok(samples)` or `Err(error text)`.
    expect: Vec<Result<usize, &'static str>>,
    /// Series that must hold exactly this value at t.
    series: Vec<(&'static str, f64)>,
}

fn check(c: Case) {
    let t = 10 * MIN;
    let mut st = MemStorage::default();
    push(&mut st, "up{job=a,i=1}", t - MIN, 1.0);
    push(&mut st, "up{job=a,i=2}", t - MIN, 0.0);
    let mut g = Group::new(group("g", MIN, c.limit, c.rules), opts());
    let out = g.eval(&mut st, t);
    let messages: Vec<Option<String>> = out
        .rules
        .iter()
        .map(|r| r.error.as_ref().map(ToString::to_string))
        .collect();
    let got: Vec<Result<usize, &str>> = out
        .rules
        .iter()
        .zip(&messages)
        .map(|(r, m)| m.as_deref().map_or(Ok(r.samples), Err))
        .collect();
    assert_eq!(got, c.expect, "{}", c.name);
    for (s, v) in c.series {
        assert_eq!(sample_at(&st, s, t), Some(v), "{}: {s}", c.name);
    }
}

#[test]
fn group_evaluation_table() {
    let dup = "vector contains metrics with the same labelset after applying rule labels";
    check(Case {
        name: "recording renames and adds labels",
        limit: 0,
        rules: vec![recording("job:up", "up", &[("team", "x")])],
        expect: vec![Ok(2)],
        series: vec![
            ("job:up{job=a,i=1,team=x}", 1.0),
            ("job:up{job=a,i=2,team=x}", 0.0),
        ],
    });
    check(Case {
        name: "later rule sees earlier rule's output",
        limit: 0,
        rules: vec![recording("r1", "up", &[]), recording("r2", "r1 > 0", &[])],
        expect: vec![Ok(2), Ok(1)],
        series: vec![("r2{job=a,i=1}", 1.0)],
    });
    check(Case {
        name: "duplicate labelset after rule labels",
        limit: 0,
        rules: vec![
            recording("r", "up", &[("i", "same")]),
            recording("ok", "vector(3)", &[]),
        ],
        expect: vec![Err(dup), Ok(1)],
        series: vec![("ok", 3.0)],
    });
    check(Case {
        name: "duplicate labelset after alert labels",
        limit: 0,
        rules: vec![alerting("A", "up", 0, 0, &[("i", "same")], &[])],
        expect: vec![Err(
            "vector contains metrics with the same labelset after applying alert labels",
        )],
        series: vec![],
    });
    check(Case {
        name: "recording limit",
        limit: 1,
        rules: vec![recording("r", "up", &[]), recording("s", "vector(1)", &[])],
        expect: vec![Err("exceeded limit 1 with 2 series"), Ok(1)],
        series: vec![],
    });
    check(Case {
        name: "alerting limit",
        limit: 1,
        rules: vec![alerting("A", "up", 0, 0, &[], &[])],
        expect: vec![Err("exceeded limit of 1 with 2 alerts")],
        series: vec![],
    });
    check(Case {
        name: "limit not exceeded",
        limit: 2,
        rules: vec![alerting("A", "up", 0, 0, &[], &[])],
        expect: vec![Ok(4)],
        series: vec![("ALERTS{alertname=A,alertstate=firing,job=a,i=1}", 1.0)],
    });
    check(Case {
        name: "query error",
        limit: 0,
        rules: vec![recording("r", "fail", &[])],
        expect: vec![Err("scripted failure")],
        series: vec![],
    });
    check(Case {
        name: "templated alert labels; template errors become text",
        limit: 0,
        rules: vec![alerting(
            "A",
            "up == 0",
            0,
            0,
            &[("sev", "{{ $labels.job }}-{{ $value }}")],
            &[],
        )],
        expect: vec![Ok(2)],
        series: vec![(
            "ALERTS{alertname=A,alertstate=firing,job=a,i=2,sev=a-0}",
            1.0,
        )],
    });
}

#[test]
fn template_error_text_in_annotation() {
    let mut st = MemStorage::default();
    push(&mut st, "up{job=a}", 0, 0.0);
    let rule = alerting("A", "up", 0, 0, &[], &[("x", "{{ nosuchfunc }}")]);
    let mut g = Group::new(group("g", MIN, 0, vec![rule]), opts());
    let out = g.eval(&mut st, 0);
    let x = &out.alerts[0].annotations["x"];
    assert_eq!(
        x,
        "<error expanding template: error parsing template __alert_A: \
         template: __alert_A:1: function \"nosuchfunc\" not defined>"
    );
}

#[test]
fn stale_markers_for_vanished_series_and_query_offset() {
    let mut st = MemStorage::default();
    let mut spec = group("g", MIN, 0, vec![recording("r", "up", &[])]);
    spec.query_offset_ms = 30_000;
    let mut g = Group::new(spec, opts());
    push(&mut st, "up{i=1}", 0, 1.0);
    push(&mut st, "up{i=2}", 0, 2.0);
    g.eval(&mut st, MIN);
    // Written at ts - offset.
    assert_eq!(sample_at(&st, "r{i=1}", 30_000), Some(1.0));
    assert_eq!(sample_at(&st, "r{i=2}", 30_000), Some(2.0));
    // up{i=2} goes stale: r{i=2} gets a stale marker at the next eval.
    push(&mut st, "up{i=1}", MIN, 1.0);
    push(
        &mut st,
        "up{i=2}",
        MIN,
        f64::from_bits(watchfire_promql::storage::STALE_NAN_BITS),
    );
    g.eval(&mut st, 2 * MIN);
    assert_eq!(sample_at(&st, "r{i=1}", 90_000), Some(1.0));
    assert!(sample_at(&st, "r{i=2}", 90_000).is_some_and(is_stale_nan));
    // A failing evaluation marks nothing stale.
    let mut bad = Group::new(
        group("g", MIN, 0, vec![recording("r", "fail", &[])]),
        opts(),
    );
    bad.copy_state_from(g);
    let out = bad.eval(&mut st, 3 * MIN);
    assert!(matches!(out.rules[0].error, Some(RuleError::Query(_))));
    assert_eq!(sample_at(&st, "r{i=1}", 3 * MIN), None);
}

#[test]
fn reload_keeps_alert_state_and_marks_removed_rules_stale() {
    let mut st = MemStorage::default();
    let down = || alerting("Down", "up == 0", 2 * MIN, 0, &[], &[]);
    let mut g = Group::new(
        group("g", MIN, 0, vec![down(), recording("old", "up", &[])]),
        opts(),
    );
    for m in 0..2 {
        push(&mut st, "up{i=1}", m * MIN, 0.0);
        g.eval(&mut st, m * MIN);
    }
    assert_eq!(g.active_alerts(None)[0].active_at, 0);
    // Reload: same alert rule, the recording rule is gone, a new one added.
    let mut g2 = Group::new(
        group("g", MIN, 0, vec![recording("new", "up", &[]), down()]),
        opts(),
    );
    g2.copy_state_from(g);
    push(&mut st, "up{i=1}", 2 * MIN, 0.0);
    let out = g2.eval(&mut st, 2 * MIN);
    let firing = g2.firing_alerts(Some("Down"));
    assert_eq!(firing.len(), 1, "kept its pending time, so it fires at 2m");
    assert_eq!(firing[0].active_at, 0);
    assert_eq!(out.alerts.len(), 1);
    assert!(sample_at(&st, "old{i=1}", 2 * MIN).is_some_and(is_stale_nan));
    assert_eq!(sample_at(&st, "new{i=1}", 2 * MIN), Some(0.0));
    // A changed rule (different labels) starts over.
    let mut g3 = Group::new(
        group(
            "g",
            MIN,
            0,
            vec![alerting("Down", "up == 0", 2 * MIN, 0, &[("x", "y")], &[])],
        ),
        opts(),
    );
    g3.copy_state_from(g2);
    push(&mut st, "up{i=1}", 3 * MIN, 0.0);
    g3.eval(&mut st, 3 * MIN);
    assert!(g3.firing_alerts(None).is_empty());
    assert_eq!(g3.active_alerts(None)[0].active_at, 3 * MIN);
}
