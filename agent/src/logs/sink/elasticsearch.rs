//! The Elasticsearch / OpenSearch sink: the `_bulk` API with an NDJSON
//! body, one action line (`{"create":{"_index":"logs-2024.01.02"}}`, or
//! `index`) before each record.
//!
//! A `_bulk` answer of 200 says nothing about the records: each item has
//! its own status ([`parse_bulk`], pure). Items answered 2xx are durable
//! (409 for `create` too: the document already exists); items answered
//! 429 or 5xx are sent again, and only them, after a backoff; any other
//! item status (400 mapping errors, …) is a refusal: the record is
//! dropped, counted in `watchfire_agent_log_sink_dropped_total{sink=
//! "elasticsearch",reason="rejected"}`, logged and written to the
//! dead-letter file when one is configured, and then acknowledged. This
//! keeps one poison record from stalling its file forever. Whole-request
//! failures follow [`super::http`]. `send` resolves only once every
//! record is durable or deliberately dropped.
//!
//! The index may hold `%Y`, `%m`, `%d` (and `%%`): the date is the one of
//! the record's `timestamp` as written (a CRI/Docker time is UTC), or the
//! current UTC date for a record without one.

use std::collections::HashMap;
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

/// `logs.sinks.elasticsearch:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawElasticsearchSink {
    /// Base URL of the cluster, e.g. `https://es:9200`; `/_bulk` is appended.
    pub url: Spanned<String>,
    /// Target index or data stream; `%Y`, `%m`, `%d` take the record's
    /// date. Default `watchfire-logs-%Y.%m.%d`.
    pub index: Option<Spanned<String>>,
    /// Bulk action: `create` (default; required by data streams) or `index`.
    pub action: Option<Spanned<String>>,
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
    /// Dropped records are appended here (JSON lines with the reason),
    /// fsync'd before they are acknowledged. Default: not kept.
    pub dead_letter_path: Option<PathBuf>,
}

/// One piece of an index pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Year,
    Month,
    Day,
}

/// An index name, possibly with a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPattern {
    parts: Vec<Part>,
}

impl IndexPattern {
    /// Parses `%Y`, `%m`, `%d`, `%%` and literal text; the name must be a
    /// valid index name (lowercase, none of `\ / * ? " < > | , # :` or
    /// spaces, not starting with `-`, `_` or `+`).
    pub fn parse(s: &str) -> Result<IndexPattern, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                if c.is_uppercase() || "\\/*?\"<>|,#: ".contains(c) {
                    return Err(format!("{c:?} is not allowed in an index name"));
                }
                lit.push(c);
                continue;
            }
            let p = match chars.next() {
                Some('%') => {
                    lit.push('%');
                    continue;
                }
                Some('Y') => Part::Year,
                Some('m') => Part::Month,
                Some('d') => Part::Day,
                other => return Err(format!("unknown date field %{}", other.unwrap_or(' '))),
            };
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(p);
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        match parts.first() {
            None => Err("the index is empty".into()),
            Some(Part::Lit(l)) if l.starts_with(['-', '_', '+']) => {
                Err("an index name cannot start with -, _ or +".into())
            }
            _ => Ok(IndexPattern { parts }),
        }
    }

    /// `watchfire-logs-%Y.%m.%d`, the default.
    pub fn default_daily() -> IndexPattern {
        IndexPattern {
            parts: vec![
                Part::Lit("watchfire-logs-".into()),
                Part::Year,
                Part::Lit(".".into()),
                Part::Month,
                Part::Lit(".".into()),
                Part::Day,
            ],
        }
    }

    /// Whether the name depends on the date.
    pub fn dated(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Lit(_)))
    }

    /// The name for a date.
    pub fn render(&self, (y, m, d): (i64, u32, u32)) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                Part::Year => out.push_str(&format!("{y:04}")),
                Part::Month => out.push_str(&format!("{m:02}")),
                Part::Day => out.push_str(&format!("{d:02}")),
            }
        }
        out
    }
}

/// The bulk action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    Create,
    Index,
}

impl BulkAction {
    fn name(self) -> &'static str {
        match self {
            BulkAction::Create => "create",
            BulkAction::Index => "index",
        }
    }
}

/// The validated sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElasticsearchConfig {
    pub http: HttpConfig,
    pub index: IndexPattern,
    pub action: BulkAction,
}

