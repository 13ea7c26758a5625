//! Configuration of the remote_write sender: the raw YAML shape
//! ([`RawRemoteWrite`], strict: unknown keys are errors) and its pure
//! validation into typed values ([`RemoteWriteConfig`]).
//!
//! ```yaml
//! remote_write:
//!   url: http://router:9090/api/v1/write
//!   remote_timeout: 30s
//!   bearer_token_file: /var/run/secrets/token   # or basic_auth / bearer_token
//!   headers: { X-Scope-OrgID: team-a }
//!   queue: { min_shards: 1, max_shards: 8, max_samples_per_send: 2000,
//!            batch_send_deadline: 5s, min_backoff: 30ms, max_backoff: 5s }
//!   buffer: { path: /var/lib/watchfire/remote_write.redb, max_size: 1GiB, max_age: 6h }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// `remote_write:` as written in the agent's config file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawRemoteWrite {
    /// Endpoint receiving remote_write 1.0, e.g. `http://router:9090/api/v1/write`.
    pub url: String,
    /// Timeout of one HTTP request (Prometheus duration). Default `30s`.
    #[serde(default)]
    pub remote_timeout: Option<String>,
    /// Extra request headers. The protocol headers (`Content-Type`,
    /// `Content-Encoding`, `X-Prometheus-Remote-Write-Version`,
    /// `User-Agent`) and `Authorization` may not be set here.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// HTTP basic authentication.
    #[serde(default)]
    pub basic_auth: Option<RawBasicAuth>,
    /// Bearer token sent as `Authorization: Bearer …`.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// File holding the bearer token (read once at validation).
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// Sharding, batching and retries.
    #[serde(default)]
    pub queue: RawQueue,
    /// The on-disk write-ahead buffer.
    #[serde(default)]
    pub buffer: RawBuffer,
}

/// `basic_auth:`; exactly one of `password` and `password_file`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// `queue:`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawQueue {
    /// Fewest parallel shards (default 1).
    pub min_shards: Option<usize>,
    /// Most parallel shards (default 8).
    pub max_shards: Option<usize>,
    /// Most samples in one request (default 2000).
    pub max_samples_per_send: Option<usize>,
    /// Longest a sample waits for its batch to fill (default `5s`).
    pub batch_send_deadline: Option<String>,
    /// First retry delay (default `30ms`); doubles per failure, with jitter.
    pub min_backoff: Option<String>,
    /// Largest retry delay (default `5s`).
    pub max_backoff: Option<String>,
    /// Largest `Retry-After` honoured (default `5m`); longer ones are cut.
    pub max_retry_after: Option<String>,
}

/// `buffer:`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawBuffer {
    /// redb file (default `./data/remote_write.redb`).
    pub path: Option<PathBuf>,
    /// Most bytes of unsent data kept on disk: an integer or `512MiB`,
    /// `1GiB`, `100MB` (default `1GiB`). When full, the oldest unsent data
    /// is dropped and counted with `reason="buffer_full"`.
    pub max_size: Option<RawSize>,
    /// Unsent data older than this is dropped, `reason="too_old"`
    /// (default `6h`).
    pub max_age: Option<String>,
}

/// A byte size, as a number or a string with a unit.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RawSize {
    Bytes(u64),
    Text(String),
}

/// Authentication of requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic { username: String, password: String },
    Bearer(String),
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteConfig {
    pub url: reqwest::Url,
    pub timeout: Duration,
    pub headers: Vec<(String, String)>,
    pub auth: Auth,
    pub queue: QueueConfig,
    pub buffer: BufferConfig,
}

/// Validated `queue:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    pub min_shards: usize,
    pub max_shards: usize,
    pub max_samples_per_send: usize,
    pub batch_send_deadline: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub max_retry_after: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            min_shards: 1,
            max_shards: 8,
            max_samples_per_send: 2000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// Validated `buffer:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferConfig {
    pub path: PathBuf,
    pub max_bytes: u64,
    pub max_age: Duration,
}

/// Smallest accepted `buffer.max_size`.
pub const MIN_BUFFER_BYTES: u64 = 1 << 20;

/// A configuration mistake, naming the field.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("remote_write.url {0:?}: {1}")]
    Url(String, String),
    #[error("remote_write.{field}: invalid duration {value:?}: {reason}")]
    Duration {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("remote_write.{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("remote_write.buffer.max_size: invalid size {0:?} (use bytes or e.g. 512MiB, 1GiB)")]
    Size(String),
    #[error("remote_write.headers: {0:?} may not be set (it is set by the sender)")]
    ReservedHeader(String),
    #[error("remote_write.headers: {0:?} is not a valid header name or value")]
    BadHeader(String),
    #[error("remote_write: at most one of basic_auth, bearer_token and bearer_token_file")]
    AuthConflict,
    #[error("remote_write: cannot read {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

fn dur(
    field: &'static str,
    v: &Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let Some(s) = v else { return Ok(default) };
    let ms = watchfire_promql::duration::parse_duration(s).map_err(|e| ConfigError::Duration {
        field,
        value: s.clone(),
        reason: e.to_string(),
    })?;
    u64::try_from(ms)
        .map(Duration::from_millis)
        .map_err(|_| ConfigError::Duration {
            field,
            value: s.clone(),
            reason: "must not be negative".into(),
        })
}

/// Parses `123`, `64KiB`, `512MiB`, `1GiB`, `100MB`, `1TB`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.into(),
    }
}

