//! Prometheus durations (`model.ParseDuration` / `model.Duration.String()`
//! from `prometheus/common`) and Go's `time.Duration.String()`: the one
//! implementation used by the PromQL parser, rule files, promqltest
//! scripts, templates (`parseDuration`) and the router's config.
//!
//! Grammar: `0`, or one or more of `<n>y <n>w <n>d <n>h <n>m <n>s <n>ms` in
//! that order, each unit at most once, integers only (`1h30m`, `5m`,
//! `100ms`). `5` (no unit), `1.5m`, `-1m` and the empty string are
//! rejected. Years are 365 days, weeks 7 days. The value must fit in Go's
//! `time.Duration` (int64 nanoseconds).
//!
//! Two [`ErrorStyle`]s word the errors: the current hand-written parser
//! (`unknown unit "hs" in duration "1hs"`, as the PromQL parser reports)
//! and the older regex-based one, where every malformed string is `not a
//! valid duration string` (what promtool 2.42 prints for rule files). The
//! accepted strings and their values are the same in both.

use crate::parser::quote::quote_str;

/// Why a duration string was rejected (texts match Prometheus).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// `""`
    #[error("empty duration string")]
    Empty,
    /// Does not match the grammar.
    #[error("not a valid duration string: {}", quote_str(.0))]
    Invalid(String),
    /// A unit that is not one of `y w d h m s ms` ([`ErrorStyle::Current`]).
    #[error("unknown unit {} in duration {}", quote_str(.unit), quote_str(.input))]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole duration string.
        input: String,
    },
    /// Larger than Go's `time.Duration` can hold.
    #[error("duration out of range")]
    OutOfRange,
}

/// How malformed durations are reported (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorStyle {
    /// `prometheus/common` ≥ 0.50 (Prometheus 3): unknown units are named;
    /// a number too long for `uint64` is `not a valid duration string`.
    #[default]
    Current,
    /// The regex-based parser (promtool 2.x): unknown units are `not a
    /// valid duration string`; a number too long is `duration out of
    /// range`.
    Legacy,
}

const NS_PER_MS: u64 = 1_000_000;

/// Units in the order they must appear, with their size in nanoseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000 * NS_PER_MS),
    ("w", 7 * 24 * 3600 * 1000 * NS_PER_MS),
    ("d", 24 * 3600 * 1000 * NS_PER_MS),
    ("h", 3600 * 1000 * NS_PER_MS),
    ("m", 60 * 1000 * NS_PER_MS),
    ("s", 1000 * NS_PER_MS),
    ("ms", NS_PER_MS),
];

/// Parses a Prometheus duration into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    parse_duration_ns(s).map(|ns| ns / 1_000_000)
}

/// [`parse_duration`] with the older regex parser's error texts
/// ([`ErrorStyle::Legacy`]).
pub fn parse_duration_legacy(s: &str) -> Result<i64, DurationError> {
    parse_duration_with(s, ErrorStyle::Legacy).map(|ns| ns / 1_000_000)
}

/// [`parse_duration`] in nanoseconds (Go's `time.Duration`).
pub fn parse_duration_ns(s: &str) -> Result<i64, DurationError> {
    parse_duration_with(s, ErrorStyle::Current)
}

/// Parses a Prometheus duration into nanoseconds, wording errors in `style`.
pub fn parse_duration_with(s: &str, style: ErrorStyle) -> Result<i64, DurationError> {
    match s {
        "0" => return Ok(0),
        "" => return Err(DurationError::Empty),
        _ => {}
    }
    let invalid = || DurationError::Invalid(s.to_string());
    let mut rest = s;
    let mut dur: u64 = 0;
    let mut last_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        // Go parses the number before looking at the unit; the regex
        // parser only after the whole string matched.
        let number = rest[..digits].parse::<u64>().ok();
        if number.is_none() && style == ErrorStyle::Current {
            return Err(invalid());
        }
        rest = &rest[digits..];
        let ulen = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        if ulen == 0 {
            return Err(invalid());
        }
        let unit = &rest[..ulen];
        rest = &rest[ulen..];
        let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(match style {
                ErrorStyle::Current => DurationError::UnknownUnit {
                    unit: unit.to_string(),
                    input: s.to_string(),
                },
                ErrorStyle::Legacy => invalid(),
            });
        };
        let pos = idx + 1;
        if pos <= last_unit {
            return Err(invalid());
        }
        last_unit = pos;
        let Some(v) = number else {
            return Err(DurationError::OutOfRange);
        };
        let mult = UNITS[idx].1;
        if v > (1u64 << 63) / mult {
            return Err(DurationError::OutOfRange);
        }
        dur = dur.saturating_add(v * mult);
        if dur > i64::MAX as u64 {
            return Err(DurationError::OutOfRange);
        }
    }
    i64::try_from(dur).map_err(|_| DurationError::OutOfRange)
}

/// `model.Duration.String()` for milliseconds: `1h30m`, `90d`, `0s`. Years
/// and weeks are only used when they divide the value exactly (`8d`, not
/// `1w1d`); negative values print as the empty string, as upstream.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut ms = ms;
    let mut r = String::new();
    for (i, (unit, ns)) in UNITS.iter().enumerate() {
        let mult = (ns / NS_PER_MS) as i64;
        let exact = i < 2;
        if exact && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            r.push_str(&v.to_string());
            r.push_str(unit);
            ms -= v * mult;
        }
    }
    r
}

