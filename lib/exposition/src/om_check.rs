//! OpenMetrics semantic validation: a port of the rules of the Python
//! reference parser (`prometheus_client.openmetrics.parser`) that the
//! OpenMetrics conformance suite encodes:
//!
//! * metric families are contiguous and never repeat, and their sample
//!   names (with type suffixes) must not clash with another family's;
//! * HELP/TYPE/UNIT at most once per family and before its samples; the
//!   unit must be a suffix of the name and is not allowed on info/stateset;
//! * counters: `_total`/`_created` only; counter-like samples (`_total`,
//!   `_sum`, `_count`, `_bucket`, `_gcount`) are neither NaN nor negative
//!   (`_gsum` not NaN); `_count`/`_bucket` values are integers;
//! * histograms: canonical `le`, increasing buckets with non-decreasing
//!   counts ending at `+Inf`, `_count` equal to the `+Inf` bucket, `_sum` and
//!   `_count` together, no `_sum` with negative buckets, no negative `_gsum`
//!   without negative buckets;
//! * summaries: `quantile` in [0, 1], non-negative quantile values;
//!   stateset/info values 0/1 and 1; stateset samples carry the family label;
//! * exemplars only on histogram/gaugehistogram `_bucket` and counter
//!   `_total` samples;
//! * within a group (same labels apart from `le`/`quantile`/the stateset
//!   label), timestamps are all present or all absent and never go back;
//!   a group may not reappear after another one started;
//! * `# EOF` is required.
//!
//! Errors are [`OmError`]s without a position; the caller adds line and
//! column.

use std::collections::HashSet;

use crate::scan::parse_value;
use crate::{LabelSet, MetricType};

/// A broken OpenMetrics rule. The messages are the ones the parser has
/// always reported (see the module docs for the rules).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OmError {
    /// A histogram (group) whose buckets, `_count`, `_sum` or `_gsum` break
    /// a histogram rule.
    #[error("histogram {name}: {problem}")]
    Histogram {
        /// The family name.
        name: String,
        /// What is wrong.
        problem: HistogramProblem,
    },
    /// A family's sample name is already taken by an earlier family.
    #[error("clashing name {0}: metric families must be contiguous and distinct")]
    ClashingName(String),
    /// `# UNIT` that is not a suffix of the name.
    #[error("unit {unit:?} is not a suffix of metric name {name}")]
    UnitNotSuffix {
        /// The unit.
        unit: String,
        /// The family name.
        name: String,
    },
    /// `# UNIT` on an info or stateset family.
    #[error("units are not allowed on {} metric {name}", .typ.as_str())]
    UnitNotAllowed {
        /// The family type.
        typ: MetricType,
        /// The family name.
        name: String,
    },
    /// Metadata after the family's first sample.
    #[error("metadata for {0} after its samples")]
    MetadataAfterSamples(String),
    /// A second line of the same metadata kind.
    #[error("more than one {} for {name}", .kind.keyword())]
    RepeatedMetadata {
        /// HELP, TYPE or UNIT.
        kind: MetaKind,
        /// The family name.
        name: String,
    },
    /// A sample with no family (cannot happen: a sample always opens one).
    #[error("internal: no family")]
    NoFamily,
    /// A stateset sample without the label named after the family.
    #[error("stateset sample lacks the label {0:?}")]
    StatesetLabelMissing(String),
    /// A `_bucket` without a valid `le`.
    #[error("invalid le label {0:?}")]
    InvalidLe(Option<String>),
    /// A `_bucket` value that is not an integer.
    #[error("bucket value must be an integer")]
    BucketNotInteger,
    /// A `_count`/`_gcount` value that is not an integer.
    #[error("count value must be an integer")]
    CountNotInteger,
    /// A summary quantile sample without a valid `quantile`.
    #[error("invalid quantile label {0:?}")]
    InvalidQuantile(Option<String>),
    /// A group of samples that came back after another group started.
    #[error("invalid metric grouping: a group reappeared after another one")]
    GroupReappeared,
    /// Timestamps on some samples of a group but not on others.
    #[error("mix of timestamp presence within a group")]
    MixedTimestamps,
    /// A timestamp older than the previous one of its group.
    #[error("timestamps went backwards within a group")]
    TimestampsBackwards,
    /// A stateset value other than 0 or 1.
    #[error("stateset samples can only have values zero and one")]
    StatesetValue,
    /// An info value other than 1.
    #[error("info samples can only have value one")]
    InfoValue,
    /// A negative summary quantile value.
    #[error("quantile values cannot be negative")]
    NegativeQuantile,
    /// A NaN counter-like value.
    #[error("counter-like samples cannot be NaN")]
    CounterLikeNan,
    /// A negative counter-like value.
    #[error("counter-like samples cannot be negative")]
    CounterLikeNegative,
    /// An exemplar where none may be.
    #[error("only histogram/gaugehistogram buckets and counters can have exemplars")]
    MisplacedExemplar,
    /// The input does not end with `# EOF`.
    #[error("missing # EOF at end of input")]
    MissingEof,
}

