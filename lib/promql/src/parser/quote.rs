//! Go's quoting (`%q`, `%#U`), used to word error messages and print
//! strings exactly as Prometheus does.

/// Go's `%q` for a rune.
pub(crate) fn quote_rune(c: char) -> String {
    let mut s = String::from("'");
    match c {
        '\'' => s.push_str("\\'"),
        '"' => s.push('"'),
        _ => push_escaped(&mut s, c),
    }
    s.push('\'');
    s
}

/// Go's `%q` (`strconv.Quote`) for a string.
pub(crate) fn quote_str(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\'' => s.push('\''),
            _ => push_escaped(&mut s, c),
        }
    }
    s.push('"');
    s
}

fn push_escaped(s: &mut String, c: char) {
    match c {
        '\\' => s.push_str("\\\\"),
        '\x07' => s.push_str("\\a"),
        '\x08' => s.push_str("\\b"),
        '\x0c' => s.push_str("\\f"),
        '\n' => s.push_str("\\n"),
        '\r' => s.push_str("\\r"),
        '\t' => s.push_str("\\t"),
        '\x0b' => s.push_str("\\v"),
        ' ' => s.push(' '),
        // Stands for invalid UTF-8 (which Go prints as `\x..`); the lexer
        // rejects it as a literal.
        '\u{FFFD}' => s.push_str("\\ufffd"),
        c if (c as u32) < 0x80 && (c.is_ascii_control()) => {
            s.push_str(&format!("\\x{:02x}", c as u32))
        }
        c if c.is_control() || c.is_whitespace() || is_format_char(c) => {
            if (c as u32) < 0x10000 {
                s.push_str(&format!("\\u{:04x}", c as u32))
            } else {
                s.push_str(&format!("\\U{:08x}", c as u32))
            }
        }
        c => s.push(c),
    }
}

fn is_format_char(c: char) -> bool {
    matches!(c as u32, 0xad | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x2064 | 0xfeff)
}

pub(crate) fn quote_opt(c: Option<char>) -> String {
    match c {
        Some(c) => quote_rune(c),
        // Go's %q of the eof rune (-1).
        None => "'\u{FFFD}'".to_string(),
    }
}

/// Go's `%#U`: `U+0041 'A'`.
pub(crate) fn go_unicode_fmt(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{}'", c as u32, c)
    }
}
