//! Structural redaction of JSON documents, in place.
//!
//! A document is first checked (nesting depth by a byte scan, then syntax
//! by the hand-written scanner of [`crate::scan`], or `serde_json` where
//! that one refuses), then rewritten token by token: everything is copied
//! verbatim (key order, spacing, number spelling) except the strings and
//! values that need redacting. So a valid JSON line stays valid JSON, and an
//! untouched line comes out byte for byte.
//!
//! - A value under a sensitive key is replaced whole: strings and numbers
//!   become the rule's replacement string; objects and arrays are walked and
//!   every string and number inside is replaced; `true`, `false` and `null`
//!   are kept.
//! - Every other string (keys included) goes through the text rules.
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
        let limit = self.limits.max_depth;
        if depth + max_depth(s) > limit {
            return Err(RedactError::TooDeep { limit });
        }
        // The hand-written scanner accepts a subset of what serde_json
        // accepts, at a fraction of the cost; serde_json decides the rest.
        let valid = Scanner::new(None, s, false).document().is_ok()
            || serde_json::from_str::<IgnoredAny>(s).is_ok();
        if !valid {
            return Ok(None);
        }
        let mut w = Rewriter {
            r: self,
            s,
            b: s.as_bytes(),
            pos: 0,
            out: String::with_capacity(s.len() + 32),
            tally,
        };
        w.ws();
        w.value(depth, None)?;
        w.ws();
        if w.pos != s.len() {
            return Err(RedactError::Internal("trailing data after JSON value"));
        }
        Ok(Some(w.out))
    }
}

/// Copies a syntactically valid JSON text, redacting as it goes.
struct Rewriter<'a, 't> {
    r: &'a Redactor,
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    out: String,
    tally: &'t mut Vec<usize>,
}

impl<'a> Rewriter<'a, '_> {
    fn ws(&mut self) {
        let start = self.pos;
        while self.pos < self.b.len() && matches!(self.b[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        self.out.push_str(&self.s[start..self.pos]);
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
        self.out.push(c as char);
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

    /// Writes `text` as a JSON string.
    fn write_string(&mut self, text: &str) -> Result<(), RedactError> {
        let enc =
            serde_json::to_string(text).map_err(|_| RedactError::Internal("string encoding"))?;
        self.out.push_str(&enc);
        Ok(())
    }

    /// Writes the redacted value under a sensitive key: `rule`'s replacement.
    fn write_replacement(&mut self, rule: usize, value: &str) -> Result<(), RedactError> {
        let mut rep = String::new();
        self.r.replace(rule, value, &mut rep, self.tally);
        self.write_string(&rep)
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
            let raw = self.raw_string()?;
            let key = decode(raw)?;
            let own = self.r.keys.find(&key);
            match self.r.text_inner(&key, self.tally) {
                std::borrow::Cow::Borrowed(_) => self.out.push_str(raw),
                std::borrow::Cow::Owned(red) => self.write_string(&red)?,
            }
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
        let raw = self.raw_string()?;
        let text = decode(raw)?;
        if let Some(rule) = sensitive {
            if text.is_empty() {
                self.out.push_str("\"\"");
                return Ok(());
            }
            return self.write_replacement(rule, &text);
        }
        if self.r.limits.embedded_json {
            if let Some(inner) = self.r.json_document(&text, depth, self.tally)? {
                return self.write_string(&inner);
            }
        }
        match self.r.text_inner(&text, self.tally) {
            std::borrow::Cow::Borrowed(_) => {
                self.out.push_str(raw);
                Ok(())
            }
            std::borrow::Cow::Owned(red) => self.write_string(&red),
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
        match sensitive {
            Some(rule) if !matches!(tok, "true" | "false" | "null") => {
                self.write_replacement(rule, tok)
            }
            _ => {
                self.out.push_str(tok);
                Ok(())
            }
        }
    }
}

/// The text of a raw JSON string (quotes included).
fn decode(raw: &str) -> Result<std::borrow::Cow<'_, str>, RedactError> {
    let inner = &raw[1..raw.len() - 1];
    if !inner.contains('\\') {
        return Ok(std::borrow::Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(raw)
        .map(std::borrow::Cow::Owned)
        .map_err(|_| RedactError::Internal("undecodable JSON string"))
}
