//! Redaction throughput with the default rules (criterion reports MiB/s):
//! over the PII corpus lines (nearly every line has something to redact:
//! the slow path), and over synthetic application logs where most records
//! are clean (the fast path).
//!
//! `CARGO_TARGET_DIR=... cargo bench -p watchfire-redact --bench redact`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use watchfire_redact::Redactor;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/pii/dev.jsonl"
);

/// The corpus's raw log lines, or a few synthetic ones when it is absent.
fn lines() -> Vec<String> {
    match std::fs::read_to_string(CORPUS) {
        Ok(text) => text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["line"].as_str().map(|s| s.replace('\n', "\\n")))
            .collect(),
        Err(_) => {
            eprintln!("corpus not found at {CORPUS}; using synthetic lines");
            vec![
                r#"{"ts": "2026-11-04T05:40:46Z", "level": "INFO", "msg": "invite accepted by a@b.io; ref=fefc63f0cd0e873a", "password": "x"}"#.to_string(),
                "2026-11-13T02:04:58Z DEBUG [auth] request id gateway-wl5tnfj2n-cbb8m; build /graphql".to_string(),
            ]
        }
    }
}

/// Application logs as they mostly are: structured JSON records, one in
/// eight carrying something to redact (an email, a card, a client IP, a
/// bearer token), one in fifty a stack trace with escapes. Deterministic.
fn app_lines() -> Vec<String> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..4000u64)
        .map(|i| {
            let r = next();
            let msg = match r % 100 {
                0..=3 => format!("password reset requested for user{}@example.com", r % 977),
                4..=5 => "charge declined for card 4111 1111 1111 1111".to_string(),
                6..=7 => format!("login from 203.0.113.{}", r % 250 + 1),
                8..=9 => r"unhandled exception: boom\n\tat a.B.c(B.java:1)\n\tat d.E.f(E.java:2)".to_string(),
                _ => ["request completed", "cache miss, loading from database", "order state changed from pending to confirmed"][(r % 3) as usize].to_string(),
            };
            let auth = if r % 97 < 3 {
                r#","headers":{"authorization":"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLWhlcmU"}"#
            } else {
                ""
            };
            format!(
                r#"{{"ts":"2026-11-22T07:{:02}:{:02}.{:03}Z","level":"info","service":"orders","request_id":"{:016x}","trace_id":"{:016x}{:016x}","msg":"{msg}","user_id":{},"http":{{"method":"GET","path":"/api/v1/orders/{}","status":200,"duration_ms":{}.5,"user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"}}{auth}}}"#,
                i % 60,
                (i / 60) % 60,
                i % 1000,
                next(),
                next(),
                next(),
                r % 100_000,
                r % 7919,
                r % 500
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let r = Redactor::with_defaults().expect("defaults build");
    let mut g = c.benchmark_group("redact");
    for (name, lines) in [
        ("corpus_default_rules", lines()),
        ("app_logs_default_rules", app_lines()),
    ] {
        let bytes: usize = lines.iter().map(String::len).sum();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(name, |b| {
            let mut stats = r.stats();
            b.iter(|| {
                for l in &lines {
                    let _ = black_box(r.redact_record(black_box(l), &mut stats));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
