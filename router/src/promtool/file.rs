//! The unit-test file format (`promtool test rules`), decoded strictly:
//! unknown keys and duplicate keys are errors, as with Go's
//! `yaml.UnmarshalStrict`. Durations and `start_timestamp` stay strings
//! here and are checked by [`TestFile::resolve`]'s callers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::PromtoolError;

/// A whole test file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    pub rule_files: Option<Vec<String>>,
    pub evaluation_interval: Option<String>,
    pub group_eval_order: Option<Vec<String>>,
    pub tests: Option<Vec<TestGroup>>,
    pub fuzzy_compare: Option<bool>,
}

/// One entry of `tests:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestGroup {
    pub interval: Option<String>,
    pub input_series: Option<Vec<InputSeries>>,
    pub alert_rule_test: Option<Vec<AlertTestCase>>,
    pub promql_expr_test: Option<Vec<PromqlTestCase>>,
    pub external_labels: Option<BTreeMap<String, String>>,
    pub external_url: Option<String>,
    pub name: Option<String>,
    pub start_timestamp: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSeries {
    pub series: Option<String>,
    pub values: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTestCase {
    pub eval_time: Option<String>,
    pub alertname: Option<String>,
    pub exp_alerts: Option<Vec<ExpAlert>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpAlert {
    pub exp_labels: Option<BTreeMap<String, String>>,
    pub exp_annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromqlTestCase {
    pub expr: Option<String>,
    pub eval_time: Option<String>,
    pub exp_samples: Option<Vec<ExpSample>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpSample {
    pub labels: Option<String>,
    pub value: Option<f64>,
    /// A `{{...}}` native histogram; when set, `value` is ignored.
    pub histogram: Option<String>,
}

/// Decodes a test file's text.
pub fn parse_test_file(text: &str) -> Result<TestFile, PromtoolError> {
    serde_saphyr::from_str::<Option<TestFile>>(text)
        .map(Option::unwrap_or_default)
        .map_err(|e| PromtoolError::Yaml(e.to_string()))
}

/// Parses a Prometheus duration (`1m`, `0`, `1h30m`) into milliseconds;
/// absent means 0.
pub fn duration(field: &str, v: Option<&str>) -> Result<i64, PromtoolError> {
    match v {
        None => Ok(0),
        Some(s) => watchfire_rulefmt::parse_duration(s).map_err(|e| PromtoolError::Field {
            field: field.to_string(),
            reason: e.to_string(),
        }),
    }
}

/// `start_timestamp`: Unix seconds or RFC 3339; milliseconds out.
pub fn start_timestamp(v: Option<&str>) -> Result<i64, PromtoolError> {
    let Some(s) = v.map(str::trim) else {
        return Ok(0);
    };
    let bad = || PromtoolError::Field {
        field: "start_timestamp".into(),
        reason: format!("{s:?} is neither a Unix timestamp nor an RFC3339 time"),
    };
    if let Ok(secs) = s.parse::<i64>() {
        return secs.checked_mul(1000).ok_or_else(bad);
    }
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() {
            return Ok((secs * 1000.0).round() as i64);
        }
    }
    parse_rfc3339(s).ok_or_else(bad)
}

pub use watchfire_promql::civil::parse_rfc3339;

/// Resolves `rule_files` against the test file's directory and expands
/// globs. Patterns matching nothing produce a warning (as promtool does).
pub fn resolve_rule_files(
    base: &Path,
    patterns: &[String],
    warnings: &mut Vec<String>,
) -> Result<Vec<PathBuf>, PromtoolError> {
    let mut out = Vec::new();
    for p in patterns {
        let full = if p.is_empty() || Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            base.join(p)
        };
        let pattern = full.to_string_lossy().into_owned();
        let matches = glob::glob(&pattern).map_err(|e| PromtoolError::Field {
            field: "rule_files".into(),
            reason: format!("{pattern}: {e}"),
        })?;
        let found: Vec<PathBuf> = matches.filter_map(Result::ok).collect();
        if found.is_empty() {
            warnings.push(format!("  WARNING: no file match pattern {pattern}"));
        }
        out.extend(found);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_timestamps() {
        let cases = [
            (None, Some(0)),
            (Some("1609459200"), Some(1_609_459_200_000)),
            (Some("2024-01-01T00:00:00Z"), Some(1_704_067_200_000)),
            (Some("soon"), None),
        ];
        for (s, want) in cases {
            assert_eq!(start_timestamp(s).ok(), want, "{s:?}");
        }
    }

    #[test]
    fn strict_yaml() {
        let ok = [
            "",
            "tests:\n  - {}\n",
            "evaluation_interval: 1m\nfuzzy_compare: true\n",
        ];
        for t in ok {
            assert!(parse_test_file(t).is_ok(), "{t:?}");
        }
        let bad = [
            "unknown: 1\n",
            "tests:\n  - intervall: 1m\n",
            "tests: []\ntests: []\n",
            "tests: 3\n",
        ];
        for t in bad {
            assert!(parse_test_file(t).is_err(), "{t:?}");
        }
    }
}
