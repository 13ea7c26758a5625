//! Decoding a `POST /api/v2/alerts` body: the serde path `post_alerts`
//! falls back to against the fast path (`amapi::fastpost`), on the same
//! 64-alert body as `benches/am_compare.rs` (`batch_json`). Throughput is
//! in alerts (elements) per second. Allocation is a large part of both, so
//! this runs on the allocator the `watchfire` binary uses (mimalloc).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use watchfire_dispatch::PostableAlert;
use watchfire_router::amapi::{fastpost, wire};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The benchmark's body (benches/am_compare.rs `batch_json`).
fn batch_json(start: usize, n: usize) -> String {
    let mut s = String::from("[");
    for i in start..start + n {
        if i > start {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"labels\":{{\"alertname\":\"Load{}\",\"instance\":\"host-{i}\",\"job\":\"bench\",\"severity\":\"low\"}},\
             \"annotations\":{{\"summary\":\"load test alert {i}\"}},\"generatorURL\":\"http://bench/{i}\"}}",
            i % 50
        ));
    }
    s.push(']');
    s
}

/// The serde path as `post_alerts` runs it.
fn serde_path(body: &[u8]) -> Option<Vec<PostableAlert>> {
    let wire: Vec<wire::PostableAlert> = serde_json::from_slice(body).ok()?;
    let mut alerts = Vec::with_capacity(wire.len());
    for w in wire {
        let a = w.into_alert().ok()?;
        alerts.push(PostableAlert {
            labels: a.labels,
            annotations: a.annotations,
            starts_at: (a.starts_at != 0).then_some(a.starts_at),
            ends_at: (a.ends_at != 0).then_some(a.ends_at),
            generator_url: a.generator_url,
        });
    }
    Some(alerts)
}

fn bench(c: &mut Criterion) {
    const N: usize = 64;
    let body = batch_json(1000, N);
    let body = body.as_bytes();
    assert_eq!(fastpost::parse_alerts(body), serde_path(body));
    let mut g = c.benchmark_group("post_parse_64");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("serde", |b| b.iter(|| serde_path(black_box(body))));
    g.bench_function("fast", |b| {
        b.iter(|| fastpost::parse_alerts(black_box(body)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
