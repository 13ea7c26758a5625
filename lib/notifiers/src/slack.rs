//! Slack: incoming webhooks (`api_url`, Alertmanager's mode) or a bot
//! token (`chat.postMessage` / `chat.update`, Watchfire's addition), with
//! Block Kit messages (see `slack_blocks`).
//!
//! In bot mode the message posted for a group (`channel` + `ts`) is kept
//! per group key and returned in [`Delivered::slack_message`] for the
//! caller to persist ([`SlackNotifier::remember`] restores it); an
//! acknowledgement or a resolved notification updates that message with
//! `chat.update` (falling back to a new post when Slack no longer knows
//! it), a firing notification posts a new one.
//!
//! Errors: HTTP 429 (with `Retry-After`) and 5xx are retried; a 200 with
//! `{"ok":false,"error":e}` is a failure, retried only for `ratelimited`
//! and Slack's transient errors; webhook error strings (`invalid_payload`,
//! `channel_not_found`, … with 4xx) are permanent. Alertmanager 0.25 uses
//! legacy attachments and retries only 5xx.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use watchfire_alertmodel::NotifyKind;

use crate::data::{select_alerts, TemplateData};
use crate::error::{check_status, truncate_body};
use crate::http::{client, HttpSettings};
use crate::slack_blocks::{blocks, Rendered};
use crate::templates::Templates;
use crate::{Delivered, Notification, Notifier, NotifyError, NotifyFuture};

pub use crate::slack_blocks::{action_value, ACTION_ACK, ACTION_RUNBOOK, ACTION_SILENCE_1H};

const INTEGRATION: &str = "slack";

/// Slack's Web API base.
pub const SLACK_API_BASE: &str = "https://slack.com/api";

/// How messages reach Slack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackTarget {
    /// An incoming webhook URL (`api_url` / `api_url_file`).
    Webhook { url: String },
    /// A bot token (`xoxb-…`) for `chat.postMessage`/`chat.update`;
    /// `api_base` is [`SLACK_API_BASE`] outside tests.
    Bot { token: String, api_base: String },
}

/// A Slack receiver's settings (`slack_configs[]`); strings are templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackSettings {
    pub target: SlackTarget,
    /// Required in bot mode; overrides the webhook's channel otherwise.
    pub channel: String,
    pub username: String,
    pub title: String,
    pub title_link: String,
    /// When it renders non-empty it replaces the generated alert list.
    pub text: String,
    /// Alertmanager's default: false.
    pub send_resolved: bool,
    /// Whether to add the Acknowledge / Silence 1h / Runbook buttons.
    pub actions: bool,
    pub http: HttpSettings,
}

impl SlackSettings {
    /// Alertmanager's defaults for a target.
    pub fn new(target: SlackTarget) -> SlackSettings {
        SlackSettings {
            target,
            channel: String::new(),
            username: r#"{{ template "slack.default.username" . }}"#.into(),
            title: r#"{{ template "slack.default.title" . }}"#.into(),
            title_link: r#"{{ template "slack.default.titlelink" . }}"#.into(),
            text: r#"{{ template "slack.default.text" . }}"#.into(),
            send_resolved: false,
            actions: true,
            http: HttpSettings::default(),
        }
    }
}

/// A posted message: what `chat.update` needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackMessageRef {
    pub channel: String,
    pub ts: String,
}

/// Slack errors worth another attempt.
fn transient(error: &str) -> bool {
    matches!(
        error,
        "ratelimited"
            | "internal_error"
            | "fatal_error"
            | "service_unavailable"
            | "request_timeout"
    )
}

/// Builds the message body (without `channel`/`ts`), or `None` when there
/// is nothing to send.
pub fn build_message(
    n: &Notification,
    s: &SlackSettings,
    templates: &Templates,
) -> Result<Option<Value>, NotifyError> {
    let alerts = select_alerts(n, s.send_resolved);
    if alerts.is_empty() {
        return Ok(None);
    }
    let data = TemplateData::new(n, &alerts);
    let tmpl = |t: &str| templates.render_for(INTEGRATION, t, &data);
    let title = tmpl(&s.title)?;
    let acked_by = match &n.kind {
        NotifyKind::Acknowledged { by } => Some(by.as_str()),
        NotifyKind::Alerts => None,
    };
    let r = Rendered {
        title: title.clone(),
        title_link: tmpl(&s.title_link)?,
        text: tmpl(&s.text)?,
        data: &data,
        group_key: &n.group_key,
        acked_by,
        actions: s.actions,
    };
    let mut msg = json!({ "text": title, "blocks": blocks(&r) });
    let username = tmpl(&s.username)?;
    if !username.is_empty() {
        msg["username"] = Value::String(username);
    }
    let channel = tmpl(&s.channel)?;
    if !channel.is_empty() {
        msg["channel"] = Value::String(channel);
    }
    Ok(Some(msg))
}

