//! The webhook integration: Alertmanager's version-4 JSON payload POSTed
//! to a URL.
//!
//! As in Alertmanager 0.25: resolved alerts are dropped when
//! `send_resolved` is off, the alert list is cut to `max_alerts` (the data,
//! including `commonLabels`, is built from the kept alerts) and
//! `truncatedAlerts` says how many were dropped; 2xx is success, 5xx is
//! retried, anything else is permanent. Watchfire also retries 429 and
//! honours `Retry-After` (Alertmanager does neither for webhooks).

use serde::Serialize;
use watchfire_alertmodel::NotifyKind;

use crate::data::{select_alerts, truncate_alerts, TemplateData};
use crate::error::check_status;
use crate::http::{client, post_json, HttpSettings};
use crate::{Delivered, Notification, Notifier, NotifyError, NotifyFuture};

const INTEGRATION: &str = "webhook";

/// A webhook receiver's settings (`webhook_configs[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Where to POST (already read from `url_file` when given).
    pub url: String,
    /// Alertmanager's default: true.
    pub send_resolved: bool,
    /// 0 means all alerts.
    pub max_alerts: usize,
    pub http: HttpSettings,
}

/// Alertmanager's webhook `Message` (version 4).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookMessage {
    #[serde(flatten)]
    pub data: TemplateData,
    pub version: &'static str,
    pub group_key: String,
    pub truncated_alerts: usize,
}

/// Builds the payload, or `None` when there is nothing to send.
/// Acknowledgements (a Watchfire notion) send nothing.
pub fn build_message(n: &Notification, s: &WebhookSettings) -> Option<WebhookMessage> {
    if matches!(n.kind, NotifyKind::Acknowledged { .. }) {
        return None;
    }
    let alerts = select_alerts(n, s.send_resolved);
    if alerts.is_empty() {
        return None;
    }
    let (alerts, truncated) = truncate_alerts(alerts, s.max_alerts);
    Some(WebhookMessage {
        data: TemplateData::new(n, &alerts),
        version: "4",
        group_key: n.group_key.clone(),
        truncated_alerts: truncated,
    })
}

/// Sends Alertmanager's webhook payload.
pub struct WebhookNotifier {
    settings: WebhookSettings,
    client: reqwest::Client,
}

impl WebhookNotifier {
    pub fn new(settings: WebhookSettings) -> Result<WebhookNotifier, NotifyError> {
        let client = client(INTEGRATION, &settings.http)?;
        Ok(WebhookNotifier { settings, client })
    }

    async fn send(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        let Some(msg) = build_message(n, &self.settings) else {
            return Ok(Delivered::skipped());
        };
        let body = crate::data::to_go_json(&msg).map_err(|e| NotifyError::Invalid {
            integration: INTEGRATION,
            message: e.to_string(),
        })?;
        let (status, retry_after, text) = post_json(
            INTEGRATION,
            &self.client,
            &self.settings.url,
            &self.settings.http.auth,
            body,
        )
        .await?;
        check_status(INTEGRATION, status, text, &[429], retry_after)?;
        Ok(Delivered::sent())
    }
}

impl Notifier for WebhookNotifier {
    fn integration(&self) -> &'static str {
        INTEGRATION
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(self.send(n))
    }
}
