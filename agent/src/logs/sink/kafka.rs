//! The Kafka sink: one Kafka message per record, produced with librdkafka
//! (`rdkafka`'s [`FutureProducer`]).
//!
//! - **Key**: `namespace/pod` from the record's Kubernetes metadata, so
//!   one pod's lines land in one partition, in order. A record without
//!   Kubernetes metadata is keyed by its source `file` (still one file per
//!   partition, in order); a line that is not a JSON object has no key.
//!   See [`record_key`].
//! - **Durability**: `acks=all` and `enable.idempotence=true` are forced
//!   (no property can override them), so a broker retry never duplicates
//!   or reorders a message within a partition.
//! - **Acknowledgement is driven by delivery reports**: [`KafkaSink::send`]
//!   enqueues every record of the batch, then waits for each one's
//!   delivery report. It resolves only when every record was delivered
//!   (or deliberately dropped, below). While brokers are unreachable
//!   librdkafka keeps retrying for `message_timeout`; a record whose
//!   report is a failure is produced again (only the failed ones, in their
//!   original order) after a backoff, never skipped. Meanwhile the sink
//!   queue fills and reading pauses. Order per key holds whenever
//!   delivery succeeds at the first report (librdkafka's own retries keep
//!   it, idempotence guarantees it); a record produced again after a
//!   failed report may land after later records of its key that were
//!   delivered meanwhile (at least once beats order).
//! - **Permanent errors**: records the cluster will never accept (message
//!   too large, invalid or corrupt record) are dropped, counted in
//!   `watchfire_agent_log_sink_dropped_total{sink="kafka",reason}`
//!   (`too_large`, `rejected`) and logged, like the HTTP sinks' refused
//!   records. Everything else (timeouts, unknown topic, authorization,
//!   transport) is retried: an operator fixes those, the data waits.
//! - A fatal producer error (the idempotent producer's sequence state is
//!   broken) recreates the producer, then the failed records are retried.
//!
//! Failed attempts count in `watchfire_agent_log_sink_errors_total{sink="kafka"}`,
//! delivered records in `watchfire_agent_log_sink_sent_total{sink="kafka"}`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::http::{span_err, Dropper};
use super::{SendFuture, Sink, SinkError};
use crate::logs::config::LogsConfigError;
use crate::logs::metrics::LogMetrics;
use crate::ship::send::Backoff;

/// librdkafka properties the sink sets itself: they have their own keys
/// (`brokers`, `compression`, `message_timeout`, `linger`, …) or are
/// forced (`acks`, `enable.idempotence`), or would break acknowledgement.
pub const RESERVED_PROPERTIES: [&str; 17] = [
    "bootstrap.servers",
    "metadata.broker.list",
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "compression.type",
    "compression.codec",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "linger.ms",
    "queue.buffering.max.ms",
    "batch.num.messages",
    "batch.size",
    "delivery.report.only.error",
    "transactional.id",
    "dr_cb",
    "dr_msg_cb",
];

/// `logs.sinks.kafka:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKafkaSink {
    /// Bootstrap brokers, `host:port`. At least one.
    #[serde(default)]
    pub brokers: Vec<Spanned<String>>,
    /// The topic every record is produced to. Required.
    pub topic: Spanned<String>,
    /// `none`, `gzip`, `snappy`, `lz4` (default) or `zstd`.
    pub compression: Option<Spanned<String>>,
    /// How long librdkafka keeps trying one message (`message.timeout.ms`)
    /// before reporting it failed; the sink then produces it again.
    /// Default `60s`.
    pub message_timeout: Option<Spanned<String>>,
    /// How long messages wait to fill a batch (`linger.ms`). Default `1ms`:
    /// the sink enqueues a whole batch and waits for its delivery reports
    /// before the next, so a longer linger adds straight to every batch
    /// (`5ms` halved throughput in `benches/logs_compare.rs`).
    pub linger: Option<Spanned<String>>,
    /// Most messages in one produce batch (`batch.num.messages`). Default `10000`.
    pub batch_messages: Option<Spanned<usize>>,
    /// Largest produce batch (`batch.size`), e.g. `1MiB` (default).
    pub batch_bytes: Option<Spanned<String>>,
    /// First delay before producing failed records again, doubling with
    /// jitter. Default `100ms`.
    pub min_backoff: Option<Spanned<String>>,
    /// Largest such delay. Default `30s`.
    pub max_backoff: Option<Spanned<String>>,
    /// Extra librdkafka properties (e.g. `security.protocol`,
    /// `client.id`), passed through and checked by librdkafka. The
    /// [`RESERVED_PROPERTIES`] are refused.
    pub properties: Option<Spanned<BTreeMap<String, PropertyValue>>>,
}

