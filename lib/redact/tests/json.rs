//! Structural JSON redaction, actions and counters, and failing closed.

use watchfire_redact::{RedactError, RedactionConfig, Redactor};

fn check(input: &str, expect: &str) {
    let r = Redactor::with_defaults().expect("defaults build");
    let mut stats = r.stats();
    let out = r.redact_line(input, &mut stats).expect("redacts");
    assert_eq!(out, expect, "input {input}");
    if serde_json::from_str::<serde_json::Value>(input).is_ok() {
        serde_json::from_str::<serde_json::Value>(&out).expect("output is JSON");
    }
}

#[test]
fn json_structure() {
    for (input, expect) in [
        // Untouched lines come out byte for byte, spacing and order kept.
        (
            r#"{"ts": "2026-01-01", "b": 1.50, "a": [true, null]}"#,
            r#"{"ts": "2026-01-01", "b": 1.50, "a": [true, null]}"#,
        ),
        // Sensitive keys at any depth, any case.
        (
            r#"{"request": {"body": {"Password": "x y", "n": 1}}}"#,
            r#"{"request": {"body": {"Password": "[REDACTED:password]", "n": 1}}}"#,
        ),
        (
            r#"{"headers":{"Authorization":"Bearer abc123XYZ789"}}"#,
            r#"{"headers":{"Authorization":"[REDACTED:authorization]"}}"#,
        ),
        // Numbers under a sensitive key become strings; booleans stay.
        (
            r#"{"ssn": 123456789, "token": true, "pwd": null}"#,
            r#"{"ssn": "[REDACTED:ssn]", "token": true, "pwd": null}"#,
        ),
        // Everything inside an object under a sensitive key.
        (
            r#"{"cookie": {"sid": "abc", "n": [1, "x"]}}"#,
            r#"{"cookie": {"sid": "[REDACTED:cookie]", "n": ["[REDACTED:cookie]", "[REDACTED:cookie]"]}}"#,
        ),
        // Empty secrets stay empty.
        (r#"{"secret": ""}"#, r#"{"secret": ""}"#),
        // Patterns in values and in keys.
        (
            r#"{"msg": "from 10.0.0.1", "bob@example.com": 1}"#,
            r#"{"msg": "from [REDACTED:ipv4]", "[REDACTED:email]": 1}"#,
        ),
        // Escapes are decoded before matching and re-encoded after.
        (
            r#"{"msg": "mail \"bob@example.com\"\n\u00e9"}"#,
            r#"{"msg": "mail \"[REDACTED:email]\"\né"}"#,
        ),
        // Metadata about a secret is not the secret.
        (
            r#"{"token_type": "Bearer", "expires_in": 3600}"#,
            r#"{"token_type": "Bearer", "expires_in": 3600}"#,
        ),
        // A top-level array.
        (r#"["a@b.io", 1]"#, r#"["[REDACTED:email]", 1]"#),
    ] {
        check(input, expect);
    }
}

/// JSON numbers go through the text rules as their literal text: one the
/// rules change becomes a string holding the redacted text, any other is
/// kept byte for byte.
#[test]
fn numbers_go_through_the_text_rules() {
    for (input, expect) in [
        // Card numbers written as numbers (Visa, Mastercard, Amex,
        // Discover, Diners), at the top level, in arrays, in objects in
        // arrays, and with spacing around them.
        (r#"{"n":4111111111111111}"#, r#"{"n":"[REDACTED:card]"}"#),
        (
            r#"{"id":"x","value":[1,5500005555555559,2]}"#,
            r#"{"id":"x","value":[1,"[REDACTED:card]",2]}"#,
        ),
        (
            r#"[{"amount":378282246310005},{"amount":6011111111111117}]"#,
            r#"[{"amount":"[REDACTED:card]"},{"amount":"[REDACTED:card]"}]"#,
        ),
        (
            "{\"n\" :  30569309025904 ,\"m\":\t4111111111111111\n}",
            "{\"n\" :  \"[REDACTED:card]\" ,\"m\":\t\"[REDACTED:card]\"\n}",
        ),
        (r#"[4111111111111111]"#, r#"["[REDACTED:card]"]"#),
        // The literal text is what the rules see: the sign, a fraction or
        // an exponent stay around the card digits.
        (r#"{"n":-4111111111111111}"#, r#"{"n":"-[REDACTED:card]"}"#),
        (
            r#"{"n":4111111111111111.0}"#,
            r#"{"n":"[REDACTED:card].0"}"#,
        ),
        (
            r#"{"ratio":0.4111111111111111}"#,
            r#"{"ratio":"0.[REDACTED:card]"}"#,
        ),
        // Ordinary numbers stay byte for byte: negative, exponent,
        // fraction, small, timestamps in s, ms, us, ns (Luhn-valid ones
        // too: no issuer starts with 1), durations, byte counts, a
        // 16-digit number failing Luhn, an exponent `+` with 11 digits
        // (the phone shape, glued to the `e`), 40 digits in a row.
        (
            r#"{"a":-1.5e3,"b":0.25,"c":-0,"d":1E+2,"e":6.02e23,"f":42,"g":-42}"#,
            r#"{"a":-1.5e3,"b":0.25,"c":-0,"d":1E+2,"e":6.02e23,"f":42,"g":-42}"#,
        ),
        (
            r#"{"ts":1700000000,"ms":1700000000123,"ms2":1732291200126,"us":1732291200123451,"ns":1732291200123456783}"#,
            r#"{"ts":1700000000,"ms":1700000000123,"ms2":1732291200126,"us":1732291200123451,"ns":1732291200123456783}"#,
        ),
        (
            r#"{"duration_ms":12.345,"bytes":1234567890123,"n":4111111111111112,"x":1e+41555512345}"#,
            r#"{"duration_ms":12.345,"bytes":1234567890123,"n":4111111111111112,"x":1e+41555512345}"#,
        ),
        (
            r#"{"big":1234567890123456789012345678901234567890}"#,
            r#"{"big":1234567890123456789012345678901234567890}"#,
        ),
        // Inside embedded JSON (Docker's `log` field).
        (
            r#"{"log":"{\"n\":4111111111111111,\"ok\":12}\n","stream":"stdout"}"#,
            r#"{"log":"{\"n\":\"[REDACTED:card]\",\"ok\":12}\n","stream":"stdout"}"#,
        ),
        // Under a sensitive key: the key's replacement, as before.
        (
            r#"{"ssn":4111111111111111,"cookie":[4111111111111111,7]}"#,
            r#"{"ssn":"[REDACTED:ssn]","cookie":["[REDACTED:cookie]","[REDACTED:cookie]"]}"#,
        ),
    ] {
        check(input, expect);
    }
}

/// A number's hits are counted like a string's; a sensitive key's
/// replacement is counted for the key only.
#[test]
fn number_hits_are_counted() {
    let r = Redactor::with_defaults().expect("builds");
    let mut stats = r.stats();
    let line = r#"{"n":4111111111111111,"m":[5500005555555559,{"k":"4111 1111 1111 1111"}],"ssn":4111111111111111,"ts":1732291200123456783}"#;
    let out = r.redact_line(line, &mut stats).expect("redacts");
    assert!(!out.contains("4111111111111111"), "{out}");
    assert_eq!(stats.count("card"), 3);
    assert_eq!(stats.count("key:ssn"), 1);
    assert_eq!(stats.total(), 4);
    // Through embedded JSON and `redact_json_object` too.
    let mut stats = r.stats();
    let line = r#"{"log":"[4111111111111111, 1]"}"#;
    let out = r
        .redact_json_object(line, &mut stats, &mut NoFields)
        .expect("redacts")
        .expect("an object");
    assert_eq!(out.text, r#"{"log":"[\"[REDACTED:card]\", 1]"}"#);
    assert_eq!(stats.count("card"), 1);
    assert_eq!(stats.total(), 1);
}

struct NoFields;

impl watchfire_redact::Fields for NoFields {
    fn field(&mut self, _: &str, _: &str) {}
}

#[test]
fn embedded_json_is_redacted_structurally() {
    check(
        r#"{"log": "{\"user_password\": \"s3cr3t!\", \"msg\": \"ip 1.2.3.4\"}\n", "stream": "stdout"}"#,
        r#"{"log": "{\"user_password\": \"[REDACTED:password]\", \"msg\": \"ip [REDACTED:ipv4]\"}\n", "stream": "stdout"}"#,
    );
    // Broken embedded JSON is free text: key=value still applies.
    check(
        r#"{"log": "{\"password\": \"s3cr3t!\", "}"#,
        r#"{"log": "{\"password\": \"[REDACTED:password]\", "}"#,
    );
}

#[test]
fn plain_text_and_broken_json_lines() {
    check(
        "2026-11-13T02:04:58Z ERROR [auth] sms sent to +14155552671",
        "2026-11-13T02:04:58Z ERROR [auth] sms sent to [REDACTED:phone]",
    );
    check("{not json bob@example.com", "{not json [REDACTED:email]");
}

#[test]
fn fail_closed() {
    let mut cfg = RedactionConfig::default();
    cfg.limits.max_record_bytes = 64;
    cfg.limits.max_depth = 4;
    let r = Redactor::new(&cfg).expect("builds");
    let mut stats = r.stats();
    let cases: Vec<(Vec<u8>, RedactError)> = vec![
        (b"bad \xff utf8".to_vec(), RedactError::InvalidUtf8),
        (
            vec![b'a'; 65],
            RedactError::TooLarge {
                size: 65,
                limit: 64,
            },
        ),
        (
            br#"{"a":{"b":{"c":{"d":{}}}}}"#.to_vec(),
            RedactError::TooDeep { limit: 4 },
        ),
        // Depth counts JSON held in strings too.
        (
            br#"{"a":{"b":"{\"c\":{\"d\":[]}}"}}"#.to_vec(),
            RedactError::TooDeep { limit: 4 },
        ),
        // A lone surrogate cannot be decoded.
        (
            br#"{"msg": "\ud800 a@b.io"}"#.to_vec(),
            RedactError::Internal("undecodable JSON string"),
        ),
    ];
    for (input, want) in &cases {
        assert_eq!(
            r.redact_bytes(input, &mut stats).as_ref(),
            Err(want),
            "{input:?}"
        );
    }
    assert_eq!(stats.dropped(), cases.len() as u64);
    let drops: Vec<(&str, u64)> = stats.drops().collect();
    assert_eq!(
        drops,
        [
            ("invalid_utf8", 1),
            ("too_large", 1),
            ("too_deep", 2),
            ("internal", 1)
        ]
    );
    // Nothing was counted as redacted for dropped records.
    assert_eq!(stats.total(), 0);
    // Exactly at the limits is fine.
    assert!(r
        .redact_bytes(br#"{"a":{"b":{"c":{}}}}"#, &mut stats)
        .is_ok());
}

#[test]
fn counters_per_rule() {
    let r = Redactor::with_defaults().expect("builds");
    let mut stats = r.stats();
    for line in [
        r#"{"msg": "a@b.io c@d.io", "password": "x"}"#,
        "from 10.0.0.1 to e@f.io",
    ] {
        r.redact_line(line, &mut stats).expect("redacts");
    }
    assert_eq!(stats.count("email"), 3);
    assert_eq!(stats.count("ipv4"), 1);
    assert_eq!(stats.count("key:password"), 1);
    assert_eq!(stats.count("card"), 0);
    assert_eq!(stats.total(), 5);
    assert!(stats.counts().any(|(n, c)| n == "key:ssn" && c == 0));
    let mut total = r.stats();
    total.merge(&stats);
    total.merge(&stats);
    assert_eq!(total.count("email"), 6);
}

fn with_yaml(yaml: &str) -> Redactor {
    let cfg = RedactionConfig::from_yaml("t.yml", yaml).expect("valid config");
    Redactor::new(&cfg).expect("builds")
}

#[test]
fn actions() {
    let r = with_yaml(
        "hash_key: 0123456789abcdef0123\nbuiltin:\n  email: {action: hash}\n  card: {action: partial}\n  ipv4: {enabled: false}\nkeys:\n  action: partial\n",
    );
    let mut stats = r.stats();
    let out = r.redact_text("a Bob@Example.com b bob@example.com", &mut stats);
    let hashes: Vec<&str> = out
        .split(' ')
        .filter(|w| w.starts_with("[HASH:email:"))
        .collect();
    assert_eq!(hashes.len(), 2, "{out}");
    assert_eq!(hashes[0], hashes[1], "email hashes are case-insensitive");
    assert_eq!(hashes[0].len(), "[HASH:email:]".len() + 16);
    assert!(!out.contains("bob"));
    // Another key gives another hash.
    let other = with_yaml("hash_key: another key of 16 bytes\nbuiltin: {email: {action: hash}}\n");
    assert_ne!(
        other.redact_text("bob@example.com", &mut other.stats()),
        hashes[0]
    );

    assert_eq!(
        r.redact_text("card 4111 1111 1111 1111", &mut stats),
        "card [REDACTED:card:*1111]"
    );
    assert_eq!(r.redact_text("from 10.0.0.1", &mut stats), "from 10.0.0.1");
    assert_eq!(
        r.redact_line(r#"{"api_key": "abcd1234wxyz", "pwd": "short"}"#, &mut stats)
            .expect("ok"),
        r#"{"api_key": "[REDACTED:api_key:*wxyz]", "pwd": "[REDACTED:pwd]"}"#
    );
}

#[test]
fn user_patterns_and_keys() {
    let r = with_yaml(
        "keys:\n  extra: [session_id]\npatterns:\n  - name: employee\n    regex: 'EMP-[0-9]{6}'\n  - name: order_ref\n    regex: 'ref#(?P<value>[A-Z]{3}[0-9]+)'\n",
    );
    let mut stats = r.stats();
    assert_eq!(
        r.redact_line(
            r#"{"sessionId": "s1", "msg": "EMP-123456 ref#ABC123"}"#,
            &mut stats
        )
        .expect("ok"),
        r#"{"sessionId": "[REDACTED:session_id]", "msg": "[REDACTED:employee] ref#[REDACTED:order_ref]"}"#
    );
    assert_eq!(stats.count("employee"), 1);
    assert_eq!(stats.count("key:session_id"), 1);
    // Replacing the names turns the defaults off.
    let r = with_yaml("keys:\n  names: [pin]\n");
    assert_eq!(
        r.redact_line(r#"{"pin": 1234, "password": "x"}"#, &mut r.stats())
            .expect("ok"),
        r#"{"pin": "[REDACTED:pin]", "password": "x"}"#
    );
}

#[test]
fn attributes() {
    let r = Redactor::with_defaults().expect("builds");
    let mut stats = r.stats();
    assert_eq!(
        r.redact_attribute("http.request.header.authorization", "Basic x", &mut stats),
        "[REDACTED:authorization]"
    );
    assert_eq!(
        r.redact_attribute("client.address", "10.0.0.1", &mut stats),
        "[REDACTED:ipv4]"
    );
    assert_eq!(
        r.redact_attribute("http.route", "/users/{id}", &mut stats),
        "/users/{id}"
    );
    assert!(r.is_sensitive_key("db.password"));
}