/// What is wrong with a histogram group ([`OmError::Histogram`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HistogramProblem {
    /// `le` not increasing.
    #[error("buckets out of order")]
    BucketsOutOfOrder,
    /// Bucket counts decreasing.
    #[error("bucket values decrease")]
    BucketValuesDecrease,
    /// No `le="+Inf"` bucket.
    #[error("+Inf bucket missing")]
    InfBucketMissing,
    /// `_count` differs from the `+Inf` bucket.
    #[error("count does not match the +Inf bucket")]
    CountMismatch,
    /// `_sum` without `_count`.
    #[error("_count must be present if _sum is present")]
    SumWithoutCount,
    /// `_gsum` without `_gcount`.
    #[error("_gcount must be present if _gsum is present")]
    GsumWithoutGcount,
    /// `_count` without `_sum`/`_gsum`.
    #[error("_sum/_gsum must be present if _count is present")]
    CountWithoutSum,
    /// `_sum` with negative buckets.
    #[error("cannot have _sum with negative buckets")]
    SumWithNegativeBuckets,
    /// Negative `_gsum` with no negative bucket.
    #[error("cannot have negative _gsum with non-negative buckets")]
    NegativeGsum,
}

/// Which metadata line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKind {
    /// `# HELP`
    Help,
    /// `# TYPE`
    Type,
    /// `# UNIT`
    Unit,
}

impl MetaKind {
    /// The keyword: `HELP`, `TYPE` or `UNIT`.
    pub fn keyword(self) -> &'static str {
        match self {
            MetaKind::Help => "HELP",
            MetaKind::Type => "TYPE",
            MetaKind::Unit => "UNIT",
        }
    }
}

/// What the validator needs to know about one sample.
pub struct SampleFacts<'s, 'a> {
    /// Sample name.
    pub name: &'s str,
    /// Its labels.
    pub labels: &'s LabelSet<'a>,
    /// Its value.
    pub value: f64,
    /// Its timestamp in seconds, if any.
    pub ts: Option<f64>,
    /// Whether it has an exemplar.
    pub has_exemplar: bool,
}

#[derive(Default)]
struct HistCheck {
    active: bool,
    group: String,
    ts: Option<f64>,
    count: Option<f64>,
    bucket: Option<f64>,
    value: f64,
    neg_buckets: bool,
    has_sum: bool,
    has_gsum: bool,
    neg_gsum: bool,
}

