//! The cheap gate in front of the rule prefilter: a handful of byte scans
//! that prove, for most ASCII text, that no built-in prefilter pattern and
//! no `key=value` prefilter of the `RegexSet` can match, so the set's DFA
//! never runs.
//!
//! Every check is a necessary condition of one prefilter pattern
//! ([`crate::rules::BUILTINS`]), computed over ASCII text only (non-ASCII
//! text goes straight to the set, where `(?i)` folds Unicode):
//!
//! - literal starts, ASCII case-insensitively (an Aho-Corasick search of
//!   the lower-cased text, which its SIMD literal prefilter makes cheap):
//!   `-----BEGIN`, `eyJ`, `ghp_`…, `xox`, `AIza`, `AKIA`…, `bearer`,
//!   `basic`;
//! - at each `:` and `=`: a sensitive key name in the key-like run before
//!   it (the `key=value` prefilter, read backwards);
//! - at each `@`, `+`, `:`, `.` (found with `memchr`): the email, phone,
//!   IPv6 and IPv4 shapes around it;
//! - a run of 11+ bytes of `[0-9 -]` holding 9+ digits (cards, SSNs),
//!   found by probing every 11th byte;
//! - an upper-case letter pair followed by two digits (IBANs), found by a
//!   word-at-a-time upper-case scan.
//!
//! Plain `[a-z_]` words without `gh` ([`plain_word`]) need none of this:
//! no prefilter can match one.
//!
//! `false` is a proof of "no match"; `true` only means "ask the set". The
//! base64 run scan of the engine is separate and unchanged.
//!
//! The fast path over JSON records ([`crate::fast`]) uses the same checks
//! to say *which strings* may match: [`Gate::trigger`] runs the local
//! shape checks from the scanner's string loop (so only bytes inside
//! strings are looked at), and [`Gate::marks`] marks the places the
//! whole-line checks find. A randomized test checks that every string
//! the set (or the base64 run scan) matches is listed.

use aho_corasick::AhoCorasick;

use crate::keys::words;

/// Literal starts of the built-in prefilters (matched ASCII
/// case-insensitively, a superset for the case-sensitive ones).
const LITERALS: &[&str] = &[
    "-----BEGIN",
    "eyJ",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xox",
    "xapp-",
    "hooks.slack.com/",
    "AIza",
    "ya29.",
    "GOCSPX-",
    "AKIA",
    "ASIA",
    "ABIA",
    "ACCA",
    "AGPA",
    "AIDA",
    "AROA",
    "AIPA",
    "ANPA",
    "ANVA",
    "APKA",
    "A3T",
    "bearer",
    "basic",
];

/// The AWS key-id prefixes of [`LITERALS`]: [`Gate::marks`] finds them by
/// the run of `[A-Z0-9]` their prefilter needs instead.
const AWS: &[&str] = &[
    "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA", "A3T",
];

/// `[A-Z0-9]`
const UPPER_DIGIT: [bool; 256] = {
    let mut t = table(b"", false, true);
    let mut c = b'A';
    while c <= b'Z' {
        t[c as usize] = true;
        c += 1;
    }
    t
};

/// The case-insensitive literals of [`LITERALS`] (`(?i)bearer[ \t]`,
/// `(?i)basic[ \t]`): the rest are case-sensitive in their prefilters.
const FOLDED: &[&str] = &["bearer", "basic"];

/// The gate for one rule set.
#[derive(Debug)]
pub(crate) struct Gate {
    /// [`LITERALS`], lower-cased, searched in lower-cased text (so ASCII
    /// case-insensitively, with the searcher's SIMD literal prefilter).
    literals: AhoCorasick,
    /// [`LITERALS`] but [`FOLDED`] and [`AWS`], as written: searched in
    /// the raw text (their prefilters are case-sensitive), for
    /// [`Gate::marks`].
    exact: AhoCorasick,
    /// The words of each key name, lower-cased.
    names: Vec<Vec<String>>,
    /// Bit `a * 256 + b`: some name's first word starts with the
    /// lower-case bytes `a`, `b`.
    pairs: Box<[u64; 1024]>,
}

