//! Fake receivers for tests (feature `test-servers`): axum servers that
//! check each request against the documented API of PagerDuty Events v2,
//! Slack's Web API and incoming webhooks, and Alertmanager's webhook
//! payload, plus a minimal SMTP server. Each records the requests it
//! accepted and can be scripted to fail the next N requests.
//!
//! Servers listen on `127.0.0.1:0` and run until their handle is dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

pub mod pagerduty;
pub mod slack;
pub mod smtp;
pub mod webhook;

/// A request a fake accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// When the fake accepted it: ms since the Unix epoch, system clock.
    pub received_at: i64,
}

impl Recorded {
    /// The body as JSON (Null when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub(crate) fn new(path: &str, headers: &HeaderMap, body: &[u8]) -> Recorded {
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Recorded {
            path: path.to_string(),
            authorization: h("authorization"),
            content_type: h("content-type"),
            body: body.to_vec(),
            received_at: now_ms(),
        }
    }
}

/// Milliseconds since the Unix epoch by the system clock (0 before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A scripted failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

/// State shared by a fake's handlers and its handle.
#[derive(Debug, Default)]
pub struct FakeState {
    pub accepted: Mutex<Vec<Recorded>>,
    /// Requests seen, accepted or not.
    pub seen: Mutex<u32>,
    failures: Mutex<Vec<(u32, Failure)>>,
}

impl FakeState {
    /// Fails the next `n` requests with `status` (and `Retry-After`).
    pub fn fail_next(&self, n: u32, status: u16, retry_after: Option<&str>, body: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.push((
                n,
                Failure {
                    status,
                    retry_after: retry_after.map(str::to_string),
                    body: body.to_string(),
                },
            ));
        }
    }

    pub fn accepted(&self) -> Vec<Recorded> {
        self.accepted.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn seen(&self) -> u32 {
        self.seen.lock().map(|v| *v).unwrap_or(0)
    }

    pub(crate) fn record(&self, r: Recorded) {
        if let Ok(mut v) = self.accepted.lock() {
            v.push(r);
        }
    }

    /// Counts the request and pops a scripted failure, if any.
    pub(crate) fn next_failure(&self) -> Option<Response> {
        if let Ok(mut s) = self.seen.lock() {
            *s += 1;
        }
        let mut f = self.failures.lock().ok()?;
        let (n, fail) = f.first_mut()?;
        *n -= 1;
        let fail = fail.clone();
        if *n == 0 {
            f.remove(0);
        }
        let status = StatusCode::from_u16(fail.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, fail.body).into_response();
        if let Some(ra) = fail.retry_after.and_then(|r| r.parse().ok()) {
            resp.headers_mut().insert("retry-after", ra);
        }
        Some(resp)
    }
}

/// A running fake.
pub struct FakeServer {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    /// `http://127.0.0.1:port`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn serve(
    router: axum::Router,
    state: Arc<FakeState>,
) -> std::io::Result<FakeServer> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(FakeServer { addr, state, task })
}