impl RawElasticsearchSink {
    pub fn validate(&self) -> Result<ElasticsearchConfig, LogsConfigError> {
        let http = RawHttp {
            sink: "elasticsearch",
            url: &self.url,
            path: "/_bulk",
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
        let index = match &self.index {
            None => IndexPattern::default_daily(),
            Some(i) => IndexPattern::parse(&i.value)
                .map_err(|e| http::span_err(i, format!("logs.sinks.elasticsearch.index: {e}")))?,
        };
        let action = match &self.action {
            None => BulkAction::Create,
            Some(a) => match a.value.as_str() {
                "create" => BulkAction::Create,
                "index" => BulkAction::Index,
                other => {
                    return Err(http::span_err(
                        a,
                        format!("logs.sinks.elasticsearch.action: {other:?} (create or index)"),
                    ))
                }
            },
        };
        Ok(ElasticsearchConfig {
            http,
            index,
            action,
        })
    }
}

/// The date of a record: its `timestamp`'s `YYYY-MM-DD` prefix. Pure.
pub fn record_date(line: &str) -> Option<(i64, u32, u32)> {
    #[derive(Deserialize)]
    struct Ts<'a> {
        #[serde(borrow)]
        timestamp: Option<std::borrow::Cow<'a, str>>,
    }
    let ts = serde_json::from_str::<Ts<'_>>(line).ok()?.timestamp?;
    let b = ts.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = ts.get(0..4)?.parse().ok()?;
    let m = ts.get(5..7)?.parse().ok()?;
    let d = ts.get(8..10)?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

fn today() -> (i64, u32, u32) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    watchfire_promql::civil::civil_from_days(secs.div_euclid(86_400))
}

