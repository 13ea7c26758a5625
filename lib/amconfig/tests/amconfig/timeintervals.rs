//! Time intervals: every field, time zones and negative days of month.

use watchfire_alertmodel::TimeIntervalSet;
use watchfire_amconfig::load_str;
use watchfire_amconfig::timeinterval::utc_ms;

/// Loads one interval named `ti` from its YAML body and checks each
/// `(y, m, d, h, min)` UTC instant against `expect`.
/// A UTC civil time `(year, month, day, hour, minute)`.
type Civil = (i32, u32, u32, u32, u32);

fn check(body: &str, cases: &[(Civil, bool)]) {
    let text = format!(
        "route: {{receiver: r, routes: [{{receiver: r, mute_time_intervals: [ti]}}]}}\nreceivers: [{{name: r}}]\ntime_intervals:\n  - name: ti\n    time_intervals:\n{body}"
    );
    let cfg = load_str(&text, "ti.yml").unwrap_or_else(|e| panic!("{body}: {e}"));
    for ((y, mo, d, h, mi), want) in cases {
        let t = utc_ms(*y, *mo, *d, *h, *mi);
        assert_eq!(
            cfg.time_intervals.contains("ti", t),
            Some(*want),
            "{body} at {y}-{mo}-{d} {h}:{mi}"
        );
    }
    assert_eq!(cfg.time_intervals.contains("other", 0), None);
}

#[test]
fn fields() {
    // 2024-03-04 is a Monday.
    check(
        "      - times: [{start_time: '09:00', end_time: '17:00'}]\n        weekdays: ['monday:friday']\n",
        &[
            ((2024, 3, 4, 9, 0), true),
            ((2024, 3, 4, 16, 59), true),
            ((2024, 3, 4, 17, 0), false),
            ((2024, 3, 4, 8, 59), false),
            ((2024, 3, 9, 12, 0), false), // Saturday
        ],
    );
    check(
        "      - months: ['december', 'january:february']\n        years: ['2024:2025']\n",
        &[
            ((2024, 12, 31, 0, 0), true),
            ((2025, 2, 1, 0, 0), true),
            ((2025, 3, 1, 0, 0), false),
            ((2026, 1, 1, 0, 0), false),
        ],
    );
    check(
        "      - times: [{start_time: '00:00', end_time: '24:00'}]\n        weekdays: [Sunday]\n",
        &[((2024, 3, 3, 23, 59), true), ((2024, 3, 4, 0, 0), false)],
    );
    // Several intervals: any of them.
    check(
        "      - weekdays: [saturday]\n      - weekdays: [sunday]\n",
        &[
            ((2024, 3, 9, 1, 0), true),
            ((2024, 3, 10, 1, 0), true),
            ((2024, 3, 11, 1, 0), false),
        ],
    );
    // An empty interval contains every time.
    check("      - {}\n", &[((2024, 3, 9, 1, 0), true)]);
}

#[test]
fn negative_days_of_month() {
    check(
        "      - days_of_month: ['-1']\n",
        &[
            ((2024, 2, 29, 12, 0), true), // leap year
            ((2023, 2, 28, 12, 0), true),
            ((2024, 2, 28, 12, 0), false),
            ((2024, 4, 30, 0, 0), true),
            ((2024, 5, 30, 0, 0), false),
        ],
    );
    check(
        "      - days_of_month: ['1:5', '-3:-1', 15]\n",
        &[
            ((2024, 1, 3, 0, 0), true),
            ((2024, 1, 15, 0, 0), true),
            ((2024, 1, 29, 0, 0), true),
            ((2024, 1, 28, 0, 0), false),
            ((2024, 1, 6, 0, 0), false),
        ],
    );
    // Begin past the month's end: skipped.
    check(
        "      - days_of_month: ['31']\n",
        &[((2024, 4, 30, 0, 0), false), ((2024, 5, 31, 0, 0), true)],
    );
}

#[test]
fn time_zones() {
    // 09:00-17:00 in New York = 14:00-22:00 UTC in winter, 13:00-21:00 in summer.
    let ny = "      - times: [{start_time: '09:00', end_time: '17:00'}]\n        location: America/New_York\n";
    check(
        ny,
        &[
            ((2024, 1, 10, 14, 0), true),
            ((2024, 1, 10, 13, 59), false),
            ((2024, 7, 10, 13, 0), true),
            ((2024, 7, 10, 21, 0), false),
        ],
    );
    // Weekday is taken in the zone: Monday 01:00 in Tokyo is Sunday 16:00 UTC.
    check(
        "      - weekdays: [monday]\n        location: Asia/Tokyo\n",
        &[((2024, 3, 3, 16, 0), true), ((2024, 3, 4, 16, 0), false)],
    );
}

#[test]
fn invalid_intervals() {
    let cases = [
        (
            "      - times: [{start_time: '17:00', end_time: '09:00'}]\n",
            "9:",
            "start time cannot be equal or greater than end time",
        ),
        (
            "      - times: [{start_time: '9am', end_time: '17:00'}]\n",
            "9:",
            "couldn't parse timestamp 9am",
        ),
        (
            "      - weekdays: ['friday:monday']\n",
            "9:",
            "start day cannot be before end day",
        ),
        ("      - weekdays: [funday]\n", "9:", "invalid weekday"),
        (
            "      - days_of_month: ['0']\n",
            "9:",
            "days_of_month out of bounds: 0:0",
        ),
        (
            "      - days_of_month: ['10:2']\n",
            "9:",
            "end day must be greater than start day",
        ),
        (
            "      - months: ['13']\n",
            "9:",
            "month out of bounds: 13:13",
        ),
        (
            "      - months: ['may:march']\n",
            "9:",
            "end month is before start month",
        ),
        (
            "      - years: ['2025:2024']\n",
            "9:",
            "end year must be greater than start year",
        ),
        (
            "      - location: Mars/Olympus\n",
            "9:",
            "unknown time zone \"Mars/Olympus\"",
        ),
    ];
    for (body, line, msg) in cases {
        let text = format!(
            "route: {{receiver: r}}\nreceivers: [{{name: r}}]\ntime_intervals:\n  - name: ti\n    time_intervals:\n{body}"
        );
        let text = format!("\n\n\n{text}"); // shift to line 9
        let e = load_str(&text, "ti.yml").unwrap_err().to_string();
        assert!(e.starts_with(&format!("ti.yml:{line}")), "{body}: {e}");
        assert!(e.contains(msg), "{body}: {e}");
    }
}
