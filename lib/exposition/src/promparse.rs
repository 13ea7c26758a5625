//! Prometheus text format 0.0.4, line by line, with exactly the token rules
//! of Prometheus' `promlex.l`/`promparse.go`: spaces and tabs between any
//! tokens, blank lines, free comments, `# HELP`/`# TYPE` metadata, optional
//! label block (optionally with a quoted UTF-8 metric name inside), a float
//! value without hex/underscores, and an optional `[0-9]+` ms timestamp.
//!
//! Known deviation: a quoted string spanning a raw newline (which Prometheus'
//! lexer would accept) is rejected.

use std::borrow::Cow;

use crate::parser::{label_block, BlockKind, Scratch, Step};
use crate::scan::{
    is_metric_char, is_metric_start, parse_prom_timestamp, parse_value, scan_quoted, scan_while,
    skip_ws, unescape_help, unescape_label,
};
use crate::{Entry, LabelSet, MetricType, ParseError, ParseOptions, Sample};

/// Family context from the last `# TYPE` line.
#[derive(Default)]
pub(crate) struct PromState<'a> {
    family: Option<Cow<'a, str>>,
    ftype: MetricType,
}

/// Whether sample `name` belongs to family `family` of type `t`
/// (Prometheus' `isSeriesPartOfFamily`).
pub(crate) fn in_family(name: &str, family: &str, t: MetricType) -> bool {
    let Some(rest) = name.strip_prefix(family) else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let suffixes: &[&str] = match t {
        MetricType::Counter => &["_total"],
        MetricType::Histogram => &["_bucket", "_sum", "_count"],
        MetricType::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
        MetricType::Summary => &["_sum", "_count"],
        MetricType::Info => &["_info"],
        _ => &[],
    };
    suffixes.contains(&rest)
}

/// Parses one line (without its newline).
#[inline]
pub(crate) fn line<'a>(
    st: &mut PromState<'a>,
    line_no: usize,
    line: &'a str,
    opts: &ParseOptions,
    scratch: &mut Scratch,
) -> Result<Step<'a>, ParseError> {
    let b = line.as_bytes();
    let i = skip_ws(b, 0);
    let Some(&c) = b.get(i) else {
        return Ok(Step::Skip);
    };
    match c {
        0 => Ok(Step::Stop),
        b'#' => meta(st, line_no, line, i, opts),
        b'{' => sample(st, line_no, line, i, opts, scratch),
        c if is_metric_start(c) => sample(st, line_no, line, i, opts, scratch),
        _ => Err(ParseError::at(
            line_no,
            line,
            i,
            "expected a valid start token (metric name, '{' or '#')",
        )),
    }
}

