//! The `traces:` section of the agent config: [`RawTraces`] mirrors the
//! YAML (`deny_unknown_fields`, a doc comment on every field) and
//! [`RawTraces::validate`] turns it into a typed [`TracesConfig`]. Pure.
//!
//! `redaction:` is the redaction engine's own section; when it is absent
//! the agent config uses the `logs:` section's (one policy for both), or
//! the engine's defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;
use watchfire_redact::{RawRedactionConfig, RedactionConfig};

use crate::ship::config::RawSize;
use crate::traces::sampling::Policy;

/// A `traces:` error: message and position (1:1 when it has none).
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct TracesConfigError {
    pub line: u64,
    pub col: u64,
    pub msg: String,
}

/// The raw `traces:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTraces {
    /// The OTLP/gRPC receiver (`opentelemetry.proto.collector.trace.v1.TraceService`).
    #[serde(default)]
    pub grpc: RawReceiver,
    /// The OTLP/HTTP receiver (`POST /v1/traces`, protobuf or JSON).
    #[serde(default)]
    pub http: RawReceiver,
    /// Which spans are kept.
    #[serde(default)]
    pub sampling: RawSampling,
    /// Redaction of resource, span, event and link attributes. Default: the
    /// `logs.redaction` section when there is one, else the engine's
    /// defaults.
    pub redaction: Option<RawRedactionConfig>,
    /// Where kept spans go. Required.
    pub export: Option<Spanned<RawExport>>,
    /// Span metrics (calls, errors, duration histogram).
    #[serde(default)]
    pub span_metrics: RawSpanMetrics,
}

/// `traces.grpc:` / `traces.http:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReceiver {
    /// Whether the receiver runs. Default true.
    pub enabled: Option<bool>,
    /// `ip:port` (or `localhost:port`). Default `0.0.0.0:4317` (gRPC),
    /// `0.0.0.0:4318` (HTTP).
    pub listen_address: Option<Spanned<String>>,
    /// Largest request, after decompression (e.g. `4MiB`). Larger ones are
    /// refused (gRPC `RESOURCE_EXHAUSTED`, HTTP 413). Default `4MiB`.
    pub max_request_size: Option<Spanned<String>>,
}

/// `traces.sampling:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSampling {
    /// Keep every span whose status is ERROR. Default true.
    pub keep_errors: Option<bool>,
    /// Keep every span at least this long (e.g. `1s`); `0s` turns the rule
    /// off. Default `1s`.
    pub latency_threshold: Option<Spanned<String>>,
    /// Fraction of the other spans kept, decided by trace id (0 to 1).
    /// Default 0.1.
    pub probability: Option<Spanned<f64>>,
}

/// `traces.export:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExport {
    /// The upstream: `http://host:4317` for gRPC, `http://host:4318` for
    /// HTTP (`/v1/traces` is appended when the path is empty). Required.
    pub endpoint: Option<Spanned<String>>,
    /// `grpc` (default) or `http` (protobuf).
    pub protocol: Option<Spanned<String>>,
    /// `gzip` (default) or `none`.
    pub compression: Option<Spanned<String>>,
    /// Extra request headers (gRPC metadata), e.g. an API key.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Spans per export request. Default 512.
    pub batch_max_spans: Option<Spanned<usize>>,
    /// How long a partial batch waits for more spans. Default `200ms`.
    pub batch_timeout: Option<Spanned<String>>,
    /// Spans held (queued and in flight) before the receivers push back
    /// with `RESOURCE_EXHAUSTED` / 429. Default 20000.
    pub queue_max_spans: Option<Spanned<usize>>,
    /// Timeout of one export request. Default `10s`.
    pub timeout: Option<Spanned<String>>,
    /// First retry delay; doubles up to `max_backoff`. Default `500ms`.
    pub initial_backoff: Option<Spanned<String>>,
    /// Longest retry delay. Default `10s`.
    pub max_backoff: Option<Spanned<String>>,
    /// A disk buffer (redb) for accepted spans: each request is durable
    /// before the receiver answers and deleted once the upstream
    /// acknowledged it; what is left is sent again after a restart.
    /// Default: none (spans queue in memory only).
    pub buffer: Option<Spanned<RawBuffer>>,
}

