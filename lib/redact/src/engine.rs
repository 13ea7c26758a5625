//! The redaction engine: compiled rules, the one-pass prefilter over each
//! string, candidate checks, overlap resolution and replacement.
//!
//! For each string, one `RegexSet` pass tells which text rules match at
//! all; most strings stop there. Only the rules that matched run their own
//! regex to find spans, and only those candidates go through the checks
//! (Luhn, SSN ranges, mod-97, address parsing). Overlapping spans are merged
//! so that nothing between them survives; the earliest, longest, highest
//! priority span names the merged one.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::sync::Arc;

use hmac::Hmac;
use regex::{Regex, RegexSet, RegexSetBuilder};
use sha2::Sha256;

use crate::config::RedactionConfig;
use crate::fast::Fast;
use crate::gate::{plain_word, probe_runs, table, Gate};
use crate::keys::{words, KeyMatcher};
use crate::rules::{apply, hmac_for, Check, Normalize, Prefilter, Rule, BUILTINS};
use crate::scan::report_fields;
use crate::validators;
use crate::{BuildError, RedactError, Stats};

/// One rule that looks inside strings.
#[derive(Debug)]
struct TextRule {
    /// Index into [`Redactor::rules`] (unused for the key/value rule, whose
    /// rule is the matched key name's).
    rule: usize,
    regex: Regex,
    group: usize,
    check: Check,
}

/// A span to replace.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    rule: usize,
    prio: usize,
}

/// Limits that make a record fail closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest record accepted, in bytes.
    pub max_record_bytes: usize,
    /// Deepest JSON nesting accepted, counting JSON held in strings.
    pub max_depth: usize,
    /// Whether strings holding JSON are parsed and redacted structurally.
    pub embedded_json: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record_bytes: 1 << 20,
            max_depth: 64,
            embedded_json: true,
        }
    }
}

/// A compiled, immutable set of redaction rules. Cheap to share between
/// threads (`Arc<Redactor>`); per-caller counters live in [`Stats`].
#[derive(Debug)]
pub struct Redactor {
    pub(crate) rules: Vec<Rule>,
    names: Arc<[String]>,
    set: RegexSet,
    /// Text rule of each `set` pattern.
    set_rules: Vec<usize>,
    /// Text rules found by the base64 run scan instead of the set.
    run_rules: Vec<usize>,
    text: Vec<TextRule>,
    pub(crate) keys: KeyMatcher,
    pub(crate) mac: Option<Hmac<Sha256>>,
    pub(crate) limits: Limits,
    /// Whether every `set` pattern is a built-in (unanchored) prefilter,
    /// so one pass over a whole JSON line stands for its strings
    /// ([`crate::fast`]).
    gate: bool,
    /// The byte-scan gate in front of `set` on ASCII text (only without
    /// user patterns, which it does not know).
    pub(crate) quick: Option<Gate>,
}

/// Receives the top-level string fields of a JSON object record as they
/// are after redaction (see [`Redactor::redact_record_fields`]).
pub trait Fields {
    /// One top-level key whose value is a string (escapes decoded), in
    /// document order.
    fn field(&mut self, key: &str, value: &str);
}

/// One redacted record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted<'a> {
    /// The redacted record; borrowed when nothing changed.
    pub text: Cow<'a, str>,
    /// Whether the record was a JSON document (object or array), redacted
    /// structurally; `text` is then valid JSON.
    pub json: bool,
}

