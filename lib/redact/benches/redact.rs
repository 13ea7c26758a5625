//! Redaction throughput over the PII corpus lines with the default rules
//! (criterion reports it as MiB/s).
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

fn bench(c: &mut Criterion) {
    let lines = lines();
    let bytes: usize = lines.iter().map(String::len).sum();
    let r = Redactor::with_defaults().expect("defaults build");
    let mut g = c.benchmark_group("redact");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("corpus_default_rules", |b| {
        let mut stats = r.stats();
        b.iter(|| {
            for l in &lines {
                let _ = black_box(r.redact_line(black_box(l), &mut stats));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
