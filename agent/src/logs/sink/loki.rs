//! The Loki sink: `POST /loki/api/v1/push` with the JSON body
//! `{"streams":[{"stream":{labels},"values":[["<ns epoch>","<line>"],…]}]}`.
//!
//! Labels are bounded: the static `labels` of the config plus the
//! record's Kubernetes `namespace`, `pod` and `container` when it has
//! them; never the line's content. Each record is one value: its
//! `timestamp` in nanoseconds since the epoch, as a string (the current
//! time when the record has none), and the whole JSON line (`| json` in
//! LogQL reads it). Values keep file order, stably sorted by time within
//! a stream.
//!
//! Answers: 2xx (Loki says 204) is durable. 400 means Loki refused some
//! entries (out of order, too old, too long …) and stored the others:
//! the refused ones are counted from Loki's `total ignored: N out of M`
//! (`watchfire_agent_log_sink_dropped_total{sink="loki",reason="rejected"}`)
//! and logged; when Loki does not say how many, every record of the
//! request is counted and dead-lettered. Other failures follow
//! [`super::http`]; `send` resolves only once the records are durable or
//! deliberately dropped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::http::{self, Dropped, Dropper, HttpClient, HttpConfig, Outcome, RawHttp, Retrier};
use super::{SendFuture, Sink, SinkError};
use crate::logs::config::LogsConfigError;
use crate::logs::metrics::LogMetrics;
use crate::ship::config::RawBasicAuth;

/// Labels taken from each record's Kubernetes metadata.
pub const K8S_LABELS: [&str; 3] = ["namespace", "pod", "container"];

/// Most static labels (Loki's default limit is 15 label names a stream).
pub const MAX_STATIC_LABELS: usize = 12;

/// `logs.sinks.loki:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLokiSink {
    /// Base URL of Loki, e.g. `http://loki:3100`; `/loki/api/v1/push` is appended.
    pub url: Spanned<String>,
    /// Sent as `X-Scope-OrgID` (multi-tenant Loki). Default: not sent.
    pub tenant_id: Option<Spanned<String>>,
    /// Static labels of every stream. Default `{job: watchfire-agent}`.
    /// `namespace`, `pod` and `container` come from the records.
    pub labels: Option<Spanned<BTreeMap<String, String>>>,
    /// `none` (default) or `gzip` (request body).
    pub compression: Option<Spanned<String>>,
    /// Timeout of one request. Default `30s`.
    pub timeout: Option<Spanned<String>>,
    /// HTTP basic authentication.
    pub basic_auth: Option<RawBasicAuth>,
    /// Bearer token sent as `Authorization: Bearer …`.
    pub bearer_token: Option<String>,
    /// File holding the bearer token (read once at start).
    pub bearer_token_file: Option<PathBuf>,
    /// First retry delay, doubling per failure with jitter. Default `100ms`.
    pub min_backoff: Option<Spanned<String>>,
    /// Largest retry delay. Default `30s`.
    pub max_backoff: Option<Spanned<String>>,
    /// Largest `Retry-After` honoured. Default `5m`.
    pub max_retry_after: Option<Spanned<String>>,
    /// Records refused as a whole request are appended here (JSON lines
    /// with the reason), fsync'd before they are acknowledged.
    pub dead_letter_path: Option<PathBuf>,
}

/// The validated sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LokiConfig {
    pub http: HttpConfig,
    pub tenant_id: Option<String>,
    pub labels: BTreeMap<String, String>,
}