/// A property value: YAML strings, numbers and booleans are all accepted.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PropertyValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PropertyValue::Bool(b) => write!(f, "{b}"),
            PropertyValue::Int(i) => write!(f, "{i}"),
            PropertyValue::Float(x) => write!(f, "{x}"),
            PropertyValue::Text(s) => f.write_str(s),
        }
    }
}

/// Message compression (`compression.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// The config / librdkafka name.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Parses a config name.
    pub fn parse(s: &str) -> Option<Compression> {
        [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// The validated sink.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaConfig {
    pub brokers: Vec<String>,
    pub topic: String,
    pub compression: Compression,
    pub message_timeout: Duration,
    pub linger: Duration,
    pub batch_messages: usize,
    pub batch_bytes: usize,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Extra librdkafka properties (never a reserved one).
    pub properties: BTreeMap<String, String>,
}

impl KafkaConfig {
    /// `brokers` and `topic` with defaults for everything else.
    pub fn new(brokers: Vec<String>, topic: impl Into<String>) -> KafkaConfig {
        KafkaConfig {
            brokers,
            topic: topic.into(),
            compression: Compression::Lz4,
            message_timeout: Duration::from_secs(60),
            linger: Duration::from_millis(1),
            batch_messages: 10_000,
            batch_bytes: 1 << 20,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            properties: BTreeMap::new(),
        }
    }

    /// Every librdkafka property of the producer: the extra ones first,
    /// then the sink's own and the forced ones (which win). Pure.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c.set("bootstrap.servers", self.brokers.join(","))
            .set("compression.type", self.compression.as_str())
            .set(
                "message.timeout.ms",
                self.message_timeout.as_millis().max(1).to_string(),
            )
            .set("linger.ms", self.linger.as_millis().to_string())
            .set("batch.num.messages", self.batch_messages.to_string())
            .set("batch.size", self.batch_bytes.to_string())
            .set("acks", "all")
            .set("enable.idempotence", "true");
        c
    }
}

fn dur(
    s: &Option<Spanned<String>>,
    key: &str,
    default: Duration,
) -> Result<Duration, LogsConfigError> {
    let Some(s) = s else { return Ok(default) };
    let ms = watchfire_promql::duration::parse_duration(&s.value)
        .map_err(|e| span_err(s, format!("logs.sinks.kafka.{key}: {e}")))?;
    if ms <= 0 {
        return Err(span_err(
            s,
            format!("logs.sinks.kafka.{key} must be positive"),
        ));
    }
    Ok(Duration::from_millis(ms as u64))
}

