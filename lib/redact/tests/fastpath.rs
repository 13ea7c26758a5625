//! The fast paths (whole-line gate, clean-record pass-through, hit
//! ranges) must never change a result: every corpus line, and a table of
//! tricky lines, comes out of the default rules exactly as it comes out of
//! the same rules with the fast paths off. (A user pattern turns them off;
//! this one never matches.)

use watchfire_redact::{Action, CustomPattern, RawRedactionConfig, Redactor};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/pii/dev.jsonl"
);

/// The default rules with the fast paths off.
fn slow() -> Redactor {
    let mut cfg = RawRedactionConfig::default().validate("t").unwrap();
    cfg.custom.push(CustomPattern {
        name: "never".into(),
        regex: regex::Regex::new("\u{0}never\u{0}").unwrap(),
        action: Action::Mask,
    });
    Redactor::new(&cfg).unwrap()
}

/// `line` redacts the same with and without the fast paths, with the same
/// counts; the number of card hits.
fn check(fast: &Redactor, slow: &Redactor, line: &str) -> u64 {
    let (mut fs, mut ss) = (fast.stats(), slow.stats());
    let a = fast.redact_record(line, &mut fs);
    let b = slow.redact_record(line, &mut ss);
    assert_eq!(a, b, "line {line}");
    let counts = |s: &watchfire_redact::Stats| {
        s.counts()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (r.to_string(), n))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(&fs), counts(&ss), "counts for {line}");
    assert_eq!(fs.dropped(), ss.dropped());
    fs.count("card")
}

#[test]
fn table_lines_agree() {
    let (fast, slow) = (Redactor::with_defaults().unwrap(), slow());
    for line in [
        r#"{"ts":"2026-11-22T07:46:09.123Z","level":"info","msg":"request completed"}"#,
        r#"{"msg":"mail bob@example.com","password":"hunter2","n":[1,{"token":"x"}]}"#,
        r#"{"k":"a","token_count":5,"msg":"from 10.1.2.3"}"#,
        r#"{"msg":"Bearer\tabcdef123456 and bob\u0040example.com"}"#,
        r#"{"log":"{\"password\":\"x\",\"m\":\"ip 10.0.0.1\"}\n","stream":"stdout"}"#,
        r#"{"a":"x@y","b":"example.com","c":"4111 1111","d":"1111 1111"}"#,
        r#"{"ua":"Chrome/120.0.0.0 Safari","sha":"AKIAIOSFODNN7EXAMPLEwJalrXUtnFEMIK7MDENGbPxRfiCY"}"#,
        r#"{"ip6":"2001:db8::1","t":"12:30:45","phone":"+1 (415) 555-0100"}"#,
        r#"{"a":1"#,
        r#"{"m":"api_key: abc","n":"the token' = x","o":"Password\t:y"}"#,
        r#"{"password" : "x", "m": "set-cookie=1"}"#,
        "plain text with jane@example.com and 4111111111111111",
        "[1,2,{\"secret\":[\"a\",{\"b\":2}]}]",
    ] {
        check(&fast, &slow, line);
    }
}

/// Numbers: card numbers at every place a number can be (top level of an
/// object, arrays, objects in arrays, embedded JSON, after spaces, with a
/// sign, fraction or exponent), under sensitive keys, and ordinary
/// numbers (timestamps, durations, byte counts) that stay as written.
#[test]
fn number_lines_agree() {
    let (fast, slow) = (Redactor::with_defaults().unwrap(), slow());
    let mut cards = 0;
    for line in [
        r#"{"n":4111111111111111}"#,
        r#"{"id":"x","value":[1,5500005555555559,2]}"#,
        r#"[{"amount":378282246310005},{"amount":6011111111111117}]"#,
        "{\"n\" :  30569309025904 ,\"m\":\t4111111111111111\n}",
        "  4111111111111111  ",
        "[  4111111111111111  ,   1]",
        r#"[4111111111111111]"#,
        r#"{"n":-4111111111111111,"m":4111111111111111.0,"r":0.4111111111111111}"#,
        r#"{"n":1e-4111111111111111,"m":4111111111111111e2,"r":1E+4111111111111111}"#,
        r#"{"a":-1.5e3,"b":0.25,"c":-0,"d":1E+2,"e":6.02e23,"f":42,"g":-42}"#,
        r#"{"ts":1700000000,"ms":1700000000123,"us":1732291200123451,"ns":1732291200123456783}"#,
        r#"{"duration_ms":12.345,"bytes":1234567890123,"n":4111111111111112,"x":1e+41555512345}"#,
        r#"{"big":1234567890123456789012345678901234567890,"x":1e+12345678}"#,
        r#"{"log":"{\"n\":4111111111111111,\"ok\":12}\n","stream":"stdout"}"#,
        r#"{"log":"[4111111111111111, 1e+12345678, 12345678, -1.5e3, 1E+4111111111111111]"}"#,
        r#"{"ssn":4111111111111111,"cookie":[4111111111111111,7]}"#,
        r#"{"msg":"mail bob@example.com","n":4111111111111111,"level":"info"}"#,
        r#"{"msg":"card 4111 1111 1111 1111","n":12,"level":"info"}"#,
        r#"{"level":"info","n":4111111111111111,"service":"a"}"#,
        r#"{"a":"4111","n":111111111111,"b":"1111 1111"}"#,
    ] {
        cards += check(&fast, &slow, line);
        check_fields(&fast, line);
    }
    assert_eq!(cards, 20, "card hits over the table");
}

