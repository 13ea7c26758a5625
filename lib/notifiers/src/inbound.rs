//! Inbound requests from Slack and PagerDuty: signature verification and
//! parsing of interactive actions / incident events. Pure: the caller
//! passes the raw body, the headers' values and the current time.
//!
//! - Slack signs `v0:{X-Slack-Request-Timestamp}:{raw body}` with
//!   HMAC-SHA256 under the app's signing secret and sends
//!   `X-Slack-Signature: v0=<hex>`; requests more than 5 minutes away from
//!   now are rejected (replay protection).
//! - PagerDuty v3 webhooks send `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`
//!   (several while a secret rotates), each an HMAC-SHA256 of the raw body.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Slack's replay window.
pub const SLACK_MAX_SKEW_SECS: i64 = 300;

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or malformed timestamp")]
    BadTimestamp,
    #[error("timestamp {0}s away from now (more than 5 minutes)")]
    Stale(i64),
    #[error("missing or malformed signature header")]
    BadHeader,
    #[error("signature mismatch")]
    Mismatch,
    #[error("empty signing secret")]
    NoSecret,
}

/// An inbound body that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("form body without a `payload` field")]
    NoPayload,
    #[error("bad form body: {0}")]
    Form(String),
    #[error("bad JSON: {0}")]
    Json(String),
}

fn mac(secret: &[u8], parts: &[&[u8]]) -> Result<HmacSha256, SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let mut m = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::NoSecret)?;
    for p in parts {
        m.update(p);
    }
    Ok(m)
}

/// Verifies a Slack request signature at `now_secs` (Unix seconds).
pub fn verify_slack_signature(
    signing_secret: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_secs: i64,
) -> Result<(), SignatureError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let skew = now_secs.saturating_sub(ts);
    if skew.abs() > SLACK_MAX_SKEW_SECS {
        return Err(SignatureError::Stale(skew));
    }
    let hex_sig = signature
        .trim()
        .strip_prefix("v0=")
        .ok_or(SignatureError::BadHeader)?;
    let sig = hex::decode(hex_sig).map_err(|_| SignatureError::BadHeader)?;
    mac(
        signing_secret.as_bytes(),
        &[b"v0:", timestamp.trim().as_bytes(), b":", body],
    )?
    .verify_slice(&sig)
    .map_err(|_| SignatureError::Mismatch)
}

/// The `X-Slack-Signature` value for a body (for tests and fakes).
pub fn slack_signature(signing_secret: &str, timestamp: &str, body: &[u8]) -> String {
    let m = mac(
        signing_secret.as_bytes(),
        &[b"v0:", timestamp.as_bytes(), b":", body],
    );
    match m {
        Ok(m) => format!("v0={}", hex::encode(m.finalize().into_bytes())),
        Err(_) => String::new(),
    }
}

/// Verifies `X-PagerDuty-Signature`: accepted when any `v1=` signature
/// matches.
pub fn verify_pagerduty_signature(
    secret: &str,
    header: &str,
    body: &[u8],
) -> Result<(), SignatureError> {
    let m = mac(secret.as_bytes(), &[body])?;
    let mut any = false;
    for part in header.split(',').map(str::trim) {
        let Some(h) = part.strip_prefix("v1=") else {
            continue;
        };
        any = true;
        if let Ok(sig) = hex::decode(h) {
            if m.clone().verify_slice(&sig).is_ok() {
                return Ok(());
            }
        }
    }
    if any {
        Err(SignatureError::Mismatch)
    } else {
        Err(SignatureError::BadHeader)
    }
}

/// The `X-PagerDuty-Signature` value for a body (for tests and fakes).
pub fn pagerduty_signature(secret: &str, body: &[u8]) -> String {
    match mac(secret.as_bytes(), &[body]) {
        Ok(m) => format!("v1={}", hex::encode(m.finalize().into_bytes())),
        Err(_) => String::new(),
    }
}

