//! One place that turns a `serde-saphyr` error into what every Watchfire
//! config error prints: `file:line:col: message`.
//!
//! The library's `Display` starts with its own `line N column M:` prefix
//! and may carry a source excerpt on further lines; [`locate`] keeps the
//! position as numbers and the first line of the message without that
//! prefix, so each config crate can build its own positioned error.

#![forbid(unsafe_code)]

/// A YAML error's position (1-based when the library knows it, `1:1`
/// otherwise) and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlErrorAt {
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

/// The position and message of a serde-saphyr error.
pub fn locate(e: &serde_saphyr::Error) -> YamlErrorAt {
    let (line, col) = e
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .unwrap_or((1, 1));
    let full = e.to_string();
    let first = full.lines().next().unwrap_or("invalid YAML");
    let msg = first
        .trim_start_matches("error: ")
        .split_once(": ")
        .filter(|(pre, _)| pre.starts_with("line "))
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_else(|| first.to_string());
    YamlErrorAt { line, col, msg }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct T {
        a: u32,
    }

    fn check(yaml: &str, expect: (usize, usize, &str)) {
        let e = serde_saphyr::from_str::<T>(yaml).expect_err(yaml);
        let at = locate(&e);
        assert_eq!((at.line, at.col), (expect.0, expect.1), "{yaml}: {at:?}");
        assert!(at.msg.contains(expect.2), "{yaml}: {at:?}");
        assert!(!at.msg.starts_with("line "), "{yaml}: {at:?}");
    }

    #[test]
    fn positions_and_messages() {
        check("a: x\n", (1, 4, "a"));
        check("b: 1\n", (1, 1, "missing field `a`"));
    }
}