impl Gate {
    /// The gate for the built-ins and the `key=value` names `key_names`;
    /// `None` when it cannot stand for the set: a name with a word that
    /// is not ASCII (`(?i)` could fold it onto ASCII text) or a first
    /// word shorter than two letters.
    pub(crate) fn new(key_names: &[String]) -> Option<Gate> {
        let pats: Vec<Vec<u8>> = LITERALS
            .iter()
            .map(|s| s.to_ascii_lowercase().into_bytes())
            .collect();
        let mut names = Vec::new();
        let mut pairs = Box::new([0u64; 1024]);
        for name in key_names {
            let w: Vec<String> = words(name).iter().map(|w| w.to_ascii_lowercase()).collect();
            let Some(first) = w.first() else { continue };
            if !w.iter().all(|w| w.is_ascii()) {
                return None;
            }
            let [a, b, ..] = first.as_bytes() else {
                return None;
            };
            for (a, b) in [
                (a.to_ascii_lowercase(), b.to_ascii_lowercase()),
                (a.to_ascii_uppercase(), b.to_ascii_lowercase()),
                (a.to_ascii_lowercase(), b.to_ascii_uppercase()),
                (a.to_ascii_uppercase(), b.to_ascii_uppercase()),
            ] {
                let i = usize::from(a) << 8 | usize::from(b);
                pairs[i >> 6] |= 1 << (i & 63);
            }
            names.push(w);
        }
        // Leftmost-first: the kind that gets the packed (SIMD) prefilter.
        let literals = AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .build(&pats)
            .ok()?;
        let exact = AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .build(
                LITERALS
                    .iter()
                    .filter(|l| !FOLDED.contains(l) && !AWS.contains(l)),
            )
            .ok()?;
        Some(Gate {
            literals,
            exact,
            names,
            pairs,
        })
    }

    /// Whether some prefilter pattern may match the ASCII text `b`.
    pub(crate) fn may_match(&self, b: &[u8]) -> bool {
        punct(b) || digit_runs(b) || iban(b) || self.key_value(b, false) || self.literal(b)
    }