/// One button press from a Slack `block_actions` payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackAction {
    pub action_id: String,
    /// The button's value (the group key for Watchfire's buttons).
    pub value: Option<String>,
    pub user_id: String,
    /// `username`, else `name`, else the id.
    pub user_name: String,
    /// The message the button was on, for `chat.update`.
    pub channel: Option<String>,
    pub message_ts: Option<String>,
}

#[derive(Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    user: Option<SlackUser>,
    #[serde(default)]
    actions: Vec<RawAction>,
    #[serde(default)]
    channel: Option<IdOnly>,
    #[serde(default)]
    container: Option<Container>,
}

#[derive(Deserialize)]
struct SlackUser {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawAction {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    message_ts: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
}

/// Parses an interactive request body (`application/x-www-form-urlencoded`
/// with a `payload` JSON field). Payloads other than `block_actions` yield
/// no actions.
pub fn parse_slack_interaction(body: &[u8]) -> Result<Vec<SlackAction>, InboundError> {
    let form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| InboundError::Form(e.to_string()))?;
    let payload = form
        .into_iter()
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v)
        .ok_or(InboundError::NoPayload)?;
    let i: Interaction =
        serde_json::from_str(&payload).map_err(|e| InboundError::Json(e.to_string()))?;
    if i.kind != "block_actions" {
        return Ok(Vec::new());
    }
    let (user_id, user_name) = match i.user {
        Some(u) => {
            let name = u.username.or(u.name).unwrap_or_else(|| u.id.clone());
            (u.id, name)
        }
        None => (String::new(), String::new()),
    };
    let channel = i
        .channel
        .map(|c| c.id)
        .or_else(|| i.container.as_ref().and_then(|c| c.channel_id.clone()));
    let ts = i.container.and_then(|c| c.message_ts);
    Ok(i.actions
        .into_iter()
        .map(|a| SlackAction {
            action_id: a.action_id,
            value: a.value,
            user_id: user_id.clone(),
            user_name: user_name.clone(),
            channel: channel.clone(),
            message_ts: ts.clone(),
        })
        .collect())
}

/// A PagerDuty v3 webhook event (the fields Watchfire uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagerDutyEventInfo {
    /// e.g. `incident.acknowledged`, `incident.resolved`.
    pub event_type: String,
    pub incident_id: String,
    /// The incident key: for Events API v2 incidents, the `dedup_key`
    /// Watchfire sent (SHA-256 of the group key).
    pub incident_key: Option<String>,
    /// Who acted (`agent.summary`).
    pub agent: Option<String>,
}

impl PagerDutyEventInfo {
    /// The dedup key of an acknowledgement, if this is one.
    pub fn acknowledged_dedup_key(&self) -> Option<&str> {
        (self.event_type == "incident.acknowledged")
            .then_some(self.incident_key.as_deref())
            .flatten()
    }
}

#[derive(Deserialize)]
struct PdEnvelope {
    event: PdEvent,
}

#[derive(Deserialize)]
struct PdEvent {
    event_type: String,
    #[serde(default)]
    agent: Option<PdRef>,
    data: PdData,
}

#[derive(Deserialize)]
struct PdRef {
    #[serde(default)]
    summary: Option<String>,
}

#[derive(Deserialize)]
struct PdData {
    #[serde(default)]
    id: String,
    #[serde(default)]
    incident_key: Option<String>,
}

/// Parses a PagerDuty v3 webhook body.
pub fn parse_pagerduty_event(body: &[u8]) -> Result<PagerDutyEventInfo, InboundError> {
    let env: PdEnvelope =
        serde_json::from_slice(body).map_err(|e| InboundError::Json(e.to_string()))?;
    Ok(PagerDutyEventInfo {
        event_type: env.event.event_type,
        incident_id: env.event.data.id,
        incident_key: env.event.data.incident_key,
        agent: env.event.agent.and_then(|a| a.summary),
    })
}