const RESERVED: [&str; 5] = [
    "content-type",
    "content-encoding",
    "x-prometheus-remote-write-version",
    "user-agent",
    "authorization",
];

impl RawRemoteWrite {
    /// Validates into typed values. Pure except for reading
    /// `bearer_token_file` / `password_file` when given.
    pub fn validate(&self) -> Result<RemoteWriteConfig, ConfigError> {
        let url = reqwest::Url::parse(&self.url)
            .map_err(|e| ConfigError::Url(self.url.clone(), e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::Url(
                self.url.clone(),
                "scheme must be http or https".into(),
            ));
        }
        let timeout = dur(
            "remote_timeout",
            &self.remote_timeout,
            Duration::from_secs(30),
        )?;
        if timeout.is_zero() {
            return Err(invalid("remote_timeout", "must be positive"));
        }
        let mut headers = Vec::new();
        for (k, v) in &self.headers {
            if RESERVED.contains(&k.to_ascii_lowercase().as_str()) {
                return Err(ConfigError::ReservedHeader(k.clone()));
            }
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(v).is_err()
            {
                return Err(ConfigError::BadHeader(k.clone()));
            }
            headers.push((k.clone(), v.clone()));
        }
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| ConfigError::File {
                    path: p.clone(),
                    reason: e.to_string(),
                })
        };
        let auth = match (
            &self.basic_auth,
            &self.bearer_token,
            &self.bearer_token_file,
        ) {
            (None, None, None) => Auth::None,
            (Some(b), None, None) => {
                let password = match (&b.password, &b.password_file) {
                    (Some(p), None) => p.clone(),
                    (None, Some(f)) => read(f)?,
                    (None, None) => String::new(),
                    (Some(_), Some(_)) => {
                        return Err(invalid(
                            "basic_auth",
                            "at most one of password and password_file",
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
            _ => return Err(ConfigError::AuthConflict),
        };
        let d = QueueConfig::default();
        let q = &self.queue;
        let queue = QueueConfig {
            min_shards: q.min_shards.unwrap_or(d.min_shards),
            max_shards: q.max_shards.unwrap_or(d.max_shards),
            max_samples_per_send: q.max_samples_per_send.unwrap_or(d.max_samples_per_send),
            batch_send_deadline: dur(
                "queue.batch_send_deadline",
                &q.batch_send_deadline,
                d.batch_send_deadline,
            )?,
            min_backoff: dur("queue.min_backoff", &q.min_backoff, d.min_backoff)?,
            max_backoff: dur("queue.max_backoff", &q.max_backoff, d.max_backoff)?,
            max_retry_after: dur(
                "queue.max_retry_after",
                &q.max_retry_after,
                d.max_retry_after,
            )?,
        };
        if queue.min_shards == 0 || queue.min_shards > queue.max_shards || queue.max_shards > 256 {
            return Err(invalid(
                "queue",
                "need 1 <= min_shards <= max_shards <= 256",
            ));
        }
        if queue.max_samples_per_send == 0 {
            return Err(invalid("queue.max_samples_per_send", "must be positive"));
        }
        if queue.batch_send_deadline.is_zero() {
            return Err(invalid("queue.batch_send_deadline", "must be positive"));
        }
        if queue.min_backoff.is_zero() || queue.min_backoff > queue.max_backoff {
            return Err(invalid("queue", "need 0 < min_backoff <= max_backoff"));
        }
        let b = &self.buffer;
        let max_bytes = match &b.max_size {
            None => 1 << 30,
            Some(RawSize::Bytes(n)) => *n,
            Some(RawSize::Text(s)) => parse_size(s).ok_or_else(|| ConfigError::Size(s.clone()))?,
        };
        if max_bytes < MIN_BUFFER_BYTES {
            return Err(invalid(
                "buffer.max_size",
                format!("must be at least {MIN_BUFFER_BYTES} bytes"),
            ));
        }
        let max_age = dur("buffer.max_age", &b.max_age, Duration::from_secs(6 * 3600))?;
        if max_age.is_zero() {
            return Err(invalid("buffer.max_age", "must be positive"));
        }
        Ok(RemoteWriteConfig {
            url,
            timeout,
            headers,
            auth,
            queue,
            buffer: BufferConfig {
                path: b
                    .path
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("data/remote_write.redb")),
                max_bytes,
                max_age,
            },
        })
    }
}

impl RemoteWriteConfig {
    /// A configuration with defaults for `url` and a buffer at `path`.
    pub fn new(url: reqwest::Url, path: impl Into<PathBuf>) -> Self {
        RemoteWriteConfig {
            url,
            timeout: Duration::from_secs(30),
            headers: Vec::new(),
            auth: Auth::None,
            queue: QueueConfig::default(),
            buffer: BufferConfig {
                path: path.into(),
                max_bytes: 1 << 30,
                max_age: Duration::from_secs(6 * 3600),
            },
        }
    }
}
