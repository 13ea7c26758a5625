//! Go-compatible renderings used in promtool's failure messages: Go's
//! `time.Duration.String()`, `strconv.FormatFloat(v, 'E', -1, 64)`, label
//! sets and the indented alert lists. Pure.

use std::collections::BTreeMap;

/// Go's `time.Duration.String()` for milliseconds: `0s`, `1m0s`, `1h0m0s`,
/// `2m59.999s`, `500ms`.
pub fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    let abs = ms.unsigned_abs();
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if abs < 1000 {
        s.push_str(&format!("{abs}ms"));
        return s;
    }
    let (h, rem) = (abs / 3_600_000, abs % 3_600_000);
    let (m, rem) = (rem / 60_000, rem % 60_000);
    let (sec, milli) = (rem / 1000, rem % 1000);
    if h > 0 {
        s.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        s.push_str(&format!("{m}m"));
    }
    s.push_str(&sec.to_string());
    if milli > 0 {
        let frac = format!("{milli:03}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('s');
    s
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`: `1E+00`, `1.7040672E+09`,
/// `-5E-01`, `NaN`, `+Inf`.
pub fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v:E}");
    let Some((mant, exp)) = s.split_once('E') else {
        return s;
    };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    let digits = if digits.len() < 2 {
        format!("0{digits}")
    } else {
        digits.to_string()
    };
    format!("{mant}E{sign}{digits}")
}

/// A map rendered like Go's `labels.Labels.String()`: `{a="b", c="d"}`.
pub fn map_string(m: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// A label set rendered like Go's `labels.Labels.String()`:
/// `{__name__="up", job="api"}`; names outside the legacy charset quoted.
pub fn labels_string(l: &watchfire_promql::Labels) -> String {
    let inner: Vec<String> =
        l.iter()
            .map(|l| {
                let legacy = l.name.chars().enumerate().all(|(i, c)| {
                    c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
                });
                if legacy && !l.name.is_empty() {
                    format!("{}={:?}", l.name, l.value)
                } else {
                    format!("{:?}={:?}", l.name, l.value)
                }
            })
            .collect();
    format!("{{{}}}", inner.join(", "))
}

/// Prefixes every line but the first with `indent` (upstream's `indentLines`).
pub fn indent_lines(lines: &str, indent: &str) -> String {
    let mut out = String::new();
    for (i, l) in lines.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(indent);
        }
        out.push_str(l);
    }
    out
}

/// An alert's labels and annotations, as compared by `alert_rule_test`.
pub type LabelsAndAnnotations = (BTreeMap<String, String>, BTreeMap<String, String>);

/// Upstream's `labelsAndAnnotations.String()`.
pub fn alerts_string(la: &[LabelsAndAnnotations]) -> String {
    if la.is_empty() {
        return "[]".into();
    }
    let one = |(l, a): &LabelsAndAnnotations| {
        format!("\nLabels:{}\nAnnotations:{}", map_string(l), map_string(a))
    };
    let mut s = String::from("[\n");
    for (i, x) in la.iter().enumerate() {
        if i > 0 {
            s.push_str(",\n");
        }
        s.push_str(&format!("{i}:{}", indent_lines(&one(x), "  ")));
    }
    s.push_str("\n]");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            (0, "0s"),
            (500, "500ms"),
            (1000, "1s"),
            (60_000, "1m0s"),
            (179_999, "2m59.999s"),
            (3_600_000, "1h0m0s"),
            (86_400_000, "24h0m0s"),
            (-1500, "-1.5s"),
        ];
        for (ms, want) in cases {
            assert_eq!(go_duration(ms), want, "{ms}");
        }
    }

    #[test]
    fn floats() {
        let cases = [
            (1.0, "1E+00"),
            (0.0, "0E+00"),
            (1_704_067_200.0, "1.7040672E+09"),
            (-0.5, "-5E-01"),
            (2.9999999999999996, "2.9999999999999996E+00"),
            (1e-300, "1E-300"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(go_float_e(v), want, "{v}");
        }
    }

    #[test]
    fn alert_lists() {
        let l: BTreeMap<String, String> = [("alertname".to_string(), "A".to_string())].into();
        assert_eq!(alerts_string(&[]), "[]");
        assert_eq!(
            alerts_string(&[(l.clone(), BTreeMap::new()), (l, BTreeMap::new())]),
            "[\n0:\n  Labels:{alertname=\"A\"}\n  Annotations:{},\n1:\n  Labels:{alertname=\"A\"}\n  Annotations:{}\n]"
        );
    }
}