/// Builds the free-text `key=value` regex over the sensitive names, and its
/// prefilter (the same without the leading key characters).
fn key_value_regex(names: &[String]) -> (String, String) {
    let alts: Vec<String> = names
        .iter()
        .map(|n| {
            let w = words(n);
            w.iter()
                .map(|w| regex::escape(w))
                .collect::<Vec<_>>()
                .join("[_.-]?")
        })
        .filter(|s| !s.is_empty())
        .collect();
    let alts = alts.join("|");
    (
        format!(
            r#"(?i)(?P<key>[A-Za-z0-9_.-]*(?:{alts})[A-Za-z0-9_.-]*)(?:\\?["'])?[ \t]*[:=][ \t]*(?P<q>\\?["'])?"#
        ),
        format!(r#"(?i)(?:{alts})[A-Za-z0-9_.-]*(?:\\?["'])?[ \t]*[:=]"#),
    )
}

impl Redactor {
    /// The default rules: every built-in pattern and the default key names,
    /// all masked.
    pub fn with_defaults() -> Result<Redactor, BuildError> {
        Redactor::new(&RedactionConfig::default())
    }

    /// Compiles a validated configuration.
    pub fn new(cfg: &RedactionConfig) -> Result<Redactor, BuildError> {
        let mut rules = Vec::new();
        let mut text = Vec::new();
        let mut patterns = Vec::new();
        let (mut set_rules, mut run_rules) = (Vec::new(), Vec::new());
        for b in BUILTINS {
            let Some(action) = cfg.builtin_action(b.name) else {
                continue;
            };
            rules.push(Rule {
                name: b.name.to_string(),
                label: b.name.to_string(),
                action,
                normalize: b.normalize,
            });
            match b.prefilter {
                Prefilter::Regex(p) => {
                    patterns.push(p.to_string());
                    set_rules.push(text.len());
                }
                Prefilter::Base64Run => run_rules.push(text.len()),
            }
            text.push(TextRule {
                rule: rules.len() - 1,
                regex: Regex::new(b.regex).map_err(|e| BuildError::Regex(b.name.into(), e))?,
                group: b.group,
                check: b.check,
            });
        }
        for c in &cfg.custom {
            rules.push(Rule {
                name: c.name.clone(),
                label: c.name.clone(),
                action: c.action,
                normalize: Normalize::None,
            });
            let group = c
                .regex
                .capture_names()
                .position(|n| n == Some("value"))
                .unwrap_or(0);
            patterns.push(c.regex.as_str().to_string());
            set_rules.push(text.len());
            text.push(TextRule {
                rule: rules.len() - 1,
                regex: c.regex.clone(),
                group,
                check: Check::None,
            });
        }
        let mut keys = KeyMatcher::default();
        for name in &cfg.key_names {
            rules.push(Rule {
                name: format!("key:{name}"),
                label: name.clone(),
                action: cfg.key_action,
                normalize: Normalize::None,
            });
            keys.add(name, rules.len() - 1);
        }
        if !keys.is_empty() && cfg.key_value_in_text {
            let (re, pre) = key_value_regex(&cfg.key_names);
            patterns.push(pre);
            set_rules.push(text.len());
            text.push(TextRule {
                rule: usize::MAX,
                regex: Regex::new(&re).map_err(|e| BuildError::Regex("key names".into(), e))?,
                group: 0,
                check: Check::KeyValue,
            });
        }
        let set = RegexSetBuilder::new(&patterns)
            .size_limit(64 << 20)
            .build()
            .map_err(|e| BuildError::Regex("rule set".into(), e))?;
        let gate = cfg.custom.is_empty();
        let quick = if gate {
            Gate::new(&cfg.key_names)
        } else {
            None
        };
        let mac = match &cfg.hash_key {
            Some(k) => Some(hmac_for(k).ok_or(BuildError::HashKey)?),
            None => None,
        };
        let names: Arc<[String]> = rules.iter().map(|r| r.name.clone()).collect();
        Ok(Redactor {
            rules,
            names,
            set,
            set_rules,
            run_rules,
            text,
            keys,
            mac,
            limits: cfg.limits,
            gate,
            quick,
        })
    }

    /// Fresh counters for this rule set.
    pub fn stats(&self) -> Stats {
        Stats::new(self.names.clone())
    }

    /// Names of all rules, in counter order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Redacts one raw record (a log line without its newline). JSON
    /// records (starting with `{` or `[`) are redacted structurally and stay
    /// valid JSON; anything else is free text. Fails closed: on error the
    /// caller must drop the record; the drop is counted in `stats`.
    pub fn redact_bytes(&self, line: &[u8], stats: &mut Stats) -> Result<String, RedactError> {
        match std::str::from_utf8(line) {
            Ok(s) => self.redact_line(s, stats),
            Err(_) => {
                let e = RedactError::InvalidUtf8;
                stats.drop_for(&e);
                Err(e)
            }
        }
    }

    /// [`Redactor::redact_bytes`] for text already known to be UTF-8.
    pub fn redact_line(&self, line: &str, stats: &mut Stats) -> Result<String, RedactError> {
        self.redact_record(line, stats).map(|r| r.text.into_owned())
    }

    /// [`Redactor::redact_line`] without a copy when nothing changed, and
    /// saying whether the record was JSON (so the caller need not parse it
    /// again to know). Same rules, same result, same counting.
    pub fn redact_record<'a>(
        &self,
        line: &'a str,
        stats: &mut Stats,
    ) -> Result<Redacted<'a>, RedactError> {
        self.redact_record_inner(line, stats, None)
    }

    /// [`Redactor::redact_record`] that also reports the top-level string
    /// fields of a JSON object record to `fields`, as they are in the
    /// output (so a redacted value is reported redacted): from the same
    /// pass when the record needs no change, from the output otherwise.
    /// Nothing is reported for other records, or when redaction fails.
    pub fn redact_record_fields<'a>(
        &self,
        line: &'a str,
        stats: &mut Stats,
        fields: &mut dyn Fields,
    ) -> Result<Redacted<'a>, RedactError> {
        self.redact_record_inner(line, stats, Some(fields))
    }

    /// Redacts a record that should be one JSON object, without checking
    /// that first: `Ok(None)` when it is not one (a text that does not
    /// start with `{`, invalid JSON; nothing is counted), else what
    /// [`Redactor::redact_record_fields`] gives for it, in the same one
    /// pass when nothing changes. For decoders that would otherwise parse
    /// every line once more just to know it is JSON. (A record over the
    /// size or depth limit fails before its syntax is known: such an
    /// error does not say the record was JSON.)
    pub fn redact_json_object<'a>(
        &self,
        line: &'a str,
        stats: &mut Stats,
        fields: &mut dyn Fields,
    ) -> Result<Option<Redacted<'a>>, RedactError> {
        stats.pending.clear();
        let res = self.object_inner(line, &mut stats.pending, fields);
        match &res {
            Ok(Some(_)) => stats.commit(),
            Ok(None) => stats.pending.clear(),
            Err(e) => stats.drop_for(e),
        }
        res
    }

    fn object_inner<'a>(
        &self,
        line: &'a str,
        tally: &mut Vec<usize>,
        fields: &mut dyn Fields,
    ) -> Result<Option<Redacted<'a>>, RedactError> {
        if line.len() > self.limits.max_record_bytes {
            return Err(RedactError::TooLarge {
                size: line.len(),
                limit: self.limits.max_record_bytes,
            });
        }
        if !looks_like_json(line) || !line.trim_start().starts_with('{') {
            return Ok(None);
        }
        match self.json_fast(line, Some(&mut *fields), tally) {
            Fast::Clean => {
                return Ok(Some(Redacted {
                    text: Cow::Borrowed(line),
                    json: true,
                }))
            }
            Fast::Changed(out) => {
                return Ok(Some(Redacted {
                    text: Cow::Owned(out),
                    json: true,
                }))
            }
            Fast::Slow => {}
        }
        Ok(self.json_document(line, 0, tally)?.map(|out| {
            report_fields(&out, fields);
            Redacted {
                text: Cow::Owned(out),
                json: true,
            }
        }))
    }

    fn redact_record_inner<'a>(
        &self,
        line: &'a str,
        stats: &mut Stats,
        fields: Option<&mut dyn Fields>,
    ) -> Result<Redacted<'a>, RedactError> {
        stats.pending.clear();
        let res = self.line_inner(line, &mut stats.pending, fields);
        match &res {
            Ok(_) => stats.commit(),
            Err(e) => stats.drop_for(e),
        }
        res
    }

    fn line_inner<'a>(
        &self,
        line: &'a str,
        tally: &mut Vec<usize>,
        mut fields: Option<&mut dyn Fields>,
    ) -> Result<Redacted<'a>, RedactError> {
        if line.len() > self.limits.max_record_bytes {
            return Err(RedactError::TooLarge {
                size: line.len(),
                limit: self.limits.max_record_bytes,
            });
        }
        if looks_like_json(line) {
            match self.json_fast(line, fields.as_deref_mut(), tally) {
                Fast::Clean => {
                    return Ok(Redacted {
                        text: Cow::Borrowed(line),
                        json: true,
                    })
                }
                Fast::Changed(out) => {
                    return Ok(Redacted {
                        text: Cow::Owned(out),
                        json: true,
                    })
                }
                Fast::Slow => {}
            }
        }
        if let Some(out) = self.json_document(line, 0, tally)? {
            if let Some(f) = fields {
                report_fields(&out, f);
            }
            return Ok(Redacted {
                text: Cow::Owned(out),
                json: true,
            });
        }
        Ok(Redacted {
            text: self.text_inner(line, tally),
            json: false,
        })
    }

    /// Whether the one-pass gate of [`crate::fast`] may stand for the
    /// strings of a whole line.
    pub(crate) fn gate_ok(&self) -> bool {
        self.gate
    }

    /// Whether some text rule is found by the base64 run scan.
    pub(crate) fn has_run_rules(&self) -> bool {
        !self.run_rules.is_empty()
    }

    /// Whether any text rule may match in `s` (the prefilter alone: a
    /// necessary condition). `false` means `s` certainly stays as it is.
    pub(crate) fn text_may_match(&self, s: &str) -> bool {
        self.set_may_match(s) || (self.has_run_rules() && has_base64_run(s))
    }

    /// The set alone, for tests of the gate.
    #[cfg(test)]
    pub(crate) fn set_is_match(&self, s: &str) -> bool {
        self.set.is_match(s)
    }

    /// `set.is_match(s)`, answered by the byte-scan gate when it can.
    fn set_may_match(&self, s: &str) -> bool {
        if let Some(g) = &self.quick {
            if plain_word(s.as_bytes()) || (s.is_ascii() && !g.may_match(s.as_bytes())) {
                return false;
            }
        }
        self.set.is_match(s)
    }

    /// Redacts a free-text string (a message, a span attribute value).
    /// Never fails.
    pub fn redact_text<'a>(&self, s: &'a str, stats: &mut Stats) -> Cow<'a, str> {
        stats.pending.clear();
        let out = self.text_inner(s, &mut stats.pending);
        stats.commit();
        out
    }

    /// Redacts one attribute: the whole value when `key` is a sensitive
    /// name, else the patterns inside `value`.
    pub fn redact_attribute<'a>(
        &self,
        key: &str,
        value: &'a str,
        stats: &mut Stats,
    ) -> Cow<'a, str> {
        stats.pending.clear();
        let out = match self.keys.find(key) {
            Some(rule) if !value.is_empty() => {
                let mut out = String::new();
                apply(&self.rules[rule], self.mac.as_ref(), value, &mut out);
                stats.pending.push(rule);
                Cow::Owned(out)
            }
            _ => self.text_inner(value, &mut stats.pending),
        };
        stats.commit();
        out
    }

    /// Whether `key` is a sensitive key name.
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        self.keys.find(key).is_some()
    }

    /// Appends `rule`'s replacement for `value` to `out` and tallies it.
    pub(crate) fn replace(
        &self,
        rule: usize,
        value: &str,
        out: &mut String,
        tally: &mut Vec<usize>,
    ) {
        apply(&self.rules[rule], self.mac.as_ref(), value, out);
        tally.push(rule);
    }

    /// Text redaction core: `Borrowed` when nothing matched.
    pub(crate) fn text_inner<'a>(&self, s: &'a str, tally: &mut Vec<usize>) -> Cow<'a, str> {
        // `is_match` first: it stops early and allocates nothing, and most
        // strings have no hit at all.
        let run = self.has_run_rules() && has_base64_run(s);
        if !run && !self.set_may_match(s) {
            return Cow::Borrowed(s);
        }
        let hits = self.set.matches(s);
        let mut spans = Vec::new();
        for i in hits.iter() {
            self.candidates(self.set_rules[i], s, &mut spans);
        }
        if run {
            for &i in &self.run_rules {
                self.candidates(i, s, &mut spans);
            }
        }
        if spans.is_empty() {
            return Cow::Borrowed(s);
        }
        spans.sort_unstable_by_key(|c| (c.start, Reverse(c.end), c.prio));
        let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
        for c in spans {
            match merged.last_mut() {
                Some(last) if c.start < last.end => last.end = last.end.max(c.end),
                _ => merged.push(c),
            }
        }
        let mut out = String::with_capacity(s.len());
        let mut pos = 0;
        for m in merged {
            out.push_str(&s[pos..m.start]);
            self.replace(m.rule, &s[m.start..m.end], &mut out, tally);
            pos = m.end;
        }
        out.push_str(&s[pos..]);
        Cow::Owned(out)
    }

    /// Finds and checks the spans of text rule `i` in `s`.
    fn candidates(&self, i: usize, s: &str, spans: &mut Vec<Span>) {
        let tr = &self.text[i];
        let push = |spans: &mut Vec<Span>, start: usize, end: usize, rule: usize| {
            if end > start {
                spans.push(Span {
                    start,
                    end,
                    rule,
                    prio: i,
                });
            }
        };
        if tr.check == Check::KeyValue {
            for caps in tr.regex.captures_iter(s) {
                let (Some(all), Some(key)) = (caps.get(0), caps.name("key")) else {
                    continue;
                };
                let Some(rule) = self.keys.find(key.as_str()) else {
                    continue;
                };
                let q = caps.name("q").map(|q| q.as_str());
                let end = value_end(s, all.end(), q, key.as_str());
                push(spans, all.end(), end, rule);
            }
            return;
        }
        let mut check = |start: usize, end: usize| {
            let span = match tr.check {
                Check::None | Check::KeyValue => Some((start, end)),
                Check::Card => validators::card(s, start, end).then_some((start, end)),
                Check::Ssn => validators::ssn(s, start, end).then_some((start, end)),
                Check::Ipv4 => validators::ipv4(s, start, end).then_some((start, end)),
                Check::Ipv6 => validators::ipv6(s, start, end).then_some((start, end)),
                Check::Iban => validators::iban(s, start, end).then_some((start, end)),
                Check::Bearer => validators::bearer(s, start, end).then_some((start, end)),
                Check::Basic => validators::basic(s, start, end).then_some((start, end)),
                Check::Standalone => validators::standalone(s, start, end).then_some((start, end)),
                Check::Phone => validators::phone(s, start, end).map(|e| (start, e)),
                Check::AwsSecret => validators::aws_secret(s, start, end),
            };
            if let Some((a, b)) = span {
                push(spans, a, b, tr.rule);
            }
        };
        if tr.group == 0 {
            for m in tr.regex.find_iter(s) {
                check(m.start(), m.end());
            }
        } else {
            for caps in tr.regex.captures_iter(s) {
                if let Some(m) = caps.get(tr.group) {
                    check(m.start(), m.end());
                }
            }
        }
    }
}

