//! One HTTP request of remote_write 1.0 and what to do with its answer.
//!
//! The decisions are pure ([`classify`], [`retry_after`], [`Backoff`]):
//! - 2xx: acknowledged;
//! - 5xx and 429: retried; a `Retry-After` (seconds or an HTTP date) is
//!   honoured, capped at `max_retry_after`; without one the delay is
//!   exponential backoff with jitter;
//! - any other status (4xx, and 1xx/3xx which a receiver should not send):
//!   the batch is dropped and counted, never retried;
//! - connection errors and timeouts: retried with backoff.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;
use watchfire_remotewrite::headers as rw;

use super::config::{Auth, RemoteWriteConfig};

/// `User-Agent` of the sender.
pub const USER_AGENT: &str = concat!("watchfire-agent/", env!("CARGO_PKG_VERSION"));

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Acknowledged.
    Done,
    /// Try again after `after` (from `Retry-After`) or the backoff.
    Retry {
        after: Option<Duration>,
        outcome: &'static str,
    },
    /// Give up on the batch.
    Drop { status: u16 },
}

/// Classifies an HTTP answer.
pub fn classify(
    status: u16,
    retry_after_header: Option<&str>,
    now: SystemTime,
    cap: Duration,
) -> Verdict {
    match status {
        200..=299 => Verdict::Done,
        429 | 500..=599 => Verdict::Retry {
            after: retry_after_header
                .and_then(|h| retry_after(h, now))
                .map(|d| d.min(cap)),
            outcome: if status == 429 {
                "retry_429"
            } else {
                "retry_5xx"
            },
        },
        _ => Verdict::Drop { status },
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (a date in the past
/// means "now").
pub fn retry_after(h: &str, now: SystemTime) -> Option<Duration> {
    let h = h.trim();
    if let Ok(secs) = h.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(h).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Exponential backoff: `min · 2^attempt`, capped at `max`, then a random
/// point in its upper half ("equal jitter"), so retries of many agents
/// spread out but never wait less than half the nominal delay.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            attempt: 0,
        }
    }

    /// The nominal (un-jittered) delay of the next retry.
    pub fn nominal(&self) -> Duration {
        let f = 1u32 << self.attempt.min(30);
        self.min.saturating_mul(f).min(self.max)
    }

    /// The next delay, jittered with `unit` in `[0, 1)`.
    pub fn next_with(&mut self, unit: f64) -> Duration {
        let d = self.nominal();
        self.attempt = self.attempt.saturating_add(1);
        d / 2 + d.mul_f64(unit.clamp(0.0, 1.0) / 2.0)
    }

    pub fn next_delay(&mut self) -> Duration {
        self.next_with(fastrand::f64())
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("remote_write: HTTP client: {0}")]
    Build(#[from] reqwest::Error),
    #[error("remote_write: header {0:?} is not valid")]
    Header(String),
}

/// The HTTP side of a sender.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    url: reqwest::Url,
    auth: Auth,
}

/// The result of one request.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
}

impl Client {
    pub fn new(cfg: &RemoteWriteConfig) -> Result<Client, ClientError> {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::CONTENT_ENCODING,
            HeaderValue::from_static(rw::CONTENT_ENCODING),
        );
        h.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static(rw::CONTENT_TYPE),
        );
        h.insert(
            HeaderName::from_static("x-prometheus-remote-write-version"),
            HeaderValue::from_static(rw::VERSION),
        );
        for (k, v) in &cfg.headers {
            let name =
                HeaderName::from_bytes(k.as_bytes()).map_err(|_| ClientError::Header(k.clone()))?;
            let val = HeaderValue::from_str(v).map_err(|_| ClientError::Header(k.clone()))?;
            h.insert(name, val);
        }
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(h)
            .timeout(cfg.timeout)
            .build()?;
        Ok(Client {
            http,
            url: cfg.url.clone(),
            auth: cfg.auth.clone(),
        })
    }

    /// POSTs one body. `Err` is a transport error (connection, timeout).
    pub async fn post(&self, body: Vec<u8>) -> Result<Answer, reqwest::Error> {
        let mut rq = self.http.post(self.url.clone()).body(body);
        rq = match &self.auth {
            Auth::None => rq,
            Auth::Basic { username, password } => rq.basic_auth(username, Some(password)),
            Auth::Bearer(t) => rq.bearer_auth(t),
        };
        let resp = rq.send().await?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if status != StatusCode::NO_CONTENT {
            // Drain the body so the connection can be reused.
            let _ = resp.bytes().await;
        }
        Ok(Answer {
            status: status.as_u16(),
            retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let cap = Duration::from_secs(300);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        let check = |status: u16, ra: Option<&str>, want: Verdict| {
            assert_eq!(
                classify(status, ra, now, cap),
                want,
                "status {status} retry-after {ra:?}"
            );
        };
        let retry = |s: Option<u64>, o| Verdict::Retry {
            after: s.map(Duration::from_secs),
            outcome: o,
        };
        check(200, None, Verdict::Done);
        check(204, None, Verdict::Done);
        check(500, None, retry(None, "retry_5xx"));
        check(503, Some("2"), retry(Some(2), "retry_5xx"));
        check(429, Some("3"), retry(Some(3), "retry_429"));
        check(429, Some(&date), retry(Some(7), "retry_429"));
        check(
            429,
            Some("Thu, 01 Jan 1970 00:00:00 GMT"),
            retry(Some(0), "retry_429"),
        );
        check(429, Some("9999"), retry(Some(300), "retry_429"));
        check(429, Some("soon"), retry(None, "retry_429"));
        check(400, Some("5"), Verdict::Drop { status: 400 });
        check(404, None, Verdict::Drop { status: 404 });
        check(413, None, Verdict::Drop { status: 413 });
        check(302, None, Verdict::Drop { status: 302 });
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let mut b = Backoff::new(Duration::from_millis(30), Duration::from_secs(5));
        let lows: Vec<u128> = (0..10).map(|_| b.next_with(0.0).as_millis()).collect();
        assert_eq!(lows, [15, 30, 60, 120, 240, 480, 960, 1920, 2500, 2500]);
        let mut b = Backoff::new(Duration::from_millis(30), Duration::from_secs(5));
        assert_eq!(b.next_with(0.999_999).as_millis(), 29);
        for _ in 0..100 {
            let d = b.next_delay();
            assert!(
                d >= Duration::from_millis(15) && d <= Duration::from_secs(5),
                "{d:?}"
            );
        }
    }
}
