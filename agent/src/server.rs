//! The agent's own HTTP endpoints: `/metrics` (its telemetry, plus the
//! host collector's node_exporter-compatible families, so it can stand in
//! for node_exporter), `/health/live` and `/health/ready`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, Registry, TextEncoder};

use crate::host::HostCollector;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the endpoints read.
#[derive(Clone)]
pub struct ServerState {
    pub registry: Registry,
    /// Exposed on `/metrics` when set.
    pub host: Option<Arc<HostCollector>>,
    /// Set once every component has started.
    pub ready: Arc<AtomicBool>,
}

/// The agent's routes.
pub fn routes(state: ServerState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health/live", get(|| async { "ok\n" }))
        .route("/health/ready", get(ready))
        .with_state(state)
}

async fn metrics(State(st): State<ServerState>) -> Response {
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&st.registry.gather(), &mut buf) {
        tracing::warn!(error = %e, "encoding agent metrics");
    }
    let mut text = String::from_utf8(buf).unwrap_or_default();
    if let Some(h) = &st.host {
        let h = h.clone();
        // Reading /proc and statfs can block (a hung NFS mount); keep it
        // off the async workers.
        match tokio::task::spawn_blocking(move || {
            let mut s = String::new();
            h.render_text(&mut s);
            s
        })
        .await
        {
            Ok(s) => text.push_str(&s),
            Err(e) => tracing::warn!(error = %e, "host collector task failed"),
        }
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

async fn ready(State(st): State<ServerState>) -> Response {
    if st.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}
