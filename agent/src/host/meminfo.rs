//! `meminfo`: every field of `/proc/meminfo` as `node_memory_<Field>`.
//!
//! node_exporter's naming: `Active(anon)` becomes `Active_anon`; fields
//! with a `kB` unit are multiplied by 1024 and get a `_bytes` suffix;
//! unit-less fields (`HugePages_Total`) keep their name. A name ending in
//! `_total` is a counter, everything else a gauge. All fields the kernel
//! prints are exposed (node_exporter 1.0–1.8 behaviour; 1.9 switched to a
//! fixed list, a subset of this).

use std::path::Path;

use super::{read_parse, Emitter, HostError, MetricType, ParseError};

/// Parses `/proc/meminfo` into `(metric suffix, value)` pairs, in file
/// order. The suffix is what follows `node_memory_`.
pub fn parse_meminfo(text: &str) -> Result<Vec<(String, f64)>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        let (Some(key), Some(raw)) = (parts[0].strip_suffix(':'), parts.get(1)) else {
            return Err(ParseError::new(i + 1, format!("invalid line {line:?}")));
        };
        let mut v: f64 = raw
            .parse()
            .map_err(|_| ParseError::new(i + 1, format!("invalid value {raw:?}")))?;
        let mut name = rename(key);
        match parts.len() {
            2 => {}
            3 => {
                v *= 1024.0;
                name.push_str("_bytes");
            }
            _ => return Err(ParseError::new(i + 1, format!("invalid line {line:?}"))),
        }
        out.push((name, v));
    }
    Ok(out)
}

/// `Active(anon)` → `Active_anon`; anything not valid in a metric name
/// becomes `_`.
fn rename(key: &str) -> String {
    let key = match (key.find('('), key.rfind(')')) {
        (Some(open), Some(close)) if open < close => {
            format!(
                "{}_{}{}",
                &key[..open],
                &key[open + 1..close],
                &key[close + 1..]
            )
        }
        _ => key.to_string(),
    };
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Emits the parsed fields.
pub fn emit(fields: &[(String, f64)], em: &mut Emitter) {
    for (key, v) in fields {
        let kind = if key.ends_with("_total") {
            MetricType::Counter
        } else {
            MetricType::Gauge
        };
        let name = format!("node_memory_{key}");
        let help = format!("Memory information field {key}.");
        em.add(&name, &help, kind, &[], *v);
    }
}

pub(super) fn collect(proc: &Path, em: &mut Emitter) -> Result<(), HostError> {
    let fields = read_parse(&proc.join("meminfo"), parse_meminfo)?;
    emit(&fields, em);
    Ok(())
}
