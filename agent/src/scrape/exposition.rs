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
/// built yet; see [`sample_labels`] and [`SeriesKey`]).
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

/// The parts of a sample line that determine [`sample_labels`] of it
/// completely: whether `le` / `quantile` values get normalised (that
/// depends on the family type), the metric name and the raw label text.
/// Borrowed from the body, so looking a series up costs no copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesKey<'a> {
    kind: u8,
    name: &'a str,
    raw: &'a str,
}

impl<'a> SeriesKey<'a> {
    pub fn of(s: &'a Sample<'_>) -> SeriesKey<'a> {
        SeriesKey {
            kind: match s.metric_type {
                MetricType::Histogram | MetricType::GaugeHistogram => b'h',
                MetricType::Summary => b's',
                _ => b'o',
            },
            name: &s.name,
            raw: s.labels.raw(),
        }
    }

    /// A hash of the parts (no string built).
    pub fn hash_with<H: std::hash::Hasher>(&self, mut h: H) -> u64 {
        h.write_u8(self.kind);
        h.write_usize(self.name.len());
        h.write(self.name.as_bytes());
        h.write(self.raw.as_bytes());
        h.finish()
    }

    /// The key as one owned text: kind, name, `{`, raw labels.
    pub fn to_boxed(&self) -> Box<str> {
        let mut k = String::with_capacity(2 + self.name.len() + self.raw.len());
        k.push(char::from(self.kind));
        k.push_str(self.name);
        k.push('{');
        k.push_str(self.raw);
        k.into_boxed_str()
    }

    /// Whether `stored` (from [`SeriesKey::to_boxed`]) is this key.
    pub fn matches(&self, stored: &str) -> bool {
        let b = stored.as_bytes();
        let n = self.name.len();
        b.len() == 2 + n + self.raw.len()
            && b[0] == self.kind
            && &b[1..1 + n] == self.name.as_bytes()
            && b[1 + n] == b'{'
            && &b[2 + n..] == self.raw.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    /// `body` has two samples; `same` says whether their keys are equal.
    fn check(body: &str, same: bool) {
        let samples = parse_raw(body.as_bytes(), None, 0).unwrap();
        let k: Vec<_> = samples
            .iter()
            .map(|s| {
                let k = SeriesKey::of(s);
                (k, k.to_boxed())
            })
            .collect();
        assert_eq!(k.len(), 2, "{body}");
        let hash = |key: &SeriesKey<'_>| key.hash_with(rustc_hash::FxBuildHasher.build_hasher());
        assert!(k[0].0.matches(&k[0].1) && k[1].0.matches(&k[1].1), "{body}");
        assert_eq!(k[0].0.matches(&k[1].1), same, "{body}");
        assert_eq!(k[1].0.matches(&k[0].1), same, "{body}");
        if same {
            assert_eq!(hash(&k[0].0), hash(&k[1].0), "{body}");
        }
    }

    #[test]
    fn series_keys() {
        let cases = [
            ("a{x=\"1\"} 1\na{x=\"1\"} 2\n", true),
            ("a{x=\"1\"} 1\na{x=\"2\"} 2\n", false),
            ("a{x=\"1\"} 1\nb{x=\"1\"} 2\n", false),
            ("ab{x=\"1\"} 1\na{bx=\"1\"} 2\n", false),
            ("a 1\na{} 2\n", true),
            (
                "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n# TYPE h_bucket gauge\nh_bucket{le=\"1\"} 2\n",
                false,
            ),
        ];
        for (body, same) in cases {
            check(body, same);
        }
    }
}
