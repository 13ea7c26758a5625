//! Named time intervals (Alertmanager's `timeinterval` package):
//! `times`, `weekdays`, `days_of_month` (negative counts back from the
//! month's end), `months`, `years` and `location` (an IANA zone via
//! `chrono-tz`). [`TimeIntervals`] implements [`TimeIntervalSet`].
//!
//! A time is in an interval when every field given matches (absent fields
//! match everything); it is in a named set when it is in any interval of
//! the set. Ranges are inclusive except `times`, whose end is exclusive.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde_saphyr::Spanned;
use watchfire_alertmodel::TimeIntervalSet;

use crate::error::ConfigError;
use crate::raw::{RawNamedInterval, RawTimeInterval, Scalar};
use crate::validate::Ctx;

/// An inclusive range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub begin: i32,
    pub end: i32,
}

/// One interval. `None` fields match everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimeInterval {
    /// Minutes of the day, `[begin, end)`.
    pub times: Option<Vec<Range>>,
    /// 0 = Sunday.
    pub weekdays: Option<Vec<Range>>,
    pub days_of_month: Option<Vec<Range>>,
    /// 1 = January.
    pub months: Option<Vec<Range>>,
    pub years: Option<Vec<Range>>,
    /// `None`: UTC.
    pub location: Option<Tz>,
}

/// All named time intervals of a config.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimeIntervals {
    sets: BTreeMap<String, Vec<TimeInterval>>,
}

impl TimeIntervals {
    pub fn contains_name(&self, name: &str) -> bool {
        self.sets.contains_key(name)
    }
    pub fn insert(&mut self, name: String, set: Vec<TimeInterval>) {
        self.sets.insert(name, set);
    }
    pub fn get(&self, name: &str) -> Option<&[TimeInterval]> {
        self.sets.get(name).map(Vec::as_slice)
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sets.keys().map(String::as_str)
    }
}

impl TimeIntervalSet for TimeIntervals {
    fn contains(&self, name: &str, t: i64) -> Option<bool> {
        let set = self.sets.get(name)?;
        let utc = DateTime::<Utc>::from_timestamp_millis(t)?;
        Some(set.iter().any(|ti| ti.contains(utc)))
    }
}

fn days_in_month(year: i32, month: u32) -> i32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map(|d| d.day() as i32)
        .unwrap_or(31)
}

fn in_ranges(rs: &Option<Vec<Range>>, v: i32) -> bool {
    match rs {
        None => true,
        Some(rs) => rs.iter().any(|r| v >= r.begin && v <= r.end),
    }
}

impl TimeInterval {
    /// Whether the instant falls in this interval (Alertmanager's
    /// `TimeInterval.ContainsTime`).
    pub fn contains(&self, utc: DateTime<Utc>) -> bool {
        let t = utc.with_timezone(&self.location.unwrap_or(Tz::UTC));
        if let Some(times) = &self.times {
            let m = (t.hour() * 60 + t.minute()) as i32;
            if !times.iter().any(|r| m >= r.begin && m < r.end) {
                return false;
            }
        }
        if let Some(doms) = &self.days_of_month {
            let dim = days_in_month(t.year(), t.month());
            let day = t.day() as i32;
            let hit = doms.iter().any(|r| {
                let begin = if r.begin < 0 {
                    dim + r.begin + 1
                } else {
                    r.begin
                };
                let end = if r.end < 0 { dim + r.end + 1 } else { r.end };
                if begin > dim {
                    return false;
                }
                let (begin, end) = (begin.clamp(-dim, dim), end.clamp(-dim, dim));
                day >= begin && day <= end
            });
            if !hit {
                return false;
            }
        }
        in_ranges(&self.months, t.month() as i32)
            && in_ranges(&self.weekdays, t.weekday().num_days_from_sunday() as i32)
            && in_ranges(&self.years, t.year())
    }
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Splits `a:b` (or `a`) into its ends. Negative numbers keep their sign.
fn split_range(s: &str) -> (&str, &str) {
    match s.split_once(':') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (s.trim(), s.trim()),
    }
}

/// A range that parses but breaks Alertmanager's bounds or order rules
/// (texts as Alertmanager's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum RangeError {
    #[error("start day cannot be before end day")]
    WeekdayOrder,
    #[error("month out of bounds: {}:{}", .0.begin, .0.end)]
    MonthBounds(Range),
    #[error("end month is before start month")]
    MonthOrder,
    #[error("days_of_month out of bounds: {}:{}", .0.begin, .0.end)]
    DayOfMonthBounds(Range),
    #[error("end day must be greater than start day")]
    DayOfMonthOrder,
    #[error("end year must be greater than start year")]
    YearOrder,
}