    /// Some built-in literal start occurs (any case).
    fn literal(&self, b: &[u8]) -> bool {
        thread_local! {
            static LOWER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        LOWER.with(|buf| {
            let mut lower = buf.borrow_mut();
            lower.clear();
            lower.extend_from_slice(b);
            lower.make_ascii_lowercase();
            self.literals.is_match(&lower[..])
        })
    }

    /// The `key=value` prefilter,
    /// `(?i)(?:w1[_.-]?w2…)[A-Za-z0-9_.-]*(?:\\?["'])?[ \t]*[:=]`, read
    /// backwards from each `:` and `=`: spaces, an optional (escaped)
    /// quote, then the run of `[A-Za-z0-9_.-]` before them must hold a
    /// name. Every step is forced (the name and its suffix are made of
    /// that class, a quote or space is not in it). `in_strings`: `b` is
    /// JSON text and only matches inside its strings without escapes
    /// matter, so a `:` or `=` right after a `"` (spaces between) is
    /// skipped: such a string holds no `"`, so no match inside one can end
    /// there (these are the structural colons after object keys).
    fn key_value(&self, b: &[u8], in_strings: bool) -> bool {
        memchr::memchr2_iter(b':', b'=', b).any(|i| self.key_value_at(b, i, in_strings))
    }

    /// [`Gate::key_value`] at the `:` or `=` at `i`.
    fn key_value_at(&self, b: &[u8], i: usize, in_strings: bool) -> bool {
        {
            let mut j = i;
            while j > 0 && matches!(b[j - 1], b' ' | b'\t') {
                j -= 1;
            }
            if in_strings && j > 0 && b[j - 1] == b'"' {
                return false;
            }
            if j > 0 && matches!(b[j - 1], b'"' | b'\'') {
                j -= 1;
                if j > 0 && b[j - 1] == b'\\' {
                    j -= 1;
                }
            }
            let end = j;
            while j > 0 && KEY_CLASS[usize::from(b[j - 1])] {
                j -= 1;
            }
            self.holds_name(&b[j..end])
        }
    }

    /// The checks of [`Gate::may_match`] that look around one
    /// byte, for the byte at `i` of the JSON text `b`, which is inside a
    /// string without escapes and is one of `@ + : . =`, a space or a byte
    /// outside ASCII (`crate::scan`'s trigger bytes): whether some
    /// prefilter match may hold it. Every prefilter match these checks
    /// stand for (email, phone, IPv6, IPv4, `key=value`, `bearer `,
    /// `basic `) holds its witness byte (its `@`, `+`, a `:`, its first
    /// `.`, its `:`/`=`, its space), and the check reads only bytes of the
    /// match, so a match inside a string is seen at a byte of that string.
    /// A byte outside ASCII answers "maybe": `(?i)` folds some onto ASCII
    /// letters.
    pub(crate) fn trigger(&self, b: &[u8], i: usize) -> bool {
        match b[i] {
            b'@' => email_at(b, i),
            b'+' => phone_at(b, i),
            b':' => ipv6_at(b, i) || self.key_value_at(b, i, true),
            b'.' => ipv4_at(b, i),
            b'=' => self.key_value_at(b, i, true),
            b' ' => {
                (i >= 6 && b[i - 6..i].eq_ignore_ascii_case(b"bearer"))
                    || (i >= 5 && b[i - 5..i].eq_ignore_ascii_case(b"basic"))
            }
            _ => true,
        }
    }

    /// The checks of [`Gate::may_match`] not made by
    /// [`Gate::trigger`], over the whole text `b` (any bytes): pushes to
    /// `out` a byte of every digit run (cards, SSNs), IBAN start,
    /// `A` followed by 14 bytes of `[A-Z0-9]` (the AWS key ids: a 3- or
    /// 4-byte prefix starting with `A`, then 12 more), other case-sensitive
    /// literal and, when `base64`, 40-byte
    /// base64 run (the engine's run scan) that may hold a prefilter match. Each is pushed
    /// at a byte of the match itself or of the maximal byte run holding
    /// it, and none of these classes holds a `"`: so a match inside a
    /// string is marked at a byte of that string. Unsorted.
    pub(crate) fn marks(&self, b: &[u8], base64: bool, out: &mut Vec<u32>) {
        probe_runs(b, &DIGIT_RUN, 11, |r, at| {
            if r.len() >= 11 && r.iter().filter(|c| c.is_ascii_digit()).count() >= 9 {
                out.push(at as u32);
            }
            false
        });
        if base64 {
            probe_runs(b, &crate::engine::BASE64, 40, |r, at| {
                if r.len() >= 40 {
                    out.push(at as u32);
                }
                false
            });
        }
        for i in memchr::memchr_iter(b'A', b) {
            if b.get(i + 1..i + 15)
                .is_some_and(|r| r.iter().all(|&c| UPPER_DIGIT[usize::from(c)]))
            {
                out.push(i as u32);
            }
        }
        iban_each(b, |i| {
            out.push(i as u32);
            false
        });
        for m in self.exact.find_iter(b) {
            out.push(m.start() as u32);
        }
    }

    /// Whether the run `r` holds some name, `w1[_.-]?w2…`, any case.
    fn holds_name(&self, r: &[u8]) -> bool {
        r.windows(2).enumerate().any(|(k, w)| {
            let i = usize::from(w[0]) << 8 | usize::from(w[1]);
            self.pairs[i >> 6] & (1 << (i & 63)) != 0 && self.names.iter().any(|n| name_at(r, k, n))
        })
    }
}

/// `[A-Za-z0-9_.-]`
const KEY_CLASS: [bool; 256] = table(b"_.-", true, true);

/// Whether `w1[_.-]?w2…` (any case) starts at `r[k]`.
fn name_at(r: &[u8], mut k: usize, words: &[String]) -> bool {
    for (n, w) in words.iter().enumerate() {
        if n > 0 && matches!(r.get(k), Some(b'_' | b'.' | b'-')) {
            k += 1;
        }
        match r.get(k..k + w.len()) {
            Some(s) if s.eq_ignore_ascii_case(w.as_bytes()) => k += w.len(),
            _ => return false,
        }
    }
    true
}

/// `[a-z_]`, as a table.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_lowercase() || c == b'_';
        i += 1;
    }
    t
};

