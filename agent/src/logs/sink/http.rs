//! What the HTTP sinks ([`super::elasticsearch`], [`super::loki`]) share:
//! the common config keys ([`RawHttp`] fields, repeated in each sink's raw
//! section because `deny_unknown_fields` cannot be flattened), an HTTP
//! client with auth and optional gzip ([`HttpClient`]), the retry policy
//! ([`classify`], [`Retrier`]), drop accounting and the optional
//! dead-letter file ([`Dropper`]).
//!
//! Retry policy (whole request): transport errors, timeouts, 408, 429 and
//! 5xx are retried with exponential backoff and jitter, honouring
//! `Retry-After` (capped at `max_retry_after`); 401, 403 and 404 are
//! retried too, since they mean a misconfigured or absent destination that
//! an operator fixes (reading pauses, nothing is lost). Other 4xx mean the
//! destination refuses the records themselves: they are dropped, counted
//! in `watchfire_agent_log_sink_dropped_total{sink,reason}`, logged, and
//! written to the dead-letter file when one is configured.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_saphyr::Spanned;

use super::SinkError;
use crate::logs::config::LogsConfigError;
use crate::logs::metrics::LogMetrics;
use crate::ship::config::{Auth, RawBasicAuth};
use crate::ship::send::{retry_after, Backoff, USER_AGENT};

/// The common keys of an HTTP sink, borrowed from its raw section.
pub struct RawHttp<'a> {
    pub sink: &'a str,
    pub url: &'a Spanned<String>,
    pub path: &'a str,
    pub timeout: &'a Option<Spanned<String>>,
    pub compression: &'a Option<Spanned<String>>,
    pub basic_auth: &'a Option<RawBasicAuth>,
    pub bearer_token: &'a Option<String>,
    pub bearer_token_file: &'a Option<PathBuf>,
    pub min_backoff: &'a Option<Spanned<String>>,
    pub max_backoff: &'a Option<Spanned<String>>,
    pub max_retry_after: &'a Option<Spanned<String>>,
    pub dead_letter_path: &'a Option<PathBuf>,
}

/// The validated common keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// The full endpoint (base URL + API path).
    pub url: reqwest::Url,
    pub timeout: Duration,
    pub gzip: bool,
    pub auth: Auth,
    pub retry: RetryConfig,
    pub dead_letter_path: Option<PathBuf>,
}

/// Backoff bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl HttpConfig {
    /// `url` (the endpoint itself) with defaults for everything else.
    pub fn new(url: reqwest::Url) -> HttpConfig {
        HttpConfig {
            url,
            timeout: Duration::from_secs(30),
            gzip: false,
            auth: Auth::None,
            retry: RetryConfig::default(),
            dead_letter_path: None,
        }
    }
}

pub(crate) fn span_err<T>(s: &Spanned<T>, msg: impl Into<String>) -> LogsConfigError {
    LogsConfigError {
        line: s.referenced.line(),
        col: s.referenced.column(),
        msg: msg.into(),
    }
}

fn dur(
    s: &Option<Spanned<String>>,
    what: &str,
    default: Duration,
) -> Result<Duration, LogsConfigError> {
    let Some(s) = s else { return Ok(default) };
    let ms = watchfire_promql::duration::parse_duration(&s.value)
        .map_err(|e| span_err(s, format!("{what}: {e}")))?;
    if ms <= 0 {
        return Err(span_err(s, format!("{what} must be positive")));
    }
    Ok(Duration::from_millis(ms as u64))
}

