//! [`NotifyError`]: why a delivery attempt failed, whether it may be
//! retried, and how long the receiver asked us to wait (`Retry-After`).

use std::time::{Duration, SystemTime};

/// A failed delivery attempt.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotifyError {
    /// The receiver answered with a non-2xx status.
    #[error("{integration}: unexpected status code {status}: {body}")]
    Status {
        integration: &'static str,
        status: u16,
        body: String,
        retryable: bool,
        retry_after: Option<Duration>,
    },
    /// A 2xx answer whose body reports a failure (Slack's `{"ok":false}`).
    #[error("{integration}: API error: {error}")]
    Api {
        integration: &'static str,
        error: String,
        retryable: bool,
        retry_after: Option<Duration>,
    },
    /// Connecting, sending or reading failed (always retryable).
    #[error("{integration}: request failed: {message}")]
    Transport {
        integration: &'static str,
        message: String,
        timeout: bool,
    },
    /// A template failed to render (never retryable).
    #[error("{integration}: template: {message}")]
    Template {
        integration: &'static str,
        message: String,
    },
    /// The request could not be built (too large, bad address; never
    /// retryable).
    #[error("{integration}: {message}")]
    Invalid {
        integration: &'static str,
        message: String,
    },
    /// The SMTP conversation failed.
    #[error("email: smtp: {message}")]
    Smtp { message: String, retryable: bool },
}

impl NotifyError {
    /// Whether another attempt may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            NotifyError::Status { retryable, .. }
            | NotifyError::Api { retryable, .. }
            | NotifyError::Smtp { retryable, .. } => *retryable,
            NotifyError::Transport { .. } => true,
            NotifyError::Template { .. } | NotifyError::Invalid { .. } => false,
        }
    }

    /// The wait the receiver asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            NotifyError::Status { retry_after, .. } | NotifyError::Api { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// A bounded label value for the `reason` metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            NotifyError::Status { status: 429, .. } => "rate_limited",
            NotifyError::Status { status, .. } if *status >= 500 => "status_5xx",
            NotifyError::Status { .. } => "status_4xx",
            NotifyError::Api { .. } => "api_error",
            NotifyError::Transport { timeout: true, .. } => "timeout",
            NotifyError::Transport { .. } => "transport",
            NotifyError::Template { .. } => "template",
            NotifyError::Invalid { .. } => "invalid",
            NotifyError::Smtp { .. } => "smtp",
        }
    }

    /// A transport error from reqwest.
    pub(crate) fn transport(integration: &'static str, e: &reqwest::Error) -> NotifyError {
        NotifyError::Transport {
            integration,
            message: e.without_url_ref_string(),
            timeout: e.is_timeout(),
        }
    }
}

trait WithoutUrl {
    fn without_url_ref_string(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    /// The error text without the URL (URLs carry secrets: Slack webhook
    /// paths, tokens), like Alertmanager's `RedactURL`.
    fn without_url_ref_string(&self) -> String {
        let mut s = String::new();
        let mut cur: Option<&dyn std::error::Error> = Some(self);
        let mut first = true;
        while let Some(e) = cur {
            if !first {
                s.push_str(": ");
            }
            first = false;
            s.push_str(&e.to_string());
            cur = e.source();
        }
        match self.url() {
            Some(u) => s.replace(u.as_str(), "<redacted>"),
            None => s,
        }
    }
}

/// Parses a `Retry-After` header value: delay-seconds or an HTTP date
/// (relative to `now`; a date in the past means "now").
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Classifies an HTTP status like Alertmanager's `notify.Retrier`: 2xx is
/// success (`None`), 5xx and the extra `retry_codes` are retryable, any
/// other status is permanent.
pub(crate) fn check_status(
    integration: &'static str,
    status: u16,
    body: String,
    retry_codes: &[u16],
    retry_after: Option<Duration>,
) -> Result<(), NotifyError> {
    if status / 100 == 2 {
        return Ok(());
    }
    let retryable = status / 100 == 5 || retry_codes.contains(&status);
    Err(NotifyError::Status {
        integration,
        status,
        body: truncate_body(body),
        retryable,
        retry_after: if retryable { retry_after } else { None },
    })
}

/// Keeps error messages bounded.
pub(crate) fn truncate_body(mut body: String) -> String {
    const MAX: usize = 1024;
    if body.len() > MAX {
        let mut cut = MAX;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
        body.push('…');
    }
    body.trim().to_string()
}

/// Reads a response: status, `Retry-After` and body text.
pub(crate) async fn read_response(
    integration: &'static str,
    resp: reqwest::Response,
) -> Result<(u16, Option<Duration>, String), NotifyError> {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let body = resp
        .text()
        .await
        .map_err(|e| NotifyError::transport(integration, &e))?;
    Ok((status, retry_after, body))
}