/// Whether `b` is made of `[a-z_]` only and holds no `gh`: then no
/// built-in prefilter and no `key=value` one can match in it (each needs
/// a digit, an upper-case letter, a space, or one of `@ + : = . - /`,
/// except `gh[pousr]_` and `github_pat_`). Most keys and many short
/// values are such words; this answers them without the gate's set-up.
pub(crate) fn plain_word(b: &[u8]) -> bool {
    b.iter().all(|&c| PLAIN[usize::from(c)]) && memchr::memmem::find(b, b"gh").is_none()
}

/// `[A-Za-z0-9._%+-]`
const EMAIL_LOCAL: [bool; 256] = table(b"._%+-", true, true);
/// `[A-Za-z0-9-]`
const DOMAIN: [bool; 256] = table(b"-", true, true);
/// `[0-9 -]`
const DIGIT_RUN: [bool; 256] = table(b" -", false, true);

/// A byte class: ASCII letters and/or digits, plus `extra`.
pub(crate) const fn table(extra: &[u8], letters: bool, digits: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = (letters && c.is_ascii_alphabetic()) || (digits && c.is_ascii_digit());
        i += 1;
    }
    let mut j = 0;
    while j < extra.len() {
        t[extra[j] as usize] = true;
        j += 1;
    }
    t
}

fn digit(b: &[u8], i: usize) -> bool {
    b.get(i).is_some_and(u8::is_ascii_digit)
}

/// The shapes around `@`, `+`, `:` and `.`.
fn punct(b: &[u8]) -> bool {
    for i in memchr::memchr3_iter(b'@', b'+', b':', b) {
        let hit = match b[i] {
            b'@' => email_at(b, i),
            b'+' => phone_at(b, i),
            _ => ipv6_at(b, i),
        };
        if hit {
            return true;
        }
    }
    memchr::memchr_iter(b'.', b).any(|i| ipv4_at(b, i))
}

/// `[A-Za-z0-9._%+-]@[A-Za-z0-9-]+\.` with the `@` at `i`.
fn email_at(b: &[u8], i: usize) -> bool {
    if i == 0 || !EMAIL_LOCAL[usize::from(b[i - 1])] {
        return false;
    }
    let mut j = i + 1;
    while j < b.len() && DOMAIN[usize::from(b[j])] {
        j += 1;
    }
    j > i + 1 && b.get(j) == Some(&b'.')
}

/// `\+[1-9](?:[ .()-]{0,3}[0-9]){7}` with the `+` at `i`.
fn phone_at(b: &[u8], i: usize) -> bool {
    if !matches!(b.get(i + 1), Some(b'1'..=b'9')) {
        return false;
    }
    let mut j = i + 2;
    for _ in 0..7 {
        let mut seps = 0;
        while seps < 3 && matches!(b.get(j), Some(b' ' | b'.' | b'(' | b')' | b'-')) {
            j += 1;
            seps += 1;
        }
        if !digit(b, j) {
            // The regex could also take fewer separators, but a
            // separator is never a digit: no other split works.
            return false;
        }
        j += 1;
    }
    true
}

/// `::` or `(?:[0-9A-Fa-f]{1,4}:){4}` ending with the `:` at `i` (the
/// last colon of the four is the one that completes the shape).
fn ipv6_at(b: &[u8], i: usize) -> bool {
    if b.get(i + 1) == Some(&b':') {
        return true;
    }
    // Walk back over groups: `hex{1,4}:`; the earliest group may be a
    // longer hex run (the regex starts inside it).
    // `colon`: the colon ending the group being checked, last first.
    let mut colon = i;
    for g in 0..4 {
        let mut k = 0;
        while k < colon && k <= 4 && b[colon - 1 - k].is_ascii_hexdigit() {
            k += 1;
        }
        if k == 0 {
            return false;
        }
        if g == 3 {
            // The first group may sit at the end of a longer hex run.
            return true;
        }
        // A later group is one to four hex digits right after a colon.
        if k > 4 || colon - k == 0 || b[colon - k - 1] != b':' {
            return false;
        }
        colon -= k + 1;
    }
    false
}

/// `[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]` with its first `.` at `i`.
fn ipv4_at(b: &[u8], i: usize) -> bool {
    if i == 0 || !b[i - 1].is_ascii_digit() {
        return false;
    }
    let mut j = i + 1;
    for _ in 0..2 {
        let d = j;
        while j < b.len() && j - d < 4 && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == d || j - d > 3 || b.get(j) != Some(&b'.') {
            return false;
        }
        j += 1;
    }
    digit(b, j)
}

