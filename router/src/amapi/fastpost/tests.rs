//! Differential tests: the fast path against the serde path it stands in
//! for, on crafted bodies and on ~20k generated and mutated ones.

use watchfire_dispatch::PostableAlert;

use super::parse_alerts;
use crate::amapi::decode::decode_alerts_serde;
use crate::amapi::samples::{bench_json as batch_json, prometheus_json};

/// The serde path exactly as `post_alerts` runs it (errors as text).
fn serde_path(body: &[u8]) -> Result<Vec<PostableAlert>, String> {
    decode_alerts_serde(body).map_err(|e| e.to_string())
}

/// What the fast path must do with a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Take it (`Some`), equal to the serde path's (successful) result.
    Fast,
    /// Leave it to serde (`None`).
    Fallback,
    /// Either; `Some` must still equal serde's result.
    Any,
}

/// The one check: `Some` always equals a successful serde decode; `want`
/// says whether `Some` or `None` is required. Returns whether it was taken.
fn check(body: &[u8], want: Want) -> bool {
    let fast = parse_alerts(body);
    let shown = String::from_utf8_lossy(body);
    if let Some(fast) = &fast {
        match serde_path(body) {
            Ok(slow) => assert_eq!(fast, &slow, "fast path differs on {shown}"),
            Err(e) => panic!("fast path took a body serde rejects ({e}): {shown}"),
        }
    }
    match want {
        Want::Fast => assert!(fast.is_some(), "fast path fell back on {shown}"),
        Want::Fallback => assert!(fast.is_none(), "fast path took {shown}"),
        Want::Any => {}
    }
    fast.is_some()
}

