//! Acknowledgements from Slack's buttons and PagerDuty's webhooks: only
//! correctly signed, fresh requests ack; forged signatures, a wrong
//! secret, a stale Slack timestamp or a body changed after signing get
//! 401 with a reason and ack nothing.

use std::time::Duration;

use serde_json::{json, Value};
use watchfire_notifiers::inbound::{pagerduty_signature, slack_signature};
use watchfire_notifiers::pagerduty::dedup_key;
use watchfire_notifiers::slack::ACTION_ACK;
use watchfire_notifiers::testing::webhook;

use super::{get_json, post_alerts, TOKEN};
use crate::harness::{http, now_ms, Router};

const SLACK_SECRET: &str = "slack-signing-secret";
const PD_SECRET: &str = "pagerduty-webhook-secret";

/// The router's config with a Slack signing secret and a PagerDuty
/// webhook secret added to its `dispatch:` section.
fn with_secrets(r: Router) -> Router {
    let slack = r.dir.path().join("slack-secret");
    let pd = r.dir.path().join("pd-secret");
    std::fs::write(&slack, format!("{SLACK_SECRET}\n")).expect("slack secret");
    std::fs::write(&pd, PD_SECRET).expect("pd secret");
    let mut cfg = std::fs::read_to_string(&r.config).expect("router.yml");
    cfg.push_str(&format!(
        "  slack_signing_secret_file: {:?}\n  pagerduty_webhook_secret_file: {:?}\n",
        slack.display().to_string(),
        pd.display().to_string()
    ));
    std::fs::write(&r.config, cfg).expect("router.yml");
    r
}

