//! A hand-written, validating, allocation-free JSON scanner: the one pass
//! of the fast path ([`crate::fast`]) over a record, and the reader of a
//! record's top-level string fields ([`crate::Fields`]).
//!
//! It accepts a subset of what `serde_json` accepts (RFC 8259: the four
//! whitespace bytes, no control characters in strings, only the standard
//! escapes, strict numbers, exact literals; a `\u` escape is decoded by
//! `serde_json` itself, so lone surrogates are refused exactly as the
//! slow path refuses them). Whatever it refuses goes to the exact slow
//! path, so being stricter can only cost time, never change a result.
//!
//! Given the redactor it also stops ("needs the slow path") at a sensitive
//! key, a string holding embedded JSON, nesting over the limit, and a
//! string with escapes whose decoded text may match a rule (strings
//! without escapes are slices of the line, which the caller's whole-line
//! gate already cleared).

use std::borrow::Cow;

use crate::engine::{looks_like_json, Redactor};

/// Why scanning stopped: the record needs the slow path (or is not JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stop;

type R<T> = Result<T, Stop>;

/// Bytes that end the plain part of a JSON string: `"`, `\`, controls.
const STR_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Top-level string fields kept during a scan, reported once the scan
/// succeeds: `(key start, key end, value start, value end)` of strings
/// without escapes.
const KEPT: usize = 24;

/// One scan over a JSON text.
pub(crate) struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    /// With a redactor: stop at anything the slow path might change.
    r: Option<&'a Redactor>,
    /// Collect top-level string fields.
    collect: bool,
    kept: [(u32, u32, u32, u32); KEPT],
    n_kept: usize,
    /// A top-level field had escapes, or there were too many to keep:
    /// fields are read again by a second scan when asked for.
    overflow: bool,
    /// The deepest `{`/`[` nesting met so far.
    pub(crate) deepest: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(r: Option<&'a Redactor>, s: &'a str, collect: bool) -> Scanner<'a> {
        Scanner {
            s,
            b: s.as_bytes(),
            pos: 0,
            r,
            collect,
            kept: [(0, 0, 0, 0); KEPT],
            n_kept: 0,
            overflow: false,
            deepest: 0,
        }
    }

    /// Scans the whole text: one value with optional whitespace around it.
    pub(crate) fn document(&mut self) -> R<()> {
        self.ws();
        self.value(0)?;
        self.ws();
        if self.pos != self.b.len() {
            return Err(Stop);
        }
        Ok(())
    }

    /// Reports the kept top-level fields (after a successful
    /// [`Scanner::document`] with `collect`); `false` when some could not
    /// be kept and the caller must read them with [`report_fields`].
    pub(crate) fn report(&self, out: &mut dyn crate::Fields) -> bool {
        if self.overflow {
            return false;
        }
        for &(ks, ke, vs, ve) in &self.kept[..self.n_kept] {
            let (ks, ke, vs, ve) = (ks as usize, ke as usize, vs as usize, ve as usize);
            out.field(&self.s[ks..ke], &self.s[vs..ve]);
        }
        true
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.pos) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.pos += 1;
        }
    }

    #[inline]
    fn peek(&self) -> R<u8> {
        self.b.get(self.pos).copied().ok_or(Stop)
    }

    fn value(&mut self, depth: usize) -> R<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => {
                let (start, end, escaped) = self.string()?;
                self.check_value(start, end, escaped)
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(Stop),
        }
    }

    fn enter(&mut self, depth: usize) -> R<()> {
        self.deepest = self.deepest.max(depth);
        if self.r.is_some_and(|r| depth > r.limits.max_depth) {
            return Err(Stop);
        }
        // serde_json's own recursion limit; deeper is refused.
        if depth > 127 {
            return Err(Stop);
        }
        Ok(())
    }

    /// Moves past the opening bracket at `pos` and the whitespace after
    /// it; `true` when `close` follows at once (an empty container, also
    /// moved past).
    fn open(&mut self, close: u8) -> R<bool> {
        self.pos += 1;
        self.ws();
        if self.peek()? == close {
            self.pos += 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// The key string at `pos` and the `:` after it (whitespace around
    /// skipped): the key's raw extent and whether it has escapes.
    fn key(&mut self) -> R<(usize, usize, bool)> {
        if self.peek()? != b'"' {
            return Err(Stop);
        }
        let key = self.string()?;
        self.ws();
        if self.peek()? != b':' {
            return Err(Stop);
        }
        self.pos += 1;
        self.ws();
        Ok(key)
    }

    /// After a member: `true` past a `,` (whitespace after it skipped),
    /// `false` past `close`; anything else stops.
    fn next_member(&mut self, close: u8) -> R<bool> {
        self.ws();
        match self.peek()? {
            b',' => {
                self.pos += 1;
                self.ws();
                Ok(true)
            }
            c if c == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(Stop),
        }
    }

    fn object(&mut self, depth: usize) -> R<()> {
        self.enter(depth)?;
        if self.open(b'}')? {
            return Ok(());
        }
        loop {
            let (ks, ke, kesc) = self.key()?;
            self.check_key(ks, ke, kesc)?;
            if depth == 1 && self.collect && self.peek()? == b'"' {
                let (vs, ve, vesc) = self.string()?;
                self.check_value(vs, ve, vesc)?;
                self.keep(ks, ke, kesc, vs, ve, vesc);
            } else {
                self.value(depth)?;
            }
            if !self.next_member(b'}')? {
                return Ok(());
            }
        }
    }

    fn keep(&mut self, ks: usize, ke: usize, kesc: bool, vs: usize, ve: usize, vesc: bool) {
        if kesc || vesc || self.n_kept == KEPT || ve > u32::MAX as usize {
            self.overflow = true;
            return;
        }
        // Inside the quotes.
        self.kept[self.n_kept] = (
            (ks + 1) as u32,
            (ke - 1) as u32,
            (vs + 1) as u32,
            (ve - 1) as u32,
        );
        self.n_kept += 1;
    }

    fn array(&mut self, depth: usize) -> R<()> {
        self.enter(depth)?;
        if self.open(b']')? {
            return Ok(());
        }
        loop {
            self.value(depth)?;
            if !self.next_member(b']')? {
                return Ok(());
            }
        }
    }

    /// The string at `pos` (which is `"`): its raw extent, quotes
    /// included, and whether it has escapes. Validates escapes and refuses
    /// control characters.
    #[inline]
    fn string(&mut self) -> R<(usize, usize, bool)> {
        let start = self.pos;
        let b = self.b;
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            while i < b.len() && !STR_SPECIAL[usize::from(b[i])] {
                i += 1;
            }
            match b.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok((start, i + 1, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    match b.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u') => {
                            let hex = b.get(i + 2..i + 6).ok_or(Stop)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(Stop);
                            }
                            i += 6;
                        }
                        _ => return Err(Stop),
                    }
                }
                _ => return Err(Stop),
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> R<()> {
        if self.b.get(self.pos..self.pos + word.len()) != Some(word) {
            return Err(Stop);
        }
        self.pos += word.len();
        Ok(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> R<()> {
        let b = self.b;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            _ => return Err(Stop),
        }
        if b.get(i) == Some(&b'.') {
            i = digits(b, i + 1)?;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            i = digits(b, i)?;
        }
        self.pos = i;
        Ok(())
    }

    /// The text of the raw string `start..end`: borrowed without escapes,
    /// decoded by `serde_json` (as the slow path does) with them.
    fn text(&self, start: usize, end: usize, escaped: bool) -> R<Cow<'a, str>> {
        let s: &'a str = self.s;
        if !escaped {
            return Ok(Cow::Borrowed(&s[start + 1..end - 1]));
        }
        serde_json::from_str::<String>(&s[start..end])
            .map(Cow::Owned)
            .map_err(|_| Stop)
    }

    fn check_key(&self, start: usize, end: usize, escaped: bool) -> R<()> {
        let Some(r) = self.r else { return Ok(()) };
        let key = self.text(start, end, escaped)?;
        if r.keys.find(&key).is_some() || (escaped && r.text_may_match(&key)) {
            return Err(Stop);
        }
        Ok(())
    }

    fn check_value(&self, start: usize, end: usize, escaped: bool) -> R<()> {
        let Some(r) = self.r else { return Ok(()) };
        if !escaped {
            // Embedded JSON starts with a bracket or whitespace.
            return match self.b.get(start + 1) {
                Some(c) if c.is_ascii() && !c.is_ascii_whitespace() && *c != b'{' && *c != b'[' => {
                    Ok(())
                }
                _ if looks_like_json(&self.s[start + 1..end - 1]) => Err(Stop),
                _ => Ok(()),
            };
        }
        let text = self.text(start, end, escaped)?;
        if looks_like_json(&text) || r.text_may_match(&text) {
            return Err(Stop);
        }
        Ok(())
    }
}

