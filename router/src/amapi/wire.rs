//! The Alertmanager v2 API's JSON shapes (the subset Prometheus, amtool and
//! Grafana use), and their conversion to and from the alert model.
//!
//! Wire types stay here, at the edge: the dispatch core only sees
//! [`watchfire_alertmodel`] types. Field names follow Alertmanager's
//! OpenAPI spec (`api/v2/openapi.yaml`, 0.25).

use serde::{Deserialize, Serialize};
use watchfire_alertmodel::{Alert, LabelSet, MatchType, Matcher, MatcherError, Silence};
use watchfire_promql::civil::{format_rfc3339_millis, parse_rfc3339};

/// Go's zero `time.Time` as Alertmanager prints it for an unset time.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

/// Errors turning wire JSON into model values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("invalid time {field} {value:?}: want RFC 3339")]
    Time { field: &'static str, value: String },
}

/// `postableAlert`.
/// Unknown fields are ignored, as Alertmanager's go-openapi decoder does.
#[derive(Debug, Clone, Deserialize)]
pub struct PostableAlert {
    /// Identifying labels.
    pub labels: LabelSet,
    /// Informational annotations.
    #[serde(default)]
    pub annotations: Option<LabelSet>,
    /// RFC 3339; absent or zero means "now" (or `endsAt` when only that is set).
    #[serde(default, rename = "startsAt")]
    pub starts_at: Option<String>,
    /// RFC 3339; absent or zero means "now + resolve_timeout".
    #[serde(default, rename = "endsAt")]
    pub ends_at: Option<String>,
    /// Link to the alert's source.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
}

/// Parses an optional RFC 3339 time; absent, empty or Go's zero time is 0.
pub fn parse_time(field: &'static str, v: Option<&str>) -> Result<i64, WireError> {
    let Some(s) = v.filter(|s| !s.is_empty()) else {
        return Ok(0);
    };
    if s.starts_with("0001-01-01T00:00:00") {
        return Ok(0);
    }
    parse_rfc3339(s).ok_or_else(|| WireError::Time {
        field,
        value: s.chars().take(64).collect(),
    })
}

/// Formats a time, printing 0 as Go's zero time like Alertmanager.
pub fn format_time(ms: i64) -> String {
    if ms == 0 {
        GO_ZERO_TIME.to_string()
    } else {
        format_rfc3339_millis(ms)
    }
}

impl PostableAlert {
    /// The model alert, times as given (0 when unset). Normalisation
    /// (defaults, `resolve_timeout`) and validation are the dispatcher's.
    pub fn into_alert(self) -> Result<Alert, WireError> {
        Ok(Alert {
            starts_at: parse_time("startsAt", self.starts_at.as_deref())?,
            ends_at: parse_time("endsAt", self.ends_at.as_deref())?,
            labels: self.labels,
            annotations: self.annotations.unwrap_or_default(),
            generator_url: self.generator_url.unwrap_or_default(),
            updated_at: 0,
            timeout: false,
        })
    }
}

/// `receiver`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReceiverName {
    pub name: String,
}

/// `alertStatus`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AlertStatusJson {
    /// `unprocessed`, `active` or `suppressed`.
    pub state: &'static str,
    #[serde(rename = "silencedBy")]
    pub silenced_by: Vec<String>,
    #[serde(rename = "inhibitedBy")]
    pub inhibited_by: Vec<String>,
}

/// `gettableAlert`.
#[derive(Debug, Clone, Serialize)]
pub struct GettableAlert {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
    pub receivers: Vec<ReceiverName>,
    pub status: AlertStatusJson,
}

impl GettableAlert {
    pub fn new(a: &Alert, receivers: Vec<String>, status: AlertStatusJson) -> Self {
        GettableAlert {
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: format_time(a.starts_at),
            ends_at: format_time(a.ends_at),
            updated_at: format_time(a.updated_at),
            generator_url: a.generator_url.clone(),
            fingerprint: format!("{:016x}", a.fingerprint()),
            receivers: receivers
                .into_iter()
                .map(|name| ReceiverName { name })
                .collect(),
            status,
        }
    }
}

/// `alertGroup`.
#[derive(Debug, Clone, Serialize)]
pub struct AlertGroupJson {
    pub labels: LabelSet,
    pub receiver: ReceiverName,
    pub alerts: Vec<GettableAlert>,
}

/// `matcher` in silences.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MatcherJson {
    /// Label name.
    pub name: String,
    /// Value or regex.
    pub value: String,
    /// Whether `value` is a regex.
    #[serde(rename = "isRegex")]
    pub is_regex: bool,
    /// `false` for `!=`/`!~` (absent means `true`, as in Alertmanager).
    #[serde(rename = "isEqual", default = "default_true")]
    pub is_equal: bool,
}

fn default_true() -> bool {
    true
}

impl MatcherJson {
    pub fn from_matcher(m: &Matcher) -> Self {
        MatcherJson {
            name: m.name().to_string(),
            value: m.value().to_string(),
            is_regex: m.op().is_regex(),
            is_equal: !m.op().is_negative(),
        }
    }