impl RawKafkaSink {
    /// Checks every value; the extra properties are checked by librdkafka
    /// itself (names and values, no connection is made).
    pub fn validate(&self) -> Result<KafkaConfig, LogsConfigError> {
        let k = |key: &str| format!("logs.sinks.kafka.{key}");
        if self.brokers.is_empty() {
            return Err(span_err(
                &self.topic,
                format!(
                    "{}: at least one broker (host:port) is required",
                    k("brokers")
                ),
            ));
        }
        for b in &self.brokers {
            let ok = b
                .value
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok || b.value.contains(',') || b.value.contains(char::is_whitespace) {
                return Err(span_err(
                    b,
                    format!("{}: {:?} is not host:port", k("brokers"), b.value),
                ));
            }
        }
        let topic = &self.topic.value;
        let topic_ok = !topic.is_empty()
            && topic.len() <= 249
            && topic != "."
            && topic != ".."
            && topic
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
        if !topic_ok {
            return Err(span_err(
                &self.topic,
                format!(
                    "{}: {topic:?} is not a valid topic name ([a-zA-Z0-9._-], at most 249)",
                    k("topic")
                ),
            ));
        }
        let mut cfg = KafkaConfig::new(
            self.brokers.iter().map(|b| b.value.clone()).collect(),
            topic.clone(),
        );
        if let Some(c) = &self.compression {
            cfg.compression = Compression::parse(&c.value).ok_or_else(|| {
                span_err(
                    c,
                    format!(
                        "{}: {:?} (none, gzip, snappy, lz4 or zstd)",
                        k("compression"),
                        c.value
                    ),
                )
            })?;
        }
        cfg.message_timeout = dur(
            &self.message_timeout,
            "message_timeout",
            cfg.message_timeout,
        )?;
        if let Some(l) = &self.linger {
            // `0s` is a valid linger: send at once.
            let ms = watchfire_promql::duration::parse_duration(&l.value)
                .map_err(|e| span_err(l, format!("{}: {e}", k("linger"))))?;
            if !(0..=900_000).contains(&ms) {
                return Err(span_err(l, format!("{}: between 0s and 15m", k("linger"))));
            }
            cfg.linger = Duration::from_millis(ms as u64);
        }
        if let Some(n) = &self.batch_messages {
            if !(1..=1_000_000).contains(&n.value) {
                return Err(span_err(
                    n,
                    format!("{}: between 1 and 1000000", k("batch_messages")),
                ));
            }
            cfg.batch_messages = n.value;
        }
        if let Some(s) = &self.batch_bytes {
            cfg.batch_bytes = crate::ship::config::parse_size(&s.value)
                .filter(|&n| (1..=i32::MAX as u64).contains(&n))
                .map(|n| n as usize)
                .ok_or_else(|| {
                    span_err(
                        s,
                        format!(
                            "{}: {:?} is not a size between 1B and 2GiB (e.g. 1MiB)",
                            k("batch_bytes"),
                            s.value
                        ),
                    )
                })?;
        }
        cfg.min_backoff = dur(&self.min_backoff, "min_backoff", cfg.min_backoff)?;
        cfg.max_backoff = dur(&self.max_backoff, "max_backoff", cfg.max_backoff)?;
        if cfg.max_backoff < cfg.min_backoff {
            if let Some(s) = &self.max_backoff {
                return Err(span_err(
                    s,
                    format!("{} is below min_backoff", k("max_backoff")),
                ));
            }
        }
        if let Some(p) = &self.properties {
            for (name, value) in &p.value {
                if RESERVED_PROPERTIES.contains(&name.as_str()) {
                    return Err(span_err(
                        p,
                        format!(
                            "{}: {name:?} is set by the sink (use its own key, or it is forced)",
                            k("properties")
                        ),
                    ));
                }
                cfg.properties.insert(name.clone(), value.to_string());
            }
            if let Err(e) = cfg.client_config().create_native_config() {
                return Err(span_err(p, format!("{}: {e}", k("properties"))));
            }
        }
        Ok(cfg)
    }
}

/// The message key of a record: `namespace/pod` from its Kubernetes
/// metadata, else its source `file`, else none. Pure.
pub fn record_key(line: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Rec<'a> {
        #[serde(borrow, default)]
        kubernetes: Option<K8s<'a>>,
        #[serde(borrow, default)]
        file: Option<std::borrow::Cow<'a, str>>,
    }
    #[derive(Deserialize)]
    struct K8s<'a> {
        #[serde(borrow)]
        namespace: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        pod: std::borrow::Cow<'a, str>,
    }
    let rec: Rec<'_> = serde_json::from_str(line).ok()?;
    match (rec.kubernetes, rec.file) {
        (Some(k), _) => Some(format!("{}/{}", k.namespace, k.pod)),
        (None, Some(f)) => Some(f.into_owned()),
        (None, None) => None,
    }
}

