//! An Alertmanager v2 API client: `POST {prefix}/api/v2/alerts` with a JSON
//! array of `postableAlert`s, to one or more Alertmanagers.
//!
//! Like Prometheus's notifier, a batch counts as delivered when at least one
//! Alertmanager accepted it. Unlike it, each target is retried: 5xx, 429 and
//! transport errors (connection refused, timeout) are retried with
//! exponential backoff and jitter, a `Retry-After` header (seconds or HTTP
//! date) overrides the backoff, and any other 4xx is final.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Serialize;
use tokio::task::JoinSet;

use super::{
    format_rfc3339_millis, Alert, AlertSink, NotifyError, NotifyMetrics, SinkError, SinkFuture,
};

/// The path below the prefix that Alertmanager serves alerts on.
pub const ALERTS_PATH: &str = "/api/v2/alerts";

/// Credentials sent with every request.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic ...`.
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Bearer(_) => f.write_str("Bearer(<secret>)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <secret>)"),
        }
    }
}

/// How failed deliveries are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per target and batch, including the first (at least 1).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles after each failure.
    pub initial_backoff: Duration,
    /// Upper bound of the backoff.
    pub max_backoff: Duration,
    /// Upper bound applied to a server's `Retry-After`.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first retry), given a
    /// uniform random number `jitter` in `[0, 1)`: "equal jitter", i.e.
    /// between half and all of the exponential backoff.
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let exp = 2u32.saturating_pow(retry.saturating_sub(1));
        let base = self
            .initial_backoff
            .saturating_mul(exp)
            .min(self.max_backoff);
        let half = base / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct AlertmanagerConfig {
    /// Alertmanager base URLs, e.g. `http://alertmanager:9093`. A URL that
    /// already ends in `/api/v2/alerts` is used as is.
    pub urls: Vec<String>,
    /// Path prefix of the API (Alertmanager's `--web.route-prefix`), e.g. `/am`.
    pub path_prefix: String,
    /// Timeout of one HTTP attempt.
    pub timeout: Duration,
    pub auth: Option<Auth>,
    pub retry: RetryPolicy,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            urls: Vec::new(),
            path_prefix: String::new(),
            timeout: Duration::from_secs(10),
            auth: None,
            retry: RetryPolicy::default(),
        }
    }
}

/// Builds the full alerts URL from a base URL and a prefix.
pub fn alerts_url(base: &str, prefix: &str) -> Result<reqwest::Url, NotifyError> {
    let bad = |reason: &str| NotifyError::BadUrl {
        url: base.to_string(),
        reason: reason.to_string(),
    };
    reqwest::Url::parse(base).map_err(|e| bad(&e.to_string()))?;
    let full = if base.trim_end_matches('/').ends_with(ALERTS_PATH) {
        base.trim_end_matches('/').to_string()
    } else {
        let prefix = prefix.trim_matches('/');
        let mut s = base.trim_end_matches('/').to_string();
        if !prefix.is_empty() {
            s.push('/');
            s.push_str(prefix);
        }
        s.push_str(ALERTS_PATH);
        s
    };
    let url = reqwest::Url::parse(&full).map_err(|e| bad(&e.to_string()))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(bad("no host")),
        _ => Err(bad("scheme must be http or https")),
    }
}

/// The JSON form of an alert (`postableAlert`).
#[derive(Debug, Serialize)]
struct PostableAlert<'a> {
    labels: &'a std::collections::BTreeMap<String, String>,
    annotations: &'a std::collections::BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "endsAt", skip_serializing_if = "Option::is_none")]
    ends_at: Option<String>,
    #[serde(rename = "generatorURL", skip_serializing_if = "str::is_empty")]
    generator_url: &'a str,
}

/// Encodes a batch as the JSON body of `POST /api/v2/alerts`.
pub fn encode_alerts(alerts: &[Alert]) -> Result<Vec<u8>, serde_json::Error> {
    let body: Vec<PostableAlert<'_>> = alerts
        .iter()
        .map(|a| PostableAlert {
            labels: &a.labels,
            annotations: &a.annotations,
            starts_at: format_rfc3339_millis(a.starts_at),
            ends_at: a.ends_at.map(format_rfc3339_millis),
            generator_url: &a.generator_url,
        })
        .collect();
    serde_json::to_vec(&body)
}

