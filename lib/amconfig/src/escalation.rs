//! Watchfire's escalation extension (SPEC §4.3).
//!
//! ```yaml
//! escalation_policies:
//!   - name: critical
//!     steps:
//!       - after: 0m
//!         notify: [pagerduty-primary, slack-oncall]
//!       - after: 15m
//!         notify: [pagerduty-secondary]
//!     repeat: 2
//! route:
//!   receiver: default
//!   routes:
//!     - matchers: [severity="critical"]
//!       escalation_policy: critical
//! ```
//!
//! A route's `escalation_policy` is inherited by its children. `after` is
//! measured from the start of each round; steps must be in ascending
//! order. `repeat: N` runs the steps N more times from the top while the
//! group is still firing and unacknowledged.
//!
//! [`default_policies`] builds the documented severity defaults
//! (critical/high/medium/low) for a set of receivers; a policy of the same
//! name in the config replaces the default ([`merge_defaults`]).

use std::collections::{BTreeSet, HashSet};

use serde_saphyr::Spanned;

use crate::error::ConfigError;
use crate::raw::RawEscalationPolicy;
use crate::validate::Ctx;

/// One escalation step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationStep {
    /// Delay from the start of the round, ms.
    pub after_ms: i64,
    /// Receiver names.
    pub notify: Vec<String>,
}

/// A named escalation policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationPolicy {
    pub name: String,
    /// Ascending `after_ms`; never empty.
    pub steps: Vec<EscalationStep>,
    /// Extra rounds after the first.
    pub repeat: u32,
}

impl EscalationPolicy {
    /// Length of one round: the last step's delay.
    pub fn round_ms(&self) -> i64 {
        self.steps.last().map(|s| s.after_ms).unwrap_or(0)
    }
}

pub(crate) fn policies(
    cx: &Ctx,
    raw: Option<&[Spanned<RawEscalationPolicy>]>,
    receivers: &BTreeSet<String>,
) -> Result<Vec<EscalationPolicy>, ConfigError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for p in raw.unwrap_or_default() {
        let v = &p.value;
        let name = match &v.name {
            Some(n) if !n.value.is_empty() => n,
            _ => return Err(cx.err(p, "missing name in escalation policy")),
        };
        if !seen.insert(name.value.clone()) {
            return Err(cx.err(
                name,
                format!("escalation policy {:?} is not unique", name.value),
            ));
        }
        let steps_raw = v.steps.as_deref().unwrap_or_default();
        if steps_raw.is_empty() {
            return Err(cx.err(
                name,
                format!("escalation policy {:?} has no steps", name.value),
            ));
        }
        let mut steps: Vec<EscalationStep> = Vec::new();
        for s in steps_raw {
            let after_ms = match &s.value.after {
                Some(a) => cx.duration(a, "after")?,
                None => return Err(cx.err(s, "escalation step is missing `after`")),
            };
            if let Some(prev) = steps.last() {
                if after_ms < prev.after_ms {
                    let at = s
                        .value
                        .after
                        .as_ref()
                        .map(|a| &a.referenced)
                        .unwrap_or(&s.referenced);
                    return Err(cx.at(at, "escalation steps must be in ascending order of `after`"));
                }
            }
            let list = s.value.notify.as_deref().unwrap_or_default();
            if list.is_empty() {
                return Err(cx.err(s, "escalation step has no receivers in `notify`"));
            }
            let mut notify = Vec::new();
            for r in list {
                if !receivers.contains(&r.value) {
                    return Err(cx.err(
                        r,
                        format!(
                            "undefined receiver {:?} used in escalation policy {:?}",
                            r.value, name.value
                        ),
                    ));
                }
                notify.push(r.value.clone());
            }
            steps.push(EscalationStep { after_ms, notify });
        }
        out.push(EscalationPolicy {
            name: name.value.clone(),
            steps,
            repeat: v.repeat.as_ref().map(|r| r.value).unwrap_or(0),
        });
    }
    Ok(out)
}

/// The receivers the severity defaults page, chat, mail and escalate to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityReceivers {
    /// The primary on-call pager (e.g. a PagerDuty receiver).
    pub pager: String,
    /// The team chat (e.g. a Slack receiver).
    pub chat: String,
    /// Email (or a digest receiver with a long `repeat_interval`).
    pub email: String,
    /// Who is paged when nobody acknowledges (secondary on-call, manager).
    pub escalation: String,
}

const MIN: i64 = 60_000;

/// The documented default policies, one per severity (SPEC §4.3):
///
/// | policy | steps | repeat |
/// |---|---|---|
/// | `critical` | 0m → pager + chat; 5m → escalation | 2 |
/// | `high` | 0m → pager + chat; 15m → escalation | 1 |
/// | `medium` | 0m → chat; 1h → pager | 0 |
/// | `low` | 0m → email | 0 |
///
/// (Critical pages at once: pair it with a route using `group_wait: 0s`.)
pub fn default_policies(r: &SeverityReceivers) -> Vec<EscalationPolicy> {
    let step = |after_ms: i64, notify: &[&String]| EscalationStep {
        after_ms,
        notify: notify.iter().map(|s| s.to_string()).collect(),
    };
    let policy = |name: &str, steps: Vec<EscalationStep>, repeat: u32| EscalationPolicy {
        name: name.to_string(),
        steps,
        repeat,
    };
    vec![
        policy(
            "critical",
            vec![
                step(0, &[&r.pager, &r.chat]),
                step(5 * MIN, &[&r.escalation]),
            ],
            2,
        ),
        policy(
            "high",
            vec![
                step(0, &[&r.pager, &r.chat]),
                step(15 * MIN, &[&r.escalation]),
            ],
            1,
        ),
        policy(
            "medium",
            vec![step(0, &[&r.chat]), step(60 * MIN, &[&r.pager])],
            0,
        ),
        policy("low", vec![step(0, &[&r.email])], 0),
    ]
}

/// The policy name for an alert's `severity` label under the defaults:
/// `critical`, `high` (also `error`), `medium` (also `warning`), `low`
/// (also `info`); `None` for anything else.
pub fn severity_policy(severity: &str) -> Option<&'static str> {
    match severity.to_ascii_lowercase().as_str() {
        "critical" | "page" => Some("critical"),
        "high" | "error" => Some("high"),
        "medium" | "warning" => Some("medium"),
        "low" | "info" => Some("low"),
        _ => None,
    }
}

/// Adds the defaults whose names the config does not define (the user's
/// policy of the same name wins).
pub fn merge_defaults(configured: &mut Vec<EscalationPolicy>, defaults: Vec<EscalationPolicy>) {
    for d in defaults {
        if !configured.iter().any(|p| p.name == d.name) {
            configured.push(d);
        }
    }
}
