//! The promtool / promqltest series notation.
//!
//! A series line is a label set followed by an expanding value list:
//!
//! - `a` one value; numbers may be signed, use exponents, `Inf`, `NaN`.
//! - `a+bxn` / `a-bxn`: `a`, then `n` further values stepping by `b`
//!   (computed by repeated addition, as upstream does).
//! - `axn`: `a` repeated `n+1` times.
//! - `_`: a missing sample; `_xn`: `n` missing samples.
//! - `stale`: a staleness marker.
//! - `{{...}}` a native histogram (see [`histogram`]), `{{...}}xn`,
//!   `{{a}}+{{b}}xn` and `{{a}}-{{b}}xn`.
//!
//! Pure: no I/O. Errors carry the 1-based character column in the line.

pub mod histogram;
mod labels;

pub(crate) use labels::{parse_string as parse_quoted, Cursor};
use std::sync::Arc;
use watchfire_promql::labels::Labels;
use watchfire_promql::storage::{stale_nan, FloatHistogram, HistogramSample, Sample, Series};

/// A malformed series line; `col` is the 1-based character column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("column {col}: {msg}")]
pub struct NotationError {
    pub col: usize,
    pub msg: String,
}

/// One expanded position of a series.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesValue {
    /// `_`: no sample at this position.
    Missing,
    Float(f64),
    /// `stale`: a staleness marker.
    Stale,
    /// A native histogram; `hint_set` says whether `counter_reset_hint`
    /// was written explicitly (only then is it compared in tests).
    Histogram {
        h: FloatHistogram,
        hint_set: bool,
    },
}

impl SeriesValue {
    /// The float value (stale markers as the stale NaN), if a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SeriesValue::Float(v) => Some(*v),
            SeriesValue::Stale => Some(stale_nan()),
            _ => None,
        }
    }
}

/// Parses `metric{a="b"} 1+2x3 _ stale` into labels and expanded values.
pub fn parse_series_line(line: &str) -> Result<(Labels, Vec<SeriesValue>), NotationError> {
    let mut cur = Cursor::new(line);
    let labels = labels::parse_label_set(&mut cur)?;
    if !(cur.rest().is_empty() || cur.rest().starts_with(char::is_whitespace)) {
        return Err(cur.err("expected whitespace after the label set"));
    }
    let values = parse_values_at(&mut cur)?;
    Ok((labels, values))
}

/// Parses only a label set such as `metric{a="b"}` (the whole input).
pub fn parse_labels(input: &str) -> Result<Labels, NotationError> {
    let mut cur = Cursor::new(input);
    let labels = labels::parse_label_set(&mut cur)?;
    cur.skip_ws();
    if !cur.rest().is_empty() {
        return Err(cur.err("unexpected text after the label set"));
    }
    Ok(labels)
}

/// Parses only an expanding value list such as `1+2x3 _ stale`.
pub fn parse_values(input: &str) -> Result<Vec<SeriesValue>, NotationError> {
    parse_values_at(&mut Cursor::new(input))
}

/// Turns expanded values into a storage series: position `i` is at
/// `start_ms + i * interval_ms`; missing positions produce no sample.
pub fn to_series(
    labels: Labels,
    values: &[SeriesValue],
    start_ms: i64,
    interval_ms: i64,
) -> Series {
    let mut samples = Vec::new();
    let mut histograms = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let t = start_ms + i as i64 * interval_ms;
        match v {
            SeriesValue::Missing => {}
            SeriesValue::Float(f) => samples.push(Sample { t, v: *f }),
            SeriesValue::Stale => samples.push(Sample { t, v: stale_nan() }),
            SeriesValue::Histogram { h, .. } => histograms.push(HistogramSample {
                t,
                h: Arc::new(h.clone()),
            }),
        }
    }
    Series {
        labels,
        samples,
        histograms,
    }
}

fn parse_values_at(cur: &mut Cursor<'_>) -> Result<Vec<SeriesValue>, NotationError> {
    let mut out = Vec::new();
    loop {
        cur.skip_ws();
        if cur.rest().is_empty() {
            return Ok(out);
        }
        parse_item(cur, &mut out)?;
        if !(cur.rest().is_empty() || cur.rest().starts_with(char::is_whitespace)) {
            return Err(cur.err("unexpected character in series values"));
        }
    }
}

/// Consumes `x<uint>` if present.
fn times(cur: &mut Cursor<'_>) -> Result<Option<usize>, NotationError> {
    if !cur.rest().starts_with('x') {
        return Ok(None);
    }
    cur.bump();
    let col = cur.col();
    let start = cur.pos;
    while matches!(cur.peek(), Some(c) if c.is_ascii_digit()) {
        cur.bump();
    }
    cur.src[start..cur.pos]
        .parse()
        .map(Some)
        .map_err(|_| NotationError {
            col,
            msg: "expected repeat count after 'x'".into(),
        })
}