/// Parses a `Retry-After` value: delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(v, SystemTime::now())
}

/// Sends batches to Alertmanagers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AlertmanagerClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    targets: Vec<reqwest::Url>,
    auth: Option<Auth>,
    retry: RetryPolicy,
    metrics: NotifyMetrics,
}

/// The outcome of one attempt.
enum Attempt {
    Done,
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Fatal(String),
}

impl AlertmanagerClient {
    /// Builds a client; validates every URL.
    pub fn new(cfg: AlertmanagerConfig, metrics: NotifyMetrics) -> Result<Self, NotifyError> {
        if cfg.urls.is_empty() {
            return Err(NotifyError::Config("no Alertmanager URL given".into()));
        }
        let targets = cfg
            .urls
            .iter()
            .map(|u| alerts_url(u, &cfg.path_prefix))
            .collect::<Result<Vec<_>, _>>()?;
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .user_agent(concat!("watchfire/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut retry = cfg.retry;
        retry.max_attempts = retry.max_attempts.max(1);
        Ok(AlertmanagerClient {
            inner: Arc::new(Inner {
                http,
                targets,
                auth: cfg.auth,
                retry,
                metrics,
            }),
        })
    }

    /// The full `.../api/v2/alerts` URLs this client posts to.
    pub fn targets(&self) -> Vec<String> {
        self.inner.targets.iter().map(|u| u.to_string()).collect()
    }

    /// Sends a batch to every target; succeeds when at least one accepted it.
    pub async fn send_batch(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let body = encode_alerts(alerts).map_err(|e| SinkError::Send {
            target: "alertmanager".into(),
            reason: format!("encoding alerts: {e}"),
        })?;
        let body = bytes_of(body);
        let n = alerts.len() as u64;
        let mut set = JoinSet::new();
        for url in &self.inner.targets {
            let inner = Arc::clone(&self.inner);
            let url = url.clone();
            let body = body.clone();
            set.spawn(async move {
                let target = url.to_string();
                let res = inner.post_with_retry(url, body).await;
                match &res {
                    Ok(()) => inner.metrics.sent.with_label_values(&[&target]).inc_by(n),
                    Err(_) => inner.metrics.errors.with_label_values(&[&target]).inc_by(n),
                }
                res
            });
        }
        let mut errors = Vec::new();
        let mut ok = false;
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(())) => ok = true,
                Ok(Err(e)) => errors.push(e.to_string()),
                Err(e) => errors.push(format!("send task failed: {e}")),
            }
        }
        if ok {
            for e in &errors {
                tracing::warn!(error = %e, "Alertmanager delivery failed (batch delivered elsewhere)");
            }
            Ok(())
        } else {
            Err(SinkError::Send {
                target: "alertmanager".into(),
                reason: errors.join("; "),
            })
        }
    }
}

fn bytes_of(v: Vec<u8>) -> Arc<[u8]> {
    Arc::from(v.into_boxed_slice())
}

