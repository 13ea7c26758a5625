//! Table tests of the value patterns and free-text `key=value` rule on the
//! default rule set: each row is an input and the exact expected output.

use watchfire_redact::Redactor;

fn check(input: &str, expect: &str) {
    let r = Redactor::with_defaults().expect("defaults build");
    let mut stats = r.stats();
    let out = r.redact_text(input, &mut stats);
    assert_eq!(out, expect, "input {input:?}");
}

fn table(rows: &[(&str, &str)]) {
    for (input, expect) in rows {
        check(input, expect);
    }
}

#[test]
fn email() {
    table(&[
        (
            "mail bob.smith+tag@mail.example.co.uk now",
            "mail [REDACTED:email] now",
        ),
        ("user <zoe118@example.com> in", "user <[REDACTED:email]> in"),
        ("mailto:a_b@x.io.", "mailto:[REDACTED:email]."),
        (
            "not an email: user@localhost",
            "not an email: user@localhost",
        ),
        ("@handle and a@b", "@handle and a@b"),
    ]);
}

#[test]
fn ip_addresses() {
    table(&[
        (
            "from 10.1.2.3 via 192.168.100.254",
            "from [REDACTED:ipv4] via [REDACTED:ipv4]",
        ),
        ("client_ip=8.8.8.8;", "client_ip=[REDACTED:ipv4];"),
        ("version 1.2.3.4.5", "version 1.2.3.4.5"),
        ("build 6.34.5 and 256.1.1.1", "build 6.34.5 and 256.1.1.1"),
        (
            "from 2001:db8:85a3::8a2e:370:7334 ok",
            "from [REDACTED:ipv6] ok",
        ),
        ("ea3:71b4:b6fb:b1f7:bb03:e97:32fb:b7c4", "[REDACTED:ipv6]"),
        ("mapped ::ffff:10.0.0.1", "mapped [REDACTED:ipv6]"),
        ("at 12:30:45.123Z", "at 12:30:45.123Z"),
        ("use std::io::Read", "use std::io::Read"),
        ("mac 00:1a:2b:3c:4d:5e", "mac 00:1a:2b:3c:4d:5e"),
        ("loopback ::1", "loopback ::1"),
        // Full forms without `::` (the prefilter wants four groups).
        ("fe80:0:0:0:0:0:0:1 up", "[REDACTED:ipv6] up"),
        ("at 0:0:0:0:0:ffff:10.0.0.1", "at [REDACTED:ipv6]"),
    ]);
}

#[test]
fn cards() {
    table(&[
        ("pan=4111111111111111 ok", "pan=[REDACTED:card] ok"),
        ("card 4111 1111 1111 1111", "card [REDACTED:card]"),
        ("card 4111-1111-1111-1111.", "card [REDACTED:card]."),
        ("amex 3782 822463 10005", "amex [REDACTED:card]"),
        ("mc 5555555555554444", "mc [REDACTED:card]"),
        ("discover 6011000990139424", "discover [REDACTED:card]"),
        // Luhn fails.
        ("order 4111111111111112", "order 4111111111111112"),
        ("id 9699696634410058", "id 9699696634410058"),
        // Luhn passes but no issuer starts with 1 or 9: epoch millis.
        ("ts 1760089413096", "ts 1760089413096"),
        // Mixed separators.
        ("n 4111 1111-1111 1111", "n 4111 1111-1111 1111"),
    ]);
}

#[test]
fn ssn() {
    table(&[
        ("verifying ssn 077-65-6124", "verifying ssn [REDACTED:ssn]"),
        ("id 123-45-6789.", "id [REDACTED:ssn]."),
        ("id 000-12-3456", "id 000-12-3456"),
        ("id 666-12-3456", "id 666-12-3456"),
        ("id 900-12-3456", "id 900-12-3456"),
        ("id 123-00-3456", "id 123-00-3456"),
        ("id 123-45-0000", "id 123-45-0000"),
        ("ref 9-123-45-6789", "ref 9-123-45-6789"),
        ("date 2026-09-27", "date 2026-09-27"),
    ]);
}

