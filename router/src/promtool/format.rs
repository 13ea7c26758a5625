//! Go-compatible renderings used in promtool's failure messages: label
//! sets and the indented alert lists (durations and floats come from
//! `watchfire_promql::duration` and `watchfire_promql::gofmt`). Pure.

use std::collections::BTreeMap;

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
    fn alert_lists() {
        let l: BTreeMap<String, String> = [("alertname".to_string(), "A".to_string())].into();
        assert_eq!(alerts_string(&[]), "[]");
        assert_eq!(
            alerts_string(&[(l.clone(), BTreeMap::new()), (l, BTreeMap::new())]),
            "[\n0:\n  Labels:{alertname=\"A\"}\n  Annotations:{},\n1:\n  Labels:{alertname=\"A\"}\n  Annotations:{}\n]"
        );
    }
}
