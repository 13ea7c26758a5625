//! When alerts are (re)sent and what they look like on the wire, as
//! upstream's `sendAlerts`/`needsSending` and the notifier conversion in
//! Prometheus's `main.go`.
//!
//! - A pending alert is never sent.
//! - An alert resolved since it was last sent is sent at once.
//! - Otherwise it is sent when it was never sent or last sent more than
//!   `resend_delay` ago.
//! - A sent firing alert carries `endsAt = ts + 4 * max(resend_delay,
//!   interval)` (two missed evaluations or failed sends are tolerated); a
//!   resolved one carries its resolve time. `startsAt` is the firing time.

use std::collections::BTreeMap;

use super::alerting::{AlertState, RuleAlert};
use super::labels_to_map;
use crate::notify::Alert;

/// Whether `a` should be sent at `ts`.
pub fn needs_sending(a: &RuleAlert, ts: i64, resend_delay_ms: i64) -> bool {
    if a.state == AlertState::Pending {
        return false;
    }
    if let Some(r) = a.resolved_at {
        if a.last_sent_at.is_none_or(|s| r > s) {
            return true;
        }
    }
    a.last_sent_at.is_none_or(|s| s + resend_delay_ms < ts)
}

/// Marks `a` as sent at `ts` and returns its wire form.
pub fn mark_sent(
    a: &mut RuleAlert,
    ts: i64,
    resend_delay_ms: i64,
    interval_ms: i64,
    generator_url: &str,
    external_labels: &BTreeMap<String, String>,
) -> Alert {
    a.last_sent_at = Some(ts);
    a.valid_until = Some(ts + 4 * resend_delay_ms.max(interval_ms));
    let mut labels = labels_to_map(&a.labels);
    for (k, v) in external_labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Alert {
        labels,
        annotations: a.annotations.clone(),
        starts_at: a.fired_at.unwrap_or(a.active_at),
        ends_at: a.resolved_at.or(a.valid_until),
        generator_url: generator_url.to_string(),
    }
}

/// `external_url + "/graph?g0.expr=<expr>&g0.tab=1"`, as upstream's
/// `TableLinkForExpression`.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    format!(
        "{}/graph?g0.expr={}&g0.tab=1",
        external_url.trim_end_matches('/'),
        query_escape(expr)
    )
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        let check = |input: &str, expect: &str| assert_eq!(query_escape(input), expect, "{input}");
        check("up == 0", "up+%3D%3D+0");
        check("a{b=\"c\"}", "a%7Bb%3D%22c%22%7D");
        check("x_y.z~-", "x_y.z~-");
    }
}