fn meta<'a>(
    st: &mut PromState<'a>,
    line_no: usize,
    line: &'a str,
    hash: usize,
    opts: &ParseOptions,
) -> Result<Step<'a>, ParseError> {
    let b = line.as_bytes();
    let comment = Ok(Step::Entry(Entry::Comment(&line[hash..])));
    let k = skip_ws(b, hash + 1);
    if k == hash + 1 {
        return comment;
    }
    let is_help = b[k..].starts_with(b"HELP");
    let is_type = b[k..].starts_with(b"TYPE");
    if !(is_help || is_type) || !matches!(b.get(k + 4), Some(b' ' | b'\t')) {
        return comment;
    }
    let what = if is_help { "HELP" } else { "TYPE" };
    let m = skip_ws(b, k + 4);
    let (name, name_end) = match b.get(m) {
        Some(b'"') => {
            let (end, _) = scan_quoted(b, m).ok_or_else(|| {
                ParseError::at(line_no, line, m, "unterminated quoted metric name")
            })?;
            (unescape_label(&line[m + 1..end - 1]), end)
        }
        Some(&c) if is_metric_start(c) => {
            let end = scan_while(b, m, is_metric_char);
            (Cow::Borrowed(&line[m..end]), end)
        }
        _ => {
            return Err(ParseError::at(
                line_no,
                line,
                m,
                format!("expected metric name after {what}"),
            ))
        }
    };
    if name.len() > opts.max_metric_name_len {
        return Err(ParseError::at(line_no, line, m, "metric name too long"));
    }
    let rest = &line[name_end..];
    // The lexer's `{C}*` text token loses its first character, unless the
    // rest is only whitespace (then the whitespace rule wins and text is "").
    let text = if rest.bytes().all(|c| c == b' ' || c == b'\t') {
        ""
    } else {
        rest.get(1..).ok_or_else(|| {
            ParseError::at(
                line_no,
                line,
                name_end,
                format!("{what} text is not valid UTF-8"),
            )
        })?
    };
    if is_help {
        return Ok(Step::Entry(Entry::Help {
            name,
            help: unescape_help(text, false),
        }));
    }
    let metric_type = match text {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "summary" => MetricType::Summary,
        "untyped" => MetricType::Unknown,
        _ => {
            return Err(ParseError::at(
                line_no,
                line,
                name_end + 1,
                format!("invalid metric type {text:?}"),
            ))
        }
    };
    st.family = Some(name.clone());
    st.ftype = metric_type;
    Ok(Step::Entry(Entry::Type { name, metric_type }))
}

#[inline]
fn sample<'a>(
    st: &mut PromState<'a>,
    line_no: usize,
    line: &'a str,
    start: usize,
    opts: &ParseOptions,
    scratch: &mut Scratch,
) -> Result<Step<'a>, ParseError> {
    let b = line.as_bytes();
    let err = |off: usize, msg: String| ParseError::at(line_no, line, off, msg);
    let mut i = start;
    let mut name: Option<Cow<'a, str>> = None;
    if is_metric_start(b[i]) {
        let end = scan_while(b, i, is_metric_char);
        if end - i > opts.max_metric_name_len {
            return Err(err(i, "metric name too long".into()));
        }
        name = Some(Cow::Borrowed(&line[i..end]));
        i = skip_ws(b, end);
    }
    let mut labels = LabelSet::default();
    if b.get(i) == Some(&b'{') {
        let blk = label_block(line_no, line, i, BlockKind::Prom, opts, scratch)?;
        if let Some(n) = blk.name {
            if name.is_some() {
                return Err(err(i, "metric name already set".into()));
            }
            name = Some(n);
        }
        labels = blk.set;
        i = skip_ws(b, blk.end);
    }
    let Some(name) = name else {
        return Err(err(start, "metric name not set".into()));
    };
    let vend = scan_while(b, i, |c| c != b'{' && c != b' ' && c != b'\t');
    if vend == i {
        return Err(err(i, "expected value after metric".into()));
    }
    let tok = &line[i..vend];
    let value = parse_value(tok).ok_or_else(|| err(i, format!("invalid value {tok:?}")))?;
    i = skip_ws(b, vend);
    let mut timestamp_ms = None;
    if i < b.len() {
        let tend = scan_while(b, i, |c| c.is_ascii_digit());
        if tend == i {
            return Err(err(i, "expected timestamp or end of line".into()));
        }
        let tok = &line[i..tend];
        timestamp_ms = Some(
            parse_prom_timestamp(tok)
                .ok_or_else(|| err(i, format!("invalid timestamp {tok:?}")))?,
        );
        let j = skip_ws(b, tend);
        if j < b.len() {
            return Err(err(j, "expected end of line after timestamp".into()));
        }
    }
    let metric_type = match &st.family {
        Some(f) if in_family(&name, f, st.ftype) => st.ftype,
        _ => MetricType::Unknown,
    };
    Ok(Step::Entry(Entry::Sample(Sample {
        name,
        labels,
        value,
        timestamp_ms,
        exemplar: None,
        metric_type,
        line: line_no,
    })))
}
