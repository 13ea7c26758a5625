//! Calendar arithmetic for the date functions (`hour`, `day_of_week`,
//! `days_in_month`, ...), all in UTC.

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
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

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(y) {
                29
            } else {
                28
            }
        }
    }
}

/// Evaluates date function `name` for Unix time `secs`.
pub(crate) fn date_value(name: &str, secs: i64) -> f64 {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    match name {
        "minute" => ((sod / 60) % 60) as f64,
        "hour" => (sod / 3600) as f64,
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_month" => d as f64,
        "day_of_year" => {
            let mut n = d;
            for mm in 1..m {
                n += days_in_month(y, mm);
            }
            n as f64
        }
        "days_in_month" => days_in_month(y, m) as f64,
        "month" => m as f64,
        "year" => y as f64,
        _ => f64::NAN,
    }
}

pub(crate) fn is_date_function(name: &str) -> bool {
    matches!(
        name,
        "minute"
            | "hour"
            | "day_of_week"
            | "day_of_month"
            | "day_of_year"
            | "days_in_month"
            | "month"
            | "year"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, secs: i64, expect: f64) {
        assert_eq!(date_value(name, secs), expect, "{name}({secs})");
    }

    #[test]
    fn dates() {
        check("year", 0, 1970.0);
        check("day_of_week", 0, 4.0);
        check("month", 1_136_239_445, 1.0);
        check("day_of_month", 1_136_239_445, 2.0);
        check("hour", 1_136_239_445, 22.0);
        check("minute", 1_136_239_445, 4.0);
        check("days_in_month", 951_782_400, 29.0); // 2000-02-29
        check("day_of_year", 951_782_400, 60.0);
        check("year", -1, 1969.0);
    }
}