/// The NDJSON body for `docs` (index name, record): an action line then
/// the record, each ended by `\n`. Pure.
pub fn bulk_body<'a>(
    action: BulkAction,
    docs: impl Iterator<Item = (&'a str, &'a str)>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, line) in docs {
        let a = serde_json::json!({ action.name(): { "_index": index } });
        out.extend_from_slice(a.to_string().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The fate of one bulk item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemResult {
    Durable,
    Retry { status: u16 },
    Refused { status: u16, error: String },
}

#[derive(Deserialize)]
struct BulkResponse {
    #[serde(default)]
    errors: bool,
    #[serde(default)]
    items: Vec<HashMap<String, BulkItem>>,
}

#[derive(Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Reads a 2xx `_bulk` answer for `n` items. `Err` when the answer cannot
/// be read or does not have one item per record (the request is retried
/// whole). Pure.
pub fn parse_bulk(body: &[u8], n: usize, action: BulkAction) -> Result<Vec<ItemResult>, String> {
    let r: BulkResponse =
        serde_json::from_slice(body).map_err(|e| format!("unreadable _bulk answer: {e}"))?;
    if !r.errors {
        return Ok(vec![ItemResult::Durable; n]);
    }
    if r.items.len() != n {
        return Err(format!(
            "_bulk answered {} items for {n} records",
            r.items.len()
        ));
    }
    let mut out = Vec::with_capacity(n);
    for item in r.items {
        let Some(i) = item.into_values().next() else {
            return Err("_bulk item without an action".into());
        };
        out.push(match i.status {
            200..=299 => ItemResult::Durable,
            409 if action == BulkAction::Create => ItemResult::Durable,
            s if http::item_retryable(s) => ItemResult::Retry { status: s },
            s => {
                let error = match &i.error {
                    Some(serde_json::Value::Object(o)) => format!(
                        "{}: {}",
                        o.get("type").and_then(|t| t.as_str()).unwrap_or("error"),
                        o.get("reason").and_then(|t| t.as_str()).unwrap_or("")
                    ),
                    Some(other) => other.to_string(),
                    None => format!("status {s}"),
                };
                ItemResult::Refused { status: s, error }
            }
        });
    }
    Ok(out)
}

/// Sends records to `_bulk`.
pub struct ElasticsearchSink {
    client: HttpClient,
    cfg: ElasticsearchConfig,
    dropper: Dropper,
}

impl ElasticsearchSink {
    pub fn new(
        cfg: ElasticsearchConfig,
        metrics: Arc<LogMetrics>,
    ) -> Result<ElasticsearchSink, SinkError> {
        let client = HttpClient::new(cfg.http.clone(), HeaderMap::new())?;
        let dropper = Dropper::new("elasticsearch", metrics, cfg.http.dead_letter_path.clone());
        Ok(ElasticsearchSink {
            client,
            cfg,
            dropper,
        })
    }

    async fn deliver(&self, lines: &[String]) {
        let today = today();
        let indices: Vec<String> = if self.cfg.index.dated() {
            lines
                .iter()
                .map(|l| self.cfg.index.render(record_date(l).unwrap_or(today)))
                .collect()
        } else {
            vec![self.cfg.index.render(today); lines.len()]
        };
        let mut pending: Vec<usize> = (0..lines.len()).collect();
        let mut retrier = Retrier::new(&self.cfg.http.retry);
        while !pending.is_empty() {
            let body = bulk_body(
                self.cfg.action,
                pending
                    .iter()
                    .map(|&i| (indices[i].as_str(), lines[i].as_str())),
            );
            let reply = match self.client.post("application/x-ndjson", body).await {
                Ok(r) => r,
                Err(e) => {
                    self.dropper.error(&e);
                    retrier.wait(None).await;
                    continue;
                }
            };
            let results = match retrier.classify(&reply) {
                Outcome::Retry { after } => {
                    self.dropper.error(&format!("HTTP {}", reply.status));
                    retrier.wait(after).await;
                    continue;
                }
                Outcome::Refused => {
                    let error = String::from_utf8_lossy(&reply.body)
                        .chars()
                        .take(512)
                        .collect::<String>();
                    vec![
                        ItemResult::Refused {
                            status: reply.status,
                            error,
                        };
                        pending.len()
                    ]
                }
                Outcome::Success => match parse_bulk(&reply.body, pending.len(), self.cfg.action) {
                    Ok(r) => r,
                    Err(e) => {
                        self.dropper.error(&e);
                        retrier.wait(None).await;
                        continue;
                    }
                },
            };
            let mut retry = Vec::new();
            let mut dropped = Vec::new();
            let mut progress = false;
            for (&i, r) in pending.iter().zip(results) {
                match r {
                    ItemResult::Durable => progress = true,
                    ItemResult::Retry { .. } => retry.push(i),
                    ItemResult::Refused { status, error } => dropped.push(Dropped {
                        line: &lines[i],
                        reason: if matches!(reply.status, 200..=299) {
                            "rejected"
                        } else {
                            "http_4xx"
                        },
                        status,
                        error,
                    }),
                }
            }
            while let Err(e) = self.dropper.drop_items(&dropped).await {
                self.dropper.error(&format!("dead-letter file: {e}"));
                retrier.wait(None).await;
            }
            pending = retry;
            if !pending.is_empty() {
                if progress || !dropped.is_empty() {
                    retrier.reset();
                }
                self.dropper
                    .error(&format!("{} bulk items to retry", pending.len()));
                retrier.wait(None).await;
            }
        }
    }
}

impl Sink for ElasticsearchSink {
    fn name(&self) -> &str {
        "elasticsearch"
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
    fn index_patterns() {
        let check = |pat: &str, want: Result<&str, &str>| {
            let got = IndexPattern::parse(pat).map(|p| p.render((2024, 1, 2)));
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{pat}"),
                (Err(g), Err(w)) => assert!(g.contains(w), "{pat}: {g}"),
                (g, w) => panic!("{pat}: got {g:?}, want {w:?}"),
            }
        };
        check("logs-%Y.%m.%d", Ok("logs-2024.01.02"));
        check("logs", Ok("logs"));
        check("a%%b-%Y", Ok("a%b-2024"));
        check("Logs", Err("not allowed"));
        check("a b", Err("not allowed"));
        check("logs-%H", Err("unknown date field %H"));
        check("_x", Err("cannot start"));
        check("", Err("empty"));
    }

    #[test]
    fn record_dates() {
        let check = |line: &str, want: Option<(i64, u32, u32)>| {
            assert_eq!(record_date(line), want, "{line}");
        };
        check(
            r#"{"file":"a","timestamp":"2024-01-02T03:04:05Z"}"#,
            Some((2024, 1, 2)),
        );
        check(r#"{"timestamp":"2024-13-02T03:04:05Z"}"#, None);
        check(r#"{"message":"x"}"#, None);
        check("not json", None);
    }

    #[test]
    fn bulk_answers() {
        let check = |body: &str, n: usize, want: Result<Vec<ItemResult>, &str>| match (
            parse_bulk(body.as_bytes(), n, BulkAction::Create),
            want,
        ) {
            (Ok(g), Ok(w)) => assert_eq!(g, w, "{body}"),
            (Err(g), Err(w)) => assert!(g.contains(w), "{g}"),
            (g, w) => panic!("{body}: got {g:?}, want {w:?}"),
        };
        check(
            r#"{"errors":false,"items":[]}"#,
            2,
            Ok(vec![ItemResult::Durable; 2]),
        );
        check(
            r#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429}},
               {"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}},
               {"create":{"status":409}},{"create":{"status":503}}]}"#,
            5,
            Ok(vec![
                ItemResult::Durable,
                ItemResult::Retry { status: 429 },
                ItemResult::Refused {
                    status: 400,
                    error: "mapper_parsing_exception: bad".into(),
                },
                ItemResult::Durable,
                ItemResult::Retry { status: 503 },
            ]),
        );
        check(r#"{"errors":true,"items":[]}"#, 1, Err("0 items for 1"));
        check("<html>", 1, Err("unreadable"));
    }

    #[test]
    fn ndjson_body() {
        let body = bulk_body(
            BulkAction::Index,
            [("i1", r#"{"a":1}"#), ("i2", r#"{"b":2}"#)].into_iter(),
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "{\"index\":{\"_index\":\"i1\"}}\n{\"a\":1}\n{\"index\":{\"_index\":\"i2\"}}\n{\"b\":2}\n"
        );
    }
}