/// `[A-Za-z0-9/+]`, as a table.
pub(crate) const BASE64: [bool; 256] = table(b"/+", true, true);

/// Whether `s` holds a run of at least 40 characters of `[A-Za-z0-9/+]`
/// (probing every 40th byte: see [`probe_runs`]).
pub(crate) fn has_base64_run(s: &str) -> bool {
    probe_runs(s.as_bytes(), &BASE64, 40, |r, _| r.len() >= 40)
}

/// Whether `s`, trimmed, is bracketed like a JSON object or array.
pub(crate) fn looks_like_json(s: &str) -> bool {
    // Most strings start with an ASCII character that is neither space nor
    // bracket: no trimming needed to say no.
    if let Some(&f) = s.as_bytes().first() {
        if f.is_ascii() && !f.is_ascii_whitespace() && f != b'{' && f != b'[' {
            return false;
        }
    }
    let t = s.trim();
    (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']'))
}

/// Where a free-text value starting at `start` ends. `quote` is the opening
/// quote (`"`, `'`, `\"`), if any; `key` decides header-style extents
/// (`Cookie: a=1; b=2` to the end of the line, `Authorization: Bearer x`
/// including the scheme's credential).
fn value_end(s: &str, start: usize, quote: Option<&str>, key: &str) -> usize {
    let b = s.as_bytes();
    match quote {
        Some(q) if q.len() == 2 => s[start..].find(q).map_or(s.len(), |i| start + i),
        Some(q) => {
            let c = q.as_bytes()[0];
            let mut i = start;
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 2,
                    x if x == c => return i,
                    _ => i += 1,
                }
            }
            s.len()
        }
        None => {
            let w = words(key);
            let last = w.last().map(String::as_str);
            if last == Some("cookie") {
                return line_end(s, start);
            }
            let end = token_end(s, start);
            if last == Some("authorization") {
                let scheme = &s[start..end];
                let mut j = end;
                while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                    j += 1;
                }
                if !scheme.is_empty()
                    && scheme.len() <= 20
                    && scheme.bytes().all(|c| c.is_ascii_alphabetic())
                    && j > end
                    && j < b.len()
                {
                    return token_end(s, j);
                }
            }
            end
        }
    }
}

