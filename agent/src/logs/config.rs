//! The `logs:` section of the agent config: [`RawLogs`] mirrors the YAML
//! (`deny_unknown_fields`, a doc comment on every field; `redaction:` is
//! the redaction engine's own [`RawRedactionConfig`]) and
//! [`RawLogs::validate`] turns it into a typed [`LogsConfig`]. Pure.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;
use watchfire_redact::{RawRedactionConfig, RedactionConfig};

use crate::logs::format::Format;
use crate::logs::sink::elasticsearch::{ElasticsearchConfig, RawElasticsearchSink};
use crate::logs::sink::kafka::{KafkaConfig, RawKafkaSink};
use crate::logs::sink::loki::{LokiConfig, RawLokiSink};
use crate::logs::tail::{ReadFrom, TailConfig};

/// A `logs:` error: message and position.
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct LogsConfigError {
    pub line: u64,
    pub col: u64,
    pub msg: String,
}

/// The raw `logs:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogs {
    /// Glob patterns of files to tail. Required, at least one.
    #[serde(default)]
    pub include: Vec<Spanned<String>>,
    /// Glob patterns of files to skip.
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
    /// `auto` (default), `cri`, `docker`, `json` or `plain`.
    pub format: Option<Spanned<String>>,
    /// Where files found at start without a checkpoint begin: `beginning`
    /// (default) or `end`. Files appearing later are always read whole.
    pub read_from: Option<Spanned<String>>,
    /// Files not modified for this long are not opened (e.g. `24h`).
    pub ignore_older: Option<Spanned<String>>,
    /// Longer lines are cut to this size and counted. Default `256KiB`.
    pub max_line_bytes: Option<Spanned<String>>,
    /// How many first bytes (at most) of a file's first line identify it.
    /// Default `1024`.
    pub fingerprint_bytes: Option<Spanned<usize>>,
    /// Bytes read from one file before moving to the next. Default `64KiB`.
    pub read_budget: Option<Spanned<String>>,
    /// How often files are globbed and read when idle. Default `250ms`.
    pub poll_interval: Option<Spanned<String>>,
    /// Records per batch handed to the sinks. Default `512`.
    pub batch_lines: Option<Spanned<usize>>,
    /// Batches queued between stages, per sink. Default `8`.
    pub queue_batches: Option<Spanned<usize>>,
    /// The redb file of file offsets. Default `./data/logs.redb`.
    pub checkpoint_path: Option<PathBuf>,
    /// Redaction, applied to every record before any sink sees it.
    #[serde(default)]
    pub redaction: RawRedactionConfig,
    /// Where records go. At least one sink.
    #[serde(default)]
    pub sinks: RawSinks,
}

/// `logs.sinks:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSinks {
    /// Append JSON lines to a file.
    pub file: Option<RawFileSink>,
    /// Acknowledge and drop every record (`blackhole: {}`): for measuring
    /// the pipeline without a destination, or trying redaction rules.
    pub blackhole: Option<RawBlackholeSink>,
    /// Elasticsearch / OpenSearch `_bulk`.
    pub elasticsearch: Option<RawElasticsearchSink>,
    /// Loki push API.
    pub loki: Option<RawLokiSink>,
    /// Kafka (one message per record, keyed by namespace/pod).
    pub kafka: Option<RawKafkaSink>,
}

/// `logs.sinks.file:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFileSink {
    /// The file to append to.
    pub path: PathBuf,
}

/// `logs.sinks.blackhole:` (no settings: `blackhole: {}`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBlackholeSink {}

/// A configured sink.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkConfig {
    File { path: PathBuf },
    Blackhole,
    Elasticsearch(ElasticsearchConfig),
    Loki(LokiConfig),
    Kafka(KafkaConfig),
}

/// The validated `logs:` section.
#[derive(Debug, Clone)]
pub struct LogsConfig {
    pub tail: TailConfig,
    pub poll_interval: Duration,
    pub batch_lines: usize,
    pub queue_batches: usize,
    pub checkpoint_path: PathBuf,
    pub redaction: RedactionConfig,
    pub sinks: Vec<SinkConfig>,
}

impl LogsConfig {
    /// Defaults for `include`, writing to `sinks`, without redaction
    /// settings beyond the engine's defaults.
    pub fn new(
        include: Vec<String>,
        checkpoint_path: PathBuf,
        sinks: Vec<SinkConfig>,
    ) -> LogsConfig {
        LogsConfig {
            tail: TailConfig::new(include),
            poll_interval: Duration::from_millis(250),
            batch_lines: 512,
            queue_batches: 8,
            checkpoint_path,
            redaction: RawRedactionConfig::default()
                .validate("<default>")
                .unwrap_or_else(|_| unreachable!("the default redaction config is valid")),
            sinks,
        }
    }
}

fn err<T>(s: &Spanned<T>, msg: impl Into<String>) -> LogsConfigError {
    LogsConfigError {
        line: s.referenced.line(),
        col: s.referenced.column(),
        msg: msg.into(),
    }
}