/// A run of at least 11 bytes of `[0-9 -]` holding at least 9 digits: the
/// card prefilter (13 digits, single separators) and the SSN one
/// (`ddd-dd-dddd`) both need one (see [`probe_runs`]).
fn digit_runs(b: &[u8]) -> bool {
    probe_runs(b, &DIGIT_RUN, 11, |r, _| {
        r.len() >= 11 && r.iter().filter(|c| c.is_ascii_digit()).count() >= 9
    })
}

/// Whether `accept` holds for some maximal run of `class` bytes of `b` at
/// least `n` long, probing every `n`th byte instead of reading them all: a
/// probe on a byte outside the class proves no run covers it, and any run
/// of `n` starting after it covers the next probe. A probe inside a run
/// measures the whole run, and the next probe goes `n` bytes past its end.
pub(crate) fn probe_runs(
    b: &[u8],
    class: &[bool; 256],
    n: usize,
    mut accept: impl FnMut(&[u8], usize) -> bool,
) -> bool {
    let is = |i: usize| class[usize::from(b[i])];
    let mut i = n - 1;
    while i < b.len() {
        if !is(i) {
            i += n;
            continue;
        }
        let start = i - b[..i]
            .iter()
            .rev()
            .take_while(|&&c| class[usize::from(c)])
            .count();
        // A run of `n` from `start` holds `start + n - 1`; when that byte
        // is outside the class, the run is shorter, and so is any other
        // run before it: go on `n` bytes past it.
        let far = start + n - 1;
        if far < b.len() && !is(far) {
            i = far + n;
            continue;
        }
        let end = i
            + 1
            + b[i + 1..]
                .iter()
                .take_while(|&&c| class[usize::from(c)])
                .count();
        if accept(&b[start..end], start) {
            return true;
        }
        i = end + n;
    }
    false
}

/// `[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}` somewhere in ASCII `b`: checked at
/// every upper-case letter, found eight bytes at a time.
fn iban(b: &[u8]) -> bool {
    iban_each(b, |_| true)
}

/// Calls `f` at every IBAN start of `b` (see [`iban`]) until it returns
/// `true`; whether it did. Any bytes: an 8-byte word with a byte outside
/// ASCII is checked byte by byte.
fn iban_each(b: &[u8], mut f: impl FnMut(usize) -> bool) -> bool {
    const L: u64 = 0x0101_0101_0101_0101;
    let mut upper_at = |i: usize| iban_at(b, i) && f(i);
    let chunks = b.chunks_exact(8);
    let tail = chunks.remainder();
    for (n, c) in chunks.enumerate() {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        if w & (0x80 * L) != 0 {
            for (k, x) in c.iter().enumerate() {
                if x.is_ascii_uppercase() && upper_at(n * 8 + k) {
                    return true;
                }
            }
            continue;
        }
        // ASCII bytes: x >= 'A' sets the high bit of x + 0x3f; x > 'Z'
        // sets it in x + 0x25. No carry crosses a byte (x < 0x80).
        let m = w.wrapping_add(0x3f * L) & !w.wrapping_add(0x25 * L) & (0x80 * L);
        // Only where the next byte is upper-case too (or is in the next
        // word).
        let mut m = m & ((m >> 8) | (0x80 << 56));
        while m != 0 {
            let k = (m.trailing_zeros() / 8) as usize;
            if upper_at(n * 8 + k) {
                return true;
            }
            m &= m - 1;
        }
    }
    let base = b.len() - tail.len();
    (0..tail.len()).any(|k| b[base + k].is_ascii_uppercase() && upper_at(base + k))
}

