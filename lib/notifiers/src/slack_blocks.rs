//! Pure Block Kit message building for the Slack integration.
//!
//! Layout: a `header` (the rendered title), a `section` per status with
//! the alerts (or the rendered `text` when the receiver sets one), a
//! `context` line (receiver, link, acknowledgement), and while alerts fire
//! and nobody acknowledged, an `actions` block with Acknowledge, Silence 1h
//! and (when an alert has a `runbook_url` annotation) Runbook buttons.
//! Slack's limits are kept: header text ≤150, section text ≤3000, button
//! value ≤2000 characters, ≤50 blocks.

use serde_json::{json, Value};

use crate::data::{AlertData, TemplateData};
use crate::pagerduty::truncate_chars;

/// `action_id` of the Acknowledge button.
pub const ACTION_ACK: &str = "watchfire_ack";
/// `action_id` of the Silence 1h button.
pub const ACTION_SILENCE_1H: &str = "watchfire_silence_1h";
/// `action_id` of the Runbook (URL) button.
pub const ACTION_RUNBOOK: &str = "watchfire_runbook";

const MAX_HEADER: usize = 150;
const MAX_SECTION: usize = 3000;
const MAX_VALUE: usize = 2000;
const MAX_ALERT_LINES: usize = 20;

/// The rendered texts a message is built from.
pub(crate) struct Rendered<'a> {
    pub title: String,
    pub title_link: String,
    pub text: String,
    pub data: &'a TemplateData,
    pub group_key: &'a str,
    pub acked_by: Option<&'a str>,
    pub actions: bool,
}

/// The value an action button carries: the group key, or
/// `sha256:<dedup key>` when the key is longer than Slack allows.
pub fn action_value(group_key: &str) -> String {
    if group_key.chars().count() <= MAX_VALUE {
        group_key.to_string()
    } else {
        format!("sha256:{}", crate::pagerduty::dedup_key(group_key))
    }
}

fn alert_line(a: &AlertData) -> String {
    let name = a.labels.get("alertname").unwrap_or("alert");
    let what = a
        .annotations
        .get("summary")
        .or_else(|| a.annotations.get("description"))
        .unwrap_or("");
    let labels: Vec<String> = a
        .labels
        .iter()
        .filter(|(k, _)| *k != "alertname")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut line = format!("• *{}*", escape(name));
    if !what.is_empty() {
        line.push_str(&format!(" — {}", escape(what)));
    }
    if !labels.is_empty() {
        line.push_str(&format!(" `{}`", escape(&labels.join(", "))));
    }
    line
}

/// Slack's mrkdwn escaping of `&`, `<`, `>`.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn section(text: &str) -> Value {
    let (t, _) = truncate_chars(text, MAX_SECTION);
    json!({"type": "section", "text": {"type": "mrkdwn", "text": t}})
}

fn alert_section(label: &str, alerts: &[&AlertData]) -> Option<Value> {
    if alerts.is_empty() {
        return None;
    }
    let mut text = format!("*{label} ({})*", alerts.len());
    for a in alerts.iter().take(MAX_ALERT_LINES) {
        text.push('\n');
        text.push_str(&alert_line(a));
    }
    if alerts.len() > MAX_ALERT_LINES {
        text.push_str(&format!("\n…and {} more", alerts.len() - MAX_ALERT_LINES));
    }
    Some(section(&text))
}

/// The Block Kit blocks of a message.
pub(crate) fn blocks(r: &Rendered<'_>) -> Vec<Value> {
    let mut out = Vec::new();
    let (title, _) = truncate_chars(
        if r.title.is_empty() {
            "Alert"
        } else {
            &r.title
        },
        MAX_HEADER,
    );
    out.push(
        json!({"type": "header", "text": {"type": "plain_text", "text": title, "emoji": true}}),
    );
    if !r.text.trim().is_empty() {
        out.push(section(&r.text));
    } else {
        let firing: Vec<&AlertData> = r.data.firing().collect();
        let resolved: Vec<&AlertData> = r.data.resolved().collect();
        out.extend(alert_section(":fire: Firing", &firing));
        out.extend(alert_section(":white_check_mark: Resolved", &resolved));
    }
    let mut ctx = format!("Receiver: *{}*", escape(&r.data.receiver));
    if !r.title_link.is_empty() {
        ctx.push_str(&format!(" | <{}|View alerts>", r.title_link));
    }
    if let Some(by) = r.acked_by {
        ctx.push_str(&format!(" | :eyes: Acknowledged by {}", escape(by)));
    }
    out.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate_chars(&ctx, MAX_SECTION).0}]}));
    if r.actions && r.acked_by.is_none() && r.data.status == "firing" {
        let value = action_value(r.group_key);
        let mut elements = vec![
            json!({"type": "button", "action_id": ACTION_ACK, "style": "primary",
                   "text": {"type": "plain_text", "text": "Acknowledge"}, "value": value}),
            json!({"type": "button", "action_id": ACTION_SILENCE_1H,
                   "text": {"type": "plain_text", "text": "Silence 1h"}, "value": value}),
        ];
        if let Some(url) = r
            .data
            .alerts
            .iter()
            .find_map(|a| a.annotations.get("runbook_url").filter(|u| !u.is_empty()))
        {
            elements.push(json!({"type": "button", "action_id": ACTION_RUNBOOK,
                   "text": {"type": "plain_text", "text": "Runbook"}, "url": url}));
        }
        out.push(json!({"type": "actions", "elements": elements}));
    }
    out
}
