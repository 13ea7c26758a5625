//! Native histogram literals in series notation:
//! `{{schema:1 sum:3 count:22 z_bucket:1 z_bucket_w:0.001 buckets:[5 10 7]
//! offset:1 n_buckets:[1 2] n_offset:0 custom_values:[1 5]
//! counter_reset_hint:gauge}}`, plus the bucket-wise addition used by
//! `{{a}}+{{b}}xN` / `{{a}}-{{b}}xN` expansion.
//!
//! As upstream does, `buckets:[...]` with `offset:N` becomes a single span
//! `(N, len)`; the same for `n_buckets`/`n_offset`.

use super::labels::Cursor;
use super::NotationError;
use std::collections::BTreeMap;
use watchfire_promql::storage::{CounterResetHint, FloatHistogram};

/// Schema of histograms with custom bucket bounds.
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// Parses `{{...}}` at the cursor. Returns the histogram and whether a
/// `counter_reset_hint` was given explicitly.
pub(crate) fn parse_histogram(
    cur: &mut Cursor<'_>,
) -> Result<(FloatHistogram, bool), NotationError> {
    if !cur.rest().starts_with("{{") {
        return Err(cur.err("expected '{{'"));
    }
    cur.pos += 2;
    let mut h = FloatHistogram::default();
    let mut hint_set = false;
    let (mut buckets, mut offset, mut n_buckets, mut n_offset) =
        (Vec::new(), 0i32, Vec::new(), 0i32);
    loop {
        cur.skip_ws();
        if cur.rest().starts_with("}}") {
            cur.pos += 2;
            break;
        }
        let key_col = cur.col();
        let key = cur
            .ident(false)
            .ok_or_else(|| cur.err("expected histogram field or '}}'"))?;
        if !cur.eat(':') {
            return Err(cur.err(format!("expected ':' after {key:?}")));
        }
        cur.skip_ws();
        match key {
            "schema" => h.schema = int(cur)?,
            "sum" => h.sum = float(cur)?,
            "count" => h.count = float(cur)?,
            "z_bucket" => h.zero_count = float(cur)?,
            "z_bucket_w" => h.zero_threshold = float(cur)?,
            "buckets" => buckets = list(cur)?,
            "offset" => offset = int(cur)?,
            "n_buckets" => n_buckets = list(cur)?,
            "n_offset" => n_offset = int(cur)?,
            "custom_values" => h.custom_values = list(cur)?,
            "counter_reset_hint" => {
                let col = cur.col();
                h.counter_reset_hint = match cur.ident(false) {
                    Some("unknown") => CounterResetHint::Unknown,
                    Some("reset") => CounterResetHint::Reset,
                    Some("not_reset") => CounterResetHint::NotReset,
                    Some("gauge") => CounterResetHint::Gauge,
                    other => {
                        return Err(NotationError {
                            col,
                            msg: format!("invalid counter_reset_hint {:?}", other.unwrap_or("")),
                        })
                    }
                };
                hint_set = true;
            }
            other => {
                return Err(NotationError {
                    col: key_col,
                    msg: format!("unknown histogram field {other:?}"),
                })
            }
        }
    }
    if !buckets.is_empty() {
        h.positive_spans = vec![(offset, buckets.len() as u32)];
        h.positive_buckets = buckets;
    }
    if !n_buckets.is_empty() {
        h.negative_spans = vec![(n_offset, n_buckets.len() as u32)];
        h.negative_buckets = n_buckets;
    }
    Ok((h, hint_set))
}

fn int(cur: &mut Cursor<'_>) -> Result<i32, NotationError> {
    let col = cur.col();
    let start = cur.pos;
    if matches!(cur.peek(), Some('-' | '+')) {
        cur.bump();
    }
    while matches!(cur.peek(), Some(c) if c.is_ascii_digit()) {
        cur.bump();
    }
    cur.src[start..cur.pos].parse().map_err(|_| NotationError {
        col,
        msg: "expected integer".into(),
    })
}

fn float(cur: &mut Cursor<'_>) -> Result<f64, NotationError> {
    super::scan_number(cur, true)
}

fn list(cur: &mut Cursor<'_>) -> Result<Vec<f64>, NotationError> {
    if !cur.eat('[') {
        return Err(cur.err("expected '['"));
    }
    let mut out = Vec::new();
    loop {
        cur.skip_ws();
        if cur.eat(']') {
            return Ok(out);
        }
        out.push(float(cur)?);
        cur.skip_ws();
        cur.eat(',');
    }
}

/// Bucket index → count for one side of a histogram.
fn bucket_map(spans: &[(i32, u32)], buckets: &[f64]) -> BTreeMap<i32, f64> {
    let mut m = BTreeMap::new();
    let mut idx = 0i32;
    let mut it = buckets.iter();
    for (i, &(off, len)) in spans.iter().enumerate() {
        idx = if i == 0 { off } else { idx + off };
        for _ in 0..len {
            if let Some(&b) = it.next() {
                *m.entry(idx).or_insert(0.0) += b;
            }
            idx += 1;
        }
    }
    m
}

