//! PagerDuty Events API v2 (`POST https://events.pagerduty.com/v2/enqueue`).
//!
//! Mirrors Alertmanager 0.25's `notify/pagerduty` for `routing_key`
//! receivers: `dedup_key` is the SHA-256 hex of the group key, the event
//! action is `trigger`, or `resolve` when every alert is resolved (and
//! `acknowledge` for Watchfire acknowledgements), the summary is the
//! rendered description cut to 1024 characters with `…`, custom details
//! are rendered templates, and an event over 512 KB has its custom details
//! replaced by an explanation. 2xx is success; 429 and 5xx are retried;
//! other statuses (400 "invalid event") are permanent.
//!
//! Differences: the severity defaults to a mapping of the alerts'
//! `severity` label (Alertmanager uses the fixed default `error`), each
//! distinct `runbook_url` annotation becomes a link, and `Retry-After` is
//! honoured. Events API v1 (`service_key`) is not supported.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use watchfire_alertmodel::NotifyKind;

use crate::data::{select_alerts, TemplateData};
use crate::error::check_status;
use crate::http::{client, post_json, HttpSettings};
use crate::templates::Templates;
use crate::{Delivered, Notification, Notifier, NotifyError, NotifyFuture};

const INTEGRATION: &str = "pagerduty";

/// The Events API v2 endpoint.
pub const EVENTS_V2_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// PagerDuty's limit on an event's size.
pub const MAX_EVENT_SIZE: usize = 512_000;
/// PagerDuty's limit on `payload.summary`, in characters.
pub const MAX_SUMMARY_CHARS: usize = 1024;

/// A link (`links[]`); fields are templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagerDutyLink {
    pub href: String,
    pub text: String,
}

/// An image (`images[]`); fields are templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagerDutyImage {
    pub src: String,
    pub alt: String,
    pub href: String,
}

/// A PagerDuty receiver's settings (`pagerduty_configs[]` with
/// `routing_key`). String fields are templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagerDutySettings {
    pub routing_key: String,
    /// Alertmanager's `url`; default [`EVENTS_V2_URL`].
    pub url: String,
    pub client: String,
    pub client_url: String,
    pub description: String,
    pub details: BTreeMap<String, String>,
    pub images: Vec<PagerDutyImage>,
    pub links: Vec<PagerDutyLink>,
    /// `None`: the rendered `client`, as Alertmanager.
    pub source: Option<String>,
    /// `None`: mapped from the alerts' `severity` label (default `error`).
    pub severity: Option<String>,
    pub class: String,
    pub component: String,
    pub group: String,
    /// Alertmanager's default: true.
    pub send_resolved: bool,
    pub http: HttpSettings,
}

impl PagerDutySettings {
    /// Alertmanager's defaults around a routing key.
    pub fn new(routing_key: impl Into<String>) -> PagerDutySettings {
        PagerDutySettings {
            routing_key: routing_key.into(),
            url: EVENTS_V2_URL.into(),
            client: r#"{{ template "pagerduty.default.client" . }}"#.into(),
            client_url: r#"{{ template "pagerduty.default.clientURL" . }}"#.into(),
            description: r#"{{ template "pagerduty.default.description" .}}"#.into(),
            details: default_details(),
            images: Vec::new(),
            links: Vec::new(),
            source: None,
            severity: None,
            class: String::new(),
            component: String::new(),
            group: String::new(),
            send_resolved: true,
            http: HttpSettings::default(),
        }
    }
}

/// Alertmanager's `DefaultPagerdutyDetails`.
pub fn default_details() -> BTreeMap<String, String> {
    [
        (
            "firing",
            r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
        ),
        (
            "resolved",
            r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
        ),
        ("num_firing", "{{ .Alerts.Firing | len }}"),
        ("num_resolved", "{{ .Alerts.Resolved | len }}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// An Events API v2 event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PagerDutyEvent {
    pub routing_key: String,
    pub dedup_key: String,
    pub event_action: String,
    pub payload: PagerDutyPayload,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<PagerDutyImage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<PagerDutyLink>,
}

/// The event's `payload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PagerDutyPayload {
    pub summary: String,
    pub source: String,
    pub severity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub class: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub component: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_details: BTreeMap<String, String>,
}

/// Alertmanager's `notify.Key.Hash`: lower-case hex SHA-256.
pub fn dedup_key(group_key: &str) -> String {
    hex::encode(Sha256::digest(group_key.as_bytes()))
}

/// Alertmanager's `notify.Truncate`: at most `n` characters, the last
/// replaced by `…` when cut.
pub fn truncate_chars(s: &str, n: usize) -> (String, bool) {
    let count = s.chars().count();
    if count <= n {
        return (s.to_string(), false);
    }
    if n <= 3 {
        return (s.chars().take(n).collect(), true);
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('…');
    (out, true)
}

/// Maps a `severity` label value onto PagerDuty's four severities.
pub fn map_severity(label: &str) -> &'static str {
    match label.to_ascii_lowercase().as_str() {
        "critical" | "crit" | "page" | "p1" | "fatal" | "emergency" => "critical",
        "warning" | "warn" | "minor" | "p3" => "warning",
        "info" | "informational" | "low" | "none" | "p4" | "p5" => "info",
        _ => "error",
    }
}

fn severity_from_labels(data: &TemplateData) -> &'static str {
    if let Some(s) = data.common_labels.get("severity") {
        return map_severity(s);
    }
    // Mixed severities: the most severe firing (else any) alert's.
    let rank = |s: &str| {
        ["info", "warning", "error", "critical"]
            .iter()
            .position(|x| *x == s)
    };
    let pool: Vec<_> = if data.firing().next().is_some() {
        data.firing().collect()
    } else {
        data.alerts.iter().collect()
    };
    pool.iter()
        .filter_map(|a| a.labels.get("severity").map(map_severity))
        .max_by_key(|s| rank(s))
        .unwrap_or("error")
}

