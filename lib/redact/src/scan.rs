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
//! Given the redactor ([`Scanner::gated`]) it also plans the redaction of
//! the record, in the same pass: it lists as [`Edit`]s the strings and
//! numbers that may hold a match of a text rule and the values under
//! sensitive keys, and stops ("needs the slow path") at a string holding
//! embedded JSON and at nesting over the limit. A string without escapes is a slice of the
//! line: it is listed when one of its bytes is a gate trigger whose check
//! passes ([`crate::gate::Gate::trigger`], run from the string loop) or
//! holds a whole-line mark ([`crate::gate::Gate::marks`]). A string with
//! escapes is decoded and checked on its own. A number (its literal text
//! goes through the text rules, as in [`crate::json`]) is listed when a
//! mark lies in it or in the spaces just before it, or the trigger at
//! its exponent's `+` fires ([`Scanner::number_may_match`] says why that
//! is enough). A string or number not listed certainly comes out of the
//! text rules unchanged.

use std::borrow::Cow;

use crate::engine::{looks_like_json, Redactor};
use crate::gate::Gate;

/// Why scanning stopped: the record needs the slow path (or is not JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stop;

type R<T> = Result<T, Stop>;

/// Bytes inside a string, with the gate: 0 plain, 1 ends the plain part
/// (`"`, `\\`, controls), 2 a gate trigger (`@ + : . =`, space, and every
/// byte outside ASCII).
const STR_GATED: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i < 0x20 || i == b'"' as usize || i == b'\\' as usize {
            1
        } else if i >= 0x80 {
            2
        } else {
            match i as u8 {
                b'@' | b'+' | b':' | b'.' | b'=' | b' ' => 2,
                _ => 0,
            }
        };
        i += 1;
    }
    t
};

/// What the slow path's rewrite would do to one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EditKind {
    /// A string (key or value) or a number: run the text rules on its
    /// decoded text (a number's literal text).
    Text,
    /// A string or number under a sensitive key: the rule's replacement.
    Replace(usize),
}

