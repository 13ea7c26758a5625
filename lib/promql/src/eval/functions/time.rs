//! The date functions (`hour`, `day_of_week`, `days_in_month`, ...), all
//! in UTC, on top of [`crate::civil`].

use crate::civil::{civil_from_days, day_of_year, days_in_month, weekday};

/// Evaluates date function `name` for Unix time `secs`.
pub(crate) fn date_value(name: &str, secs: i64) -> f64 {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    match name {
        "minute" => ((sod / 60) % 60) as f64,
        "hour" => (sod / 3600) as f64,
        "day_of_week" => weekday(days) as f64,
        "day_of_month" => d as f64,
        "day_of_year" => day_of_year(y, m, d) as f64,
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
