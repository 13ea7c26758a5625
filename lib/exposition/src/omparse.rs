//! OpenMetrics 1.0 text, line by line: the syntax of Prometheus'
//! `openmetricslex.l` (single spaces, no blank lines, `# EOF` last, float
//! second timestamps, exemplars after ` # `) combined with the stricter
//! syntax rules of the Python reference parser. The semantic rules (family
//! grouping, type-specific values) live in [`crate::om_check`].

use std::borrow::Cow;

use crate::om_check::{MetaKind, OmError, OmValidator, SampleFacts};
use crate::parser::{label_block, BlockKind, Scratch, Step};
use crate::scan::{
    is_metric_char, is_metric_start, parse_om_timestamp, parse_value, scan_quoted, scan_while,
    seconds_to_ms, unescape_help, unescape_label,
};
use crate::{
    Entry, Exemplar, LabelSet, MetricType, OmStrictness, ParseError, ParseOptions, Sample,
};

/// Longest exemplar label set, in characters of names plus values.
const EXEMPLAR_MAX_CHARS: usize = 128;

/// Parses one line (without its newline).
pub(crate) fn line<'a>(
    om: &mut OmValidator,
    eof_seen: bool,
    line_no: usize,
    line: &'a str,
    opts: &ParseOptions,
    scratch: &mut Scratch,
) -> Result<Step<'a>, ParseError> {
    let err = |off: usize, msg: String| ParseError::at(line_no, line, off, msg);
    if eof_seen {
        return Err(err(0, "unexpected data after # EOF".into()));
    }
    if line.is_empty() {
        return Err(err(0, "blank lines are not allowed in OpenMetrics".into()));
    }
    if line == "# EOF" {
        return Ok(Step::Entry(Entry::Eof));
    }
    if line.starts_with('#') {
        return meta(om, line_no, line, opts);
    }
    sample(om, line_no, line, opts, scratch)
}

fn meta<'a>(
    om: &mut OmValidator,
    line_no: usize,
    line: &'a str,
    opts: &ParseOptions,
) -> Result<Step<'a>, ParseError> {
    let b = line.as_bytes();
    let err = |off: usize, msg: String| ParseError::at(line_no, line, off, msg);
    let kind = if line.starts_with("# HELP ") {
        MetaKind::Help
    } else if line.starts_with("# TYPE ") {
        MetaKind::Type
    } else if line.starts_with("# UNIT ") {
        MetaKind::Unit
    } else {
        return Err(err(
            0,
            "invalid line: expected '# HELP', '# TYPE', '# UNIT' or '# EOF'".into(),
        ));
    };
    let m = 7;
    let (name, name_end) = match b.get(m) {
        Some(b'"') => {
            let (end, _) = scan_quoted(b, m)
                .ok_or_else(|| err(m, "unterminated quoted metric name".into()))?;
            (unescape_label(&line[m + 1..end - 1]), end)
        }
        Some(&c) if is_metric_start(c) => {
            let end = scan_while(b, m, is_metric_char);
            (Cow::Borrowed(&line[m..end]), end)
        }
        _ => return Err(err(m, "expected metric name".into())),
    };
    if name.len() > opts.max_metric_name_len {
        return Err(err(m, "metric name too long".into()));
    }
    if b.get(name_end) != Some(&b' ') {
        return Err(err(
            name_end,
            "expected a single space after the metric name".into(),
        ));
    }
    let text = &line[name_end + 1..];
    let strict = opts.om_strictness == OmStrictness::Reference;
    let check = |r: Result<(), OmError>| {
        if strict {
            r.map_err(|e| err(0, e.to_string()))
        } else {
            Ok(())
        }
    };
    match kind {
        MetaKind::Help => {
            check(om.meta(kind, &name, text))?;
            Ok(Step::Entry(Entry::Help {
                name,
                help: unescape_help(text, true),
            }))
        }
        MetaKind::Unit => {
            check(om.meta(kind, &name, text))?;
            Ok(Step::Entry(Entry::Unit {
                name,
                unit: Cow::Borrowed(text),
            }))
        }
        MetaKind::Type => {
            let metric_type = match text {
                "counter" => MetricType::Counter,
                "gauge" => MetricType::Gauge,
                "histogram" => MetricType::Histogram,
                "gaugehistogram" => MetricType::GaugeHistogram,
                "summary" => MetricType::Summary,
                "info" => MetricType::Info,
                "stateset" => MetricType::StateSet,
                "unknown" => MetricType::Unknown,
                _ => return Err(err(name_end + 1, format!("invalid metric type {text:?}"))),
            };
            check(om.meta(kind, &name, text))?;
            om.set_type(metric_type);
            Ok(Step::Entry(Entry::Type { name, metric_type }))
        }
    }
}

/// The end of a space-delimited token starting at `i`.
fn token_end(b: &[u8], i: usize) -> usize {
    memchr::memchr(b' ', &b[i..]).map_or(b.len(), |k| i + k)
}