/// One token of the line to redact, `start..end` (a string's quotes
/// included; a number's literal text), in document order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Edit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) kind: EditKind,
}

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
    /// With a redactor: the gate that answers trigger bytes (`None`:
    /// every string is listed).
    gate: Option<&'a Gate>,
    /// Whole-line marks, sorted, and the first not behind the scan.
    marks: &'a [u32],
    mark_at: usize,
    /// The redaction plan (see the module docs).
    pub(crate) edits: Vec<Edit>,
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
            gate: None,
            marks: &[],
            mark_at: 0,
            edits: Vec::new(),
        }
    }

    /// A scanner that plans the redaction of `s` by `r` (see the module
    /// docs): `marks` are the sorted whole-line marks of `r`'s gate
    /// ([`crate::gate::Gate::marks`]); without a gate every string is
    /// listed.
    pub(crate) fn gated(
        r: &'a Redactor,
        s: &'a str,
        collect: bool,
        marks: &'a [u32],
    ) -> Scanner<'a> {
        let mut sc = Scanner::new(Some(r), s, collect);
        sc.gate = r.quick.as_ref();
        sc.marks = marks;
        sc
    }

    /// Scans the whole text: one value with optional whitespace around it.
    pub(crate) fn document(&mut self) -> R<()> {
        self.ws();
        self.value(0, None)?;
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

    /// [`Scanner::report`] after the plan was applied, for the output:
    /// the kept fields are the output's when no edit replaced a value or
    /// ran the text rules on a number (either may turn a number into a
    /// string) and no edit touches a kept field (every other token is
    /// copied as it is); `false` otherwise.
    pub(crate) fn report_unedited(&self, out: &mut dyn crate::Fields) -> bool {
        if self.overflow
            || self
                .edits
                .iter()
                .any(|e| e.kind != EditKind::Text || self.b[e.start] != b'"')
        {
            return false;
        }
        let touched = self.kept[..self.n_kept].iter().any(|&(ks, _, _, ve)| {
            self.edits
                .iter()
                .any(|e| e.start <= ve as usize && e.end >= ks as usize)
        });
        !touched && self.report(out)
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

    /// One value; `sens` is the rule of the sensitive key it is under.
    fn value(&mut self, depth: usize, sens: Option<usize>) -> R<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1, sens),
            b'[' => self.array(depth + 1, sens),
            b'"' => {
                let (start, end, escaped, hit) = self.string_tok()?;
                self.check_value(start, end, escaped, hit, sens)
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                let plus = self.number()?;
                // Most numbers: no mark left ahead, no `+`, nothing to plan.
                if self.r.is_some()
                    && (sens.is_some()
                        || plus.is_some()
                        || self.mark_at < self.marks.len()
                        || self.gate.is_none())
                {
                    self.plan_number(start, plus, sens);
                }
                Ok(())
            }
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
    /// skipped): the key's raw extent, whether it has escapes, and whether
    /// a gate trigger fired in it.
    fn key(&mut self) -> R<(usize, usize, bool, bool)> {
        if self.peek()? != b'"' {
            return Err(Stop);
        }
        let key = self.string_tok()?;
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

    fn object(&mut self, depth: usize, sens: Option<usize>) -> R<()> {
        self.enter(depth)?;
        if self.open(b'}')? {
            return Ok(());
        }
        loop {
            let (ks, ke, kesc, khit) = self.key()?;
            let own = self.check_key(ks, ke, kesc, khit)?;
            let sens = sens.or(own);
            if depth == 1 && self.collect && self.peek()? == b'"' {
                let (vs, ve, vesc, vhit) = self.string_tok()?;
                self.check_value(vs, ve, vesc, vhit, sens)?;
                self.keep(ks, ke, kesc, vs, ve, vesc);
            } else {
                self.value(depth, sens)?;
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

    fn array(&mut self, depth: usize, sens: Option<usize>) -> R<()> {
        self.enter(depth)?;
        if self.open(b']')? {
            return Ok(());
        }
        loop {
            self.value(depth, sens)?;
            if !self.next_member(b']')? {
                return Ok(());
            }
        }
    }

    /// [`Scanner::string`], and whether a gate trigger in it fired (only
    /// with a gate, and only until the first escape: a string with
    /// escapes is checked decoded).
    #[inline]
    fn string_tok(&mut self) -> R<(usize, usize, bool, bool)> {
        let Some(g) = self.gate else {
            let (s, e, esc) = self.string()?;
            return Ok((s, e, esc, false));
        };
        let start = self.pos;
        let b = self.b;
        let mut i = start + 1;
        let mut hit = false;
        loop {
            while i < b.len() && STR_GATED[usize::from(b[i])] == 0 {
                i += 1;
            }
            match b.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok((start, i + 1, false, hit));
                }
                Some(b'\\') => {
                    // Finish as a string with escapes.
                    self.pos = start;
                    let (s, e, esc) = self.string()?;
                    return Ok((s, e, esc, hit));
                }
                Some(&c) if STR_GATED[usize::from(c)] == 2 => {
                    hit = hit || g.trigger(b, i);
                    i += 1;
                }
                _ => return Err(Stop),
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
            while i < b.len() && STR_GATED[usize::from(b[i])] != 1 {
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

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; where its `+` is,
    /// if it has one.
    fn number(&mut self) -> R<Option<usize>> {
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
        let mut plus = None;
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                if b[i] == b'+' {
                    plus = Some(i);
                }
                i += 1;
            }
            i = digits(b, i)?;
        }
        self.pos = i;
        Ok(plus)
    }

    /// The text of the raw string `start..end`: borrowed without escapes,
    /// decoded by `serde_json` (as the slow path does) with them.
    fn text(&self, start: usize, end: usize, escaped: bool) -> R<Cow<'a, str>> {
        let s: &'a str = self.s;
        if !escaped {
            return Ok(Cow::Borrowed(&s[start + 1..end - 1]));
        }
        crate::json::decode(&s[start..end]).map_err(|_| Stop)
    }

    /// Whether a whole-line mark lies in `start..end` (strings are
    /// visited in order, so the marks behind are passed for good).
    fn marked(&mut self, start: usize, end: usize) -> bool {
        while self.mark_at < self.marks.len() && (self.marks[self.mark_at] as usize) < start {
            self.mark_at += 1;
        }
        self.mark_at < self.marks.len() && (self.marks[self.mark_at] as usize) < end
    }

    /// Whether the text rules may change the string `start..end`, whose
    /// text is `text`.
    fn may_match(
        &mut self,
        r: &Redactor,
        text: &str,
        start: usize,
        end: usize,
        escaped: bool,
        hit: bool,
    ) -> bool {
        if escaped {
            return r.text_may_match(text);
        }
        self.gate.is_none() || hit || self.marked(start, end)
    }

    /// Whether the text rules may change the literal text of the number
    /// `start..pos` (not under a sensitive key), whose `+` is at `plus`.
    /// Of the built-in prefilters only two can match inside a number's
    /// bytes (`[0-9.eE+-]`): the card one (13 digits in a row: a `-` is
    /// never between two digits), which lies in a digit run, and the phone
    /// one (`+` and 8 digits, in an exponent), whose trigger is its `+`;
    /// and so can the base64 run scan (40 bytes of `[0-9eE+]` in a row).
    /// The others need two letters or more (a number has at most its
    /// `e`), `@`, `:`, `=`, two `-` or three `.`. A digit run or base64
    /// run inside the number's text lies in a maximal run of the line that
    /// holds it; such a run of the line may start at the spaces before the
    /// number (a space is in the digit-run class) but at no byte before
    /// them (`[`, `,`, `:`, tab and newlines are in neither class), so a
    /// mark in those spaces or in the number stands for it. (The caller
    /// skips the call when no mark is left ahead: none can be in range.)
    /// Without a gate, the prefilter itself answers.
    fn number_may_match(&mut self, r: &Redactor, start: usize, plus: Option<usize>) -> bool {
        let end = self.pos;
        let Some(g) = self.gate else {
            return r.text_may_match(&self.s[start..end]);
        };
        let mut from = start;
        while from > 0 && self.b[from - 1] == b' ' {
            from -= 1;
        }
        plus.is_some_and(|i| g.trigger(self.b, i)) || self.marked(from, end)
    }

    /// Plans the number `start..pos` (`plus`: where its `+` is), under the
    /// sensitive key of rule `sens` if any.
    #[inline(never)]
    fn plan_number(&mut self, start: usize, plus: Option<usize>, sens: Option<usize>) {
        let Some(r) = self.r else { return };
        let kind = match sens {
            Some(rule) => EditKind::Replace(rule),
            None if self.number_may_match(r, start, plus) => EditKind::Text,
            None => return,
        };
        self.edits.push(Edit {
            start,
            end: self.pos,
            kind,
        });
    }

    /// Plans the key `start..end`; its sensitive-name rule, if any.
    fn check_key(
        &mut self,
        start: usize,
        end: usize,
        escaped: bool,
        hit: bool,
    ) -> R<Option<usize>> {
        let Some(r) = self.r else { return Ok(None) };
        let key = self.text(start, end, escaped)?;
        let own = r.keys.find(&key);
        if self.may_match(r, &key, start, end, escaped, hit) {
            self.edits.push(Edit {
                start,
                end,
                kind: EditKind::Text,
            });
        }
        Ok(own)
    }

    /// Plans the string value `start..end`, under the sensitive key of
    /// rule `sens` if any.
    fn check_value(
        &mut self,
        start: usize,
        end: usize,
        escaped: bool,
        hit: bool,
        sens: Option<usize>,
    ) -> R<()> {
        let Some(r) = self.r else { return Ok(()) };
        if let Some(rule) = sens {
            // `""` stays; any other string decodes to a non-empty text.
            if end - start > 2 {
                self.edits.push(Edit {
                    start,
                    end,
                    kind: EditKind::Replace(rule),
                });
            }
            return Ok(());
        }
        let text = self.text(start, end, escaped)?;
        if looks_like_json(&text) {
            return Err(Stop);
        }
        if self.may_match(r, &text, start, end, escaped, hit) {
            self.edits.push(Edit {
                start,
                end,
                kind: EditKind::Text,
            });
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
        let (ks, ke, kesc, _) = sc.key()?;
        if sc.peek()? == b'"' {
            let (vs, ve, vesc) = sc.string()?;
            let key = sc.text(ks, ke, kesc)?;
            let value = sc.text(vs, ve, vesc)?;
            out.field(&key, &value);
        } else {
            sc.value(1, None)?;
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
