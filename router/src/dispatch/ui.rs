//! The router's web page: firing alerts by aggregation group, with each
//! group's escalation step and an Ack button.
//!
//! Plain server-rendered HTML with no script: the Ack button is a form
//! that posts to `/ui/ack` and is redirected back to `/`. When the API
//! needs a bearer token, the form has a password field for it (a browser
//! form cannot send an `Authorization` header). Rendering is a pure
//! function of a [`Page`], so it is tested without a server.

use std::fmt::Write;

use watchfire_alertmodel::LabelSet;
use watchfire_promql::civil::format_rfc3339_millis;

/// One alert row.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub labels: LabelSet,
    pub summary: String,
    pub starts_at: i64,
    /// `active` or `suppressed` (silenced, inhibited or muted).
    pub state: String,
}

/// An escalation's progress, as shown.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationView {
    pub policy: String,
    /// The last step notified (1-based for display) and the round.
    pub step: u32,
    pub steps: u32,
    pub round: u32,
    /// When the next step is due, if any.
    pub next_at: Option<i64>,
    pub acked_by: Option<String>,
}

/// One aggregation group with firing alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupView {
    pub group_key: String,
    pub receiver: String,
    pub group_labels: LabelSet,
    pub alerts: Vec<AlertRow>,
    pub escalation: Option<EscalationView>,
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub groups: Vec<GroupView>,
    /// Whether acks need the API token (adds a password field).
    pub token_required: bool,
    /// A message to show at the top (the result of the last ack).
    pub flash: Option<String>,
}

/// HTML-escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn labels_text(ls: &LabelSet) -> String {
    let parts: Vec<String> = ls.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Renders the page.
pub fn render(p: &Page) -> String {
    let firing: usize = p.groups.iter().map(|g| g.alerts.len()).sum();
    let mut body = String::new();
    if let Some(f) = &p.flash {
        let _ = write!(body, "<p class=\"flash\" id=\"flash\">{}</p>", escape(f));
    }
    if p.groups.is_empty() {
        body.push_str("<p id=\"empty\">No firing alerts.</p>");
    }
    for (i, g) in p.groups.iter().enumerate() {
        let _ = write!(
            body,
            "<section class=\"group\" id=\"group-{i}\" data-group-key=\"{}\"><h2>{} &rarr; {}</h2>",
            escape(&g.group_key),
            escape(&labels_text(&g.group_labels)),
            escape(&g.receiver)
        );
        match &g.escalation {
            Some(e) => {
                let state = match (&e.acked_by, e.next_at) {
                    (Some(by), _) => format!("acknowledged by {by}"),
                    (None, Some(t)) => format!("next step at {}", format_rfc3339_millis(t)),
                    (None, None) => "all steps notified".to_string(),
                };
                let _ = write!(
                    body,
                    "<p class=\"escalation\" id=\"escalation-{i}\">escalation <b>{}</b>: step {} of {}, round {} &middot; <span class=\"esc-state\">{}</span></p>",
                    escape(&e.policy),
                    e.step,
                    e.steps,
                    e.round + 1,
                    escape(&state)
                );
            }
            None => body.push_str("<p class=\"escalation\">no escalation policy</p>"),
        }
        let acked = g.escalation.as_ref().is_some_and(|e| e.acked_by.is_some());
        if !acked {
            let _ = write!(
                body,
                "<form method=\"post\" action=\"/ui/ack\"><input type=\"hidden\" name=\"group_key\" value=\"{}\">{}\
                 <button type=\"submit\" id=\"ack-{i}\">Ack</button></form>",
                escape(&g.group_key),
                if p.token_required {
                    "<input type=\"password\" name=\"token\" placeholder=\"API token\" required> "
                } else {
                    ""
                }
            );
        }
        body.push_str("<table><tr><th>alert</th><th>labels</th><th>summary</th><th>since</th><th>state</th></tr>");
        for a in &g.alerts {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(a.labels.get("alertname").unwrap_or("")),
                escape(&labels_text(&a.labels)),
                escape(&a.summary),
                escape(&format_rfc3339_millis(a.starts_at)),
                escape(&a.state)
            );
        }
        body.push_str("</table></section>");
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"15\">\
         <title>Watchfire alerts</title><style>body{{font-family:sans-serif;margin:1em 2em}}\
         td,th{{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}}.group{{margin-bottom:1.5em}}\
         .flash{{background:#eef;padding:6px}}</style></head>\
         <body><h1>Watchfire: <span id=\"firing-count\">{firing}</span> firing alerts in {} groups</h1>{body}\
         <p><a href=\"/api/v2/alerts/groups\">/api/v2/alerts/groups</a> &middot; <a href=\"/api/watchfire/v1/escalations\">escalations</a> \
         &middot; <a href=\"/api/v1/alerts\">rule alerts</a> &middot; <a href=\"/metrics\">metrics</a></p></body></html>",
        p.groups.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(key: &str, esc: Option<EscalationView>) -> GroupView {
        GroupView {
            group_key: key.into(),
            receiver: "pager".into(),
            group_labels: [("alertname".to_string(), "<X>".to_string())].into(),
            alerts: vec![AlertRow {
                labels: [("alertname".to_string(), "<X>".to_string())].into(),
                summary: "disk \"full\"".into(),
                starts_at: 0,
                state: "active".into(),
            }],
            escalation: esc,
        }
    }

    fn check(page: Page, present: &[&str], absent: &[&str]) {
        let html = render(&page);
        for s in present {
            assert!(html.contains(s), "missing {s:?} in {html}");
        }
        for s in absent {
            assert!(!html.contains(s), "unexpected {s:?} in {html}");
        }
    }

    #[test]
    fn pages() {
        let esc = EscalationView {
            policy: "critical".into(),
            step: 1,
            steps: 3,
            round: 0,
            next_at: Some(900_000),
            acked_by: None,
        };
        check(
            Page {
                groups: vec![],

                token_required: false,
                flash: None,
            },
            &["No firing alerts", ">0</span>"],
            &["<form"],
        );
        check(
            Page {
                groups: vec![group("{}:{a=\"1\"}", Some(esc.clone()))],

                token_required: false,
                flash: None,
            },
            &[
                "step 1 of 3",
                "next step at 1970-01-01T00:15:00.000Z",
                "id=\"ack-0\"",
                "&lt;X&gt;",
                "value=\"{}:{a=&quot;1&quot;}\"",
            ],
            &["<X>", "type=\"password\""],
        );
        check(
            Page {
                groups: vec![group(
                    "k",
                    Some(EscalationView {
                        acked_by: Some("ann".into()),
                        ..esc
                    }),
                )],

                token_required: true,
                flash: Some("acknowledged".into()),
            },
            &["acknowledged by ann", "id=\"flash\""],
            &["id=\"ack-0\""],
        );
        check(
            Page {
                groups: vec![group("k", None)],

                token_required: true,
                flash: None,
            },
            &["type=\"password\"", "no escalation policy"],
            &[],
        );
    }
}
