//! A scripted local HTTP server for the HTTP sink tests: every request is
//! decompressed (when `Content-Encoding: gzip`), handed to the test's
//! `answer` function (which validates it against the documented API and
//! decides the answer), and reported on a channel with its arrival time.

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

/// One received request.
#[derive(Debug, Clone)]
pub struct Req {
    pub path: String,
    pub headers: HeaderMap,
    /// The body, gunzipped when it was compressed.
    pub body: Vec<u8>,
    /// 0 for the first request, and so on.
    pub n: usize,
    pub at: Instant,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the server answers.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Answer {
    pub fn status(status: u16, body: impl Into<String>) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Answer {
        self.headers.push((name, value.into()));
        self
    }
}

type AnswerFn = dyn Fn(&Req) -> Answer + Send + Sync;

struct State {
    answer: Box<AnswerFn>,
    count: std::sync::Mutex<usize>,
    tx: mpsc::UnboundedSender<Req>,
}

/// Starts a server on a free local port; returns its base URL and the
/// channel of requests (reported after `answer` ran).
pub async fn serve(
    answer: impl Fn(&Req) -> Answer + Send + Sync + 'static,
) -> (String, mpsc::UnboundedReceiver<Req>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Arc::new(State {
        answer: Box::new(answer),
        count: std::sync::Mutex::new(0),
        tx,
    });
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move { handle(&state, uri.path().to_string(), headers, body) }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), rx)
}

fn handle(state: &State, path: String, headers: HeaderMap, body: Bytes) -> Response {
    let body = if headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes() == b"gzip")
    {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        body.to_vec()
    };
    let n = {
        let mut c = state.count.lock().unwrap();
        *c += 1;
        *c - 1
    };
    let req = Req {
        path,
        headers,
        body,
        n,
        at: Instant::now(),
    };
    let a = (state.answer)(&req);
    let _ = state.tx.send(req);
    let mut resp = (StatusCode::from_u16(a.status).unwrap(), a.body).into_response();
    for (k, v) in a.headers {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    resp
}

/// Receives `n` requests (each within 20 s).
pub async fn requests(rx: &mut mpsc::UnboundedReceiver<Req>, n: usize) -> Vec<Req> {
    let mut out = Vec::new();
    while out.len() < n {
        let r = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
            .await
            .expect("a request")
            .expect("server running");
        out.push(r);
    }
    out
}
