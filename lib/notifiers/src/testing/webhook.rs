//! A fake webhook receiver: `POST /hook` checks Alertmanager's version-4
//! payload shape (answers 400 otherwise); `POST /hang` never answers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

use super::{serve, FakeServer, FakeState, Recorded};

/// Shape errors of an Alertmanager v4 webhook payload.
pub fn validate_payload(body: &[u8]) -> Vec<String> {
    let mut errs = Vec::new();
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return vec!["invalid JSON".into()],
    };
    if v["version"] != "4" {
        errs.push("version must be \"4\"".into());
    }
    for k in ["groupKey", "receiver", "externalURL"] {
        if !v[k].is_string() {
            errs.push(format!("{k} must be a string"));
        }
    }
    if !["firing", "resolved"].contains(&v["status"].as_str().unwrap_or("")) {
        errs.push("bad status".into());
    }
    if !v["truncatedAlerts"].is_u64() {
        errs.push("truncatedAlerts must be a number".into());
    }
    for k in ["groupLabels", "commonLabels", "commonAnnotations"] {
        if !v[k].is_object() {
            errs.push(format!("{k} must be an object"));
        }
    }
    match v["alerts"].as_array() {
        Some(alerts) if !alerts.is_empty() => {
            for a in alerts {
                for k in ["status", "startsAt", "endsAt", "generatorURL"] {
                    if !a[k].is_string() {
                        errs.push(format!("alert.{k} must be a string"));
                    }
                }
                if !a["labels"].is_object() || !a["annotations"].is_object() {
                    errs.push("alert labels/annotations must be objects".into());
                }
                let fp = a["fingerprint"].as_str().unwrap_or("");
                if fp.len() != 16 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
                    errs.push("alert.fingerprint must be 16 hex digits".into());
                }
            }
        }
        _ => errs.push("alerts must be a non-empty array".into()),
    }
    errs
}

async fn hook(State(st): State<Arc<FakeState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = st.next_failure() {
        return r;
    }
    let errs = validate_payload(&body);
    if !errs.is_empty() {
        return (StatusCode::BAD_REQUEST, errs.join("; ")).into_response();
    }
    st.record(Recorded::new("/hook", &headers, &body));
    StatusCode::OK.into_response()
}

async fn hang(State(st): State<Arc<FakeState>>) -> Response {
    let _ = st.next_failure();
    std::future::pending::<()>().await;
    StatusCode::OK.into_response()
}

/// Starts the fake: `{base_url}/hook` and `{base_url}/hang`.
pub async fn start() -> std::io::Result<FakeServer> {
    let state = Arc::new(FakeState::default());
    let router = Router::new()
        .route("/hook", post(hook))
        .route("/hang", post(hang))
        .with_state(state.clone());
    serve(router, state).await
}