/// The end of a bare value token: whitespace, quotes and escapes end it; a
/// `&`, `;` or `,` ends it when the next `key=` follows; trailing
/// punctuation is left out.
fn token_end(s: &str, start: usize) -> usize {
    let b = s.as_bytes();
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b'"' | b'\'' => break,
            b'\\' if matches!(b.get(i + 1), Some(b'n' | b'r' | b't' | b'"')) => break,
            b'&' | b';' | b',' if next_is_key(&b[i + 1..]) => break,
            _ => i += 1,
        }
    }
    while i > start + 1
        && matches!(
            b[i - 1],
            b'.' | b',' | b';' | b':' | b')' | b']' | b'}' | b'>'
        )
    {
        i -= 1;
    }
    i
}

/// Whether `rest` starts (after spaces) with `name=`.
fn next_is_key(rest: &[u8]) -> bool {
    let rest = match rest.iter().position(|c| *c != b' ') {
        Some(p) => &rest[p..],
        None => return true,
    };
    let n = rest
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        .count();
    n > 0 && rest.get(n) == Some(&b'=')
}

/// The end of the line holding `start` (a newline, a literal `\n`, or a
/// double quote).
fn line_end(s: &str, start: usize) -> usize {
    let b = s.as_bytes();
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'\n' | b'\r' | b'"' => break,
            b'\\' if matches!(b.get(i + 1), Some(b'n' | b'r' | b'"')) => break,
            _ => i += 1,
        }
    }
    while i > start && b[i - 1] == b' ' {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::has_base64_run;

    /// The probing scan agrees with a plain count on every run length and
    /// position.
    fn check(s: &str, expect: bool) {
        assert_eq!(has_base64_run(s), expect, "{s:?}");
        let mut run = 0;
        let plain = s.bytes().any(|c| {
            run = if c.is_ascii_alphanumeric() || c == b'/' || c == b'+' {
                run + 1
            } else {
                0
            };
            run >= 40
        });
        assert_eq!(plain, expect, "plain count on {s:?}");
    }

    #[test]
    fn base64_runs() {
        let a = |n: usize| "a".repeat(n);
        for pre in 0..45 {
            for len in [0, 1, 39, 40, 41, 79, 80] {
                let s = format!("{}{}{}", " ".repeat(pre), a(len), " -");
                check(&s, len >= 40);
                let s = format!("{}.{}.{}", a(pre), a(len), a(39));
                check(&s, len >= 40 || pre >= 40);
            }
        }
        check(&format!("{} {}", a(39), a(39)), false);
        check(&format!("{}+/{}", a(19), a(19)), true);
    }
}
