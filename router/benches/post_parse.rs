//! Decoding a `POST /api/v2/alerts` body: the serde path `post_alerts`
//! falls back to against the fast path (`amapi::fastpost`), on two 64-alert
//! bodies: the one of `benches/am_compare.rs` (`batch_json`, no escapes)
//! and a Prometheus-shaped one (`prometheus_json`: Go's key order, `&`
//! escaped as `\u0026` in every `generatorURL`, times with nanoseconds).
//! Throughput is in alerts (elements) per second. Allocation is a large
//! part of both, so this runs on the allocator the `watchfire` binary uses
//! (mimalloc).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use watchfire_dispatch::PostableAlert;
use watchfire_router::amapi::decode::decode_alerts_serde;
use watchfire_router::amapi::fastpost;
use watchfire_router::amapi::samples::{bench_json as batch_json, prometheus_json};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The serde path as `post_alerts` runs it.
fn serde_path(body: &[u8]) -> Option<Vec<PostableAlert>> {
    decode_alerts_serde(body).ok()
}

fn bench(c: &mut Criterion) {
    const N: usize = 64;
    for (group, body) in [
        ("post_parse_64", batch_json(1000, N)),
        ("post_parse_prometheus_64", prometheus_json(1000, N)),
    ] {
        let body = body.as_bytes();
        let fast = fastpost::parse_alerts(body);
        assert!(fast.is_some(), "{group}: fast path fell back");
        assert_eq!(fast, serde_path(body));
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function("serde", |b| b.iter(|| serde_path(black_box(body))));
        g.bench_function("fast", |b| {
            b.iter(|| fastpost::parse_alerts(black_box(body)))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
