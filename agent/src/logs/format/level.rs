//! The level and service a record reports, for
//! `log_messages_total{level,service}`. Levels map onto a fixed set so the
//! label stays bounded. **Pure**.

/// The levels counted; anything else is `unknown`.
pub const LEVELS: [&str; 7] = [
    "trace", "debug", "info", "warn", "error", "fatal", "unknown",
];

/// Normalises a level word (`ERR`, `Warning`, `crit`, …) into [`LEVELS`].
pub fn normalize(word: &str) -> &'static str {
    // Lower-cased on the stack: this runs once per record.
    let mut buf = [0u8; 12];
    let b = word.as_bytes();
    let Some(lower) = buf.get_mut(..b.len()) else {
        return "unknown";
    };
    for (d, s) in lower.iter_mut().zip(b) {
        *d = s.to_ascii_lowercase();
    }
    match &*lower {
        b"trace" | b"trc" => "trace",
        b"debug" | b"dbg" => "debug",
        b"info" | b"inf" | b"information" | b"notice" => "info",
        b"warn" | b"warning" | b"wrn" => "warn",
        b"error" | b"err" | b"eror" => "error",
        b"fatal" | b"crit" | b"critical" | b"panic" | b"emerg" | b"alert" => "fatal",
        _ => "unknown",
    }
}

const LEVEL_KEYS: [&str; 4] = ["level", "severity", "lvl", "loglevel"];
const SERVICE_KEYS: [&str; 3] = ["service", "app", "service.name"];

/// Level and service of a JSON object record (`None` service when it has
/// none).
pub fn from_json(
    obj: &serde_json::Map<String, serde_json::Value>,
) -> (&'static str, Option<String>) {
    let field = |keys: &[&str]| {
        keys.iter().find_map(|k| {
            obj.iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(k))
                .and_then(|(_, v)| v.as_str())
        })
    };
    let level = field(&LEVEL_KEYS).map_or("unknown", normalize);
    let service = field(&SERVICE_KEYS).map(str::to_string);
    (level, service)
}

/// The level and service of a JSON record, collected from the top-level
/// string fields the redactor reports
/// ([`watchfire_redact::Redactor::redact_record_fields`]), so no second
/// pass over the record is needed. Same choice as [`from_json`]: per key
/// name the first string value, names in [`LEVEL_KEYS`] /
/// [`SERVICE_KEYS`] order. Reusable: [`LevelFields::reset`] keeps the
/// buffers.
#[derive(Debug, Default)]
pub struct LevelFields {
    level: [Option<&'static str>; LEVEL_KEYS.len()],
    service: [bool; SERVICE_KEYS.len()],
    services: [String; SERVICE_KEYS.len()],
}

impl LevelFields {
    /// Forgets the last record's fields.
    pub fn reset(&mut self) {
        self.level = [None; LEVEL_KEYS.len()];
        self.service = [false; SERVICE_KEYS.len()];
    }

    /// The normalised level (`unknown` when none was reported).
    pub fn level(&self) -> &'static str {
        self.level.iter().find_map(|l| *l).unwrap_or("unknown")
    }

    /// The service, when one was reported.
    pub fn service(&self) -> Option<&str> {
        self.service
            .iter()
            .position(|s| *s)
            .map(|i| self.services[i].as_str())
    }
}

impl watchfire_redact::Fields for LevelFields {
    fn field(&mut self, key: &str, value: &str) {
        if let Some(i) = LEVEL_KEYS.iter().position(|k| key.eq_ignore_ascii_case(k)) {
            if self.level[i].is_none() {
                self.level[i] = Some(normalize(value));
            }
        } else if let Some(i) = SERVICE_KEYS
            .iter()
            .position(|k| key.eq_ignore_ascii_case(k))
        {
            if !self.service[i] {
                self.services[i].clear();
                self.services[i].push_str(value);
                self.service[i] = true;
            }
        }
    }
}

/// Level of a free-text record: `level=error`, or an upper-case level word
/// (`[WARN]`, `ERROR:`) among the first words. Lower-case words are not
/// taken (`sending alert to …` is not fatal).
pub fn from_text(msg: &str) -> &'static str {
    for word in msg
        .split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | ':' | '|' | '"' | ','))
        .filter(|w| !w.is_empty())
        .take(8)
    {
        let prefixed = ["level=", "lvl=", "severity="]
            .iter()
            .find_map(|p| word.strip_prefix(p));
        let candidate = match prefixed {
            Some(v) => v,
            None if word.bytes().all(|b| b.is_ascii_uppercase()) => word,
            None => continue,
        };
        let l = normalize(candidate);
        if l != "unknown" {
            return l;
        }
    }
    "unknown"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `from_json` gives `expect` on the object `text`, and [`LevelFields`]
    /// fed its top-level string fields (as the redactor reports them)
    /// agrees.
    fn check(text: &str, expect: (&str, Option<&str>)) {
        let obj: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).expect("a JSON object");
        let got = from_json(&obj);
        assert_eq!((got.0, got.1.as_deref()), expect, "{text}");
        let mut fields = LevelFields::default();
        for (k, v) in &obj {
            if let Some(v) = v.as_str() {
                watchfire_redact::Fields::field(&mut fields, k, v);
            }
        }
        assert_eq!(
            (fields.level(), fields.service()),
            expect,
            "fields of {text}"
        );
    }

    #[test]
    fn json_level_and_service() {
        for (text, expect) in [
            (
                r#"{"level":"ERROR","service":"api"}"#,
                ("error", Some("api")),
            ),
            (
                r#"{"Severity":"Warning","app":"cart"}"#,
                ("warn", Some("cart")),
            ),
            // Key order of LEVEL_KEYS wins over document order.
            (r#"{"lvl":"debug","level":"info"}"#, ("info", None)),
            // Non-string values are skipped, the next key name is used.
            (r#"{"level":3,"severity":"crit"}"#, ("fatal", None)),
            (
                r#"{"msg":{"level":"error","service":"x"},"level":"trace"}"#,
                ("trace", None),
            ),
            (
                r#"{"service.name":"a\"b","lvl":"wrn","x":[1,{"y":null}]}"#,
                ("warn", Some("a\"b")),
            ),
            (r#"{"le\u0076el":"info"}"#, ("info", None)),
            (r#"{}"#, ("unknown", None)),
        ] {
            check(text, expect);
        }
    }
}