#[test]
fn corpus_lines_agree() {
    let Ok(text) = std::fs::read_to_string(CORPUS) else {
        eprintln!("corpus not found at {CORPUS}; skipped");
        return;
    };
    let (fast, slow) = (Redactor::with_defaults().unwrap(), slow());
    let mut n = 0;
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if let Some(line) = v["line"].as_str() {
            check(&fast, &slow, line);
            n += 1;
        }
    }
    assert!(n > 1000, "only {n} corpus lines");
}

/// JSON records assembled at random from keys and values near every rule
/// (and plain ones), with escapes, nesting and broken syntax now and then:
/// the fast paths (byte gate, hand-written scan) agree with the slow path
/// on every one, and the fields reported are those of the output.
#[test]
fn random_records_agree() {
    const KEYS: &[&str] = &[
        "msg",
        "level",
        "service",
        "user",
        "token",
        "Password",
        "apiKey",
        "token_count",
        "ip",
        "le\\u0076el",
        "x",
        "headers",
        "authorization",
        "data",
        "k y",
    ];
    const VALUES: &[&str] = &[
        "\"request completed\"",
        "\"mail jane.doe@example.com now\"",
        "\"card 4111 1111 1111 1111\"",
        "\"ssn 078-05-1120\"",
        "\"from 203.0.113.7\"",
        "\"v6 2001:db8::8a2e:370:1\"",
        "\"at 12:30:45 +10:00\"",
        "\"call +1 (415) 555-0100\"",
        "\"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln\"",
        "\"iban GB82 WEST 1234 5698 7654 32\"",
        "\"key=AKIAIOSFODNN7EXAMPLE\"",
        "\"password=hunter2 and more\"",
        "\"line one\\nline two \\\"q\\\" \\u00e9\"",
        "\"bob\\u0040example.com\"",
        "\"{\\\"a\\\":1}\"",
        "\"  [1]  \"",
        "\"caf\u{e9} \u{2713}\"",
        "\"\"",
        "12",
        "-0.5e+3",
        "true",
        "null",
        "[1,\"a@b.co\",{\"secret\":2}]",
        "{\"inner\":\"10.1.2.3\"}",
        "{}",
        "[]",
        "\"wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEYabcd\"",
    ];
    let (fast, slow) = (Redactor::with_defaults().unwrap(), slow());
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut cards = 0;
    for _ in 0..20_000 {
        let n = 1 + next() % 6;
        let mut line = String::from("{");
        for i in 0..n {
            if i > 0 {
                line.push_str(if next() % 7 == 0 { " , " } else { "," });
            }
            line.push('"');
            line.push_str(KEYS[(next() % KEYS.len() as u64) as usize]);
            line.push_str("\":");
            match next() % 8 {
                0 => line.push_str(&number(&mut next)),
                1 => {
                    let (a, b) = (number(&mut next), number(&mut next));
                    line.push_str(&format!("[{a}, {{\"v\":  {b} }}]"));
                }
                _ => line.push_str(VALUES[(next() % VALUES.len() as u64) as usize]),
            }
        }
        line.push('}');
        match next() % 40 {
            0 => line.push_str(" x"),
            1 => {
                line.pop();
            }
            2 => line = format!("  {line}\t"),
            3 => line = format!("[{line},{line}]"),
            _ => {}
        }
        cards += check(&fast, &slow, &line);
        check_fields(&fast, &line);
    }
    // The generator makes card numbers of numbers often enough to mean
    // something.
    assert!(cards > 1_000, "only {cards} card hits");
}

