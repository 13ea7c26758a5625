//! Structural redaction of JSON documents, in place.
//!
//! A document is first checked (syntax and nesting depth by the
//! hand-written scanner of [`crate::scan`]; where that one refuses, depth
//! by a byte scan and syntax by `serde_json`), then rewritten token by
//! token: everything is copied verbatim (key order, spacing, number
//! spelling; in whole runs, up to the next replacement) except the strings
//! and values that need redacting. So a valid JSON line stays valid JSON,
//! and an untouched line comes out byte for byte.
//!
//! - A value under a sensitive key is replaced whole: strings and numbers
//!   become the rule's replacement string; objects and arrays are walked and
//!   every string and number inside is replaced; `true`, `false` and `null`
//!   are kept.
//! - Every other string (keys included) goes through the text rules.
//! - So does every other number: its literal text, exactly as written
//!   (`4111111111111111`, `-1.5e3`), is redacted as if it were a string.
//!   When the rules leave it unchanged (nearly always) the number is
//!   copied verbatim; when they change it (a Luhn-valid card number
//!   written as a number) it is replaced by a JSON string holding the
//!   redacted text (`"[REDACTED:card]"`), so the output stays valid JSON,
//!   and the hits are counted like any other text-rule hit.
//! - A string that itself holds a JSON document (Docker's `log` field) is
//!   redacted structurally too, then re-encoded.

use serde::de::IgnoredAny;

use crate::engine::{looks_like_json, Redactor};
use crate::scan::Scanner;
use crate::RedactError;

/// The deepest `{`/`[` nesting in a JSON text, strings skipped.
fn max_depth(s: &str) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &c in s.as_bytes() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

impl Redactor {
    /// If `s` is a JSON document, its redacted form; `None` when it is not
    /// JSON (the caller treats it as text). `depth` is the nesting already
    /// around it.
    pub(crate) fn json_document(
        &self,
        s: &str,
        depth: usize,
        tally: &mut Vec<usize>,
    ) -> Result<Option<String>, RedactError> {
        if !looks_like_json(s) {
            return Ok(None);
        }
        // The hand-written scanner accepts a subset of what serde_json
        // accepts, at a fraction of the cost; serde_json decides the rest.
        // When it accepts, it has also measured the nesting (the byte
        // scan of `max_depth` gives the same on valid JSON).
        let mut sc = Scanner::new(None, s, false);
        let scanned = sc.document().is_ok();
        let deepest = if scanned { sc.deepest } else { max_depth(s) };
        let limit = self.limits.max_depth;
        if depth + deepest > limit {
            return Err(RedactError::TooDeep { limit });
        }
        if !scanned && serde_json::from_str::<IgnoredAny>(s).is_err() {
            return Ok(None);
        }
        let mut w = Rewriter {
            r: self,
            s,
            b: s.as_bytes(),
            pos: 0,
            out: String::with_capacity(s.len() + 32),
            done: 0,
            tally,
        };
        w.ws();
        w.value(depth, None)?;
        w.ws();
        if w.pos != s.len() {
            return Err(RedactError::Internal("trailing data after JSON value"));
        }
        w.out.push_str(&s[w.done..]);
        Ok(Some(w.out))
    }
}

/// Copies a syntactically valid JSON text, redacting as it goes.
struct Rewriter<'a, 't> {
    r: &'a Redactor,
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    /// The output so far: `s[..done]` as rewritten (the rest of `s` up
    /// to `pos` is copied lazily, at the next replacement or the end).
    out: String,
    done: usize,
    tally: &'t mut Vec<usize>,
}