#[test]
fn tokens() {
    let jwt =
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    table(&[
        (&format!("failed: {jwt}"), "failed: [REDACTED:jwt]"),
        (
            "Authorization: Bearer abcDEF123456_-x",
            "Authorization: [REDACTED:authorization]",
        ),
        (
            "sent Bearer abcDEF123456_-x upstream",
            "sent Bearer [REDACTED:bearer] upstream",
        ),
        ("Bearer token expired", "Bearer token expired"),
        (
            "header Basic dXNlcjpwYXNz ok",
            "header Basic [REDACTED:basic] ok",
        ),
        ("Basic authentication failed", "Basic authentication failed"),
        (
            "key AKIAIOSFODNN7EXAMPLE used",
            "key [REDACTED:aws_access_key_id] used",
        ),
        (
            "secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY end",
            "secret [REDACTED:aws_secret_access_key] end",
        ),
        // A git SHA is lowercase hex: kept.
        (
            "commit 762233a6ad7e481b02a2ff2356e514fae7a25ae8",
            "commit 762233a6ad7e481b02a2ff2356e514fae7a25ae8",
        ),
        (
            "clone ghp_E49aWamOHfWlt9Lxl4RJ9E2Tw6Jo0prVUi7M done",
            "clone [REDACTED:github_token] done",
        ),
        (
            "slack xoxb-383965947671-0309397134362-ZmBjraVy72Edd7Bq2IgRJ1LQ",
            "slack [REDACTED:slack_token]",
        ),
        (
            "maps key=AIzaSyD-1234567890abcdefghijklmnopqrstu ok",
            "maps key=[REDACTED:google_api_key] ok",
        ),
        (
            "trace 93ad699fc1f7cd5bb2e35cbf0f19c557",
            "trace 93ad699fc1f7cd5bb2e35cbf0f19c557",
        ),
    ]);
}

#[test]
fn pem_blocks() {
    table(&[
        (
            "loaded -----BEGIN RSA PRIVATE KEY-----\\nMIIEow\\nabc\\n-----END RSA PRIVATE KEY----- ok",
            "loaded [REDACTED:private_key] ok",
        ),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----",
            "[REDACTED:private_key]",
        ),
        // Truncated: masked to the end.
        ("k -----BEGIN PRIVATE KEY-----\nMIIE", "k [REDACTED:private_key]"),
        (
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        ),
    ]);
}

#[test]
fn phones_and_ibans() {
    table(&[
        ("sms sent to +14155552671.", "sms sent to [REDACTED:phone]."),
        ("call +44 20 7946 0958 now", "call [REDACTED:phone] now"),
        ("call +1 (415) 555-0100", "call [REDACTED:phone]"),
        ("shift +5 rows", "shift +5 rows"),
        ("call +1-(415)-555-0100", "call [REDACTED:phone]"),
        ("fr +33.1.23.45.67.89", "fr [REDACTED:phone]"),
        (
            "at 07:46:09+10:00 and +1234567",
            "at 07:46:09+10:00 and +1234567",
        ),
        (
            "payout to IBAN DE89370400440532013000",
            "payout to IBAN [REDACTED:iban]",
        ),
        (
            "iban GB82 WEST 1234 5698 7654 32 ok",
            "iban [REDACTED:iban] ok",
        ),
        // Bad mod-97 check.
        ("iban DE89370400440532013001", "iban DE89370400440532013001"),
    ]);
}

#[test]
fn key_value_in_text() {
    table(&[
        (
            "aws_secret_access_key=abc/DEF+ghi",
            "aws_secret_access_key=[REDACTED:secret]",
        ),
        (
            "login password: hunter2 ok",
            "login password: [REDACTED:password] ok",
        ),
        (
            "db_password=p&ss;w0rd rest",
            "db_password=[REDACTED:password] rest",
        ),
        (
            "GET /cb?id_token=abc.def&state=xyz",
            "GET /cb?id_token=[REDACTED:token]&state=xyz",
        ),
        ("x-api-key: 'k3y v4lue'", "x-api-key: '[REDACTED:api_key]'"),
        (
            r#"{\"password\": \"a b\"}"#,
            r#"{\"password\": \"[REDACTED:password]\"}"#,
        ),
        (
            "Cookie: sid=abc; theme=dark\\nHost: x",
            "Cookie: [REDACTED:cookie]\\nHost: x",
        ),
        ("token_count=5 max_tokens=10", "token_count=5 max_tokens=10"),
        ("tokens: 12", "tokens: 12"),
    ]);
}