impl RawHttp<'_> {
    /// Validates the common keys. Pure except for reading
    /// `bearer_token_file` / `basic_auth.password_file`.
    pub fn validate(&self) -> Result<HttpConfig, LogsConfigError> {
        let k = |key: &str| format!("logs.sinks.{}.{key}", self.sink);
        let base = reqwest::Url::parse(&self.url.value)
            .map_err(|e| span_err(self.url, format!("{}: {e}", k("url"))))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(span_err(
                self.url,
                format!("{}: scheme must be http or https", k("url")),
            ));
        }
        let full = format!("{}{}", base.as_str().trim_end_matches('/'), self.path);
        let url = reqwest::Url::parse(&full)
            .map_err(|e| span_err(self.url, format!("{}: {e}", k("url"))))?;
        let gzip = match self.compression {
            None => false,
            Some(c) => match c.value.as_str() {
                "none" => false,
                "gzip" => true,
                other => {
                    return Err(span_err(
                        c,
                        format!("{}: {other:?} (none or gzip)", k("compression")),
                    ))
                }
            },
        };
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| span_err(self.url, format!("{}: {}: {e}", k("auth"), p.display())))
        };
        let auth = match (self.basic_auth, self.bearer_token, self.bearer_token_file) {
            (None, None, None) => Auth::None,
            (Some(b), None, None) => {
                let password = match (&b.password, &b.password_file) {
                    (Some(p), None) => p.clone(),
                    (None, Some(f)) => read(f)?,
                    (None, None) => String::new(),
                    (Some(_), Some(_)) => {
                        return Err(span_err(
                            self.url,
                            format!(
                                "{}: at most one of password and password_file",
                                k("basic_auth")
                            ),
                        ))
                    }
                };
                Auth::Basic {
                    username: b.username.clone(),
                    password,
                }
            }
            (None, Some(t), None) => Auth::Bearer(t.clone()),
            (None, None, Some(f)) => Auth::Bearer(read(f)?),
            _ => {
                return Err(span_err(
                    self.url,
                    format!(
                    "logs.sinks.{}: at most one of basic_auth, bearer_token and bearer_token_file",
                    self.sink
                ),
                ))
            }
        };
        let d = RetryConfig::default();
        let retry = RetryConfig {
            min_backoff: dur(self.min_backoff, &k("min_backoff"), d.min_backoff)?,
            max_backoff: dur(self.max_backoff, &k("max_backoff"), d.max_backoff)?,
            max_retry_after: dur(
                self.max_retry_after,
                &k("max_retry_after"),
                d.max_retry_after,
            )?,
        };
        if retry.max_backoff < retry.min_backoff {
            if let Some(s) = self.max_backoff {
                return Err(span_err(
                    s,
                    format!("{} is below min_backoff", k("max_backoff")),
                ));
            }
        }
        Ok(HttpConfig {
            url,
            timeout: dur(self.timeout, &k("timeout"), Duration::from_secs(30))?,
            gzip,
            auth,
            retry,
            dead_letter_path: self.dead_letter_path.clone(),
        })
    }
}

/// What to do with a whole-request answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: read the body (per-item results).
    Success,
    /// Try again after the backoff, or `after` from `Retry-After`.
    Retry { after: Option<Duration> },
    /// The records are refused: drop them.
    Refused,
}

/// Classifies a whole-request status (see the module docs). Pure.
pub fn classify(
    status: u16,
    retry_after_header: Option<&str>,
    now: SystemTime,
    cap: Duration,
) -> Outcome {
    match status {
        200..=299 => Outcome::Success,
        401 | 403 | 404 | 408 | 429 | 500..=599 => Outcome::Retry {
            after: retry_after_header
                .and_then(|h| retry_after(h, now))
                .map(|d| d.min(cap)),
        },
        _ => Outcome::Refused,
    }
}

/// Whether one item's status (e.g. of a `_bulk` item) is worth retrying.
pub fn item_retryable(status: u16) -> bool {
    status == 429 || status >= 500
}

/// One answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: bytes::Bytes,
}

/// The HTTP client of one sink.
pub struct HttpClient {
    http: reqwest::Client,
    cfg: HttpConfig,
}

impl HttpClient {
    pub fn new(cfg: HttpConfig, extra: HeaderMap) -> Result<HttpClient, SinkError> {
        let mut h = extra;
        if cfg.gzip {
            h.insert(
                reqwest::header::CONTENT_ENCODING,
                HeaderValue::from_static("gzip"),
            );
        }
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(h)
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| SinkError::Other(format!("HTTP client: {e}")))?;
        Ok(HttpClient { http, cfg })
    }

    pub fn config(&self) -> &HttpConfig {
        &self.cfg
    }

    /// POSTs `body` (gzipped when configured). `Err` is a transport error.
    pub async fn post(&self, content_type: &'static str, body: Vec<u8>) -> Result<Reply, String> {
        let body = if self.cfg.gzip {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::fast(),
            );
            enc.write_all(&body)
                .and_then(|()| enc.finish())
                .map_err(|e| format!("gzip: {e}"))?
        } else {
            body
        };
        let mut rq = self
            .http
            .post(self.cfg.url.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        rq = match &self.cfg.auth {
            Auth::None => rq,
            Auth::Basic { username, password } => rq.basic_auth(username, Some(password)),
            Auth::Bearer(t) => rq.bearer_auth(t),
        };
        let resp = rq.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    }
}

/// A header from static parts (for the sinks' fixed headers).
pub fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), SinkError> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| SinkError::Other(format!("header name {name:?}")))?;
    let v =
        HeaderValue::from_str(value).map_err(|_| SinkError::Other(format!("header {name:?}")))?;
    Ok((n, v))
}