fn parse_ranges(
    cx: &Ctx,
    list: &Option<Vec<Spanned<Scalar>>>,
    what: &str,
    one: &dyn Fn(&str) -> Option<i32>,
    check: &dyn Fn(Range) -> Result<(), RangeError>,
) -> Result<Option<Vec<Range>>, ConfigError> {
    let Some(list) = list else { return Ok(None) };
    let mut out = Vec::new();
    for item in list {
        let text = item.value.0.to_lowercase();
        let (a, b) = split_range(&text);
        let (Some(begin), Some(end)) = (one(a), one(b)) else {
            return Err(cx.err(item, format!("invalid {what} {:?}", item.value.0)));
        };
        let r = Range { begin, end };
        check(r).map_err(|e| cx.err(item, e.to_string()))?;
        out.push(r);
    }
    Ok(Some(out))
}

fn clock(s: &str) -> Option<i32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if (h == 24 && m == 0) || ((0..24).contains(&h) && (0..60).contains(&m)) {
        Some(h * 60 + m)
    } else {
        None
    }
}

fn interval(cx: &Ctx, raw: &RawTimeInterval) -> Result<TimeInterval, ConfigError> {
    let mut times = None;
    if let Some(list) = &raw.times {
        let mut out = Vec::new();
        for tr in list {
            let (Some(s), Some(e)) = (&tr.start_time, &tr.end_time) else {
                let at = tr.start_time.as_ref().or(tr.end_time.as_ref());
                let msg = "both start and end times must be provided";
                return Err(match at {
                    Some(a) => cx.err(a, msg),
                    None => cx.top(msg),
                });
            };
            let begin = clock(&s.value).ok_or_else(|| {
                cx.err(
                    s,
                    format!("couldn't parse timestamp {}, invalid format", s.value),
                )
            })?;
            let end = clock(&e.value).ok_or_else(|| {
                cx.err(
                    e,
                    format!("couldn't parse timestamp {}, invalid format", e.value),
                )
            })?;
            if begin >= end {
                return Err(cx.err(s, "start time cannot be equal or greater than end time"));
            }
            out.push(Range { begin, end });
        }
        times = Some(out);
    }
    let name_or_num = |names: &'static [&'static str], base: i32| {
        move |s: &str| -> Option<i32> {
            names
                .iter()
                .position(|n| *n == s)
                .map(|i| i as i32 + base)
                .or_else(|| if base == 1 { s.parse().ok() } else { None })
        }
    };
    let weekdays = parse_ranges(
        cx,
        &raw.weekdays,
        "weekday",
        &name_or_num(&WEEKDAYS, 0),
        &|r| {
            if r.begin > r.end {
                Err(RangeError::WeekdayOrder)
            } else {
                Ok(())
            }
        },
    )?;
    let months = parse_ranges(cx, &raw.months, "month", &name_or_num(&MONTHS, 1), &|r| {
        if !(1..=12).contains(&r.begin) || !(1..=12).contains(&r.end) {
            Err(RangeError::MonthBounds(r))
        } else if r.begin > r.end {
            Err(RangeError::MonthOrder)
        } else {
            Ok(())
        }
    })?;
    let days_of_month = parse_ranges(
        cx,
        &raw.days_of_month,
        "day of month",
        &|s| s.parse().ok(),
        &|r| {
            let ok = |d: i32| (-31..=31).contains(&d) && d != 0;
            if !ok(r.begin) || !ok(r.end) {
                Err(RangeError::DayOfMonthBounds(r))
            } else if (r.begin > 0) == (r.end > 0) && r.begin > r.end {
                Err(RangeError::DayOfMonthOrder)
            } else {
                Ok(())
            }
        },
    )?;
    let years = parse_ranges(cx, &raw.years, "year", &|s| s.parse().ok(), &|r| {
        if r.begin > r.end {
            Err(RangeError::YearOrder)
        } else {
            Ok(())
        }
    })?;
    let location = match &raw.location {
        None => None,
        Some(l) if l.value == "UTC" || l.value.is_empty() => None,
        Some(l) if l.value == "Local" => {
            return Err(cx.err(
                l,
                "location \"Local\" is not supported: name an IANA time zone",
            ))
        }
        Some(l) => Some(
            l.value
                .parse::<Tz>()
                .map_err(|_| cx.err(l, format!("unknown time zone {:?}", l.value)))?,
        ),
    };
    Ok(TimeInterval {
        times,
        weekdays,
        days_of_month,
        months,
        years,
        location,
    })
}

/// Validates one named entry of `time_intervals:` (or the deprecated
/// `mute_time_intervals:`, whose messages say "mute time interval").
pub(crate) fn named(
    cx: &Ctx,
    raw: &Spanned<RawNamedInterval>,
    what: &str,
) -> Result<(String, Vec<TimeInterval>), ConfigError> {
    let name = match &raw.value.name {
        Some(n) if !n.value.is_empty() => n.value.clone(),
        _ => return Err(cx.err(raw, format!("missing name in {what}"))),
    };
    let mut set = Vec::new();
    for ti in raw.value.time_intervals.iter().flatten() {
        set.push(interval(cx, ti)?);
    }
    Ok((name, set))
}

/// Test helper: an instant from a civil UTC time.
#[doc(hidden)]
pub fn utc_ms(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}
