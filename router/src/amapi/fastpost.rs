//! A fast decoder for the common shape of a `POST /api/v2/alerts` body.
//!
//! Why: decoding the posted JSON is about a third of the router's
//! per-alert CPU on the ingest path. The general path (serde into
//! [`wire::PostableAlert`], then [`wire::PostableAlert::into_alert`], then
//! the handler's conversion) copies every string, builds a temporary map
//! per label set and goes through serde's generic machinery. Senders
//! (Prometheus, Grafana, amtool) post plain objects of strings, so this
//! module reads exactly that shape in one pass over the bytes, borrowing
//! every name and value from the body and building each [`LabelSet`] from
//! one reused scratch vector.
//!
//! Escapes: Go's encoding/json writes `<`, `>`, `&` as `\u003c`, `\u003e`,
//! `\u0026` (every Prometheus `generatorURL` has a `\u0026`), and values
//! often hold `\n`, `\"` or `\\`. The scanner only skips escapes to find
//! a string's end and flags them; a label set with a flagged string is
//! then decoded ([`escape::decode`], exactly as serde_json decodes a
//! string) into owned strings that live until the set is built, and a
//! flagged key, time or `generatorURL` is decoded on its own. Strings
//! without escapes stay borrowed, so the common case costs nothing more.
//!
//! Contract: [`parse_alerts`] either returns `Some(alerts)`, equal to what
//! the serde path yields for the same body, or `None` ("not sure"), and the
//! caller then runs the serde path, which accepts or rejects the body and
//! words every error message as before. `None` is never wrong; `Some` must
//! be exact.
//!
//! Taken: a top-level array (whitespace around tokens allowed) of objects
//! with the keys `labels` (required), `annotations`, `startsAt`, `endsAt`,
//! `generatorURL` in any order, each at most once, keys possibly escaped;
//! the optional ones may be `null`; label/annotation maps of strings, in
//! which a repeated name (after decoding) keeps the last value, as serde's
//! [`LabelSet`] deserializer does; strings with any escape serde_json
//! accepts (`\" \\ \/ \b \f \n \r \t \uXXXX`, surrogate pairs,
//! `\u0000`).
//!
//! Left to serde (`None`): invalid UTF-8; raw control characters in a
//! string; an unknown escape, short or non-hex `\u` digits, a lone or
//! mis-ordered surrogate (serde_json rejects all these); numbers, booleans
//! or other unexpected value types; unknown or repeated keys of an alert
//! (serde ignores unknown ones); a missing `labels`; a time
//! [`wire::parse_time`] rejects; trailing bytes; a top level that is not
//! an array.

use std::borrow::Cow;

use watchfire_alertmodel::LabelSet;
use watchfire_dispatch::PostableAlert;

use super::wire;

mod escape;
#[cfg(test)]
mod tests;

/// Decodes a body of the common shape; `None` when the serde path must
/// decide (see the module docs).
pub fn parse_alerts(body: &[u8]) -> Option<Vec<PostableAlert>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut cur = Cursor {
        text,
        bytes: body,
        pos: 0,
        escaped: false,
    };
    let mut scratch: Vec<(&str, &str)> = Vec::with_capacity(16);
    cur.eat(b'[')?;
    // Alerts take upwards of 128 bytes: few regrowths, bounded waste.
    let mut alerts = Vec::with_capacity((body.len() / 128 + 1).min(4096));
    if cur.peek()? == b']' {
        cur.pos += 1;
    } else {
        loop {
            alerts.push(cur.alert(&mut scratch)?);
            if cur.list_end(b']')? {
                break;
            }
        }
    }
    cur.skip_ws();
    (cur.pos == body.len()).then_some(alerts)
}

/// A mask whose lowest set bit is the high bit of the first byte (in
/// little-endian order) of `w` that ends a plain string: a quote, a
/// backslash or a control character; 0 when there is none. Bits above the
/// lowest may be spurious (borrows), so only the lowest is meaningful.
fn special_bytes(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let quote = zero_in(w ^ (ONES * u64::from(b'"')));
    let backslash = zero_in(w ^ (ONES * u64::from(b'\\')));
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    quote | backslash | control
}

/// Keys of a `postableAlert`, as bits of the "seen" mask.
const LABELS: u8 = 1;
const ANNOTATIONS: u8 = 2;
const STARTS_AT: u8 = 4;
const ENDS_AT: u8 = 8;
const GENERATOR_URL: u8 = 16;

/// The bit of a (decoded) key of a `postableAlert`; `None` for any other.
#[inline]
fn key_bit(key: &str) -> Option<u8> {
    Some(match key {
        "labels" => LABELS,
        "annotations" => ANNOTATIONS,
        "startsAt" => STARTS_AT,
        "endsAt" => ENDS_AT,
        "generatorURL" => GENERATOR_URL,
        _ => return None,
    })
}

/// A position in the (UTF-8 validated) body.
struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Set by [`Cursor::string`] when a string has an escape (never
    /// cleared by it): callers clear it and look after they read.
    escaped: bool,
}

impl<'a> Cursor<'a> {
    /// Skips JSON whitespace.
    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    /// Consumes `c` (after whitespace), or fails.
    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    /// After a list item: consumes `,` (`Some(false)`, more follow) or
    /// `close` (`Some(true)`, the list ended); anything else fails.
    #[inline]
    fn list_end(&mut self, close: u8) -> Option<bool> {
        let c = self.peek()?;
        if c != b',' && c != close {
            return None;
        }
        self.pos += 1;
        Some(c == close)
    }