/// `traces.export.buffer:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuffer {
    /// The redb file. Default `./data/traces.redb`.
    pub path: Option<Spanned<String>>,
    /// Most record bytes kept on disk (an integer or e.g. `256MiB`); when
    /// full, the receivers push back like a full queue. Default `256MiB`,
    /// at least `1MiB`.
    pub max_size: Option<Spanned<RawSize>>,
}

/// `traces.span_metrics:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpanMetrics {
    /// Whether span metrics are computed. Default true.
    pub enabled: Option<bool>,
    /// Label sets (service, span name, kind, status) kept; the least
    /// recently seen is evicted beyond it. Default 2000.
    pub max_series: Option<Spanned<usize>>,
    /// Histogram bucket bounds in seconds, ascending. Default
    /// `[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10]`.
    pub buckets: Option<Spanned<Vec<f64>>>,
}

/// Export protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    Http,
}

/// One receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverConfig {
    pub listen_address: SocketAddr,
    pub max_request_size: usize,
}

/// The validated `traces.export:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    /// For gRPC, the channel URI; for HTTP, the full URL of `/v1/traces`.
    pub endpoint: String,
    pub protocol: Protocol,
    pub gzip: bool,
    pub headers: Vec<(String, String)>,
    pub batch_max_spans: usize,
    pub batch_timeout: Duration,
    pub queue_max_spans: usize,
    pub timeout: Duration,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// `None`: spans are queued in memory only.
    pub buffer: Option<BufferConfig>,
}

/// The validated `traces.export.buffer:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferConfig {
    pub path: PathBuf,
    pub max_bytes: u64,
}

/// Default `traces.export.buffer.max_size`.
pub const DEFAULT_BUFFER_BYTES: u64 = 256 << 20;
/// Smallest `traces.export.buffer.max_size`.
pub const MIN_BUFFER_BYTES: u64 = 1 << 20;

impl ExportConfig {
    /// Defaults, sending over `protocol` to `endpoint` (taken as is).
    pub fn new(endpoint: String, protocol: Protocol) -> ExportConfig {
        ExportConfig {
            endpoint,
            protocol,
            gzip: true,
            headers: Vec::new(),
            batch_max_spans: 512,
            batch_timeout: Duration::from_millis(200),
            queue_max_spans: 20_000,
            timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            buffer: None,
        }
    }
}

/// The validated span metrics settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanMetricsConfig {
    pub max_series: usize,
    pub buckets: Vec<f64>,
}

/// Default histogram bounds, in seconds.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0,
];

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        SpanMetricsConfig {
            max_series: 2000,
            buckets: DEFAULT_BUCKETS.to_vec(),
        }
    }
}

/// The validated `traces:` section.
#[derive(Debug, Clone)]
pub struct TracesConfig {
    /// `None` when the gRPC receiver is off.
    pub grpc: Option<ReceiverConfig>,
    /// `None` when the HTTP receiver is off.
    pub http: Option<ReceiverConfig>,
    pub sampling: Policy,
    /// `None` until the agent config resolves it (see the module docs).
    pub redaction: Option<RedactionConfig>,
    pub export: ExportConfig,
    /// `None` when span metrics are off.
    pub span_metrics: Option<SpanMetricsConfig>,
}

impl TracesConfig {
    /// Defaults with both receivers on `127.0.0.1` ports `grpc_port` and
    /// `http_port`, exporting to `export`.
    pub fn new(grpc_port: u16, http_port: u16, export: ExportConfig) -> TracesConfig {
        let rc = |port| ReceiverConfig {
            listen_address: SocketAddr::from(([127, 0, 0, 1], port)),
            max_request_size: DEFAULT_MAX_REQUEST,
        };
        TracesConfig {
            grpc: Some(rc(grpc_port)),
            http: Some(rc(http_port)),
            sampling: Policy::default(),
            redaction: None,
            export,
            span_metrics: Some(SpanMetricsConfig::default()),
        }
    }
}

/// Default largest request.
pub const DEFAULT_MAX_REQUEST: usize = 4 << 20;

fn err<T>(s: &Spanned<T>, msg: impl Into<String>) -> TracesConfigError {
    TracesConfigError {
        line: s.referenced.line(),
        col: s.referenced.column(),
        msg: msg.into(),
    }
}

fn nowhere(msg: impl Into<String>) -> TracesConfigError {
    TracesConfigError {
        line: 1,
        col: 1,
        msg: msg.into(),
    }
}