impl HistCheck {
    fn add(
        &mut self,
        name: &str,
        suffix: &str,
        group: &str,
        ts: Option<f64>,
        value: f64,
        le: Option<f64>,
    ) -> Result<(), OmError> {
        if suffix.is_empty() {
            return Ok(());
        }
        if !self.active || group != self.group || ts != self.ts {
            if self.active {
                self.check(name)?;
            }
            *self = HistCheck {
                active: true,
                group: group.to_string(),
                ts,
                ..HistCheck::default()
            };
        }
        match suffix {
            "_bucket" => {
                let b = le.unwrap_or(f64::NAN);
                if b < 0.0 {
                    self.neg_buckets = true;
                }
                if self.bucket.is_some_and(|prev| b <= prev) {
                    return Err(histogram(name, HistogramProblem::BucketsOutOfOrder));
                }
                if value < self.value {
                    return Err(histogram(name, HistogramProblem::BucketValuesDecrease));
                }
                self.bucket = Some(b);
                self.value = value;
            }
            "_count" | "_gcount" => self.count = Some(value),
            "_sum" => self.has_sum = true,
            "_gsum" => {
                self.has_gsum = true;
                if value < 0.0 {
                    self.neg_gsum = true;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn check(&self, name: &str) -> Result<(), OmError> {
        self.problem().map_or(Ok(()), |p| Err(histogram(name, p)))
    }

    /// The first histogram rule the finished group breaks, if any.
    fn problem(&self) -> Option<HistogramProblem> {
        use HistogramProblem::*;
        Some(if self.bucket != Some(f64::INFINITY) {
            InfBucketMissing
        } else if self.count.is_some_and(|c| c != self.value) {
            CountMismatch
        } else if self.has_sum && self.count.is_none() {
            SumWithoutCount
        } else if self.has_gsum && self.count.is_none() {
            GsumWithoutGcount
        } else if !(self.has_sum || self.has_gsum) && self.count.is_some() {
            CountWithoutSum
        } else if self.neg_buckets && self.has_sum {
            SumWithNegativeBuckets
        } else if !self.neg_buckets && self.neg_gsum {
            NegativeGsum
        } else {
            return None;
        })
    }
}

fn histogram(name: &str, problem: HistogramProblem) -> OmError {
    OmError::Histogram {
        name: name.to_string(),
        problem,
    }
}

struct Family {
    name: String,
    typ: Option<MetricType>,
    unit: Option<String>,
    has_help: bool,
    has_samples: bool,
    group: Option<String>,
    group_ts: Option<f64>,
    seen_groups: HashSet<String>,
    hist: HistCheck,
}

impl Family {
    fn new(name: &str, typ: Option<MetricType>) -> Self {
        Family {
            name: name.to_string(),
            typ,
            unit: None,
            has_help: false,
            has_samples: false,
            group: None,
            group_ts: None,
            seen_groups: HashSet::new(),
            hist: HistCheck::default(),
        }
    }

    /// The suffix of `sample` if it is one of this family's sample names.
    fn suffix_of<'s>(&self, sample: &'s str) -> Option<&'s str> {
        let rest = sample.strip_prefix(self.name.as_str())?;
        let allowed = self.typ.map_or(&[""][..], MetricType::suffixes);
        allowed.contains(&rest).then_some(rest)
    }
}

/// The validator state for one exposition.
#[derive(Default)]
pub struct OmValidator {
    seen_names: HashSet<String>,
    fam: Option<Family>,
    key: String,
}

impl OmValidator {
    /// A fresh validator.
    pub fn new() -> Self {
        Self::default()
    }

    fn build(&mut self, f: Family) -> Result<(), OmError> {
        let typ = f.typ.unwrap_or(MetricType::Unknown);
        let extra = (!typ.suffixes().contains(&"")).then_some("");
        for s in typ.suffixes().iter().copied().chain(extra) {
            let n = format!("{}{}", f.name, s);
            if self.seen_names.contains(&n) {
                return Err(OmError::ClashingName(n));
            }
            self.seen_names.insert(n);
        }
        if let Some(u) = f.unit.as_deref().filter(|u| !u.is_empty()) {
            if !f.name.ends_with(&format!("_{u}")) {
                return Err(OmError::UnitNotSuffix {
                    unit: u.to_string(),
                    name: f.name,
                });
            }
            if matches!(typ, MetricType::Info | MetricType::StateSet) {
                return Err(OmError::UnitNotAllowed { typ, name: f.name });
            }
        }
        if matches!(typ, MetricType::Histogram | MetricType::GaugeHistogram) && f.hist.active {
            f.hist.check(&f.name)?;
        }
        Ok(())
    }

    /// A HELP/TYPE/UNIT line for family `name`.
    pub fn meta(&mut self, kind: MetaKind, name: &str, text: &str) -> Result<(), OmError> {
        let same = self.fam.as_ref().is_some_and(|f| f.name == name);
        if same {
            if self.fam.as_ref().is_some_and(|f| f.has_samples) {
                return Err(OmError::MetadataAfterSamples(name.to_string()));
            }
        } else {
            if let Some(f) = self.fam.replace(Family::new(name, None)) {
                self.build(f)?;
            }
        }
        let Some(f) = self.fam.as_mut() else {
            return Err(OmError::NoFamily);
        };
        let repeated = || OmError::RepeatedMetadata {
            kind,
            name: name.to_string(),
        };
        match kind {
            MetaKind::Help if f.has_help => return Err(repeated()),
            MetaKind::Help => f.has_help = true,
            MetaKind::Type if f.typ.is_some() => return Err(repeated()),
            MetaKind::Type => {}
            MetaKind::Unit if f.unit.is_some() => return Err(repeated()),
            MetaKind::Unit => f.unit = Some(text.to_string()),
        }
        Ok(())
    }

    /// Records the type of the current family (after [`Self::meta`] with
    /// [`MetaKind::Type`] succeeded).
    pub fn set_type(&mut self, t: MetricType) {
        if let Some(f) = self.fam.as_mut() {
            f.typ = Some(t);
        }
    }

    /// Validates one sample. Returns the family type and whether it is a
    /// `_created` sample of a counter, summary or histogram.
    pub fn sample(&mut self, s: &SampleFacts<'_, '_>) -> Result<(MetricType, bool), OmError> {
        let fits = self
            .fam
            .as_ref()
            .and_then(|f| f.suffix_of(s.name))
            .is_some();
        if !fits {
            if let Some(f) = self
                .fam
                .replace(Family::new(s.name, Some(MetricType::Unknown)))
            {
                self.build(f)?;
            }
        }
        let mut key = std::mem::take(&mut self.key);
        let r = self.sample_in_family(s, &mut key);
        self.key = key;
        r
    }

    fn sample_in_family(
        &mut self,
        s: &SampleFacts<'_, '_>,
        key: &mut String,
    ) -> Result<(MetricType, bool), OmError> {
        let Some(f) = self.fam.as_mut() else {
            return Err(OmError::NoFamily);
        };
        let typ = f.typ.unwrap_or(MetricType::Unknown);
        let suffix = &s.name[f.name.len()..];
        let v = s.value;
        let is_int = |x: f64| x.is_finite() && x.fract() == 0.0;
        if typ == MetricType::StateSet && s.labels.get(&f.name).is_none() {
            return Err(OmError::StatesetLabelMissing(f.name.clone()));
        }
        let mut le = None;
        if suffix == "_bucket" {
            let raw = s.labels.get("le");
            let l = raw.as_deref().and_then(canonical_float);
            match l {
                Some(x) if !x.is_nan() => le = Some(x),
                _ => return Err(OmError::InvalidLe(raw.map(|r| r.to_string()))),
            }
            if !is_int(v) {
                return Err(OmError::BucketNotInteger);
            }
        }
        if (suffix == "_count" || suffix == "_gcount") && !is_int(v) {
            return Err(OmError::CountNotInteger);
        }
        if typ == MetricType::Summary && suffix.is_empty() {
            let raw = s.labels.get("quantile");
            let q = raw.as_deref().map_or(Some(-1.0), canonical_float);
            if !q.is_some_and(|q| (0.0..=1.0).contains(&q)) {
                return Err(OmError::InvalidQuantile(raw.map(|r| r.to_string())));
            }
        }
        // Grouping.
        let exclude = match typ {
            MetricType::Summary if suffix.is_empty() => Some("quantile"),
            MetricType::StateSet => Some(f.name.as_str()),
            MetricType::Histogram | MetricType::GaugeHistogram if suffix == "_bucket" => Some("le"),
            _ => None,
        };
        key.clear();
        if typ != MetricType::Info {
            let mut pairs: Vec<_> = s
                .labels
                .iter()
                .filter(|l| Some(l.name.as_ref()) != exclude)
                .collect();
            pairs.sort_unstable_by(|a, b| a.name.cmp(&b.name));
            for p in pairs {
                key.push_str(&p.name);
                key.push('\u{1}');
                key.push_str(&p.value);
                key.push('\u{2}');
            }
        }
        let same_group = f.group.as_deref() == Some(key.as_str());
        if f.group.is_some() && !same_group && f.seen_groups.contains(key.as_str()) {
            return Err(OmError::GroupReappeared);
        }
        if same_group {
            if s.ts.is_some() != f.group_ts.is_some() {
                return Err(OmError::MixedTimestamps);
            }
            if let (Some(prev), Some(t)) = (f.group_ts, s.ts) {
                if prev > t && typ != MetricType::Info {
                    return Err(OmError::TimestampsBackwards);
                }
            }
        } else {
            f.group = Some(key.clone());
            f.seen_groups.insert(key.clone());
        }
        f.group_ts = s.ts;
        if matches!(typ, MetricType::Histogram | MetricType::GaugeHistogram) {
            f.hist.add(&f.name, suffix, key, s.ts, v, le)?;
        }
        f.has_samples = true;
        if typ == MetricType::StateSet && v != 0.0 && v != 1.0 {
            return Err(OmError::StatesetValue);
        }
        if typ == MetricType::Info && v != 1.0 {
            return Err(OmError::InfoValue);
        }
        if typ == MetricType::Summary && suffix.is_empty() && v < 0.0 {
            return Err(OmError::NegativeQuantile);
        }
        let counter_like = matches!(
            suffix,
            "_total" | "_sum" | "_count" | "_bucket" | "_gcount" | "_gsum"
        );
        if counter_like && v.is_nan() {
            return Err(OmError::CounterLikeNan);
        }
        if counter_like && suffix != "_gsum" && v < 0.0 {
            return Err(OmError::CounterLikeNegative);
        }
        if s.has_exemplar {
            let ok = (matches!(typ, MetricType::Histogram | MetricType::GaugeHistogram)
                && s.name.ends_with("_bucket"))
                || (typ == MetricType::Counter && s.name.ends_with("_total"));
            if !ok {
                return Err(OmError::MisplacedExemplar);
            }
        }
        let created = suffix == "_created"
            && matches!(
                typ,
                MetricType::Counter | MetricType::Summary | MetricType::Histogram
            );
        Ok((typ, created))
    }

    /// The type of the current family and whether `name` is its `_created`
    /// series; used when a rule failed but errors are not enforced.
    pub fn current_family(&self, name: &str) -> (MetricType, bool) {
        match self.fam.as_ref() {
            Some(f) if f.suffix_of(name).is_some() => {
                let t = f.typ.unwrap_or(MetricType::Unknown);
                let created = name.len() > f.name.len()
                    && &name[f.name.len()..] == "_created"
                    && matches!(
                        t,
                        MetricType::Counter | MetricType::Summary | MetricType::Histogram
                    );
                (t, created)
            }
            _ => (MetricType::Unknown, false),
        }
    }

    /// End of input: closes the last family and requires `# EOF`.
    pub fn finish(&mut self, eof_seen: bool, strict: bool) -> Result<(), OmError> {
        if let Some(f) = self.fam.take() {
            let r = self.build(f);
            if strict {
                r?;
            }
        }
        if !eof_seen {
            return Err(OmError::MissingEof);
        }
        Ok(())
    }
}

/// Parses a float label value (`le`, `quantile`); infinities must be
/// spelled exactly `+Inf`/`-Inf`.
fn canonical_float(s: &str) -> Option<f64> {
    let f = parse_value(s)?;
    if f.is_infinite() && s != "+Inf" && s != "-Inf" {
        return None;
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(e: OmError, expect: &str) {
        assert_eq!(e.to_string(), expect, "{e:?}");
    }

    #[test]
    fn messages() {
        let hist = |problem| histogram("h", problem);
        use HistogramProblem::*;
        let cases = [
            (hist(BucketsOutOfOrder), "histogram h: buckets out of order"),
            (
                hist(BucketValuesDecrease),
                "histogram h: bucket values decrease",
            ),
            (hist(InfBucketMissing), "histogram h: +Inf bucket missing"),
            (
                hist(CountMismatch),
                "histogram h: count does not match the +Inf bucket",
            ),
            (
                hist(SumWithoutCount),
                "histogram h: _count must be present if _sum is present",
            ),
            (
                hist(GsumWithoutGcount),
                "histogram h: _gcount must be present if _gsum is present",
            ),
            (
                hist(CountWithoutSum),
                "histogram h: _sum/_gsum must be present if _count is present",
            ),
            (
                hist(SumWithNegativeBuckets),
                "histogram h: cannot have _sum with negative buckets",
            ),
            (
                hist(NegativeGsum),
                "histogram h: cannot have negative _gsum with non-negative buckets",
            ),
            (
                OmError::ClashingName("a_total".into()),
                "clashing name a_total: metric families must be contiguous and distinct",
            ),
            (
                OmError::UnitNotSuffix {
                    unit: "seconds".into(),
                    name: "a".into(),
                },
                "unit \"seconds\" is not a suffix of metric name a",
            ),
            (
                OmError::UnitNotAllowed {
                    typ: MetricType::StateSet,
                    name: "a_seconds".into(),
                },
                "units are not allowed on stateset metric a_seconds",
            ),
            (
                OmError::MetadataAfterSamples("a".into()),
                "metadata for a after its samples",
            ),
            (
                OmError::RepeatedMetadata {
                    kind: MetaKind::Unit,
                    name: "a".into(),
                },
                "more than one UNIT for a",
            ),
            (
                OmError::StatesetLabelMissing("s".into()),
                "stateset sample lacks the label \"s\"",
            ),
            (OmError::InvalidLe(None), "invalid le label None"),
            (
                OmError::InvalidQuantile(Some("x".into())),
                "invalid quantile label Some(\"x\")",
            ),
            (OmError::MissingEof, "missing # EOF at end of input"),
        ];
        for (e, expect) in cases {
            check(e, expect);
        }
    }

    #[test]
    fn validator_reports_rules() {
        let mut v = OmValidator::new();
        assert_eq!(v.meta(MetaKind::Help, "a", "x"), Ok(()));
        assert_eq!(
            v.meta(MetaKind::Help, "a", "y"),
            Err(OmError::RepeatedMetadata {
                kind: MetaKind::Help,
                name: "a".into()
            })
        );
        assert_eq!(v.meta(MetaKind::Unit, "a", "seconds"), Ok(()));
        assert_eq!(
            v.finish(true, true),
            Err(OmError::UnitNotSuffix {
                unit: "seconds".into(),
                name: "a".into()
            })
        );
        assert_eq!(
            OmValidator::new().finish(false, true),
            Err(OmError::MissingEof)
        );
    }
}
