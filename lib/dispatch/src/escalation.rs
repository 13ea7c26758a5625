//! Escalation policies (Watchfire's extension, SPEC §4.3) and the
//! per-group escalation state.
//!
//! A group whose route names a policy starts it at the first flush that
//! has unmuted firing alerts (the group's first notification). Step `k` of
//! round `r` is due at `start + r × period + steps[k].after_ms`, where the
//! round period is the last step's `after` plus the gap before it (the
//! spacing of the last two steps; a single step's own `after`): with steps
//! at 0m/15m/30m the second round starts at 45m. Rounds `1..=repeat`
//! follow the first; a period of 0 means no repeats.
//!
//! The state is plain data with deadlines (`next_at`), persisted as is. A
//! step is advanced in the same state change that creates its outgoing
//! notifications, so after a restart an overdue step fires once and a
//! fired step never fires again.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// One step of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Delay from the start of the round, in ms.
    pub after_ms: i64,
    /// Receivers to notify.
    pub receivers: Vec<String>,
}

/// An escalation policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationPolicy {
    pub name: String,
    pub steps: Vec<Step>,
    /// How many times to start again from the top after the last step.
    pub repeat: u32,
}

impl EscalationPolicy {
    /// The length of one round.
    pub fn period(&self) -> i64 {
        match self.steps.as_slice() {
            [] => 0,
            [only] => only.after_ms,
            [.., prev, last] => last.after_ms + (last.after_ms - prev.after_ms),
        }
    }

    /// When step `step` of round `round` is due for an escalation started
    /// at `start`.
    pub fn deadline(&self, start: i64, step: u32, round: u32) -> Option<i64> {
        let s = self.steps.get(step as usize)?;
        Some(start + i64::from(round) * self.period() + s.after_ms)
    }

    /// The position after (`step`, `round`), or `None` once exhausted.
    pub fn advance(&self, step: u32, round: u32) -> Option<(u32, u32)> {
        if (step as usize) + 1 < self.steps.len() {
            return Some((step + 1, round));
        }
        if round < self.repeat && self.period() > 0 && !self.steps.is_empty() {
            return Some((0, round + 1));
        }
        None
    }
}

/// A step that was due: notified, or skipped because every alert of the
/// group was muted (silenced, inhibited or in a mute time) at that time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiredStep {
    pub step: u32,
    pub round: u32,
    pub at: i64,
    pub skipped: bool,
}

/// Who acknowledged, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub by: String,
    pub at: i64,
}

/// The escalation of one aggregation group (also its persisted record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub group_key: String,
    pub policy: String,
    pub started_at: i64,
    /// The next (step, round) to fire; `None` when exhausted or acked.
    pub next: Option<(u32, u32)>,
    /// When `next` is due.
    pub next_at: Option<i64>,
    /// Receivers that were paged (they get the ack and the resolve).
    pub paged: BTreeSet<String>,
    pub fired: Vec<FiredStep>,
    pub acked: Option<Ack>,
}

impl Escalation {
    /// A new escalation started at `now`.
    pub fn start(group_key: &str, policy: &EscalationPolicy, now: i64) -> Escalation {
        let next = if policy.steps.is_empty() {
            None
        } else {
            Some((0, 0))
        };
        Escalation {
            group_key: group_key.to_string(),
            policy: policy.name.clone(),
            started_at: now,
            next,
            next_at: next.and_then(|(s, r)| policy.deadline(now, s, r)),
            paged: BTreeSet::new(),
            fired: Vec::new(),
            acked: None,
        }
    }

    /// Records that the current step was handled at `now` and moves to
    /// the next one. Returns the handled (step, round).
    pub fn advance(
        &mut self,
        policy: Option<&EscalationPolicy>,
        now: i64,
        skipped: bool,
    ) -> Option<(u32, u32)> {
        let (step, round) = self.next?;
        self.fired.push(FiredStep {
            step,
            round,
            at: now,
            skipped,
        });
        self.next = policy.and_then(|p| p.advance(step, round));
        self.next_at = match (policy, self.next) {
            (Some(p), Some((s, r))) => p.deadline(self.started_at, s, r),
            _ => None,
        };
        if self.next_at.is_none() {
            self.next = None;
        }
        Some((step, round))
    }

    /// Stops the escalation for an acknowledgement.
    pub fn ack(&mut self, by: &str, now: i64) {
        self.acked = Some(Ack {
            by: by.to_string(),
            at: now,
        });
        self.next = None;
        self.next_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(afters: &[i64], repeat: u32) -> EscalationPolicy {
        EscalationPolicy {
            name: "p".into(),
            steps: afters
                .iter()
                .enumerate()
                .map(|(i, a)| Step {
                    after_ms: *a,
                    receivers: vec![format!("r{i}")],
                })
                .collect(),
            repeat,
        }
    }

    /// The full schedule of an escalation started at 1000.
    fn check(afters: &[i64], repeat: u32, expect: &[(u32, u32, i64)]) {
        let p = policy(afters, repeat);
        let mut e = Escalation::start("g", &p, 1000);
        let mut got = Vec::new();
        while let Some(at) = e.next_at {
            let (s, r) = e.next.unwrap();
            got.push((s, r, at));
            e.advance(Some(&p), at, false);
            assert!(got.len() < 100);
        }
        assert_eq!(got, expect, "{afters:?} repeat {repeat}");
    }

    #[test]
    fn schedules() {
        check(&[0, 15, 30], 0, &[(0, 0, 1000), (1, 0, 1015), (2, 0, 1030)]);
        check(
            &[0, 15, 30],
            1,
            &[
                (0, 0, 1000),
                (1, 0, 1015),
                (2, 0, 1030),
                (0, 1, 1045),
                (1, 1, 1060),
                (2, 1, 1075),
            ],
        );
        check(&[10], 2, &[(0, 0, 1010), (0, 1, 1020), (0, 2, 1030)]);
        check(&[0], 3, &[(0, 0, 1000)]);
        check(&[], 3, &[]);
    }

    #[test]
    fn ack_stops() {
        let p = policy(&[0, 15], 0);
        let mut e = Escalation::start("g", &p, 0);
        e.advance(Some(&p), 0, false);
        e.ack("bob", 5);
        assert_eq!((e.next, e.next_at), (None, None));
        assert_eq!(e.acked.as_ref().map(|a| a.by.as_str()), Some("bob"));
    }
}
