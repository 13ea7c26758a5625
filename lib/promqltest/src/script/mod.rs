//! Parser for promqltest scripts (`load`, `clear`, `eval ...` blocks with
//! `expect` lines and expected series), following upstream
//! `promql/promqltest/test.go`:
//!
//! - lines are trimmed; `#` comment lines count as blank, and a blank line
//!   ends a block;
//! - the deprecated `eval_fail`/`eval_warn`/`eval_info`/`eval_ordered`
//!   forms and `expected_fail_message`/`expected_fail_regexp` are accepted;
//! - a bare number line is an expected scalar and ends the block.
//!
//! Pure: no I/O and no query parsing. A command that cannot be parsed is
//! kept as [`Command::Invalid`] so a runner can count it as a failure and
//! carry on with the rest of the file.

use crate::notation::{parse_series_line, SeriesValue};
use regex::Regex;
use std::sync::LazyLock;
use watchfire_promql::duration::parse_duration;
use watchfire_promql::labels::Labels;

/// A problem in a script, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct ScriptError {
    pub line: usize,
    pub msg: String,
}

/// A parsed script.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub commands: Vec<Command>,
}

#[derive(Debug, Clone)]
pub enum Command {
    Load(LoadCmd),
    Clear {
        line: usize,
    },
    Eval(Box<EvalCmd>),
    /// A command that failed to parse.
    Invalid(ScriptError),
}

/// `load <interval>` (or `load_with_nhcb`) and its series.
#[derive(Debug, Clone)]
pub struct LoadCmd {
    pub line: usize,
    pub interval_ms: i64,
    pub with_nhcb: bool,
    /// In file order; a later line with the same labels replaces an earlier one.
    pub series: Vec<(Labels, Vec<SeriesValue>)>,
}

/// When an eval runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalKind {
    Instant { t: i64 },
    Range { start: i64, end: i64, step: i64 },
}

/// The `<type>` of an `expect` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectKind {
    Fail,
    Warn,
    NoWarn,
    Info,
    NoInfo,
    Ordered,
}

/// How an `expect` line matches a message.
#[derive(Debug, Clone)]
pub enum TextMatch {
    /// No `msg:`/`regex:` part: anything matches.
    Any,
    /// `msg: <text>` exact match.
    Exact(String),
    /// `regex: <re>`, unanchored search.
    Regex(Regex),
}

impl TextMatch {
    pub fn matches(&self, s: &str) -> bool {
        match self {
            TextMatch::Any => true,
            TextMatch::Exact(m) => m == s,
            TextMatch::Regex(r) => r.is_match(s),
        }
    }
}

impl std::fmt::Display for TextMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextMatch::Any => f.write_str("<any>"),
            TextMatch::Exact(m) => write!(f, "msg {m:?}"),
            TextMatch::Regex(r) => write!(f, "regex {:?}", r.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Expect {
    pub kind: ExpectKind,
    pub matcher: TextMatch,
}

/// One expected series; `pos` is its 1-based position for ordered checks.
#[derive(Debug, Clone)]
pub struct ExpectedSeries {
    pub labels: Labels,
    pub pos: usize,
    pub values: Vec<SeriesValue>,
}

/// The expected result values.
#[derive(Debug, Clone)]
pub enum Expected {
    Scalar(f64),
    /// Possibly empty (no result expected).
    Series(Vec<ExpectedSeries>),
}

/// One `eval` command.
#[derive(Debug, Clone)]
pub struct EvalCmd {
    pub line: usize,
    pub expr: String,
    pub kind: EvalKind,
    /// Deprecated `eval_fail` / `eval_warn` / `eval_info` / `eval_ordered`.
    pub fail: bool,
    pub warn: bool,
    pub info: bool,
    pub ordered: bool,
    pub expected_fail_message: Option<String>,
    pub expected_fail_regexp: Option<Regex>,
    pub expects: Vec<Expect>,
    /// `expect range vector from <s> to <e> step <st>`: (start, end, step).
    pub range_vector: Option<(i64, i64, i64)>,
    /// `expect string "..."`.
    pub expected_string: Option<String>,
    /// Instant queries that must not be re-checked in range mode.
    pub exclude_from_range_query: bool,
    pub expected: Expected,
}

impl EvalCmd {
    pub fn is_fail(&self) -> bool {
        self.fail || self.expects.iter().any(|e| e.kind == ExpectKind::Fail)
    }

    pub fn is_ordered(&self) -> bool {
        self.ordered || self.expects.iter().any(|e| e.kind == ExpectKind::Ordered)
    }

    /// The `expect` lines of one kind.
    pub fn expects_of(&self, kind: ExpectKind) -> impl Iterator<Item = &TextMatch> {
        self.expects
            .iter()
            .filter(move |e| e.kind == kind)
            .map(|e| &e.matcher)
    }

    /// Whether any expected value is a native histogram.
    pub fn expects_histograms(&self) -> bool {
        match &self.expected {
            Expected::Scalar(_) => false,
            Expected::Series(s) => s.iter().any(|s| {
                s.values
                    .iter()
                    .any(|v| matches!(v, SeriesValue::Histogram { .. }))
            }),
        }
    }
}

static PAT_LOAD: LazyLock<Regex> = LazyLock::new(|| re(r"^load(?:_(with_nhcb))?\s+(.+?)$"));
static PAT_EVAL_INSTANT: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
});
static PAT_EVAL_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
});
static PAT_EXPECT: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
});
static PAT_EXPECT_RANGE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$"));

