//! Payload building: webhook golden JSON, PagerDuty events, Slack blocks,
//! default templates.

use std::sync::Arc;

use serde_json::{json, Value};
use watchfire_alertmodel::NotifyKind;
use watchfire_notifiers::data::go_time_json;
use watchfire_notifiers::pagerduty::{self, build_event, PagerDutySettings};
use watchfire_notifiers::slack::{self, SlackSettings, SlackTarget};
use watchfire_notifiers::templates::{TemplateFile, Templates};
use watchfire_notifiers::webhook::{build_message, WebhookSettings};
use watchfire_notifiers::HttpSettings;

use crate::{notification, resolved_only};

fn webhook(send_resolved: bool, max_alerts: usize) -> WebhookSettings {
    WebhookSettings {
        url: "http://x/hook".into(),
        send_resolved,
        max_alerts,
        http: HttpSettings::default(),
    }
}

/// Alertmanager 0.25's `webhook.Message` for [`notification`]: `Data`'s
/// fields, then version/groupKey/truncatedAlerts; firing alerts carry Go's
/// zero `endsAt` (`types.Alerts` hides unreached ends); fingerprints are
/// prometheus/common's FNV-1a in hex (computed independently).
fn golden_full() -> Value {
    json!({
        "receiver": "team-x",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighLatency", "job": "api", "severity": "critical"},
                "annotations": {"runbook_url": "https://runbooks/latency", "summary": "p99 over 1s"},
                "startsAt": "2024-05-01T12:00:00.5Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prom:9090/graph?g0.expr=up&g0.tab=1",
                "fingerprint": "8dd3b726a1f3a0fb"
            },
            {
                "status": "resolved",
                "labels": {"alertname": "HighLatency", "job": "db", "severity": "critical"},
                "annotations": {"summary": "p99 over 1s"},
                "startsAt": "2024-05-01T12:00:00Z",
                "endsAt": "2024-05-01T12:03:20Z",
                "generatorURL": "http://prom:9090/graph?g0.expr=up&g0.tab=1",
                "fingerprint": "803b5b8e9e85ace5"
            }
        ],
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "severity": "critical"},
        "commonAnnotations": {"summary": "p99 over 1s"},
        "externalURL": "http://wf:9093",
        "version": "4",
        "groupKey": "{}:{alertname=\"HighLatency\"}",
        "truncatedAlerts": 0
    })
}

#[test]
fn webhook_payloads() {
    fn check(n: watchfire_alertmodel::Notification, s: WebhookSettings, expect: Option<Value>) {
        let got = build_message(&n, &s).map(|m| serde_json::to_value(m).unwrap());
        assert_eq!(got, expect);
    }
    check(notification(), webhook(true, 0), Some(golden_full()));
    // max_alerts: the data is built from the kept alert.
    let mut one = golden_full();
    one["alerts"].as_array_mut().unwrap().truncate(1);
    one["truncatedAlerts"] = json!(1);
    one["commonLabels"] = json!({"alertname": "HighLatency", "job": "api", "severity": "critical"});
    one["commonAnnotations"] =
        json!({"runbook_url": "https://runbooks/latency", "summary": "p99 over 1s"});
    check(notification(), webhook(true, 1), Some(one.clone()));
    // send_resolved: false drops resolved alerts...
    one["truncatedAlerts"] = json!(0);
    check(notification(), webhook(false, 0), Some(one));
    // ...and sends nothing when none fire.
    check(resolved_only(), webhook(false, 0), None);
}

#[test]
fn webhook_key_order_matches_go() {
    let m = build_message(&notification(), &webhook(true, 0)).unwrap();
    let s = serde_json::to_string(&m).unwrap();
    let pos = |k: &str| s.find(&format!("\"{k}\":")).unwrap();
    let order = [
        "receiver",
        "status",
        "alerts",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "version",
        "groupKey",
        "truncatedAlerts",
    ];
    assert!(order.windows(2).all(|w| pos(w[0]) < pos(w[1])), "{s}");
}

#[test]
fn go_times() {
    fn check(ms: i64, expect: &str) {
        assert_eq!(go_time_json(ms), expect);
    }
    check(0, "1970-01-01T00:00:00Z");
    check(crate::T0 + 120, "2024-05-01T12:00:00.12Z");
    check(crate::T0 + 7, "2024-05-01T12:00:00.007Z");
}

fn templates() -> Arc<Templates> {
    Arc::new(Templates::defaults())
}

