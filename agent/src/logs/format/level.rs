//! The level and service a record reports, for
//! `log_messages_total{level,service}`. Levels map onto a fixed set so the
//! label stays bounded. **Pure**.

/// The levels counted; anything else is `unknown`.
pub const LEVELS: [&str; 7] = [
    "trace", "debug", "info", "warn", "error", "fatal", "unknown",
];

/// Normalises a level word (`ERR`, `Warning`, `crit`, …) into [`LEVELS`].
pub fn normalize(word: &str) -> &'static str {
    match word.to_ascii_lowercase().as_str() {
        "trace" | "trc" => "trace",
        "debug" | "dbg" => "debug",
        "info" | "inf" | "information" | "notice" => "info",
        "warn" | "warning" | "wrn" => "warn",
        "error" | "err" | "eror" => "error",
        "fatal" | "crit" | "critical" | "panic" | "emerg" | "alert" => "fatal",
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