    /// The operator `isRegex` and `isEqual` spell.
    pub fn op(&self) -> MatchType {
        match (self.is_regex, self.is_equal) {
            (false, true) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regexp,
            (true, false) => MatchType::NotRegexp,
        }
    }

    pub fn to_matcher(&self) -> Result<Matcher, MatcherError> {
        Matcher::new(self.op(), self.name.clone(), self.value.clone())
    }
}

/// `postableSilence`.
#[derive(Debug, Clone, Deserialize)]
pub struct PostableSilence {
    /// Set to update an existing silence.
    #[serde(default)]
    pub id: Option<String>,
    /// All must match.
    pub matchers: Vec<MatcherJson>,
    /// RFC 3339.
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    /// RFC 3339.
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    /// Who made it.
    #[serde(rename = "createdBy")]
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// `silenceStatus`.
#[derive(Debug, Clone, Serialize)]
pub struct SilenceStatusJson {
    pub state: &'static str,
}

/// `gettableSilence`.
#[derive(Debug, Clone, Serialize)]
pub struct GettableSilence {
    pub id: String,
    pub status: SilenceStatusJson,
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
    pub matchers: Vec<MatcherJson>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    #[serde(rename = "createdBy")]
    pub created_by: String,
    pub comment: String,
}

impl GettableSilence {
    pub fn new(s: &Silence, now: i64) -> Self {
        GettableSilence {
            id: s.id.clone(),
            status: SilenceStatusJson {
                state: s.state_at(now).as_str(),
            },
            updated_at: format_time(s.updated_at),
            matchers: s.matchers.iter().map(MatcherJson::from_matcher).collect(),
            starts_at: format_time(s.starts_at),
            ends_at: format_time(s.ends_at),
            created_by: s.created_by.clone(),
            comment: s.comment.clone(),
        }
    }
}

/// The error body every API error carries (Alertmanager answers plain
/// strings; we answer JSON with the same text under `error`).
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_time(input: Option<&str>, expect: Result<i64, ()>) {
        assert_eq!(
            parse_time("startsAt", input).map_err(|_| ()),
            expect,
            "{input:?}"
        );
    }

    #[test]
    fn times() {
        check_time(None, Ok(0));
        check_time(Some(""), Ok(0));
        check_time(Some("0001-01-01T00:00:00Z"), Ok(0));
        check_time(Some("1970-01-01T00:00:01.5Z"), Ok(1500));
        check_time(Some("1970-01-01T01:00:01+01:00"), Ok(1000));
        check_time(Some("yesterday"), Err(()));
        assert_eq!(format_time(0), GO_ZERO_TIME);
        assert_eq!(format_time(1500), "1970-01-01T00:00:01.500Z");
    }

    fn check_matcher(json: &str, expect: &str) {
        let m: MatcherJson = serde_json::from_str(json).unwrap();
        match m.to_matcher() {
            Ok(m) => {
                assert_eq!(m.to_string(), expect, "{json}");
                assert_eq!(MatcherJson::from_matcher(&m).to_matcher().unwrap(), m);
            }
            Err(e) => assert_eq!("error", expect, "{json}: {e}"),
        }
    }

    #[test]
    fn matchers() {
        check_matcher(r#"{"name":"a","value":"b","isRegex":false}"#, r#"a="b""#);
        check_matcher(
            r#"{"name":"a","value":"b","isRegex":false,"isEqual":false}"#,
            r#"a!="b""#,
        );
        check_matcher(
            r#"{"name":"a","value":"b.*","isRegex":true}"#,
            r#"a=~"b.*""#,
        );
        check_matcher(
            r#"{"name":"a","value":"b","isRegex":true,"isEqual":false}"#,
            r#"a!~"b""#,
        );
        check_matcher(r#"{"name":"a","value":"(","isRegex":true}"#, "error");
    }

    #[test]
    fn alert_round_trip() {
        let p: PostableAlert = serde_json::from_str(
            r#"{"labels":{"alertname":"X"},"startsAt":"2024-01-01T00:00:00Z","generatorURL":"http://g"}"#,
        )
        .unwrap();
        let a = p.into_alert().unwrap();
        assert_eq!(a.ends_at, 0);
        assert_eq!(a.starts_at, 1_704_067_200_000);
        let g = GettableAlert::new(
            &a,
            vec!["r".into()],
            AlertStatusJson {
                state: "active",
                silenced_by: vec![],
                inhibited_by: vec![],
            },
        );
        let v = serde_json::to_value(&g).unwrap();
        assert_eq!(v["endsAt"], GO_ZERO_TIME);
        assert_eq!(v["fingerprint"].as_str().unwrap().len(), 16);
        assert_eq!(v["receivers"][0]["name"], "r");
        assert!(serde_json::from_str::<PostableAlert>(r#"{"annotations":{}}"#).is_err());
        assert!(serde_json::from_str::<PostableAlert>(r#"{"labels":{"a":1}}"#).is_err());
    }
}