fn parse_item(cur: &mut Cursor<'_>, out: &mut Vec<SeriesValue>) -> Result<(), NotationError> {
    if cur.eat('_') {
        let n = times(cur)?.unwrap_or(1);
        out.extend(std::iter::repeat_n(SeriesValue::Missing, n));
        return Ok(());
    }
    if cur.rest().starts_with("{{") {
        let (h, hint_set) = histogram::parse_histogram(cur)?;
        let sign = match cur.peek() {
            Some('+') => 1.0,
            Some('-') => -1.0,
            _ => {
                let n = times(cur)?.unwrap_or(0);
                out.extend(std::iter::repeat_n(
                    SeriesValue::Histogram { h, hint_set },
                    n + 1,
                ));
                return Ok(());
            }
        };
        cur.bump();
        let col = cur.col();
        let (inc, _) = histogram::parse_histogram(cur)?;
        let n =
            times(cur)?.ok_or_else(|| cur.err("expected 'x<count>' after histogram increment"))?;
        let mut acc = h;
        for i in 0..=n {
            if i > 0 {
                acc =
                    histogram::combine(&acc, &inc, sign).map_err(|e| NotationError { col, ..e })?;
            }
            out.push(SeriesValue::Histogram {
                h: acc.clone(),
                hint_set,
            });
        }
        return Ok(());
    }
    let stale = cur.rest().starts_with("stale")
        && !matches!(cur.rest()[5..].chars().next(), Some(c) if c.is_ascii_alphanumeric() && c != 'x');
    let base = if stale {
        cur.pos += 5;
        None
    } else {
        Some(scan_number(cur, true)?)
    };
    let value = |v: Option<f64>| v.map_or(SeriesValue::Stale, SeriesValue::Float);
    if matches!(cur.peek(), Some('+' | '-')) {
        let inc = scan_number(cur, true)?;
        let n = times(cur)?.ok_or_else(|| cur.err("expected 'x<count>' after increment"))?;
        let mut acc = base.unwrap_or_else(stale_nan);
        for _ in 0..=n {
            out.push(SeriesValue::Float(acc));
            acc += inc;
        }
        return Ok(());
    }
    let n = times(cur)?.unwrap_or(0);
    out.extend(std::iter::repeat_n(value(base), n + 1));
    Ok(())
}

/// Scans a float: optional sign, then `Inf`/`NaN` (any case) or a decimal
/// with optional fraction and exponent. Stops before an `x` repeat marker
/// (hex is not allowed in series values: `0x3` means "0, three times").
pub(crate) fn scan_number(cur: &mut Cursor<'_>, signed: bool) -> Result<f64, NotationError> {
    let col = cur.col();
    let start = cur.pos;
    let mut neg = false;
    if signed && matches!(cur.peek(), Some('+' | '-')) {
        neg = cur.bump() == Some('-');
    }
    let special = ["infinity", "inf", "nan"].into_iter().find(|w| {
        let b = cur.rest().as_bytes();
        b.len() >= w.len()
            && b[..w.len()].eq_ignore_ascii_case(w.as_bytes())
            && !matches!(b.get(w.len()), Some(c) if c.is_ascii_alphanumeric() && *c != b'x')
    });
    let v = if let Some(w) = special {
        cur.pos += w.len();
        if w == "nan" {
            f64::NAN
        } else {
            f64::INFINITY
        }
    } else {
        let body = cur.pos;
        let digits = |cur: &mut Cursor<'_>| {
            let mut n = 0;
            while matches!(cur.peek(), Some(c) if c.is_ascii_digit()) {
                cur.bump();
                n += 1;
            }
            n
        };
        let mut n = digits(cur);
        if cur.eat('.') {
            n += digits(cur);
        }
        if n == 0 {
            cur.pos = start;
            return Err(NotationError {
                col,
                msg: format!(
                    "expected number, found {:?}",
                    cur.rest().split_whitespace().next().unwrap_or("")
                ),
            });
        }
        if matches!(cur.peek(), Some('e' | 'E')) {
            let save = cur.pos;
            cur.bump();
            if matches!(cur.peek(), Some('+' | '-')) {
                cur.bump();
            }
            if digits(cur) == 0 {
                cur.pos = save;
            }
        }
        cur.src[body..cur.pos]
            .parse::<f64>()
            .map_err(|e| NotationError {
                col,
                msg: format!("invalid number: {e}"),
            })?
    };
    Ok(if neg { -v } else { v })
}

#[cfg(test)]
mod tests;
