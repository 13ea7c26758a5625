//! A loopback remote_write receiver that decodes the real snappy +
//! protobuf body, checks the protocol headers, answers from a script and
//! records every stored `(series, t, v)` in arrival order.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

/// What the receiver answers to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 204, samples stored.
    Ok,
    /// This status (with an optional `Retry-After`); nothing stored.
    Status(u16, Option<&'static str>),
}

type Responder = Box<dyn FnMut(usize) -> Reply + Send>;

pub struct Log {
    responder: Responder,
    /// Stored samples, in arrival order: (value of label `series`, t, v).
    pub samples: Vec<(String, i64, f64)>,
    /// Every request: arrival (virtual) time, status answered, samples.
    pub requests: Vec<(Instant, u16, usize)>,
    pub header_errors: Vec<String>,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Log>>,
}

impl Receiver {
    /// Binds 127.0.0.1:0 and serves with `responder(request number)`.
    pub async fn start(responder: impl FnMut(usize) -> Reply + Send + 'static) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, responder)
    }

    pub fn serve(
        listener: tokio::net::TcpListener,
        responder: impl FnMut(usize) -> Reply + Send + 'static,
    ) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Log {
            responder: Box::new(responder),
            samples: Vec::new(),
            requests: Vec::new(),
            header_errors: Vec::new(),
        }));
        let app = axum::Router::new()
            .route("/api/v1/write", axum::routing::post(write))
            .with_state(log.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, log }
    }

    pub fn url(&self) -> reqwest::Url {
        format!("http://{}/api/v1/write", self.addr)
            .parse()
            .unwrap()
    }

    pub fn set(&self, responder: impl FnMut(usize) -> Reply + Send + 'static) {
        self.log.lock().unwrap().responder = Box::new(responder);
    }

    pub fn samples(&self) -> Vec<(String, i64, f64)> {
        self.log.lock().unwrap().samples.clone()
    }

    pub fn requests(&self) -> Vec<(Instant, u16, usize)> {
        self.log.lock().unwrap().requests.clone()
    }

    pub fn header_errors(&self) -> Vec<String> {
        self.log.lock().unwrap().header_errors.clone()
    }
}

async fn write(State(log): State<Arc<Mutex<Log>>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut errs = Vec::new();
    for (k, want) in [
        ("content-encoding", "snappy"),
        ("content-type", "application/x-protobuf"),
        ("x-prometheus-remote-write-version", "0.1.0"),
    ] {
        let got = headers.get(k).and_then(|v| v.to_str().ok());
        if got != Some(want) {
            errs.push(format!("{k}: {got:?}"));
        }
    }
    let ua = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ua.starts_with("watchfire-agent/") {
        errs.push(format!("user-agent: {ua:?}"));
    }
    let req = match watchfire_remotewrite::decode(&body, 64 << 20) {
        Ok(r) => r,
        Err(e) => {
            errs.push(format!("body: {e}"));
            log.lock().unwrap().header_errors.extend(errs);
            return (StatusCode::BAD_REQUEST, "bad body").into_response();
        }
    };
    let n: usize = req.timeseries.iter().map(|t| t.samples.len()).sum();
    let mut log = log.lock().unwrap();
    log.header_errors.extend(errs);
    let no = log.requests.len();
    let reply = (log.responder)(no);
    let status = match &reply {
        Reply::Ok => 204,
        Reply::Status(s, _) => *s,
    };
    log.requests.push((Instant::now(), status, n));
    if reply == Reply::Ok {
        for ts in &req.timeseries {
            let series = ts
                .labels
                .iter()
                .find(|l| l.name == "series")
                .map_or(String::new(), |l| l.value.clone());
            for s in &ts.samples {
                log.samples.push((series.clone(), s.timestamp, s.value));
            }
        }
    }
    let mut resp = StatusCode::from_u16(status).unwrap().into_response();
    if let Reply::Status(_, Some(ra)) = reply {
        resp.headers_mut()
            .insert("retry-after", ra.parse().unwrap());
    }
    resp
}

/// What arrived, compared with what was appended.
#[derive(Debug, Default, PartialEq)]
pub struct Delivery {
    pub expected: usize,
    pub received: usize,
    pub missing: usize,
    /// (series, t) pairs received more than once (extra copies).
    pub duplicates: usize,
    /// Series whose timestamps did not arrive strictly increasing
    /// (ignoring exact duplicates).
    pub out_of_order_series: usize,
    /// Received samples with a value different from the appended one.
    pub wrong_values: usize,
}

/// Compares received samples against `expected` (series, t) → v.
pub fn delivery(expected: &HashMap<(String, i64), f64>, got: &[(String, i64, f64)]) -> Delivery {
    let mut seen: HashSet<(String, i64)> = HashSet::new();
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    let mut d = Delivery {
        expected: expected.len(),
        received: got.len(),
        ..Default::default()
    };
    let mut bad_series: HashSet<&str> = HashSet::new();
    for (s, t, v) in got {
        if !seen.insert((s.clone(), *t)) {
            d.duplicates += 1;
            continue;
        }
        if expected.get(&(s.clone(), *t)) != Some(v) {
            d.wrong_values += 1;
        }
        if let Some(prev) = last.insert(s, *t) {
            if prev >= *t {
                bad_series.insert(s);
            }
        }
    }
    d.out_of_order_series = bad_series.len();
    d.missing = expected.keys().filter(|k| !seen.contains(*k)).count();
    d
}
