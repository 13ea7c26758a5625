//! Checks that run on pattern candidates only, after the prefilter and the
//! rule's own regex have found them: Luhn for payment cards, the SSA's
//! area/group/serial ranges for SSNs, ISO 13616 mod-97 for IBANs, address
//! parsing for IPs, and shape checks for credentials.
//!
//! Every function takes the whole haystack and the candidate span, so a
//! check can also look at the characters around the candidate (the `regex`
//! crate has no look-around).

use std::net::Ipv6Addr;

/// The byte before `start`, if any.
fn before(s: &str, start: usize) -> Option<u8> {
    start.checked_sub(1).map(|i| s.as_bytes()[i])
}

/// The byte at `end`, if any.
fn after(s: &str, end: usize) -> Option<u8> {
    s.as_bytes().get(end).copied()
}

fn is_alnum(b: Option<u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_alphanumeric())
}

/// Whether the candidate continues a number separated by `sep` on either
/// side (`1.2.3.4.5`, `9-123-45-6789`, `12 4111 1111 1111 1111`), in which
/// case it is part of something else (a version, an id). With a space
/// separator only digits count as a continuation; otherwise letters do too.
fn continues_number(s: &str, start: usize, end: usize, sep: u8) -> bool {
    let b = s.as_bytes();
    let cont = |c: u8| {
        if sep == b' ' {
            c.is_ascii_digit()
        } else {
            c.is_ascii_alphanumeric()
        }
    };
    let left = start >= 2 && b[start - 1] == sep && cont(b[start - 2]);
    let right = end + 1 < b.len() && b[end] == sep && cont(b[end + 1]);
    left || right
}

/// Luhn checksum over the ASCII digits of `digits`.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    matches!(sum % 10, 0)
}

/// Whether `digits` starts with an issuer prefix of a payment network whose
/// numbers may have this length (Visa, Mastercard, Amex, Discover, Diners,
/// JCB, UnionPay, Maestro).
fn card_issuer(digits: &[u8]) -> bool {
    let n = digits.len();
    let prefix = |k: usize| -> u32 {
        digits[..k]
            .iter()
            .fold(0u32, |a, d| a * 10 + u32::from(d - b'0'))
    };
    let p2 = prefix(2);
    let p3 = prefix(3);
    let p4 = prefix(4);
    match digits[0] {
        b'4' => matches!(n, 13 | 16 | 19),
        b'5' => (51..=55).contains(&p2) && n == 16 || matches!(p2, 50 | 56..=59) && n >= 12,
        b'2' => (2221..=2720).contains(&p4) && n == 16,
        b'3' => {
            (matches!(p2, 34 | 37) && n == 15)
                || ((300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39))
                    && (14..=19).contains(&n)
                || (3528..=3589).contains(&p4) && (16..=19).contains(&n)
        }
        b'6' => (16..=19).contains(&n) || n >= 12 && matches!(p2, 60..=69),
        _ => false,
    }
}

/// A payment card number: 13–19 digits with one consistent kind of
/// separator (none, space or dash), a known issuer prefix and a valid Luhn
/// checksum, not glued to other digits.
pub fn card(s: &str, start: usize, end: usize) -> bool {
    let text = &s.as_bytes()[start..end];
    let seps: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_digit())
        .collect();
    if seps.windows(2).any(|w| w[0] != w[1]) {
        return false;
    }
    if seps
        .first()
        .is_some_and(|&sep| continues_number(s, start, end, sep))
    {
        return false;
    }
    let digits: Vec<u8> = text.iter().copied().filter(u8::is_ascii_digit).collect();
    (13..=19).contains(&digits.len()) && card_issuer(&digits) && luhn(&digits)
}