/// What to do with a record whose produce or delivery failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Produce it again after the backoff.
    Retry,
    /// The cluster will never accept it: count and drop it (`reason`).
    Drop(&'static str),
}

/// Classifies a produce or delivery error (see the module docs). Pure.
pub fn disposition(e: &KafkaError) -> Disposition {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageSizeTooLarge)
        | Some(RDKafkaErrorCode::InvalidMessageSize)
        | Some(RDKafkaErrorCode::MessageBatchTooLarge) => Disposition::Drop("too_large"),
        Some(RDKafkaErrorCode::InvalidMessage) | Some(RDKafkaErrorCode::InvalidRecord) => {
            Disposition::Drop("rejected")
        }
        _ => Disposition::Retry,
    }
}

/// Produces records to Kafka.
pub struct KafkaSink {
    cfg: KafkaConfig,
    producer: FutureProducer,
    metrics: Arc<LogMetrics>,
    dropper: Dropper,
}

fn producer(cfg: &KafkaConfig) -> Result<FutureProducer, SinkError> {
    cfg.client_config()
        .create()
        .map_err(|e| SinkError::Other(format!("Kafka producer: {e}")))
}

impl KafkaSink {
    /// Creates the producer (no connection is awaited: brokers that are
    /// down now are retried by librdkafka).
    pub fn new(cfg: KafkaConfig, metrics: Arc<LogMetrics>) -> Result<KafkaSink, SinkError> {
        let producer = producer(&cfg)?;
        let dropper = Dropper::new("kafka", metrics.clone(), None);
        Ok(KafkaSink {
            cfg,
            producer,
            metrics,
            dropper,
        })
    }

    /// Produces the records `pending` (indexes into `lines`, in order)
    /// once; returns those to produce again.
    async fn attempt(
        &self,
        lines: &[String],
        keys: &[Option<String>],
        pending: &[usize],
    ) -> Attempt {
        let mut out = Attempt::default();
        let mut waiting: std::collections::VecDeque<(usize, DeliveryFuture)> =
            std::collections::VecDeque::with_capacity(pending.len());
        for &i in pending {
            loop {
                let mut rec = FutureRecord::to(&self.cfg.topic).payload(lines[i].as_str());
                if let Some(k) = &keys[i] {
                    rec = rec.key(k.as_str());
                }
                match self.producer.send_result(rec) {
                    Ok(f) => {
                        waiting.push_back((i, f));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        // librdkafka's queue is full: wait for the oldest
                        // report, then try again.
                        match waiting.pop_front() {
                            Some((j, f)) => self.settle(j, f.await.ok(), lines, &mut out).await,
                            None => tokio::time::sleep(self.cfg.min_backoff).await,
                        }
                    }
                    Err((e, _)) => {
                        self.failed(i, &e, lines, &mut out).await;
                        break;
                    }
                }
            }
        }
        for (i, f) in waiting {
            self.settle(i, f.await.ok(), lines, &mut out).await;
        }
        out.retry.sort_unstable();
        out
    }

    async fn settle(
        &self,
        i: usize,
        report: Option<OwnedDeliveryResult>,
        lines: &[String],
        out: &mut Attempt,
    ) {
        match report {
            Some(Ok(_)) => out.sent += 1,
            Some(Err((e, _))) => self.failed(i, &e, lines, out).await,
            None => {
                out.retry.push(i);
                out.error
                    .get_or_insert_with(|| "delivery report lost".into());
            }
        }
    }