fn duration(s: &Spanned<String>, what: &str) -> Result<Duration, LogsConfigError> {
    let ms = watchfire_promql::duration::parse_duration(&s.value)
        .map_err(|e| err(s, format!("logs.{what}: {e}")))?;
    if ms <= 0 {
        return Err(err(s, format!("logs.{what} must be positive")));
    }
    Ok(Duration::from_millis(ms as u64))
}

fn size(s: &Spanned<String>, what: &str) -> Result<usize, LogsConfigError> {
    crate::ship::config::parse_size(&s.value)
        .filter(|&n| n > 0)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            err(
                s,
                format!(
                    "logs.{what}: {:?} is not a positive size (e.g. 256KiB)",
                    s.value
                ),
            )
        })
}

fn positive(
    s: &Option<Spanned<usize>>,
    what: &str,
    default: usize,
) -> Result<usize, LogsConfigError> {
    match s {
        None => Ok(default),
        Some(v) if v.value == 0 => Err(err(v, format!("logs.{what} must be positive"))),
        Some(v) => Ok(v.value),
    }
}

impl RawLogs {
    /// Checks every value. `name` is the config file (for redaction
    /// errors, which carry their own position).
    pub fn validate(self, name: &str) -> Result<LogsConfig, LogsConfigError> {
        if self.include.is_empty() {
            return Err(LogsConfigError {
                line: 1,
                col: 1,
                msg: "logs.include: at least one glob pattern is required".into(),
            });
        }
        for p in &self.include {
            glob::Pattern::new(&p.value).map_err(|e| err(p, format!("logs.include: {e}")))?;
        }
        let exclude = self
            .exclude
            .iter()
            .map(|p| glob::Pattern::new(&p.value).map_err(|e| err(p, format!("logs.exclude: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tail = TailConfig::new(self.include.iter().map(|s| s.value.clone()).collect());
        tail.exclude = exclude;
        if let Some(f) = &self.format {
            tail.format = Format::parse(&f.value).ok_or_else(|| {
                err(
                    f,
                    format!(
                        "logs.format: unknown format {:?} (auto, cri, docker, json, plain)",
                        f.value
                    ),
                )
            })?;
        }
        if let Some(r) = &self.read_from {
            tail.read_from = match r.value.as_str() {
                "beginning" => ReadFrom::Beginning,
                "end" => ReadFrom::End,
                other => {
                    return Err(err(
                        r,
                        format!("logs.read_from: {other:?} (beginning or end)"),
                    ))
                }
            };
        }
        if let Some(d) = &self.ignore_older {
            tail.ignore_older = Some(duration(d, "ignore_older")?);
        }
        if let Some(s) = &self.max_line_bytes {
            tail.max_line_bytes = size(s, "max_line_bytes")?;
        }
        tail.fingerprint_bytes = positive(&self.fingerprint_bytes, "fingerprint_bytes", 1024)?;
        if let Some(s) = &self.read_budget {
            tail.read_budget = size(s, "read_budget")?;
        }
        let poll_interval = match &self.poll_interval {
            Some(d) => duration(d, "poll_interval")?,
            None => Duration::from_millis(250),
        };
        let batch_lines = positive(&self.batch_lines, "batch_lines", 512)?;
        let queue_batches = positive(&self.queue_batches, "queue_batches", 8)?;
        let redaction = self.redaction.validate(name).map_err(|e| match e {
            watchfire_redact::ConfigError::Invalid { line, col, msg, .. } => LogsConfigError {
                line: line as u64,
                col: col as u64,
                msg: format!("logs.redaction: {msg}"),
            },
            other => LogsConfigError {
                line: 1,
                col: 1,
                msg: format!("logs.redaction: {other}"),
            },
        })?;
        let mut sinks = Vec::new();
        if let Some(f) = self.sinks.file {
            sinks.push(SinkConfig::File { path: f.path });
        }
        if self.sinks.blackhole.is_some() {
            sinks.push(SinkConfig::Blackhole);
        }
        if let Some(e) = &self.sinks.elasticsearch {
            sinks.push(SinkConfig::Elasticsearch(e.validate()?));
        }
        if let Some(l) = &self.sinks.loki {
            sinks.push(SinkConfig::Loki(l.validate()?));
        }
        if let Some(k) = &self.sinks.kafka {
            sinks.push(SinkConfig::Kafka(k.validate()?));
        }
        if sinks.is_empty() {
            return Err(LogsConfigError {
                line: 1,
                col: 1,
                msg: "logs.sinks: at least one sink is required (file, blackhole, elasticsearch, loki, kafka)"
                    .into(),
            });
        }
        Ok(LogsConfig {
            tail,
            poll_interval,
            batch_lines,
            queue_batches,
            checkpoint_path: self
                .checkpoint_path
                .unwrap_or_else(|| PathBuf::from("./data/logs.redb")),
            redaction,
            sinks,
        })
    }
}