#[allow(clippy::expect_used)]
fn re(p: &str) -> Regex {
    Regex::new(p).expect("constant regex")
}

/// Parses a whole script. Never fails as a whole: unparsable commands
/// become [`Command::Invalid`].
pub fn parse_script(input: &str) -> Script {
    let lines: Vec<&str> = input
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let word = l
            .split([' ', '\t'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let res = if word == "clear" {
            Ok(Command::Clear { line: i + 1 })
        } else if word.starts_with("load") {
            parse_load(&lines, &mut i).map(Command::Load)
        } else if word.starts_with("eval") {
            parse_eval(&lines, &mut i).map(|c| Command::Eval(Box::new(c)))
        } else {
            Err(ScriptError {
                line: i + 1,
                msg: format!("invalid command {l:?}"),
            })
        };
        match res {
            Ok(c) => commands.push(c),
            Err(e) => {
                commands.push(Command::Invalid(e));
                // Skip the rest of the broken block.
                while i + 1 < lines.len() && !lines[i + 1].is_empty() {
                    i += 1;
                }
            }
        }
        i += 1;
    }
    Script { commands }
}

fn err(line: usize, msg: impl Into<String>) -> ScriptError {
    ScriptError {
        line,
        msg: msg.into(),
    }
}

fn dur(line: usize, what: &str, s: &str) -> Result<i64, ScriptError> {
    parse_duration(s).map_err(|e| err(line, format!("invalid {what}: {e}")))
}

/// Parses a load block starting at `*i`; leaves `*i` on its last line.
fn parse_load(lines: &[&str], i: &mut usize) -> Result<LoadCmd, ScriptError> {
    let line = *i + 1;
    let caps = PAT_LOAD.captures(lines[*i]).ok_or_else(|| {
        err(
            line,
            "invalid load command. (load[_with_nhcb] <step:duration>)",
        )
    })?;
    let with_nhcb = caps.get(1).is_some();
    let interval_ms = dur(line, "step definition", &caps[2])?;
    let mut series: Vec<(Labels, Vec<SeriesValue>)> = Vec::new();
    while *i + 1 < lines.len() && !lines[*i + 1].is_empty() {
        *i += 1;
        let (labels, values) =
            parse_series_line(lines[*i]).map_err(|e| err(*i + 1, e.to_string()))?;
        match series.iter_mut().find(|(l, _)| *l == labels) {
            Some(existing) => existing.1 = values,
            None => series.push((labels, values)),
        }
    }
    Ok(LoadCmd {
        line,
        interval_ms,
        with_nhcb,
        series,
    })
}

/// Parses an eval block starting at `*i`; leaves `*i` on its last line.
fn parse_eval(lines: &[&str], i: &mut usize) -> Result<EvalCmd, ScriptError> {
    let line = *i + 1;
    let head = lines[*i];
    let (modifier, expr, kind) = if let Some(c) = PAT_EVAL_INSTANT.captures(head) {
        let at = c.get(2).map_or("", |m| m.as_str());
        let t = dur(line, "timestamp definition", at)?;
        (
            c.get(1).map(|m| m.as_str()),
            c[3].to_string(),
            EvalKind::Instant { t },
        )
    } else if let Some(c) = PAT_EVAL_RANGE.captures(head) {
        let start = dur(line, "start timestamp definition", &c[2])?;
        let end = dur(line, "end timestamp definition", &c[3])?;
        let step = dur(line, "step definition", &c[4])?;
        if end < start {
            return Err(err(
                line,
                "invalid test definition, end timestamp is before start timestamp",
            ));
        }
        (
            c.get(1).map(|m| m.as_str()),
            c[5].to_string(),
            EvalKind::Range { start, end, step },
        )
    } else {
        return Err(err(
            line,
            "invalid evaluation command. Must be either 'eval[_fail|_warn|_ordered] instant [at <offset:duration>] <query>' or 'eval[_fail|_warn] range from <from> to <to> step <step> <query>'",
        ));
    };
    let is_instant = matches!(kind, EvalKind::Instant { .. });
    let mut cmd = EvalCmd {
        line,
        expr,
        kind,
        fail: modifier == Some("fail"),
        warn: modifier == Some("warn"),
        info: modifier == Some("info"),
        ordered: modifier == Some("ordered"),
        expected_fail_message: None,
        expected_fail_regexp: None,
        expects: Vec::new(),
        range_vector: None,
        expected_string: None,
        exclude_from_range_query: false,
        expected: Expected::Series(Vec::new()),
    };
    let mut j = 1usize;
    while *i + 1 < lines.len() && !lines[*i + 1].is_empty() {
        *i += 1;
        let l = lines[*i];
        let ln = *i + 1;
        let pos = j;
        j += 1;
        if cmd.fail {
            if let Some(m) = l.strip_prefix("expected_fail_message") {
                cmd.expected_fail_message = Some(m.trim().to_string());
                break;
            }
            if let Some(p) = l.strip_prefix("expected_fail_regexp") {
                let r = Regex::new(p.trim())
                    .map_err(|e| err(ln, format!("invalid expected_fail_regexp: {e}")))?;
                cmd.expected_fail_regexp = Some(r);
                break;
            }
        }
        if l.starts_with("expect range vector") {
            let c = PAT_EXPECT_RANGE
                .captures(l)
                .ok_or_else(|| err(ln, format!("invalid range vector definition {l:?}")))?;
            let (s, e, st) = (
                dur(ln, "start", &c[1])?,
                dur(ln, "end", &c[2])?,
                dur(ln, "step", &c[3])?,
            );
            if e < s {
                return Err(err(ln, "end timestamp is before start timestamp"));
            }
            cmd.range_vector = Some((s, e, st));
            cmd.kind = EvalKind::Instant { t: e };
            cmd.exclude_from_range_query = true;
            continue;
        }
        if l.starts_with("expect string") {
            let s = l.strip_prefix("expect string ").unwrap_or("");
            cmd.expected_string = Some(unquote(s).ok_or_else(|| {
                err(
                    ln,
                    "expected string literal not valid - check that the string is correctly quoted",
                )
            })?);
            cmd.exclude_from_range_query = true;
            continue;
        }
        if l.split(' ').next() == Some("expect") {
            cmd.expects
                .push(parse_expect(l).map_err(|e| err(ln, e.to_string()))?);
            validate_expects(&cmd).map_err(|e| err(ln, e.to_string()))?;
            j -= 1;
            continue;
        }
        if let Some(f) = parse_number(l) {
            cmd.expected = Expected::Scalar(f);
            break;
        }
        let (labels, values) = parse_series_line(l).map_err(|e| err(ln, e.to_string()))?;
        if values.len() > 1 && is_instant && cmd.range_vector.is_none() {
            return Err(err(
                ln,
                "expecting multiple values in instant evaluation not allowed. consider using 'expect range vector' directive to enable a range vector result for an instant query",
            ));
        }
        let entry = ExpectedSeries {
            labels,
            pos,
            values,
        };
        match &mut cmd.expected {
            Expected::Series(v) => match v.iter_mut().find(|s| s.labels == entry.labels) {
                Some(existing) => *existing = entry,
                None => v.push(entry),
            },
            Expected::Scalar(_) => cmd.expected = Expected::Series(vec![entry]),
        }
    }
    // After a `break` (scalar / expected_fail_*), any further lines of the
    // block are scanned as new commands, as upstream does.
    Ok(cmd)
}

/// Why an `expect` line is malformed, or clashes with an earlier one (the
/// text of a [`ScriptError`], as upstream words it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ExpectError {
    /// The line does not match the `expect` grammar.
    #[error("invalid expect statement, must match `expect <type> <match_type>: <string>` format")]
    Malformed,
    /// A `regex:` matcher that does not compile.
    #[error("invalid regex {pattern} for {kind}")]
    BadRegex {
        /// The pattern as written.
        pattern: String,
        /// The expect type (`fail`, `warn`, ...).
        kind: String,
    },
    /// `expect info` and `expect no_info` on one eval.
    #[error("invalid expect lines, info and no_info cannot be used together")]
    InfoAndNoInfo,
    /// `expect warn` and `expect no_warn` on one eval.
    #[error("invalid expect lines, warn and no_warn cannot be used together")]
    WarnAndNoWarn,
    /// More than one `expect fail`.
    #[error("invalid expect lines, multiple expect fail lines are not allowed")]
    MultipleFail,
}

