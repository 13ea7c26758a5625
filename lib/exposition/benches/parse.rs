//! Parse throughput (MiB/s) on node_exporter's e2e output and on a
//! synthetic 1M-series Prometheus text exposition.
//!
//! Run: `cargo bench -p watchfire-exposition --bench parse`

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use watchfire_exposition::{Entry, Format, Parser};

fn count_samples(input: &[u8], format: Format) -> usize {
    let mut n = 0;
    for e in Parser::new(input, format) {
        if let Entry::Sample(s) = e.expect("bench input parses") {
            black_box(&s);
            n += 1;
        }
    }
    n
}

/// 1M series in a handful of families, node/app-exporter style.
fn synthetic(series: usize) -> String {
    let mut out = String::with_capacity(series * 120);
    let per_family = series / 4;
    out.push_str("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n");
    for i in 0..per_family {
        let method = ["GET", "POST", "PUT", "DELETE"][i % 4];
        let code = ["200", "404", "500", "503"][(i / 4) % 4];
        let _ = writeln!(
            out,
            "http_requests_total{{method=\"{method}\",code=\"{code}\",instance=\"10.0.{}.{}:8080\",job=\"api-{}\"}} {} 1700000000000",
            (i / 256) % 256,
            i % 256,
            i / 16,
            12345 + i
        );
    }
    out.push_str("# HELP http_request_duration_seconds Latency.\n# TYPE http_request_duration_seconds histogram\n");
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
    ];
    for i in 0..per_family {
        let le = les[i % les.len()];
        let _ = writeln!(
            out,
            "http_request_duration_seconds_bucket{{handler=\"/api/v1/item/{}\",le=\"{le}\"}} {}",
            i / les.len(),
            i % 1000
        );
    }
    out.push_str("# TYPE process_resident_memory_bytes gauge\n");
    for i in 0..per_family {
        let _ = writeln!(
            out,
            "process_resident_memory_bytes{{pod=\"web-{i}\",namespace=\"prod\"}} {}",
            1.5e8 + i as f64 * 0.25
        );
    }
    out.push_str("# TYPE node_cpu_seconds_total counter\n");
    for i in 0..series - 3 * per_family {
        let _ = writeln!(
            out,
            "node_cpu_seconds_total{{cpu=\"{}\",mode=\"idle\"}} {}.{}",
            i,
            i * 7,
            i % 100
        );
    }
    out
}

fn bench(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/exposition");
    let node =
        std::fs::read(dir.join("node_exporter_e2e_output.txt")).expect("node_exporter fixture");
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(node.len() as u64));
    g.bench_function("node_exporter_e2e", |b| {
        b.iter(|| count_samples(black_box(&node), Format::PrometheusText))
    });

    let synth = synthetic(1_000_000);
    assert_eq!(
        count_samples(synth.as_bytes(), Format::PrometheusText),
        1_000_000
    );
    g.throughput(Throughput::Bytes(synth.len() as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("synthetic_1M_series", |b| {
        b.iter(|| count_samples(black_box(synth.as_bytes()), Format::PrometheusText))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
