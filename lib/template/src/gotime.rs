//! Go `time` behaviour templates can observe: `Time.String()` and
//! `Time.Format(layout)` in UTC, `Duration.String()`, the methods templates
//! call on `toTime`/`toDuration` results, and Prometheus's duration syntax
//! (`model.ParseDuration`, used by `parseDuration`).

use crate::funcs::{Param, Sig};
use crate::value::{Time, Value};
use watchfire_promql::civil::{civil_from_days, day_of_year, weekday};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Broken-down UTC time.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    nanos: u32,
    weekday: usize,
    yday: u32,
}

fn civil(t: &Time) -> Civil {
    let days = t.secs.div_euclid(86_400);
    let rem = t.secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        min: (rem % 3600 / 60) as u32,
        sec: (rem % 60) as u32,
        nanos: t.nanos,
        weekday: weekday(days) as usize,
        yday: day_of_year(year, month, day),
    }
}

/// Go's `Time.String()` for a UTC time: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub(crate) fn time_string(t: &Time) -> String {
    format_time(t, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// Go's `Time.Format(layout)` for UTC times (common layout elements).
pub(crate) fn format_time(t: &Time, layout: &str) -> String {
    let c = civil(t);
    let mut out = String::new();
    let mut rest = layout;
    // Longest tokens first.
    const TOKENS: [&str; 31] = [
        "January", "Monday", "Z07:00", "-07:00", "Z0700", "-0700", "2006", "Jan", "Mon", "MST",
        "002", "__2", "_2", "01", "02", "03", "04", "05", "06", "15", "-07", "Z07", "PM", "pm",
        "1", "2", "3", "4", "5", ".0", ".9",
    ];
    'outer: while !rest.is_empty() {
        for tok in TOKENS {
            if !rest.starts_with(tok) {
                continue;
            }
            if tok == ".0" || tok == ".9" || tok == ",0" {
                let digit = tok.as_bytes()[1];
                let n = rest[1..].bytes().take_while(|&b| b == digit).count();
                let after = rest.as_bytes().get(1 + n).copied();
                if after.is_some_and(|b| b.is_ascii_digit()) {
                    continue;
                }
                let frac = format!("{:09}", c.nanos);
                let mut digits = frac[..n.min(9)].to_string();
                if digit == b'9' {
                    while digits.ends_with('0') {
                        digits.pop();
                    }
                    if !digits.is_empty() {
                        out.push('.');
                        out.push_str(&digits);
                    }
                } else {
                    out.push('.');
                    out.push_str(&digits);
                }
                rest = &rest[1 + n..];
                continue 'outer;
            }
            let s = match tok {
                "January" => MONTHS[(c.month - 1) as usize].to_string(),
                "Jan" => MONTHS[(c.month - 1) as usize][..3].to_string(),
                "Monday" => DAYS[c.weekday].to_string(),
                "Mon" => DAYS[c.weekday][..3].to_string(),
                "2006" => format!("{:04}", c.year),
                "06" => format!("{:02}", c.year.rem_euclid(100)),
                "01" => format!("{:02}", c.month),
                "1" => c.month.to_string(),
                "02" => format!("{:02}", c.day),
                "_2" => format!("{:>2}", c.day),
                "2" => c.day.to_string(),
                "002" => format!("{:03}", c.yday),
                "__2" => format!("{:>3}", c.yday),
                "15" => format!("{:02}", c.hour),
                "03" => format!(
                    "{:02}",
                    if c.hour.is_multiple_of(12) {
                        12
                    } else {
                        c.hour % 12
                    }
                ),
                "3" => (if c.hour.is_multiple_of(12) {
                    12
                } else {
                    c.hour % 12
                })
                .to_string(),
                "04" => format!("{:02}", c.min),
                "4" => c.min.to_string(),
                "05" => format!("{:02}", c.sec),
                "5" => c.sec.to_string(),
                "PM" => (if c.hour >= 12 { "PM" } else { "AM" }).to_string(),
                "pm" => (if c.hour >= 12 { "pm" } else { "am" }).to_string(),
                "MST" => "UTC".to_string(),
                "-0700" => "+0000".to_string(),
                "-07:00" => "+00:00".to_string(),
                "-07" => "+00".to_string(),
                _ => "Z".to_string(), // Z07:00, Z0700, Z07 in UTC.
            };
            out.push_str(&s);
            rest = &rest[tok.len()..];
            continue 'outer;
        }
        let ch = rest.chars().next().unwrap_or(' ');
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

/// Go's `Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub(crate) use watchfire_promql::duration::go_duration_string as duration_string;

/// Prometheus `model.ParseDuration`; returns nanoseconds.
pub(crate) use watchfire_promql::duration::parse_duration_ns as parse_prom_duration;

/// Why a method call on a time or duration value failed (Go's text; the
/// executor adds `error calling NAME: `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MethodError {
    /// `Format` without a string layout.
    #[error("Format needs a layout string")]
    FormatLayout,
    /// The receiver has no such method.
    #[error("no method {0}")]
    NoMethod(String),
}

/// Signature of a method on a time or duration value, if it exists.
pub(crate) fn method_sig(recv: &Value, name: &str) -> Option<Sig> {
    const NONE: Sig = Sig {
        params: &[],
        variadic: false,
    };
    match recv {
        Value::Time(_) => match name {
            "Format" => Some(Sig {
                params: &[Param::Str],
                variadic: false,
            }),
            "Unix" | "UnixMilli" | "UnixNano" | "UTC" | "Year" | "YearDay" | "Day" | "Hour"
            | "Minute" | "Second" | "Nanosecond" | "String" | "Month" | "Weekday" | "IsZero" => {
                Some(NONE)
            }
            _ => None,
        },
        Value::Duration(_) => match name {
            "Seconds" | "Minutes" | "Hours" | "Milliseconds" | "Microseconds" | "Nanoseconds"
            | "String" | "Abs" => Some(NONE),
            _ => None,
        },
        _ => None,
    }
}

/// Calls a method found by [`method_sig`].
pub(crate) fn call_method(recv: &Value, name: &str, args: &[Value]) -> Result<Value, MethodError> {
    match recv {
        Value::Time(t) => {
            let c = civil(t);
            Ok(match name {
                "Format" => match args.first() {
                    Some(Value::String(layout)) => Value::String(format_time(t, layout)),
                    _ => return Err(MethodError::FormatLayout),
                },
                "Unix" => Value::Int(t.secs),
                "UnixMilli" => {
                    Value::Int(i64::try_from(t.unix_nanos() / 1_000_000).unwrap_or(i64::MAX))
                }
                "UnixNano" => Value::Int(i64::try_from(t.unix_nanos()).unwrap_or(i64::MAX)),
                "UTC" => Value::Time(*t),
                "Year" => Value::Int(c.year),
                "YearDay" => Value::Int(c.yday.into()),
                "Day" => Value::Int(c.day.into()),
                "Hour" => Value::Int(c.hour.into()),
                "Minute" => Value::Int(c.min.into()),
                "Second" => Value::Int(c.sec.into()),
                "Nanosecond" => Value::Int(c.nanos.into()),
                "Month" => Value::String(MONTHS[(c.month - 1) as usize].into()),
                "Weekday" => Value::String(DAYS[c.weekday].into()),
                "IsZero" => Value::Bool(t.secs == -62_135_596_800 && t.nanos == 0),
                _ => Value::String(time_string(t)),
            })
        }
        Value::Duration(d) => {
            let f = *d as f64;
            Ok(match name {
                "Seconds" => Value::Float(f / 1e9),
                "Minutes" => Value::Float(f / 6e10),
                "Hours" => Value::Float(f / 3.6e12),
                "Milliseconds" => Value::Int(d / 1_000_000),
                "Microseconds" => Value::Int(d / 1_000),
                "Nanoseconds" => Value::Int(*d),
                "Abs" => Value::Duration(d.checked_abs().unwrap_or(i64::MAX)),
                _ => Value::String(duration_string(*d)),
            })
        }
        _ => Err(MethodError::NoMethod(name.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let cases: &[(i64, u32, &str, &str)] = &[
            (0, 0, "", "1970-01-01 00:00:00 +0000 UTC"),
            (-1, 0, "", "1969-12-31 23:59:59 +0000 UTC"),
            (
                1_435_065_584,
                128_000_000,
                "",
                "2015-06-23 13:19:44.128 +0000 UTC",
            ),
            (9_223_372_036, 0, "", "2262-04-11 23:47:16 +0000 UTC"),
            (1_435_065_584, 128_000_000, "2006", "2015"),
            (
                1_435_065_584,
                128_000_000,
                "Mon Jan _2 15:04:05.000 MST 2006",
                "Tue Jun 23 13:19:44.128 UTC 2015",
            ),
            (
                1_435_065_584,
                0,
                "2006-01-02T15:04:05Z07:00",
                "2015-06-23T13:19:44Z",
            ),
            (1_435_065_584, 0, "3:04PM", "1:19PM"),
        ];
        for (secs, nanos, layout, want) in cases {
            let t = Time {
                secs: *secs,
                nanos: *nanos,
            };
            let got = if layout.is_empty() {
                time_string(&t)
            } else {
                format_time(&t, layout)
            };
            assert_eq!(got, *want, "{secs} {layout}");
        }
    }

    #[test]
    fn durations() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1_500_000, "1.5ms"),
            (3_720_010_000_000, "1h2m0.01s"),
            (-90_000_000_000, "-1m30s"),
            (999, "999ns"),
            (1_500, "1.5µs"),
        ];
        for (d, want) in cases {
            assert_eq!(duration_string(*d), *want);
        }
        assert_eq!(parse_prom_duration("1h2m10ms"), Ok(3_720_010_000_000));
        assert_eq!(parse_prom_duration("1y"), Ok(365 * 86_400 * 1_000_000_000));
        assert!(parse_prom_duration("2m1h").is_err());
        let message = |s: &str| parse_prom_duration(s).map_err(|e| e.to_string());
        assert_eq!(
            message("1x"),
            Err("unknown unit \"x\" in duration \"1x\"".to_string())
        );
        assert_eq!(message(""), Err("empty duration string".to_string()));
        let method = |recv: &Value, name: &str| {
            call_method(recv, name, &[])
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            method(&Value::Time(Time::from_unix(0, 0)), "Format"),
            Err("Format needs a layout string".to_string())
        );
        assert_eq!(
            method(&Value::Int(1), "Seconds"),
            Err("no method Seconds".to_string())
        );
    }
}