    async fn failed(&self, i: usize, e: &KafkaError, lines: &[String], out: &mut Attempt) {
        if e.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
            out.fatal = true;
        }
        match disposition(e) {
            Disposition::Retry => {
                out.retry.push(i);
                out.error.get_or_insert_with(|| e.to_string());
            }
            Disposition::Drop(reason) => {
                let item = super::http::Dropped {
                    line: &lines[i],
                    reason,
                    status: 0,
                    error: e.to_string(),
                };
                // No dead-letter file: this cannot fail.
                let _ = self.dropper.drop_items(std::slice::from_ref(&item)).await;
            }
        }
    }

    async fn deliver(&mut self, lines: &[String]) {
        let keys: Vec<Option<String>> = lines.iter().map(|l| record_key(l)).collect();
        let mut pending: Vec<usize> = (0..lines.len()).collect();
        let mut backoff = Backoff::new(self.cfg.min_backoff, self.cfg.max_backoff);
        while !pending.is_empty() {
            let a = self.attempt(lines, &keys, &pending).await;
            self.metrics
                .sink_sent
                .with_label_values(&["kafka"])
                .inc_by(a.sent as u64);
            if a.sent > 0 {
                backoff = Backoff::new(self.cfg.min_backoff, self.cfg.max_backoff);
            }
            pending = a.retry;
            if pending.is_empty() {
                break;
            }
            let error = a.error.unwrap_or_default();
            self.dropper.error(&format!(
                "{} of {} records not delivered: {error}",
                pending.len(),
                lines.len()
            ));
            let fatal = a.fatal || self.producer.client().fatal_error().is_some();
            tokio::time::sleep(backoff.next_delay()).await;
            if fatal {
                match producer(&self.cfg) {
                    Ok(p) => {
                        tracing::warn!("Kafka producer hit a fatal error; recreated");
                        self.producer = p;
                    }
                    Err(e) => tracing::error!(error = %e, "recreating the Kafka producer"),
                }
            }
        }
    }
}

#[derive(Default)]
struct Attempt {
    sent: usize,
    retry: Vec<usize>,
    error: Option<String>,
    fatal: bool,
}

impl Sink for KafkaSink {
    fn name(&self) -> &str {
        "kafka"
    }

    fn send(&mut self, lines: Arc<[String]>) -> SendFuture<'_> {
        Box::pin(async move {
            self.deliver(&lines).await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let check = |line: &str, want: Option<&str>| {
            assert_eq!(record_key(line).as_deref(), want, "{line}")
        };
        check(
            r#"{"file":"/var/log/pods/a/0.log","kubernetes":{"namespace":"shop","pod":"api-1","uid":"u","container":"c"},"message":"x"}"#,
            Some("shop/api-1"),
        );
        check(
            r#"{"file":"/var/log/app.log","message":"x"}"#,
            Some("/var/log/app.log"),
        );
        check(r#"{"message":"x"}"#, None);
        check("not json", None);
        check(
            r#"{"kubernetes":{"namespace":"a\"b","pod":"p"}}"#,
            Some("a\"b/p"),
        );
    }

    #[test]
    fn dispositions() {
        let check = |code: RDKafkaErrorCode, want: Disposition| {
            assert_eq!(
                disposition(&KafkaError::MessageProduction(code)),
                want,
                "{code:?}"
            )
        };
        check(
            RDKafkaErrorCode::MessageSizeTooLarge,
            Disposition::Drop("too_large"),
        );
        check(
            RDKafkaErrorCode::InvalidRecord,
            Disposition::Drop("rejected"),
        );
        check(RDKafkaErrorCode::MessageTimedOut, Disposition::Retry);
        check(
            RDKafkaErrorCode::UnknownTopicOrPartition,
            Disposition::Retry,
        );
        check(
            RDKafkaErrorCode::TopicAuthorizationFailed,
            Disposition::Retry,
        );
        check(RDKafkaErrorCode::Fatal, Disposition::Retry);
    }

    #[test]
    fn forced_properties_win() {
        let mut c = KafkaConfig::new(vec!["k:9092".into()], "logs");
        c.properties.insert("client.id".into(), "agent".into());
        let cc = c.client_config();
        assert_eq!(cc.get("acks"), Some("all"));
        assert_eq!(cc.get("enable.idempotence"), Some("true"));
        assert_eq!(cc.get("compression.type"), Some("lz4"));
        assert_eq!(cc.get("client.id"), Some("agent"));
        assert_eq!(cc.get("bootstrap.servers"), Some("k:9092"));
        assert!(cc.create_native_config().is_ok());
    }
}