impl Inner {
    async fn post_with_retry(&self, url: reqwest::Url, body: Arc<[u8]>) -> Result<(), SinkError> {
        let target = url.to_string();
        let latency = self.metrics.latency_for(&target);
        let mut attempt = 1u32;
        loop {
            let timer = latency.start_timer();
            let outcome = self.post_once(url.clone(), &body).await;
            timer.observe_duration();
            let (reason, after) = match outcome {
                Attempt::Done => return Ok(()),
                Attempt::Fatal(reason) => return Err(SinkError::Send { target, reason }),
                Attempt::Retry { reason, after } => (reason, after),
            };
            if attempt >= self.retry.max_attempts {
                return Err(SinkError::Send {
                    target,
                    reason: format!("{reason} (gave up after {attempt} attempts)"),
                });
            }
            let wait = match after {
                Some(d) => d.min(self.retry.max_retry_after),
                None => self.retry.backoff(attempt, fastrand::f64()),
            };
            tracing::debug!(%target, %reason, ?wait, attempt, "retrying Alertmanager delivery");
            self.metrics.retries.with_label_values(&[&target]).inc();
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn post_once(&self, url: reqwest::Url, body: &Arc<[u8]>) -> Attempt {
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        req = match &self.auth {
            Some(Auth::Bearer(t)) => req.bearer_auth(t),
            Some(Auth::Basic { username, password }) => req.basic_auth(username, Some(password)),
            None => req,
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    reason: format!("request failed: {e}"),
                    after: None,
                }
            }
        };
        let status = resp.status();
        if status.is_success() {
            return Attempt::Done;
        }
        let after = retry_after(resp.headers());
        let text = read_prefix(resp, MAX_ERROR_BODY).await;
        let snippet: String = text.chars().take(256).collect();
        let reason = format!("bad response status {status}: {}", snippet.trim());
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Attempt::Retry { reason, after }
        } else {
            Attempt::Fatal(reason)
        }
    }
}

/// The most bytes of an error response body read (for the log message).
const MAX_ERROR_BODY: usize = 4096;

/// Reads at most `limit` bytes of the body, chunk by chunk, and stops
/// there (a misbehaving server cannot make us buffer a huge body).
async fn read_prefix(mut resp: reqwest::Response, limit: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(limit - buf.len());
                buf.extend_from_slice(&chunk[..take]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

impl AlertSink for AlertmanagerClient {
    fn send<'a>(&'a self, alerts: &'a [Alert]) -> SinkFuture<'a> {
        Box::pin(self.send_batch(alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_url(base: &str, prefix: &str, want: Option<&str>) {
        let got = alerts_url(base, prefix).ok().map(|u| u.to_string());
        assert_eq!(got.as_deref(), want, "base={base} prefix={prefix}");
    }

    #[test]
    fn urls() {
        check_url("http://am:9093", "", Some("http://am:9093/api/v2/alerts"));
        check_url(
            "http://am:9093/",
            "/am/",
            Some("http://am:9093/am/api/v2/alerts"),
        );
        check_url(
            "https://am.example/x/api/v2/alerts",
            "/ignored",
            Some("https://am.example/x/api/v2/alerts"),
        );
        check_url("ftp://am", "", None);
        check_url("not a url", "", None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
        };
        let cases = [
            (1, 0.0, 50),
            (1, 1.0, 100),
            (2, 0.0, 100),
            (3, 0.5, 300),
            (5, 1.0, 1000),
            (30, 0.0, 500),
        ];
        for (retry, jitter, want_ms) in cases {
            assert_eq!(
                p.backoff(retry, jitter),
                Duration::from_millis(want_ms),
                "retry {retry} jitter {jitter}"
            );
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        let cases: [(&str, Option<u64>); 5] = [
            ("1", Some(1)),
            (" 120 ", Some(120)),
            (&date, Some(7)),
            ("Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
            ("soon", None),
        ];
        for (v, want) in cases {
            assert_eq!(
                parse_retry_after(v, now),
                want.map(Duration::from_secs),
                "{v}"
            );
        }
    }

    #[test]
    fn encodes_postable_alerts() {
        let a = Alert {
            labels: [("alertname".to_string(), "X".to_string())].into(),
            annotations: [("summary".to_string(), "s".to_string())].into(),
            starts_at: 1_714_564_800_123,
            ends_at: Some(1_714_564_860_000),
            generator_url: "http://wf/graph".into(),
        };
        let got: serde_json::Value = serde_json::from_slice(&encode_alerts(&[a]).unwrap()).unwrap();
        let want = serde_json::json!([{
            "labels": {"alertname": "X"},
            "annotations": {"summary": "s"},
            "startsAt": "2024-05-01T12:00:00.123Z",
            "endsAt": "2024-05-01T12:01:00.000Z",
            "generatorURL": "http://wf/graph"
        }]);
        assert_eq!(got, want);
    }
}
