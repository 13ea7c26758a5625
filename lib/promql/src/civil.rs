//! UTC calendar arithmetic (proleptic Gregorian, Howard Hinnant's
//! day-count algorithms) and RFC 3339 timestamps: the one implementation
//! behind PromQL's date functions, the template engine's `Time` methods,
//! the router's API/notification timestamps and promtool's
//! `start_timestamp`. Pure.
//!
//! Only UTC and fixed `±HH:MM` offsets are needed, so a date/time crate
//! (`chrono`, `jiff`) would add a dependency without removing much code.

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a (year, month 1-12, day 1-31) date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Gregorian leap year.
pub fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Number of days in month `m` (1-12) of year `y`.
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Day of the year, 1-366.
pub fn day_of_year(y: i64, m: u32, d: u32) -> u32 {
    (1..m).map(|mm| days_in_month(y, mm)).sum::<u32>() + d
}

/// Day of the week of a day count since 1970-01-01 (0 = Sunday).
pub fn weekday(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

/// Formats `ms` (milliseconds since the Unix epoch, UTC) as RFC 3339 with
/// exactly three fractional digits and a `Z` offset
/// (`2024-05-01T12:00:00.000Z`), the form Alertmanager's API and
/// Prometheus's notifier use.
pub fn format_rfc3339_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` into milliseconds since
/// the epoch (fractions beyond milliseconds are truncated).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..frac.len().min(3)]);
        millis = padded.parse().ok()?;
    }
    let offset_min = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6
            && matches!(tz.as_bytes()[0], b'+' | b'-')
            && tz.as_bytes()[3] == b':' =>
        {
            let m = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if tz.starts_with('-') {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    // Both in range: checked above.
    let days = days_from_civil(y, mo as u32, d as u32);
    Some(((days * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60) * 1000) + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_format(ms: i64, want: &str) {
        assert_eq!(format_rfc3339_millis(ms), want, "ms={ms}");
    }

    fn check_parse(s: &str, want: Option<i64>) {
        assert_eq!(parse_rfc3339(s), want, "{s}");
    }

    #[test]
    fn formats() {
        check_format(0, "1970-01-01T00:00:00.000Z");
        check_format(1_714_564_800_123, "2024-05-01T12:00:00.123Z");
        check_format(951_782_400_000, "2000-02-29T00:00:00.000Z");
        check_format(-1, "1969-12-31T23:59:59.999Z");
        check_format(253_402_300_799_999, "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses() {
        check_parse("2024-01-01T00:00:00Z", Some(1_704_067_200_000));
        check_parse("2021-01-01T00:00:00.5Z", Some(1_609_459_200_500));
        check_parse("2021-01-01T02:00:00+02:00", Some(1_609_459_200_000));
        check_parse("1970-01-01T00:00:01.500Z", Some(1500));
        check_parse("2000-03-01T00:00:00Z", Some(951_868_800_000));
        check_parse("2024-05-01T12:00:00.123456789Z", Some(1_714_564_800_123));
        check_parse("2021-13-01T00:00:00Z", None);
        check_parse("2021-01-01T00:00:00", None);
        check_parse("yesterday", None);
        check_parse("garbage", None);
    }

    #[test]
    fn round_trips_days() {
        for days in [-719_468, -1, 0, 59, 10_956, 11_016, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(weekday(0), 4);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(day_of_year(2000, 3, 1), 61);
        assert_eq!(day_of_year(2001, 12, 31), 365);
    }
}