fn duration(
    s: &Option<Spanned<String>>,
    what: &str,
    default: Duration,
) -> Result<Duration, TracesConfigError> {
    let Some(s) = s else { return Ok(default) };
    let ms = watchfire_promql::duration::parse_duration(&s.value)
        .map_err(|e| err(s, format!("traces.{what}: {e}")))?;
    if ms < 0 {
        return Err(err(s, format!("traces.{what} must not be negative")));
    }
    Ok(Duration::from_millis(ms as u64))
}

fn positive(
    s: &Option<Spanned<usize>>,
    what: &str,
    default: usize,
) -> Result<usize, TracesConfigError> {
    match s {
        None => Ok(default),
        Some(v) if v.value == 0 => Err(err(v, format!("traces.{what} must be positive"))),
        Some(v) => Ok(v.value),
    }
}

fn receiver(
    r: &RawReceiver,
    what: &str,
    port: u16,
) -> Result<Option<ReceiverConfig>, TracesConfigError> {
    if !r.enabled.unwrap_or(true) {
        return Ok(None);
    }
    let listen_address = match &r.listen_address {
        None => SocketAddr::from(([0, 0, 0, 0], port)),
        Some(s) => {
            let text = match s.value.strip_prefix("localhost:") {
                Some(p) => format!("127.0.0.1:{p}"),
                None => s.value.clone(),
            };
            text.parse().map_err(|e| {
                err(
                    s,
                    format!("traces.{what}.listen_address: {e} (want ip:port or localhost:port)"),
                )
            })?
        }
    };
    let max_request_size = match &r.max_request_size {
        None => DEFAULT_MAX_REQUEST,
        Some(s) => crate::ship::config::parse_size(&s.value)
            .filter(|n| *n > 0)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                err(
                    s,
                    format!(
                        "traces.{what}.max_request_size: {:?} is not a positive size (e.g. 4MiB)",
                        s.value
                    ),
                )
            })?,
    };
    Ok(Some(ReceiverConfig {
        listen_address,
        max_request_size,
    }))
}

fn buffer(b: &Spanned<RawBuffer>) -> Result<BufferConfig, TracesConfigError> {
    let path = match &b.value.path {
        None => PathBuf::from("./data/traces.redb"),
        Some(p) if p.value.trim().is_empty() => {
            return Err(err(p, "traces.export.buffer.path must not be empty"))
        }
        Some(p) => PathBuf::from(&p.value),
    };
    let max_bytes = match &b.value.max_size {
        None => DEFAULT_BUFFER_BYTES,
        Some(s) => {
            let n = match &s.value {
                RawSize::Bytes(n) => Some(*n),
                RawSize::Text(t) => crate::ship::config::parse_size(t),
            };
            match n {
                Some(n) if n >= MIN_BUFFER_BYTES => n,
                Some(_) => {
                    return Err(err(
                        s,
                        format!("traces.export.buffer.max_size must be at least {MIN_BUFFER_BYTES} bytes (1MiB)"),
                    ))
                }
                None => {
                    return Err(err(
                        s,
                        "traces.export.buffer.max_size: invalid size (use bytes or e.g. 256MiB)",
                    ))
                }
            }
        }
    };
    Ok(BufferConfig { path, max_bytes })
}

