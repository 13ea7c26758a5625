//! Literal decoding: numbers (Go `ParseInt(s, 0, 64)` then `ParseFloat`
//! semantics), duration helpers (the parsing itself is
//! [`crate::duration`]) and quoted strings (Prometheus `strutil.Unquote`).

use super::lexer::quote_str;

/// Why a number token is not a number: Go's `*strconv.NumError` text,
/// `strconv.ParseFloat: parsing "1e999": value out of range`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("strconv.ParseFloat: parsing {}: {kind}", quote_str(.input))]
pub(crate) struct NumberError {
    /// The token text.
    input: String,
    /// What is wrong with it.
    kind: NumberErrorKind,
}

/// Go's `strconv.ErrSyntax` and `strconv.ErrRange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NumberErrorKind {
    /// Not a number.
    #[error("invalid syntax")]
    Syntax,
    /// A finite number too large for a float64.
    #[error("value out of range")]
    Range,
}

/// Decodes a number token the way Prometheus does: as an integer with Go
/// base-0 rules (`0x` hex, leading-`0` octal, `_` separators) when that
/// works, else as a float (`Inf`, `NaN`, exponents).
pub(crate) fn parse_number(s: &str) -> Result<f64, NumberError> {
    let clean: String = s.chars().filter(|c| *c != '_').collect();
    if let Some(v) = parse_go_int(&clean) {
        return Ok(v as f64);
    }
    let fail = |kind| NumberError {
        input: s.to_string(),
        kind,
    };
    let lower = clean.to_ascii_lowercase();
    if !lower.starts_with("0x") {
        if let Ok(v) = clean.parse::<f64>() {
            if v.is_infinite() && !lower.contains("inf") {
                return Err(fail(NumberErrorKind::Range));
            }
            return Ok(v);
        }
    }
    Err(fail(NumberErrorKind::Syntax))
}

fn parse_go_int(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() > 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') {
        return i64::from_str_radix(&s[2..], 16).ok();
    }
    if b.len() > 1 && b[0] == b'0' {
        return i64::from_str_radix(&s[1..], 8).ok();
    }
    if !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// Go's `time.Duration.Seconds()`.
pub(crate) fn duration_seconds(ns: i64) -> f64 {
    let sec = ns / 1_000_000_000;
    let nsec = ns % 1_000_000_000;
    sec as f64 + nsec as f64 / 1e9
}

/// The largest number of seconds a duration literal may have.
pub(crate) const MAX_DURATION_SECS: f64 = 9_223_372_036.854_775;

/// Seconds (as a PromQL number) to nanoseconds, rounded, as Prometheus
/// converts number literals used as durations.
pub(crate) fn seconds_to_ns(v: f64) -> i64 {
    // In range (checked by the caller against MAX_DURATION_SECS), so the
    // saturating `as` never saturates.
    (v * 1e9).round() as i64
}

/// Go's `strconv.ErrSyntax`: a quoted string that [`unquote`] rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid syntax")]
pub struct UnquoteError;

/// Decodes a quoted string token (`"..."`, `'...'` or `` `...` ``) with Go
/// escapes. Bytes that do not form valid UTF-8 (from `\x`/octal escapes)
/// become U+FFFD.
pub fn unquote(s: &str) -> Result<String, UnquoteError> {
    let bad = || UnquoteError;
    let mut chars = s.chars();
    let quote = chars.next().ok_or_else(bad)?;
    if s.len() < 2 || !s.ends_with(quote) || !matches!(quote, '"' | '\'' | '`') {
        return Err(bad());
    }
    let body = &s[1..s.len() - 1];
    if quote == '`' {
        if body.contains('`') {
            return Err(bad());
        }
        return Ok(body.to_string());
    }
    if !body.contains('\\') && !body.contains(quote) && !body.contains('\n') {
        return Ok(body.to_string());
    }
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut it = body.chars().peekable();
    while let Some(c) = it.next() {
        if c == quote || c == '\n' {
            return Err(bad());
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let e = it.next().ok_or_else(bad)?;
        let simple = match e {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let (n, radix, is_byte) = match e {
            '0'..='7' => (2, 8, true),
            'x' => (2, 16, true),
            'u' => (4, 16, false),
            'U' => (8, 16, false),
            _ => return Err(bad()),
        };
        let mut v: u32 = if radix == 8 {
            e.to_digit(8).ok_or_else(bad)?
        } else {
            0
        };
        for _ in 0..n {
            let d = it.next().and_then(|c| c.to_digit(radix)).ok_or_else(bad)?;
            v = v * radix + d;
        }
        if is_byte {
            out.push(u8::try_from(v).map_err(|_| bad())?);
        } else {
            let c = char::from_u32(v).ok_or_else(bad)?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let cases: &[(&str, f64)] = &[
            ("1", 1.0),
            ("0x1F", 31.0),
            ("0755", 493.0),
            ("08", 8.0),
            ("1e3", 1000.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1_000", 1000.0),
            ("Inf", f64::INFINITY),
            ("99999999999999999999", 1e20),
        ];
        for (s, want) in cases {
            assert_eq!(parse_number(s).unwrap(), *want, "{s}");
        }
        assert!(parse_number("nan").unwrap().is_nan());
        let message = |s: &str| parse_number(s).map_err(|e| e.to_string());
        assert_eq!(
            message("0xFFFFFFFFFFFFFFFFFFFF"),
            Err("strconv.ParseFloat: parsing \"0xFFFFFFFFFFFFFFFFFFFF\": invalid syntax".into())
        );
        assert_eq!(
            message("1e999"),
            Err("strconv.ParseFloat: parsing \"1e999\": value out of range".into())
        );
    }

    #[test]
    fn strings() {
        assert_eq!(unquote(r#""a\"b\n""#).unwrap(), "a\"b\n");
        assert_eq!(unquote(r"'a\'b'").unwrap(), "a'b");
        assert_eq!(unquote(r"`a\nb`").unwrap(), "a\\nb");
        assert_eq!(unquote(r#""\u00e9\x41\101""#).unwrap(), "éAA");
        assert_eq!(unquote(r#""\xff""#).unwrap(), "\u{FFFD}");
        assert_eq!(unquote(r#""\q""#), Err(UnquoteError));
        assert_eq!(UnquoteError.to_string(), "invalid syntax");
    }
}