/// The end of the run of digits starting at `i`; stops when there is none.
fn digits(b: &[u8], mut i: usize) -> R<usize> {
    let d = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if i == d {
        return Err(Stop);
    }
    Ok(i)
}

/// Reports the top-level string fields of the JSON object `s` to `out`
/// (values with escapes decoded). Nothing when `s` is not a JSON object.
pub(crate) fn report_fields(s: &str, out: &mut dyn crate::Fields) {
    let mut sc = Scanner::new(None, s, false);
    sc.ws();
    if sc.peek() != Ok(b'{') {
        return;
    }
    let _ = fields_of_object(&mut sc, out);
}

fn fields_of_object(sc: &mut Scanner<'_>, out: &mut dyn crate::Fields) -> R<()> {
    if sc.open(b'}')? {
        return Ok(());
    }
    loop {
        let (ks, ke, kesc) = sc.key()?;
        if sc.peek()? == b'"' {
            let (vs, ve, vesc) = sc.string()?;
            let key = sc.text(ks, ke, kesc)?;
            let value = sc.text(vs, ve, vesc)?;
            out.field(&key, &value);
        } else {
            sc.value(1)?;
        }
        if sc.next_member(b'}') != Ok(true) {
            return Ok(());
        }
    }
}

/// Whether `s` is exactly one JSON object (optional whitespace around) as
/// `serde_json` reads it: the scanner answers, and `serde_json` itself
/// for what the scanner refuses (it is stricter in corner cases).
pub fn is_json_object(s: &str) -> bool {
    // As the decoder always did: Unicode whitespace trimmed first.
    let t = s.trim_start();
    if !t.starts_with('{') {
        return false;
    }
    Scanner::new(None, t, false).document().is_ok()
        || serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok()
}
