//! Prometheus duration strings (`model.ParseDuration`): `0`, `1m`,
//! `1h30m`, `10s53ms`, `2d`, `1w`, `1y`. Units must appear in decreasing
//! order, at most once each. Result in milliseconds.

/// A malformed duration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid duration {0:?}")]
pub struct DurationError(pub String);

const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a Prometheus duration into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    let err = || DurationError(s.to_string());
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut rest = s;
    let mut total: i64 = 0;
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let nd = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if nd == 0 {
            return Err(err());
        }
        let n: i64 = rest[..nd].parse().map_err(|_| err())?;
        rest = &rest[nd..];
        let na = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..na];
        rest = &rest[na..];
        let ui = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(err)?;
        if last_unit.is_some_and(|l| l >= ui) {
            return Err(err());
        }
        last_unit = Some(ui);
        total = n
            .checked_mul(UNITS[ui].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(err)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Option<i64>) {
        assert_eq!(parse_duration(input).ok(), expect, "{input:?}");
    }

    #[test]
    fn durations() {
        let cases = [
            ("0", Some(0)),
            ("0s", Some(0)),
            ("0m", Some(0)),
            ("1ms", Some(1)),
            ("55s", Some(55_000)),
            ("1m30s", Some(90_000)),
            ("10s53ms", Some(10_053)),
            ("2h", Some(7_200_000)),
            ("1d", Some(86_400_000)),
            ("1w", Some(604_800_000)),
            ("1y", Some(31_536_000_000)),
            ("1111111s", Some(1_111_111_000)),
            ("", None),
            ("1", None),
            ("m", None),
            ("1s1m", None),
            ("1m1m", None),
            ("-1m", None),
            ("1.5m", None),
            ("1x", None),
        ];
        for (i, e) in cases {
            check(i, e);
        }
    }
}
