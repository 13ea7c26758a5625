//! Byte-level scanning helpers shared by both formats: name character
//! classes, quoted strings, escapes and number parsing. All functions are
//! total: they return `None`/`Err` on malformed input and never panic.

use std::borrow::Cow;

/// `[a-zA-Z_:]`
#[inline]
pub(crate) fn is_metric_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

/// `[a-zA-Z0-9_:]`
#[inline]
pub(crate) fn is_metric_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// `[a-zA-Z_]`
#[inline]
pub(crate) fn is_label_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

/// `[a-zA-Z0-9_]`
#[inline]
pub(crate) fn is_label_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// End (exclusive) of the run of bytes from `i` satisfying `f`.
#[inline]
pub(crate) fn scan_while(b: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && f(b[i]) {
        i += 1;
    }
    i
}

/// Skips spaces and tabs.
#[inline]
pub(crate) fn skip_ws(b: &[u8], i: usize) -> usize {
    scan_while(b, i, |c| c == b' ' || c == b'\t')
}

/// Scans a quoted string starting at `b[i] == b'"'`. Returns the index just
/// past the closing quote and whether a backslash escape occurred, or `None`
/// when the string is not terminated on this line.
#[inline]
pub(crate) fn scan_quoted(b: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut j = i + 1;
    let mut escaped = false;
    // Label values are mostly short: a plain loop beats memchr's setup.
    let short_end = b.len().min(j + 32);
    while j < short_end {
        match b[j] {
            b'"' => return Some((j + 1, escaped)),
            b'\\' => {
                escaped = true;
                j += 2;
            }
            _ => j += 1,
        }
    }
    loop {
        let k = memchr::memchr2(b'"', b'\\', b.get(j..)?)? + j;
        if b[k] == b'"' {
            return Some((k + 1, escaped));
        }
        escaped = true;
        if k + 1 >= b.len() {
            return None;
        }
        j = k + 2;
    }
}

/// Unescapes a label value or quoted name: `\\`, `\"` and `\n`; any other
/// backslash sequence is kept verbatim (as Prometheus and the Python
/// reference parser do).
pub(crate) fn unescape_label(s: &str) -> Cow<'_, str> {
    unescape(s, true)
}

/// Unescapes HELP text. Prometheus text format knows only `\\` and `\n`;
/// OpenMetrics also `\"`.
pub(crate) fn unescape_help(s: &str, quote: bool) -> Cow<'_, str> {
    unescape(s, quote)
}

fn unescape(s: &str, quote: bool) -> Cow<'_, str> {
    if !s.as_bytes().contains(&b'\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// The canonical NaN Prometheus stores for a scraped NaN (distinct from the
/// stale marker).
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// Parses a sample value like Prometheus' `parseFloat` (Go
/// `strconv.ParseFloat` without hex floats and underscores); NaN is
/// normalised to [`NORMAL_NAN_BITS`].
pub(crate) fn parse_value(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    // Fast path: plain (possibly negative) integers of up to 15 digits are exact.
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if !digits.is_empty() && digits.len() <= 15 && digits.iter().all(u8::is_ascii_digit) {
        let mut v: u64 = 0;
        for &d in digits {
            v = v * 10 + u64::from(d - b'0');
        }
        // Exact: v < 10^15 < 2^53.
        let f = v as f64;
        return Some(if neg { -f } else { f });
    }
    if b.iter()
        .any(|&c| matches!(c, b'p' | b'P' | b'_' | b'x' | b'X'))
    {
        return None;
    }
    // Go accepts a sign only before Inf/Infinity, not before NaN.
    if matches!(b[0], b'+' | b'-') && b[1..].eq_ignore_ascii_case(b"nan") {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    Some(if f.is_nan() {
        f64::from_bits(NORMAL_NAN_BITS)
    } else {
        f
    })
}

/// Parses an OpenMetrics timestamp (float seconds, finite).
pub(crate) fn parse_om_timestamp(s: &str) -> Option<f64> {
    let f = parse_value(s)?;
    f.is_finite().then_some(f)
}

/// Seconds (float) to milliseconds, truncating like Prometheus'
/// `int64(ts * 1000)` (saturating instead of wrapping).
#[inline]
pub(crate) fn seconds_to_ms(s: f64) -> i64 {
    (s * 1000.0) as i64
}

/// Parses a Prometheus text timestamp: `[0-9]+` as a base-10 i64.
pub(crate) fn parse_prom_timestamp(s: &str) -> Option<i64> {
    s.parse().ok()
}