/// A US SSN `AAA-GG-SSSS`: area not 000, 666 or 9xx; group not 00; serial
/// not 0000; not part of a longer dashed number.
pub fn ssn(s: &str, start: usize, end: usize) -> bool {
    let t = &s.as_bytes()[start..end];
    if t.len() != 11 || continues_number(s, start, end, b'-') {
        return false;
    }
    let num = |r: std::ops::Range<usize>| {
        t[r].iter()
            .fold(0u32, |a, d| a * 10 + u32::from(d.wrapping_sub(b'0')))
    };
    let (area, group, serial) = (num(0..3), num(4..6), num(7..11));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// An IPv4 address not embedded in a longer dotted sequence (versions,
/// OIDs).
pub fn ipv4(s: &str, start: usize, end: usize) -> bool {
    !continues_number(s, start, end, b'.')
}

/// An IPv6 address: parses, stands alone (not glued to letters, digits or
/// colons), and has at least three non-empty groups, so `std::io` or
/// `12:30:45` never qualify.
pub fn ipv6(s: &str, start: usize, end: usize) -> bool {
    let text = &s[start..end];
    if is_alnum(before(s, start))
        || before(s, start) == Some(b':')
        || is_alnum(after(s, end))
        || after(s, end) == Some(b':')
    {
        return false;
    }
    if text.parse::<Ipv6Addr>().is_err() {
        return false;
    }
    // An embedded IPv4 tail (`::ffff:10.0.0.1`) counts as two groups.
    let groups: usize = text
        .split(':')
        .filter(|g| !g.is_empty())
        .map(|g| if g.contains('.') { 2 } else { 1 })
        .sum();
    groups >= 3
}

/// An E.164 phone number, possibly written with spaces, dots, dashes or
/// parentheses: 8–15 digits, not glued to letters or more digits. The regex
/// is greedy, so when the whole candidate fails, shorter prefixes ending at a
/// group boundary are tried (`+14155552671 1760089413096`). Returns the
/// accepted end.
pub fn phone(s: &str, start: usize, end: usize) -> Option<usize> {
    if is_alnum(before(s, start)) {
        return None;
    }
    let b = s.as_bytes();
    let mut e = end;
    loop {
        let t = &b[start..e];
        let digits = t.iter().filter(|c| c.is_ascii_digit()).count();
        if digits < 8 {
            return None;
        }
        if digits <= 15 && !is_alnum(after(s, e)) {
            return Some(e);
        }
        // Drop the last group and its separator.
        let cut = t.iter().rposition(|c| !c.is_ascii_digit() && *c != b')')?;
        e = start + cut;
        while e > start && !b[e - 1].is_ascii_digit() && b[e - 1] != b')' {
            e -= 1;
        }
    }
}

/// ISO 13616 IBAN: country code, check digits, a BBAN of the right overall
/// length, and the mod-97 check.
pub fn iban(s: &str, start: usize, end: usize) -> bool {
    let compact: Vec<u8> = s.as_bytes()[start..end]
        .iter()
        .copied()
        .filter(|b| *b != b' ')
        .collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let mut rem = 0u32;
    for &c in compact[4..].iter().chain(&compact[..4]) {
        match c {
            b'0'..=b'9' => rem = (rem * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => rem = (rem * 100 + u32::from(c - b'A') + 10) % 97,
            _ => return false,
        }
    }
    rem == 1
}

/// Character classes present in a token: lower, upper, digit, other.
fn classes(t: &str) -> (bool, bool, bool, bool) {
    let b = t.as_bytes();
    (
        b.iter().any(u8::is_ascii_lowercase),
        b.iter().any(u8::is_ascii_uppercase),
        b.iter().any(u8::is_ascii_digit),
        b.iter().any(|c| !c.is_ascii_alphanumeric()),
    )
}

/// Looks like a credential rather than a word: at least eight characters
/// and not only letters of a single case.
pub fn credential_like(t: &str) -> bool {
    let (lo, up, dig, other) = classes(t);
    let n = [lo, up, dig, other].iter().filter(|x| **x).count();
    t.len() >= 8 && n >= 2
}

/// The token after `Bearer`.
pub fn bearer(s: &str, start: usize, end: usize) -> bool {
    credential_like(&s[start..end])
}

/// Standard base64 decoding (padding optional); `None` when not base64.
fn base64_decode(t: &str) -> Option<Vec<u8>> {
    let t = t.trim_end_matches('=');
    let mut out = Vec::with_capacity(t.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in t.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    (t.len() % 4 != 1).then_some(out)
}

/// The token after `Basic`: base64 of `user:password`, or at least
/// credential-like.
pub fn basic(s: &str, start: usize, end: usize) -> bool {
    let t = &s[start..end];
    let decodes_to_pair = base64_decode(t).is_some_and(|d| {
        d.contains(&b':') && d.iter().all(|b| (0x20..0x7f).contains(b) || *b >= 0x80)
    });
    decodes_to_pair || credential_like(t)
}

/// A 40-character AWS secret access key standing alone: mixed case (so
/// lowercase hex such as git SHAs never qualifies), digits or symbols or
/// frequent case switches (not CamelCase words), at most three slashes (not
/// a path).
/// A leading `n`, `t` or `r` that belongs to a literal `\n` escape before
/// the key is skipped. Returns the accepted span.
pub fn aws_secret(s: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let mut start = start;
    if end - start == 41
        && before(s, start) == Some(b'\\')
        && matches!(s.as_bytes()[start], b'n' | b't' | b'r')
    {
        start += 1;
    }
    let t = &s[start..end];
    let count = |f: fn(&u8) -> bool| t.as_bytes().iter().filter(|c| f(c)).count();
    // Random base64 switches case often; CamelCase words rarely do.
    let switches = t
        .as_bytes()
        .windows(2)
        .filter(|w| w[0].is_ascii_uppercase() != w[1].is_ascii_uppercase())
        .count();
    let mixed = count(u8::is_ascii_digit) >= 1 || count(|c| *c == b'/' || *c == b'+') >= 1;
    let ok = t.len() == 40
        && count(u8::is_ascii_lowercase) >= 2
        && count(u8::is_ascii_uppercase) >= 2
        && (mixed || switches >= 8)
        && count(|c| *c == b'/') <= 3
        && after(s, end) != Some(b'=');
    ok.then_some((start, end))
}

/// A token that must not be glued to more token characters on its left.
pub fn standalone(s: &str, start: usize, _end: usize) -> bool {
    !before(s, start).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
