//! The streaming [`Parser`], the shared `{...}` label-block scanner, and the
//! convenience functions [`parse`] and [`duplicate_series`].

use std::borrow::Cow;
use std::collections::HashSet;

use crate::labels::LabelSet;
use crate::om_check::OmValidator;
use crate::scan::{
    is_label_char, is_label_start, scan_quoted, scan_while, skip_ws, unescape_label,
};
use crate::{omparse, promparse, Entry, Format, ParseError, ParseOptions, Sample};

/// What one line produced.
pub(crate) enum Step<'a> {
    /// Nothing (blank line in Prometheus text).
    Skip,
    /// Stop parsing (a NUL byte at the start of a Prometheus text line).
    Stop,
    /// An entry.
    Entry(Entry<'a>),
}

/// Scratch state shared by a parser's lines, reused to avoid allocation.
#[derive(Default)]
pub(crate) struct Scratch {
    /// (start, end, escaped) of label names in the current block.
    names: Vec<(usize, usize, bool)>,
}

/// A parsed `{...}` block.
pub(crate) struct Block<'a> {
    /// Index just past the closing brace.
    pub end: usize,
    /// The labels.
    pub set: LabelSet<'a>,
    /// A quoted metric name found inside the braces.
    pub name: Option<Cow<'a, str>>,
}

/// Where a label block appears, which decides its rules.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// Prometheus text: whitespace anywhere, free trailing/missing commas.
    Prom,
    /// OpenMetrics sample labels: no whitespace, commas strictly between.
    OmSample,
    /// OpenMetrics exemplar labels: as `OmSample`, no metric name allowed.
    OmExemplar,
}

/// Parses the label block opening at `line[open] == '{'`.
#[inline]
pub(crate) fn label_block<'a>(
    line_no: usize,
    line: &'a str,
    open: usize,
    kind: BlockKind,
    opts: &ParseOptions,
    scratch: &mut Scratch,
) -> Result<Block<'a>, ParseError> {
    let b = line.as_bytes();
    let err = |off: usize, msg: &str| ParseError::at(line_no, line, off, msg);
    let lax = kind == BlockKind::Prom;
    let mut i = open + 1;
    let mut count = 0usize;
    let mut name: Option<Cow<'a, str>> = None;
    let mut after_comma = false;
    scratch.names.clear();
    loop {
        if lax {
            i = skip_ws(b, i);
        }
        match b.get(i) {
            None => return Err(err(i, "unterminated label set: expected '}'")),
            Some(b'}') => {
                if after_comma && !lax {
                    return Err(err(i, "trailing comma in label set"));
                }
                break;
            }
            _ => {}
        }
        let (ns, ne, quoted, nesc);
        if b[i] == b'"' {
            let (end, esc) =
                scan_quoted(b, i).ok_or_else(|| err(i, "unterminated quoted label name"))?;
            (ns, ne, quoted, nesc) = (i + 1, end - 1, true, esc);
            i = end;
        } else if is_label_start(b[i]) {
            let end = scan_while(b, i, is_label_char);
            (ns, ne, quoted, nesc) = (i, end, false, false);
            i = end;
        } else {
            return Err(err(i, "expected label name"));
        }
        if ne - ns > opts.max_label_name_len {
            return Err(err(ns, "label name too long"));
        }
        if lax {
            i = skip_ws(b, i);
        }
        after_comma = false;
        if quoted && matches!(b.get(i), Some(b',') | Some(b'}')) {
            if kind == BlockKind::OmExemplar {
                return Err(err(ns, "exemplar labels cannot contain a metric name"));
            }
            if name.is_some() {
                return Err(err(ns, "metric name already set"));
            }
            if ne - ns > opts.max_metric_name_len {
                return Err(err(ns, "metric name too long"));
            }
            name = Some(unescape_label(&line[ns..ne]));
            if b[i] == b',' {
                i += 1;
                after_comma = true;
            }
            continue;
        }
        if b.get(i) != Some(&b'=') {
            return Err(err(i, "expected '=' after label name"));
        }
        i += 1;
        if lax {
            i = skip_ws(b, i);
        }
        if b.get(i) != Some(&b'"') {
            return Err(err(i, "expected quoted label value"));
        }
        let (end, _) = scan_quoted(b, i).ok_or_else(|| err(i, "unterminated label value"))?;
        if end - i - 2 > opts.max_label_value_len {
            return Err(err(i, "label value too long"));
        }
        i = end;
        count += 1;
        if count > opts.max_labels {
            return Err(err(ns, "too many labels"));
        }
        scratch.names.push((ns, ne, quoted && nesc));
        if lax {
            i = skip_ws(b, i);
        }
        match b.get(i) {
            Some(b',') => {
                i += 1;
                after_comma = true;
            }
            Some(b'}') => {}
            _ if lax => {}
            _ => return Err(err(i, "expected ',' or '}' after label value")),
        }
    }
    check_duplicates(line_no, line, kind, &scratch.names)?;
    Ok(Block {
        end: i + 1,
        set: LabelSet::new(&line[open + 1..i], count),
        name,
    })
}