fn escalation_am_yml(hook: &str) -> String {
    format!(
        "\
route:
  receiver: pager
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1m
  repeat_interval: 1h
  routes:
    - matchers: [severity=\"critical\"]
      escalation_policy: oncall
receivers:
  - name: pager
    webhook_configs: [{{url: \"{hook}/hook\"}}]
escalation_policies:
  - name: oncall
    steps:
      - after: 0s
        notify: [pager]
      - after: 1h
        notify: [pager]
"
    )
}

fn escalation_of(r: &Router, alertname: &str) -> Option<Value> {
    let needle = format!("alertname=\"{alertname}\"");
    get_json(r, "/api/watchfire/v1/escalations")
        .as_array()?
        .iter()
        .find(|e| e["group_key"].as_str().is_some_and(|k| k.contains(&needle)))
        .cloned()
}

/// A signed inbound request and whether it must ack.
struct Inbound {
    name: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    /// `Some(by)`: the escalation is acked by `by` afterwards.
    acked_by: Option<&'static str>,
}

fn check_inbound(r: &Router, path: &str, content_type: &str, alertname: &str, c: &Inbound) {
    let mut req = http()
        .post(r.url(path))
        .header("content-type", content_type)
        .body(c.body.clone());
    for (k, v) in &c.headers {
        req = req.header(*k, v);
    }
    let resp = req.send().unwrap_or_else(|e| panic!("{}: {e}", c.name));
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    assert_eq!(status, c.status, "{}: status (body {text})", c.name);
    if status >= 400 {
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{}: no reason: {text}",
            c.name
        );
    }
    let esc = escalation_of(r, alertname).expect("escalation");
    match c.acked_by {
        Some(by) => assert_eq!(esc["acked"]["by"], by, "{}: {esc}", c.name),
        None => assert!(
            esc["acked"].is_null(),
            "{}: acked by a refused request: {esc}",
            c.name
        ),
    }
}

fn slack_body(group_key: &str) -> Vec<u8> {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U123", "username": "ann"},
        "channel": {"id": "C1"},
        "container": {"message_ts": "1.2"},
        "actions": [{"action_id": ACTION_ACK, "value": group_key}]
    });
    form_body(&payload.to_string())
}

fn form_body(payload: &str) -> Vec<u8> {
    let mut out = String::from("payload=");
    for b in payload.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.into_bytes()
}

fn slack_headers(ts: i64, sig: String) -> Vec<(&'static str, String)> {
    vec![
        ("x-slack-request-timestamp", ts.to_string()),
        ("x-slack-signature", sig),
    ]
}

fn pd_body(event_type: &str, incident_key: &str) -> Vec<u8> {
    json!({"event": {
        "id": "E1", "event_type": event_type, "resource_type": "incident",
        "agent": {"summary": "Alice", "type": "user_reference"},
        "data": {"id": "Q1", "type": "incident", "incident_key": incident_key}
    }})
    .to_string()
    .into_bytes()
}

#[test]
fn forged_slack_and_pagerduty_acks_are_refused() {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let hook = rt.block_on(webhook::start()).expect("webhook fake");
    let mut r = with_secrets(
        Router::new(&[], "1s", "0s")
            .with_dispatch(&escalation_am_yml(&hook.base_url()), Some(TOKEN)),
    );
    r.start();
    for name in ["ViaSlack", "ViaPagerDuty"] {
        let body = json!([{"labels": {"alertname": name, "severity": "critical"}}]);
        assert_eq!(post_alerts(&r, body), 200);
    }
    let slack_key = r.wait_for("ViaSlack escalation", Duration::from_secs(20), |r| {
        escalation_of(r, "ViaSlack")
    })["group_key"]
        .as_str()
        .expect("group_key")
        .to_string();
    let pd_key = r.wait_for("ViaPagerDuty escalation", Duration::from_secs(20), |r| {
        escalation_of(r, "ViaPagerDuty")
    })["group_key"]
        .as_str()
        .expect("group_key")
        .to_string();

    let now = now_ms() / 1000;
    let body = slack_body(&slack_key);
    let sign = |secret: &str, ts: i64, b: &[u8]| slack_signature(secret, &ts.to_string(), b);
    let mut tampered = slack_body(&pd_key);
    tampered.extend_from_slice(b"&x=1");
    let slack_cases = vec![
        Inbound {
            name: "slack: no signature",
            headers: vec![],
            body: body.clone(),
            status: 401,
            acked_by: None,
        },
        Inbound {
            name: "slack: forged signature",
            headers: slack_headers(now, format!("v0={}", "0".repeat(64))),
            body: body.clone(),
            status: 401,
            acked_by: None,
        },
        Inbound {
            name: "slack: wrong secret",
            headers: slack_headers(now, sign("not-the-secret", now, &body)),
            body: body.clone(),
            status: 401,
            acked_by: None,
        },
        Inbound {
            name: "slack: stale timestamp (10 min)",
            headers: slack_headers(now - 600, sign(SLACK_SECRET, now - 600, &body)),
            body: body.clone(),
            status: 401,
            acked_by: None,
        },
        Inbound {
            name: "slack: body changed after signing",
            headers: slack_headers(now, sign(SLACK_SECRET, now, &body)),
            body: tampered,
            status: 401,
            acked_by: None,
        },
        Inbound {
            name: "slack: valid Acknowledge",
            headers: slack_headers(now, sign(SLACK_SECRET, now, &body)),
            body: body.clone(),
            status: 200,
            acked_by: Some("slack:ann"),
        },
    ];
    for c in &slack_cases {
        check_inbound(
            &r,
            "/api/watchfire/v1/slack/actions",
            "application/x-www-form-urlencoded",
            "ViaSlack",
            c,
        );
    }

    let ack = pd_body("incident.acknowledged", &dedup_key(&pd_key));
    let resolved = pd_body("incident.resolved", &dedup_key(&pd_key));
    let pd_cases = vec![
        Inbound {
            name: "pagerduty: no signature",
            headers: vec![],
            body: ack.clone(),
            status: 401,
            acked_by: None,
        },
        Inbound {
            name: "pagerduty: forged signature",
            headers: vec![("x-pagerduty-signature", format!("v1={}", "ab".repeat(32)))],
            body: ack.clone(),
            status: 401,
            acked_by: None,
        },
        Inbound {
            name: "pagerduty: wrong secret",
            headers: vec![(
                "x-pagerduty-signature",
                pagerduty_signature("not-the-secret", &ack),
            )],
            body: ack.clone(),
            status: 401,
            acked_by: None,
        },
        Inbound {
            name: "pagerduty: signature of another body",
            headers: vec![(
                "x-pagerduty-signature",
                pagerduty_signature(PD_SECRET, &resolved),
            )],
            body: ack.clone(),
            status: 401,
            acked_by: None,
        },
        Inbound {
            name: "pagerduty: signed, but not an acknowledgement",
            headers: vec![(
                "x-pagerduty-signature",
                pagerduty_signature(PD_SECRET, &resolved),
            )],
            body: resolved.clone(),
            status: 200,
            acked_by: None,
        },
        Inbound {
            name: "pagerduty: valid incident.acknowledged (one of two signatures)",
            headers: vec![(
                "x-pagerduty-signature",
                format!(
                    "v1={},{}",
                    "cd".repeat(32),
                    pagerduty_signature(PD_SECRET, &ack)
                ),
            )],
            body: ack.clone(),
            status: 200,
            acked_by: Some("pagerduty:Alice"),
        },
    ];
    for c in &pd_cases {
        check_inbound(
            &r,
            "/api/watchfire/v1/pagerduty/webhook",
            "application/json",
            "ViaPagerDuty",
            c,
        );
    }
    // The Slack ack did not touch the other group, and vice versa.
    let slack_esc = escalation_of(&r, "ViaSlack").expect("escalation");
    assert_eq!(slack_esc["acked"]["by"], "slack:ann", "{slack_esc}");
    r.proc().assert_running();
    drop(hook);
}