/// Go's `time.Duration.String()` for nanoseconds: `1h2m3.5s`, `1.5ms`,
/// `500µs`, `0s`.
pub fn go_duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let frac = |v: u64, prec: u32| -> (u64, String) {
        let p = 10u64.pow(prec);
        let f = v % p;
        let mut s = String::new();
        if f != 0 {
            s = format!(".{:0width$}", f, width = prec as usize);
            while s.ends_with('0') {
                s.pop();
            }
        }
        (v / p, s)
    };
    let body = if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0..1_000 => (0, "ns"),
            1_000..1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (int, f) = frac(u, prec);
        format!("{int}{f}{unit}")
    } else {
        let (secs, f) = frac(u, 9);
        let (s, m, h) = (secs % 60, secs / 60 % 60, secs / 3600);
        if h > 0 {
            format!("{h}h{m}m{s}{f}s")
        } else if m > 0 {
            format!("{m}m{s}{f}s")
        } else {
            format!("{s}{f}s")
        }
    };
    format!("{}{body}", if neg { "-" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y: i64 = 31_536_000_000;

    fn check(style: ErrorStyle, input: &str, expect: Result<i64, &str>) {
        let got = parse_duration_with(input, style)
            .map(|ns| ns / 1_000_000)
            .map_err(|e| e.to_string());
        assert_eq!(got, expect.map_err(str::to_string), "{style:?} {input:?}");
    }

    #[test]
    fn accepted() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("0s", 0),
            ("0m", 0),
            ("1ms", 1),
            ("55s", 55_000),
            ("5m", 300_000),
            ("1m30s", 90_000),
            ("10s53ms", 10_053),
            ("1h30m", 5_400_000),
            ("100ms", 100),
            ("2h", 7_200_000),
            ("1d", 86_400_000),
            ("1w", 604_800_000),
            ("1y", Y),
            ("1111111s", 1_111_111_000),
            (
                "1y2w3d4h5m6s7ms",
                Y + 1_209_600_000 + 259_200_000 + 14_400_000 + 300_000 + 6_000 + 7,
            ),
            ("292y", 292 * Y),
        ];
        for &(input, ms) in cases {
            check(ErrorStyle::Current, input, Ok(ms));
            check(ErrorStyle::Legacy, input, Ok(ms));
        }
    }

    #[test]
    fn rejected() {
        use ErrorStyle::{Current, Legacy};
        let cases: &[(ErrorStyle, &str, &str)] = &[
            (Current, "", "empty duration string"),
            (Legacy, "", "empty duration string"),
            (Current, "5", "not a valid duration string: \"5\""),
            (Current, "-1m", "not a valid duration string: \"-1m\""),
            (Current, "m", "not a valid duration string: \"m\""),
            (Current, "1m1h", "not a valid duration string: \"1m1h\""),
            (Current, "1m1m", "not a valid duration string: \"1m1m\""),
            (Current, "1hs", "unknown unit \"hs\" in duration \"1hs\""),
            (Current, "1.5m", "unknown unit \".\" in duration \"1.5m\""),
            (Current, "1h ", "unknown unit \"h \" in duration \"1h \""),
            (Current, "300y", "duration out of range"),
            (
                Current,
                "99999999999999999999999s",
                "not a valid duration string: \"99999999999999999999999s\"",
            ),
            (Legacy, "5", "not a valid duration string: \"5\""),
            (Legacy, "1.5m", "not a valid duration string: \"1.5m\""),
            (Legacy, "-1m", "not a valid duration string: \"-1m\""),
            (Legacy, "1m1h", "not a valid duration string: \"1m1h\""),
            (Legacy, "1m1m", "not a valid duration string: \"1m1m\""),
            (Legacy, "1h ", "not a valid duration string: \"1h \""),
            (Legacy, "m", "not a valid duration string: \"m\""),
            (Legacy, "1M", "not a valid duration string: \"1M\""),
            (Legacy, "300y", "duration out of range"),
            (Legacy, "99999999999999999999999s", "duration out of range"),
        ];
        for &(style, input, msg) in cases {
            check(style, input, Err(msg));
        }
    }

    #[test]
    fn formats() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (5_400_000, "1h30m"),
            (100, "100ms"),
            (86_400_000 * 8, "8d"),
            (86_400_000 * 14, "2w"),
            (Y + 86_400_000, "366d"),
            (2 * Y, "2y"),
            (90_061_001, "1d1h1m1s1ms"),
        ];
        for &(ms, want) in cases {
            assert_eq!(format_duration(ms), want, "{ms}");
        }
    }

    #[test]
    fn go_durations() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (500_000_000, "500ms"),
            (1_500_000, "1.5ms"),
            (1_000_000_000, "1s"),
            (60_000_000_000, "1m0s"),
            (179_999_000_000, "2m59.999s"),
            (3_600_000_000_000, "1h0m0s"),
            (86_400_000_000_000, "24h0m0s"),
            (-1_500_000_000, "-1.5s"),
            (1_500, "1.5µs"),
            (7, "7ns"),
        ];
        for &(ns, want) in cases {
            assert_eq!(go_duration_string(ns), want, "{ns}");
        }
    }
}