/// Builds the event, or `None` when nothing is to be sent.
pub fn build_event(
    n: &Notification,
    s: &PagerDutySettings,
    templates: &Templates,
) -> Result<Option<PagerDutyEvent>, NotifyError> {
    let alerts = select_alerts(n, s.send_resolved);
    if alerts.is_empty() {
        return Ok(None);
    }
    let data = TemplateData::new(n, &alerts);
    let tmpl = |t: &str| templates.render_for(INTEGRATION, t, &data);
    let event_action = match (&n.kind, data.status) {
        (NotifyKind::Acknowledged { .. }, _) => "acknowledge",
        (_, "resolved") => "resolve",
        _ => "trigger",
    };
    let mut details = BTreeMap::new();
    for (k, v) in &s.details {
        details.insert(k.clone(), tmpl(v)?);
    }
    let client = tmpl(&s.client)?;
    let severity = match &s.severity {
        Some(t) => tmpl(t)?,
        None => severity_from_labels(&data).to_string(),
    };
    let (summary, _) = truncate_chars(&tmpl(&s.description)?, MAX_SUMMARY_CHARS);
    let mut links = Vec::new();
    for l in &s.links {
        links.push(PagerDutyLink {
            href: tmpl(&l.href)?,
            text: tmpl(&l.text)?,
        });
    }
    let mut runbooks: Vec<&str> = alerts
        .iter()
        .filter_map(|a| a.annotations.get("runbook_url"))
        .filter(|u| !u.is_empty())
        .collect();
    runbooks.dedup();
    for href in runbooks {
        if !links.iter().any(|l| l.href == href) {
            links.push(PagerDutyLink {
                href: href.to_string(),
                text: "Runbook".into(),
            });
        }
    }
    let mut images = Vec::new();
    for i in &s.images {
        images.push(PagerDutyImage {
            src: tmpl(&i.src)?,
            alt: tmpl(&i.alt)?,
            href: tmpl(&i.href)?,
        });
    }
    Ok(Some(PagerDutyEvent {
        routing_key: tmpl(&s.routing_key)?,
        dedup_key: dedup_key(&n.group_key),
        event_action: event_action.into(),
        payload: PagerDutyPayload {
            summary,
            source: match &s.source {
                Some(t) => tmpl(t)?,
                None => client.clone(),
            },
            severity,
            timestamp: None,
            class: tmpl(&s.class)?,
            component: tmpl(&s.component)?,
            group: tmpl(&s.group)?,
            custom_details: details,
        },
        client,
        client_url: tmpl(&s.client_url)?,
        images,
        links,
    }))
}

/// Serialises an event, replacing the custom details when the event is
/// over [`MAX_EVENT_SIZE`] (Alertmanager's behaviour).
pub fn encode_event(mut ev: PagerDutyEvent) -> Result<Vec<u8>, NotifyError> {
    let enc = |ev: &PagerDutyEvent| {
        crate::data::to_go_json(ev).map_err(|e| NotifyError::Invalid {
            integration: INTEGRATION,
            message: e.to_string(),
        })
    };
    let body = enc(&ev)?;
    if body.len() <= MAX_EVENT_SIZE {
        return Ok(body);
    }
    ev.payload.custom_details = BTreeMap::from([(
        "error".to_string(),
        "Custom details have been removed because the original event exceeds the maximum size of 512KB".to_string(),
    )]);
    let body = enc(&ev)?;
    if body.len() > MAX_EVENT_SIZE {
        return Err(NotifyError::Invalid {
            integration: INTEGRATION,
            message: format!("event of {} bytes exceeds 512KB", body.len()),
        });
    }
    Ok(body)
}

/// Sends Events API v2 events.
pub struct PagerDutyNotifier {
    settings: PagerDutySettings,
    templates: Arc<Templates>,
    client: reqwest::Client,
}

impl PagerDutyNotifier {
    pub fn new(
        settings: PagerDutySettings,
        templates: Arc<Templates>,
    ) -> Result<PagerDutyNotifier, NotifyError> {
        let client = client(INTEGRATION, &settings.http)?;
        Ok(PagerDutyNotifier {
            settings,
            templates,
            client,
        })
    }

    async fn send(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        let Some(ev) = build_event(n, &self.settings, &self.templates)? else {
            return Ok(Delivered::skipped());
        };
        let key = ev.dedup_key.clone();
        let body = encode_event(ev)?;
        let (status, retry_after, text) = post_json(
            INTEGRATION,
            &self.client,
            &self.settings.url,
            &self.settings.http.auth,
            body,
        )
        .await?;
        check_status(INTEGRATION, status, text, &[429], retry_after)?;
        Ok(Delivered {
            sent: true,
            dedup_key: Some(key),
            ..Delivered::default()
        })
    }
}

impl Notifier for PagerDutyNotifier {
    fn integration(&self) -> &'static str {
        INTEGRATION
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(self.send(n))
    }
}
