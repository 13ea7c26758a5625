//! The glue between the scrape loop and the exposition parser
//! (`watchfire-exposition`).
//!
//! Everything the scraper needs from the parser is here: the `Accept`
//! header, and [`parse`], which turns a body and its `Content-Type` into
//! owned samples (labels with `__name__`, value, optional timestamp) or a
//! positioned error. Keeping it in one place keeps the parser swappable.
//! OpenMetrics is checked with Prometheus's strictness (syntax and the
//! mandatory `# EOF`), since real targets break some reference-only rules.

use watchfire_exposition::{negotiate, OmStrictness, ParseOptions};
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
    let mut opts = ParseOptions {
        om_strictness: OmStrictness::Prometheus,
        ..ParseOptions::default()
    };
    if max_label_value_len > 0 {
        opts.max_label_value_len = max_label_value_len;
    }
    let samples = watchfire_exposition::parse_with_options(body, negotiate(content_type), opts)
        .map_err(|e| ParseFailure {
            line: e.line,
            col: e.col,
            msg: e.msg,
        })?;
    let mut out = Vec::with_capacity(samples.len());
    for s in &samples {
        let mut pairs = s.label_pairs();
        pairs.retain(|(_, v)| !v.is_empty());
        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(ParseFailure {
                line: s.line,
                col: 1,
                msg: format!("duplicate label name {:?}", w[0].0),
            });
        }
        let labels = Labels::from_sorted(
            pairs
                .into_iter()
                .map(|(name, value)| Label { name, value })
                .collect(),
        );
        out.push(Scraped {
            labels,
            value: s.value,
            timestamp: s.timestamp_ms,
        });
    }
    Ok(out)
}