    /// Consumes a literal `null` (whitespace already skipped).
    fn null(&mut self) -> Option<()> {
        if self.bytes.get(self.pos..self.pos + 4)? == b"null" {
            self.pos += 4;
            Some(())
        } else {
            None
        }
    }

    /// A string's raw contents, borrowed: escapes are left as they are,
    /// only skipped to find the closing quote (and flagged in `escaped`);
    /// a raw control character gives `None`.
    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        // Eight bytes at a time while they last, then byte by byte.
        while let Some(word) = self.bytes.get(self.pos..self.pos + 8) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            let w = u64::from_le_bytes(bytes);
            let stop = special_bytes(w);
            if stop != 0 {
                // The stop byte's offset, in bits; a quote ends the string.
                let shift = stop.trailing_zeros() & !7;
                self.pos += (shift / 8) as usize;
                return match (w >> shift) as u8 {
                    b'"' => self.end_string(start),
                    b'\\' => self.escaped_string(start),
                    _ => None,
                };
            }
            self.pos += 8;
        }
        self.escaped_string(start)
    }

    /// The rest of a string from `start`, byte by byte: from a backslash
    /// at `pos` or the last few bytes of the body.
    #[inline(never)]
    fn escaped_string(&mut self, start: usize) -> Option<&'a str> {
        loop {
            match *self.bytes.get(self.pos)? {
                b'"' => return self.end_string(start),
                b'\\' => {
                    // The escaped byte (maybe a quote) cannot end the
                    // string; `escape::decode` checks the escape later.
                    self.escaped = true;
                    self.pos += 2;
                }
                0..=0x1f => return None,
                _ => self.pos += 1,
            }
        }
    }

    /// The string from `start` to the closing quote at `pos`, which it
    /// consumes.
    #[inline]
    fn end_string(&mut self, start: usize) -> Option<&'a str> {
        // Both ends sit next to an ASCII quote: always char boundaries.
        let s = self.text.get(start..self.pos)?;
        self.pos += 1;
        Some(s)
    }

    /// A string, decoded: borrowed unless it has an escape.
    fn decoded_string(&mut self) -> Option<Cow<'a, str>> {
        self.escaped = false;
        let raw = self.string()?;
        if self.escaped {
            escape::decode(raw).map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(raw))
        }
    }

    /// `null` (`None`) or a string.
    fn opt_string(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.peek()? == b'n' {
            self.null()?;
            Some(None)
        } else {
            self.decoded_string().map(Some)
        }
    }

    /// An object of string values, as a label set: the raw pairs go to
    /// `scratch`, and only a set with an escape is decoded afterwards.
    fn string_map(&mut self, scratch: &mut Vec<(&'a str, &'a str)>) -> Option<LabelSet> {
        self.eat(b'{')?;
        scratch.clear();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(LabelSet::default());
        }
        self.escaped = false;
        loop {
            let name = self.string()?;
            self.eat(b':')?;
            let value = self.string()?;
            scratch.push((name, value));
            if self.list_end(b'}')? {
                break;
            }
        }
        let set = if self.escaped {
            decoded_set(scratch)?
        } else {
            LabelSet::from_unsorted(scratch)
        };
        scratch.clear();
        Some(set)
    }

    /// One `postableAlert` object.
    fn alert(&mut self, scratch: &mut Vec<(&'a str, &'a str)>) -> Option<PostableAlert> {
        self.eat(b'{')?;
        let mut seen = 0u8;
        let mut labels = None;
        let mut annotations = LabelSet::default();
        let mut starts_at = None;
        let mut ends_at = None;
        let mut generator_url = None;
        loop {
            let raw = self.string()?;
            self.eat(b':')?;
            // serde matches a key after decoding it: so does this.
            let bit = match key_bit(raw) {
                Some(bit) => bit,
                None => key_bit(&unescape(raw)?)?,
            };
            match bit {
                LABELS => labels = Some(self.string_map(scratch)?),
                ANNOTATIONS => {
                    if self.peek()? == b'n' {
                        self.null()?;
                    } else {
                        annotations = self.string_map(scratch)?;
                    }
                }
                STARTS_AT => starts_at = self.opt_string()?,
                ENDS_AT => ends_at = self.opt_string()?,
                _ => generator_url = self.opt_string()?,
            }
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            if self.list_end(b'}')? {
                break;
            }
        }
        let starts_at = wire::parse_time("startsAt", starts_at.as_deref()).ok()?;
        let ends_at = wire::parse_time("endsAt", ends_at.as_deref()).ok()?;
        Some(PostableAlert {
            labels: labels?,
            annotations,
            starts_at: (starts_at != 0).then_some(starts_at),
            ends_at: (ends_at != 0).then_some(ends_at),
            generator_url: generator_url.map(Cow::into_owned).unwrap_or_default(),
        })
    }
}

/// The label set of raw pairs some of which have escapes: decoded (a
/// repeated name is found after decoding, so the last value still wins).
#[inline(never)]
fn decoded_set(raw: &[(&str, &str)]) -> Option<LabelSet> {
    let owned: Vec<(Cow<'_, str>, Cow<'_, str>)> = raw
        .iter()
        .map(|&(name, value)| Some((unescape(name)?, unescape(value)?)))
        .collect::<Option<_>>()?;
    let mut view: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (&**n, &**v)).collect();
    Some(LabelSet::from_unsorted(&mut view))
}

/// A string's raw contents, decoded: borrowed when it has no escape.
fn unescape(raw: &str) -> Option<Cow<'_, str>> {
    if raw.contains('\\') {
        escape::decode(raw).map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(raw))
    }
}
