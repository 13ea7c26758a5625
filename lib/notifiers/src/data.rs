//! Alertmanager's notification data model (`template.Data`): what
//! templates see as dot and what the webhook payload serialises.
//!
//! Built from a [`Notification`] after the integration's own alert
//! selection (`send_resolved` filtering, `max_alerts` truncation), as
//! Alertmanager builds it per integration.

use serde::Serialize;
use watchfire_alertmodel::{Alert, AlertStatus, LabelSet, Notification};
use watchfire_template::{StructValue, Time, Value};

/// One alert as templates and the webhook see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertData {
    pub status: &'static str,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    #[serde(serialize_with = "ser_time")]
    pub starts_at: i64,
    /// `None` (Go's zero time) while the alert fires: Alertmanager hides an
    /// end that has not been reached yet.
    #[serde(serialize_with = "ser_opt_time")]
    pub ends_at: Option<i64>,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// 16 lower-case hex digits.
    pub fingerprint: String,
}

/// Alertmanager's `template.Data`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateData {
    pub receiver: String,
    pub status: &'static str,
    pub alerts: Vec<AlertData>,
    pub group_labels: LabelSet,
    pub common_labels: LabelSet,
    pub common_annotations: LabelSet,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// Evaluation time (ms) for templates; not serialised.
    #[serde(skip)]
    pub now: i64,
}

impl TemplateData {
    /// The data for `alerts` (a selection of `n.alerts`), statuses taken at
    /// `n.now`.
    pub fn new(n: &Notification, alerts: &[Alert]) -> TemplateData {
        let firing = alerts.iter().any(|a| !a.resolved_at(n.now));
        let common = |f: fn(&Alert) -> &LabelSet| -> LabelSet {
            let mut it = alerts.iter().map(f);
            let Some(first) = it.next() else {
                return LabelSet::new();
            };
            let mut out = first.clone();
            for s in it {
                out.retain(|k, v| s.get(k) == Some(v));
            }
            out
        };
        TemplateData {
            receiver: n.receiver.clone(),
            status: if firing { "firing" } else { "resolved" },
            alerts: alerts.iter().map(|a| AlertData::new(a, n.now)).collect(),
            group_labels: n.group_labels.clone(),
            common_labels: common(|a| &a.labels),
            common_annotations: common(|a| &a.annotations),
            external_url: n.external_url.clone(),
            now: n.now,
        }
    }

    pub fn firing(&self) -> impl Iterator<Item = &AlertData> {
        self.alerts.iter().filter(|a| a.status == "firing")
    }

    pub fn resolved(&self) -> impl Iterator<Item = &AlertData> {
        self.alerts.iter().filter(|a| a.status == "resolved")
    }

    /// The template value. Besides Alertmanager's fields it carries
    /// `FiringAlerts` and `ResolvedAlerts`, which the template layer
    /// substitutes for `.Alerts.Firing` / `.Alerts.Resolved` (the template
    /// engine has no methods on lists).
    pub fn to_value(&self) -> Value {
        let list = |it: &mut dyn Iterator<Item = &AlertData>| {
            Value::List(it.map(AlertData::to_value).collect())
        };
        Value::Struct(StructValue {
            type_name: "*template.Data".into(),
            fields: vec![
                ("Receiver".into(), Value::String(self.receiver.clone())),
                ("Status".into(), Value::String(self.status.into())),
                ("Alerts".into(), list(&mut self.alerts.iter())),
                (
                    "GroupLabels".into(),
                    Value::StrMap(self.group_labels.to_map()),
                ),
                (
                    "CommonLabels".into(),
                    Value::StrMap(self.common_labels.to_map()),
                ),
                (
                    "CommonAnnotations".into(),
                    Value::StrMap(self.common_annotations.to_map()),
                ),
                (
                    "ExternalURL".into(),
                    Value::String(self.external_url.clone()),
                ),
                ("FiringAlerts".into(), list(&mut self.firing())),
                ("ResolvedAlerts".into(), list(&mut self.resolved())),
            ],
        })
    }
}

