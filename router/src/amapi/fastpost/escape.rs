//! Decoding the escapes of a JSON string exactly as serde_json 1.x does
//! when it deserializes a `str`/`String`, or `None` where serde_json
//! errors.
//!
//! Decoded: `\" \\ \/ \b \f \n \r \t` and `\uXXXX` (hex digits in either
//! case), a UTF-16 surrogate pair (`\ud83d\ude00`) as one character and
//! `\u0000` as NUL. Refused (serde_json refuses them too): an unknown
//! escape letter, fewer than four hex digits, a lone trailing surrogate
//! ("lone leading surrogate in hex escape"), a leading surrogate not
//! followed by `\u` and a trailing one ("unexpected end of hex escape" /
//! "lone leading surrogate in hex escape"). Raw control characters never
//! reach here: the scanner refuses them first.

/// The decoded text of `raw`, a string's contents between its quotes (as
/// the scanner found them: every quote in it is escaped); `None` when
/// serde_json would reject it.
pub(super) fn decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut run = 0;
    while let Some(off) = raw.get(run..)?.find('\\') {
        let at = run + off;
        // `run..at` lies between ASCII bytes (or the ends): char boundaries.
        out.push_str(raw.get(run..at)?);
        let (c, len) = escape(bytes, at + 1)?;
        out.push(c);
        run = at + 1 + len;
    }
    out.push_str(raw.get(run..)?);
    Some(out)
}

/// The escape whose letter is at `at`: the character and how many bytes
/// (after the backslash) it takes.
fn escape(bytes: &[u8], at: usize) -> Option<(char, usize)> {
    let c = match *bytes.get(at)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let hi = hex4(bytes, at + 1)?;
            if !(0xD800..=0xDBFF).contains(&hi) {
                // A lone trailing surrogate is no `char`: `None`.
                return Some((char::from_u32(hi)?, 5));
            }
            // A leading surrogate must be followed by a trailing one.
            if bytes.get(at + 5..at + 7)? != b"\\u" {
                return None;
            }
            let lo = hex4(bytes, at + 7)?;
            if !(0xDC00..=0xDFFF).contains(&lo) {
                return None;
            }
            let c = char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?;
            return Some((c, 11));
        }
        _ => return None,
    };
    Some((c, 1))
}

/// Four hex digits (either case) at `at`.
fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    let digits = bytes.get(at..at + 4)?;
    digits
        .iter()
        .try_fold(0u32, |n, &d| Some(n << 4 | char::from(d).to_digit(16)?))
}