#[test]
fn pagerduty_events() {
    let key = "0123456789abcdef0123456789abcdef";
    let ev = build_event(&notification(), &PagerDutySettings::new(key), &templates())
        .unwrap()
        .unwrap();
    let v = serde_json::to_value(&ev).unwrap();
    assert_eq!(v["routing_key"], key);
    assert_eq!(v["event_action"], "trigger");
    assert_eq!(
        v["dedup_key"],
        "d4061866bc333de2350285b0452a21f78349e3d63b4f06b6c956f64f95d7be36"
    );
    assert_eq!(v["payload"]["summary"], "[FIRING:1] HighLatency (critical)");
    assert_eq!(v["payload"]["severity"], "critical");
    assert_eq!(v["payload"]["source"], "Alertmanager");
    assert_eq!(v["client"], "Alertmanager");
    assert_eq!(v["client_url"], "http://wf:9093/#/alerts?receiver=team-x");
    assert_eq!(
        v["links"],
        json!([{"href": "https://runbooks/latency", "text": "Runbook"}])
    );
    let d = &v["payload"]["custom_details"];
    assert_eq!(d["num_firing"], "1");
    assert_eq!(d["num_resolved"], "1");
    assert_eq!(
        d["firing"],
        "Labels:\n - alertname = HighLatency\n - job = api\n - severity = critical\nAnnotations:\n - runbook_url = https://runbooks/latency\n - summary = p99 over 1s\nSource: http://prom:9090/graph?g0.expr=up&g0.tab=1\n"
    );
    // All resolved → resolve; acknowledgement → acknowledge.
    let ev = build_event(&resolved_only(), &PagerDutySettings::new(key), &templates())
        .unwrap()
        .unwrap();
    assert_eq!(ev.event_action, "resolve");
    let mut n = notification();
    n.kind = NotifyKind::Acknowledged { by: "alice".into() };
    assert_eq!(
        build_event(&n, &PagerDutySettings::new(key), &templates())
            .unwrap()
            .unwrap()
            .event_action,
        "acknowledge"
    );
    let mut s = PagerDutySettings::new(key);
    s.send_resolved = false;
    assert_eq!(
        build_event(&resolved_only(), &s, &templates()).unwrap(),
        None
    );
}

#[test]
fn pagerduty_summary_truncation_and_severity() {
    fn check(input: &str, n: usize, expect: &str, cut: bool) {
        assert_eq!(
            pagerduty::truncate_chars(input, n),
            (expect.to_string(), cut)
        );
    }
    check("abc", 3, "abc", false);
    check("abcdef", 5, "abcd…", true);
    check("ééééé", 4, "ééé…", true);
    check("abcdef", 2, "ab", true);
    let key = "0123456789abcdef0123456789abcdef";
    let mut s = PagerDutySettings::new(key);
    s.description = "x".repeat(2000);
    let ev = build_event(&notification(), &s, &templates())
        .unwrap()
        .unwrap();
    assert_eq!(ev.payload.summary.chars().count(), 1024);
    assert!(ev.payload.summary.ends_with('…'));
    for (label, expect) in [
        ("critical", "critical"),
        ("warning", "warning"),
        ("info", "info"),
        ("page", "critical"),
        ("bogus", "error"),
    ] {
        assert_eq!(pagerduty::map_severity(label), expect, "{label}");
    }
    let mut n = notification();
    for a in &mut n.alerts {
        a.labels.remove("severity");
    }
    let ev = build_event(&n, &PagerDutySettings::new(key), &templates())
        .unwrap()
        .unwrap();
    assert_eq!(ev.payload.severity, "error", "Alertmanager's default");
}

#[test]
fn pagerduty_oversized_event_drops_details() {
    let key = "0123456789abcdef0123456789abcdef";
    let mut s = PagerDutySettings::new(key);
    s.details.insert("big".into(), "y".repeat(600_000));
    let ev = build_event(&notification(), &s, &templates())
        .unwrap()
        .unwrap();
    let body = pagerduty::encode_event(ev).unwrap();
    assert!(body.len() <= pagerduty::MAX_EVENT_SIZE);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["payload"]["custom_details"],
        json!({"error": "Custom details have been removed because the original event exceeds the maximum size of 512KB"})
    );
}