#[inline]
fn check_duplicates(
    line_no: usize,
    line: &str,
    kind: BlockKind,
    names: &[(usize, usize, bool)],
) -> Result<(), ParseError> {
    let fail = |off: usize, msg: String| Err(ParseError::at(line_no, line, off, msg));
    let b = line.as_bytes();
    if !names.iter().any(|n| n.2) {
        // Fast path: no escaped (quoted) names, compare raw bytes.
        for (k, &(s, e, _)) in names.iter().enumerate() {
            let nk = &b[s..e];
            if kind != BlockKind::OmExemplar && nk == b"__name__" {
                return fail(s, "label __name__ duplicates the metric name".into());
            }
            if names[..k].iter().any(|&(s2, e2, _)| &b[s2..e2] == nk) {
                return fail(s, format!("duplicate label name {:?}", &line[s..e]));
            }
        }
        return Ok(());
    }
    let get = |&(s, e, esc): &(usize, usize, bool)| -> Cow<'_, str> {
        if esc {
            unescape_label(&line[s..e])
        } else {
            Cow::Borrowed(&line[s..e])
        }
    };
    for (k, n) in names.iter().enumerate() {
        let nk = get(n);
        if kind != BlockKind::OmExemplar && nk == "__name__" {
            return fail(n.0, "label __name__ duplicates the metric name".into());
        }
        if names[..k].iter().any(|m| get(m) == nk) {
            return fail(n.0, format!("duplicate label name {nk:?}"));
        }
    }
    Ok(())
}

/// A streaming parser over one exposition body. Iterate it (or call
/// [`Parser::next_entry`]) to get [`Entry`]s borrowing from the input. After
/// an error the parser is finished.
pub struct Parser<'a> {
    text: &'a str,
    pending_err: Option<ParseError>,
    pos: usize,
    line_no: usize,
    format: Format,
    opts: ParseOptions,
    done: bool,
    eof_seen: bool,
    prom: promparse::PromState<'a>,
    om: Option<Box<OmValidator>>,
    scratch: Scratch,
}

impl<'a> Parser<'a> {
    /// A parser with default [`ParseOptions`].
    pub fn new(input: &'a [u8], format: Format) -> Self {
        Self::with_options(input, format, ParseOptions::default())
    }

    /// A parser with explicit limits and options.
    pub fn with_options(input: &'a [u8], format: Format, opts: ParseOptions) -> Self {
        let (text, pending_err) = match std::str::from_utf8(input) {
            Ok(t) => (t, None),
            Err(e) => ("", Some(utf8_error(input, e.valid_up_to()))),
        };
        Parser {
            text,
            pending_err,
            pos: 0,
            line_no: 0,
            format,
            opts,
            done: false,
            eof_seen: false,
            prom: promparse::PromState::default(),
            om: (format == Format::OpenMetrics).then(|| Box::new(OmValidator::new())),
            scratch: Scratch::default(),
        }
    }

