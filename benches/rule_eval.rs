//! Criterion bench: one evaluation cycle of the 50 benchmark rules
//! (`benches/data/rules-bench.yml`: `rate`, `sum by`, `histogram_quantile`,
//! ratios, `absent`, …) over 100k series held in the router's store.
//!
//! Run: `cargo bench --bench rule_eval`.

#[path = "common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use watchfire_promql::eval::{Engine, Value};
use watchfire_promql::Labels;
use watchfire_router::store::{Store, StoreConfig};

const STEP_MS: i64 = 15_000;
const HISTORY: usize = 41;

fn load() -> (Store, i64) {
    let store = Store::new(StoreConfig::default());
    for s in common::fleet() {
        let labels = Labels::new(s.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        for i in 0..HISTORY {
            store
                .append(&labels, i as i64 * STEP_MS, s.value(i, 15.0))
                .expect("append");
        }
    }
    (store, (HISTORY as i64 - 1) * STEP_MS)
}

fn bench(c: &mut Criterion) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/data/rules-bench.yml"
    ))
    .expect("rules-bench.yml");
    let file = watchfire_rulefmt::parse_rule_file("rules-bench.yml", &text).expect("valid rules");
    let rules: Vec<_> = file.groups.iter().flat_map(|g| g.rules.iter()).collect();
    assert_eq!(rules.len(), 50);
    let (store, t) = load();
    let engine = Engine::default();
    let mut group = c.benchmark_group("rules");
    group.sample_size(10);
    group.bench_function("50 rules over 100k series", |b| {
        b.iter(|| {
            let mut n = 0;
            for r in &rules {
                let res = engine.instant(&store, &r.expr, t).expect("eval");
                if let Value::Vector(v) = res.value {
                    n += v.len();
                }
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