/// Spans and buckets from an index map; contiguous indices share a span.
fn from_bucket_map(m: &BTreeMap<i32, f64>) -> (Vec<(i32, u32)>, Vec<f64>) {
    let mut spans: Vec<(i32, u32)> = Vec::new();
    let mut buckets = Vec::new();
    let mut next: Option<i32> = None;
    for (&i, &v) in m {
        match (next, spans.last_mut()) {
            (Some(n), Some(last)) if n == i => last.1 += 1,
            (Some(n), _) => spans.push((i - n, 1)),
            (None, _) => spans.push((i, 1)),
        }
        buckets.push(v);
        next = Some(i + 1);
    }
    (spans, buckets)
}

/// Re-indexes a bucket map from `from` schema to the coarser `to` schema.
fn downscale(m: BTreeMap<i32, f64>, from: i32, to: i32) -> BTreeMap<i32, f64> {
    if from <= to || from == CUSTOM_BUCKETS_SCHEMA {
        return m;
    }
    let delta = (from - to) as u32;
    let mut out = BTreeMap::new();
    for (i, v) in m {
        *out.entry(((i - 1) >> delta) + 1).or_insert(0.0) += v;
    }
    out
}

/// `a + sign*b` bucket-wise, at the coarser of the two schemas, the way
/// upstream's `FloatHistogram.Add`/`Sub` combine expansion steps.
pub(crate) fn combine(
    a: &FloatHistogram,
    b: &FloatHistogram,
    sign: f64,
) -> Result<FloatHistogram, NotationError> {
    let custom = a.schema == CUSTOM_BUCKETS_SCHEMA || b.schema == CUSTOM_BUCKETS_SCHEMA;
    if custom && (a.schema != b.schema || a.custom_values != b.custom_values) {
        return Err(NotationError {
            col: 0,
            msg: "cannot combine histograms with different custom buckets".into(),
        });
    }
    let schema = a.schema.min(b.schema);
    let side = |sa: &[(i32, u32)], ba: &[f64], sb: &[(i32, u32)], bb: &[f64]| {
        let mut ma = downscale(bucket_map(sa, ba), a.schema, schema);
        for (i, v) in downscale(bucket_map(sb, bb), b.schema, schema) {
            *ma.entry(i).or_insert(0.0) += sign * v;
        }
        from_bucket_map(&ma)
    };
    let (positive_spans, positive_buckets) = side(
        &a.positive_spans,
        &a.positive_buckets,
        &b.positive_spans,
        &b.positive_buckets,
    );
    let (negative_spans, negative_buckets) = side(
        &a.negative_spans,
        &a.negative_buckets,
        &b.negative_spans,
        &b.negative_buckets,
    );
    let hint = if a.counter_reset_hint == b.counter_reset_hint {
        a.counter_reset_hint
    } else if a.counter_reset_hint == CounterResetHint::Gauge
        || b.counter_reset_hint == CounterResetHint::Gauge
    {
        CounterResetHint::Gauge
    } else {
        CounterResetHint::Unknown
    };
    Ok(FloatHistogram {
        schema,
        zero_threshold: a.zero_threshold.max(b.zero_threshold),
        zero_count: a.zero_count + sign * b.zero_count,
        count: a.count + sign * b.count,
        sum: a.sum + sign * b.sum,
        positive_spans,
        positive_buckets,
        negative_spans,
        negative_buckets,
        custom_values: a.custom_values.clone(),
        counter_reset_hint: hint,
    })
}

/// The histogram with empty buckets removed and spans merged, so two
/// encodings of the same distribution compare equal (upstream compares
/// `Compact(0)` forms).
pub fn compact(h: &FloatHistogram) -> FloatHistogram {
    let side = |s: &[(i32, u32)], b: &[f64]| {
        let mut m = bucket_map(s, b);
        m.retain(|_, v| *v != 0.0);
        from_bucket_map(&m)
    };
    let (positive_spans, positive_buckets) = side(&h.positive_spans, &h.positive_buckets);
    let (negative_spans, negative_buckets) = side(&h.negative_spans, &h.negative_buckets);
    FloatHistogram {
        positive_spans,
        positive_buckets,
        negative_spans,
        negative_buckets,
        ..h.clone()
    }
}

/// Renders a histogram in the `{{...}}` notation (for diffs).
pub fn render(h: &FloatHistogram) -> String {
    let mut s = format!("{{{{schema:{} count:{} sum:{}", h.schema, h.count, h.sum);
    if h.zero_count != 0.0 || h.zero_threshold != 0.0 {
        s += &format!(" z_bucket:{} z_bucket_w:{}", h.zero_count, h.zero_threshold);
    }
    let fmt_list = |v: &[f64]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if !h.positive_buckets.is_empty() {
        s += &format!(
            " buckets:[{}] spans:{:?}",
            fmt_list(&h.positive_buckets),
            h.positive_spans
        );
    }
    if !h.negative_buckets.is_empty() {
        s += &format!(
            " n_buckets:[{}] n_spans:{:?}",
            fmt_list(&h.negative_buckets),
            h.negative_spans
        );
    }
    if !h.custom_values.is_empty() {
        s += &format!(" custom_values:[{}]", fmt_list(&h.custom_values));
    }
    s += &format!(" counter_reset_hint:{:?}}}}}", h.counter_reset_hint);
    s
}
