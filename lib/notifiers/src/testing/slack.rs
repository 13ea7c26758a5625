//! A fake Slack: `POST /api/chat.postMessage` and `/api/chat.update` (Web
//! API: bearer token, `channel`, Block Kit limits; answers 200 with
//! `{"ok":true,"channel":…,"ts":…}` or `{"ok":false,"error":…}`) and
//! `POST /services/hook` (an incoming webhook: `ok` or 400
//! `invalid_payload`/`invalid_blocks`).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{serve, FakeServer, FakeState, Recorded};

/// Block Kit violations (Slack answers `invalid_blocks`).
pub fn validate_blocks(blocks: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let Some(list) = blocks.as_array() else {
        return vec!["blocks must be an array".into()];
    };
    if list.len() > 50 {
        errs.push("more than 50 blocks".into());
    }
    let text_len = |v: &Value| v["text"].as_str().map_or(0, |t| t.chars().count());
    for b in list {
        match b["type"].as_str().unwrap_or("") {
            "header" => {
                if b["text"]["type"] != "plain_text"
                    || text_len(&b["text"]) == 0
                    || text_len(&b["text"]) > 150
                {
                    errs.push("header needs plain_text of 1..150 characters".into());
                }
            }
            "section" => {
                let n = text_len(&b["text"]);
                if n == 0 || n > 3000 {
                    errs.push("section text must be 1..3000 characters".into());
                }
            }
            "context" => {
                let els = b["elements"].as_array().map_or(0, Vec::len);
                if els == 0 || els > 10 {
                    errs.push("context needs 1..10 elements".into());
                }
            }
            "actions" => {
                let els = b["elements"].as_array().cloned().unwrap_or_default();
                if els.is_empty() || els.len() > 25 {
                    errs.push("actions needs 1..25 elements".into());
                }
                for e in els {
                    let t = text_len(&e["text"]);
                    if e["type"] != "button" || t == 0 || t > 75 {
                        errs.push("button needs text of 1..75 characters".into());
                    }
                    if e["value"]
                        .as_str()
                        .is_some_and(|v| v.chars().count() > 2000)
                    {
                        errs.push("button value over 2000 characters".into());
                    }
                    if e["action_id"]
                        .as_str()
                        .is_none_or(|a| a.is_empty() || a.len() > 255)
                    {
                        errs.push("button needs an action_id".into());
                    }
                }
            }
            "divider" => {}
            other => errs.push(format!("unsupported block type {other:?}")),
        }
    }
    errs
}

struct SlackState {
    fake: Arc<FakeState>,
    token: String,
    next_ts: Mutex<u64>,
    /// (channel, ts) of posted messages.
    posted: Mutex<Vec<(String, String)>>,
}

fn err(e: &str) -> Response {
    (StatusCode::OK, Json(json!({"ok": false, "error": e}))).into_response()
}

fn check_web_api(st: &SlackState, headers: &HeaderMap, body: &[u8]) -> Result<Value, &'static str> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    match auth.and_then(|a| a.strip_prefix("Bearer ")) {
        None => return Err("not_authed"),
        Some(t) if t != st.token => return Err("invalid_auth"),
        Some(_) => {}
    }
    if !headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return Err("invalid_form_data");
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| "invalid_json")?;
    if v["channel"].as_str().is_none_or(|c| c.is_empty()) {
        return Err("channel_not_found");
    }
    if v.get("blocks").is_some() && !validate_blocks(&v["blocks"]).is_empty() {
        return Err("invalid_blocks");
    }
    if v.get("blocks").is_none() && v["text"].as_str().is_none_or(|t| t.is_empty()) {
        return Err("no_text");
    }
    Ok(v)
}

async fn post_message(
    State(st): State<Arc<SlackState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = st.fake.next_failure() {
        return r;
    }
    let v = match check_web_api(&st, &headers, &body) {
        Ok(v) => v,
        Err(e) => return err(e),
    };
    let channel = v["channel"].as_str().unwrap_or("").to_string();
    let ts = {
        let mut n = st.next_ts.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        format!("1700000000.{:06}", *n)
    };
    if let Ok(mut p) = st.posted.lock() {
        p.push((channel.clone(), ts.clone()));
    }
    st.fake
        .record(Recorded::new("/api/chat.postMessage", &headers, &body));
    Json(json!({"ok": true, "channel": channel, "ts": ts})).into_response()
}

async fn update(State(st): State<Arc<SlackState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = st.fake.next_failure() {
        return r;
    }
    let v = match check_web_api(&st, &headers, &body) {
        Ok(v) => v,
        Err(e) => return err(e),
    };
    let channel = v["channel"].as_str().unwrap_or("").to_string();
    let Some(ts) = v["ts"].as_str().map(str::to_string) else {
        return err("message_not_found");
    };
    let known = st
        .posted
        .lock()
        .map(|p| p.contains(&(channel.clone(), ts.clone())))
        .unwrap_or(false);
    if !known {
        return err("message_not_found");
    }
    st.fake
        .record(Recorded::new("/api/chat.update", &headers, &body));
    Json(json!({"ok": true, "channel": channel, "ts": ts})).into_response()
}

async fn incoming(State(st): State<Arc<SlackState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = st.fake.next_failure() {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    if v.get("blocks").is_none() && v["text"].as_str().is_none_or(|t| t.is_empty()) {
        return (StatusCode::BAD_REQUEST, "no_text").into_response();
    }
    if v.get("blocks").is_some() && !validate_blocks(&v["blocks"]).is_empty() {
        return (StatusCode::BAD_REQUEST, "invalid_blocks").into_response();
    }
    st.fake
        .record(Recorded::new("/services/hook", &headers, &body));
    (StatusCode::OK, "ok").into_response()
}

/// Starts the fake accepting bot token `token`; the Web API base is
/// `{base_url}/api`, the incoming webhook `{base_url}/services/hook`.
pub async fn start(token: &str) -> std::io::Result<FakeServer> {
    let fake = Arc::new(FakeState::default());
    let st = Arc::new(SlackState {
        fake: fake.clone(),
        token: token.to_string(),
        next_ts: Mutex::new(0),
        posted: Mutex::new(Vec::new()),
    });
    let router = Router::new()
        .route("/api/chat.postMessage", post(post_message))
        .route("/api/chat.update", post(update))
        .route("/services/hook", post(incoming))
        .with_state(st);
    serve(router, fake).await
}