/// Sends Slack messages.
pub struct SlackNotifier {
    settings: SlackSettings,
    templates: Arc<Templates>,
    client: reqwest::Client,
    messages: Mutex<HashMap<String, SlackMessageRef>>,
}

impl SlackNotifier {
    pub fn new(
        settings: SlackSettings,
        templates: Arc<Templates>,
    ) -> Result<SlackNotifier, NotifyError> {
        let client = client(INTEGRATION, &settings.http)?;
        Ok(SlackNotifier {
            settings,
            templates,
            client,
            messages: Mutex::new(HashMap::new()),
        })
    }

    /// Restores the message posted for a group (after a restart).
    pub fn remember(&self, group_key: &str, msg: SlackMessageRef) {
        if let Ok(mut m) = self.messages.lock() {
            m.insert(group_key.to_string(), msg);
        }
    }

    /// The message known for a group.
    pub fn message_for(&self, group_key: &str) -> Option<SlackMessageRef> {
        self.messages.lock().ok()?.get(group_key).cloned()
    }

    /// Drops the message of a group that ended.
    pub fn forget(&self, group_key: &str) {
        if let Ok(mut m) = self.messages.lock() {
            m.remove(group_key);
        }
    }

    async fn send(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        let Some(msg) = build_message(n, &self.settings, &self.templates)? else {
            return Ok(Delivered::skipped());
        };
        match &self.settings.target {
            SlackTarget::Webhook { url } => {
                let req = self.client.post(url).json(&msg);
                let resp = crate::http::with_auth(req, &self.settings.http.auth)
                    .send()
                    .await
                    .map_err(|e| NotifyError::transport(INTEGRATION, &e))?;
                let (status, retry_after, body) =
                    crate::error::read_response(INTEGRATION, resp).await?;
                check_status(INTEGRATION, status, body, &[429], retry_after)?;
                Ok(Delivered::sent())
            }
            SlackTarget::Bot { token, api_base } => {
                let update = matches!(n.kind, NotifyKind::Acknowledged { .. })
                    || n.status() == watchfire_alertmodel::AlertStatus::Resolved;
                let known = if update {
                    self.message_for(&n.group_key)
                } else {
                    None
                };
                let posted = match known {
                    Some(prev) => {
                        let mut body = msg.clone();
                        body["channel"] = Value::String(prev.channel.clone());
                        body["ts"] = Value::String(prev.ts.clone());
                        match self.call(api_base, "chat.update", token, &body).await {
                            Err(NotifyError::Api { error, .. }) if error == "message_not_found" => {
                                self.call(api_base, "chat.postMessage", token, &msg).await?
                            }
                            other => other?,
                        }
                    }
                    None => self.call(api_base, "chat.postMessage", token, &msg).await?,
                };
                self.remember(&n.group_key, posted.clone());
                Ok(Delivered {
                    sent: true,
                    slack_message: Some(posted),
                    ..Delivered::default()
                })
            }
        }
    }

    async fn call(
        &self,
        api_base: &str,
        method: &str,
        token: &str,
        body: &Value,
    ) -> Result<SlackMessageRef, NotifyError> {
        let url = format!("{}/{method}", api_base.trim_end_matches('/'));
        let resp = self
            .client
            .post(url)
            .bearer_auth(token)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(serde_json::to_vec(body).unwrap_or_default())
            .send()
            .await
            .map_err(|e| NotifyError::transport(INTEGRATION, &e))?;
        let (status, retry_after, text) = crate::error::read_response(INTEGRATION, resp).await?;
        check_status(INTEGRATION, status, text.clone(), &[429], retry_after)?;
        let v: Value = serde_json::from_str(&text).map_err(|_| NotifyError::Api {
            integration: INTEGRATION,
            error: format!("unparsable response: {}", truncate_body(text.clone())),
            retryable: false,
            retry_after: None,
        })?;
        if v["ok"].as_bool() != Some(true) {
            let error = v["error"].as_str().unwrap_or("unknown_error").to_string();
            return Err(NotifyError::Api {
                retryable: transient(&error),
                retry_after,
                integration: INTEGRATION,
                error,
            });
        }
        match (v["channel"].as_str(), v["ts"].as_str()) {
            (Some(c), Some(ts)) => Ok(SlackMessageRef {
                channel: c.to_string(),
                ts: ts.to_string(),
            }),
            _ => Err(NotifyError::Api {
                integration: INTEGRATION,
                error: "response without channel/ts".into(),
                retryable: false,
                retry_after: None,
            }),
        }
    }
}

impl Notifier for SlackNotifier {
    fn integration(&self) -> &'static str {
        INTEGRATION
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(self.send(n))
    }
}
