//! Label sets as borrowed slices of the input.
//!
//! The parsers validate a `{...}` block once and keep only the raw text
//! between the braces; [`LabelSet::iter`] re-scans it lazily, yielding names
//! and values borrowed from the input, or owned (`Cow::Owned`) only when a
//! value contains an escape. No allocation happens per sample.

use std::borrow::Cow;

use crate::scan::{is_label_char, scan_quoted, skip_ws, unescape_label};

/// One label: name and value, borrowed where no escape is present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label<'a> {
    /// Label name (unquoted; quoted UTF-8 names are unescaped).
    pub name: Cow<'a, str>,
    /// Label value, unescaped.
    pub value: Cow<'a, str>,
}

/// A validated label set (the text between `{` and `}` of one sample or
/// exemplar). Cheap to copy; iterate with [`LabelSet::iter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LabelSet<'a> {
    raw: &'a str,
    len: usize,
}

impl<'a> LabelSet<'a> {
    /// Wraps already-validated raw label text holding `len` label pairs.
    pub(crate) fn new(raw: &'a str, len: usize) -> Self {
        LabelSet { raw, len }
    }

    /// The raw text between the braces, escapes not applied.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Number of `name="value"` pairs (a quoted metric name inside the
    /// braces is not a label).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Iterates over the labels in exposition order.
    pub fn iter(&self) -> LabelIter<'a> {
        LabelIter {
            raw: self.raw,
            pos: 0,
        }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }
}

impl<'a> IntoIterator for &LabelSet<'a> {
    type Item = Label<'a>;
    type IntoIter = LabelIter<'a>;
    fn into_iter(self) -> LabelIter<'a> {
        self.iter()
    }
}

/// Iterator over a [`LabelSet`].
#[derive(Debug, Clone)]
pub struct LabelIter<'a> {
    raw: &'a str,
    pos: usize,
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = Label<'a>;

    fn next(&mut self) -> Option<Label<'a>> {
        let b = self.raw.as_bytes();
        loop {
            let mut i = self.pos;
            i = crate::scan::scan_while(b, i, |c| c == b' ' || c == b'\t' || c == b',');
            if i >= b.len() {
                self.pos = i;
                return None;
            }
            let name = if b[i] == b'"' {
                let (end, _) = scan_quoted(b, i)?;
                let n = unescape_label(self.raw.get(i + 1..end - 1)?);
                i = end;
                n
            } else {
                let end = crate::scan::scan_while(b, i, is_label_char);
                if end == i {
                    // Not reachable for validated input; stop rather than loop.
                    self.pos = b.len();
                    return None;
                }
                let n = Cow::Borrowed(self.raw.get(i..end)?);
                i = end;
                n
            };
            i = skip_ws(b, i);
            if b.get(i) != Some(&b'=') {
                // A quoted metric name inside the braces: not a label.
                self.pos = i;
                continue;
            }
            i = skip_ws(b, i + 1);
            if b.get(i) != Some(&b'"') {
                self.pos = b.len();
                return None;
            }
            let (end, esc) = scan_quoted(b, i)?;
            let v = self.raw.get(i + 1..end - 1)?;
            self.pos = end;
            let value = if esc {
                unescape_label(v)
            } else {
                Cow::Borrowed(v)
            };
            return Some(Label { name, value });
        }
    }
}

/// Formats a float the way Prometheus normalises `le` and `quantile` label
/// values (Go's `formatOpenMetricsFloat`): `+Inf`, `-Inf`, `NaN`, shortest
/// `%g` with a two-digit exponent, and `.0` appended to integral values.
pub fn format_om_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's `{:e}` yields the shortest round-trip digits, e.g. "-1.25e-5".
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let nd = digits.len() as i32;
    let mut out = String::with_capacity(24);
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        out.push_str(&a.to_string());
        return out;
    }
    let dp = exp + 1; // digits before the decimal point
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..(-dp) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if dp >= nd {
        out.push_str(&digits);
        for _ in 0..(dp - nd) {
            out.push('0');
        }
        out.push_str(".0");
    } else {
        out.push_str(&digits[..dp as usize]);
        out.push('.');
        out.push_str(&digits[dp as usize..]);
    }
    out
}

/// Normalises a float-valued label value (`le`, `quantile`) like Prometheus
/// does when ingesting classic histograms and summaries: `"1"` → `"1.0"`.
/// Values that do not parse as floats are returned unchanged.
pub fn normalize_float_label(value: &str) -> Cow<'_, str> {
    match crate::scan::parse_value(value) {
        Some(f) => {
            let s = format_om_float(f);
            if s == value {
                Cow::Borrowed(value)
            } else {
                Cow::Owned(s)
            }
        }
        None => Cow::Borrowed(value),
    }
}
