//! One tailed record to one redacted JSON line:
//!
//! ```json
//! {"timestamp":"…","file":"/var/log/pods/…/0.log","stream":"stdout",
//!  "kubernetes":{"namespace":"…","pod":"…","uid":"…","container":"…"},
//!  "message":"text" | {…}, "truncated":true}
//! ```
//!
//! The message (text, or the JSON object of a JSON record) is what the
//! application wrote and goes through the redactor; a record the redactor
//! refuses is dropped (fail closed) and counted as
//! `watchfire_agent_log_lines_dropped_total{reason="redaction"}`. The other
//! fields come from the runtime and the file path. The record's level and
//! service are counted in `log_messages_total`.

use serde_json::{Map, Value};
use watchfire_redact::{Redactor, Stats};

use crate::logs::format::level;
use crate::logs::metrics::LogMetrics;
use crate::logs::tail::Tailed;

/// The JSON line for `r`, or `None` when it is dropped (undecodable, or
/// not redactable). Drops are counted in `metrics`, redactions in `stats`.
pub fn record(
    r: &Tailed,
    redactor: &Redactor,
    stats: &mut Stats,
    metrics: &LogMetrics,
) -> Option<String> {
    let entry = match &r.entry {
        Ok(e) => e,
        Err(_) => {
            metrics.dropped("parse");
            return None;
        }
    };
    let redacted = match redactor.redact_line(&entry.message, stats) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(path = %r.path.display(), error = %e, "log record dropped: cannot redact");
            metrics.dropped("redaction");
            return None;
        }
    };
    let structured = if entry.json {
        match serde_json::from_str::<Value>(&redacted) {
            Ok(Value::Object(o)) => Some(o),
            // The redactor keeps JSON valid; if it ever did not, the text
            // below is still redacted.
            _ => None,
        }
    } else {
        None
    };
    let (lvl, service) = match &structured {
        Some(o) => level::from_json(o),
        None => (level::from_text(&redacted), None),
    };
    let service = service.or_else(|| r.k8s.as_ref().map(|k| k.container.clone()));
    metrics.message(lvl, service.as_deref());

    let mut out = Map::new();
    let ts = entry.time.clone().unwrap_or_else(|| {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        watchfire_promql::civil::format_rfc3339_millis(ms)
    });
    out.insert("timestamp".into(), Value::String(ts));
    out.insert("file".into(), Value::String(r.path.display().to_string()));
    if let Some(s) = &entry.stream {
        out.insert("stream".into(), Value::String(s.clone()));
    }
    if let Some(k) = &r.k8s {
        let mut m = Map::new();
        m.insert("namespace".into(), Value::String(k.namespace.clone()));
        m.insert("pod".into(), Value::String(k.pod.clone()));
        m.insert("uid".into(), Value::String(k.uid.clone()));
        m.insert("container".into(), Value::String(k.container.clone()));
        out.insert("kubernetes".into(), Value::Object(m));
    }
    out.insert("level".into(), Value::String(lvl.to_string()));
    out.insert(
        "message".into(),
        match structured {
            Some(o) => Value::Object(o),
            None => Value::String(redacted),
        },
    );
    if entry.truncated {
        out.insert("truncated".into(), Value::Bool(true));
    }
    Some(Value::Object(out).to_string())
}
