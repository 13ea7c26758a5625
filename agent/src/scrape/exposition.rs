//! The glue between the scrape loop and the exposition parser
//! (`watchfire-exposition`).
//!
//! Everything the scraper needs from the parser is here: the `Accept`
//! header, and [`parse`], which turns a body and its `Content-Type` into
//! owned samples (labels with `__name__`, value, optional timestamp) or a
//! positioned error. Keeping it in one place keeps the parser swappable.
//! OpenMetrics is checked with Prometheus's strictness (syntax and the
//! mandatory `# EOF`), since real targets break some reference-only rules.

use watchfire_exposition::{negotiate, MetricType, OmStrictness, ParseOptions, Sample};
use watchfire_promql::labels::Label;
use watchfire_promql::Labels;

/// The `Accept` header sent to targets.
pub const ACCEPT_HEADER: &str = watchfire_exposition::ACCEPT_HEADER;

/// One parsed sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Scraped {
    pub labels: Labels,
    pub value: f64,
    /// Milliseconds since the epoch, when the exposition gave one.
    pub timestamp: Option<i64>,
}

/// A parse failure with its place (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {col}: {msg}")]
pub struct ParseFailure {
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

/// Parses a whole body. `max_label_value_len` of 0 keeps the parser's
/// default guard (64 KiB).
pub fn parse(
    body: &[u8],
    content_type: Option<&str>,
    max_label_value_len: usize,
) -> Result<Vec<Scraped>, ParseFailure> {
    let samples = parse_raw(body, content_type, max_label_value_len)?;
    let mut out = Vec::with_capacity(samples.len());
    for s in &samples {
        out.push(Scraped {
            labels: sample_labels(s)?,
            value: s.value,
            timestamp: s.timestamp_ms,
        });
    }
    Ok(out)
}

/// Parses a whole body into the parser's borrowed samples (no label set
/// built yet; see [`sample_labels`] and [`series_key`]).
pub fn parse_raw<'a>(
    body: &'a [u8],
    content_type: Option<&str>,
    max_label_value_len: usize,
) -> Result<Vec<Sample<'a>>, ParseFailure> {
    let mut opts = ParseOptions {
        om_strictness: OmStrictness::Prometheus,
        ..ParseOptions::default()
    };
    if max_label_value_len > 0 {
        opts.max_label_value_len = max_label_value_len;
    }
    watchfire_exposition::parse_with_options(body, negotiate(content_type), opts).map_err(|e| {
        ParseFailure {
            line: e.line,
            col: e.col,
            msg: e.msg,
        }
    })
}

/// The label set of one parsed sample (with `__name__`, empty values
/// dropped). A label name given twice is an error.
pub fn sample_labels(s: &Sample<'_>) -> Result<Labels, ParseFailure> {
    let mut pairs = s.label_pairs();
    pairs.retain(|(_, v)| !v.is_empty());
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(ParseFailure {
            line: s.line,
            col: 1,
            msg: format!("duplicate label name {:?}", w[0].0),
        });
    }
    Ok(Labels::from_sorted(
        pairs
            .into_iter()
            .map(|(name, value)| Label { name, value })
            .collect(),
    ))
}

/// Writes into `key` a text that determines [`sample_labels`] of `s`
/// completely: the metric name, the raw label text and whether `le` /
/// `quantile` values get normalised (that depends on the family type).
pub fn series_key(s: &Sample<'_>, key: &mut String) {
    key.clear();
    key.push(match s.metric_type {
        MetricType::Histogram | MetricType::GaugeHistogram => 'h',
        MetricType::Summary => 's',
        _ => 'o',
    });
    key.push_str(&s.name);
    key.push('{');
    key.push_str(s.labels.raw());
}
