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
use watchfire_template::query_escape;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_urls_escape_like_go() {
        let check = |url: &str, expr: &str, expect: &str| {
            assert_eq!(generator_url(url, expr), expect, "{url} {expr}");
        };
        check(
            "http://x/",
            "up == 0",
            "http://x/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
        );
        check(
            "http://x",
            "x_y.z~-",
            "http://x/graph?g0.expr=x_y.z~-&g0.tab=1",
        );
    }
}