fn label_name_ok(n: &str) -> bool {
    let mut b = n.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

impl RawLokiSink {
    pub fn validate(&self) -> Result<LokiConfig, LogsConfigError> {
        let http = RawHttp {
            sink: "loki",
            url: &self.url,
            path: "/loki/api/v1/push",
            timeout: &self.timeout,
            compression: &self.compression,
            basic_auth: &self.basic_auth,
            bearer_token: &self.bearer_token,
            bearer_token_file: &self.bearer_token_file,
            min_backoff: &self.min_backoff,
            max_backoff: &self.max_backoff,
            max_retry_after: &self.max_retry_after,
            dead_letter_path: &self.dead_letter_path,
        }
        .validate()?;
        let labels = match &self.labels {
            None => BTreeMap::from([("job".to_string(), "watchfire-agent".to_string())]),
            Some(l) => {
                let bad = |msg: String| http::span_err(l, format!("logs.sinks.loki.labels: {msg}"));
                if l.value.is_empty() {
                    return Err(bad("at least one static label".into()));
                }
                if l.value.len() > MAX_STATIC_LABELS {
                    return Err(bad(format!("at most {MAX_STATIC_LABELS}")));
                }
                for (k, v) in &l.value {
                    if !label_name_ok(k) || k.starts_with("__") {
                        return Err(bad(format!("{k:?} is not a valid label name")));
                    }
                    if K8S_LABELS.contains(&k.as_str()) {
                        return Err(bad(format!("{k:?} comes from the records")));
                    }
                    if v.is_empty() {
                        return Err(bad(format!("{k:?} has an empty value")));
                    }
                }
                l.value.clone()
            }
        };
        let tenant_id = match &self.tenant_id {
            None => None,
            Some(t) if t.value.is_empty() || http::header("x-scope-orgid", &t.value).is_err() => {
                return Err(http::span_err(
                    t,
                    "logs.sinks.loki.tenant_id: not a valid header value",
                ))
            }
            Some(t) => Some(t.value.clone()),
        };
        Ok(LokiConfig {
            http,
            tenant_id,
            labels,
        })
    }
}

#[derive(Deserialize)]
struct Rec<'a> {
    #[serde(borrow, default)]
    timestamp: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    kubernetes: Option<K8s>,
}

#[derive(Deserialize)]
struct K8s {
    namespace: String,
    pod: String,
    container: String,
}

/// Nanoseconds since the epoch of an RFC 3339 time (fractions to the
/// nanosecond). Pure.
pub fn timestamp_ns(s: &str) -> Option<i64> {
    let ms = watchfire_promql::civil::parse_rfc3339(s)?;
    let frac: String = s
        .get(19..)
        .and_then(|r| r.strip_prefix('.'))
        .map(|r| r.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    let sub_ms: i64 = if frac.len() > 3 {
        format!("{:0<6}", &frac[3..frac.len().min(9)])
            .parse()
            .ok()?
    } else {
        0
    };
    ms.checked_mul(1_000_000)?.checked_add(sub_ms)
}

/// A stream's labels, sorted by name.
type LabelSet<'a> = Vec<(&'a str, String)>;

/// The push body for `lines`, with `now_ns` for records without a time.
/// Pure.
pub fn push_body(lines: &[String], labels: &BTreeMap<String, String>, now_ns: i64) -> Vec<u8> {
    let mut streams: BTreeMap<LabelSet<'_>, Vec<(i64, &str)>> = BTreeMap::new();
    for line in lines {
        let rec = serde_json::from_str::<Rec<'_>>(line).ok();
        let ts = rec
            .as_ref()
            .and_then(|r| r.timestamp.as_deref())
            .and_then(timestamp_ns)
            .unwrap_or(now_ns);
        let mut key: LabelSet<'_> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        if let Some(k) = rec.and_then(|r| r.kubernetes) {
            key.extend([
                ("namespace", k.namespace),
                ("pod", k.pod),
                ("container", k.container),
            ]);
            key.sort();
        }
        streams.entry(key).or_default().push((ts, line.as_str()));
    }
    let streams: Vec<serde_json::Value> = streams
        .into_iter()
        .map(|(labels, mut values)| {
            values.sort_by_key(|(ts, _)| *ts);
            let stream: serde_json::Map<String, serde_json::Value> = labels
                .into_iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
                .collect();
            let values: Vec<serde_json::Value> = values
                .into_iter()
                .map(|(ts, l)| serde_json::json!([ts.to_string(), l]))
                .collect();
            serde_json::json!({ "stream": stream, "values": values })
        })
        .collect();
    serde_json::json!({ "streams": streams })
        .to_string()
        .into_bytes()
}

/// How many entries Loki says it ignored (`total ignored: N out of M`).
/// Pure.
pub fn ignored(body: &str) -> Option<usize> {
    let rest = &body[body.rfind("total ignored: ")? + "total ignored: ".len()..];
    let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
    n.parse().ok()
}

/// Pushes records to Loki.
pub struct LokiSink {
    client: HttpClient,
    cfg: LokiConfig,
    dropper: Dropper,
}

