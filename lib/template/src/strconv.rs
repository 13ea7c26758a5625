//! Ports of the pieces of Go's `strconv` the template engine needs: literal
//! unquoting (`Unquote`), integer parsing with base prefixes and
//! underscores (`ParseInt(s, 0, 64)`), and `ParseFloat` with Go's error text.

/// Go's `strconv.Unquote` for `"..."`, `` `...` `` and `'...'` literals.
/// Returns `None` for Go's "invalid syntax".
pub(crate) fn unquote(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 2 {
        return None;
    }
    let q = b[0];
    if q != b[b.len() - 1] {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    match q {
        b'`' => {
            if inner.contains('`') {
                return None;
            }
            Some(inner.replace('\r', ""))
        }
        b'"' | b'\'' => {
            if inner.contains('\n') {
                return None;
            }
            let mut out: Vec<u8> = Vec::with_capacity(inner.len());
            let mut rest = inner;
            let mut count = 0;
            while !rest.is_empty() {
                let (bytes, tail) = unquote_char(rest, q)?;
                out.extend_from_slice(&bytes);
                rest = tail;
                count += 1;
            }
            if q == b'\'' && count != 1 {
                return None;
            }
            Some(String::from_utf8_lossy(&out).into_owned())
        }
        _ => None,
    }
}

/// Decodes one (possibly escaped) character; returns its bytes and the rest.
fn unquote_char(s: &str, quote: u8) -> Option<(Vec<u8>, &str)> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if c as u32 == quote as u32 && (quote == b'\'' || quote == b'"') {
        return None;
    }
    if c != '\\' {
        let mut buf = [0u8; 4];
        return Some((c.encode_utf8(&mut buf).as_bytes().to_vec(), chars.as_str()));
    }
    let e = chars.next()?;
    let rest = chars.as_str();
    let simple = |b: u8| Some((vec![b], rest));
    match e {
        'a' => simple(7),
        'b' => simple(8),
        'f' => simple(12),
        'n' => simple(b'\n'),
        'r' => simple(b'\r'),
        't' => simple(b'\t'),
        'v' => simple(11),
        '\\' => simple(b'\\'),
        '\'' | '"' => {
            if e as u32 != quote as u32 {
                return None;
            }
            simple(e as u8)
        }
        'x' | 'u' | 'U' => {
            let n = match e {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let digits = rest.get(..n)?;
            let v = u32::from_str_radix(digits, 16).ok()?;
            if !digits.bytes().all(|d| d.is_ascii_hexdigit()) {
                return None;
            }
            let tail = &rest[n..];
            if e == 'x' {
                return Some((vec![v as u8], tail));
            }
            let ch = char::from_u32(v)?;
            let mut buf = [0u8; 4];
            Some((ch.encode_utf8(&mut buf).as_bytes().to_vec(), tail))
        }
        '0'..='7' => {
            let digits = s.get(1..4)?;
            if !digits.bytes().all(|d| (b'0'..=b'7').contains(&d)) {
                return None;
            }
            let v = u32::from_str_radix(digits, 8).ok()?;
            if v > 255 {
                return None;
            }
            Some((vec![v as u8], &s[4..]))
        }
        _ => None,
    }
}

/// Go's `underscoreOK`: underscores only between digits (or after a prefix).
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    if !b.is_empty() && (b[0] == b'-' || b[0] == b'+') {
        i = 1;
    }
    let mut hex = false;
    if b.len() - i >= 2 && b[i] == b'0' && matches!(b[i + 1] | 0x20, b'b' | b'o' | b'x') {
        hex = b[i + 1] | 0x20 == b'x';
        i += 2;
        saw = b'0';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseInt(s, 0, 64)`-like parsing into i128 (so callers can check
/// both int64 and uint64 ranges). `None` on syntax error.
pub(crate) fn parse_int_base0(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    if body.contains('_') && !underscore_ok(s) {
        return None;
    }
    let body = body.replace('_', "");
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(&digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// Why Go's `strconv.ParseFloat` rejected a string (Go's `*strconv.NumError`):
/// `strconv.ParseFloat: parsing "x": invalid syntax`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("strconv.ParseFloat: parsing {}: {kind}", crate::gofmt::quote(.input))]
pub(crate) struct ParseFloatError {
    /// The string as given.
    input: String,
    /// What is wrong with it.
    kind: NumErrorKind,
}

/// Go's `strconv.ErrSyntax` and `strconv.ErrRange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NumErrorKind {
    /// Not a number.
    #[error("invalid syntax")]
    Syntax,
    /// A finite number too large for a float64.
    #[error("value out of range")]
    Range,
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal syntax (plus Inf/NaN words).
pub(crate) fn parse_float(s: &str) -> Result<f64, ParseFloatError> {
    let fail = |kind| ParseFloatError {
        input: s.to_string(),
        kind,
    };
    let bad = || fail(NumErrorKind::Syntax);
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    let special = matches!(lower.as_str(), "inf" | "infinity" | "nan");
    if !special {
        let ok_chars = body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'));
        if !ok_chars || body.is_empty() {
            return Err(bad());
        }
        if body.contains('_') && !underscore_ok(s) {
            return Err(bad());
        }
    }
    let cleaned = s.replace('_', "");
    let v: f64 = cleaned.parse().map_err(|_| bad())?;
    if v.is_infinite() && !special {
        return Err(fail(NumErrorKind::Range));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#""a\tb""#, Some("a\tb")),
            (r#""\u00e9\x41\101""#, Some("éAA")),
            ("`a\\n`", Some("a\\n")),
            (r#"'x'"#, Some("x")),
            (r#"'xy'"#, None),
            (r#""\q""#, None),
            (r#""a"#, None),
            (r#""\'""#, None),
        ];
        for (input, want) in cases {
            assert_eq!(unquote(input).as_deref(), *want, "{input}");
        }
    }

    #[test]
    fn ints() {
        let cases: &[(&str, Option<i128>)] = &[
            ("10", Some(10)),
            ("-0x1F", Some(-31)),
            ("017", Some(15)),
            ("0b101", Some(5)),
            ("1_000", Some(1000)),
            ("1__0", None),
            ("1.5", None),
            ("08", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_int_base0(input), *want, "{input}");
        }
    }

    #[test]
    fn floats() {
        assert_eq!(parse_float("1.5"), Ok(1.5));
        assert_eq!(parse_float(".12"), Ok(0.12));
        assert_eq!(parse_float("+Inf"), Ok(f64::INFINITY));
        assert!(parse_float("NaN").is_ok_and(f64::is_nan));
        let message = |s: &str| parse_float(s).map_err(|e| e.to_string());
        assert_eq!(
            message("one"),
            Err("strconv.ParseFloat: parsing \"one\": invalid syntax".to_string())
        );
        assert_eq!(
            message("1e999"),
            Err("strconv.ParseFloat: parsing \"1e999\": value out of range".to_string())
        );
        assert!(parse_float("").is_err());
    }
}
