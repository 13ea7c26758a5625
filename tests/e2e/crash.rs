//! Durability of alert state across `kill -9` (SPEC §4.2 "Durability").
//!
//! The router persists each group's alert state to redb after every
//! evaluation. Killed with SIGKILL and restarted on the same state file, a
//! pending alert must keep its `for` progress (its `activeAt` is the
//! original one, shifted only by the outage as in Prometheus's restore,
//! never the restart time), and a firing alert must come back firing,
//! without a new pending period.

use std::time::Duration;

use crate::harness::{now_ms, wait_until, Router};

const SLOW: &str = "\
groups:
  - name: crash
    rules:
      - alert: Slow
        expr: vector(1)
        for: 20s
        labels:
          severity: test
";

/// `for:` of [`SLOW`], in ms.
const FOR_MS: i64 = 20_000;

/// How far from `activeAt + for` the firing may be seen: one evaluation
/// interval, the 100 ms poll, and slack for a busy 2-core machine.
const FIRE_SLACK_MS: i64 = 3_000;

#[test]
fn alert_state_survives_kill_9() {
    let mut r = Router::new(&[("crash.yml", SLOW)], "1s", "0s");
    r.start();
    let pending = r.wait_alert("Slow", "pending", Duration::from_secs(20));
    let active_at = pending.active_at_ms();

    // Let the `for` clock run a while, so a reset would be visible: until
    // an evaluation at least 3 s after activeAt has been saved (each
    // evaluation is saved before the next starts). The restore counts the
    // outage from the last saved evaluation, which lags the kill when a
    // loaded machine delays evaluations.
    let group_ts = "watchfire_rule_group_last_evaluation_timestamp_seconds";
    let evaluated = || {
        r.group_metric(group_ts, "crash")
            .map(|s| (s * 1000.0) as i64)
    };
    wait_until(
        "an evaluation 3 s into pending",
        Duration::from_secs(20),
        || evaluated().filter(|t| *t >= active_at + 3_000),
    );
    assert!(r.state.exists(), "no state file at {}", r.state.display());
    let last_eval = evaluated().expect("the group's last evaluation time");
    r.kill9();

    // Restart on the same state: still pending, and the `for` progress made
    // before the kill is kept. As in Prometheus's restore, an outage longer
    // than one evaluation interval shifts `activeAt` by the outage (the
    // time the router was down does not count toward `for`), so `activeAt`
    // is the original one when the restart is quick, and never the restart
    // time.
    r.start();
    let restarted = now_ms();
    let back = r.wait_alert("Slow", "pending", Duration::from_secs(10));
    let back_at = back.active_at_ms();
    // From the last saved evaluation to the first one after the restart
    // (which happened before `wait_alert` saw it).
    let downtime = now_ms() - last_eval;
    assert!(
        back_at >= active_at && back_at <= active_at + downtime + 1_000,
        "activeAt after kill -9: {} (original {}, {downtime} ms from the last evaluation before the kill to the restored alert): it must be the original one shifted by at most that",
        back.active_at,
        pending.active_at
    );
    // The durable progress (3 s) minus at most one interval and some lag
    // before the first evaluation after the restart; a reset would be ~0.
    assert!(
        restarted - back_at >= 1_500,
        "the `for` progress made before the kill was lost: activeAt {} is the restart time",
        back.active_at
    );

    // It fires at the restored activeAt + for, not restart + for.
    let firing = r.wait_alert("Slow", "firing", Duration::from_secs(30));
    let seen = now_ms();
    let due = back_at + FOR_MS;
    assert!(
        seen >= due - 200 && seen <= due + FIRE_SLACK_MS,
        "Slow fired at {seen} ms, {} ms from activeAt+for ({due})",
        seen - due
    );
    assert_eq!(firing.active_at, back.active_at);

    // A firing alert killed and restarted is firing at once: the first
    // answer that lists it says firing, and there is no new pending period.
    r.kill9();
    r.start();
    let first = wait_until(
        "Slow after the second restart",
        Duration::from_secs(10),
        || r.alert("Slow"),
    );
    assert_eq!(first.state, "firing", "after restart: {first:?}");
    assert_eq!(first.active_at, back.active_at, "after restart: {first:?}");
    r.proc().assert_running();
}
