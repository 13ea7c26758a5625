//! One tailed record to one redacted JSON line:
//!
//! ```json
//! {"timestamp":"…","file":"/var/log/pods/…/0.log","stream":"stdout",
//!  "kubernetes":{"namespace":"…","pod":"…","uid":"…","container":"…"},
//!  "level":"info","message":"text" | {…},"truncated":true}
//! ```
//!
//! The message (text, or the JSON object of a JSON record) is what the
//! application wrote and goes through the redactor; a record the redactor
//! refuses is dropped (fail closed) and counted as
//! `watchfire_agent_log_lines_dropped_total{reason="redaction"}`. The other
//! fields come from the runtime and the file path. The record's level and
//! service are counted in `log_messages_total`.
//!
//! This is the per-line hot path, so it works on text: the redactor says
//! whether the record was JSON (no second parse to find out), a JSON
//! message is embedded as the redactor wrote it (valid JSON, the
//! application's key order and number spelling kept), the level and
//! service come from the top-level fields the redactor reports from its
//! own pass ([`LevelFields`]), they are counted per batch
//! ([`MessageTally`]), and the output line is written directly.

use watchfire_redact::{Redactor, Stats};

use crate::logs::format;
use crate::logs::format::level::{self, LevelFields};
use crate::logs::metrics::{LogMetrics, MessageTally};
use crate::logs::tail::Tailed;

/// Per-task buffers of [`record`], reused from record to record.
#[derive(Debug, Default)]
pub struct Scratch {
    fields: LevelFields,
    /// The last record's file and its path as a JSON string (most records
    /// of a batch come from the same file).
    path: Option<(std::sync::Arc<std::path::Path>, String)>,
    /// The processing time of this batch as a JSON string, for records
    /// without a runtime timestamp (read once per batch).
    now: Option<String>,
    /// Level and service counts not yet added to the metrics
    /// ([`LogMetrics::add_messages`], once per batch).
    pub tally: MessageTally,
}

impl Scratch {
    /// Starts a batch: records without a runtime timestamp get the time
    /// the batch is processed.
    pub fn new_batch(&mut self) {
        self.now = None;
    }
}

/// The JSON line for `r`, or `None` when it is dropped (undecodable, or
/// not redactable). Drops are counted in `metrics`, redactions in `stats`,
/// level and service in `scratch.tally`.
pub fn record(
    r: &Tailed,
    redactor: &Redactor,
    stats: &mut Stats,
    metrics: &LogMetrics,
    scratch: &mut Scratch,
) -> Option<String> {
    let entry = match &r.entry {
        Ok(e) => e,
        Err(_) => {
            metrics.dropped("parse");
            return None;
        }
    };
    let fields = &mut scratch.fields;
    fields.reset();
    let msg = &entry.message;
    let res = if entry.unchecked {
        // Validated here, in the redactor's pass. Whatever it does not
        // take as an object is judged as the decoder would have: not an
        // object is a parse error (before any redaction error), an object
        // it could not scan (e.g. Unicode whitespace before it) takes the
        // general path.
        match redactor.redact_json_object(msg, stats, fields) {
            Ok(Some(red)) => Ok(red),
            Ok(None) | Err(_) if !format::is_json_object(msg) => {
                metrics.dropped("parse");
                return None;
            }
            Ok(None) => redactor.redact_record_fields(msg, stats, fields),
            Err(e) => Err(e),
        }
    } else {
        redactor.redact_record_fields(msg, stats, fields)
    };
    let redacted = match res {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(path = %r.path.display(), error = %e, "log record dropped: cannot redact");
            metrics.dropped("redaction");
            return None;
        }
    };
    let text: &str = &redacted.text;
    // A JSON object stays structured. (The redactor keeps JSON valid; if a
    // record were ever not, it would still go out as redacted text.)
    let structured = entry.json && redacted.json && text.trim_start().starts_with('{');
    let (lvl, service) = if structured {
        (fields.level(), fields.service())
    } else {
        (level::from_text(text), None)
    };
    let service = service.or_else(|| r.k8s.as_ref().map(|k| k.container.as_str()));
    scratch.tally.add(lvl, service);

    let path = match &mut scratch.path {
        Some((p, json)) if std::sync::Arc::ptr_eq(p, &r.path) => json,
        slot => {
            let mut json = String::new();
            push_json_string(&mut json, &r.path.to_string_lossy());
            &slot.insert((r.path.clone(), json)).1
        }
    };
    let mut out = String::with_capacity(text.len() + path.len() + 96);
    out.push_str("{\"timestamp\":");
    match &entry.time {
        Some(t) => push_json_string(&mut out, t),
        None => out.push_str(scratch.now.get_or_insert_with(|| {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let mut json = String::new();
            push_json_string(
                &mut json,
                &watchfire_promql::civil::format_rfc3339_millis(ms),
            );
            json
        })),
    }
    out.push_str(",\"file\":");
    out.push_str(path);
    if let Some(s) = &entry.stream {
        out.push_str(",\"stream\":");
        push_json_string(&mut out, s);
    }
    if let Some(k) = &r.k8s {
        out.push_str(",\"kubernetes\":{\"namespace\":");
        push_json_string(&mut out, &k.namespace);
        out.push_str(",\"pod\":");
        push_json_string(&mut out, &k.pod);
        out.push_str(",\"uid\":");
        push_json_string(&mut out, &k.uid);
        out.push_str(",\"container\":");
        push_json_string(&mut out, &k.container);
        out.push('}');
    }
    out.push_str(",\"level\":");
    push_json_string(&mut out, lvl);
    out.push_str(",\"message\":");
    if structured {
        out.push_str(text.trim());
    } else {
        push_json_string(&mut out, text);
    }
    if entry.truncated {
        out.push_str(",\"truncated\":true");
    }
    out.push('}');
    Some(out)
}

/// Appends `s` as a JSON string (RFC 8259 escapes; the same output as
/// `serde_json`).
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(c >> 4)]));
            out.push(char::from(HEX[usize::from(c & 0xf)]));
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::push_json_string;

    fn check(input: &str, expect: &str) {
        let mut out = String::new();
        push_json_string(&mut out, input);
        assert_eq!(out, expect, "input {input:?}");
        assert_eq!(out, serde_json::to_string(input).unwrap(), "as serde_json");
    }

    #[test]
    fn json_strings() {
        for (input, expect) in [
            ("", r#""""#),
            ("plain", r#""plain""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("l1\nl2\r\t", r#""l1\nl2\r\t""#),
            ("\u{1}\u{8}\u{c}\u{1f}", r#""\u0001\b\f\u001f""#),
            ("é ✓ \u{7f}", "\"é ✓ \u{7f}\""),
        ] {
            check(input, expect);
        }
    }
}