#[test]
fn slack_blocks() {
    let s = SlackSettings {
        channel: "#ops".into(),
        send_resolved: true,
        ..SlackSettings::new(SlackTarget::Webhook {
            url: "http://x".into(),
        })
    };
    let m = slack::build_message(&notification(), &s, &templates())
        .unwrap()
        .unwrap();
    assert_eq!(m["channel"], "#ops");
    assert_eq!(m["text"], "[FIRING:1] HighLatency (critical)");
    let blocks = m["blocks"].as_array().unwrap();
    let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["header", "section", "section", "context", "actions"]
    );
    assert!(blocks[1]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("*HighLatency* — p99 over 1s `job=api, severity=critical`"));
    let buttons = blocks[4]["elements"].as_array().unwrap();
    assert_eq!(buttons[0]["action_id"], slack::ACTION_ACK);
    assert_eq!(buttons[0]["value"], notification().group_key);
    assert_eq!(buttons[1]["action_id"], slack::ACTION_SILENCE_1H);
    assert_eq!(buttons[2]["url"], "https://runbooks/latency");
    assert!(watchfire_notifiers::testing::slack::validate_blocks(&m["blocks"]).is_empty());
    // Acknowledged: no buttons, the context says who.
    let mut n = notification();
    n.kind = NotifyKind::Acknowledged { by: "alice".into() };
    let m = slack::build_message(&n, &s, &templates()).unwrap().unwrap();
    let blocks = m["blocks"].as_array().unwrap();
    assert_eq!(blocks.last().unwrap()["type"], "context");
    assert!(blocks.last().unwrap()["elements"][0]["text"]
        .as_str()
        .unwrap()
        .contains("Acknowledged by alice"));
    // Alertmanager's default send_resolved: false.
    let s = SlackSettings::new(SlackTarget::Webhook {
        url: "http://x".into(),
    });
    assert_eq!(
        slack::build_message(&resolved_only(), &s, &templates()).unwrap(),
        None
    );
}

