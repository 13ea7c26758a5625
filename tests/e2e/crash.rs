//! Durability of alert state across `kill -9` (SPEC §4.2 "Durability").
//!
//! The router persists each group's alert state to redb after every
//! evaluation. Killed with SIGKILL and restarted on the same state file, a
//! pending alert must keep its `activeAt` (so its `for` clock keeps
//! running from the first detection, not from the restart), and a firing
//! alert must come back firing, without a new pending period.

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

    // Let the `for` clock run a while, so a reset would be visible.
    wait_until("3 s of pending", Duration::from_secs(10), || {
        (now_ms() >= active_at + 3_000).then_some(())
    });
    assert!(r.state.exists(), "no state file at {}", r.state.display());
    r.kill9();

    // Restart on the same state: still pending, same activeAt.
    r.start();
    let back = r.wait_alert("Slow", "pending", Duration::from_secs(10));
    assert_eq!(
        back.active_at, pending.active_at,
        "activeAt after kill -9 should be the original one, not the restart time"
    );

    // It fires at activeAt + for, not restart + for.
    let firing = r.wait_alert("Slow", "firing", Duration::from_secs(30));
    let seen = now_ms();
    let due = active_at + FOR_MS;
    assert!(
        seen >= due - 200 && seen <= due + FIRE_SLACK_MS,
        "Slow fired at {seen} ms, {} ms from activeAt+for ({due})",
        seen - due
    );
    assert_eq!(firing.active_at, pending.active_at);

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
    assert_eq!(
        first.active_at, pending.active_at,
        "after restart: {first:?}"
    );
    r.proc().assert_running();
}