    /// The next entry, `Ok(None)` at the end of the input.
    #[inline]
    pub fn next_entry(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        let r = self.next_inner();
        if r.is_err() {
            self.done = true;
        }
        r
    }

    #[inline]
    fn next_inner(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        if let Some(e) = self.pending_err.take() {
            return Err(e);
        }
        loop {
            if self.done {
                return Ok(None);
            }
            if self.pos >= self.text.len() {
                self.done = true;
                if let Some(om) = self.om.as_mut() {
                    om.finish(
                        self.eof_seen,
                        self.opts.om_strictness == crate::OmStrictness::Reference,
                    )
                    .map_err(|e| ParseError {
                        line: self.line_no.max(1),
                        col: 1,
                        msg: e.to_string(),
                    })?;
                }
                return Ok(None);
            }
            let rest = &self.text[self.pos..];
            let (line, next) = match memchr::memchr(b'\n', rest.as_bytes()) {
                Some(i) => (&rest[..i], self.pos + i + 1),
                None => (rest, self.text.len()),
            };
            self.pos = next;
            self.line_no += 1;
            if line.len() > self.opts.max_line_len {
                return Err(ParseError::at(self.line_no, line, 0, "line too long"));
            }
            let step = match self.om.as_mut() {
                None => promparse::line(
                    &mut self.prom,
                    self.line_no,
                    line,
                    &self.opts,
                    &mut self.scratch,
                )?,
                Some(om) => {
                    let st = omparse::line(
                        om,
                        self.eof_seen,
                        self.line_no,
                        line,
                        &self.opts,
                        &mut self.scratch,
                    )?;
                    if let Step::Entry(Entry::Eof) = st {
                        self.eof_seen = true;
                    }
                    st
                }
            };
            match step {
                Step::Skip => continue,
                Step::Stop => {
                    self.done = true;
                    return Ok(None);
                }
                Step::Entry(e) => return Ok(Some(e)),
            }
        }
    }

    /// The format this parser reads.
    pub fn format(&self) -> Format {
        self.format
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry().transpose()
    }
}

fn utf8_error(input: &[u8], valid: usize) -> ParseError {
    let prefix = &input[..valid];
    let line = prefix.iter().filter(|&&c| c == b'\n').count() + 1;
    let line_start = memchr::memrchr(b'\n', prefix).map_or(0, |i| i + 1);
    let col = std::str::from_utf8(&prefix[line_start..])
        .map_or(valid - line_start, |s| s.chars().count())
        + 1;
    ParseError {
        line,
        col,
        msg: "invalid UTF-8".into(),
    }
}

/// Parses a whole body and returns its samples (metadata dropped).
pub fn parse(input: &[u8], format: Format) -> Result<Vec<Sample<'_>>, ParseError> {
    parse_with_options(input, format, ParseOptions::default())
}

/// [`parse`] with explicit options.
pub fn parse_with_options(
    input: &[u8],
    format: Format,
    opts: ParseOptions,
) -> Result<Vec<Sample<'_>>, ParseError> {
    let mut out = Vec::with_capacity(input.len() / 64);
    let mut p = Parser::with_options(input, format, opts);
    while let Some(e) = p.next_entry()? {
        if let Entry::Sample(s) = e {
            out.push(s);
        }
    }
    Ok(out)
}

/// Indices of samples that repeat an earlier sample's series (same name and
/// label set, in any label order) with the same timestamp (or both without
/// one). Prometheus drops such samples at append time and counts them as
/// "duplicate sample for timestamp"; the parser leaves that to the scraper.
pub fn duplicate_series(samples: &[Sample<'_>]) -> Vec<usize> {
    let mut seen = HashSet::with_capacity(samples.len());
    let mut dups = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> =
            s.labels.iter().map(|l| (l.name, l.value)).collect();
        pairs.sort_unstable();
        if !seen.insert((s.name.as_ref(), pairs, s.timestamp_ms)) {
            dups.push(i);
        }
    }
    dups
}