/// Waits between attempts: the backoff, or the server's `Retry-After`.
pub struct Retrier {
    backoff: Backoff,
    retry: RetryConfig,
}

impl Retrier {
    pub fn new(retry: &RetryConfig) -> Retrier {
        Retrier {
            backoff: Backoff::new(retry.min_backoff, retry.max_backoff),
            retry: retry.clone(),
        }
    }

    /// The outcome of a reply's status and `Retry-After`.
    pub fn classify(&self, r: &Reply) -> Outcome {
        classify(
            r.status,
            r.retry_after.as_deref(),
            SystemTime::now(),
            self.retry.max_retry_after,
        )
    }

    /// Sleeps before the next attempt.
    pub async fn wait(&mut self, after: Option<Duration>) {
        let backoff = self.backoff.next_delay();
        tokio::time::sleep(after.unwrap_or(backoff)).await;
    }

    /// Progress was made: the next failure starts from `min_backoff`.
    pub fn reset(&mut self) {
        self.backoff = Backoff::new(self.retry.min_backoff, self.retry.max_backoff);
    }
}

/// Counts, logs and dead-letters dropped records of one sink.
pub struct Dropper {
    sink: &'static str,
    metrics: Arc<LogMetrics>,
    dead_letter: Option<PathBuf>,
}

/// One dropped record.
pub struct Dropped<'a> {
    pub line: &'a str,
    pub reason: &'static str,
    pub status: u16,
    pub error: String,
}

impl Dropper {
    pub fn new(sink: &'static str, metrics: Arc<LogMetrics>, dead_letter: Option<PathBuf>) -> Self {
        Dropper {
            sink,
            metrics,
            dead_letter,
        }
    }

    /// Counts `n` records dropped without knowing which (e.g. Loki's
    /// "total ignored"), logging `error`.
    pub fn count(&self, reason: &'static str, n: usize, error: &str) {
        if n == 0 {
            return;
        }
        self.metrics
            .sink_dropped
            .with_label_values(&[self.sink, reason])
            .inc_by(n as u64);
        tracing::warn!(
            sink = self.sink,
            reason,
            dropped = n,
            error,
            "log records dropped by sink"
        );
    }

    /// Counts and logs `items`, and appends them to the dead-letter file
    /// (fsync'd) when configured. A dead-letter write failure is an error:
    /// the caller retries, so nothing is dropped silently.
    pub async fn drop_items(&self, items: &[Dropped<'_>]) -> Result<(), SinkError> {
        if items.is_empty() {
            return Ok(());
        }
        if let Some(path) = &self.dead_letter {
            let mut buf = Vec::new();
            for d in items {
                let rec = serde_json::json!({
                    "sink": self.sink,
                    "reason": d.reason,
                    "status": d.status,
                    "error": d.error,
                    "line": d.line,
                });
                buf.extend_from_slice(rec.to_string().as_bytes());
                buf.push(b'\n');
            }
            let path = path.clone();
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)?;
                f.write_all(&buf)?;
                f.sync_data()
            })
            .await
            .map_err(|e| SinkError::Other(format!("dead-letter task: {e}")))??;
        }
        for d in items {
            self.metrics
                .sink_dropped
                .with_label_values(&[self.sink, d.reason])
                .inc();
            tracing::warn!(
                sink = self.sink,
                reason = d.reason,
                status = d.status,
                error = %d.error,
                "log record dropped by sink"
            );
        }
        Ok(())
    }

    /// Counts one failed attempt (retried).
    pub fn error(&self, error: &str) {
        self.metrics
            .sink_errors
            .with_label_values(&[self.sink])
            .inc();
        tracing::warn!(sink = self.sink, error, "log sink attempt failed; retrying");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let cap = Duration::from_secs(60);
        let check = |status: u16, ra: Option<&str>, want: Outcome| {
            assert_eq!(classify(status, ra, now, cap), want, "{status} {ra:?}");
        };
        let retry = |s: Option<u64>| Outcome::Retry {
            after: s.map(Duration::from_secs),
        };
        check(200, None, Outcome::Success);
        check(204, None, Outcome::Success);
        check(429, Some("3"), retry(Some(3)));
        check(429, Some("3600"), retry(Some(60)));
        check(503, None, retry(None));
        check(401, None, retry(None));
        check(404, None, retry(None));
        check(400, Some("3"), Outcome::Refused);
        check(413, None, Outcome::Refused);
        assert!(item_retryable(429) && item_retryable(503));
        assert!(!item_retryable(400) && !item_retryable(409));
    }
}