impl AlertData {
    pub fn new(a: &Alert, now: i64) -> AlertData {
        let resolved = a.resolved_at(now);
        AlertData {
            status: if resolved {
                AlertStatus::Resolved.as_str()
            } else {
                AlertStatus::Firing.as_str()
            },
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: a.starts_at,
            ends_at: resolved.then_some(a.ends_at),
            generator_url: a.generator_url.clone(),
            fingerprint: format!("{:016x}", a.fingerprint()),
        }
    }

    fn to_value(&self) -> Value {
        Value::Struct(StructValue {
            type_name: "template.Alert".into(),
            fields: vec![
                ("Status".into(), Value::String(self.status.into())),
                ("Labels".into(), Value::StrMap(self.labels.to_map())),
                (
                    "Annotations".into(),
                    Value::StrMap(self.annotations.to_map()),
                ),
                ("StartsAt".into(), Value::Time(ms_time(self.starts_at))),
                (
                    "EndsAt".into(),
                    Value::Time(self.ends_at.map_or(GO_ZERO_TIME, ms_time)),
                ),
                (
                    "GeneratorURL".into(),
                    Value::String(self.generator_url.clone()),
                ),
                (
                    "Fingerprint".into(),
                    Value::String(self.fingerprint.clone()),
                ),
            ],
        })
    }
}

/// Go's zero `time.Time` (0001-01-01T00:00:00Z).
const GO_ZERO_TIME: Time = Time {
    secs: -62_135_596_800,
    nanos: 0,
};

fn ms_time(ms: i64) -> Time {
    Time::from_unix(ms.div_euclid(1000), ms.rem_euclid(1000) * 1_000_000)
}

/// Go's `time.Time` JSON form (RFC 3339 with trailing fractional zeros
/// trimmed) of a UTC time in ms.
pub fn go_time_json(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let (y, m, d) = watchfire_promql::civil::civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut frac = String::new();
    if millis != 0 {
        frac = format!(".{millis:03}");
        while frac.ends_with('0') {
            frac.pop();
        }
    }
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// The JSON form of Go's zero time.
pub const GO_ZERO_TIME_JSON: &str = "0001-01-01T00:00:00Z";

fn ser_time<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&go_time_json(*ms))
}

fn ser_opt_time<S: serde::Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&go_time_json(*ms)),
        None => s.serialize_str(GO_ZERO_TIME_JSON),
    }
}

/// The alerts an integration sends: all of them, or only the firing ones
/// when `send_resolved` is off (Alertmanager's `RetryStage`). Empty means
/// "send nothing".
pub fn select_alerts(n: &Notification, send_resolved: bool) -> Vec<Alert> {
    n.alerts
        .iter()
        .filter(|a| send_resolved || !a.resolved_at(n.now))
        .cloned()
        .collect()
}

/// Alertmanager's `truncateAlerts`: keep the first `max` (0 = no limit)
/// and report how many were dropped.
pub fn truncate_alerts(mut alerts: Vec<Alert>, max: usize) -> (Vec<Alert>, usize) {
    if max > 0 && alerts.len() > max {
        let dropped = alerts.len() - max;
        alerts.truncate(max);
        (alerts, dropped)
    } else {
        (alerts, 0)
    }
}

/// A `serde_json` formatter that escapes like Go's `encoding/json` with
/// its default HTML escaping: `<`, `>`, `&`, U+2028 and U+2029 become
/// `\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut last = 0;
        for (i, c) in fragment.char_indices() {
            let esc = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[last..i])?;
            writer.write_all(esc.as_bytes())?;
            last = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[last..])
    }
}

/// Serialises like Go's `json.NewEncoder(w).Encode(v)`, Alertmanager's
/// request bodies: HTML-escaped strings and a trailing newline.
pub fn to_go_json<T: Serialize>(v: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    v.serialize(&mut ser)?;
    out.push(b'\n');
    Ok(out)
}