/// Parses one `expect` line.
fn parse_expect(l: &str) -> Result<Expect, ExpectError> {
    let c = PAT_EXPECT
        .captures(l.trim())
        .ok_or(ExpectError::Malformed)?;
    let kind = match &c[1] {
        "fail" => ExpectKind::Fail,
        "warn" => ExpectKind::Warn,
        "no_warn" => ExpectKind::NoWarn,
        "info" => ExpectKind::Info,
        "no_info" => ExpectKind::NoInfo,
        _ => ExpectKind::Ordered,
    };
    let matcher = match (c.get(2).map(|m| m.as_str()), c.get(3)) {
        (Some("msg"), Some(m)) => TextMatch::Exact(m.as_str().trim().to_string()),
        (Some(_), Some(m)) => {
            let p = m.as_str().trim();
            TextMatch::Regex(Regex::new(p).map_err(|_| ExpectError::BadRegex {
                pattern: p.to_string(),
                kind: c[1].to_string(),
            })?)
        }
        _ => TextMatch::Any,
    };
    Ok(Expect { kind, matcher })
}

/// Checks the `expect` lines of one eval against each other.
fn validate_expects(cmd: &EvalCmd) -> Result<(), ExpectError> {
    let has = |k| cmd.expects.iter().any(|e| e.kind == k);
    if has(ExpectKind::Info) && has(ExpectKind::NoInfo) {
        return Err(ExpectError::InfoAndNoInfo);
    }
    if has(ExpectKind::Warn) && has(ExpectKind::NoWarn) {
        return Err(ExpectError::WarnAndNoWarn);
    }
    if cmd
        .expects
        .iter()
        .filter(|e| e.kind == ExpectKind::Fail)
        .count()
        > 1
    {
        return Err(ExpectError::MultipleFail);
    }
    Ok(())
}

