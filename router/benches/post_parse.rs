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

/// A Prometheus-shaped body (as in `amapi/fastpost/tests.rs`): keys in
/// the order Go's encoding/json writes them, `&` escaped as `\u0026`,
/// RFC 3339 times with nanoseconds, `Z` or an offset.
fn prometheus_json(start: usize, n: usize) -> String {
    let mut s = String::from("[");
    for i in start..start + n {
        if i > start {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"annotations\":{{\"description\":\"host-{i}:9100 of job node has been down for more than 5 minutes.\",\
             \"summary\":\"Instance host-{i}:9100 down\"}},\
             \"endsAt\":\"2026-11-22T16:{:02}:07.{:09}Z\",\"startsAt\":\"2026-11-22T17:{:02}:07.5+01:00\",\
             \"generatorURL\":\"http://prometheus-0:9090/graph?g0.expr=up%7Bjob%3D%22node%22%7D+%3D%3D+0\\u0026g0.tab=1\",\
             \"labels\":{{\"alertname\":\"InstanceDown\",\"instance\":\"host-{i}:9100\",\"job\":\"node\",\"severity\":\"critical\"}}}}",
            i % 60,
            i * 7_919 % 1_000_000_000,
            i % 60,
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
