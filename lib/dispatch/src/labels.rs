//! Label helpers with Alertmanager's exact spelling and ordering: Go's
//! `%q` quoting, `model.LabelSet.String()` (used in group keys),
//! `LabelSet.Before` and `types.AlertSlice` ordering, and the legacy
//! label-name check (`^[a-zA-Z_][a-zA-Z0-9_]*$`).

use std::cmp::Ordering;
use std::fmt::Write;

use watchfire_alertmodel::{Alert, LabelSet};

/// Go's `strconv.Quote`: double quotes, `\"`, `\\`, the short escapes,
/// `\xNN` for other control bytes, `\uNNNN` for other non-printables.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    go_quote_into(&mut out, s);
    out
}

/// [`go_quote`], appended to `out`.
pub fn go_quote_into(out: &mut String, s: &str) {
    out.push('"');
    // Printable ASCII other than a quote or a backslash is written as it
    // is: most label values are, and every alert posted quotes some (its
    // group key).
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `model.LabelSet.String()`: `{a="1", b="2"}` in name order.
pub fn labelset_string(ls: &LabelSet) -> String {
    let mut out = String::new();
    pairs_string_into(&mut out, ls.iter());
    out
}

/// `model.LabelSet.String()` of pairs already in name order, appended to
/// `out`.
pub fn pairs_string_into<'a>(out: &mut String, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
    out.push('{');
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push('=');
        go_quote_into(out, v);
    }
    out.push('}');
}

/// Alertmanager's group key: `route_key:group_labels`.
pub fn group_key(route_key: &str, labels: &LabelSet) -> String {
    let mut out = String::new();
    group_key_into(&mut out, route_key, labels.iter());
    out
}

/// [`group_key`] of pairs already in name order, written into `out`
/// (cleared first): the ingest path reuses one buffer.
pub fn group_key_into<'a>(
    out: &mut String,
    route_key: &str,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) {
    out.clear();
    out.push_str(route_key);
    out.push(':');
    pairs_string_into(out, pairs);
}

/// `model.LabelSet.Before`: shorter sets first, then by the merged,
/// sorted name list (a missing name sorts first).
pub fn labelset_before(a: &LabelSet, b: &LabelSet) -> bool {
    if a.len() != b.len() {
        return a.len() < b.len();
    }
    let mut names: Vec<&str> = a.keys().chain(b.keys()).collect();
    names.sort();
    for n in names {
        let Some(x) = a.get(n) else { return true };
        let Some(y) = b.get(n) else { return false };
        match x.cmp(y) {
            Ordering::Less => return true,
            Ordering::Greater => return false,
            Ordering::Equal => {}
        }
    }
    false
}

/// Total order from `labelset_before`.
pub fn labelset_cmp(a: &LabelSet, b: &LabelSet) -> Ordering {
    if labelset_before(a, b) {
        Ordering::Less
    } else if labelset_before(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// `types.AlertSlice.Less`: by `job`, then `instance` (present before
/// absent), then `LabelSet.Before`.
pub fn alert_cmp(a: &Alert, b: &Alert) -> Ordering {
    for key in ["job", "instance"] {
        match (a.labels.get(key), b.labels.get(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    labelset_cmp(&a.labels, &b.labels)
}

/// Prometheus's legacy label-name rule,
/// `[a-zA-Z_][a-zA-Z0-9_]*`, checked on bytes (every posted label and
/// annotation name goes through it; a non-ASCII character's bytes are all
/// above 0x7f, so it fails as it would as a `char`).
pub fn valid_label_name(n: &str) -> bool {
    match n.as_bytes().split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphabetic() || *first == b'_')
                && rest.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        }
        None => false,
    }
}

/// `model.Fingerprint.String()`: 16 lower-case hex digits.
pub fn fp_string(fp: u64) -> String {
    format!("{fp:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn check_key(route: &str, labels: &[(&str, &str)], expect: &str) {
        assert_eq!(group_key(route, &ls(labels)), expect);
    }

    #[test]
    fn group_keys() {
        check_key("{}", &[("alertname", "x")], "{}:{alertname=\"x\"}");
        check_key("{}", &[], "{}:{}");
        check_key(
            "{}/{team=\"db\"}",
            &[("b", "2"), ("a", "q\"\n")],
            "{}/{team=\"db\"}:{a=\"q\\\"\\n\", b=\"2\"}",
        );
    }

    /// Go's `strconv.Quote`, on both the plain-ASCII fast path and the
    /// escaping one.
    #[test]
    fn quoting() {
        for (s, want) in [
            ("", r#""""#),
            ("Load7", r#""Load7""#),
            ("http://x/?a=1&b=2 ~", r#""http://x/?a=1&b=2 ~""#),
            ("a\"b", r#""a\"b""#),
            ("a\\b", r#""a\\b""#),
            ("a\nb\t", r#""a\nb\t""#),
            ("\u{1}\u{7f}", r#""\x01\x7f""#),
            ("\u{85}", r#""\u0085""#),
            ("é ü", r#""é ü""#),
        ] {
            assert_eq!(go_quote(s), want, "{s:?}");
        }
    }

    #[test]
    fn label_names() {
        for (n, ok) in [
            ("a", true),
            ("_a1", true),
            ("1a", false),
            ("", false),
            ("a-b", false),
            ("_", true),
            ("A_z9", true),
            ("é", false),
            ("aé", false),
            ("a b", false),
        ] {
            assert_eq!(valid_label_name(n), ok, "{n}");
        }
    }

    #[test]
    fn ordering() {
        let a = ls(&[("a", "1")]);
        let b = ls(&[("a", "1"), ("b", "1")]);
        let c = ls(&[("a", "2")]);
        assert!(labelset_before(&a, &b));
        assert!(labelset_before(&a, &c));
        assert!(!labelset_before(&c, &a));
        assert_eq!(labelset_cmp(&a, &a), Ordering::Equal);
    }
}