/// A random JSON number: a sign, then digits (often a Luhn-valid card
/// number of some issuer, or a run that is one digit off, or plain
/// digits of any length up to 45), then now and then a fraction (itself
/// possibly a card number) and a short exponent (signed or not).
fn number(next: &mut impl FnMut() -> u64) -> String {
    let digits = |next: &mut dyn FnMut() -> u64| -> String {
        match next() % 4 {
            0 | 1 => {
                let card = card_number(next);
                if next().is_multiple_of(4) {
                    // Off by one in the last digit: fails Luhn.
                    let (head, last) = card.split_at(card.len() - 1);
                    let d = (last.as_bytes()[0] - b'0' + 1) % 10;
                    format!("{head}{d}")
                } else {
                    card
                }
            }
            _ => {
                let len = 1 + next() % 45;
                let mut s: String = (0..len)
                    .map(|_| char::from(b'0' + (next() % 10) as u8))
                    .collect();
                if s.len() > 1 && s.starts_with('0') {
                    s.replace_range(..1, "7");
                }
                s
            }
        }
    };
    let mut s = String::new();
    if next().is_multiple_of(4) {
        s.push('-');
    }
    s.push_str(&digits(next));
    if next().is_multiple_of(5) {
        s.push('.');
        s.push_str(&digits(next));
    }
    if next().is_multiple_of(5) {
        s.push(if next().is_multiple_of(2) { 'e' } else { 'E' });
        match next() % 3 {
            0 => s.push('+'),
            1 => s.push('-'),
            _ => {}
        }
        // Short: `serde_json`, which reads the output back, refuses
        // exponents out of the range of an `f64`.
        s.push_str(&(next() % 100).to_string());
    }
    s
}

/// A Luhn-valid card number with a real issuer prefix and length.
fn card_number(next: &mut dyn FnMut() -> u64) -> String {
    const ISSUERS: &[(&str, usize)] = &[
        ("4", 16),
        ("4", 13),
        ("4", 19),
        ("51", 16),
        ("55", 16),
        ("2221", 16),
        ("34", 15),
        ("37", 15),
        ("6011", 16),
        ("65", 19),
        ("3530", 16),
        ("36", 14),
        ("300", 14),
    ];
    let (prefix, len) = ISSUERS[(next() % ISSUERS.len() as u64) as usize];
    let mut s = prefix.to_string();
    while s.len() < len - 1 {
        s.push(char::from(b'0' + (next() % 10) as u8));
    }
    (0..10u8)
        .map(|d| format!("{s}{d}"))
        .find(|c| luhn(c))
        .expect("one check digit works")
}

fn luhn(s: &str) -> bool {
    let sum: u32 = s
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let v = u32::from(c - b'0');
            match (i % 2, v * 2) {
                (0, _) => v,
                (_, d) if d > 9 => d - 9,
                (_, d) => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Collects reported fields.
#[derive(Default)]
struct Collected(Vec<(String, String)>);

impl watchfire_redact::Fields for Collected {
    fn field(&mut self, key: &str, value: &str) {
        self.0.push((key.to_string(), value.to_string()));
    }
}

/// The fields `redact_record_fields` reports are the top-level string
/// fields of its output, in order, and its result is `redact_record`'s.
fn check_fields(r: &Redactor, line: &str) {
    let mut got = Collected::default();
    let (mut s1, mut s2) = (r.stats(), r.stats());
    let out = r.redact_record_fields(line, &mut s1, &mut got);
    assert_eq!(out, r.redact_record(line, &mut s2), "{line}");
    let Ok(out) = out else {
        assert!(got.0.is_empty());
        return;
    };
    let mut want = Vec::new();
    if out.json {
        if let Ok(serde_json::Value::Object(_)) = serde_json::from_str(&out.text) {
            // Document order, duplicates included: read the raw pairs.
            let pairs: Vec<(String, serde_json::Value)> =
                serde_json::from_str::<OrderedPairs>(&out.text).unwrap().0;
            for (k, v) in pairs {
                if let serde_json::Value::String(s) = v {
                    want.push((k, s));
                }
            }
        }
    }
    assert_eq!(got.0, want, "fields of {line}");
}

/// An object's members in document order, duplicates kept.
struct OrderedPairs(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for OrderedPairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OrderedPairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<OrderedPairs, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = m.next_entry()? {
                    v.push(e);
                }
                Ok(OrderedPairs(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[test]
fn bench_like_records_agree() {
    let (fast, slow) = (Redactor::with_defaults().unwrap(), slow());
    for line in [
        r#"{"ts":"2026-11-22T10:38:09.123Z","level":"info","logger":"http.access","service":"checkout","env":"prod","request_id":"0f3c2a1b-9d8e-4a7b-8c6d-5e4f3a2b1c0d","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","msg":"request completed","user_id":412345,"http":{"method":"GET","path":"/api/v1/orders/123","status":200,"duration_ms":12.345,"bytes_out":1234,"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36"}}"#,
        r#"{"ts":"2026-11-22T10:38:09.123Z","level":"warn","msg":"unhandled exception: java.lang.IllegalStateException: order not found\n\tat com.example.orders.OrderService.load(OrderService.java:118)","user_id":1000,"http":{"client_ip":"2001:db8:85a3::8a2e:370:1"}}"#,
        r#"{"level":"error","msg":"sms verification sent to +14155550123","http":{"headers":{"authorization":"Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.abcdefghijklmnop.qrstuvwxyz","accept":"application/json"}}}"#,
    ] {
        check(&fast, &slow, line);
        check_fields(&fast, line);
    }
}
