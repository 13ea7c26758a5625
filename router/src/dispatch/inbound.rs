//! Acknowledgements from outside: Slack's interactive buttons and
//! PagerDuty's v3 webhooks. Both are verified with their signing secrets
//! before anything happens; a forged or stale request gets 401 and acks
//! nothing.
//!
//! - Slack `block_actions`: `watchfire_ack` acknowledges the group named
//!   in the button's value; `watchfire_silence_1h` silences the group's
//!   labels for an hour. The answer is 200 with an empty body, as Slack
//!   wants within 3 s.
//! - PagerDuty `incident.acknowledged`: the incident key is the
//!   `dedup_key` Watchfire sent (SHA-256 of the group key), mapped back
//!   to the group.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use watchfire_dispatch::{MatcherRecord, SilenceSpec};
use watchfire_notifiers::inbound::{
    parse_pagerduty_event, parse_slack_interaction, verify_pagerduty_signature,
    verify_slack_signature,
};
use watchfire_notifiers::pagerduty::dedup_key;
use watchfire_notifiers::slack::{ACTION_ACK, ACTION_SILENCE_1H};

use super::api::{bad, ApiError, ApiState, Body};

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The group key a Slack button value or PagerDuty incident key names.
fn resolve_group(st: &ApiState, value: &str) -> Option<String> {
    let groups: Vec<String> = st
        .service
        .read(|c, _| c.escalations().into_iter().map(|e| e.group_key).collect());
    if let Some(hash) = value.strip_prefix("sha256:") {
        return groups.into_iter().find(|g| dedup_key(g) == hash);
    }
    if groups.iter().any(|g| g == value) {
        return Some(value.to_string());
    }
    groups.into_iter().find(|g| dedup_key(g) == value)
}

/// `POST /api/watchfire/v1/slack/actions`.
pub async fn slack_actions(
    State(st): State<ApiState>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<StatusCode, ApiError> {
    let Some(secret) = &st.slack_secret else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "Slack actions are not configured (dispatch.slack_signing_secret_file)".into(),
        ));
    };
    let now_secs = st.service.now().div_euclid(1000);
    verify_slack_signature(
        secret,
        header(&headers, "x-slack-request-timestamp"),
        header(&headers, "x-slack-signature"),
        &body,
        now_secs,
    )
    .map_err(|e| ApiError(StatusCode::UNAUTHORIZED, format!("Slack signature: {e}")))?;
    let actions = parse_slack_interaction(&body).map_err(|e| bad(e.to_string()))?;
    for a in actions {
        let value = a.value.clone().unwrap_or_default();
        let who = if a.user_name.is_empty() {
            format!("slack:{}", a.user_id)
        } else {
            format!("slack:{}", a.user_name)
        };
        if a.action_id == ACTION_ACK {
            let Some(g) = resolve_group(&st, &value) else {
                return Err(ApiError(
                    StatusCode::NOT_FOUND,
                    "no escalation for this group".into(),
                ));
            };
            st.service.ack(&g, &who).await?;
        } else if a.action_id == ACTION_SILENCE_1H {
            let labels = st.service.read(|c, now| {
                c.alert_groups(now)
                    .into_iter()
                    .find(|g| {
                        g.group_key == value
                            || format!("sha256:{}", dedup_key(&g.group_key)) == value
                    })
                    .map(|g| g.labels)
            });
            let Some(labels) = labels.filter(|l| !l.is_empty()) else {
                return Err(ApiError(
                    StatusCode::NOT_FOUND,
                    "no such group to silence".into(),
                ));
            };
            let now = st.service.now();
            st.service
                .set_silence(SilenceSpec {
                    id: None,
                    matchers: labels
                        .iter()
                        .map(|(k, v)| MatcherRecord {
                            name: k.to_string(),
                            op: "=".into(),
                            value: v.to_string(),
                        })
                        .collect(),
                    starts_at: now,
                    ends_at: now + 3_600_000,
                    created_by: who,
                    comment: "Silence 1h from Slack".into(),
                })
                .await?;
        }
    }
    Ok(StatusCode::OK)
}

/// `POST /api/watchfire/v1/pagerduty/webhook`.
pub async fn pagerduty_webhook(
    State(st): State<ApiState>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(secret) = &st.pagerduty_secret else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "PagerDuty webhooks are not configured (dispatch.pagerduty_webhook_secret_file)".into(),
        ));
    };
    verify_pagerduty_signature(secret, header(&headers, "x-pagerduty-signature"), &body).map_err(
        |e| {
            ApiError(
                StatusCode::UNAUTHORIZED,
                format!("PagerDuty signature: {e}"),
            )
        },
    )?;
    let ev = parse_pagerduty_event(&body).map_err(|e| bad(e.to_string()))?;
    let Some(key) = ev.acknowledged_dedup_key() else {
        return Ok(Json(serde_json::json!({ "ignored": ev.event_type })));
    };
    let Some(group) = resolve_group(&st, key) else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "no escalation for this incident".into(),
        ));
    };
    let by = format!("pagerduty:{}", ev.agent.as_deref().unwrap_or("unknown"));
    let changed = st.service.ack(&group, &by).await?;
    Ok(Json(
        serde_json::json!({ "acknowledged": true, "changed": changed }),
    ))
}