fn sample<'a>(
    om: &mut OmValidator,
    line_no: usize,
    line: &'a str,
    opts: &ParseOptions,
    scratch: &mut Scratch,
) -> Result<Step<'a>, ParseError> {
    let b = line.as_bytes();
    let err = |off: usize, msg: String| ParseError::at(line_no, line, off, msg);
    let mut i = 0;
    let mut name: Option<Cow<'a, str>> = None;
    if is_metric_start(b[0]) {
        i = scan_while(b, 0, is_metric_char);
        if i > opts.max_metric_name_len {
            return Err(err(0, "metric name too long".into()));
        }
        name = Some(Cow::Borrowed(&line[..i]));
    } else if b[0] != b'{' {
        return Err(err(0, "expected metric name".into()));
    }
    let mut labels = LabelSet::default();
    if b.get(i) == Some(&b'{') {
        let blk = label_block(line_no, line, i, BlockKind::OmSample, opts, scratch)?;
        if let Some(n) = blk.name {
            if name.is_some() {
                return Err(err(i, "metric name already set".into()));
            }
            name = Some(n);
        }
        labels = blk.set;
        i = blk.end;
    }
    let Some(name) = name else {
        return Err(err(0, "metric name not set".into()));
    };
    if b.get(i) != Some(&b' ') {
        return Err(err(i, "expected a single space before the value".into()));
    }
    i += 1;
    let vend = token_end(b, i);
    let tok = &line[i..vend];
    let value = parse_value(tok).ok_or_else(|| err(i, format!("invalid value {tok:?}")))?;
    i = vend;
    let mut ts: Option<f64> = None;
    let mut exemplar = None;
    if i < b.len() {
        i += 1; // the space
        if b.get(i) != Some(&b'#') {
            let tend = token_end(b, i);
            let tok = &line[i..tend];
            ts = Some(
                parse_om_timestamp(tok)
                    .ok_or_else(|| err(i, format!("invalid timestamp {tok:?}")))?,
            );
            i = tend;
            if i < b.len() {
                i += 1;
                if b.get(i) != Some(&b'#') {
                    return Err(err(i, "expected ' # {' exemplar or end of line".into()));
                }
            }
        }
        if i < b.len() {
            exemplar = Some(Box::new(parse_exemplar(line_no, line, i, opts, scratch)?));
        }
    }
    let facts = SampleFacts {
        name: &name,
        labels: &labels,
        value,
        ts,
        has_exemplar: exemplar.is_some(),
    };
    let (metric_type, is_created) = match om.sample(&facts) {
        Ok(r) => r,
        Err(e) if opts.om_strictness == OmStrictness::Reference => {
            return Err(err(0, e.to_string()))
        }
        Err(_) => om.current_family(&name),
    };
    if is_created && opts.skip_created_series {
        return Ok(Step::Skip);
    }
    Ok(Step::Entry(Entry::Sample(Sample {
        name,
        labels,
        value,
        timestamp_ms: ts.map(seconds_to_ms),
        exemplar,
        metric_type,
        line: line_no,
    })))
}

/// Parses `# {labels} value[ timestamp]` starting at `line[hash] == '#'`,
/// which must run to the end of the line.
fn parse_exemplar<'a>(
    line_no: usize,
    line: &'a str,
    hash: usize,
    opts: &ParseOptions,
    scratch: &mut Scratch,
) -> Result<Exemplar<'a>, ParseError> {
    let b = line.as_bytes();
    let err = |off: usize, msg: String| ParseError::at(line_no, line, off, msg);
    if !line[hash..].starts_with("# {") {
        return Err(err(hash, "expected exemplar ' # {'".into()));
    }
    let blk = label_block(
        line_no,
        line,
        hash + 2,
        BlockKind::OmExemplar,
        opts,
        scratch,
    )?;
    let chars: usize = blk
        .set
        .iter()
        .map(|l| l.name.chars().count() + l.value.chars().count())
        .sum();
    if chars > EXEMPLAR_MAX_CHARS {
        return Err(err(
            hash + 2,
            format!("exemplar labels have {chars} characters, more than {EXEMPLAR_MAX_CHARS}"),
        ));
    }
    let mut i = blk.end;
    if b.get(i) != Some(&b' ') {
        return Err(err(i, "expected a space before the exemplar value".into()));
    }
    i += 1;
    let vend = token_end(b, i);
    let tok = &line[i..vend];
    let value =
        parse_value(tok).ok_or_else(|| err(i, format!("invalid exemplar value {tok:?}")))?;
    let mut timestamp_ms = None;
    if vend < b.len() {
        let t = vend + 1;
        let tok = &line[t..];
        let secs = parse_om_timestamp(tok)
            .ok_or_else(|| err(t, format!("invalid exemplar timestamp {tok:?}")))?;
        timestamp_ms = Some(seconds_to_ms(secs));
    }
    Ok(Exemplar {
        labels: blk.set,
        value,
        timestamp_ms,
    })
}
