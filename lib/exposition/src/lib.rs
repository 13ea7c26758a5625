//! Parsing of the Prometheus text exposition format 0.0.4 and OpenMetrics
//! 1.0 text, chosen by `Content-Type` negotiation ([`negotiate`]).
//!
//! The parser is pure (no I/O), never panics, and is zero-copy: names, label
//! names and label values are slices of the input unless an escape forces an
//! owned copy ([`std::borrow::Cow`]). Errors name the 1-based line and column.
//!
//! * [`Parser`] streams [`Entry`]s (HELP, TYPE, UNIT, comments, samples,
//!   `# EOF`); [`parse`] collects just the samples.
//! * Prometheus text follows `model/textparse/promparse.go` exactly
//!   (whitespace between tokens, blank lines and free-form comments allowed,
//!   integer millisecond timestamps).
//! * OpenMetrics is validated with the union of Prometheus' lexer and the
//!   stricter Python reference parser that the OpenMetrics test suite
//!   encodes (mandatory `# EOF`, metadata placement, counter/histogram value
//!   rules, exemplar placement and size, group ordering); see [`om_check`].
//!   Timestamps are float seconds and are converted to milliseconds by
//!   truncation, like Prometheus.
//! * Duplicate series inside one exposition are not a parse error (Prometheus
//!   reports them when appending); use [`duplicate_series`] to find them.
#![forbid(unsafe_code)]

mod error;
mod labels;
pub mod om_check;
mod omparse;
mod parser;
mod promparse;
mod scan;

use std::borrow::Cow;

pub use error::ParseError;
pub use labels::{format_om_float, normalize_float_label, Label, LabelIter, LabelSet};
pub use parser::{duplicate_series, parse, parse_with_options, Parser};
pub use scan::NORMAL_NAN_BITS;

/// The exposition format of a scrape body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    PrometheusText,
    /// OpenMetrics 1.0 text (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` a target serving this format sends.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The `Accept` header Prometheus sends for text scrapes, preferring
/// OpenMetrics.
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Chooses the parser for a response `Content-Type`, like Prometheus' scrape:
/// `application/openmetrics-text` (any version) is OpenMetrics; `text/plain`,
/// a missing header or anything unknown falls back to the Prometheus text
/// format.
pub fn negotiate(content_type: Option<&str>) -> Format {
    let Some(ct) = content_type else {
        return Format::PrometheusText;
    };
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::PrometheusText
    }
}

/// A metric family type from a `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `gaugehistogram` (OpenMetrics only)
    GaugeHistogram,
    /// `summary`
    Summary,
    /// `info` (OpenMetrics only)
    Info,
    /// `stateset` (OpenMetrics only)
    StateSet,
    /// `unknown` (OpenMetrics) / `untyped` (Prometheus text), or no TYPE.
    #[default]
    Unknown,
}

impl MetricType {
    /// The name used in OpenMetrics `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// The sample-name suffixes a family of this type may use.
    pub fn suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Summary => &["", "_count", "_sum", "_created"],
            MetricType::Histogram => &["_count", "_sum", "_bucket", "_created"],
            MetricType::GaugeHistogram => &["_gcount", "_gsum", "_bucket"],
            MetricType::Info => &["_info"],
            _ => &[""],
        }
    }
}

/// Limits guarding against hostile or broken targets. Exceeding one is a
/// [`ParseError`]. `usize::MAX` disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Longest label value in bytes (after the quotes, before unescaping).
    pub max_label_value_len: usize,
    /// Longest label name in bytes.
    pub max_label_name_len: usize,
    /// Most labels on one sample (the metric name not counted).
    pub max_labels: usize,
    /// Longest metric name in bytes.
    pub max_metric_name_len: usize,
    /// Longest line in bytes.
    pub max_line_len: usize,
    /// OpenMetrics only: drop `<family>_created` samples of counters,
    /// summaries and histograms from the output (they are still validated),
    /// like Prometheus with created-timestamp ingestion enabled. Off by
    /// default, which ingests them as ordinary series, like Prometheus.
    pub skip_created_series: bool,
    /// How strictly OpenMetrics semantics are enforced (syntax is always
    /// checked, and `# EOF` is always required).
    pub om_strictness: OmStrictness,
}

/// OpenMetrics semantic strictness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OmStrictness {
    /// All rules of the OpenMetrics reference parser and test suite
    /// ([`om_check`]): the default.
    #[default]
    Reference,
    /// Only what Prometheus' own OpenMetrics parser rejects: the semantic
    /// rules of [`om_check`] are not enforced. Real targets violate some of
    /// them (client_golang emits a negative `_sum` next to negative buckets).
    Prometheus,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_label_value_len: 64 * 1024,
            max_label_name_len: 1024,
            max_labels: 512,
            max_metric_name_len: 1024,
            max_line_len: 1024 * 1024,
            skip_created_series: false,
            om_strictness: OmStrictness::Reference,
        }
    }
}

/// One parsed entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    /// `# HELP name text` (text unescaped).
    Help {
        /// Metric family name.
        name: Cow<'a, str>,
        /// Help text.
        help: Cow<'a, str>,
    },
    /// `# TYPE name type`.
    Type {
        /// Metric family name.
        name: Cow<'a, str>,
        /// The type.
        metric_type: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics only).
    Unit {
        /// Metric family name.
        name: Cow<'a, str>,
        /// The unit.
        unit: Cow<'a, str>,
    },
    /// Any other `#` line (Prometheus text only), verbatim.
    Comment(&'a str),
    /// A sample.
    Sample(Sample<'a>),
    /// `# EOF` (OpenMetrics only).
    Eof,
}

/// An exemplar attached to an OpenMetrics sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar<'a> {
    /// The exemplar's labels.
    pub labels: LabelSet<'a>,
    /// The exemplar's value.
    pub value: f64,
    /// Its timestamp in milliseconds, if given.
    pub timestamp_ms: Option<i64>,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// Metric name, without any family suffix removed.
    pub name: Cow<'a, str>,
    /// The labels (the metric name is not among them).
    pub labels: LabelSet<'a>,
    /// The value; a scraped NaN has the bits [`NORMAL_NAN_BITS`].
    pub value: f64,
    /// Timestamp in milliseconds, if the line has one.
    pub timestamp_ms: Option<i64>,
    /// OpenMetrics exemplar, if any (boxed: rare, and keeps samples small).
    pub exemplar: Option<Box<Exemplar<'a>>>,
    /// Type of the family this sample belongs to, from the last `# TYPE`
    /// line when the sample's name fits that family; otherwise `Unknown`.
    pub metric_type: MetricType,
    /// 1-based line number of the sample.
    pub line: usize,
}

impl Sample<'_> {
    /// The sample as owned `(name, value)` pairs sorted by name, including
    /// `__name__`; `le` (histograms) and `quantile` (summaries) values are
    /// normalised like Prometheus 3 does (`"1"` → `"1.0"`). This is the form
    /// callers turn into their own label type.
    pub fn label_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(self.labels.len() + 1);
        out.push(("__name__".to_string(), self.name.to_string()));
        for l in self.labels.iter() {
            let norm = match (self.metric_type, l.name.as_ref()) {
                (MetricType::Histogram | MetricType::GaugeHistogram, "le")
                | (MetricType::Summary, "quantile") => normalize_float_label(&l.value).into_owned(),
                _ => l.value.into_owned(),
            };
            out.push((l.name.into_owned(), norm));
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }
}
