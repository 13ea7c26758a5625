//! A fake PagerDuty Events API v2 (`POST /v2/enqueue`) that validates
//! events as PagerDuty documents them: JSON content type, at most 512 KB,
//! a 32-character `routing_key`, `event_action` in
//! trigger/acknowledge/resolve, a `dedup_key` of at most 255 characters,
//! and for triggers a payload with a non-empty `summary` (≤1024
//! characters), a non-empty `source` and a `severity` in
//! critical/error/warning/info. Answers 202 `{"status":"success",…}` or
//! 400 `{"status":"invalid event",…}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{serve, FakeServer, FakeState, Recorded};

/// Checks an event; the errors PagerDuty would list.
pub fn validate_event(content_type: Option<&str>, body: &[u8]) -> Vec<String> {
    let mut errs = Vec::new();
    if !content_type.is_some_and(|c| c.starts_with("application/json")) {
        errs.push("Content-Type must be application/json".to_string());
    }
    if body.len() > crate::pagerduty::MAX_EVENT_SIZE {
        errs.push("Event exceeds 512KB".to_string());
    }
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            errs.push("Invalid JSON".into());
            return errs;
        }
    };
    match v["routing_key"].as_str() {
        Some(k) if k.len() == 32 => {}
        _ => errs.push("'routing_key' must be a 32 character string".into()),
    }
    let action = v["event_action"].as_str().unwrap_or("");
    if !["trigger", "acknowledge", "resolve"].contains(&action) {
        errs.push("'event_action' is invalid".into());
    }
    if let Some(k) = v.get("dedup_key") {
        if k.as_str().is_none_or(|k| k.len() > 255) {
            errs.push("'dedup_key' must be a string of at most 255 characters".into());
        }
    } else if action != "trigger" {
        errs.push("'dedup_key' is required for acknowledge and resolve".into());
    }
    if action == "trigger" {
        let p = &v["payload"];
        match p["summary"].as_str() {
            Some(s) if !s.is_empty() && s.chars().count() <= 1024 => {}
            _ => errs.push("'payload.summary' is missing or too long".into()),
        }
        if p["source"].as_str().is_none_or(|s| s.is_empty()) {
            errs.push("'payload.source' is missing".into());
        }
        if !p["severity"]
            .as_str()
            .is_some_and(|s| ["critical", "error", "warning", "info"].contains(&s))
        {
            errs.push("'payload.severity' is invalid".into());
        }
    }
    errs
}

async fn enqueue(State(st): State<Arc<FakeState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = st.next_failure() {
        return r;
    }
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok());
    let errs = validate_event(ct, &body);
    if !errs.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"status": "invalid event", "message": "Event object is invalid", "errors": errs})),
        )
            .into_response();
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = v["dedup_key"]
        .as_str()
        .unwrap_or("generated-dedup-key")
        .to_string();
    st.record(Recorded::new("/v2/enqueue", &headers, &body));
    (
        StatusCode::ACCEPTED,
        Json(json!({"status": "success", "message": "Event processed", "dedup_key": key})),
    )
        .into_response()
}

/// Starts the fake; send events to `{base_url}/v2/enqueue`.
pub async fn start() -> std::io::Result<FakeServer> {
    let state = Arc::new(FakeState::default());
    let router = Router::new()
        .route("/v2/enqueue", post(enqueue))
        .with_state(state.clone());
    serve(router, state).await
}
