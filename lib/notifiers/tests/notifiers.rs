//! The notifier crate's integration tests.

#[path = "notifiers/delivery.rs"]
mod delivery;
#[path = "notifiers/email.rs"]
mod email;
#[path = "notifiers/payloads.rs"]
mod payloads;
#[path = "notifiers/servers.rs"]
mod servers;
#[path = "notifiers/signatures.rs"]
mod signatures;

use watchfire_alertmodel::{Alert, LabelSet, Notification, NotifyKind};

/// 2024-05-01T12:00:00Z in ms.
pub const T0: i64 = 1_714_564_800_000;

pub fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn alert(l: &[(&str, &str)], ann: &[(&str, &str)], starts: i64, ends: i64) -> Alert {
    Alert {
        labels: labels(l),
        annotations: labels(ann),
        starts_at: starts,
        ends_at: ends,
        generator_url: "http://prom:9090/graph?g0.expr=up&g0.tab=1".into(),
        updated_at: starts,
        timeout: false,
    }
}

/// Two alerts of group `alertname=HighLatency`: `job=api` firing since
/// T0+0.5s, `job=db` resolved at T0+200s; notified at T0+300s.
pub fn notification() -> Notification {
    Notification {
        receiver: "team-x".into(),
        group_key: "{}:{alertname=\"HighLatency\"}".into(),
        group_labels: labels(&[("alertname", "HighLatency")]),
        alerts: vec![
            alert(
                &[
                    ("alertname", "HighLatency"),
                    ("job", "api"),
                    ("severity", "critical"),
                ],
                &[
                    ("summary", "p99 over 1s"),
                    ("runbook_url", "https://runbooks/latency"),
                ],
                T0 + 500,
                T0 + 3_600_000,
            ),
            alert(
                &[
                    ("alertname", "HighLatency"),
                    ("job", "db"),
                    ("severity", "critical"),
                ],
                &[("summary", "p99 over 1s")],
                T0,
                T0 + 200_000,
            ),
        ],
        now: T0 + 300_000,
        external_url: "http://wf:9093".into(),
        kind: NotifyKind::Alerts,
        escalation: None,
    }
}

/// The notification with only the resolved alert.
pub fn resolved_only() -> Notification {
    let mut n = notification();
    n.alerts.remove(0);
    n
}