/// Go's `strconv.Unquote` for `"..."`, `'...'` and `` `...` ``.
fn unquote(s: &str) -> Option<String> {
    let mut cur = crate::notation::Cursor::new(s);
    let out = crate::notation::parse_quoted(&mut cur).ok()?;
    cur.rest().is_empty().then_some(out)
}

/// Go's `parseNumber`: `strconv.ParseInt(s, 0, 64)` (so `0x1f`, `0o17`,
/// `0b11`, octal `017`, `1_000`) falling back to `ParseFloat`.
pub fn parse_number(s: &str) -> Option<f64> {
    parse_go_int(s)
        .map(|n| n as f64)
        .or_else(|| parse_go_float(s))
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    // Underscores are only allowed between digits (base-prefixed form).
    if digits.is_empty()
        || digits.starts_with(['_', '+', '-'])
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    let v = i64::from_str_radix(&clean, radix).ok()?;
    Some(if neg { -v } else { v })
}

fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.trim_start_matches(['+', '-']);
    let lower = body.to_ascii_lowercase();
    // Rust accepts these too; reject forms Go does not ("infinityx" etc.)
    // and anything with letters other than exponent/inf/nan.
    let ok = matches!(lower.as_str(), "inf" | "infinity" | "nan")
        || lower
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'));
    if !ok || s.len() - body.len() > 1 {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests;