impl<'a> Rewriter<'a, '_> {
    fn ws(&mut self) {
        while self.pos < self.b.len() && matches!(self.b[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Result<u8, RedactError> {
        self.b
            .get(self.pos)
            .copied()
            .ok_or(RedactError::Internal("unexpected end of JSON"))
    }

    /// Copies one expected punctuation byte.
    fn punct(&mut self, c: u8) -> Result<(), RedactError> {
        if self.peek()? != c {
            return Err(RedactError::Internal("unexpected JSON token"));
        }
        self.pos += 1;
        Ok(())
    }

    /// The raw text of the string at `pos` (quotes included); moves past it.
    fn raw_string(&mut self) -> Result<&'a str, RedactError> {
        let s: &'a str = self.s;
        let start = self.pos;
        let mut i = start + 1;
        while i < self.b.len() {
            match self.b[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.pos = i + 1;
                    return Ok(&s[start..=i]);
                }
                _ => i += 1,
            }
        }
        Err(RedactError::Internal("unterminated JSON string"))
    }

    /// Writes `text` as a JSON string in place of the token that starts
    /// at `start` and ends at `pos`.
    fn write_string(&mut self, start: usize, text: &str) -> Result<(), RedactError> {
        self.out.push_str(&self.s[self.done..start]);
        push_encoded(&mut self.out, text)?;
        self.done = self.pos;
        Ok(())
    }

    /// Writes the redacted value under a sensitive key: `rule`'s replacement.
    fn write_replacement(
        &mut self,
        start: usize,
        rule: usize,
        value: &str,
    ) -> Result<(), RedactError> {
        let mut rep = String::new();
        self.r.replace(rule, value, &mut rep, self.tally);
        self.write_string(start, &rep)
    }

    fn value(&mut self, depth: usize, sensitive: Option<usize>) -> Result<(), RedactError> {
        match self.peek()? {
            b'{' => self.object(depth + 1, sensitive),
            b'[' => self.array(depth + 1, sensitive),
            b'"' => self.string(depth, sensitive),
            _ => self.scalar(sensitive),
        }
    }

    fn object(&mut self, depth: usize, sensitive: Option<usize>) -> Result<(), RedactError> {
        self.punct(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            return self.punct(b'}');
        }
        loop {
            self.ws();
            let start = self.pos;
            let raw = self.raw_string()?;
            let key = decode(raw)?;
            let own = self.r.keys.find(&key);
            self.text(start, &key)?;
            self.ws();
            self.punct(b':')?;
            self.ws();
            self.value(depth, sensitive.or(own))?;
            self.ws();
            if self.peek()? == b',' {
                self.punct(b',')?;
            } else {
                return self.punct(b'}');
            }
        }
    }

    fn array(&mut self, depth: usize, sensitive: Option<usize>) -> Result<(), RedactError> {
        self.punct(b'[')?;
        self.ws();
        if self.peek()? == b']' {
            return self.punct(b']');
        }
        loop {
            self.ws();
            self.value(depth, sensitive)?;
            self.ws();
            if self.peek()? == b',' {
                self.punct(b',')?;
            } else {
                return self.punct(b']');
            }
        }
    }

    fn string(&mut self, depth: usize, sensitive: Option<usize>) -> Result<(), RedactError> {
        let start = self.pos;
        let raw = self.raw_string()?;
        let text = decode(raw)?;
        if let Some(rule) = sensitive {
            if text.is_empty() {
                // `""` stays as it is.
                return Ok(());
            }
            return self.write_replacement(start, rule, &text);
        }
        if self.r.limits.embedded_json {
            if let Some(inner) = self.r.json_document(&text, depth, self.tally)? {
                return self.write_string(start, &inner);
            }
        }
        self.text(start, &text)
    }

    /// Runs the text rules on `text`, the decoded string token (or the
    /// number's literal text) that starts at `start` and ends at `pos`: the
    /// token stays as it is when nothing matched, else it is replaced by
    /// the redacted text as a JSON string.
    fn text(&mut self, start: usize, text: &str) -> Result<(), RedactError> {
        match self.r.text_inner(text, self.tally) {
            std::borrow::Cow::Borrowed(_) => Ok(()),
            std::borrow::Cow::Owned(red) => self.write_string(start, &red),
        }
    }

    /// Numbers, `true`, `false`, `null`.
    fn scalar(&mut self, sensitive: Option<usize>) -> Result<(), RedactError> {
        let start = self.pos;
        while self.pos < self.b.len()
            && !matches!(
                self.b[self.pos],
                b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
            )
        {
            self.pos += 1;
        }
        let all: &'a str = self.s;
        let tok = &all[start..self.pos];
        if tok.is_empty() {
            return Err(RedactError::Internal("empty JSON value"));
        }
        if matches!(tok, "true" | "false" | "null") {
            return Ok(());
        }
        match sensitive {
            Some(rule) => self.write_replacement(start, rule, tok),
            None => self.number(start, tok),
        }
    }

    /// The number `tok` (not under a sensitive key) that starts at `start`
    /// and ends at `pos`: its literal text goes through the text rules; a
    /// changed one becomes a string holding the redacted text.
    #[inline(never)]
    fn number(&mut self, start: usize, tok: &str) -> Result<(), RedactError> {
        // Most numbers are short: see `SHORT_NUMBER`.
        if tok.len() < SHORT_NUMBER && self.r.gate_ok() {
            return Ok(());
        }
        self.text(start, tok)
    }
}

/// Numbers shorter than this need no text rule when there are no user
/// patterns: in a number's bytes (`[0-9.eE+-]`) only the card prefilter
/// (13 digits), the phone one (`+` and 8 digits) and the base64 run scan
/// (40 bytes) of the built-in rules can match (see
/// `Scanner::number_may_match` in [`crate::scan`]).
pub(crate) const SHORT_NUMBER: usize = 9;

/// Appends `text` as a JSON string, as `serde_json` writes it.
pub(crate) fn push_encoded(out: &mut String, text: &str) -> Result<(), RedactError> {
    let enc = serde_json::to_string(text).map_err(|_| RedactError::Internal("string encoding"))?;
    out.push_str(&enc);
    Ok(())
}

/// The text of a raw JSON string (quotes included).
pub(crate) fn decode(raw: &str) -> Result<std::borrow::Cow<'_, str>, RedactError> {
    let inner = &raw[1..raw.len() - 1];
    if !inner.contains('\\') {
        return Ok(std::borrow::Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(raw)
        .map(std::borrow::Cow::Owned)
        .map_err(|_| RedactError::Internal("undecodable JSON string"))
}

#[cfg(test)]
mod tests {
    use super::max_depth;
    use crate::scan::Scanner;

    /// On text the scanner accepts, its nesting measure is the byte
    /// scan's, which it replaces there; what it refuses keeps the scan.
    fn check(s: &str, accepted: bool, depth: usize) {
        let mut sc = Scanner::new(None, s, false);
        assert_eq!(sc.document().is_ok(), accepted, "{s}");
        assert_eq!(max_depth(s), depth, "{s}");
        if accepted {
            assert_eq!(sc.deepest, depth, "{s}");
        }
    }

    #[test]
    fn scanner_measures_nesting_like_the_byte_scan() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        check("{}", true, 1);
        check(r#"{"a":[1,{"b":[]}],"c":"[[[{"}"#, true, 4);
        check(r#" [ "x" , [ [ ] ] ] "#, true, 3);
        check(r#""just a string""#, true, 0);
        check(&deep(127), true, 127);
        check(&deep(128), false, 128);
        check(r#"{"a":[[[1]]}"#, false, 4);
    }
}
