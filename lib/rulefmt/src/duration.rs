//! Prometheus durations (`model.ParseDuration` from `prometheus/common`).
//!
//! Grammar: `0`, or one or more of `<n>y <n>w <n>d <n>h <n>m <n>s <n>ms` in
//! that order, each unit at most once, integers only (`1h30m`, `5m`, `100ms`).
//! `5` (no unit), `1.5m`, `-1m` and the empty string are rejected. Years are
//! 365 days, weeks 7 days. The value must fit in Go's `time.Duration`
//! (int64 nanoseconds).

/// Why a duration string was rejected (texts match Prometheus).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// `""`
    #[error("empty duration string")]
    Empty,
    /// Does not match the grammar.
    #[error("not a valid duration string: {0:?}")]
    Invalid(String),
    /// Larger than Go's `time.Duration` can hold.
    #[error("duration out of range")]
    OutOfRange,
}

const UNITS: [(&str, i128); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a Prometheus duration into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s == "0" {
        return Ok(0);
    }
    let invalid = || DurationError::Invalid(s.to_string());
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut next_unit = 0; // index into UNITS: units must appear in order
    let mut total: i128 = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(invalid());
        }
        let digits = &s[start..i];
        // "ms" must be tried before "m".
        let rest = &s[i..];
        let unit_idx = if rest.starts_with("ms") {
            6
        } else {
            match rest.as_bytes().first() {
                Some(b'y') => 0,
                Some(b'w') => 1,
                Some(b'd') => 2,
                Some(b'h') => 3,
                Some(b'm') => 4,
                Some(b's') => 5,
                _ => return Err(invalid()),
            }
        };
        if unit_idx < next_unit {
            return Err(invalid());
        }
        next_unit = unit_idx + 1;
        i += UNITS[unit_idx].0.len();
        let n: i128 = digits.parse().map_err(|_| DurationError::OutOfRange)?;
        total = n
            .checked_mul(UNITS[unit_idx].1)
            .and_then(|v| total.checked_add(v))
            .ok_or(DurationError::OutOfRange)?;
        // Go checks against int64 nanoseconds.
        if total > i128::from(i64::MAX) / 1_000_000 {
            return Err(DurationError::OutOfRange);
        }
    }
    i64::try_from(total).map_err(|_| DurationError::OutOfRange)
}

/// Formats milliseconds the way `model.Duration.String()` does (`1h30m`,
/// `0s`, `100ms`).
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = i128::from(ms);
    if rest < 0 {
        out.push('-');
        rest = -rest;
    }
    for (unit, size) in UNITS {
        let n = rest / size;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
            rest -= n * size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Result<i64, DurationError>) {
        assert_eq!(parse_duration(input), expect, "input {input:?}");
    }

    #[test]
    fn table() {
        let inv = |s: &str| Err(DurationError::Invalid(s.to_string()));
        check("0", Ok(0));
        check("5m", Ok(300_000));
        check("1h30m", Ok(5_400_000));
        check("100ms", Ok(100));
        check("1d", Ok(86_400_000));
        check("1w", Ok(604_800_000));
        check("1y", Ok(31_536_000_000));
        check(
            "1y2w3d4h5m6s7ms",
            Ok(31_536_000_000 + 1_209_600_000 + 259_200_000 + 14_400_000 + 300_000 + 6_000 + 7),
        );
        check("0s", Ok(0));
        check("", Err(DurationError::Empty));
        check("5", inv("5"));
        check("1.5m", inv("1.5m"));
        check("-1m", inv("-1m"));
        check("1m1h", inv("1m1h"));
        check("1m1m", inv("1m1m"));
        check("1h ", inv("1h "));
        check("m", inv("m"));
        check("1M", inv("1M"));
        check("292y", Ok(292 * 31_536_000_000));
        check("300y", Err(DurationError::OutOfRange));
        check("99999999999999999999999s", Err(DurationError::OutOfRange));
    }

    #[test]
    fn format() {
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(100), "100ms");
        assert_eq!(format_duration(86_400_000 * 8), "1w1d");
    }
}