fn iban_at(b: &[u8], i: usize) -> bool {
    let up = |j: usize| b.get(j).is_some_and(u8::is_ascii_uppercase);
    let alnum = |j: usize| {
        b.get(j)
            .is_some_and(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    if !(up(i) && up(i + 1) && digit(b, i + 2) && digit(b, i + 3)) {
        return false;
    }
    let j = if b.get(i + 4) == Some(&b' ') {
        i + 5
    } else {
        i + 4
    };
    (j..j + 4).all(alnum)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The gate says "maybe" on `s` exactly when `expect`.
    fn check(g: &Gate, s: &str, expect: bool) {
        assert_eq!(g.may_match(s.as_bytes()), expect, "{s:?}");
    }

    #[test]
    fn shapes() {
        let g = Gate::new(&["password".to_string(), "api_key".to_string()]).unwrap();
        for (s, expect) in [
            ("plain words only", false),
            ("mail a@b.co", true),
            ("a@b", false),
            ("x @y.z", false),
            ("call +1 (415) 555-0100", true),
            ("tz +10:00", false),
            ("at 12:30:45.123", false),
            ("addr 2001:db8::1", true),
            ("addr 2001:db8:85a3:0:1", true),
            ("addr 2001:db8:85a3:1", false),
            ("abcdef:1:2:3:", true),
            ("ip 10.1.2.3", true),
            ("v 1.2.3", false),
            ("v 1.2345.6.7", false),
            ("card 4111 1111 1111 1111", true),
            ("ssn 078-05-1120", true),
            ("date 2026-11-22", false),
            ("iban GB82 WEST 1234 5698 7654 32", true),
            ("iban GB82WEST12345698765432", true),
            ("HTTP/1.1 GET", false),
            ("Authorization: BEARER x", true),
            ("the Password: x", true),
            ("my apikey=1", true),
            ("my API-Key\\\" = 1", true),
            ("GET /api/v1/orders", false),
            ("password reset requested", false),
            ("jwt eyJhbGciOi", true),
            ("key AKIAIOSFODNN7EXAMPLE", true),
            ("-----BEGIN RSA", true),
        ] {
            check(&g, s, expect);
        }
    }

    /// Pieces near every shape, for random strings.
    /// A deterministic xorshift64 stream for the randomized tests.
    pub(crate) fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    pub(crate) const PIECES: &[&str] = &[
        "4111",
        "1",
        "12",
        "123",
        "0",
        "9",
        " ",
        "  ",
        "-",
        "--",
        ".",
        "..",
        "@",
        "a",
        "b",
        "x",
        "Z",
        "GB",
        "82",
        "WEST",
        "ab.cd",
        "::",
        ":",
        "f",
        "ff0",
        "abcd",
        "abcde",
        "+1",
        "+",
        "(",
        ")",
        "eyJ",
        "eyJhbGci",
        "bearer",
        "Bearer ",
        "BASIC\t",
        "\t",
        "password",
        "Pass",
        "word",
        "=",
        "\"",
        "'",
        "\\",
        "api",
        "API",
        "_",
        "key",
        "Key",
        "AKIA",
        "0123456789ABCDEF",
        "set",
        "-cookie",
        "xoxb-",
        "hooks.slack.com/",
        "-----BEGIN",
        "PRIVATE KEY",
        "ghp_",
        "AIza",
        "ya29.",
        "secret",
        "token",
        "ssn",
        "cvv",
        "com",
        "078",
        "05",
        "1120",
        "2001",
        "db8",
        "10",
        "255",
    ];

    /// Random ASCII strings made of pieces near every shape: whenever the
    /// `RegexSet` of the default rules matches, the gate says "maybe".
    #[test]
    fn never_misses_what_the_set_matches() {
        let r = crate::Redactor::with_defaults().unwrap();
        let g = r.quick.as_ref().expect("the default rules have a gate");
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let (mut hits, mut n) = (0, 0);
        while n < 60_000 {
            let len = 1 + next() % 14;
            let s: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            n += 1;
            if r.set_is_match(&s) {
                hits += 1;
                assert!(g.may_match(s.as_bytes()), "gate missed {s:?}");
                assert!(!plain_word(s.as_bytes()), "plain word {s:?}");
            }
        }
        assert!(hits > 5_000, "too few set matches to mean anything: {hits}");
    }

    #[test]
    fn non_ascii_first_word_disables_the_gate() {
        assert!(Gate::new(&["ſecret".to_string()]).is_none());
        assert!(Gate::new(&["clé".to_string()]).is_none());
        assert!(Gate::new(&["api_key".to_string()]).is_some());
    }
}
