//! RFC 3339 timestamps with millisecond precision (`2024-05-01T12:00:00.000Z`),
//! the form Alertmanager's API and Prometheus's notifier use. Pure.

/// Formats `ms` (milliseconds since the Unix epoch, UTC) as RFC 3339 with
/// exactly three fractional digits and a `Z` offset.
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

/// Howard Hinnant's days-to-civil conversion (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::format_rfc3339_millis;

    fn check(ms: i64, want: &str) {
        assert_eq!(format_rfc3339_millis(ms), want, "ms={ms}");
    }

    #[test]
    fn formats() {
        check(0, "1970-01-01T00:00:00.000Z");
        check(1_714_564_800_123, "2024-05-01T12:00:00.123Z");
        check(951_782_400_000, "2000-02-29T00:00:00.000Z");
        check(-1, "1969-12-31T23:59:59.999Z");
        check(253_402_300_799_999, "9999-12-31T23:59:59.999Z");
    }
}