#[test]
fn default_templates_render_like_alertmanager() {
    fn check(text: &str, expect: &str) {
        let t = Templates::defaults();
        let data =
            watchfire_notifiers::data::TemplateData::new(&notification(), &notification().alerts);
        assert_eq!(t.render(text, &data).unwrap(), expect, "{text}");
    }
    check(
        r#"{{ template "email.default.subject" . }}"#,
        "[FIRING:1] HighLatency (critical)",
    );
    check(
        r#"{{ template "slack.default.title" . }}"#,
        "[FIRING:1] HighLatency (critical)",
    );
    check(
        r#"{{ template "slack.default.fallback" . }}"#,
        "[FIRING:1] HighLatency (critical) | http://wf:9093/#/alerts?receiver=team-x",
    );
    check(
        "{{ .Alerts.Firing | len }}/{{ len .Alerts.Resolved }}",
        "1/1",
    );
    check(
        "{{ range .Alerts.Resolved }}{{ .Labels.job }} {{ .EndsAt }}{{ end }}",
        "db 2024-05-01 12:03:20 +0000 UTC",
    );
    check(
        "{{ .CommonLabels.severity }} {{ .Receiver }} {{ .Status }}",
        "critical team-x firing",
    );
    let t = Templates::defaults();
    let data =
        watchfire_notifiers::data::TemplateData::new(&resolved_only(), &resolved_only().alerts);
    assert_eq!(
        t.render(r#"{{ template "__subject" . }}"#, &data).unwrap(),
        "[RESOLVED] HighLatency (db critical)"
    );
    let html = t
        .render(r#"{{ template "email.default.html" . }}"#, &data)
        .unwrap();
    assert!(html.contains("1 alert for alertname=HighLatency"), "{html}");
    assert!(html.contains("[1] Resolved"));
    assert!(
        html.contains("g0.expr=up&amp;g0.tab=1"),
        "values are HTML-escaped"
    );
}

#[test]
fn user_templates_override_defaults() {
    let t = Templates::new(&[TemplateFile {
        name: "custom.tmpl".into(),
        text: "{{/* mine */}}\n{{ define \"__subject\" }}custom {{ .Alerts.Firing | len }}{{ end }}\n\n{{ define \"mine\" }}hi {{ .Receiver }}{{ end }}\n".into(),
    }])
    .unwrap();
    let data =
        watchfire_notifiers::data::TemplateData::new(&notification(), &notification().alerts);
    assert_eq!(
        t.render(r#"{{ template "slack.default.title" . }}"#, &data)
            .unwrap(),
        "custom 1"
    );
    assert_eq!(
        t.render(r#"{{ template "mine" . }}!"#, &data).unwrap(),
        "hi team-x!"
    );
    assert!(Templates::new(&[TemplateFile {
        name: "bad".into(),
        text: "{{ if }}".into()
    }])
    .is_err());
}

#[test]
fn acknowledgements_skip_webhook_and_email() {
    let mut n = notification();
    n.kind = NotifyKind::Acknowledged { by: "bob".into() };
    assert_eq!(build_message(&n, &webhook(true, 0)), None);
    let s = watchfire_notifiers::email::EmailSettings::new("a@b.c", "d@e.f", "localhost", 25);
    assert!(
        watchfire_notifiers::email::build_email(&n, &s, &templates())
            .unwrap()
            .is_none()
    );
}

#[test]
fn webhook_fake_checks_shape() {
    fn check(patch: fn(&mut Value), expect_ok: bool) {
        let mut v = golden_full();
        patch(&mut v);
        let errs =
            watchfire_notifiers::testing::webhook::validate_payload(v.to_string().as_bytes());
        assert_eq!(errs.is_empty(), expect_ok, "{errs:?}");
    }
    check(|_| {}, true);
    check(|v| v["version"] = json!("3"), false);
    check(|v| v["alerts"][0]["fingerprint"] = json!("xyz"), false);
    check(|v| v["alerts"] = json!([]), false);
    check(|v| v["truncatedAlerts"] = json!("0"), false);
}

/// Request bodies captured from the real Alertmanager 0.25.0 (Debian's
/// `prometheus-alertmanager`, receiver `all`, external URL `http://wf:9093`)
/// for the alerts of [`notification`]: Watchfire's bodies are byte-identical.
const AM_WEBHOOK_BODY: &str = r##"{"receiver":"all","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"HighLatency","job":"api","severity":"critical"},"annotations":{"runbook_url":"https://runbooks/latency","summary":"p99 over 1s"},"startsAt":"2024-05-01T12:00:00.5Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom:9090/graph?g0.expr=up\u0026g0.tab=1","fingerprint":"8dd3b726a1f3a0fb"},{"status":"resolved","labels":{"alertname":"HighLatency","job":"db","severity":"critical"},"annotations":{"summary":"p99 over 1s"},"startsAt":"2024-05-01T12:00:00Z","endsAt":"2024-05-01T12:03:20Z","generatorURL":"http://prom:9090/graph?g0.expr=up\u0026g0.tab=1","fingerprint":"803b5b8e9e85ace5"}],"groupLabels":{"alertname":"HighLatency"},"commonLabels":{"alertname":"HighLatency","severity":"critical"},"commonAnnotations":{"summary":"p99 over 1s"},"externalURL":"http://wf:9093","version":"4","groupKey":"{}:{alertname=\"HighLatency\"}","truncatedAlerts":0}
"##;
const AM_PAGERDUTY_BODY: &str = r##"{"routing_key":"0123456789abcdef0123456789abcdef","dedup_key":"d4061866bc333de2350285b0452a21f78349e3d63b4f06b6c956f64f95d7be36","event_action":"trigger","payload":{"summary":"[FIRING:1] HighLatency (critical)","source":"Alertmanager","severity":"error","custom_details":{"firing":"Labels:\n - alertname = HighLatency\n - job = api\n - severity = critical\nAnnotations:\n - runbook_url = https://runbooks/latency\n - summary = p99 over 1s\nSource: http://prom:9090/graph?g0.expr=up\u0026g0.tab=1\n","num_firing":"1","num_resolved":"1","resolved":"Labels:\n - alertname = HighLatency\n - job = db\n - severity = critical\nAnnotations:\n - summary = p99 over 1s\nSource: http://prom:9090/graph?g0.expr=up\u0026g0.tab=1\n"}},"client":"Alertmanager","client_url":"http://wf:9093/#/alerts?receiver=all"}
"##;

#[test]
fn bodies_match_alertmanager_byte_for_byte() {
    let mut n = notification();
    n.receiver = "all".into();
    let body =
        watchfire_notifiers::data::to_go_json(&build_message(&n, &webhook(true, 0)).unwrap())
            .unwrap();
    assert_eq!(String::from_utf8(body).unwrap(), AM_WEBHOOK_BODY);
    // Alertmanager's fixed severity and no runbook link.
    let s = PagerDutySettings {
        severity: Some("error".into()),
        url: "http://x".into(),
        ..PagerDutySettings::new("0123456789abcdef0123456789abcdef")
    };
    let mut ev = build_event(&n, &s, &templates()).unwrap().unwrap();
    ev.links.clear();
    let body = pagerduty::encode_event(ev).unwrap();
    assert_eq!(String::from_utf8(body).unwrap(), AM_PAGERDUTY_BODY);
}
