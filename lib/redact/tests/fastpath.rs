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
/// counts.
fn check(fast: &Redactor, slow: &Redactor, line: &str) {
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
        "plain text with jane@example.com and 4111111111111111",
        "[1,2,{\"secret\":[\"a\",{\"b\":2}]}]",
    ] {
        check(&fast, &slow, line);
    }
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