#[test]
fn crafted_bodies() {
    use Want::*;
    let table: &[(&[u8], Want)] = &[
        // Taken.
        (b"[]", Fast),
        (b" \t\r\n[ \n ]\r\n ", Fast),
        (br#"[{"labels":{}}]"#, Fast),
        (br#"[{"labels":{"a":"1"}}]"#, Fast),
        (
            b" [ { \"labels\" : { \"b\" : \"2\" , \"a\" : \"1\" } , \"annotations\" :\t{ } ,\n\"generatorURL\"\r:\"x\" } , {\"labels\":{\"c\":\"\"}} ] ",
            Fast,
        ),
        (br#"[{"labels":{"a":"1","a":"2","b":"3","a":"4"}}]"#, Fast),
        (br#"[{"labels":{"a":""},"annotations":{"s":"","s":"t"}}]"#, Fast),
        (
            br#"[{"labels":{"a":"1"},"annotations":null,"startsAt":null,"endsAt":null,"generatorURL":null}]"#,
            Fast,
        ),
        (
            br#"[{"endsAt":"2024-01-02T03:04:05.678Z","labels":{"a":"1"},"startsAt":"2024-01-02T03:04:05+02:00"}]"#,
            Fast,
        ),
        (br#"[{"labels":{"a":"1"},"startsAt":"","endsAt":""}]"#, Fast),
        (
            br#"[{"labels":{"a":"1"},"startsAt":"0001-01-01T00:00:00.000Z","endsAt":"0001-01-01T00:00:00Z"}]"#,
            Fast,
        ),
        ("[{\"labels\":{\"é\":\"日本語\",\"a\":\"😀\"},\"annotations\":{\"ü\":\"ö\"}}]".as_bytes(), Fast),
        (br#"[{"labels":{"a":"1"}},{"labels":{"a":"1"}}]"#, Fast),
        (br#"[{"labels":{"a":"/\/"}}]"#, Fast),
        (br#"[{"labels":{"a":"x\"y"}}]"#, Fast),
        (br#"[{"labels":{"a":"\u00e9"}}]"#, Fast),
        (br#"[{"labels":{"a\n":"1"}}]"#, Fast),
        (br#"[{"generatorURL":"a\/b","labels":{}}]"#, Fast),
        // Raw control characters: serde rejects them.
        (b"[{\"labels\":{\"a\":\"x\ty\"}}]", Fallback),
        (b"[{\"labels\":{\"a\":\"x\x01y\"}}]", Fallback),
        (b"[{\"labels\":{\"a\":\"x\x7fy\"}}]", Fast),
        // Unknown keys (serde ignores them), nested values, numbers.
        (br#"[{"labels":{"a":"1"},"status":"firing"}]"#, Fallback),
        (br#"[{"labels":{"a":"1"},"x":{"y":[1,2,{"z":null}]}}]"#, Fallback),
        (br#"[{"labels":{"a":"1"},"Labels":{}}]"#, Fallback),
        (br#"[{"labels":{"a":1}}]"#, Fallback),
        (br#"[{"labels":{"a":"1"},"startsAt":1}]"#, Fallback),
        (br#"[{"labels":{"a":true}}]"#, Fallback),
        (br#"[{"labels":{"a":null}}]"#, Fallback),
        (br#"[{"labels":{"a":["1"]}}]"#, Fallback),
        (br#"[{"labels":null}]"#, Fallback),
        (br#"[{"labels":[]}]"#, Fallback),
        (br#"[{"labels":{},"annotations":"x"}]"#, Fallback),
        (br#"[{"labels":{},"generatorURL":{}}]"#, Fallback),
        (br#"[{"labels":{},"generatorURL":nul}]"#, Fallback),
        (br#"[{"labels":{},"generatorURL":nullx}]"#, Fallback),
        (br#"[{"labels":{},"generatorURL":false}]"#, Fallback),
        (br#"[1]"#, Fallback),
        (br#"[null]"#, Fallback),
        // Missing or repeated alert keys.
        (br#"[{}]"#, Fallback),
        (br#"[{"annotations":{"a":"1"}}]"#, Fallback),
        (br#"[{"labels":{"a":"1"},"labels":{"b":"2"}}]"#, Fallback),
        (br#"[{"labels":{},"endsAt":null,"endsAt":null}]"#, Fallback),
        (br#"[{"labels":{},"annotations":null,"annotations":{}}]"#, Fallback),
        // Times parse_time rejects.
        (br#"[{"labels":{"a":"1"},"startsAt":"yesterday"}]"#, Fallback),
        (br#"[{"labels":{"a":"1"},"endsAt":"2024-13-01T00:00:00Z"}]"#, Fallback),
        // Broken structure.
        (b"", Fallback),
        (b"   ", Fallback),
        (b"[", Fallback),
        (br#"[{"labels":{"a":"1"}}"#, Fallback),
        (br#"[{"labels":{"a":"1"}"#, Fallback),
        (br#"[{"labels":{"a":"1""#, Fallback),
        (br#"[{"labels":{"a":"#, Fallback),
        (br#"[{"labels":{"a""#, Fallback),
        (br#"[{"labels":{"a":"1",}}]"#, Fallback),
        (br#"[{"labels":{"a":"1"},}]"#, Fallback),
        (br#"[{"labels":{"a":"1"}},]"#, Fallback),
        (br#"[,]"#, Fallback),
        (br#"[{"labels":{"a" "1"}}]"#, Fallback),
        (br#"[{"labels":{"a":"1" "b":"2"}}]"#, Fallback),
        (br#"[{"labels":{"a":"1"}} {"labels":{}}]"#, Fallback),
        (br#"[]]"#, Fallback),
        (br#"[] []"#, Fallback),
        (br#"[]x"#, Fallback),
        (b"[]\x0c", Fallback),
        (b"\x0c[]", Fallback),
        (b"[\x00]", Fallback),
        // Not an array.
        (br#"{"labels":{"a":"1"}}"#, Fallback),
        (br#""[]""#, Fallback),
        (b"null", Fallback),
        (b"42", Fallback),
        // Invalid UTF-8 (in a string, between tokens, a lone surrogate).
        (b"[{\"labels\":{\"a\":\"\xff\"}}]", Fallback),
        (b"[{\"labels\":{\"a\":\"\xc3\"}}]", Fallback),
        (b"[{\"labels\":{\"a\":\"\xed\xa0\x80\"}}]", Fallback),
        (b"[\xff]", Fallback),
        (b"\xef\xbb\xbf[]", Fallback),
    ];
    for (body, want) in table {
        check(body, *want);
    }
}

#[test]
fn prometheus_body_is_taken() {
    for n in [1, 64, 300] {
        let body = prometheus_json(n * 11, n);
        assert!(check(body.as_bytes(), Want::Fast));
        let alerts = parse_alerts(body.as_bytes()).unwrap();
        assert_eq!(alerts.len(), n);
        let url = &alerts[0].generator_url;
        assert!(url.ends_with("+0&g0.tab=1"), "{url}");
        assert!(alerts[0].starts_at.is_some() && alerts[0].ends_at.is_some());
    }
}

#[test]
fn escaped_bodies() {
    use Want::*;
    let table: &[(&[u8], Want)] = &[
        // Every escape, at the start, the end, adjacent, alone.
        (br#"[{"labels":{"a":"\"\\\/\b\f\n\r\t"}}]"#, Fast),
        (
            br#"[{"labels":{"\"":"\\","\/":"\b","\f":"\n","\r":"\t"}}]"#,
            Fast,
        ),
        (
            br#"[{"labels":{"a":"\nx"},"annotations":{"b":"x\n","c":"x\ny\tz"}}]"#,
            Fast,
        ),
        (
            br#"[{"labels":{"a":"\u0026\u003c\u003E\u00e9\u00C9\u65e5\uffff"}}]"#,
            Fast,
        ),
        (
            br#"[{"labels":{"a":"\u0000","b":"x\u001fy","c":"\u007f"}}]"#,
            Fast,
        ),
        (
            br#"[{"labels":{"a":"\u0041\u0041"},"generatorURL":"a?b=1\u0026c=2"}]"#,
            Fast,
        ),
        // Surrogate pairs, either case, adjacent.
        (br#"[{"labels":{"a":"\ud83d\ude00"}}]"#, Fast),
        (
            br#"[{"labels":{"a":"x\uD83D\uDE00\ud800\udc00\udbff\udfffy"}}]"#,
            Fast,
        ),
        // Lone or mis-ordered surrogates: serde rejects them.
        (br#"[{"labels":{"a":"\ud83d"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\ud83dx"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\ud83d\n"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\ud83d\u0041"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\ud83d\ud83d\ude00"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\ude00"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\ude00\ud83d"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\udfff"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\ud83d\ude0"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\ud83d\"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\ud83d\"#, Fallback),
        // Unknown letters, short or non-hex digits, truncation.
        (br#"[{"labels":{"a":"\x"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\U0041"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\'"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\u41"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\u004"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\u004g"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\u+041"}}]"#, Fallback),
        (br#"[{"labels":{"a":"\"#, Fallback),
        (br#"[{"labels":{"a":"\u00"#, Fallback),
        (b"[{\"labels\":{\"a\":\"\\\xc3\xa9\"}}]", Fallback),
        (b"[{\"labels\":{\"a\":\"\\u00e9\x01\"}}]", Fallback),
        (b"[{\"labels\":{\"a\":\"\\n\n\"}}]", Fallback),
        // Escaped label names, repeated once decoded: the last value wins.
        (br#"[{"labels":{"a":"1","\u0061":"2"}}]"#, Fast),
        (br#"[{"labels":{"\u0061":"1","a":"2","b":"3"}}]"#, Fast),
        (
            br#"[{"labels":{"b":"0","\u0061":"1","a":"2","\u0061":"3"}}]"#,
            Fast,
        ),
        // Escaped keys of the alert: serde decodes them before matching.
        (
            br#"[{"lab\u0065ls":{"a":"1"},"\u0061nnotations":{"b":"\n"}}]"#,
            Fast,
        ),
        (br#"[{"labels":{},"generatorURL\u0000":"x"}]"#, Fallback),
        (br#"[{"labels":{"a":"1"},"lab\u0065ls":{}}]"#, Fallback),
        // Escaped times.
        (
            br#"[{"labels":{},"startsAt":"2024-01-02T03:04:05\u002e5Z"}]"#,
            Fast,
        ),
        (
            br#"[{"labels":{},"startsAt":"2024-01-02T03:04:05Z\n"}]"#,
            Fallback,
        ),
    ];
    for (body, want) in table {
        check(body, *want);
    }
}

#[test]
fn escapes_decode_to() {
    // The decoded value itself, not only agreement with serde.
    let table: &[(&str, Option<&str>)] = &[
        (r#"plain"#, Some("plain")),
        (r#"\"\\\/\b\f\n\r\t"#, Some("\"\\/\u{8}\u{c}\n\r\t")),
        (r#"a\u0026b\u003C\u003e"#, Some("a&b<>")),
        (r#"\u00e9\u00C9\u0000"#, Some("éÉ\u{0}")),
        (r#"日\n本"#, Some("日\n本")),
        (r#"\ud83d\ude00!\uD83D\uDE00"#, Some("😀!😀")),
        (r#"\udbff\udfff"#, Some("\u{10ffff}")),
        (r#"\ud83d"#, None),
        (r#"\ude00"#, None),
        (r#"\q"#, None),
    ];
    for (escaped, want) in table {
        let body = format!("[{{\"labels\":{{\"k\":\"{escaped}\"}}}}]");
        let taken = check(
            body.as_bytes(),
            if want.is_some() {
                Want::Fast
            } else {
                Want::Fallback
            },
        );
        if let Some(want) = want {
            assert!(taken);
            let alerts = parse_alerts(body.as_bytes()).unwrap();
            assert_eq!(alerts[0].labels.get("k"), Some(*want), "{escaped}");
        }
    }
}

#[test]
fn every_hex_escape() {
    // Every `\uXXXX` alone (upper- and lower-case digits), then pairs of
    // code units around the surrogate boundaries: taken exactly when
    // serde_json decodes them to a char (a pair or a non-surrogate).
    let mut taken = 0;
    for n in 0..=0xffffu32 {
        let hex = if n % 2 == 0 {
            format!("{n:04x}")
        } else {
            format!("{n:04X}")
        };
        let body = format!("[{{\"labels\":{{\"a\":\"x\\u{hex}\"}}}}]");
        let want = if (0xd800..=0xdfff).contains(&n) {
            Want::Fallback
        } else {
            Want::Fast
        };
        taken += usize::from(check(body.as_bytes(), want));
    }
    assert_eq!(taken, 0x10000 - 0x800);
    let edges = [
        0x0000, 0x0041, 0xd7ff, 0xd800, 0xd83d, 0xdbff, 0xdc00, 0xde00, 0xdfff, 0xe000, 0xffff,
    ];
    for hi in edges {
        for lo in edges {
            let body = format!("[{{\"labels\":{{\"a\":\"\\u{hi:04x}\\u{lo:04X}\"}}}}]");
            let lone = |n: u32| (0xd800..=0xdfff).contains(&n);
            let pair = (0xd800..=0xdbff).contains(&hi) && (0xdc00..=0xdfff).contains(&lo);
            let want = if pair || !(lone(hi) || lone(lo)) {
                Want::Fast
            } else {
                Want::Fallback
            };
            check(body.as_bytes(), want);
        }
    }
}

#[test]
fn string_ends_found_at_every_offset() {
    // The word-at-a-time scan must stop at the first quote, backslash or
    // control character wherever it sits, and skip everything else.
    for len in 0..20 {
        for at in 0..=len {
            for (special, want) in [
                ("\"", Want::Fallback),
                ("\\\\", Want::Fast),
                ("\\u0026", Want::Fast),
                ("\\ud83d\\ude00", Want::Fast),
                ("\\u00", Want::Fallback),
                ("\\x", Want::Fallback),
                ("\\", Want::Fallback),
                ("\u{1}", Want::Fallback),
                ("\u{1f}", Want::Fallback),
                (" ", Want::Fast),
                ("\u{7f}", Want::Fast),
                ("é", Want::Fast),
                ("!", Want::Fast),
                ("#", Want::Fast),
                ("]", Want::Fast),
            ] {
                let value = format!("{}{special}{}", "v".repeat(at), "w".repeat(len - at));
                let body = format!("[{{\"labels\":{{\"{value}\":\"{value}\"}}}}]");
                check(body.as_bytes(), want);
            }
        }
    }
}

#[test]
fn benchmark_body_is_taken() {
    for n in [1, 2, 64, 500] {
        let body = batch_json(n * 7, n);
        assert!(check(body.as_bytes(), Want::Fast));
        assert_eq!(parse_alerts(body.as_bytes()).map(|v| v.len()), Some(n));
    }
}

/// Reproducible "random" bodies (a fixed seed).
struct Rng(fastrand::Rng);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0.usize(..n)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    fn ws(&mut self) -> &'static str {
        if self.below(3) == 0 {
            ["", " ", "\n", "\t", "\r\n", "  \t "][self.below(6)]
        } else {
            ""
        }
    }
}

const NAMES: &[&str] = &[
    "alertname",
    "instance",
    "job",
    "severity",
    "a",
    "",
    "é",
    "x_1",
    // Escaped: "instance" and "a" again (repeats after decoding), others.
    "inst\\u0061nce",
    "\\u0061",
    "x\\n\\ty",
    "\\ud83d\\ude00",
];
const VALUES: &[&str] = &[
    "",
    "1",
    "host-7",
    "low",
    "日本語 ✓",
    "http://x/y?z=1",
    "😀",
    // Escaped, as Go's encoding/json writes them and others.
    "http://x/graph?g0.expr=up\\u0026g0.tab=1",
    "\\u003cb\\u003e \\u0026",
    "line 1\\nline \\\"2\\\" \\\\ \\/",
    "\\b\\f\\r\\t\\u0000\\u001F\\u00e9\\uABCD",
    "\\uD83D\\uDE00\\ud83d\\ude00",
];
const TIMES: &[&str] = &[
    "",
    "0001-01-01T00:00:00.000Z",
    "2024-01-02T03:04:05Z",
    "2024-01-02T03:04:05.123456789+05:30",
    "1970-01-01T00:00:00.001Z",
];

/// A string map with a few (possibly repeated) names.
fn gen_map(r: &mut Rng, out: &mut String) {
    out.push('{');
    for i in 0..r.below(5) {
        if i > 0 {
            out.push(',');
        }
        let (n, v) = (r.pick(NAMES), r.pick(VALUES));
        let (w1, w2, w3) = (r.ws(), r.ws(), r.ws());
        out.push_str(&format!("{w1}\"{n}\"{w2}:{w3}\"{v}\""));
    }
    out.push_str(r.ws());
    out.push('}');
}

/// A body the fast path must take: alerts of the common shape, keys in
/// any order, optional keys absent or null, whitespace sprinkled.
fn gen_valid(r: &mut Rng) -> String {
    let mut s = String::from(r.ws());
    s.push('[');
    for a in 0..r.below(4) {
        if a > 0 {
            s.push(',');
        }
        s.push_str(r.ws());
        // serde decodes keys before matching them.
        let mut keys = vec![["labels", "lab\\u0065ls"][usize::from(r.below(8) == 0)]];
        for k in ["annotations", "startsAt", "endsAt", "generatorURL"] {
            if r.below(2) == 0 {
                keys.push(k);
            }
        }
        for i in (1..keys.len()).rev() {
            keys.swap(i, r.below(i + 1));
        }
        s.push('{');
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!("{}\"{k}\"{}:{}", r.ws(), r.ws(), r.ws()));
            let null = !k.starts_with("lab") && r.below(4) == 0;
            match *k {
                _ if null => s.push_str("null"),
                "labels" | "lab\\u0065ls" | "annotations" => gen_map(r, &mut s),
                "startsAt" | "endsAt" => s.push_str(&format!("\"{}\"", r.pick(TIMES))),
                _ => s.push_str(&format!("\"{}\"", r.pick(VALUES))),
            }
            s.push_str(r.ws());
        }
        s.push('}');
        s.push_str(r.ws());
    }
    s.push(']');
    s.push_str(r.ws());
    s
}

/// A few random edits: byte flips (to any byte, so invalid UTF-8 too),
/// insertions of JSON-ish bytes, deletions, a truncation.
fn mutate(r: &mut Rng, body: &str) -> Vec<u8> {
    const BYTES: &[u8] = b"{}[]\":,\\\\ \tnul1e-xd8\x00\x1f\x7f\xc3\xa9\xff";
    let mut b = body.as_bytes().to_vec();
    for _ in 0..1 + r.below(3) {
        if b.is_empty() {
            break;
        }
        let at = r.below(b.len());
        match r.below(4) {
            0 => b[at] = r.0.u8(..),
            1 => b.insert(at, BYTES[r.below(BYTES.len())]),
            2 => {
                b.remove(at);
            }
            _ => b.truncate(at),
        }
    }
    b
}

#[test]
fn randomized_against_serde() {
    let mut r = Rng(fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15));
    let (mut valid, mut taken_mutants, mut mutants) = (0, 0, 0);
    let mut escaped = 0;
    for _ in 0..10_000 {
        let body = gen_valid(&mut r);
        check(body.as_bytes(), Want::Fast);
        valid += 1;
        escaped += usize::from(body.contains('\\'));
        let m = mutate(&mut r, &body);
        mutants += 1;
        if check(&m, Want::Any) {
            taken_mutants += 1;
        }
    }
    for i in 0..200 {
        let body = batch_json(i * 3, 1 + i % 5);
        check(body.as_bytes(), Want::Fast);
        check(&mutate(&mut r, &body), Want::Any);
    }
    assert_eq!((valid, mutants), (10_000, 10_000));
    assert!(escaped > 2_000, "only {escaped} valid bodies with escapes");
    // Some mutants stay valid (whitespace, a value byte): the comparison
    // really ran on taken bodies, not only on fallbacks.
    assert!(taken_mutants > 100, "only {taken_mutants} mutants taken");
    assert!(taken_mutants < mutants, "every mutant taken");
}