impl RawExport {
    fn validate(&self) -> Result<ExportConfig, TracesConfigError> {
        let protocol = match &self.protocol {
            None => Protocol::Grpc,
            Some(s) => match s.value.as_str() {
                "grpc" => Protocol::Grpc,
                "http" | "http/protobuf" => Protocol::Http,
                other => {
                    return Err(err(
                        s,
                        format!("traces.export.protocol: {other:?} is not grpc or http"),
                    ))
                }
            },
        };
        let Some(ep) = &self.endpoint else {
            return Err(nowhere(
                "traces.export.endpoint is required: where should spans go?",
            ));
        };
        let mut url = url::Url::parse(&ep.value)
            .map_err(|e| err(ep, format!("traces.export.endpoint: {e}")))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(err(
                ep,
                "traces.export.endpoint: scheme must be http or https",
            ));
        }
        if protocol == Protocol::Http && (url.path().is_empty() || url.path() == "/") {
            url.set_path("/v1/traces");
        }
        let endpoint = match protocol {
            Protocol::Http => url.to_string(),
            Protocol::Grpc => ep.value.clone(),
        };
        let gzip = match &self.compression {
            None => true,
            Some(s) => match s.value.as_str() {
                "gzip" => true,
                "none" => false,
                other => {
                    return Err(err(
                        s,
                        format!("traces.export.compression: {other:?} is not gzip or none"),
                    ))
                }
            },
        };
        let d = ExportConfig::new(String::new(), protocol);
        let cfg = ExportConfig {
            endpoint,
            protocol,
            gzip,
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            batch_max_spans: positive(
                &self.batch_max_spans,
                "export.batch_max_spans",
                d.batch_max_spans,
            )?,
            batch_timeout: duration(&self.batch_timeout, "export.batch_timeout", d.batch_timeout)?,
            queue_max_spans: positive(
                &self.queue_max_spans,
                "export.queue_max_spans",
                d.queue_max_spans,
            )?,
            timeout: duration(&self.timeout, "export.timeout", d.timeout)?,
            initial_backoff: duration(
                &self.initial_backoff,
                "export.initial_backoff",
                d.initial_backoff,
            )?,
            max_backoff: duration(&self.max_backoff, "export.max_backoff", d.max_backoff)?,
            buffer: self.buffer.as_ref().map(buffer).transpose()?,
        };
        for (k, _) in &cfg.headers {
            if axum::http::HeaderName::from_bytes(k.as_bytes()).is_err() {
                return Err(nowhere(format!(
                    "traces.export.headers: {k:?} is not a header name"
                )));
            }
        }
        if cfg.queue_max_spans < cfg.batch_max_spans {
            return Err(nowhere(
                "traces.export.queue_max_spans must be at least batch_max_spans",
            ));
        }
        if cfg.timeout.is_zero() {
            return Err(nowhere("traces.export.timeout must be positive"));
        }
        Ok(cfg)
    }
}

impl RawTraces {
    /// Checks every value and converts to typed form. Pure.
    pub fn validate(self, name: &str) -> Result<TracesConfig, TracesConfigError> {
        let grpc = receiver(&self.grpc, "grpc", 4317)?;
        let http = receiver(&self.http, "http", 4318)?;
        let mut sampling = Policy::default();
        if let Some(k) = self.sampling.keep_errors {
            sampling.keep_errors = k;
        }
        sampling.latency_threshold = duration(
            &self.sampling.latency_threshold,
            "sampling.latency_threshold",
            sampling.latency_threshold,
        )?;
        if let Some(p) = &self.sampling.probability {
            if !(0.0..=1.0).contains(&p.value) {
                return Err(err(
                    p,
                    "traces.sampling.probability must be between 0 and 1",
                ));
            }
            sampling.probability = p.value;
        }
        let redaction = match self.redaction {
            None => None,
            Some(r) => Some(r.validate(name).map_err(|e| match e {
                watchfire_redact::ConfigError::Invalid { line, col, msg, .. } => {
                    TracesConfigError {
                        line: line as u64,
                        col: col as u64,
                        msg: format!("traces.redaction: {msg}"),
                    }
                }
                other => nowhere(format!("traces.redaction: {other}")),
            })?),
        };
        let export = match &self.export {
            None => return Err(nowhere("traces.export is required: where should spans go?")),
            Some(e) => e.value.validate().map_err(|x| {
                if x.line <= 1 && x.col <= 1 {
                    err(e, x.msg)
                } else {
                    x
                }
            })?,
        };
        let span_metrics = if self.span_metrics.enabled.unwrap_or(true) {
            let mut m = SpanMetricsConfig::default();
            m.max_series = positive(
                &self.span_metrics.max_series,
                "span_metrics.max_series",
                m.max_series,
            )?;
            if let Some(b) = &self.span_metrics.buckets {
                let ok = !b.value.is_empty()
                    && b.value.iter().all(|x| x.is_finite())
                    && b.value.windows(2).all(|w| w[0] < w[1]);
                if !ok {
                    return Err(err(
                        b,
                        "traces.span_metrics.buckets must be finite and strictly ascending",
                    ));
                }
                m.buckets = b.value.clone();
            }
            Some(m)
        } else {
            None
        };
        Ok(TracesConfig {
            grpc,
            http,
            sampling,
            redaction,
            export,
            span_metrics,
        })
    }
}