impl LokiSink {
    pub fn new(cfg: LokiConfig, metrics: Arc<LogMetrics>) -> Result<LokiSink, SinkError> {
        let mut h = HeaderMap::new();
        if let Some(t) = &cfg.tenant_id {
            let (n, v) = http::header("x-scope-orgid", t)?;
            h.insert(n, v);
        }
        let client = HttpClient::new(cfg.http.clone(), h)?;
        let dropper = Dropper::new("loki", metrics, cfg.http.dead_letter_path.clone());
        Ok(LokiSink {
            client,
            cfg,
            dropper,
        })
    }

    async fn deliver(&self, lines: &[String]) {
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        let body = push_body(lines, &self.cfg.labels, now_ns);
        let mut retrier = Retrier::new(&self.cfg.http.retry);
        loop {
            let reply = match self.client.post("application/json", body.clone()).await {
                Ok(r) => r,
                Err(e) => {
                    self.dropper.error(&e);
                    retrier.wait(None).await;
                    continue;
                }
            };
            let refused = match retrier.classify(&reply) {
                Outcome::Success => return,
                Outcome::Retry { after } => {
                    self.dropper.error(&format!("HTTP {}", reply.status));
                    retrier.wait(after).await;
                    continue;
                }
                Outcome::Refused => reply,
            };
            let text: String = String::from_utf8_lossy(&refused.body)
                .chars()
                .take(1024)
                .collect();
            if refused.status == 400 {
                if let Some(n) = ignored(&text) {
                    self.dropper.count("rejected", n.min(lines.len()), &text);
                    return;
                }
            }
            let reason = if refused.status == 400 {
                "rejected"
            } else {
                "http_4xx"
            };
            let dropped: Vec<Dropped<'_>> = lines
                .iter()
                .map(|l| Dropped {
                    line: l,
                    reason,
                    status: refused.status,
                    error: text.clone(),
                })
                .collect();
            while let Err(e) = self.dropper.drop_items(&dropped).await {
                self.dropper.error(&format!("dead-letter file: {e}"));
                retrier.wait(None).await;
            }
            return;
        }
    }
}

impl Sink for LokiSink {
    fn name(&self) -> &str {
        "loki"
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
    fn timestamps() {
        let check = |s: &str, want: Option<i64>| assert_eq!(timestamp_ns(s), want, "{s}");
        check("1970-01-01T00:00:01Z", Some(1_000_000_000));
        check("1970-01-01T00:00:01.5Z", Some(1_500_000_000));
        check("1970-01-01T00:00:01.000000001Z", Some(1_000_000_001));
        check("1970-01-01T00:00:01.123456789123Z", Some(1_123_456_789));
        check("1970-01-01T01:00:00.0000005+01:00", Some(500));
        check("yesterday", None);
    }

    #[test]
    fn ignored_counts() {
        let check = |s: &str, want: Option<usize>| assert_eq!(ignored(s), want, "{s}");
        check(
            "entry with timestamp 2024-01-01 ignored, reason: 'entry too far behind' for stream: {a=\"b\"},\ntotal ignored: 2 out of 5",
            Some(2),
        );
        check("bad request", None);
    }

    #[test]
    fn streams_by_labels() {
        let labels = BTreeMap::from([("job".to_string(), "a".to_string())]);
        let k = |ns: &str, t: &str, m: &str| {
            format!(
                r#"{{"kubernetes":{{"namespace":"{ns}","pod":"p","uid":"u","container":"c"}},"message":"{m}","timestamp":"{t}"}}"#
            )
        };
        let lines = vec![
            k("a", "1970-01-01T00:00:02Z", "2"),
            k("b", "1970-01-01T00:00:01Z", "x"),
            k("a", "1970-01-01T00:00:01Z", "1"),
            r#"{"message":"plain"}"#.to_string(),
        ];
        let v: serde_json::Value = serde_json::from_slice(&push_body(&lines, &labels, 7)).unwrap();
        let streams = v["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 3);
        let find = |ns: Option<&str>| {
            streams
                .iter()
                .find(|s| s["stream"]["namespace"].as_str() == ns)
                .unwrap()
        };
        let a = find(Some("a"));
        assert_eq!(
            a["stream"],
            serde_json::json!({"job":"a","namespace":"a","pod":"p","container":"c"})
        );
        assert_eq!(a["values"][0][0], "1000000000");
        assert_eq!(a["values"][1][0], "2000000000");
        assert_eq!(a["values"][0][1], lines[2]);
        let plain = find(None);
        assert_eq!(plain["stream"], serde_json::json!({"job":"a"}));
        assert_eq!(plain["values"], serde_json::json!([["7", lines[3]]]));
    }
}
